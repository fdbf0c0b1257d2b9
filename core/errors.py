"""The one error type a user sees: it names the file, the field and what was expected."""
from __future__ import annotations


class InputError(ValueError):
    """Bad user input. Rendered as ``FILE: KEY.PATH: message`` by every CLI."""

    def __init__(self, file: str, where: str, message: str):
        self.file, self.where, self.message = str(file), where, message
        location = f"{self.file}: {where}" if where else self.file
        super().__init__(f"{location}: {message}")


class CapacityError(ValueError):
    """A layer whose smallest legal tile does not fit a buffer; names the layer, buffer and sizes."""
