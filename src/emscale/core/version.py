"""The package version, kept in the lowest layer so that history records can name it."""

__version__ = "0.1.0"
