"""Memory sizes as Redis writes them: unit parsing and human formatting.

The per-entry cost model behind ``used_memory`` lives with the entries it describes, in
:mod:`cachepolicy._core.entry` (it differs between the compiled and the pure build).
"""

from __future__ import annotations

import re

from .errors import ConfigError, short_repr

__all__ = ["format_bytes", "parse_memory"]

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


def parse_memory(
    value: int | str, *, option: str = "maxmemory", maximum: int = (1 << 63) - 1
) -> int:
    """Parse a memory size the way redis.conf does: ``1k`` = 1000, ``1kb`` = 1024.

    Integers pass through. Negative numbers, fractions of a byte, unknown units and sizes above
    ``maximum`` raise :class:`ConfigError` naming ``option``. ``maximum`` defaults to
    2**63 - 1 bytes (8 EiB): Redis keeps memory sizes in 64-bit integers and reports them in
    INFO as such, and no machine has that much memory, so anything larger is a typo, not a
    budget.

    The arithmetic is exact: the number is read as a decimal fraction of integers, never through
    ``float``, so ``"1.5kb"`` is 1536 and ``"9007199254740993"`` (2**53 + 1) is itself.
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
                f"Option {option!r} must not be negative, got {short_repr(value)}. "
                "Use 0 for no limit.",
                option=option,
            )
        if value > maximum:
            raise ConfigError(_too_large(option, value, maximum), option=option)
        return value
    if not isinstance(value, str):
        raise ConfigError(
            f"Option {option!r} must be an int or a string such as '64mb', "
            f"got {type(value).__name__} {short_repr(value)}.",
            option=option,
        )
    # ASCII only: the pattern's \d also matches other scripts' digits ("٣kb"), and a size is a
    # redis.conf number.
    match = _MEMORY_RE.match(value) if value.isascii() else None
    unit: str = match.group(2).lower() if match is not None else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(
            f"Option {option!r} has a malformed memory size {short_repr(value)}. Write a number "
            f"with an optional unit: b, k, kb, m, mb, g, gb, t or tb (k = 1000, kb = 1024), "
            f"for example '64mb'.",
            option=option,
        )
    number: str = match.group(1)
    whole, _, fraction = number.partition(".")
    whole, fraction = whole.lstrip("0"), fraction.rstrip("0")
    scale = _UNITS[unit]
    # Every unit is at least one byte, so a whole part of more digits than ``maximum`` has is
    # too large whatever the unit. Checked before int(), which refuses strings of over 4300
    # digits and is quadratic below that.
    if len(whole) > len(str(maximum)):
        raise ConfigError(_too_large(option, value, maximum), option=option)
    # With trailing zeros removed, n > 40 fraction digits can never make whole bytes: the
    # largest units are 10**12 and 2**40, and d / 10**n * 2**40 is an integer only if both 2
    # and 5 divide d, i.e. d ends in 0. So a long fraction is refused without arithmetic.
    if len(fraction) > 40:
        raise ConfigError(_not_whole(option, value), option=option)
    numerator = int(whole + fraction or "0") * scale
    denominator: int = 10 ** len(fraction)
    if numerator % denominator:
        raise ConfigError(_not_whole(option, value), option=option)
    size = numerator // denominator
    if size > maximum:
        raise ConfigError(_too_large(option, value, maximum), option=option)
    return size


def _too_large(option: str, value: object, maximum: int) -> str:
    return (
        f"Option {option!r} = {short_repr(value)} is larger than the largest supported size, "
        f"{maximum:,} bytes. Use 0 for no limit."
    )


def _not_whole(option: str, value: object) -> str:
    return f"Option {option!r} = {short_repr(value)} is not a whole number of bytes."


def format_bytes(size: int) -> str:
    """Format like Redis's ``used_memory_human``: ``'980B'``, ``'1.50K'``, ``'64.00M'``.

    Redis's ``bytesToHuman()`` units (B, K, M, G, T, P) and its fallback to plain bytes beyond
    1024 P. ``size / scale`` on ints is correctly rounded and stays far inside float range for
    any size below that fallback, so every int is formatted, never an ``OverflowError``.
    """
    if size < 1024:
        return f"{size}B"
    for unit, scale in (
        ("K", 1024),
        ("M", 1024**2),
        ("G", 1024**3),
        ("T", 1024**4),
        ("P", 1024**5),
    ):
        if size < scale * 1024:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"
