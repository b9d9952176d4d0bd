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

Compiled with the engine (mypyc): an increment holds the GIL from load to store, so it is safe
on the lock-free read path. In the pure build two concurrent increments of one counter may
count once: a lost increment under a race, which a frequency estimate tolerates.
"""

from __future__ import annotations

import sys
from typing import Final

__all__ = ["FrequencySketch"]

#: Counters per key (one per row): 4 keeps collisions rare at one counter per expected key.
ROWS: Final = 4
#: 4-bit counters: the paper's choice; a key needs no more resolution to win an admission.
COUNTER_MAX: Final = 15
#: The sample period, in increments per counter of a row: the paper's W = 10 x the cache size.
SAMPLE_FACTOR: Final = 10
#: Odd 64-bit multipliers, one per row (golden-ratio and splitmix64 constants): each row
#: takes the top bits of the key's hash times its own multiplier.
_SEEDS: Final = (
    0x9E3779B97F4A7C15,
    0xBF58476D1CE4E5B9,
    0x94D049BB133111EB,
    0xD6E8FEB86659FD93,
)
_MASK64: Final = (1 << 64) - 1
#: The doorkeeper's bytes per counter column (16 bits: about one false "seen before" in 20
#: at 3 x width distinct keys in a sample).
DOOR_BYTES_PER_COLUMN: Final = 2
#: Each byte value's half: ``bytearray.translate`` halves a whole table at C speed.
_HALVED: Final = bytes([value >> 1 for value in range(256)])
#: Fewest counters per row: below this, collisions would decide admissions.
MIN_WIDTH: Final = 256


class FrequencySketch:
    """``ROWS`` rows of ``width`` 4-bit counters (one byte each), halved every sample."""

    def __init__(self, expected_keys: int) -> None:
        width = MIN_WIDTH
        while width < expected_keys:
            width <<= 1
        self.width = width
        self.shift = 64 - (width.bit_length() - 1)
        self.table = bytearray(ROWS * width)
        #: The doorkeeper: a Bloom filter of 16 x width bits, two bits per key (a sample sees
        #: up to 10 x width accesses; a few times width distinct keys, unless it is a scan).
        self.door = bytearray(DOOR_BYTES_PER_COLUMN * width)
        self.door_bits = 8 * len(self.door)
        #: Increments since the last halving (Caffeine's "size"), and the period.
        self.additions = 0
        self.sample = SAMPLE_FACTOR * width
        #: Halvings so far (for tests and INFO).
        self.resets = 0

    def _index(self, code: int, row: int) -> int:
        return row * self.width + (((code * _SEEDS[row]) & _MASK64) >> self.shift)

    def _door_bits(self, code: int) -> tuple[int, int]:
        spread = (code * _SEEDS[3]) & _MASK64
        return spread % self.door_bits, (spread >> 32) % self.door_bits

    def _let_in(self, code: int) -> bool:
        """Whether the doorkeeper has seen the key this sample; it has afterwards."""
        first, second = self._door_bits(code)
        door = self.door
        seen = (door[first >> 3] >> (first & 7)) & 1 and (door[second >> 3] >> (second & 7)) & 1
        if not seen:
            door[first >> 3] |= 1 << (first & 7)
            door[second >> 3] |= 1 << (second & 7)
        return bool(seen)

    def _known(self, code: int) -> int:
        first, second = self._door_bits(code)
        door = self.door
        return (door[first >> 3] >> (first & 7)) & 1 & (door[second >> 3] >> (second & 7))

    def increment(self, code: int) -> None:
        """Count one access of the key whose ``hash()`` is ``code``."""
        code &= _MASK64
        if not self._let_in(code):
            self.additions += 1  # the first access counts towards the sample too
            if self.additions >= self.sample:
                self.halve()
            return
        table = self.table
        added = False
        for row in range(ROWS):
            index = self._index(code, row)
            if table[index] < COUNTER_MAX:
                table[index] += 1
                added = True
        if added:
            self.additions += 1
            if self.additions >= self.sample:
                self.halve()

    def frequency(self, code: int) -> int:
        """The key's estimated accesses in the current sample (0..16: the counters' 15 and
        the doorkeeper's one)."""
        code &= _MASK64
        table = self.table
        lowest = COUNTER_MAX
        for row in range(ROWS):
            count = table[self._index(code, row)]
            if count < lowest:
                lowest = count
        return lowest + self._known(code)

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
        """Bytes the sketch holds (its table), counted in ``used_memory`` by its policy."""
        return sys.getsizeof(self.table) + sys.getsizeof(self.door)
