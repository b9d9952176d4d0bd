"""Memory sizes: Redis unit parsing, human formatting and the per-entry cost model.

``used_memory`` is the sum over entries of :func:`entry_size`. That is the cache's *own* heap
(key object, serialized value, entry record, index slots) and nothing else: unlike Redis, client
buffers and interpreter overhead never count against ``maxmemory`` (spec §12.3), so they cannot
trigger mass eviction.
"""

from __future__ import annotations

import re
import sys

from .errors import ConfigError

__all__ = [
    "ASCII_STR_BASE",
    "BYTES_BASE",
    "ENTRY_OVERHEAD",
    "TTL_INDEX_OVERHEAD",
    "TTL_SLOT_OVERHEAD",
    "entry_size",
    "format_bytes",
    "parse_memory",
]

# Units exactly as redis.conf documents them: a bare k/m/g is a power of 1000, the "b" forms are
# powers of 1024, and the match is case-insensitive ("1GB" == "1gb" == "1Gb").
_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
    "t": 1000**4,
    "tb": 1024**4,
}
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)

# Bytes the cache holds for one entry beyond sys.getsizeof(key) + sys.getsizeof(value_bytes):
# the Entry object with __slots__ and its GC header (~130 B on 64-bit CPython 3.11), the float
# and int objects of its access stamps (~55 B), its slot in the keyspace dict (hash + key +
# value pointers and index, amortised over the dict's load factor, ~90 B) and its slot in the
# random-sampling list (8 B plus over-allocation). Measured with tracemalloc over 50,000
# entries of mixed value sizes; tests/core/test_sizing.py fails if the model drifts by >10%.
ENTRY_OVERHEAD = 287

# sys.getsizeof() of an exact ASCII str and of exact bytes is a fixed header plus the length
# (CPython's compact-ASCII layout and bytes layout, with their trailing NUL): the write path
# computes those two sizes with len(), which costs a fifth of a getsizeof() call. Measured
# here, not assumed, so another build's layout is picked up.
ASCII_STR_BASE = sys.getsizeof("")
BYTES_BASE = sys.getsizeof(b"")

# Extra bytes for an entry that carries a TTL: the deadline float object (24 B), its slot in the
# volatile sampling list and that list's over-allocation. Calibrated the same way.
TTL_INDEX_OVERHEAD = 61

# The part of TTL_INDEX_OVERHEAD that is the TTL sampling array: its slot (8 B) and the entry's
# position in it (an int object, 28 B). A store whose policy and expiry strategy sample no TTL
# keys keeps no such array (see Keyspace) and does not count it. Measured with tracemalloc at
# 50,000 entries: 36 B per TTL key.
TTL_SLOT_OVERHEAD = 36


def parse_memory(value: int | str, *, option: str = "maxmemory") -> int:
    """Parse a memory size the way redis.conf does: ``1k`` = 1000, ``1kb`` = 1024.

    Integers pass through. Negative numbers, fractions of a byte and unknown units raise
    :class:`ConfigError` naming ``option``.
    """
    if isinstance(value, bool):
        raise ConfigError(
            f"Option {option!r} must be a size such as 67108864, '64mb' or '1gb', "
            f"not the boolean {value!r}.",
            option=option,
        )
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(
                f"Option {option!r} must not be negative, got {value!r}. Use 0 for no limit.",
                option=option,
            )
        return value
    if not isinstance(value, str):
        raise ConfigError(
            f"Option {option!r} must be an int or a string such as '64mb', "
            f"got {type(value).__name__} {value!r}.",
            option=option,
        )
    match = _MEMORY_RE.match(value)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ConfigError(
            f"Option {option!r} has a malformed memory size {value!r}. Write a number with an "
            f"optional unit: b, k, kb, m, mb, g, gb, t or tb (k = 1000, kb = 1024), "
            f"for example '64mb'.",
            option=option,
        )
    number, unit = match.group(1), match.group(2).lower()
    size = float(number) * _UNITS[unit]
    if size != int(size):
        raise ConfigError(
            f"Option {option!r} = {value!r} is not a whole number of bytes.", option=option
        )
    return int(size)


def format_bytes(size: int) -> str:
    """Format like Redis's ``used_memory_human``: ``'980B'``, ``'1.50K'``, ``'64.00M'``."""
    if size < 1024:
        return f"{size}B"
    for unit, scale in (("K", 1024), ("M", 1024**2), ("G", 1024**3), ("T", 1024**4)):
        if size < scale * 1024 or unit == "T":
            return f"{size / scale:.2f}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def entry_size(key: object, payload: bytes, *, has_ttl: bool, policy_overhead: int = 0) -> int:
    """The bytes one entry costs: key object + value bytes object + fixed overheads."""
    size = sys.getsizeof(key) + sys.getsizeof(payload) + ENTRY_OVERHEAD + policy_overhead
    if has_ttl:
        size += TTL_INDEX_OVERHEAD
    return size
