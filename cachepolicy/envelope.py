"""The value envelope: per-entry metadata stored in front of a serialized value.

Early refresh (XFetch) needs to know how long an entry took to compute, serve-stale needs the
moment an entry stops being fresh while its stale copy is kept for a grace period. Both are
stored *in the payload*, in front of the serializer's bytes, so they are counted in
``used_memory`` exactly like the value and need nothing from the engine::

    MAGIC (4 bytes) | flags (1) | expiry (float64) | delta (float64) | [tags] | the value

and, when flags say so, tags: a count (1 byte), then per tag its generation (uint64), its
length in UTF-8 bytes (uint16) and the bytes (:mod:`cachepolicy.tags`).

``expiry`` is the engine-clock moment the value stops being fresh (NaN: never); the engine's own
deadline for the entry is later by the grace period, so the stale copy stays readable to
callers that ask for it (never to plain ``get``). ``delta`` is the seconds the computation took.

Recognising an envelope costs one byte comparison on the read path: every pickle of protocol 2
or more starts with ``0x80``, so a payload whose first byte is not ``0`` is a plain value. The
magic starts with ``0``, which no pickle protocol produces; a custom serializer whose output
starts with these exact four bytes would be misread (none of the usual formats does).
"""

from __future__ import annotations

import math
import struct
from typing import Final, NamedTuple

__all__ = [
    "FIELDS",
    "FLAGS_AT",
    "HEADER_SIZE",
    "KEPT",
    "MAGIC",
    "TAGGED",
    "Envelope",
    "TagStamps",
    "open_envelope",
    "seal",
]

#: The first bytes of every envelope (0x00 first: see the module docstring).
MAGIC: Final = b"\x00cpE"
_HEADER: Final = struct.Struct("<4sBdd")
#: flags, expiry, delta, after the magic: what the compiled accessor reads on a hit.
FIELDS: Final = struct.Struct("<Bdd")
#: Bytes an envelope adds to a value (counted in ``used_memory`` with it).
HEADER_SIZE: Final = _HEADER.size
_NO_EXPIRY: Final = math.nan


_TAGGED: Final = 1  # flags bit: a tag section follows the header
TAGGED: Final = _TAGGED
#: flags bit: the entry is kept past ``expiry`` (serve-stale). Without it the engine's own
#: deadline is the freshness deadline (a few microseconds later: it is taken after the
#: envelope's), so a reader that found the entry knows it is fresh without reading the clock.
KEPT: Final = 2
#: Where the flags byte is.
FLAGS_AT: Final = len(MAGIC)
_COUNT: Final = struct.Struct("<B")
_TAG: Final = struct.Struct("<QH")

#: (tag, its generation when the value was written), per tag of an entry.
TagStamps = tuple[tuple[str, int], ...]


class Envelope(NamedTuple):
    """An opened envelope: its metadata and the value's serialized bytes."""

    expiry: float
    delta: float
    tags: TagStamps
    payload: bytes

    def stale(self, now: float) -> bool:
        """Whether the value is past its freshness (a stale copy kept for a grace period)."""
        return now > self.expiry  # False for NaN: never stale


def seal(
    payload: bytes,
    expiry: float | None,
    delta: float,
    tags: TagStamps = (),
    *,
    kept: bool = False,
) -> bytes:
    """``payload`` in an envelope recording its freshness deadline, computation time and
    the generations of its tags; ``kept``: the entry outlives ``expiry`` (serve-stale's grace
    period), so a reader must compare the clock with it."""
    expiry_field = _NO_EXPIRY if expiry is None else expiry
    flags = (_TAGGED if tags else 0) | (KEPT if kept else 0)
    header = _HEADER.pack(MAGIC, flags, expiry_field, max(0.0, delta))
    if not tags:
        return header + payload
    parts = [header, _COUNT.pack(len(tags))]
    for tag, generation in tags:
        encoded = tag.encode()
        parts += (_TAG.pack(generation, len(encoded)), encoded)
    parts.append(payload)
    return b"".join(parts)


def open_envelope(payload: bytes) -> Envelope | None:
    """The envelope ``payload`` holds, or None for a plain serialized value."""
    if payload[:4] != MAGIC or len(payload) < HEADER_SIZE:
        return None
    _, flags, expiry, delta = _HEADER.unpack_from(payload)
    if not flags & _TAGGED:
        return Envelope(expiry, delta, (), payload[HEADER_SIZE:])
    (count,) = _COUNT.unpack_from(payload, HEADER_SIZE)
    offset = HEADER_SIZE + _COUNT.size
    tags: list[tuple[str, int]] = []
    for _ in range(count):
        generation, length = _TAG.unpack_from(payload, offset)
        offset += _TAG.size
        tags.append((payload[offset : offset + length].decode(), generation))
        offset += length
    return Envelope(expiry, delta, tuple(tags), payload[offset:])
