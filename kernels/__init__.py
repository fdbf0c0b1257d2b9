"""Reference kernels (numba): the one ground truth every layer checks against."""
