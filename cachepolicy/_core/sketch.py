"""A count-min sketch of 4-bit counters with periodic halving: TinyLFU's frequency estimate.

TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
ACM ToS 2017) admits a new key only if it has been asked for more often, recently, than the
key it would displace. "How often, recently" is this sketch: each key increments one counter in
each of :data:`ROWS` rows (the estimate is the smallest of its counters: collisions only ever
add), counters saturate at 15 (4 bits: a key seen 15 times in a sample period is as hot as it
needs to be), and after a sample of ``SAMPLE_FACTOR`` x width increments every counter is
halved, so what was popular a long time ago fades (the paper's "reset").

A doorkeeper (the paper's Bloom filter in front of the counters) takes a key's first access in
each sample period: only a key seen before reaches the counters. Most keys of a scan are seen
once, so they never raise the counters that hot keys share with them by collision; without it
a scan of 2,000 keys through a 256-wide sketch lifted every counter by about 8 and let the scan
in. The estimate is the counters plus one if the doorkeeper knows the key; both are cleared or
halved together.

Layout: counters are 4 bits, two to a byte (``table``), the doorkeeper one bit array
(``door``). A key's ``hash()`` picks its counters by double hashing (Kirsch and Mitzenmacher,
"Less hashing, same performance", 2006): counter ``i`` of row ``i`` is ``(a + i * b) mod
width`` for two halves ``a``, ``b`` (odd) of the hash, and its two doorkeeper bits likewise.
All arithmetic stays below 2**62, so the compiled build does it on unboxed machine integers.

Compiled with the engine (mypyc): an increment holds the GIL from load to store, so it is safe
on the lock-free read path. In the pure build two concurrent increments of one counter may
count once: a lost increment under a race, which a frequency estimate tolerates.
"""

from __future__ import annotations

import sys
from typing import Final

from mypy_extensions import i64

__all__ = ["FrequencySketch"]

#: Counters per key (one per row): 4 keeps collisions rare at one counter per expected key.
ROWS: Final = 4
#: 4-bit counters: the paper's choice; a key needs no more resolution to win an admission.
COUNTER_MAX: Final = 15
#: The sample period, in increments per counter of a row: the paper's W = 10 x the cache size.
SAMPLE_FACTOR: Final = 10
#: The doorkeeper's bytes per counter column by default (16 bits: about one false "seen
#: before" in 20 at 3 x width distinct keys in a sample).
DOOR_BYTES_PER_COLUMN: Final = 2
#: Fewest counters per row: below this, collisions would decide admissions.
MIN_WIDTH: Final = 256
_MASK31: Final[i64] = (1 << 31) - 1
#: Each byte value with both of its 4-bit counters halved: ``bytearray.translate`` halves a
#: whole table at C speed.
_HALVED: Final = bytes([((value >> 4) >> 1) << 4 | ((value & 15) >> 1) for value in range(256)])


class FrequencySketch:
    """``ROWS`` rows of ``width`` 4-bit counters (two to a byte), halved every sample.

    ``expected_keys`` sizes a row: ``width`` is the power of two at or above it (at least
    :data:`MIN_WIDTH`); ``door_bytes`` is the doorkeeper's bytes per column.
    """

    def __init__(self, expected_keys: int, door_bytes: int = DOOR_BYTES_PER_COLUMN) -> None:
        width = MIN_WIDTH
        while width < expected_keys:
            width <<= 1
        self.width = width
        self.mask: i64 = width - 1
        self.table = bytearray(ROWS * width // 2)
        #: The doorkeeper: a Bloom filter of ``8 x door_bytes x width`` bits, two bits per key
        #: (a sample sees up to 10 x width accesses; a few times width distinct keys, unless it
        #: is a scan).
        self.door = bytearray(max(door_bytes, 1) * width)
        self.door_mask: i64 = 8 * len(self.door) - 1
        #: Increments since the last halving (Caffeine's "size"), and the period.
        self.additions = 0
        self.sample = SAMPLE_FACTOR * width
        #: Halvings so far (for tests and INFO).
        self.resets = 0

    def _let_in(self, a: i64, b: i64) -> bool:
        """Whether the doorkeeper has seen the key this sample; it has afterwards."""
        mask = self.door_mask
        first: i64 = (a + 5 * b) & mask
        second: i64 = (a + 6 * b) & mask
        door = self.door
        seen = (door[first >> 3] >> (first & 7)) & 1 and (door[second >> 3] >> (second & 7)) & 1
        if not seen:
            door[first >> 3] |= 1 << (first & 7)
            door[second >> 3] |= 1 << (second & 7)
        return bool(seen)

    def increment(self, code: i64) -> None:
        """Count one access of the key whose ``hash()`` is ``code``."""
        a: i64 = code & _MASK31
        b: i64 = ((code >> 31) & _MASK31) | 1
        if not self._let_in(a, b):
            self.additions += 1  # the first access counts towards the sample too
            if self.additions >= self.sample:
                self.halve()
            return
        table = self.table
        mask = self.mask
        width: i64 = self.width
        added = False
        for row in range(ROWS):
            index: i64 = row * width + ((a + row * b) & mask)
            shift: i64 = (index & 1) << 2
            byte = table[index >> 1]
            if (byte >> shift) & 15 < COUNTER_MAX:
                table[index >> 1] = byte + (1 << shift)
                added = True
        if added:
            self.additions += 1
            if self.additions >= self.sample:
                self.halve()

    def frequency(self, code: i64) -> int:
        """The key's estimated accesses in the current sample (0..16: the counters' 15 and
        the doorkeeper's one)."""
        a: i64 = code & _MASK31
        b: i64 = ((code >> 31) & _MASK31) | 1
        table = self.table
        mask = self.mask
        width: i64 = self.width
        lowest = COUNTER_MAX
        for row in range(ROWS):
            index: i64 = row * width + ((a + row * b) & mask)
            count = (table[index >> 1] >> ((index & 1) << 2)) & 15
            if count < lowest:
                lowest = count
        door_mask = self.door_mask
        first: i64 = (a + 5 * b) & door_mask
        second: i64 = (a + 6 * b) & door_mask
        door = self.door
        known = (door[first >> 3] >> (first & 7)) & 1 & (door[second >> 3] >> (second & 7))
        return lowest + known

    def halve(self) -> None:
        """Age every counter: halve it (the reset of TinyLFU's sample period)."""
        self.table = self.table.translate(_HALVED)  # one C-level pass
        self.door = bytearray(len(self.door))
        self.additions >>= 1
        self.resets += 1

    def clear(self) -> None:
        self.table = bytearray(len(self.table))
        self.door = bytearray(len(self.door))
        self.additions = 0

    def memory(self) -> int:
        """Bytes the sketch holds (its tables), counted in ``used_memory`` by its policy."""
        return sys.getsizeof(self.table) + sys.getsizeof(self.door)
