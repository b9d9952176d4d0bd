"""The recorder's sample test, compiled: which keys a recording and the live curve follow.

A key is sampled when :func:`sample_hash` of the stored key (prefix included), a 32-bit value,
is below the gate's ``threshold`` (``rate x 2**32``): SHARDS's spatial sampling (Waldspurger et
al., FAST 2015). The hash is a pure function of the key's characters and the deployment's
``seed`` (derived from the recording secret), so a key is sampled in every process of one
deployment or in none, compiled or pure build alike, and reuse distances in the sample are the
full traffic's scaled by the rate.

Why this hash. It runs on every read and write of a recording store, and 99 of 100 keys are
not sampled, so it must cost little next to a ~1.3 us Django ``get``. The key's UTF-8 bytes
(surrogates as ``surrogatepass`` writes them) read as one big-endian number, modulo the
Mersenne prime 2**61 - 1, then mixed with the seed into 32 bits:

* compiled, that is a loop over the characters in native 64-bit arithmetic, four ASCII
  characters per step (a rotation and an add modulo 2**61 - 1 need no division), with no
  allocation: about 1.5 ns a character, where encoding the key and calling ``zlib.crc32``
  cost 70-100 ns;
* interpreted, the same number is one ``int.from_bytes(...) % (2**61 - 1)``, done in C.

The modulus keeps distinct keys distinct (a key up to 7 bytes maps to itself; longer ones
collide only by an exact linear coincidence of their bytes); the final mix (two rounds of a
32-bit multiply-xorshift, seeded) spreads them uniformly, so ``hash < rate x 2**32`` keeps a
``rate`` share of any family of keys (``k1, k2, ...``, ``:1:user:42:profile``, ...).

:class:`SampledAccessor` is :class:`~.accessor.Accessor` with the test inline: one native
hash and one comparison for a key that is not sampled, no interpreted frame; a sampled key
goes on to :meth:`Gate.note`, compiled too, which appends a record (with the hash) to the
recorder's queue. The recorder owns the :class:`Gate`; its writer
(:func:`cachepolicy._core.shards.drain`) may lower ``threshold`` (the live curve samples small
key spaces at a higher rate, :mod:`cachepolicy.curve`), and every accessor sees the new value
at once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from mypy_extensions import i64

from .accessor import Accessor, EnvelopePort, exact_key
from .engine import KEEPTTL, NX, Engine
from .entry import COMPILED

__all__ = [
    "DELETE",
    "EXPIRE",
    "FULL",
    "GET_HIT",
    "GET_MISS",
    "SET",
    "TOUCH",
    "Gate",
    "Queued",
    "SampledAccessor",
    "key_sum",
    "mix",
    "sample_hash",
]

#: Operations, as a recording writes them (:data:`cachepolicy.recorder.RECORD`).
GET_HIT: Final = 0
GET_MISS: Final = 1
SET: Final = 2
DELETE: Final = 3
TOUCH: Final = 4
EXPIRE: Final = 5

#: ``threshold`` that samples every key (hashes are 32-bit).
FULL: Final = 1 << 32
#: A queued record: key, operation, value size, TTL field (inf: none, nan: kept), time, and
#: the key's :func:`sample_hash` (the writer tells the recording's records from the curve's
#: by it, and the curve tracks keys by it: nothing hashes a key twice for the sample).
Queued = tuple[str, int, int, float, float, int]

_M61: Final[i64] = (1 << 61) - 1
_LOW53: Final[i64] = (1 << 53) - 1  # the bits that stay put in a rotation by 8 (61 - 8 = 53)
_LOW29: Final[i64] = (1 << 29) - 1  # ... by 32 (61 - 32 = 29)
_M32: Final[i64] = 0xFFFFFFFF
# Multipliers of the 32-bit mix: odd (so each round is a bijection) and below 2**31, so that a
# 32-bit value times one stays below 2**63 (native i64, no overflow, same result interpreted).
_MIX1: Final[i64] = 0x7FEB352D
_MIX2: Final[i64] = 0x2C1B3C6D
_NO_TTL: Final = math.inf


def _byte(h: i64, byte: i64) -> i64:
    """``(h * 256 + byte) mod 2**61 - 1``: multiplying by 2**8 is a rotation of 61 bits."""
    h = ((h & _LOW53) << 8 | h >> 53) + byte
    return h - _M61 if h >= _M61 else h


def key_sum(key: str) -> i64:
    """The UTF-8 bytes of ``key`` as a big-endian number, modulo 2**61 - 1."""
    if not COMPILED:  # one C-level reduction beats a loop per character, interpreted
        return int.from_bytes(key.encode("utf-8", "surrogatepass"), "big") % _M61
    h: i64 = 0
    n: i64 = len(key)
    i: i64 = 0
    while i + 4 <= n:  # four ASCII characters (bytes) per step: a rotation by 32 bits
        c0: i64 = ord(key[i])
        c1: i64 = ord(key[i + 1])
        c2: i64 = ord(key[i + 2])
        c3: i64 = ord(key[i + 3])
        if (c0 | c1 | c2 | c3) >= 0x80:
            break
        h = ((h & _LOW29) << 32 | h >> 29) + (c0 << 24 | c1 << 16 | c2 << 8 | c3)
        if h >= _M61:
            h -= _M61
        i += 4
    while i < n:  # the rest, and any character beyond ASCII, as its UTF-8 bytes
        c: i64 = ord(key[i])
        if c < 0x80:  # _byte, inline: most keys end in up to three ASCII characters
            h = ((h & _LOW53) << 8 | h >> 53) + c
            if h >= _M61:
                h -= _M61
        elif c < 0x800:
            h = _byte(_byte(h, 0xC0 | c >> 6), 0x80 | c & 0x3F)
        elif c < 0x10000:  # surrogates too, as surrogatepass encodes them
            h = _byte(_byte(_byte(h, 0xE0 | c >> 12), 0x80 | c >> 6 & 0x3F), 0x80 | c & 0x3F)
        else:
            h = _byte(_byte(h, 0xF0 | c >> 18), 0x80 | c >> 12 & 0x3F)
            h = _byte(_byte(h, 0x80 | c >> 6 & 0x3F), 0x80 | c & 0x3F)
        i += 1
    return h


def _mix32(v: i64) -> i64:
    v = ((v ^ (v >> 16)) * _MIX1) & _M32
    v = ((v ^ (v >> 15)) * _MIX2) & _M32
    return v ^ (v >> 16)


def mix(total: i64, seed: i64) -> i64:
    """32 uniform bits from a :func:`key_sum` and a 64-bit seed. The high 29 bits are mixed
    before they meet the low 32, so two sums collide only by chance (about 2**-32)."""
    return _mix32((total & _M32) ^ _mix32((total >> 32) ^ (seed & _M32)) ^ (seed >> 32 & _M32))


def sample_hash(key: str, seed: i64) -> i64:
    """The 32-bit sampling hash of ``key`` (a stored key, prefix included)."""
    return mix(key_sum(key), seed)


class Gate:
    """What the sampled paths and the recorder's writer share: the test's ``seed`` and
    ``threshold`` (keys hashing below it are noted), and the queue of records.

    ``threshold`` is the larger of the recording's (``record_threshold``) and the live
    curve's, which the writer may lower. A sampled access is one :meth:`note`, compiled: a
    record (:data:`Queued`) appended to ``queue``, or counted in ``dropped`` when it holds
    ``capacity`` records (never blocking). Records above the recording's threshold are for
    the curve alone: at most ``budget`` of them are queued between two resets of
    ``curve_wanted`` by the writer, the rest counted in ``curve_skipped``. ``start`` is called
    while ``started`` is False (the recorder starts its writer and sets it), ``wake`` when
    the queue reaches half its capacity and at the first record over the budget. Counters
    change with the GIL held, in compiled code: no lock, none lost.
    """

    def __init__(
        self,
        seed: int,
        threshold: int,
        capacity: int,
        budget: int,
        time: Callable[[], float],
        start: Callable[[], None],
        wake: Callable[[], None],
    ) -> None:
        self.seed: i64 = seed
        self.record_threshold: i64 = threshold
        self.threshold: i64 = threshold
        self.capacity = capacity
        self.budget = budget
        self.time = time
        self.start = start
        self.wake = wake
        self.fresh()

    def fresh(self) -> None:
        """An empty queue, no writer, counters at zero (at start, and in a forked child)."""
        self.queue: deque[Queued] = deque()
        self.started = False
        self.dropped = 0
        self.curve_wanted = 0
        self.curve_skipped = 0

    def note(self, key: str, operation: int, size: int, ttl: float, hashed: i64) -> None:
        """A sampled access: ``hashed``, the key's :func:`sample_hash`, is below
        ``threshold``; queued unless it is for the curve alone and over its budget."""
        if hashed >= self.record_threshold:
            self.curve_wanted += 1
            if self.curve_wanted > self.budget:
                self.curve_skipped += 1
                if self.curve_wanted == self.budget + 1:
                    self.wake()  # the writer lowers the curve's share now
                return
        self.enqueue(key, operation, size, ttl, hashed)

    def enqueue(self, key: str, operation: int, size: int, ttl: float, hashed: i64) -> None:
        """Queue one record (or count it dropped)."""
        queue = self.queue
        queued = len(queue)
        if queued >= self.capacity:
            self.dropped += 1
            return
        queue.append((key, operation, size, ttl, self.time(), hashed))
        if not self.started:
            self.start()
        elif queued + 1 == self.capacity >> 1:
            self.wake()


class SampledAccessor(Accessor):
    """:class:`~.accessor.Accessor` whose reads and writes note their sampled keys.

    The same methods and results; each computes the stored key once, calls the engine, then
    tests the sample: one native hash and comparison, and for a sampled key one compiled
    :meth:`Gate.note` given that hash. The envelopes are the base class's helpers
    (:meth:`~.accessor.Accessor._value`, :meth:`~.accessor.Accessor._sealed`); the engine
    call is repeated here because the test needs the stored key and the payload's size,
    which the base methods do not return.
    """

    def __init__(
        self,
        engine: Engine,
        db: int,
        prefix: str,
        touch: bool,
        loads: Callable[[bytes], Any],
        dumps: Callable[[Any], bytes],
        pickle_protocol: int,
        envelopes: EnvelopePort,
        gate: Gate,
    ) -> None:
        super().__init__(engine, db, prefix, touch, loads, dumps, pickle_protocol, envelopes)
        self.gate = gate

    def _note_read(self, stored: str, found: bytes | None) -> None:
        gate = self.gate
        hashed = sample_hash(stored, gate.seed)
        if hashed < gate.threshold:
            if found is None:
                gate.note(stored, GET_MISS, 0, _NO_TTL, hashed)
            else:
                gate.note(stored, GET_HIT, len(found), _NO_TTL, hashed)

    def _note_write(self, stored: str, payload: bytes, ttl: float) -> None:
        gate = self.gate
        hashed = sample_hash(stored, gate.seed)
        if hashed < gate.threshold:
            gate.note(stored, SET, len(payload), ttl, hashed)

    def get(self, key: Any, default: Any = None) -> Any:
        stored = self._stored(key)
        found = self.engine.get(self.db, stored, self.touch)
        self._note_read(stored, found)
        if found is None:
            return default
        payload = self._value(stored, found)
        return default if payload is None else self.loads(payload)

    def get_payload(self, key: Any) -> bytes | None:
        stored = self._stored(key)
        found = self.engine.get(self.db, stored, self.touch)
        self._note_read(stored, found)
        return None if found is None else self._value(stored, found)

    def set_payload(self, key: Any, payload: bytes, ttl: Any) -> bool:
        stored = self._stored(key)
        written: bool = self.engine.write(self.db, stored, payload, ttl, 0)
        self._note_write(stored, payload, _NO_TTL if ttl is None else float(ttl))
        return written

    def add_payload(self, key: Any, payload: bytes, ttl: Any) -> bool:
        stored = self._stored(key)
        added: bool = self.engine.write(self.db, stored, payload, ttl, NX)
        if added:
            self._note_write(stored, payload, _NO_TTL if ttl is None else float(ttl))
        return added

    def set(
        self, key: Any, value: Any, ttl: Any = None, *, keepttl: bool = False, tags: Any = None
    ) -> bool:
        if type(key) is not str:  # before pickling: a bad key must not cost a huge dumps()
            key = exact_key(key)
        if keepttl:
            if ttl is not None:  # the base class's error, with its wording
                return Accessor.set(self, key, value, ttl, keepttl=True, tags=tags)
            flags, field = KEEPTTL, math.nan  # "keep the key's TTL"
        else:
            flags, field = 0, _NO_TTL if ttl is None else float(ttl)
        payload = self._sealed(key, value, tags)
        stored = self.prefix + key if self.prefix else key
        written: bool = self.engine.write(self.db, stored, payload, ttl, flags)
        self._note_write(stored, payload, field)
        return written
