"""Errors that describe a problem with the user's input, not a bug.

The command line prints their message as one line and exits with status 2.
"""


class SentvaeError(Exception):
    """Base class: bad input that the user can fix (the message says what and where)."""


class ConfigError(SentvaeError):
    """An unknown config key, a value of the wrong type or out of range."""


class DataError(SentvaeError):
    """A missing, unreadable, empty or malformed corpus file."""


class CheckpointError(SentvaeError):
    """A checkpoint directory that is incomplete, unsafe, or does not match its tokenizer."""


class ArgumentError(SentvaeError, ValueError):
    """An argument out of range (a strategy, a count, a latent dimension)."""
