"""The engine: the commands, one lock, and the one path every key enters, changes and leaves by.

The engine is the hub; each concern has a room of its own, compiled together with it (one
mypyc group, so calls between them stay native), as Redis splits the same job into ``db.c``,
``evict.c``, ``expire.c`` and ``lazyfree.c``:

* :mod:`~cachepolicy._core.plan`: what to do for each hook and what an entry costs, derived
  once from the configuration and the policy's and strategy's declarations;
* :mod:`~cachepolicy._core.ledger`: ``used_memory``, ``key_count``, the peak and the measured
  tables (the only code that moves them);
* :mod:`~cachepolicy._core.evict`: making room before a write and keeping the budget after it
  (the limit is hard: ``used_memory <= maxmemory`` after every operation);
* :mod:`~cachepolicy._core.reconfigure`: ``CONFIG SET`` on a live engine (a new plan, adopted);
* lazy free is given to the engine (:mod:`~cachepolicy._core.release`), expiry strategies reach
  it through :class:`~cachepolicy._core.ports.ReclaimContext`.

One owner per mutation. Every key enters through :meth:`Engine.insert`, changes through
:meth:`Engine._replace` / :meth:`Engine._change_deadline`, and leaves through
:meth:`Engine.remove`, whatever the cause (delete, expiry, eviction, overwrite by a policy's
choice), as Redis has one ``dbGenericDelete`` behind DEL, eviction and expiry.

Concurrency. The lock guards every mutation (writes, evictions, expiry, flushes). Read hits take
no lock: under the GIL a ``dict.get`` and attribute reads are atomic, the entry found is either
the current one or one a concurrent writer just replaced (a read that raced a write), and the
declared access bookkeeping (stamp, LFU counter) is GIL-atomic steps. A read hook runs without
the lock unless the policy says it needs it (``on_read_needs_lock``). Only a read that
finds an expired entry takes the lock, to delete it. Without a GIL, reads take the lock too.

Events are queued while the lock is held and delivered after it is released.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from ..errors import short_repr
from .causes import CAUSES, DELETED, EVICTED, EXPIRED, FLUSHED, REPLACED
from .entry import ATOMIC_NATIVE_UPDATES, RELEASED, Entry, stamp
from .events import EventBus, KeyspaceEvent
from .evict import Evictor
from .keyspace import Keyspace
from .ledger import Ledger
from .plan import HOOK, LFU, STAMP, Plan
from .ranking import lfu_init, lfu_touch
from .reconfigure import reconfigure
from .release import INLINE, Releaser
from .stats import HitCounter, Stats

if TYPE_CHECKING:
    from random import Random

    from ..clock import Clock
    from ..config import CacheConfig
    from ..eviction.base import EvictionPolicy
    from ..expiry.base import ExpiryStrategy

__all__ = [
    "DELETED",
    "EVICTED",
    "EXPIRED",
    "FLUSHED",
    "KEEPTTL",
    "NX",
    "REPLACED",
    "XX",
    "Engine",
]

#: ``write()`` flags: Redis's SET NX / XX / KEEPTTL.
NX: Final = 1
XX: Final = 2
KEEPTTL: Final = 4

_INF: Final = math.inf
# Ints below this convert to float exactly (and never overflow it).
_EXACT_INT: Final = 2**53


def _nobody() -> Any:
    return None


class _Locked:
    """``with engine.locked():`` acquire the lock; on exit release it, then deliver events.
    A fresh small object per call: keeping one on the engine would make a reference cycle."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> None:
        self._engine.acquire()

    def __exit__(self, *exc: object) -> None:
        self._engine.unlock()


