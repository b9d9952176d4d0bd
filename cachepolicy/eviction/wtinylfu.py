"""``allkeys-wtinylfu``: Window TinyLFU with an adaptive window, on the public policy port.

W-TinyLFU (Einziger, Friedman, Manes, ACM ToS 2017; Caffeine's policy) splits the cache in
three LRU regions. New keys enter a small **window**, where recency alone decides: a key read
twice in quick succession is kept, however rare it is overall. Keys pushed out of the window
become **candidates** for the **main** region, a segmented LRU (**probation**, where main keys
start, and **protected**, where a key read again in probation moves). A candidate enters main
only if a frequency sketch of recent requests (:class:`~cachepolicy._core.sketch.
FrequencySketch`, hits and misses alike) rates it above the main region's victim, the LRU end of
probation; otherwise the candidate itself is evicted. So a scan or a loop larger than the cache
never displaces the keys that are asked for again, while bursts of recency still get in
through the window.

The window's share adapts (a hill climber, as Caffeine): every sample of requests the hit ratio
is compared with the previous sample's; while it improves the window keeps moving the same way
(bigger favours recency, smaller frequency), else it turns, with a step that shrinks as it
settles. It starts at :data:`WINDOW_START` of the capacity.

Capacity and weights follow the cache's bound: under a byte budget a key weighs its accounted
size and the capacity is ``maxmemory``; under ``max_entries`` every key weighs 1. The engine
still decides *when* to evict (it evicts until the write fits); this policy decides *which* key.

Reads stay lock-free: ``on_read`` and ``on_miss`` only append to bounded buffers (one C call
each, GIL-atomic); the reorderings and sketch increments they stand for are applied under the
lock at the next write or eviction (Caffeine's read buffer). A full buffer drops reads, which
only loses some recency and frequency information.

Cost: per write a Python hook for the insert, the victim and the removal, O(1) amortised each;
per read one list append. Memory: one ``OrderedDict`` slot per key (about 100 B, measured as the
structure grows) plus the sketch (6 bytes per counter column).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from random import Random
from sys import getsizeof
from typing import TYPE_CHECKING

from .._core.entry import Entry
from .._core.keyspace import Keyspace
from .._core.ports import Access, Removal, Victims
from .._core.sketch import FrequencySketch
from .admission import expected_keys
from .base import EvictionPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = ["WindowTinyLFU"]

#: The window's first share of the capacity (Caffeine's 1 %); the climber moves it.
WINDOW_START = 0.01
#: The protected segment's share of the main region (the SLRU's 80 %).
PROTECTED_SHARE = 0.80
#: The window's share stays within these bounds (it never disappears, never takes over).
WINDOW_MIN, WINDOW_MAX = 0.0, 0.80
#: The climber's first step, as a share of the capacity, and its decay per adjustment.
STEP_START, STEP_DECAY = 0.0625, 0.98
#: Requests per climber sample, per key the cache holds (Caffeine: 10 x the maximum size).
SAMPLE_PER_KEY = 10
#: Counter columns per expected key: 4 one-byte counters per key in each row keep collisions
#: from deciding admissions when the requests span several times the cache (a loop 4x its
#: size); Caffeine's sketch has 16 four-bit counters per key in all.
SKETCH_COLUMNS_PER_KEY = 4
#: Reads buffered between drains; more are dropped (see the module docstring).
READ_BUFFER = 4096
#: Regions. ``Entry.slot`` holds ``weight * 4 + region``: the region, and the weight the key
#: was counted with (its size changes without this policy hearing of it, e.g. with a TTL).
WINDOW, PROBATION, PROTECTED = 0, 1, 2
_EMPTY = getsizeof(OrderedDict())


class WindowTinyLFU(EvictionPolicy):
    """``allkeys-wtinylfu`` (one implementation for both modes: its structures are exact)."""

    name = "allkeys-wtinylfu"
    # The recency stamp keeps idletime() and the restore after a refusal meaningful.
    read_access = write_access = Access.STAMP
    victims = Victims.HOOK
    uses_slot = True

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.sketch = FrequencySketch(SKETCH_COLUMNS_PER_KEY * expected_keys(config))
        self.window: OrderedDict[Entry, None] = OrderedDict()
        self.probation: OrderedDict[Entry, None] = OrderedDict()
        self.protected: OrderedDict[Entry, None] = OrderedDict()
        self.weights = [0, 0, 0]  # window, probation, protected
        self.high_water = 0
        #: Keys moved out of the window and not yet judged against the main region's victim.
        #: Only once the cache has been full: before, a key leaving the window has room in
        #: the main region and is admitted (Caffeine's warm-up).
        self.candidates: deque[Entry] = deque()
        self.full = False
        self.reads: list[Entry] = []
        self.missed: list[int] = []
        self.window_share = WINDOW_START
        self.step = STEP_START
        self.sample_hits = self.sample_misses = 0
        self.previous_ratio = -1.0

    # ------------------------------------------------------------------ sizes

    # The bound is read from ``self.config`` each time: CONFIG SET maxmemory keeps the policy
    # object and gives it the new configuration.
    @property
    def by_bytes(self) -> bool:
        return bool(self.config.maxmemory) and self.config.max_entries is None

    @property
    def capacity(self) -> float:
        config = self.config
        return float(config.maxmemory if self.by_bytes else (config.max_entries or 0))

    def _weight(self, entry: Entry) -> int:
        return entry.size if self.by_bytes else 1

    @staticmethod
    def _file(entry: Entry, region: int, weight: int) -> None:
        entry.slot = float(weight * 4 + region)

    @staticmethod
    def _region_of(entry: Entry) -> int:
        return int(entry.slot) & 3

    @staticmethod
    def _weight_of(entry: Entry) -> int:
        return int(entry.slot) >> 2

    def _window_max(self) -> float:
        return max(self.capacity * self.window_share, 1.0)

    def _protected_max(self) -> float:
        return (self.capacity - self._window_max()) * PROTECTED_SHARE

    def _region(self, entry: Entry) -> OrderedDict[Entry, None]:
        return (self.window, self.probation, self.protected)[self._region_of(entry)]

    def _move(self, entry: Entry, to: int) -> None:
        weight = self._weight_of(entry)
        self._region(entry).pop(entry, None)
        self.weights[self._region_of(entry)] -= weight
        self._file(entry, to, weight)
        self._region(entry)[entry] = None
        self.weights[to] += weight

    # ------------------------------------------------------------------ hooks

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        self._drain()
        self.sketch.increment(hash(entry.key))
        weight = self._weight(entry)
        self._file(entry, WINDOW, weight)
        self.window[entry] = None
        self.weights[WINDOW] += weight
        total = len(self.window) + len(self.probation) + len(self.protected)
        if total > self.high_water:
            self.high_water = total
        self._shrink_window()

    def on_read(self, entry: Entry, now: float) -> None:
        super().on_read(entry, now)
        reads = self.reads
        if len(reads) < READ_BUFFER:
            reads.append(entry)

    def on_miss(self, key: str, db: int) -> None:
        missed = self.missed
        if len(missed) < READ_BUFFER:
            missed.append(hash(key))

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        super().on_write(entry, now, old_size)
        self._drain()
        region, weight = self._region_of(entry), self._weight(entry)
        self.weights[region] += weight - self._weight_of(entry)
        self._file(entry, region, weight)
        self._touched(entry)
        self.sketch.increment(hash(entry.key))

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        region = self._region(entry)
        if region.pop(entry, 0) is None:  # present (its value is None): was tracked
            self.weights[self._region_of(entry)] -= self._weight_of(entry)
        total = len(self.window) + len(self.probation) + len(self.protected)
        if total * 4 < self.high_water and self.high_water > 64:
            # OrderedDicts never give their tables back: rebuilt, as the exact LRU list is.
            self.window = OrderedDict(self.window)
            self.probation = OrderedDict(self.probation)
            self.protected = OrderedDict(self.protected)
            self.high_water = total

    def reset(self) -> None:
        super().reset()
        self.window, self.probation, self.protected = OrderedDict(), OrderedDict(), OrderedDict()
        self.weights = [0, 0, 0]
        self.candidates.clear()
        self.full = False
        self.reads, self.missed = [], []
        self.sketch.clear()
        self.high_water = 0

    # ------------------------------------------------------------------ the buffers

    def _drain(self) -> None:
        """Apply the buffered reads and misses (lock held)."""
        reads, self.reads = self.reads, []
        missed, self.missed = self.missed, []
        sketch = self.sketch
        for entry in reads:
            if entry.alive:
                sketch.increment(hash(entry.key))
                self._touched(entry)
        for code in missed:
            sketch.increment(code)
        self.sample_hits += len(reads)
        self.sample_misses += len(missed)
        self._climb()

    def _touched(self, entry: Entry) -> None:
        """A live key was accessed: recency within its region, promotion out of probation."""
        region = self._region_of(entry)
        if region == WINDOW:
            self.window.move_to_end(entry)
        elif region == PROTECTED:
            self.protected.move_to_end(entry)
        elif entry in self.probation:
            self._move(entry, PROTECTED)
            protected_max = self._protected_max()
            while self.weights[2] > protected_max and len(self.protected) > 1:
                self._move(next(iter(self.protected)), PROBATION)

    def _shrink_window(self) -> None:
        """Move the window's LRU keys to probation as candidates until it fits its share."""
        window_max = self._window_max()
        while self.weights[0] > window_max and len(self.window) > 1:
            entry = next(iter(self.window))
            self._move(entry, PROBATION)
            if self.full:
                self.candidates.append(entry)

    # ------------------------------------------------------------------ the climber

    def _climb(self) -> None:
        requests = self.sample_hits + self.sample_misses
        keys = len(self.window) + len(self.probation) + len(self.protected)
        if requests < SAMPLE_PER_KEY * max(keys, 64):
            return
        ratio = self.sample_hits / requests
        if self.previous_ratio >= 0 and ratio < self.previous_ratio:
            self.step = -self.step  # it got worse: turn
        self.previous_ratio = ratio
        self.window_share = min(max(self.window_share + self.step, WINDOW_MIN), WINDOW_MAX)
        self.step *= STEP_DECAY
        self.sample_hits = self.sample_misses = 0
        self._shrink_window()

    # ------------------------------------------------------------------ victims

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        self._drain()
        self.full = True
        candidates = self.candidates
        while candidates:
            candidate = candidates[0]
            if not candidate.alive or self._region_of(candidate) != PROBATION:
                candidates.popleft()  # evicted or promoted since it left the window
                continue
            victim = next(iter(self.probation))
            if victim is candidate:
                return candidate  # only candidates left in probation: the oldest goes
            sketch = self.sketch
            if sketch.frequency(hash(candidate.key)) > sketch.frequency(hash(victim.key)):
                candidates.popleft()  # admitted into the main region
                return victim
            return candidate  # the main region's victim was asked for more: the candidate goes
        for region in (self.probation, self.protected, self.window):
            for entry in region:
                return entry
        return None

    # ------------------------------------------------------------------ accounting

    def structure_bytes(self) -> int:
        regions = getsizeof(self.window) + getsizeof(self.probation) + getsizeof(self.protected)
        return regions - 3 * _EMPTY + self.sketch.memory()

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        problems: list[str] = []
        tracked = len(self.window) + len(self.probation) + len(self.protected)
        keys = sum(len(keyspace) for keyspace in keyspaces)
        if tracked != keys:
            problems.append(f"W-TinyLFU regions track {tracked} entries, the cache holds {keys}")
        for slot, region in enumerate((self.window, self.probation, self.protected)):
            entries = tuple(region)
            if any(not e.alive or self._region_of(e) != slot for e in entries):
                problems.append(f"W-TinyLFU region {slot} holds a removed or misfiled entry")
            if sum(self._weight_of(e) for e in entries) != self.weights[slot]:
                problems.append(f"W-TinyLFU region {slot} weighs {self.weights[slot]}, not its sum")
        return problems
