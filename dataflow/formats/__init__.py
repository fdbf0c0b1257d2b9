"""Sparsity formats, one module each: N:M (:mod:`.nm`) and the mask-driven unstructured formats
(CSR, bitmap, block) an arch may store (``sparsity.unstructured_format``). A new format is a new
module here plus its entry in ``MASK_FORMATS``."""
from __future__ import annotations

from .base import Executed, MaskFormat
from .bitmap import Bitmap
from .block import Block
from .csr import Csr

MASK_FORMATS: dict[str, MaskFormat] = {f.name: f for f in (Csr(), Bitmap(), Block())}

__all__ = ["Executed", "MaskFormat", "MASK_FORMATS"]
