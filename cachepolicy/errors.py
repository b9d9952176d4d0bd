"""Exceptions raised by cachepolicy.

Every error is a full sentence that names the offending option or key and, for configuration
errors, lists the valid choices with a "did you mean" suggestion. Nothing falls back silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CachePolicyError",
    "ConfigError",
    "OutOfMemoryError",
    "ValueTooLargeError",
    "did_you_mean",
]


class CachePolicyError(Exception):
    """Base class of every error raised by cachepolicy."""


class ConfigError(CachePolicyError, ValueError):
    """A configuration option has an unknown name or an invalid value.

    It is a ``ValueError`` too, so code that validates settings generically still catches it.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class OutOfMemoryError(CachePolicyError, MemoryError):
    """A write needs memory and nothing may be evicted to make room.

    This is Redis's ``-OOM command not allowed when used memory > 'maxmemory'`` reply: raised under
    ``noeviction``, or under a ``volatile-*`` policy when too few keys carry a TTL. The cache is
    left exactly as it was before the write.
    """

    def __init__(self, message: str, *, key: str | None = None, needed: int = 0) -> None:
        super().__init__(message)
        self.key = key
        self.needed = needed


class ValueTooLargeError(CachePolicyError, ValueError):
    """A single entry is larger than ``maxmemory``: no amount of eviction could admit it."""

    def __init__(self, message: str, *, key: str | None = None, size: int = 0) -> None:
        super().__init__(message)
        self.key = key
        self.size = size


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""
