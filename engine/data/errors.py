"""Errors raised by the data layer."""


class DatasetError(ValueError):
    """Bad or missing dataset input. The message names the file, the line or row, and what was expected."""
