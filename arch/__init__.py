"""What the hardware is: the architecture schema, its strict loader and the YAML presets."""
from .schema import Arch, NMPattern, load_arch

__all__ = ["Arch", "NMPattern", "load_arch"]