class Engine:
    """Every database of one cache under one budget, one policy and one expiry strategy."""

    def __init__(
        self,
        config: CacheConfig,
        policy: EvictionPolicy,
        expiry: ExpiryStrategy,
        clock: Clock,
        rng: Random,
        events: EventBus,
        lazy_free: Releaser = INLINE,
    ) -> None:
        plan = Plan(config, policy, expiry)
        #: Every decision taken from the configuration and the declarations (replaced, never
        #: changed, by :meth:`adopt`); the hot paths read their switches from it.
        self.plan = plan
        self.policy = policy
        self.expiry = expiry
        self.clock = clock
        self.rng = rng
        self.events = events
        #: Takes over big removed values (the store gives the lazy-free thread's port).
        self.lazy_free = lazy_free
        self.lock = threading.Lock()
        # Bound once (a method lookup per call otherwise); replaced with the lock after fork.
        self._lock_acquire: Callable[[], Any] = self.lock.acquire
        self._lock_release: Callable[[], None] = self.lock.release
        #: A weak reference to whatever owns this engine (the store), set by the owner: the
        #: compiled engine cannot be weakly referenced itself, and threads that serve it (the
        #: expiry thread, the lazy-free thread) must not keep a dropped cache alive.
        self.owner: Callable[[], Any] = _nobody
        self.stats = Stats()
        self.hits = HitCounter()
        self._hit = self.hits.hit
        self._miss = self.hits.miss
        #: Events queued under the lock, delivered by :meth:`unlock`.
        self.pending: list[KeyspaceEvent] = []
        self._time: Callable[[], float] = clock.monotonic  # deadlines never see wall steps
        self.keyspaces: list[Keyspace] = [
            Keyspace(db, plan.index_volatile) for db in range(config.databases)
        ]
        #: The non-empty keyspaces in db order: what eviction looks at, so 16 mostly empty
        #: databases cost nothing per eviction round.
        self.populated: list[Keyspace] = []
        self.ledger = Ledger(plan, self.keyspaces, self.stats)
        #: The databases' dicts, for the lock-free read path (the ledger refreshes an entry
        #: when a database rebuilds its dict).
        self._dicts: list[dict[str, Entry]] = self.ledger.dicts
        self.evictor = Evictor(self, plan)
        #: Clock time before which writes skip ``after_operation`` (kept by the strategy
        #: through :meth:`ExpiryStrategy.publish_due`).
        self.expiry_due_at: float = expiry.due_at
        # Structures that exist before any key (a policy's sketch) are counted from the start,
        # so an empty cache reports what it holds, and a flushed one returns to it.
        self.ledger.measure_shared()

    def adopt(self, plan: Plan) -> None:
        """Run by ``plan`` from now on (lock held; :mod:`~cachepolicy._core.reconfigure`)."""
        self.plan = plan
        self.policy = plan.policy
        self.ledger.plan = plan
        self.evictor.plan = plan

    @property
    def config(self) -> CacheConfig:
        return self.plan.config

    @property
    def used_memory(self) -> int:
        """Bytes held (the ledger's count; see :mod:`~cachepolicy._core.ledger`)."""
        return self.ledger.used_memory

    @property
    def key_count(self) -> int:
        return self.ledger.key_count

    # ------------------------------------------------------------------ lock and events

    def locked(self) -> _Locked:
        """Context manager holding the lock; events queued inside are sent on exit."""
        return _Locked(self)

    def acquire(self) -> None:
        """Take the lock (release it with :meth:`unlock`)."""
        self._lock_acquire()

    def unlock(self) -> None:
        """Release the lock, then deliver the events queued while it was held."""
        events = self.pending
        if events:
            self.pending = []
        self._lock_release()
        if events:
            self.events.publish(events)

    def _emit(self, name: str, key: str, db: int) -> None:
        """Queue an event (lock held). Free when nobody listens to ``name``."""
        if name in self.events.wanted:
            self.pending.append(KeyspaceEvent(name, key, db))

    def emit_keymiss(self, key: str, db: int) -> None:
        if "keymiss" in self.events.wanted:
            self._lock_acquire()
            self.pending.append(KeyspaceEvent("keymiss", key, db))
            self.unlock()

    def after_fork_in_child(self) -> None:
        """The child of fork() starts with a fresh lock: the thread that may hold the
        inherited one does not exist there."""
        self.lock = threading.Lock()
        self._lock_acquire = self.lock.acquire
        self._lock_release = self.lock.release
        self.pending = []

    # ------------------------------------------------------------------ ReclaimContext

    def time(self) -> float:
        """The engine's time: the clock's ``monotonic()``, what deadlines are stored in."""
        return self._time()

    def delete_expired(self, entry: Entry) -> None:
        """Delete an entry whose deadline passed (lock held): ``expired`` event, counter."""
        self.remove(entry, EXPIRED)

    def entry_size(self, key: str, payload: bytes, has_ttl: bool) -> int:
        """Bytes one entry costs under this engine's policy and expiry strategy."""
        return self.ledger.entry_size(key, payload, has_ttl)

    # ------------------------------------------------------------------ reads

    def get(self, db: int, key: str, touch: bool = True) -> bytes | None:
        """The payload stored under ``key`` or None; counts a hit or a miss and, unless
        ``touch`` is false (Redis's CLIENT NO-TOUCH), records the access for the policy."""
        entry = self._dicts[db].get(key)
        if entry is not None:
            now = self._time()
            payload = entry.payload
            if payload is RELEASED:
                # Removed since we found it (an overwrite may have replaced it): look again
                # once. Removed entries are never reinserted, so this ends.
                entry = self._dicts[db].get(key)
                if entry is not None:
                    payload = entry.payload
            if entry is not None:
                deadline = entry.deadline
                if deadline is None or now <= deadline:
                    if payload is not RELEASED:
                        if touch:
                            # Lock-free unless the policy's read hook needs the lock
                            # (``plan.read_locked`` is only ever set for the hook path).
                            if self.plan.read_locked:
                                self._read_under_lock(entry, now)
                            else:
                                self._read(entry, now)
                        if ATOMIC_NATIVE_UPDATES:
                            self.hits.hit_count += 1
                        else:
                            next(self._hit)
                        return payload
                else:
                    self._expire_if_current(entry, now)
        if ATOMIC_NATIVE_UPDATES:
            self.hits.miss_count += 1
        else:
            next(self._miss)
        if touch and self.plan.policy_on_miss:
            self._missed(key, db)
        if "keymiss" in self.events.wanted:
            self.emit_keymiss(key, db)
        return None

    def _missed(self, key: str, db: int) -> None:
        """Tell a policy that counts demand (``on_miss``) of a read that found nothing."""
        if self.plan.read_locked:
            with self.locked():
                self.policy.on_miss(key, db)
        else:
            self.policy.on_miss(key, db)

    def _read_under_lock(self, entry: Entry, now: float) -> None:
        """A read for a policy whose read hook runs under the lock (not lock-free)."""
        with self.locked():
            if entry.pos >= 0:
                self.policy.on_read(entry, now)

    def _read(self, entry: Entry, now: float) -> None:
        """Record a read (a get hit, TOUCH) for the policy as it declared ``read_access``."""
        plan = self.plan
        path = plan.read_path
        if path == STAMP:
            stamp(entry, now)
        elif path == LFU:
            lfu_touch(entry, now, plan.lfu_log_factor, plan.lfu_decay_time, plan.policy_rng)
        elif path == HOOK:
            self.policy.on_read(entry, now)

    def _written(self, entry: Entry, now: float, old_size: int) -> None:
        """Record a write of a live key (an overwrite, INCR/DECR: lock held) for the policy as
        it declared ``write_access``."""
        plan = self.plan
        path = plan.write_path
        if path == STAMP:
            stamp(entry, now)
        elif path == LFU:
            lfu_touch(entry, now, plan.lfu_log_factor, plan.lfu_decay_time, plan.policy_rng)
        elif path == HOOK:
            self.policy.on_write(entry, now, old_size)

    def peek(self, db: int, key: str) -> Entry | None:
        """The live entry without touching it or counting (Redis's NOTOUCH lookups)."""
        entry = self._dicts[db].get(key)
        if entry is not None and entry.deadline is not None:
            now = self._time()
            if now > entry.deadline:
                self._expire_if_current(entry, now)
                return None
        return entry

    def _expire_if_current(self, entry: Entry, now: float) -> None:
        """Lazy expiry found by a lock-free read: delete it if it is still the key's entry."""
        with self.locked():
            if self._dicts[entry.db].get(entry.key) is entry:
                deadline = entry.deadline
                if deadline is not None and now > deadline:
                    self.remove(entry, EXPIRED)

    def _live(self, keyspace: Keyspace, key: str, now: float) -> Entry | None:
        """The unexpired entry for ``key`` (lock held), lazily expiring a stale one."""
        entry = keyspace.data.get(key)
        if entry is not None:
            deadline = entry.deadline
            if deadline is not None and now > deadline:
                self.remove(entry, EXPIRED)
                return None
        return entry

    def keys(self, db: int) -> list[str]:
        """Live keys of one database (expired ones are skipped, not reclaimed)."""
        now = self._time()
        with self.lock:
            entries = list(self.keyspaces[db].data.values())
        return [e.key for e in entries if e.deadline is None or now <= e.deadline]

    def iter_entries(self) -> Iterator[Entry]:
        """Snapshot of every entry of every database (for tools and tests)."""
        with self.lock:
            snapshot = [e for ks in self.keyspaces for e in ks.data.values()]
        return iter(snapshot)

    # ------------------------------------------------------------------ writes

    def deadline_for(self, ttl: Any, now: float) -> float | None:
        """Absolute deadline for a relative TTL in seconds (None = no expiry).

        A TTL is a finite number of seconds, the rule the Django and Flask adapters share
        (issue 23): NaN, infinity and ints beyond float range are a ValueError, as Redis
        refuses an invalid expire time; "never expires" is None."""
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
            raise TypeError(f"A TTL must be a number of seconds or None, got {short_repr(ttl)}.")
        try:
            seconds = float(ttl)
        except OverflowError:
            seconds = _INF
        if math.isnan(seconds):
            raise ValueError("A TTL must be a number of seconds, got NaN.")
        if math.isinf(seconds):
            raise ValueError(
                f"A TTL must be a finite number of seconds, got {short_repr(ttl)}; use None "
                "for a key that never expires."
            )
        return now + seconds

    def write(
        self,
        db: int,
        key: str,
        payload: bytes,
        ttl: Any = None,
        flags: int = 0,
    ) -> bool:
        """Redis's SET with NX/XX/KEEPTTL/EX: store ``payload`` under ``key`` with a TTL in
        seconds (None = none; <= 0 deletes the key). False when NX/XX prevented the write."""
        if type(key) is not str:
            raise TypeError(f"Cache keys must be str, got {type(key).__name__} {short_repr(key)}.")
        self._lock_acquire()
        try:
            now = self._time()
            keyspace = self.keyspaces[db]
            old = self._live(keyspace, key, now)
            if flags & NX and old is not None:
                return False
            if flags & XX and old is None:
                return False
            deadline: float | None
            if flags & KEEPTTL and old is not None:
                deadline = old.deadline
            elif ttl is None:
                deadline = None
            elif (type(ttl) is float and -_INF < ttl < _INF) or (
                type(ttl) is int and -_EXACT_INT < ttl < _EXACT_INT  # an int TTL, exactly
            ):
                deadline = now + ttl
            else:
                deadline = self.deadline_for(ttl, now)
            if deadline is not None and deadline <= now:
                # Redis: a deadline that already passed deletes the key (event "del").
                if old is not None:
                    self.remove(old, DELETED)
                return True
            plan = self.plan
            evictor = self.evictor
            if old is None:
                size = self.ledger.entry_size(key, payload, deadline is not None)
            else:
                size = self.ledger.overwrite_size(old, payload, deadline is not None)
            room = size
            if old is not None and deadline is not None and not plan.evicts_any_key:
                room += self._ttl_growth(keyspace, old.deadline, deadline)
            first: Entry | None = None
            if old is None and plan.policy_admits and evictor.needs_room(room):
                # Admission (the policy overrides ``admit``): asked once, about the first
                # victim, before anything is evicted, so a refusal changes nothing.
                first = evictor.select_victim(now)
                if first is not None and not self.policy.admit(key, size, first, now):
                    self.stats.rejected_admissions += 1
                    if self.events.active:
                        self._emit("refused", key, db)
                    return False
            old = evictor.make_room(keyspace, key, room, old, now, True, first)
            if old is None:
                entry = self.insert(keyspace, key, payload, size, deadline, now)
                evictor.fit(keyspace, now, entry, True)
                if self.events.active:
                    self._emit("new", key, db)
            else:
                entry = old
                self._replace(keyspace, old, payload, size, deadline, now)
                evictor.fit(keyspace, now, entry, False)
            if self.events.active:
                self._emit("set", key, db)
                if deadline is not None and not flags & KEEPTTL:
                    self._emit("expire", key, db)  # Redis's SET ... EX announces both
        finally:
            self.unlock()
        self.after_write(now)
        return True

    def read_modify_write(
        self, db: int, key: str, transform: Callable[[bytes | None], bytes], event: str
    ) -> None:
        """Atomically replace a value computed from the current payload (None if missing),
        keeping the TTL: the basis of INCR/DECR."""
        self._lock_acquire()
        try:
            now = self._time()
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, now)
            payload = transform(entry.payload if entry is not None else None)
            deadline = entry.deadline if entry is not None else None
            size = self.ledger.entry_size(key, payload, deadline is not None)
            evictor = self.evictor
            entry = evictor.make_room(keyspace, key, size, entry, now, True)
            if entry is None:
                entry = self.insert(keyspace, key, payload, size, deadline, now)
                evictor.fit(keyspace, now, entry, True)
                self._emit("new", key, db)
            else:
                self._replace(keyspace, entry, payload, size, deadline, now)
                evictor.fit(keyspace, now, entry, False)
            self._emit(event, key, db)
        finally:
            self.unlock()
        self.after_write(now)

    def after_write(self, now: float) -> None:
        """Give the expiry strategy its turn after a write-like command (outside the lock):
        gated by its declared ``due_at`` unless it overrides ``after_operation``."""
        if not self.plan.after_gated or now >= self.expiry_due_at:
            self.expiry.after_operation(now)

    def insert(
        self,
        keyspace: Keyspace,
        key: str,
        payload: bytes,
        size: int,
        deadline: float | None,
        now: float,
    ) -> Entry:
        """Add a new key (lock held); the caller announces ``new`` once it stays."""
        entry = Entry(key, payload, size, deadline, keyspace.db)
        keyspace.insert(entry)
        if len(keyspace.data) == 1:
            self._refresh_populated()
        self.ledger.count_in(size)
        path = self.plan.insert_path
        if path == STAMP:
            stamp(entry, now)
        elif path == LFU:
            lfu_init(entry, now)
        elif path == HOOK:
            self.policy.on_insert(entry, now)
        if deadline is not None:
            self._ttl_filed(entry, None)
        return entry

    def _replace(
        self,
        keyspace: Keyspace,
        entry: Entry,
        payload: bytes,
        size: int,
        deadline: float | None,
        now: float,
    ) -> None:
        """Overwrite in place (lock held): the key keeps its LFU history, as Redis's SET."""
        old_payload = entry.payload
        old_size = entry.size
        # Resized first, under the old deadline, so the TTL bytes move with the entry.
        self.ledger.resize(keyspace, entry, size)
        if entry.deadline != deadline:
            self._set_deadline(keyspace, entry, deadline)
        entry.payload = payload
        self._release(old_payload)
        self._written(entry, now, old_size)

    def _set_deadline(self, keyspace: Keyspace, entry: Entry, deadline: float | None) -> None:
        """Change a live entry's deadline and tell the policy and the strategy (lock held)."""
        plan = self.plan
        previous = entry.deadline
        keyspace.set_deadline(entry, deadline)
        if plan.policy_on_ttl:
            self.policy.on_ttl_change(entry, previous)
        if deadline is None:
            if plan.expiry_on_ttl_cleared:
                self.expiry.on_ttl_cleared(entry)
            elif plan.index is not None:
                plan.index.forget(entry)
        else:
            self._ttl_filed(entry, previous)

    def _ttl_filed(self, entry: Entry, previous: float | None) -> None:
        plan = self.plan
        if plan.expiry_on_ttl_set:
            self.expiry.on_ttl_set(entry, previous)
        elif plan.index is not None:
            plan.index.file(entry, previous)

    def _change_deadline(self, keyspace: Keyspace, entry: Entry, deadline: float | None) -> None:
        """EXPIRE / PERSIST (lock held): set a deadline and fix the entry's size (a TTL costs
        index bytes), then announce it."""
        if (entry.deadline is not None) != (deadline is not None):
            new_size = self.ledger.entry_size(entry.key, entry.payload, deadline is not None)
            self.ledger.resize(keyspace, entry, new_size)
        self._set_deadline(keyspace, entry, deadline)
        self._emit("expire" if deadline is not None else "persist", entry.key, entry.db)

    # ------------------------------------------------------------------ removal (lock held)

    def remove(self, entry: Entry, cause: int) -> None:
        """Take ``entry`` out of the cache, whatever the cause: every structure, the counters,
        the hooks, the event and the value's release (lock held)."""
        plan = self.plan
        ledger = self.ledger
        keyspace = self.keyspaces[entry.db]
        keyspace.remove(entry)
        if not keyspace.data:
            self._refresh_populated()
        size = entry.size
        ledger.count_out(size)
        if plan.policy_on_remove:
            self.policy.on_remove(entry, CAUSES[cause])
            if plan.policy_structures:  # a structure that shrinks as its keys go
                ledger.policy_shrunk()
        if entry.deadline is not None:
            index = plan.index
            if plan.expiry_on_delete:
                self.expiry.on_delete(entry)
            elif index is not None:
                index.forget(entry)
                if not index.records:  # it gave its lists back: count that at once
                    ledger.measure_shared(shrink_only=True)
            ledger.sync_retained()
        ledger.shrink_if_sparse(keyspace)
        if cause == EVICTED:
            self.stats.evicted_keys += 1
            self.stats.evicted_bytes += size
            if self.events.active:
                self._emit("evicted", entry.key, entry.db)
        elif cause == EXPIRED:
            self.stats.expired_keys += 1
            if self.events.active:
                self._emit("expired", entry.key, entry.db)
        elif cause == DELETED and self.events.active:
            self._emit("del", entry.key, entry.db)
        # Drop the value now: records that still point at the removed entry (an index, the
        # eviction pool) go lazily and must not keep a large value alive until then. A
        # lock-free reader that raced this removal sees RELEASED and reports a miss.
        payload = entry.payload
        entry.payload = RELEASED
        self._release(payload)

    def _release(self, payload: bytes) -> None:
        threshold = self.plan.lazyfree_threshold
        if threshold and len(payload) >= threshold:
            self.lazy_free.release(self, payload)

    def _refresh_populated(self) -> None:
        self.populated = [ks for ks in self.keyspaces if ks.data]

    # ------------------------------------------------------------------ other commands

    def delete(self, db: int, key: str) -> bool:
        """DEL: True if a live key was removed (a logically expired key returns False)."""
        self._lock_acquire()
        try:
            now = self._time()
            entry = self._live(self.keyspaces[db], key, now)
            if entry is not None:
                self.remove(entry, DELETED)
        finally:
            self.unlock()
        self.after_write(now)
        return entry is not None

    def touch(self, db: int, key: str, deadline: float | None, keep_ttl: bool) -> bool:
        """TOUCH (refresh LRU/LFU), optionally setting a new absolute deadline."""
        self._lock_acquire()
        try:
            now = self._time()
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, now)
            done = entry is not None
            if entry is not None:
                if not keep_ttl:
                    if deadline is not None and deadline <= now:
                        self.remove(entry, DELETED)
                        entry = None
                    elif deadline is not None and entry.deadline != deadline:
                        if self._room_for_ttl(keyspace, entry, deadline, now):
                            self._change_deadline(keyspace, entry, deadline)
                        else:
                            entry = None
                            done = False
                    elif deadline is None and entry.deadline is not None:
                        self._change_deadline(keyspace, entry, None)
                if entry is not None:
                    self._read(entry, now)  # TOUCH is a read (Redis: lookupKeyRead)
            done = self._fit_keeping(keyspace, now, entry, done)
        finally:
            self.unlock()
        self.after_write(now)
        return done

    def _fit_keeping(self, keyspace: Keyspace, now: float, entry: Entry | None, done: bool) -> bool:
        """:meth:`Evictor.fit` after a command that changed ``entry``'s TTL or stamp (TOUCH, EXPIRE,
        PERSIST): the key it acted on is the last the policy is asked to give up for the
        tables that command grew. Returns ``done``, false if the policy evicted the key
        anyway (an exact policy whose best victim it is): the key no longer exists, and the
        command does not report a change that nothing can observe."""
        self.evictor.fit(keyspace, now, entry, False)
        return done and (entry is None or entry.pos >= 0)

    def _room_for_ttl(self, keyspace: Keyspace, entry: Entry, deadline: float, now: float) -> bool:
        """Gaining a TTL, or an earlier one, costs entry and index bytes: make room for them
        as any write would (lock held). False if the policy chose this very key as the
        victim: it is then evicted."""
        limit = self.plan.limit
        if not limit:
            return True
        size = self.ledger.entry_size(entry.key, entry.payload, True)
        if not self.plan.evicts_any_key:
            size += self._ttl_growth(keyspace, entry.deadline, deadline)
        if self.ledger.used_memory - entry.size + size <= limit:
            return True
        return self.evictor.make_room(keyspace, entry.key, size, entry, now, False) is not None

    def _ttl_growth(self, keyspace: Keyspace, previous: float | None, deadline: float) -> int:
        """What the tables grow by when a key present in ``keyspace`` gets ``deadline`` in
        place of ``previous`` (None: no TTL yet): its TTL sampling slot and its index record.
        A policy that may evict any key evicts for that growth once it is measured (``_fit``);
        a restricted one (noeviction, volatile-*) may have nothing to evict, so the write
        makes room for it beforehand and is refused, unchanged, if it cannot."""
        growth = keyspace.ttl_growth() if previous is None else 0
        index = self.plan.index
        if index is not None and not self.plan.expiry_on_ttl_set:
            growth += index.filing_growth(deadline, previous)
        return growth

    def expire_at(
        self, db: int, key: str, deadline: float, nx: bool, xx: bool, gt: bool, lt: bool
    ) -> bool:
        """PEXPIREAT with Redis's NX/XX/GT/LT rules (no TTL counts as infinite)."""
        if nx and (xx or gt or lt):
            raise ValueError("NX and XX, GT or LT options at the same time are not compatible")
        if gt and lt:
            raise ValueError("GT and LT options at the same time are not compatible")
        self._lock_acquire()
        try:
            now = self._time()
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, now)
            done = False
            if entry is not None:
                current = entry.deadline
                if (
                    (nx and current is not None)
                    or (xx and current is None)
                    or (gt and (current is None or deadline <= current))
                    or (lt and current is not None and deadline >= current)
                ):
                    done = False
                elif deadline <= now:
                    self.remove(entry, DELETED)
                    done = True
                elif not self._room_for_ttl(keyspace, entry, deadline, now):
                    done = False
                else:
                    self._change_deadline(keyspace, entry, deadline)
                    done = True
            if entry is not None and entry.pos < 0:
                entry = None  # deleted above (a deadline already past): nothing to keep
            done = self._fit_keeping(keyspace, now, entry, done)
        finally:
            self.unlock()
        self.after_write(now)
        return done

    def persist(self, db: int, key: str) -> bool:
        """PERSIST: remove the TTL. False if the key is missing or has none."""
        self._lock_acquire()
        try:
            now = self._time()
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, now)
            done = entry is not None and entry.deadline is not None
            if entry is not None and done:
                self._change_deadline(keyspace, entry, None)
            done = self._fit_keeping(keyspace, now, entry, done)
        finally:
            self.unlock()
        self.after_write(now)
        return done

    def flushdb(self, db: int) -> None:
        """Remove every key of one database (the policy and strategy hear of each key)."""
        self._lock_acquire()
        try:
            keyspace = self.keyspaces[db]
            if all(ks is keyspace or not len(ks) for ks in self.keyspaces):
                self._flush_everything()
                return
            plan = self.plan
            ledger = self.ledger
            ledger.clear(keyspace)
            volatile = keyspace.volatile_count
            removed = keyspace.clear()
            self._refresh_populated()
            payloads: list[bytes] = []
            for entry in removed:
                if plan.policy_on_remove:
                    self.policy.on_remove(entry, CAUSES[FLUSHED])
                if plan.expiry_on_delete and entry.deadline is not None:
                    self.expiry.on_delete(entry)
                payloads.append(entry.payload)  # as in remove(): left-over records must not
                entry.payload = RELEASED  # keep the values alive
            if not plan.expiry_on_delete and plan.index is not None:
                plan.index.forget_all(volatile)
            ledger.sync_retained()
            ledger.measure(keyspace)
            ledger.measure_shared()
            self._release_all(payloads)
        finally:
            self.unlock()

    def flushall(self) -> None:
        """Remove every key of every database."""
        self._lock_acquire()
        try:
            self._flush_everything()
        finally:
            self.unlock()

    def _flush_everything(self) -> None:
        payloads: list[bytes] = []
        for keyspace in self.keyspaces:
            for entry in keyspace.clear():
                payloads.append(entry.payload)
                entry.payload = RELEASED
        self.populated = []
        self.policy.reset()
        self.expiry.reset()
        self.ledger.reset()
        self._release_all(payloads)

    def _release_all(self, payloads: list[bytes]) -> None:
        """A flushed database's values: big batches go to the lazy-free thread."""
        if self.plan.lazyfree_threshold and payloads:
            self.lazy_free.release_all(self, payloads)

    # ------------------------------------------------------------------ introspection

    def frequency(self, db: int, key: str) -> int:
        """The decayed LFU counter (Redis's OBJECT FREQ), as the policy reports it."""
        entry = self.peek(db, key)
        if entry is None:
            raise KeyError(key)
        return self.policy.frequency(entry, self._time())

    def reset_stats(self) -> None:
        """Redis's CONFIG RESETSTAT."""
        with self.lock:
            self.stats.reset()
            self.stats.used_memory_peak = self.ledger.used_memory
        self.hits.reset()

    def check(self) -> list[str]:
        """Recount everything; every inconsistency found (empty when healthy). Lock held by
        the caller."""
        problems = self.ledger.check()
        if self.populated != [ks for ks in self.keyspaces if ks.data]:
            problems.append("the list of non-empty databases is stale")
        return problems

    def describe_paths(self) -> dict[str, Any]:
        """The code path chosen for each hook (for tests and ``info()``)."""
        return self.plan.describe()

    # ------------------------------------------------------------------ reconfiguration

    def reconfigure(self, config: CacheConfig, policy: EvictionPolicy | None = None) -> None:
        """Redis's ``CONFIG SET maxmemory`` / ``maxmemory-policy`` on a live cache: see
        :mod:`~cachepolicy._core.reconfigure`. ``policy``: a new policy object to switch to
        (None keeps the current one)."""
        reconfigure(self, config, policy)
