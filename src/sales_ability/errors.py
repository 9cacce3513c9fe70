"""Exceptions whose messages name the file, row or item that is wrong."""

from __future__ import annotations


class SalesAbilityError(Exception):
    """Base class: a user-facing error with a clear message (the CLI prints it, no traceback)."""


class ConfigError(SalesAbilityError):
    """params.yaml is missing, malformed, or holds an unknown key or a bad value."""


class DatasetError(SalesAbilityError):
    """A dataset folder or annotation file is missing or inconsistent."""


class IPIPError(SalesAbilityError):
    """An IPIP-50 answer sheet is incomplete or out of range."""


class VideoError(SalesAbilityError):
    """A video cannot be used; the message is the reject reason."""


class ModelError(SalesAbilityError):
    """A model cannot be built or loaded: missing weights file, weights that cannot be downloaded."""
