"""Shared plumbing: typed configuration loading, clear errors, atomic file output."""
