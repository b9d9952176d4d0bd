"""The eviction room: making room for a write, and keeping the budget after it.

Redis evicts before a command runs and lets one big write overshoot (spec §12.1). Here the
limit is *hard*: a write computes the size of what it is about to admit and evicts before
admitting it (:meth:`Evictor.make_room`), and what the tables grew by is evicted for before
the command returns (:meth:`Evictor.fit`), so ``used_memory <= maxmemory`` after every
operation. Whether the write can succeed is decided before anything is touched: if the
policy's candidate keys do not hold enough bytes, the write raises :class:`OutOfMemoryError`
and nothing changed. A policy that chooses its own victims and runs out part-way gets the
keys it had already evicted back (:meth:`Evictor.restore`): a refused write leaves the keys,
values, TTLs, counters and event stream as they were.

Victims come from where the plan says (:mod:`~cachepolicy._core.plan`): Redis's sampler and
eviction pool, a random sample, or the policy's own ``select_victim``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

from ..errors import OutOfMemoryError, ValueTooLargeError, short_repr
from ..sizing import format_bytes
from .causes import EVICTED, REPLACED
from .entry import Entry
from .keyspace import Keyspace
from .plan import HOOK, NONE, POOL, RANDOM, Plan

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["Evictor", "Taken"]

# How often fit() asks the policy again when its victim is the key being written.
_FIT_RETRIES: Final = 8

#: A key a write evicted (or replaced) while it may still be refused: the entry, its value
#: (kept alive until the write commits) and the removal's cause.
Taken = tuple[Entry, bytes, int]


class Evictor:
    """Evicts for one engine, by its plan, through the engine's one removal path."""

    def __init__(self, engine: Engine, plan: Plan) -> None:
        self.engine = engine
        self.plan = plan

    # ------------------------------------------------------------------ victims

    def select_victim(self, now: float) -> Entry | None:
        """The next key to evict, from where the plan says victims come from."""
        plan = self.plan
        path = plan.victim_path
        sampler = plan.sampler
        populated = self.engine.populated
        if path == POOL and sampler is not None:
            return sampler.select(populated, now)
        if path == RANDOM and sampler is not None:
            return sampler.select_random(populated)
        if path == NONE:
            return None
        return plan.policy.select_victim(populated, now)

    def select_victims(self, now: float, count: int) -> Iterable[Entry]:
        """Up to ``count`` victims, each removed by the caller before the next is drawn."""
        plan = self.plan
        path = plan.batch_path
        sampler = plan.sampler
        populated = self.engine.populated
        if path == POOL and sampler is not None:
            return sampler.select_batch(populated, now, count)
        if path == HOOK:
            return plan.policy.select_victims(populated, now, count)
        return self._repeat_victims(now, count)

    def _repeat_victims(self, now: float, count: int) -> Iterator[Entry]:
        for _ in range(count):
            victim = self.select_victim(now)
            if victim is None:
                return
            yield victim

    def needs_room(self, size: int) -> bool:
        """Whether a new key of ``size`` bytes needs an eviction first (by bytes, or by the
        entry-count bound), and one could make room (it fits ``maxmemory`` at all)."""
        plan = self.plan
        limit = plan.limit
        ledger = self.engine.ledger
        if limit and limit >= size and ledger.used_memory + size > limit:
            return True
        return plan.max_entries >= 0 and ledger.key_count >= plan.max_entries

    # ------------------------------------------------------------------ before a write

    def make_room(
        self,
        keyspace: Keyspace,
        key: str,
        size: int,
        old: Entry | None,
        now: float,
        reinserting: bool,
        first: Entry | None = None,
    ) -> Entry | None:
        """Evict until an entry of ``size`` bytes fits in place of ``old``; ``first`` is the
        victim the policy already chose (and admitted the write against), evicted first.

        Everything that could make the write fail is decided before the first eviction, so a
        failed write leaves the cache unchanged. Returns ``old``, or None if the policy chose
        the very key being replaced: it is then removed as part of the write when
        ``reinserting`` (an overwrite), or evicted when not (a TTL being added in place).
        """
        engine = self.engine
        ledger = engine.ledger
        plan = self.plan
        limit = plan.limit
        old_size = old.size if old is not None else 0
        ledger.sync_retained()
        if limit and size > limit:
            engine.stats.rejected_writes += 1
            raise ValueTooLargeError(
                f"Cannot store key {short_repr(key)}: the entry needs {size} bytes but "
                f"maxmemory is {limit} bytes ({format_bytes(limit)}); no eviction can "
                f"make it fit.",
                key=key,
                size=size,
            )
        if limit and ledger.used_memory - old_size + size > limit:
            needed = ledger.used_memory - old_size + size - limit
            # A policy that may evict any key can always make room (size <= limit), so only
            # restricted policies pay for counting their candidates' bytes.
            if not plan.evicts_any_key:
                evictable = plan.policy.candidate_bytes(engine.populated)
                if old is not None and plan.policy.is_candidate(old):
                    evictable -= old_size
                if evictable < needed:
                    engine.stats.rejected_writes += 1
                    raise OutOfMemoryError(self.oom_message(key, needed), key=key, needed=needed)
            # Kept restorable until there is room, for a policy that chooses its own victims
            # and runs out part-way (fewer candidates than its candidate_bytes declared): the
            # write is refused and they come back. The sampler always finds the candidates
            # counted above, so sampled policies pay nothing for this on their evicting writes.
            taken: list[Taken] | None = [] if plan.restorable_evictions else None
            mark = len(engine.pending)
            while ledger.used_memory - old_size + size > limit:
                if first is not None and first.pos >= 0:
                    victim: Entry | None = first
                    first = None
                else:
                    victim = self.select_victim(now)
                if victim is None:
                    if taken is None:  # pragma: no cover - the sampler finds what was counted
                        raise OutOfMemoryError(self.oom_message(key, needed), key=key)
                    self.restore(taken, mark, now)
                    engine.stats.rejected_writes += 1
                    raise OutOfMemoryError(self.oom_message(key, needed), key=key, needed=needed)
                if victim is old:
                    if not reinserting:
                        engine.remove(old, EVICTED)
                        return None
                    if taken is not None:
                        taken.append((old, old.payload, REPLACED))
                    engine.remove(old, REPLACED)
                    old = None
                    old_size = 0
                    continue
                if taken is not None:
                    taken.append((victim, victim.payload, EVICTED))
                engine.remove(victim, EVICTED)
        if old is None and plan.max_entries >= 0 and ledger.key_count >= plan.max_entries:
            self.cull(key, now, first if first is not None and first.pos >= 0 else None)
        return old

    def restore(self, taken: list[Taken], mark: int, now: float) -> None:
        """Undo the evictions of a write that is refused after all (lock held): each key goes
        back with its value, size, deadline and ranking fields (recency stamp, LFU counter,
        the policy's slot), as a new entry (one that left is never reinserted), newest first;
        ``evicted_keys`` and ``evicted_bytes`` are taken back and the events queued since
        ``mark`` dropped, so the keys, values, TTLs, counters and event stream are as before
        the write, and ``used_memory`` no more than before. (A policy with its own insert hook,
        an exact LRU list say, files a restored key as a new one; a big value handed to the
        lazy-free thread is counted there, and kept alive by ``taken``.)"""
        engine = self.engine
        stats = engine.stats
        native = self.plan.insert_path != HOOK
        for gone, payload, cause in reversed(taken):
            keyspace = engine.keyspaces[gone.db]
            entry = engine.insert(keyspace, gone.key, payload, gone.size, gone.deadline, now)
            if native:
                # Native bookkeeping: the fields are the ranking, so the key ranks as before.
                # A policy with its own insert hook has filed the key as it files a new one,
                # and its fields (its slot above all) are its own.
                entry.atime = gone.atime
                entry.aseq = gone.aseq
                entry.lfu = gone.lfu
                entry.ldt = gone.ldt
                entry.slot = gone.slot
            if cause == EVICTED:
                stats.evicted_keys -= 1
                stats.evicted_bytes -= gone.size
        del engine.pending[mark:]
        index = self.plan.index
        if index is not None and any(gone.deadline is not None for gone, _, _ in taken):
            # The removed versions' index records would stay behind as left-over records
            # (counted): dropped now, so used_memory is no more than before the write.
            index.compact()
            engine.ledger.sync_retained()
            engine.ledger.measure_shared(shrink_only=True)

    def cull(self, key: str, now: float, first: Entry | None = None) -> None:
        """Entry-count bound reached: evict one key, or a batch (Django's CULL_FREQUENCY:
        0 empties the cache, N evicts a 1/N share)."""
        engine = self.engine
        plan = self.plan
        key_count = engine.ledger.key_count
        policy = plan.policy
        candidates = key_count if plan.evicts_any_key else policy.candidate_count(engine.populated)
        if candidates == 0:
            engine.stats.rejected_writes += 1
            raise OutOfMemoryError(
                f"Cannot store key {short_repr(key)}: max_entries={plan.max_entries} is "
                f"reached and policy {policy.describe()!r} has no key it may evict.",
                key=key,
            )
        frequency = plan.cull_frequency
        if frequency < 0:
            count = 1
        elif frequency == 0:
            count = candidates
        else:
            count = min(max(1, key_count // frequency), candidates)
        if count == 1:
            # One at a time (cull_frequency=None, Redis's way): through the eviction pool, as
            # a byte-budget eviction. A batch of one would rank a single round of samples
            # without the pool's memory of earlier rounds (Redis 2.8's accuracy). ``first``:
            # the victim the policy already chose and admitted this write against.
            victim = first if first is not None else self.select_victim(now)
            if victim is not None:
                engine.remove(victim, EVICTED)
            return
        # Each victim is removed before the next is asked for, as select_victims() promises.
        for victim in self.select_victims(now, count):
            if victim.pos >= 0:
                engine.remove(victim, EVICTED)

    # ------------------------------------------------------------------ after a command

    def fit(
        self, keyspace: Keyspace, now: float, written: Entry | None = None, new: bool = False
    ) -> None:
        """After a command changed ``keyspace`` (lock held): count what its tables, the
        policy's structures and the deadline index grew by (:meth:`Ledger.growth`), and evict
        until the whole is within the limit again. ``written``: the key the command wrote,
        ``new`` if it was inserted."""
        engine = self.engine
        ledger = engine.ledger
        # An overwrite (a written entry that is not new) put nothing into the dict.
        grown, measured = ledger.growth(keyspace, new or written is None)
        limit = self.plan.limit
        if limit and ledger.used_memory + grown > limit:
            evicts = self.plan.evicts
            while evicts and ledger.used_memory + grown > limit:
                victim = self.select_victim(now)
                # The key this command wrote goes only if the policy insists (an exact policy
                # whose best victim it is): a sampler is asked again first.
                retries = _FIT_RETRIES
                while victim is written and victim is not None and retries:
                    victim = self.select_victim(now)
                    retries -= 1
                if victim is None:  # volatile-* with no TTL key left: nothing may go
                    break
                if victim is written and new:
                    # A new key is never evicted by its own write (that acknowledged a write
                    # that stored nothing, announced as "evicted" before "new"): the write is
                    # refused below instead.
                    break
                engine.remove(victim, EVICTED)
            if ledger.used_memory + grown > limit and new and written is not None:
                # The keys evicted above for the tables' growth stay evicted: putting them back
                # could leave tables that did not shrink back, and used_memory, over the limit
                # (the compiled 8-thread hammer saw 37 kB over under volatile-ttl).
                self._refuse(keyspace, written, grown, measured)
        ledger.admit(grown)

    def _refuse(self, keyspace: Keyspace, written: Entry, grown: int, measured: bool) -> None:
        """Nothing (more) may be evicted for what the new key ``written`` made the tables grow
        by (``grown``, held back from ``used_memory``): the write is taken back and refused, as
        any write that does not fit. The re-measures below subtract the growth the ledger holds
        before it is added back, so the visible ``used_memory`` never passes the limit."""
        engine = self.engine
        ledger = engine.ledger
        engine.remove(written, REPLACED)
        ledger.take_back_growth(keyspace, written, measured)
        ledger.admit(grown)
        engine.stats.rejected_writes += 1
        limit = self.plan.limit
        if not ledger.key_count:
            # Nothing else is stored: no eviction or deletion can ever make room. The value
            # fits alone, but not with the table growth its own insertion causes.
            size = written.size + grown
            raise ValueTooLargeError(
                f"Cannot store key {short_repr(written.key)}: the entry needs {written.size} "
                f"bytes and the tables it makes grow {grown} more, {size} in all, but "
                f"maxmemory is {limit} bytes ({format_bytes(limit)}).",
                key=written.key,
                size=size,
            )
        needed = max(1, ledger.used_memory - limit)
        raise OutOfMemoryError(
            self.oom_message(written.key, needed), key=written.key, needed=needed
        )

    def oom_message(self, key: str, needed: int) -> str:
        """Why a write of ``key`` that needs ``needed`` more bytes cannot be served."""
        policy = self.plan.policy
        if not policy.evicts:
            reason = "the policy is 'noeviction'"
        elif policy.volatile_only:
            reason = (
                f"policy {policy.describe()!r} can only evict keys that have a TTL, "
                f"and they hold too few bytes"
            )
        else:
            reason = f"policy {policy.describe()!r} has too few evictable bytes"
        used = self.engine.ledger.used_memory
        return (
            f"OOM command not allowed when used memory > 'maxmemory': storing key "
            f"{short_repr(key)} needs {needed} more bytes ({format_bytes(used)} "
            f"used of {format_bytes(self.plan.limit)}) and {reason}."
        )
