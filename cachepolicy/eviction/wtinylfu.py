"""``allkeys-wtinylfu``: Window TinyLFU with an adaptive window, on the public policy port.

W-TinyLFU (Einziger, Friedman, Manes, ACM ToS 2017; Caffeine's policy) splits the cache in
three LRU regions. New keys enter a small **window**, where recency alone decides: a key read
twice in quick succession is kept, however rare it is overall. Keys pushed out of the window
become **candidates** for the **main** region, a segmented LRU (**probation**, where main keys
start, and **protected**, where a key read again in probation moves). A candidate enters main
only if a frequency sketch of recent requests (:class:`~cachepolicy._core.sketch.
FrequencySketch`, hits and misses alike) rates it above the main region's victim, the LRU end of
probation; otherwise the candidate itself is evicted. When probation holds candidates only,
the oldest joins main unjudged and the next is judged against it. So a scan or a loop larger
than the cache never displaces the keys that are asked for again, while bursts of recency
still get in through the window.

The window's share adapts (a hill climber, as Caffeine): every sample of requests the hit ratio
is compared with the previous sample's; while it improves the window keeps moving the same way
(bigger favours recency, smaller frequency), else it turns, with a step that shrinks as it
settles; a change of :data:`RESTART_THRESHOLD` or more restarts the step at its first size
(Caffeine's product climber). It starts at :data:`WINDOW_START` of the capacity, and its
samples start once the cache is full (a filling cache misses whatever the window is).

Capacity and weights follow the cache's bound: under a byte budget a key weighs its accounted
size and the capacity is ``maxmemory``; under ``max_entries`` every key weighs 1. The engine
still decides *when* to evict (it evicts until the write fits); this policy decides *which* key.

The work is done by :class:`~cachepolicy._core.wtinylfu.WTinyLFUCore`, compiled with the
engine: three doubly linked lists threaded through the entries, the read buffer and the climber.
For every hook this class does not see overridden, it binds the core's bound method on the
instance (``self.on_read = core.on_read``), so the engine calls native code with no
interpreted frame in between; a subclass that overrides a hook gets its override called, and
``super()`` reaches the method here, which delegates to the core.

Reads stay lock-free: ``on_read`` stamps the entry and appends it to a bounded buffer (one C
call, GIL-atomic); the reorderings and sketch increments it stands for are applied under the
lock at the next write or eviction (Caffeine's read buffer). A full buffer drops reads, which
only loses some recency and frequency information. ``on_miss`` increments the sketch at once:
compiled, an increment holds the GIL from load to store; interpreted, a racing increment may be
lost, which a frequency estimate tolerates.

Cost: per write the insert, the victim and the removal, O(1) each (native calls in the
compiled build); per read one list append. Memory per key: one pointer (its node's slot) plus
the sketch, 3 bytes per counter column (four 4-bit counters and a byte of doorkeeper), 2 to 4
columns per key: 14 to 20 B beyond sampled LRU in the compiled build, whose entries hold the
links unboxed (see :mod:`cachepolicy._core.wtinylfu`).
"""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import TYPE_CHECKING

from .._core.climber import RESTART_THRESHOLD, SAMPLE_PER_KEY, STEP_DECAY, STEP_START
from .._core.entry import COMPILED, Entry
from .._core.judge import judge_for
from .._core.keyspace import Keyspace
from .._core.ports import Access, Removal, Victims
from .._core.sketch import FrequencySketch
from .._core.wtinylfu import CANDIDATE, PROBATION, PROTECTED, WINDOW, WTinyLFUCore
from .admission import expected_keys
from .base import EvictionPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = ["WindowTinyLFU"]

#: The window's first share of the capacity (Caffeine's 1 %); the climber moves it.
WINDOW_START = 0.01
#: The protected segment's share of the main region (the SLRU's 80 %).
PROTECTED_SHARE = 0.80
#: The window's share stays within these bounds (it never takes over).
WINDOW_MIN, WINDOW_MAX = 0.0, 0.80
# The climber's first step, its decay, its restart threshold and its sample size per key are
# the shared climber constants of cachepolicy._core.climber (imported above).
#: Counter columns per expected key, at least: a row is the power of two at or above twice
#: the expected keys (2 to 4 columns per key). More columns than one keep collisions from
#: deciding admissions when the requests span several times the cache (a loop 4x its size);
#: a power of two keeps the index a mask.
SKETCH_COLUMNS_PER_KEY = 2
#: The doorkeeper's bytes per column (8 bits: 16 to 32 bits per expected key).
DOOR_BYTES = 1
#: Reads buffered between drains; more are dropped (see the module docstring).
READ_BUFFER = 4096
#: The hooks the core serves itself when a subclass does not override them.
_BOUND_HOOKS = (
    "on_insert",
    "on_read",
    "on_miss",
    "on_write",
    "on_remove",
    "select_victim",
    "structure_bytes",
)


