"""Exceptions raised by cachepolicy.

Every error is a full sentence that names the offending option or key and, for configuration
errors, lists the valid choices with a "did you mean" suggestion. Nothing falls back silently.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

__all__ = [
    "CachePolicyError",
    "ComputeTimeoutError",
    "ConfigError",
    "NotCallableError",
    "OutOfMemoryError",
    "TagError",
    "ValueTooLargeError",
    "did_you_mean",
    "short_repr",
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


class ComputeTimeoutError(CachePolicyError, TimeoutError):
    """A caller waited ``stampede_wait`` seconds for another caller computing the same key
    (single flight, :meth:`cachepolicy.Cache.get_or_set`) and ``stampede_on_timeout`` is
    ``"raise"``. The cache is unchanged; the other caller's computation goes on."""

    def __init__(self, message: str, *, key: str | None = None, waited: float = 0.0) -> None:
        super().__init__(message)
        self.key = key
        self.waited = waited


class NotCallableError(CachePolicyError, TypeError):
    """``get_or_set`` was given a default that is not callable where a computation is needed.
    Nothing was read or written."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class TagError(CachePolicyError, ValueError):
    """Tags that cannot be stored: not a collection of strings, an empty or over-long tag, or
    more tags than an entry may carry. Nothing was written."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


# Ints longer than this many digits are described, not printed: int-to-text conversion is
# quadratic in the digit count, and beyond 4300 digits (sys.int_info.default_max_str_digits)
# Python refuses it with a ValueError. A message never needs more than the first few digits.
_INT_DIGITS_SHOWN = 600


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for error messages and log lines.

    A message must stay readable however big the bad value was: a 2 MB key must not become a
    2 MB log line, and an int of 10,000 digits (whose ``repr`` Python itself refuses) must not
    turn the error into a ``ValueError`` about string conversion. Strings and bytes are sliced
    *before* ``repr`` so that a huge one is never copied; a cut repr ends with ``...`` and says
    how long the whole value was. A ``__repr__`` that raises gives the type name instead.
    """
    if isinstance(value, str | bytes | bytearray):
        head = repr(value[:limit])
        if len(value) <= limit and len(head) <= limit:
            return head
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{head[: max(limit - 3, 8)]}... ({len(value):,} {unit})"
    if isinstance(value, int) and not isinstance(value, bool):
        magnitude = abs(value)
        if magnitude.bit_length() > _INT_DIGITS_SHOWN * 3.3:  # > ~_INT_DIGITS_SHOWN digits
            digits = int(magnitude.bit_length() * math.log10(2)) + 1
            return f"<an int of about {digits:,} digits>"
        text = str(value)
        if len(text) <= limit:
            return text
        return f"{text[: max(limit - 20, 8)]}... ({len(text.lstrip('-')):,} digits)"
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not replace the error being reported
        return f"<{type(value).__name__} object (repr() raised {type(exc).__name__})>"
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 3, 8)]}..."
