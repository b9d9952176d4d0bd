"""The memory ledger: the only code that moves ``used_memory``, ``key_count`` and the peak,
or re-measures a database's tables.

``used_memory`` is the exact sum of :meth:`Ledger.entry_size` over all entries of all
databases (key object + serialized value + a per-build calibrated overhead for the entry
object, :mod:`~cachepolicy._core.entry`), plus what the containers holding them measure beyond
their empty size (the keyspace dicts and sampling arrays, whose tables grow in steps that no
per-entry constant can follow), plus the structures shared by every database (the policy's
own, when it declares ``structure_bytes``, and the deadline index's), plus what left-over
index records of removed keys keep alive (:attr:`DeadlineIndex.retained`).

Table growth is measured *without* being added (:meth:`Ledger.growth`) and joins
``used_memory`` only once the eviction room has made room for it (:meth:`Ledger.admit`), or
once the write that caused it is undone: ``used_memory`` is read without the lock (``info()``,
monitoring), and no reader may ever see it above the limit.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

from ..errors import short_repr
from .entry import BYTES_BASE, Entry
from .keyspace import Keyspace
from .stats import Stats

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["Ledger"]

# Besides growth of its dict or sampling list, a database's containers (and the shared
# structures: the policy's, the deadline index) are re-measured every 64th write (a mask).
_MEASURE_EVERY: Final = 63


class Ledger:
    """Bytes and keys held by every database of one engine, under its current plan."""

    def __init__(self, plan: Plan, keyspaces: list[Keyspace], stats: Stats) -> None:
        #: The plan the sizes are computed under (the engine's; replaced on reconfiguration).
        self.plan = plan
        self.keyspaces = keyspaces
        self.stats = stats
        #: The engine's list of the databases' dicts (its lock-free read path indexes it):
        #: refreshed here whenever a database rebuilds its dict.
        self.dicts: list[dict[str, Entry]] = [ks.data for ks in keyspaces]
        self.used_memory = 0
        self.key_count = 0
        #: The containers' measured bytes beyond their empty size, shared structures included.
        self.structure_memory = 0
        #: The shared structures' bytes (the policy's and the deadline index's) as counted,
        #: and the policy's part of them (re-measured alone when a key leaves).
        self.shared_memory = 0
        self.policy_memory = 0
        #: The deadline index's retained bytes as last added to used_memory.
        self.index_retained = 0
        self.empty_containers = keyspaces[0].container_bytes()
        self.writes = 0

    # ------------------------------------------------------------------ what an entry costs

    def entry_size(self, key: str, payload: bytes, has_ttl: bool) -> int:
        """Bytes one entry costs under the plan's policy and expiry strategy."""
        size = key.__sizeof__()  # sys.getsizeof(key), at half the cost (a str has no GC header)
        if type(payload) is bytes:
            size += BYTES_BASE + len(payload)
        else:
            size += sys.getsizeof(payload)
        plan = self.plan
        return size + (plan.volatile_overhead if has_ttl else plan.plain_overhead)

    def overwrite_size(self, entry: Entry, payload: bytes, has_ttl: bool) -> int:
        """:meth:`entry_size` of ``entry``'s key with a new payload and TTL, derived from the
        entry's own size without measuring the key again (that method call was a tenth of an
        overwrite's engine time)."""
        old = entry.payload
        if type(payload) is bytes and type(old) is bytes:
            size = entry.size + len(payload) - len(old)  # equal headers (BYTES_BASE)
        else:
            size = entry.size + sys.getsizeof(payload) - sys.getsizeof(old)
        if (entry.deadline is not None) != has_ttl:
            ttl_cost = self.plan.volatile_overhead - self.plan.plain_overhead
            size += ttl_cost if has_ttl else -ttl_cost
        return size

    # ------------------------------------------------------------------ entries in and out

    def count_in(self, size: int) -> None:
        """A key of ``size`` bytes was inserted."""
        used = self.used_memory + size
        self.used_memory = used
        self.key_count += 1
        if used > self.stats.used_memory_peak:
            self.stats.used_memory_peak = used

    def count_out(self, size: int) -> None:
        """A key of ``size`` bytes was removed."""
        self.used_memory -= size
        self.key_count -= 1

    def resize(self, keyspace: Keyspace, entry: Entry, size: int) -> None:
        """``entry`` now costs ``size`` bytes (a new value, a TTL gained or lost)."""
        used = self.used_memory + size - entry.size
        self.used_memory = used
        if used > self.stats.used_memory_peak:
            self.stats.used_memory_peak = used
        keyspace.resize(entry, size)

    def clear(self, keyspace: Keyspace) -> None:
        """``keyspace``'s keys are about to be flushed: stop counting them."""
        self.used_memory -= keyspace.memory
        self.key_count -= len(keyspace)

    def reset(self) -> None:
        """Every database was emptied (FLUSHALL): count the empty tables only."""
        self.used_memory = 0
        self.key_count = 0
        self.structure_memory = 0
        self.shared_memory = 0
        self.policy_memory = 0
        self.index_retained = 0
        self.sync_retained()
        for keyspace in self.keyspaces:
            keyspace.measured = 0
            self.measure(keyspace)
        self.measure_shared()

    # ------------------------------------------------------------------ tables

    def measure(self, keyspace: Keyspace, apply: bool = True) -> int:
        """Count ``keyspace``'s containers at their current size; returns the change. Their
        tables grow in steps as keys come and go, not per key (a dict rebuilding its table
        under churn can even grow at a constant key count): measured after an insert that
        changed the dict's or the sampling list's size, every 64th write (for the other
        structures), and when a database has shrunk to half its high-water mark. ``apply``
        false: the change is held back for :meth:`admit` (see the module's docstring)."""
        change = keyspace.remeasure(self.empty_containers)
        if apply:
            self.used_memory += change
        self.structure_memory += change
        return change

    def measure_shared(self, shrink_only: bool = False, apply: bool = True) -> int:
        """The structures not per database: the policy's own (when it declares them through
        ``structure_bytes``) and the deadline index's; returns the change counted.
        ``shrink_only``: count a decrease only (on removals, where nothing evicts to make room
        for growth). ``apply``: as for :meth:`measure`."""
        plan = self.plan
        policy = plan.policy.structure_bytes() if plan.policy_structures else 0
        shared = policy
        if plan.index is not None:
            shared += plan.index.memory()
        change = shared - self.shared_memory
        if shrink_only and change > 0:
            return 0
        if apply:
            self.used_memory += change
        self.structure_memory += change
        self.shared_memory = shared
        self.policy_memory = policy
        return change

    def policy_shrunk(self) -> None:
        """A key left a policy that measures structures of its own (lock held): count what
        *its* structures gave back, not the deadline index's (a removal that shrinks the index
        re-measures it itself, and its growth is measured after every write). Measuring the
        index on every eviction as well cost a third of a W-TinyLFU evicting write with a TTL
        (its lists' capacities, three ``getsizeof`` calls)."""
        policy = self.plan.policy.structure_bytes()
        change = policy - self.policy_memory
        if change < 0:
            self.used_memory += change
            self.structure_memory += change
            self.shared_memory += change
            self.policy_memory = policy

    def sync_retained(self, apply: bool = True) -> int:
        """Count what the deadline index's left-over records keep alive; returns the change.
        ``apply``: as for :meth:`measure`."""
        index = self.plan.index
        if index is None:
            return 0
        change = index.retained - self.index_retained
        if change:
            if apply:
                self.used_memory += change
            self.index_retained = index.retained
        return change

    def growth(self, keyspace: Keyspace, dict_may_grow: bool) -> tuple[int, bool]:
        """After a command changed ``keyspace``: what its tables, the shared structures and the
        index's left-over records grew by, measured but held back (see :meth:`admit`), and
        whether the keyspace was re-measured. ``dict_may_grow``: the command may have put a
        key into the dict (an overwrite did not, and a dict's table never grows on deletion)."""
        self.writes += 1
        grown = 0
        measured = False
        index = self.plan.index
        if (
            (dict_may_grow and keyspace.data.__sizeof__() != keyspace.dict_measured)
            or keyspace.lists_outgrown()
            or not self.writes & _MEASURE_EVERY
        ):
            keyspace.remember_tables()
            grown = self.measure(keyspace, False) + self.measure_shared(False, False)
            measured = True
        elif index is not None and index.outgrown():
            grown = self.measure_shared(False, False)
        grown += self.sync_retained(False)
        return grown, measured

    def admit(self, grown: int) -> None:
        """Add growth held back by :meth:`growth` (there is room for it now)."""
        used = self.used_memory + grown
        self.used_memory = used
        if used > self.stats.used_memory_peak:
            self.stats.used_memory_peak = used

    def take_back_growth(self, keyspace: Keyspace, written: Entry, measured: bool) -> None:
        """The new key ``written`` has left again (refused): give back what the tables grew by
        for it and re-measure them. ``measured``: the keyspace was measured at this write, so
        its tables may have grown for it."""
        index = self.plan.index
        if index is not None and written.deadline is not None:
            # Its record goes too, and the index's lists give back what they grew by.
            index.take_back(written)
            self.sync_retained()
        if measured:
            keyspace.give_back_growth()
            self.dicts[keyspace.db] = keyspace.data
        self.measure(keyspace)
        self.measure_shared(shrink_only=True)

    def shrink_if_sparse(self, keyspace: Keyspace) -> None:
        """After a removal: a database under half its high-water mark rebuilds its tables
        (a dict keeps its table as keys are deleted one by one) and is re-measured."""
        if len(keyspace.data) * 2 < keyspace.high_water:
            keyspace.shrink_tables()
            self.dicts[keyspace.db] = keyspace.data
            self.measure(keyspace)
            self.measure_shared(shrink_only=True)

    def recount_all(self) -> None:
        """Re-measure everything (after a policy switch re-sized every entry)."""
        for keyspace in self.keyspaces:
            self.measure(keyspace)
        self.measure_shared()
        self.sync_retained()

    # ------------------------------------------------------------------ audit

    def check(self) -> list[str]:
        """Recount every database against the ledger; every inconsistency found."""
        problems: list[str] = []
        self.sync_retained()
        total = 0
        count = 0
        for keyspace in self.keyspaces:
            problems.extend(keyspace.check())
            for key, entry in keyspace.data.items():
                expected = self.entry_size(key, entry.payload, entry.deadline is not None)
                if entry.size != expected:
                    problems.append(
                        f"db{keyspace.db}: key {short_repr(key)} accounted {entry.size} B, "
                        f"costs {expected}"
                    )
            total += keyspace.memory
            count += len(keyspace)
        counted = sum([keyspace.measured for keyspace in self.keyspaces]) + self.shared_memory
        if counted != self.structure_memory:
            problems.append(f"containers counted {self.structure_memory} B, databases {counted}")
        index = self.plan.index
        retained = index.retained if index is not None else 0
        if retained != self.index_retained:
            problems.append(f"index retains {retained} B, {self.index_retained} B counted")
        if total + self.structure_memory + self.index_retained != self.used_memory:
            problems.append(
                f"used_memory is {self.used_memory} but entries sum to {total}, containers "
                f"{self.structure_memory} and index records {self.index_retained}"
            )
        if count != self.key_count:
            problems.append(f"key_count is {self.key_count} but databases hold {count}")
        limit = self.plan.limit
        if limit and self.used_memory > limit:
            problems.append(f"used_memory {self.used_memory} exceeds maxmemory {limit}")
        max_entries = self.plan.max_entries
        if max_entries >= 0 and count > max_entries:
            problems.append(f"{count} keys exceed max_entries {max_entries}")
        return problems