class WindowTinyLFU(EvictionPolicy):
    """``allkeys-wtinylfu`` (one implementation for both modes: its structures are exact)."""

    name = "allkeys-wtinylfu"
    # The recency stamp keeps idletime() and the restore after a refusal meaningful. The
    # core links entries through the LFU fields, so Access.LFU is refused.
    read_access = write_access = Access.STAMP
    victims = Victims.HOOK
    uses_slot = True
    # Interpreted, a key's node number is an int object of its own (its neighbours' links
    # share it); compiled, the entry stores it unboxed.
    metadata_overhead = 0 if COMPILED else 28

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        if Access.LFU in (self.read_access, self.write_access):
            raise TypeError(
                f"{type(self).__qualname__}: W-TinyLFU links its entries through the LFU "
                "counter's fields, so read_access and write_access cannot be Access.LFU."
            )
        self.core = WTinyLFUCore(
            FrequencySketch(SKETCH_COLUMNS_PER_KEY * expected_keys(config), DOOR_BYTES),
            0.0,
            False,
            WINDOW_START,
            PROTECTED_SHARE,
            (WINDOW_MIN, WINDOW_MAX),
            (STEP_START, STEP_DECAY),
            RESTART_THRESHOLD,
            SAMPLE_PER_KEY,
            READ_BUFFER,
            judge_for(expected_keys(config), config.maxmemory),
        )
        super().__init__(config, rng)
        cls = type(self)
        for hook in _BOUND_HOOKS:
            if getattr(cls, hook) is getattr(WindowTinyLFU, hook):
                setattr(self, hook, getattr(self.core, hook))

    # The bound is read from the configuration each time it changes: CONFIG SET maxmemory
    # keeps the policy object and gives it the new configuration.
    @property
    def config(self) -> CacheConfig:
        return self._config

    @config.setter
    def config(self, config: CacheConfig) -> None:
        self._config = config
        by_bytes = bool(config.maxmemory) and config.max_entries is None
        self.core.by_bytes = by_bytes
        self.core.capacity = float(config.maxmemory if by_bytes else (config.max_entries or 0))

    @property
    def sketch(self) -> FrequencySketch:
        return self.core.sketch

    @property
    def window_share(self) -> float:
        """The window's current share of the capacity (the climber moves it)."""
        return self.core.window_share

    # ------------------------------------------------------------------ hooks

    def on_insert(self, entry: Entry, now: float) -> None:
        self.core.on_insert(entry, now)

    def on_read(self, entry: Entry, now: float) -> None:
        self.core.on_read(entry, now)

    def on_miss(self, key: str, db: int) -> None:
        self.core.on_miss(key, db)

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        self.core.on_write(entry, now, old_size)

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        self.core.on_remove(entry, cause)

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        return self.core.select_victim(keyspaces, now)

    def reset(self) -> None:
        super().reset()
        self.core.clear()

    # ------------------------------------------------------------------ accounting

    def structure_bytes(self) -> int:
        return self.core.structure_bytes()

    def regions(self) -> tuple[list[Entry], list[Entry], list[Entry]]:
        """The window, probation and protected keys, LRU first (for tests and debugging)."""
        core = self.core
        return core.members(WINDOW), core.members(PROBATION), core.members(PROTECTED)

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        problems: list[str] = []
        core = self.core
        keys = sum(len(keyspace) for keyspace in keyspaces)
        if core.size() != keys:
            problems.append(
                f"W-TinyLFU regions track {core.size()} entries, the cache holds {keys}"
            )
        for region, entries in enumerate(self.regions()):
            if len(entries) != core.counts[region]:
                problems.append(f"W-TinyLFU region {region} links {len(entries)} entries")
            if any(e.pos < 0 or int(e.slot) & 3 != region or not core.tracked(e) for e in entries):
                problems.append(f"W-TinyLFU region {region} holds a removed or misfiled entry")
            if sum(int(e.slot) >> 3 for e in entries) != core.weights[region]:
                problems.append(
                    f"W-TinyLFU region {region} weighs {core.weights[region]}, not its sum"
                )
        flagged = [e for e in self.regions()[PROBATION] if int(e.slot) & CANDIDATE]
        if any(int(e.slot) & CANDIDATE for e in self.regions()[WINDOW] + self.regions()[PROTECTED]):
            problems.append("W-TinyLFU has a candidate outside probation")
        if (flagged[0] if flagged else None) is not core.candidate:
            problems.append("W-TinyLFU's oldest candidate is not probation's first flagged key")
        return problems
