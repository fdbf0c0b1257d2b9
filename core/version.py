"""The project's version, stated once: ``sparseloom.__version__``, the package metadata (setuptools
reads it for pyproject.toml) and every provenance record say this."""
VERSION = "0.1.0"
