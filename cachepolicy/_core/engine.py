"""The engine: one lock, one owner of the accounting, one implementation of every mutation.

Design
======

Memory. ``used_memory`` is the exact sum of :meth:`Engine.entry_size` over all entries of all
databases (key object + serialized value + a per-build calibrated overhead for the entry object,
:mod:`~cachepolicy._core.entry`), plus what the containers holding them measure beyond their
empty size (the keyspace dicts and sampling arrays, whose tables grow in steps that no
per-entry constant can follow: :meth:`Engine.measure_structures`), plus what left-over index
records of removed keys keep alive (:attr:`DeadlineIndex.retained`). The limit is *hard*: a
write computes the size of what it is about to admit and evicts *before* admitting it, and
what the tables grew by is evicted for before the command returns (``_fit``), so
``used_memory <= maxmemory`` after every operation (Redis checks before a command and lets one
big write overshoot, spec §12.1).
Whether the write can succeed is decided before anything is touched: if the policy's candidate
keys do not hold enough bytes, the write raises :class:`OutOfMemoryError` and nothing changed.

One owner per mutation. Every key enters through :meth:`Engine._insert`, changes through
:meth:`Engine._replace` / :meth:`Engine._change_deadline`, and leaves through
:meth:`Engine.remove`, whatever the cause (delete, expiry, eviction, overwrite by a policy's
choice), as Redis has one ``dbGenericDelete`` behind DEL, eviction and expiry. The engine alone
moves ``used_memory``, ``key_count`` and the peak; keyspaces keep their own per-database counts.

Declared fast paths. Policies and expiry strategies are interpreted Python that users subclass.
They declare how the engine may serve them (:mod:`~cachepolicy._core.ports`): what a policy
records on a read and on a write (``read_access``, ``write_access``), where victims come from
(``victims``, ``ranking``), whether an
expiry strategy owns a deadline index the engine may file TTLs into, and which of their hooks
the engine may serve from those declarations (``fast_hooks``). A hook a subclass overrides is
removed from ``fast_hooks`` automatically, so the engine calls it. The code path for each hook
is chosen once, here, from those declarations; the engine never looks at a class's identity.

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
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from ..errors import OutOfMemoryError, ValueTooLargeError, short_repr
from ..sizing import format_bytes
from .entry import (
    ATOMIC_NATIVE_UPDATES,
    BYTES_BASE,
    ENTRY_OVERHEAD,
    LFU_OVERHEAD,
    RELEASED,
    SLOT_OVERHEAD,
    TTL_OVERHEAD,
    TTL_SLOT_OVERHEAD,
    Entry,
    stamp,
)
from .events import EventBus, KeyspaceEvent
from .keyspace import Keyspace
from .ports import Access, Removal, Victims
from .ranking import lfu_init, lfu_touch
from .release import INLINE, Releaser
from .stats import HitCounter, Stats

if TYPE_CHECKING:
    from random import Random

    from ..clock import Clock
    from ..config import CacheConfig
    from ..eviction.base import EvictionPolicy
    from ..expiry.base import ExpiryStrategy
    from .deadlines import DeadlineIndex
    from .sampler import Sampler

__all__ = ["DELETED", "EVICTED", "EXPIRED", "KEEPTTL", "NX", "XX", "Engine"]

#: Why an entry left (the event it announces and the counter it moves).
DELETED: Final = 0
EXPIRED: Final = 1
EVICTED: Final = 2
#: Removed silently as part of a command (an overwrite whose old version the policy chose).
REPLACED: Final = 3
#: Its database was flushed (FLUSHDB of one database; FLUSHALL resets the policy instead).
FLUSHED: Final = 4
#: The cause as the policy's ``on_remove`` receives it, by the engine's int code.
_CAUSES: Final = (
    Removal.DELETED,
    Removal.EXPIRED,
    Removal.EVICTED,
    Removal.REPLACED,
    Removal.FLUSHED,
)

#: ``write()`` flags: Redis's SET NX / XX / KEEPTTL.
NX: Final = 1
XX: Final = 2
KEEPTTL: Final = 4

_STAMP: Final = int(Access.STAMP)
_LFU: Final = int(Access.LFU)
_HOOK: Final = int(Access.HOOK)
_POOL: Final = int(Victims.POOL)
_RANDOM: Final = int(Victims.RANDOM)
_NONE: Final = int(Victims.NONE)

_getsizeof: Final = sys.getsizeof
# Besides growth of its dict or sampling list, a database's containers (and the shared
# structures: the policy's, the deadline index) are re-measured every 64th insert (a mask).
_MEASURE_EVERY: Final = 63
# How often _fit asks the policy again when its victim is the key being written.
_FIT_RETRIES: Final = 8
_GIL_ENABLED: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
_INF: Final = math.inf
# A bound on the tables' bytes per key left after evictions, relative to their bytes per key
# now: 2 for the shrink hysteresis (tables are rebuilt at half their high-water mark) times 2
# for the power-of-two steps a dict's table grows in. Used to project what a lowered limit
# leaves (Engine._refuse_unreachable).
_TABLES_PER_KEY_BOUND: Final = 4
# Ints below this convert to float exactly (and never overflow it).
_EXACT_INT: Final = 2**53


#: A key a write evicted (or replaced) while it may still be refused: the entry, its value
#: (kept alive until the write commits) and the removal's cause.
Taken = tuple[Entry, bytes, int]


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
        self.config = config
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
        self._pending: list[KeyspaceEvent] = []
        self._time: Callable[[], float] = clock.monotonic  # deadlines never see wall steps
        # The TTL sampling arrays cost an append and a swap-remove per write and removal of a
        # key with a TTL: kept only when something samples TTL keys.
        index_volatile = policy.volatile_only or policy.uses_ttl_index or expiry.uses_ttl_index
        self.keyspaces: list[Keyspace] = [
            Keyspace(db, index_volatile) for db in range(config.databases)
        ]
        #: The non-empty keyspaces in db order: what eviction looks at, so 16 mostly empty
        #: databases cost nothing per eviction round.
        self.populated: list[Keyspace] = []
        self._dicts: list[dict[str, Entry]] = [ks.data for ks in self.keyspaces]
        self.used_memory = 0
        self.key_count = 0
        #: The containers' measured bytes beyond their empty size (part of used_memory).
        self.structure_memory = 0
        self._empty_containers = self.keyspaces[0].container_bytes()
        self._writes = 0
        #: The deadline index's retained bytes as last added to used_memory.
        self.index_retained = 0
        self.limit: int = config.maxmemory
        self.max_entries: int = config.max_entries if config.max_entries is not None else -1
        self.cull_frequency: int = (
            config.cull_frequency if config.cull_frequency is not None else -1
        )
        self.lazyfree_threshold: int = config.lazyfree_threshold
        # Sizes: the cost model plus what the policy's and strategy's own structures cost.
        lfu = LFU_OVERHEAD if Access.LFU in (policy.read_access, policy.write_access) else 0
        slot = SLOT_OVERHEAD if policy.uses_slot else 0
        self.plain_overhead: int = ENTRY_OVERHEAD + lfu + slot + policy.metadata_overhead
        ttl_slot = 0 if index_volatile else TTL_SLOT_OVERHEAD
        self.volatile_overhead: int = (
            self.plain_overhead
            + TTL_OVERHEAD
            - ttl_slot
            + expiry.metadata_overhead
            + policy.volatile_metadata_overhead
        )
        # ---- the code path of every hook, chosen once from the declarations.
        fast = policy.fast_hooks
        read = int(policy.read_access)
        write = int(policy.write_access)
        self._insert_path: int = write if "on_insert" in fast else _HOOK
        self._read_path: int = read if "on_read" in fast else _HOOK
        self._write_path: int = write if "on_write" in fast else _HOOK
        self._read_locked: bool = self._read_path == _HOOK and not (
            _GIL_ENABLED and not policy.on_read_needs_lock
        )
        self._policy_on_miss: bool = "on_miss" not in fast
        self._policy_on_remove: bool = "on_remove" not in fast
        self._policy_admits: bool = "admit" not in fast
        self._policy_on_ttl: bool = "on_ttl_change" not in fast
        victims = int(policy.victims) if policy.evicts else _NONE
        self._victim_path: int = victims if "select_victim" in fast else _HOOK
        self._batch_path: int = victims if "select_victims" in fast else _HOOK
        self._sampler: Sampler | None = policy.sampler if victims in (_POOL, _RANDOM) else None
        self._lfu_log_factor: int = config.lfu_log_factor
        self._lfu_decay_time: int = config.lfu_decay_time
        self._policy_rng: Random = policy.rng
        # Restricted policies pay for counting their candidates' bytes before evicting.
        self._evicts_any_key: bool = (
            policy.evicts and not policy.volatile_only and "candidate_bytes" in fast
        )
        self._policy_structures: bool = "structure_bytes" not in fast
        self.policy_memory = 0
        fast_expiry = expiry.fast_hooks
        self._index: DeadlineIndex | None = expiry.index if expiry.deadline_index else None
        self._expiry_on_ttl_set: bool = "on_ttl_set" not in fast_expiry
        self._expiry_on_ttl_cleared: bool = "on_ttl_cleared" not in fast_expiry
        self._expiry_on_delete: bool = "on_delete" not in fast_expiry
        self._after_gated: bool = "after_operation" in fast_expiry
        #: Clock time before which writes skip ``after_operation`` (kept by the strategy
        #: through :meth:`ExpiryStrategy.publish_due`).
        self.expiry_due_at: float = expiry.due_at
        # Structures that exist before any key (a policy's sketch) are counted from the start,
        # so an empty cache reports what it holds, and a flushed one returns to it.
        self._measure_shared()

    # ------------------------------------------------------------------ lock and events

    def locked(self) -> _Locked:
        """Context manager holding the lock; events queued inside are sent on exit."""
        return _Locked(self)

    def acquire(self) -> None:
        """Take the lock (release it with :meth:`unlock`)."""
        self._lock_acquire()

    def unlock(self) -> None:
        """Release the lock, then deliver the events queued while it was held."""
        events = self._pending
        if events:
            self._pending = []
        self._lock_release()
        if events:
            self.events.publish(events)

    def _emit(self, name: str, key: str, db: int) -> None:
        """Queue an event (lock held). Free when nobody listens to ``name``."""
        if name in self.events.wanted:
            self._pending.append(KeyspaceEvent(name, key, db))

    def emit_keymiss(self, key: str, db: int) -> None:
        if "keymiss" in self.events.wanted:
            self._lock_acquire()
            self._pending.append(KeyspaceEvent("keymiss", key, db))
            self.unlock()

    def after_fork_in_child(self) -> None:
        """The child of fork() starts with a fresh lock: the thread that may hold the
        inherited one does not exist there."""
        self.lock = threading.Lock()
        self._lock_acquire = self.lock.acquire
        self._lock_release = self.lock.release
        self._pending = []

    # ------------------------------------------------------------------ ReclaimContext

    def time(self) -> float:
        """The engine's time: the clock's ``monotonic()``, what deadlines are stored in."""
        return self._time()

    def delete_expired(self, entry: Entry) -> None:
        """Delete an entry whose deadline passed (lock held): ``expired`` event, counter."""
        self.remove(entry, EXPIRED)

    # ------------------------------------------------------------------ sizing

    def measure_structures(self, keyspace: Keyspace, apply: bool = True) -> int:
        """Count ``keyspace``'s containers at their current size in ``used_memory`` (lock
        held); returns the change. Their tables grow in steps as keys come and go, not per key
        (a dict rebuilding its table under churn can even grow at a constant key count): the
        engine measures after an insert that changed the dict's or the sampling list's size,
        every 64th insert (for the other structures), and when a database has shrunk to half
        its high-water mark. ``apply`` false: the caller adds the change to ``used_memory``
        itself (``_fit``, once there is room for it)."""
        measured = keyspace.container_bytes() - self._empty_containers
        change = measured - keyspace.measured
        if apply:
            self.used_memory += change
        self.structure_memory += change
        keyspace.measured = measured
        keyspace.high_water = len(keyspace.data)
        keyspace.dict_measured = keyspace.data.__sizeof__()
        keyspace.note_entries_capacity()
        return change

    def _measure_shared(self, shrink_only: bool = False, apply: bool = True) -> int:
        """The structures not per database: the policy's own (when it declares them through
        ``structure_bytes``) and the deadline index's; returns the change counted.
        ``shrink_only``: count a decrease only (on removals, where nothing evicts to make room
        for growth). ``apply``: as for :meth:`measure_structures`."""
        shared = 0
        if self._policy_structures:
            shared += self.policy.structure_bytes()
        if self._index is not None:
            shared += self._index.memory()
        change = shared - self.policy_memory
        if shrink_only and change > 0:
            return 0
        if apply:
            self.used_memory += change
        self.structure_memory += change
        self.policy_memory = shared
        return change

    def sync_retained(self, apply: bool = True) -> int:
        """Count what the deadline index's left-over records keep alive (lock held); returns
        the change. ``apply``: as for :meth:`measure_structures`."""
        index = self._index
        if index is None:
            return 0
        change = index.retained - self.index_retained
        if change:
            if apply:
                self.used_memory += change
            self.index_retained = index.retained
        return change

    def entry_size(self, key: str, payload: bytes, has_ttl: bool) -> int:
        """Bytes one entry costs under this engine's policy and expiry strategy."""
        size = key.__sizeof__()  # sys.getsizeof(key), at half the cost (a str has no GC header)
        if type(payload) is bytes:
            size += BYTES_BASE + len(payload)
        else:
            size += sys.getsizeof(payload)
        return size + (self.volatile_overhead if has_ttl else self.plain_overhead)

    def _overwrite_size(self, entry: Entry, payload: bytes, has_ttl: bool) -> int:
        """:meth:`entry_size` of ``entry``'s key with a new payload and TTL, derived from the
        entry's own size (``entry_size`` of what it holds) without measuring the key again:
        that method call was a tenth of an overwrite's engine time."""
        old = entry.payload
        if type(payload) is bytes and type(old) is bytes:
            size = entry.size + len(payload) - len(old)  # equal headers (BYTES_BASE)
        else:
            size = entry.size + sys.getsizeof(payload) - sys.getsizeof(old)
        if (entry.deadline is not None) != has_ttl:
            ttl_cost = self.volatile_overhead - self.plain_overhead
            size += ttl_cost if has_ttl else -ttl_cost
        return size

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
                            # (``_read_locked`` is only ever set for the hook path).
                            if self._read_locked:
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
        if self._policy_on_miss and touch:
            self._missed(key, db)
        if "keymiss" in self.events.wanted:
            self.emit_keymiss(key, db)
        return None

    def _missed(self, key: str, db: int) -> None:
        """Tell a policy that counts demand (``on_miss``) of a read that found nothing."""
        if self._read_locked:
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
        path = self._read_path
        if path == _STAMP:
            stamp(entry, now)
        elif path == _LFU:
            lfu_touch(entry, now, self._lfu_log_factor, self._lfu_decay_time, self._policy_rng)
        elif path == _HOOK:
            self.policy.on_read(entry, now)

    def _written(self, entry: Entry, now: float, old_size: int) -> None:
        """Record a write of a live key (an overwrite, INCR/DECR: lock held) for the policy as
        it declared ``write_access``."""
        path = self._write_path
        if path == _STAMP:
            stamp(entry, now)
        elif path == _LFU:
            lfu_touch(entry, now, self._lfu_log_factor, self._lfu_decay_time, self._policy_rng)
        elif path == _HOOK:
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
            if old is None:
                size = self.entry_size(key, payload, deadline is not None)
            else:
                size = self._overwrite_size(old, payload, deadline is not None)
            room = size
            if old is not None and deadline is not None and not self._evicts_any_key:
                room += self._ttl_growth(keyspace, old.deadline, deadline)
            first: Entry | None = None
            if old is None and self._policy_admits and self._needs_room(room):
                # Admission (the policy overrides ``admit``): asked once, about the first
                # victim, before anything is evicted, so a refusal changes nothing.
                first = self._select_victim(now)
                if first is not None and not self.policy.admit(key, size, first, now):
                    self.stats.rejected_admissions += 1
                    if self.events.active:
                        self._emit("refused", key, db)
                    return False
            old = self._make_room(keyspace, key, room, old, now, True, first)
            if old is None:
                entry = self._insert(keyspace, key, payload, size, deadline, now)
                self._fit(keyspace, now, entry, True)
                if self.events.active:
                    self._emit("new", key, db)
            else:
                entry = old
                self._replace(keyspace, old, payload, size, deadline, now)
                self._fit(keyspace, now, entry, False)
            if self.events.active:
                self._emit("set", key, db)
                if deadline is not None and not flags & KEEPTTL:
                    self._emit("expire", key, db)  # Redis's SET ... EX announces both
        finally:
            self.unlock()
        self.after_write(now)
        return True

    def update(
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
            size = self.entry_size(key, payload, deadline is not None)
            entry = self._make_room(keyspace, key, size, entry, now, True)
            if entry is None:
                entry = self._insert(keyspace, key, payload, size, deadline, now)
                self._fit(keyspace, now, entry, True)
                self._emit("new", key, db)
            else:
                self._replace(keyspace, entry, payload, size, deadline, now)
                self._fit(keyspace, now, entry, False)
            self._emit(event, key, db)
        finally:
            self.unlock()
        self.after_write(now)

    def after_write(self, now: float) -> None:
        """Give the expiry strategy its turn after a write-like command (outside the lock):
        gated by its declared ``due_at`` unless it overrides ``after_operation``."""
        if not self._after_gated or now >= self.expiry_due_at:
            self.expiry.after_operation(now)

    def _insert(
        self,
        keyspace: Keyspace,
        key: str,
        payload: bytes,
        size: int,
        deadline: float | None,
        now: float,
    ) -> Entry:
        """Add a new key (lock held); the caller announces ``new`` once it stays (_fit)."""
        entry = Entry(key, payload, size, deadline, keyspace.db)
        keyspace.insert(entry)
        if len(keyspace.data) == 1:
            self._refresh_populated()
        self.used_memory += size
        self.key_count += 1
        used = self.used_memory
        if used > self.stats.used_memory_peak:
            self.stats.used_memory_peak = used
        path = self._insert_path
        if path == _STAMP:
            stamp(entry, now)
        elif path == _LFU:
            lfu_init(entry, now)
        elif path == _HOOK:
            self.policy.on_insert(entry, now)
        if deadline is not None:
            self._ttl_filed(entry, None)
        return entry

    def _fit(
        self, keyspace: Keyspace, now: float, written: Entry | None = None, new: bool = False
    ) -> None:
        """After a command changed ``keyspace`` (lock held): count what its tables, the
        policy's structures and the deadline index grew by, and evict until the whole is within
        the limit again. Tables grow in steps (a dict rebuilding its table under churn can even
        grow at a constant key count), so the dict and sampling list are compared with their
        last measure after every command, and everything is re-measured every 64th."""
        self._writes += 1
        index = self._index
        measured = False
        # used_memory is read without the lock (info(), monitoring; in the pure build a thread
        # switch can come between any two statements): what the tables grew by is measured
        # without adding it, and joins used_memory only once there is room for it, or once the
        # write that caused it is undone, so no reader ever sees it above the limit.
        grown = 0
        if (
            # An overwrite (a written entry that is not new) put nothing into the dict, and a
            # dict's table never grows on deletion: only other commands measure it here.
            ((new or written is None) and keyspace.data.__sizeof__() != keyspace.dict_measured)
            or len(keyspace.entries) > keyspace.entries_room
            or len(keyspace.volatile) > keyspace.volatile_room
            or not self._writes & _MEASURE_EVERY
        ):
            keyspace.remember_tables()
            grown = self.measure_structures(keyspace, False) + self._measure_shared(False, False)
            measured = True
        elif index is not None and index.outgrown():
            grown = self._measure_shared(False, False)
        grown += self.sync_retained(False)
        limit = self.limit
        if limit and self.used_memory + grown > limit:
            while self.policy.evicts and self.used_memory + grown > limit:
                victim = self._select_victim(now)
                # The key this command wrote goes only if the policy insists (an exact policy
                # whose best victim it is): a sampler is asked again first.
                retries = _FIT_RETRIES
                while victim is written and victim is not None and retries:
                    victim = self._select_victim(now)
                    retries -= 1
                if victim is None:  # volatile-* with no TTL key left: nothing may go
                    break
                if victim is written and new:
                    # A new key is never evicted by its own write (that acknowledged a write
                    # that stored nothing, announced as "evicted" before "new"): the write is
                    # refused below instead.
                    break
                self.remove(victim, EVICTED)
            if self.used_memory + grown > limit and new and written is not None:
                # The keys evicted above for the tables' growth stay evicted: putting them back
                # could leave tables that did not shrink back, and used_memory, over the limit
                # (the compiled 8-thread hammer saw 37 kB over under volatile-ttl).
                self._refuse(keyspace, written, grown, measured)
        self.used_memory += grown
        if self.used_memory > self.stats.used_memory_peak:
            self.stats.used_memory_peak = self.used_memory

    def _refuse(self, keyspace: Keyspace, written: Entry, grown: int, measured: bool) -> None:
        """Nothing (more) may be evicted for what the new key ``written`` made the tables grow
        by (``grown``, held back from ``used_memory``): the write is taken back and refused, as
        any write that does not fit. The re-measures below subtract the growth the ledger holds
        before it is added back, so the visible ``used_memory`` never passes the limit."""
        self.remove(written, REPLACED)
        self._take_back_growth(keyspace, written, measured)
        self.used_memory += grown
        self.stats.rejected_writes += 1
        if not self.key_count:
            # Nothing else is stored: no eviction or deletion can ever make room. The value
            # fits alone, but not with the table growth its own insertion causes.
            size = written.size + grown
            raise ValueTooLargeError(
                f"Cannot store key {short_repr(written.key)}: the entry needs {written.size} "
                f"bytes and the tables it makes grow {grown} more, {size} in all, but "
                f"maxmemory is {self.limit} bytes ({format_bytes(self.limit)}).",
                key=written.key,
                size=size,
            )
        needed = max(1, self.used_memory - self.limit)
        raise OutOfMemoryError(
            self._oom_message(written.key, needed), key=written.key, needed=needed
        )

    def _take_back_growth(self, keyspace: Keyspace, written: Entry, measured: bool) -> None:
        """The new key ``written`` has left again (refused, or evicted by its own write):
        give back what the tables grew by for it and re-measure them. ``measured``: the
        keyspace was measured at this write, so its tables may have grown for it."""
        if self._index is not None and written.deadline is not None:
            # Its record goes too, and the index's lists give back what they grew by.
            self._index.take_back(written)
            self.sync_retained()
        if measured:
            keyspace.give_back_growth()
            self._dicts[keyspace.db] = keyspace.data
        self.measure_structures(keyspace)
        self._measure_shared(shrink_only=True)

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
        used = self.used_memory + size - entry.size
        self.used_memory = used
        if used > self.stats.used_memory_peak:
            self.stats.used_memory_peak = used
        old_payload = entry.payload
        old_size = entry.size
        if entry.deadline != deadline:
            # Resize first, under the old deadline, so the TTL bytes move with the entry.
            keyspace.resize(entry, size)
            self._set_deadline(keyspace, entry, deadline)
        else:
            keyspace.resize(entry, size)
        entry.payload = payload
        self._release(old_payload)
        self._written(entry, now, old_size)

    def _set_deadline(self, keyspace: Keyspace, entry: Entry, deadline: float | None) -> None:
        """Change a live entry's deadline and tell the policy and the strategy (lock held)."""
        previous = entry.deadline
        keyspace.set_deadline(entry, deadline)
        if self._policy_on_ttl:
            self.policy.on_ttl_change(entry, previous)
        if deadline is None:
            if self._expiry_on_ttl_cleared:
                self.expiry.on_ttl_cleared(entry)
            elif self._index is not None:
                self._index.forget(entry)
        else:
            self._ttl_filed(entry, previous)

    def _ttl_filed(self, entry: Entry, previous: float | None) -> None:
        if self._expiry_on_ttl_set:
            self.expiry.on_ttl_set(entry, previous)
        elif self._index is not None:
            self._index.file(entry, previous)

    def _change_deadline(self, keyspace: Keyspace, entry: Entry, deadline: float | None) -> None:
        """EXPIRE / PERSIST (lock held): set a deadline and fix the entry's size (a TTL costs
        index bytes), then announce it."""
        if (entry.deadline is not None) != (deadline is not None):
            new_size = self.entry_size(entry.key, entry.payload, deadline is not None)
            self.used_memory += new_size - entry.size
            keyspace.resize(entry, new_size)
        self._set_deadline(keyspace, entry, deadline)
        self._emit("expire" if deadline is not None else "persist", entry.key, entry.db)

    # ------------------------------------------------------------------ removal (lock held)

    def remove(self, entry: Entry, cause: int) -> None:
        """Take ``entry`` out of the cache, whatever the cause: every structure, the counters,
        the hooks, the event and the value's release (lock held)."""
        keyspace = self.keyspaces[entry.db]
        keyspace.remove(entry)
        if not keyspace.data:
            self._refresh_populated()
        size = entry.size
        self.used_memory -= size
        self.key_count -= 1
        if self._policy_on_remove:
            self.policy.on_remove(entry, _CAUSES[cause])
            if self._policy_structures:  # a structure that shrinks as its keys go
                self._measure_shared(shrink_only=True)
        if entry.deadline is not None:
            if self._expiry_on_delete:
                self.expiry.on_delete(entry)
            elif self._index is not None:
                self._index.forget(entry)
                if not self._index.records:  # it gave its lists back: count that at once
                    self._measure_shared(shrink_only=True)
            self.sync_retained()
        if len(keyspace.data) * 2 < keyspace.high_water:
            keyspace.shrink_tables()
            self._dicts[keyspace.db] = keyspace.data
            self.measure_structures(keyspace)
            self._measure_shared(shrink_only=True)
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
        threshold = self.lazyfree_threshold
        if threshold and len(payload) >= threshold:
            self.lazy_free.release(self, payload)

    def _refresh_populated(self) -> None:
        self.populated = [ks for ks in self.keyspaces if ks.data]

    # ------------------------------------------------------------------ eviction (lock held)

    def _make_room(
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
        limit = self.limit
        old_size = old.size if old is not None else 0
        self.sync_retained()
        if limit and size > limit:
            self.stats.rejected_writes += 1
            raise ValueTooLargeError(
                f"Cannot store key {short_repr(key)}: the entry needs {size} bytes but "
                f"maxmemory is {limit} bytes ({format_bytes(limit)}); no eviction can "
                f"make it fit.",
                key=key,
                size=size,
            )
        if limit and self.used_memory - old_size + size > limit:
            needed = self.used_memory - old_size + size - limit
            # A policy that may evict any key can always make room (size <= limit), so only
            # restricted policies pay for counting their candidates' bytes.
            if not self._evicts_any_key:
                evictable = self.policy.candidate_bytes(self.populated)
                if old is not None and self.policy.is_candidate(old):
                    evictable -= old_size
                if evictable < needed:
                    self.stats.rejected_writes += 1
                    raise OutOfMemoryError(self._oom_message(key, needed), key=key, needed=needed)
            # Kept restorable until there is room, for a policy that chooses its own victims
            # and runs out part-way (fewer candidates than its candidate_bytes declared): the
            # write is refused and they come back. The sampler always finds the candidates
            # counted above, so sampled policies pay nothing for this on their evicting writes.
            taken: list[Taken] | None = [] if self._victim_path == _HOOK else None
            mark = len(self._pending)
            while self.used_memory - old_size + size > limit:
                if first is not None and first.pos >= 0:
                    victim: Entry | None = first
                    first = None
                else:
                    victim = self._select_victim(now)
                if victim is None:
                    if taken is None:  # pragma: no cover - the sampler finds what was counted
                        raise OutOfMemoryError(self._oom_message(key, needed), key=key)
                    self._restore(taken, mark, now)
                    self.stats.rejected_writes += 1
                    raise OutOfMemoryError(self._oom_message(key, needed), key=key, needed=needed)
                if victim is old:
                    if not reinserting:
                        self.remove(old, EVICTED)
                        return None
                    if taken is not None:
                        taken.append((old, old.payload, REPLACED))
                    self.remove(old, REPLACED)
                    old = None
                    old_size = 0
                    continue
                if taken is not None:
                    taken.append((victim, victim.payload, EVICTED))
                self.remove(victim, EVICTED)
        if old is None and self.max_entries >= 0 and self.key_count >= self.max_entries:
            self._cull(key, now, first if first is not None and first.pos >= 0 else None)
        return old

    def _needs_room(self, size: int) -> bool:
        """Whether a new key of ``size`` bytes needs an eviction first (by bytes, or by the
        entry-count bound), and one could make room (it fits ``maxmemory`` at all)."""
        limit = self.limit
        if limit and limit >= size and self.used_memory + size > limit:
            return True
        return self.max_entries >= 0 and self.key_count >= self.max_entries

    def _restore(self, taken: list[Taken], mark: int, now: float) -> None:
        """Undo the evictions of a write that is refused after all (lock held): each key goes
        back with its value, size, deadline and ranking fields (recency stamp, LFU counter,
        the policy's slot), as a new entry (one that left is never reinserted), newest first;
        ``evicted_keys`` and ``evicted_bytes`` are taken back and the events queued since
        ``mark`` dropped, so the keys, values, TTLs, counters and event stream are as before
        the write, and ``used_memory`` no more than before. (A policy with its own insert hook,
        an exact LRU list say, files a restored key as a new one; a big value handed to the
        lazy-free thread is counted there, and kept alive by ``taken``.)"""
        for gone, payload, cause in reversed(taken):
            keyspace = self.keyspaces[gone.db]
            entry = self._insert(keyspace, gone.key, payload, gone.size, gone.deadline, now)
            if self._insert_path != _HOOK:
                # Native bookkeeping: the fields are the ranking, so the key ranks as before.
                # A policy with its own insert hook has filed the key as it files a new one,
                # and its fields (its slot above all) are its own.
                entry.atime = gone.atime
                entry.aseq = gone.aseq
                entry.lfu = gone.lfu
                entry.ldt = gone.ldt
                entry.slot = gone.slot
            if cause == EVICTED:
                self.stats.evicted_keys -= 1
                self.stats.evicted_bytes -= gone.size
        del self._pending[mark:]
        index = self._index
        if index is not None and any(gone.deadline is not None for gone, _, _ in taken):
            # The removed versions' index records would stay behind as left-over records
            # (counted): dropped now, so used_memory is no more than before the write.
            index.compact()
            self.sync_retained()
            self._measure_shared(shrink_only=True)

    def _select_victim(self, now: float) -> Entry | None:
        path = self._victim_path
        sampler = self._sampler
        if path == _POOL and sampler is not None:
            return sampler.select(self.populated, now)
        if path == _RANDOM and sampler is not None:
            return sampler.select_random(self.populated)
        if path == _NONE:
            return None
        return self.policy.select_victim(self.populated, now)

    def _select_victims(self, now: float, count: int) -> Iterable[Entry]:
        path = self._batch_path
        sampler = self._sampler
        if path == _POOL and sampler is not None:
            return sampler.select_batch(self.populated, now, count)
        if path == _HOOK:
            return self.policy.select_victims(self.populated, now, count)
        return self._repeat_victims(now, count)

    def _repeat_victims(self, now: float, count: int) -> Iterator[Entry]:
        for _ in range(count):
            victim = self._select_victim(now)
            if victim is None:
                return
            yield victim

    def _cull(self, key: str, now: float, first: Entry | None = None) -> None:
        """Entry-count bound reached: evict one key, or a batch (Django's CULL_FREQUENCY:
        0 empties the cache, N evicts a 1/N share)."""
        policy = self.policy
        candidates = (
            self.key_count if self._evicts_any_key else policy.candidate_count(self.populated)
        )
        if candidates == 0:
            self.stats.rejected_writes += 1
            raise OutOfMemoryError(
                f"Cannot store key {short_repr(key)}: max_entries={self.max_entries} is "
                f"reached and policy {policy.describe()!r} has no key it may evict.",
                key=key,
            )
        frequency = self.cull_frequency
        if frequency < 0:
            count = 1
        elif frequency == 0:
            count = candidates
        else:
            count = min(max(1, self.key_count // frequency), candidates)
        if count == 1:
            # One at a time (cull_frequency=None, Redis's way): through the eviction pool, as
            # a byte-budget eviction. A batch of one would rank a single round of samples
            # without the pool's memory of earlier rounds (Redis 2.8's accuracy). ``first``:
            # the victim the policy already chose and admitted this write against.
            victim = first if first is not None else self._select_victim(now)
            if victim is not None:
                self.remove(victim, EVICTED)
            return
        # Each victim is removed before the next is asked for, as select_victims() promises.
        for victim in self._select_victims(now, count):
            if victim.pos >= 0:
                self.remove(victim, EVICTED)

    def _oom_message(self, key: str, needed: int) -> str:
        policy = self.policy
        if not policy.evicts:
            reason = "the policy is 'noeviction'"
        elif policy.volatile_only:
            reason = (
                f"policy {policy.describe()!r} can only evict keys that have a TTL, "
                f"and they hold too few bytes"
            )
        else:
            reason = f"policy {policy.describe()!r} has too few evictable bytes"
        return (
            f"OOM command not allowed when used memory > 'maxmemory': storing key "
            f"{short_repr(key)} needs {needed} more bytes ({format_bytes(self.used_memory)} "
            f"used of {format_bytes(self.limit)}) and {reason}."
        )

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
        """:meth:`_fit` after a command that changed ``entry``'s TTL or stamp (TOUCH, EXPIRE,
        PERSIST): the key it acted on is the last the policy is asked to give up for the
        tables that command grew. Returns ``done``, false if the policy evicted the key
        anyway (an exact policy whose best victim it is): the key no longer exists, and the
        command does not report a change that nothing can observe."""
        self._fit(keyspace, now, entry, False)
        return done and (entry is None or entry.pos >= 0)

    def _room_for_ttl(self, keyspace: Keyspace, entry: Entry, deadline: float, now: float) -> bool:
        """Gaining a TTL, or an earlier one, costs entry and index bytes: make room for them
        as any write would (lock held). False if the policy chose this very key as the
        victim: it is then evicted."""
        if not self.limit:
            return True
        size = self.entry_size(entry.key, entry.payload, True)
        if not self._evicts_any_key:
            size += self._ttl_growth(keyspace, entry.deadline, deadline)
        if self.used_memory - entry.size + size <= self.limit:
            return True
        return self._make_room(keyspace, entry.key, size, entry, now, False) is not None

    def _ttl_growth(self, keyspace: Keyspace, previous: float | None, deadline: float) -> int:
        """What the tables grow by when a key present in ``keyspace`` gets ``deadline`` in
        place of ``previous`` (None: no TTL yet): its TTL sampling slot and its index record.
        A policy that may evict any key evicts for that growth once it is measured (``_fit``);
        a restricted one (noeviction, volatile-*) may have nothing to evict, so the write
        makes room for it beforehand and is refused, unchanged, if it cannot."""
        growth = keyspace.ttl_growth() if previous is None else 0
        index = self._index
        if index is not None and not self._expiry_on_ttl_set:
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
            self.used_memory -= keyspace.memory
            self.key_count -= len(keyspace)
            volatile = keyspace.volatile_count
            removed = keyspace.clear()
            self._refresh_populated()
            policy_on_remove = self._policy_on_remove
            expiry_on_delete = self._expiry_on_delete
            payloads: list[bytes] = []
            for entry in removed:
                if policy_on_remove:
                    self.policy.on_remove(entry, Removal.FLUSHED)
                if expiry_on_delete and entry.deadline is not None:
                    self.expiry.on_delete(entry)
                payloads.append(entry.payload)  # as in remove(): left-over records must not
                entry.payload = RELEASED  # keep the values alive
            if not expiry_on_delete and self._index is not None:
                self._index.forget_all(volatile)
            self.sync_retained()
            self.measure_structures(keyspace)
            self._measure_shared()
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
        self.used_memory = 0
        self.key_count = 0
        self.structure_memory = 0
        self.policy_memory = 0
        self.index_retained = 0
        self.populated = []
        self.policy.reset()
        self.expiry.reset()
        self.sync_retained()
        for keyspace in self.keyspaces:
            keyspace.measured = 0
            self.measure_structures(keyspace)
        self._measure_shared()
        self._release_all(payloads)

    def _release_all(self, payloads: list[bytes]) -> None:
        """A flushed database's values: big batches go to the lazy-free thread."""
        if self.lazyfree_threshold and payloads:
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
            self.stats.used_memory_peak = self.used_memory
        self.hits.reset()

    def check(self) -> list[str]:
        """Recount everything; every inconsistency found (empty when healthy). Lock held by
        the caller."""
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
        counted = sum([keyspace.measured for keyspace in self.keyspaces]) + self.policy_memory
        if counted != self.structure_memory:
            problems.append(f"containers counted {self.structure_memory} B, databases {counted}")
        retained = self._index.retained if self._index is not None else 0
        if retained != self.index_retained:
            problems.append(f"index retains {retained} B, {self.index_retained} B counted")
        if total + self.structure_memory + self.index_retained != self.used_memory:
            problems.append(
                f"used_memory is {self.used_memory} but entries sum to {total}, containers "
                f"{self.structure_memory} and index records {self.index_retained}"
            )
        if count != self.key_count:
            problems.append(f"key_count is {self.key_count} but databases hold {count}")
        if self.limit and self.used_memory > self.limit:
            problems.append(f"used_memory {self.used_memory} exceeds maxmemory {self.limit}")
        if self.max_entries >= 0 and count > self.max_entries:
            problems.append(f"{count} keys exceed max_entries {self.max_entries}")
        if self.populated != [ks for ks in self.keyspaces if ks.data]:
            problems.append("the list of non-empty databases is stale")
        return problems

    def describe_paths(self) -> dict[str, Any]:
        """The code path chosen for each hook (for tests and ``info()``)."""
        names = {0: "none", 1: "stamp", 2: "lfu", 3: "hook"}
        victims = {0: "none", 1: "pool", 2: "random", 3: "hook"}
        return {
            "insert": names[self._insert_path],
            "read": names[self._read_path],
            "write": names[self._write_path],
            "victims": victims[self._victim_path],
            "batch": victims[self._batch_path],
            "deadline_index": self._index is not None,
        }

    # ------------------------------------------------------------------ reconfiguration

    def reconfigure(self, config: CacheConfig, policy: EvictionPolicy | None = None) -> None:
        """Redis's ``CONFIG SET maxmemory`` / ``maxmemory-policy`` on a live cache.

        ``config`` is the new, already validated configuration; ``policy`` a new policy object
        to switch to (None keeps the current one, for a change of ``maxmemory`` alone). Under
        the lock, in one step for readers and writers:

        * the code paths and sizes chosen from the declarations are chosen again, by building
          an engine for the new configuration and adopting what it derived
          (:data:`RUNTIME_STATE` is kept: the keys, counters, lock and subscribers);
        * on a policy switch every key is re-admitted as if just written (see
          :meth:`_readmit`): the keys stay, the ranking state starts again;
        * the budget is enforced at once through the eviction loop every write uses
          (:meth:`_fit`), with ``evicted`` events and ``evicted_keys``.

        A limit the policy cannot reach (``noeviction``, or ``volatile-*`` without enough TTL
        keys) raises :class:`~cachepolicy.errors.ConfigError` before anything changed.
        """
        chosen = policy if policy is not None else self.policy
        fresh = Engine(config, chosen, self.expiry, self.clock, self.rng, self.events)
        self._lock_acquire()
        try:
            now = self._time()
            self._refuse_unreachable(fresh)
            switching = policy is not None and policy is not self.policy
            names = getattr(type(self), "__mypyc_attrs__", None) or tuple(vars(self))
            for name in names:
                if name not in RUNTIME_STATE:
                    setattr(self, name, getattr(fresh, name))
            self.policy.config = config  # the kept policy reads its options from it
            if switching:
                self._readmit(fresh, now)
            if self.populated:
                self._fit(self.populated[0], now)
        finally:
            self.unlock()

    def _refuse_unreachable(self, fresh: Engine) -> None:
        """Raise ConfigError if ``fresh``'s policy could not bring ``used_memory`` under its
        limit (lock held; nothing changed yet), i.e. if evicting every candidate key would
        still leave more than the limit. Entry sizes are projected with the new policy's
        per-entry overheads. The tables shrink as keys go (a keyspace rebuilds its tables
        once it holds under half its high-water mark), so what they would hold for the keys
        left is bounded by :data:`_TABLES_PER_KEY_BOUND` times their present bytes per key
        (they were projected unevictable, which refused reachable limits: issue 19)."""
        limit = fresh.limit
        if not limit or fresh._evicts_any_key:
            return  # a policy that may evict any key reaches any limit (>= one entry)
        used = self.used_memory
        evictable = 0
        kept = 0
        policy = fresh.policy
        plain = fresh.plain_overhead - self.plain_overhead
        volatile = fresh.volatile_overhead - self.volatile_overhead
        for keyspace in self.populated:
            for entry in keyspace.entries:
                size = entry.size + (volatile if entry.deadline is not None else plain)
                used += size - entry.size
                if policy.is_candidate(entry):
                    evictable += size
                else:
                    kept += 1
        tables = self.structure_memory
        if self.key_count:
            tables_left = min(tables, _TABLES_PER_KEY_BOUND * tables * kept // self.key_count)
            used -= tables - tables_left
        needed = used - limit
        if needed > 0 and evictable < needed:
            from ..errors import ConfigError

            raise ConfigError(
                f"Cannot set maxmemory to {limit} bytes ({format_bytes(limit)}) with policy "
                f"{policy.describe()!r}: {format_bytes(used - evictable)} would remain in use "
                f"after evicting all {format_bytes(evictable)} it may evict, so the cache "
                f"could not get under the limit. Delete or expire keys first, or choose a "
                f"policy that may evict them (e.g. 'allkeys-lru').",
                option="maxmemory",
            )

    def _readmit(self, fresh: Engine, now: float) -> None:
        """After a policy switch (lock held): every key is re-admitted as if just written.

        The new policy starts with no ranking state of the old one's: an LRU stamp is never
        read as an LFU counter (Redis reuses one 24-bit field for both, so after ``CONFIG SET
        maxmemory-policy`` from LRU to LFU it reads clock bits as counters until keys are
        touched again). LFU counters start at ``LFU_INIT_VAL`` (5) and recency stamps at
        ``now``; keys are re-admitted in their previous recency order, so the stamps' sequence
        keeps who was used last, and an LRU-to-LRU switch (sampled to exact) keeps its order.
        The new policy's own structures (exact mode) are built by its ``on_insert`` hook; the
        entries' sizes take the new policy's per-entry overhead; TTL sampling arrays are built
        or dropped as the new policy needs them. The expiry strategy's state is untouched.
        """
        entries = [entry for keyspace in self.keyspaces for entry in keyspace.entries]
        entries.sort(key=_recency)
        for keyspace, model in zip(self.keyspaces, fresh.keyspaces, strict=True):
            keyspace.set_index_volatile(model.index_volatile)
        path = self._insert_path
        policy = self.policy
        for entry in entries:
            keyspace = self.keyspaces[entry.db]
            size = self.entry_size(entry.key, entry.payload, entry.deadline is not None)
            self.used_memory += size - entry.size
            keyspace.resize(entry, size)
            entry.lfu = 0
            entry.ldt = 0
            entry.version += 1
            if path == _STAMP:
                stamp(entry, now)
            elif path == _LFU:
                stamp(entry, now)  # the sequence keeps the recency order for tie-breaks
                lfu_init(entry, now)
            elif path == _HOOK:
                policy.on_insert(entry, now)
            else:
                stamp(entry, now)
        for keyspace in self.keyspaces:
            self.measure_structures(keyspace)
        self._measure_shared()
        self.sync_retained()


#: The engine's run-time state, kept by :meth:`Engine.reconfigure`; every other attribute is
#: derived from the configuration, the policy and the strategy, and is taken from an engine
#: built for the new configuration. tests/core/test_reconfigure.py fails when an attribute
#: added to ``Engine.__init__`` is state but missing here.
RUNTIME_STATE: Final = frozenset(
    {
        "expiry",
        "clock",
        "rng",
        "events",
        "lazy_free",
        "lock",
        "_lock_acquire",
        "_lock_release",
        "owner",
        "stats",
        "hits",
        "_hit",
        "_miss",
        "_pending",
        "_time",
        "keyspaces",
        "populated",
        "_dicts",
        "used_memory",
        "key_count",
        "structure_memory",
        "_empty_containers",
        "_writes",
        "index_retained",
        "policy_memory",
        "expiry_due_at",
    }
)


def _recency(entry: Entry) -> tuple[float, int]:
    """Sort key of who was used last: the access time, ties broken by the access sequence."""
    return (entry.atime, entry.aseq)
