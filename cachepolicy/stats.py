"""Counters reported by ``info()`` under Redis's INFO field names.

Read hits and misses are counted on the lock-free read path, where ``x += 1`` on a shared
attribute can lose updates between threads. They are therefore kept in per-thread cells and
summed when read: exact, and no thread ever waits for another to count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

__all__ = ["HitCounter", "Stats"]


class HitCounter:
    """Per-thread ``[hits, misses]`` cells, summed on demand."""

    def __init__(self) -> None:
        self._local = threading.local()
        #: The thread-local namespace; ``local.cell`` exists once this thread counted.
        self.local = self._local
        self._cells: list[list[int]] = []
        self._lock = threading.Lock()

    def cell(self) -> list[int]:
        """This thread's ``[hits, misses]`` list (created on first use)."""
        try:
            cell: list[int] = self._local.cell
        except AttributeError:
            cell = [0, 0]
            with self._lock:
                self._cells.append(cell)
            self._local.cell = cell
        return cell

    def totals(self) -> tuple[int, int]:
        with self._lock:
            cells = list(self._cells)
        return sum(c[0] for c in cells), sum(c[1] for c in cells)

    def reset(self) -> None:
        with self._lock:
            for cell in self._cells:
                cell[0] = cell[1] = 0


@dataclass
class Stats:
    """Counters updated under the store lock (or by one background thread)."""

    expired_keys: int = 0
    evicted_keys: int = 0
    evicted_bytes: int = 0
    rejected_writes: int = 0
    expired_stale_perc: float = 0.0
    expired_time_cap_reached_count: int = 0
    expire_cycle_cpu_milliseconds: float = 0.0
    lazyfree_pending_objects: int = 0
    lazyfreed_objects: int = 0
    used_memory_peak: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        """Redis's CONFIG RESETSTAT: zero the counters (not the pending work)."""
        pending = self.lazyfree_pending_objects
        for f in fields(self):
            if f.name == "extra":
                self.extra.clear()
            else:
                setattr(self, f.name, type(getattr(self, f.name))())
        self.lazyfree_pending_objects = pending
