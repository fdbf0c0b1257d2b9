"""The bundled sweep specs (``sweep sat_array``); their relative paths start in this folder."""
