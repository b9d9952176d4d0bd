"""The composed cache store: keyspaces + one eviction policy + one expiry strategy.

Design
======

Memory. ``used_memory`` is the exact sum of :func:`~cachepolicy.sizing.entry_size` over all
entries of all databases: serialized value + key object + a calibrated per-entry overhead.
The limit is *hard*: a write computes the size of what it is about to admit and evicts *before*
admitting it, so ``used_memory <= maxmemory`` after every operation (Redis checks before a command
and lets one big write overshoot, spec §12.1). Whether the write can succeed is decided before
anything is touched: if the policy's candidate keys (all keys, or only those with a TTL) do not
hold enough bytes, the write raises :class:`OutOfMemoryError` and the cache is unchanged.

Eviction. The policy ranks; the store evicts. All databases share one budget and one policy, so
the eviction pool compares candidates across databases, as in Redis since 4.0.

Expiry. Lazy expiry runs on every lookup (``now > deadline``, Redis's ``keyIsExpired``); the
expiry strategy adds active reclamation.

Concurrency. One lock guards every mutation (writes, evictions, expiry, flushes). Read hits
take no lock: under CPython's GIL a ``dict.get`` and attribute reads are atomic, the entry found
is either the current one or one that a concurrent writer just replaced (a read that raced a
write, which any cache allows), and the policy's access hook is restricted to GIL-atomic steps
(:attr:`EvictionPolicy.lock_free_access`). Only a read that finds an expired entry takes the lock
to delete it. On a free-threaded interpreter (no GIL) reads take the lock too.

Events and callbacks are queued while the lock is held and delivered after it is released.
"""

from __future__ import annotations

import contextlib
import functools
import math
import pickle
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from random import Random
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from . import forksafety
from .clock import Clock, SystemClock
from .config import CacheConfig, normalize_option_name
from .errors import OutOfMemoryError, ValueTooLargeError
from .events import EventBus, KeyspaceEvent, Subscriber
from .eviction.base import EvictionPolicy
from .eviction.recency import RecencyStamp
from .eviction.registry import resolve_policy
from .expiry.base import ExpiryStrategy
from .expiry.driver import DrivenExpiry, InlineDriver, ReclaimDriver
from .expiry.lazyfree import release_lazily
from .expiry.registry import resolve_expiry
from .expiry.timed import TimedExpiry
from .keyspace import SPARE_ENTRIES_MAX, Entry, Keyspace, keep_spares
from .serializers import Serializer, resolve_serializer
from .sizing import (
    ASCII_STR_BASE,
    BYTES_BASE,
    ENTRY_OVERHEAD,
    TTL_INDEX_OVERHEAD,
    TTL_SLOT_OVERHEAD,
    format_bytes,
)
from .stats import HitCounter, Stats

__all__ = ["KEEP_TTL", "CacheStore"]

_GIL_ENABLED = getattr(sys, "_is_gil_enabled", lambda: True)()
_getsizeof = sys.getsizeof
#: The payload of an entry that left the cache (compared by identity, never a real value).
RELEASED = bytes(bytearray(b"\x00<released>"))
# Bound for the inline "finite number" check of a TTL (NaN and infinities fail it).
_FINITE = float("inf")


class _KeepTTL:
    """Sentinel: leave the key's TTL as it is."""

    def __repr__(self) -> str:
        return "KEEP_TTL"


KEEP_TTL: Any = _KeepTTL()

# Above this many TTL keys, info() estimates avg_ttl from a random sample instead of a full scan,
# so INFO stays O(1) on big caches (Redis keeps a running estimate for the same reason).
_AVG_TTL_SAMPLE = 1000


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _drives_expiry(
    method: Callable[Concatenate[CacheStore, _P], _R],
) -> Callable[Concatenate[CacheStore, _P], _R]:
    """After a write-like command, give an inline expiry strategy its chance to run (outside
    the lock), as :meth:`CacheStore.write` does: a cache written only through incr, touch or
    delete must reclaim expired keys too."""

    def run(self: CacheStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        result = method(self, *args, **kwargs)
        if self._after_operation is not None:
            self._after_operation(self._time())
        return result

    return functools.update_wrapper(run, method)  # type: ignore[return-value]


def _after_write_hook(expiry: ExpiryStrategy) -> Callable[[float], None] | None:
    """What a write calls so the expiry strategy can piggy-back its work, or None for nothing.

    A built-in driven strategy's hook only forwards to its driver (fixed at construction), so
    the driver's hook is returned directly: one frame less on every write, and nothing at all
    for a driver that does no work after writes (a thread driver).
    """
    if isinstance(expiry, DrivenExpiry) and (
        type(expiry).after_operation is DrivenExpiry.after_operation
    ):
        driver = expiry.driver
        if type(driver).after_operation is ReclaimDriver.after_operation:
            return None
        return driver.after_operation
    if type(expiry).after_operation is ExpiryStrategy.after_operation:
        return None
    return expiry.after_operation


class _Locked:
    """``with store.locked():`` acquire the lock; on exit release it, then deliver events."""

    __slots__ = ("_store",)

    def __init__(self, store: CacheStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._lock.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store._unlock()


class CacheStore:
    """All databases of one cache under one memory budget.

    Most users want :class:`cachepolicy.Cache`, a view bound to one database of a store.
    """

    def __init__(
        self,
        config: CacheConfig | None = None,
        *,
        clock: Clock | None = None,
        rng: Random | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> None:
        if config is None:
            config = CacheConfig.from_options(options)
        elif options:
            config = config.replace(**{normalize_option_name(k): v for k, v in options.items()})
        self.config = config
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = rng if rng is not None else Random(seed)
        self.serializer: Serializer = resolve_serializer(config.serializer)
        self.policy: EvictionPolicy = resolve_policy(config.maxmemory_policy, config.eviction_mode)(
            config, self.rng
        )
        self.expiry: ExpiryStrategy = resolve_expiry(config.expiry)(config)
        # The TTL sampling arrays cost an append and a swap-remove per write and eviction of a
        # key with a TTL; keep them only when something samples TTL keys.
        index_volatile = (
            self.policy.volatile_only or self.policy.uses_ttl_index or self.expiry.uses_ttl_index
        )
        self.keyspaces: list[Keyspace] = [
            Keyspace(db, index_volatile) for db in range(config.databases)
        ]
        #: The non-empty keyspaces in db order: what eviction looks at, so 16 mostly empty
        #: databases cost nothing per eviction round. Rebuilt when one empties or fills.
        self.populated: list[Keyspace] = []
        #: Each database's dict, indexed by db number, for the lock-free read path.
        self._dicts = [keyspace.data for keyspace in self.keyspaces]
        self.used_memory = 0
        self.key_count = 0
        self.stats = Stats()
        self.hits = HitCounter()
        self.events = EventBus()
        self._lock = threading.Lock()
        #: Removed entries kept for reuse by new keys (see keyspace.keep_spares).
        self.spare_entries: list[Entry] = []
        self._pending: list[KeyspaceEvent] = []
        self._closed = False
        self._time = self.clock.time
        self._entry_overhead = self.policy.metadata_overhead
        self._ttl_overhead = self.expiry.metadata_overhead + self.policy.volatile_metadata_overhead
        self._lock_free_reads = _GIL_ENABLED and self.policy.lock_free_access
        self._on_access = self.policy.on_access
        # When the access hook is the plain recency stamp, the read path inlines it.
        self._stamp_sequence = (
            self._on_access.__self__.sequence  # type: ignore[attr-defined]
            if getattr(self._on_access, "__func__", None) is RecencyStamp.stamp
            and self._lock_free_reads
            else None
        )
        # Skip calls to hooks the policy leaves as the base class's no-ops (hot paths).
        self._policy_tracks_ttl = (
            type(self.policy).on_ttl_change is not EvictionPolicy.on_ttl_change
        )
        self._policy_tracks_delete = type(self.policy).on_delete is not EvictionPolicy.on_delete
        self._expiry_tracks_delete = type(self.expiry).on_delete is not ExpiryStrategy.on_delete
        # Hot-path copies of configuration, so a write reads attributes, not config objects.
        self._plain_overhead = ENTRY_OVERHEAD + self._entry_overhead
        ttl_index = TTL_INDEX_OVERHEAD - (0 if index_volatile else TTL_SLOT_OVERHEAD)
        self._volatile_overhead = self._plain_overhead + ttl_index + self._ttl_overhead
        self._limit = config.maxmemory
        self._max_entries = config.max_entries
        self._lazyfree_threshold = config.lazyfree_threshold
        self._after_operation = _after_write_hook(self.expiry)
        self._evicts_any_key = (
            self.policy.evicts
            and not self.policy.volatile_only
            and type(self.policy).candidate_bytes is EvictionPolicy.candidate_bytes
            and type(self.policy).candidate_count is EvictionPolicy.candidate_count
        )
        forksafety.track(self)
        self._readers = {
            touch: [self.reader(db, touch) for db in range(config.databases)]
            for touch in (True, False)
        }
        self.expiry.attach(self)
        self.expiry.start()

    # ------------------------------------------------------------------ locking and events

    def locked(self) -> _Locked:
        """Context manager holding the store lock; events queued inside are sent on exit.

        A fresh small object per call: keeping one on the store would make a reference cycle,
        and a dropped store (with its expiry thread) would then wait for the cyclic GC.
        """
        return _Locked(self)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def _unlock(self) -> None:
        """Release the lock, then deliver the events queued while it was held (so that
        subscribers run outside it)."""
        events = self._pending
        if events:
            self._pending = []
        self._lock.release()
        if events:
            self.events.publish(events)

    def _emit(self, name: str, entry_or_key: Entry | str, db: int = -1) -> None:
        """Queue an event (lock held). Free when nobody listens to ``name``."""
        if name in self.events.wanted:
            if isinstance(entry_or_key, Entry):
                self._pending.append(KeyspaceEvent(name, entry_or_key.key, entry_or_key.db))
            else:
                self._pending.append(KeyspaceEvent(name, entry_or_key, db))

    def subscribe(
        self, callback: Subscriber, events: Collection[str] | None = None
    ) -> Callable[[], None]:
        return self.events.subscribe(callback, events)

    # ------------------------------------------------------------------ sizing

    def entry_size(self, key: str, payload: bytes, has_ttl: bool) -> int:
        """Bytes one entry costs under this store's policy and expiry strategy."""
        overhead = self._volatile_overhead if has_ttl else self._plain_overhead
        return _getsizeof(key) + _getsizeof(payload) + overhead

    # ------------------------------------------------------------------ removal (lock held)

    def _remove(self, entry: Entry) -> None:
        """Take ``entry`` out of every structure (lock held). No stats, no events."""
        keyspace = self.keyspaces[entry.db]
        keyspace.remove(entry)
        if not keyspace.data:
            self._refresh_populated()
        self.used_memory -= entry.size
        self.key_count -= 1
        if self._policy_tracks_delete:
            self.policy.on_delete(entry)
        if self._expiry_tracks_delete and entry.deadline is not None:
            self.expiry.on_delete(entry)
        # Drop the value now: index records that still point at the removed entry (the
        # deadline heap, exact-mode heaps, the eviction pool) are discarded lazily, and must not
        # keep a large value alive until then. A lock-free reader that raced this removal sees
        # RELEASED and reports a miss.
        payload = entry.payload
        entry.payload = RELEASED
        if self._lazyfree_threshold and len(payload) >= self._lazyfree_threshold:
            self._lazyfree(payload)

    def _refresh_populated(self) -> None:
        self.populated = [ks for ks in self.keyspaces if ks.data]

    def _lazyfree(self, garbage: Entry | list[Entry] | list[bytes] | bytes) -> None:
        """Lazy free (spec §8, lock held): a removed value of at least ``lazyfree_threshold``
        bytes, or a big flushed database, is released by a background thread instead of on the
        request path (``info()``: ``lazyfree_pending_objects``, ``lazyfreed_objects``)."""
        if self.config.lazyfree_threshold:
            release_lazily(self, garbage)

    def expire_entry(self, entry: Entry) -> None:
        """Delete an entry whose deadline passed (lock held): ``expired`` event, counter."""
        self._remove(entry)
        self.stats.expired_keys += 1
        self._emit("expired", entry)

    def evict_entry(self, entry: Entry) -> None:
        """Delete an entry chosen by the policy (lock held): ``evicted`` event, counter."""
        self._remove(entry)
        stats = self.stats
        stats.evicted_keys += 1
        stats.evicted_bytes += entry.size
        if self.events.wanted:  # skip the call when nobody listens (once per eviction)
            self._emit("evicted", entry)

    def _delete_entry(self, entry: Entry) -> None:
        self._remove(entry)
        self._emit("del", entry)

    def _live(self, keyspace: Keyspace, key: str, now: float) -> Entry | None:
        """The unexpired entry for ``key`` (lock held), lazily expiring a stale one."""
        entry = keyspace.data.get(key)
        if entry is not None and entry.deadline is not None and now > entry.deadline:
            self.expire_entry(entry)
            return None
        return entry

    # ------------------------------------------------------------------ reads (lock-free)

    def lookup(self, db: int, key: str, touch: bool = True) -> bytes | None:
        """The payload stored under ``key`` or None; counts a hit or miss and, unless
        ``touch`` is false (Redis's CLIENT NO-TOUCH), refreshes the key's LRU/LFU data."""
        payload: bytes | None = self._readers[bool(touch)][db](key)
        return payload

    def reader(
        self,
        db: int,
        touch: bool = True,
        prefix: str = "",
        decode: Callable[[bytes], Any] | None = None,
    ) -> Callable[[str], Any]:
        """The read path as a function of one key: ``reader(db)(key)`` is ``lookup(db, key)``;
        ``reader(db, touch, prefix, decode)`` reads ``prefix + key`` and returns
        ``decode(payload)`` on a hit (None on a miss).

        Everything a read needs is bound in closure cells (the database's dict, the clock,
        the counters, the access hook), so a hit costs one Python frame and no attribute
        lookups; adapters keep one per (database, prefix) for their hot ``get``.
        """
        data = self._dicts[db]
        clock = self._time
        hit, miss = self.hits.hit, self.hits.miss
        events = self.events
        sequence = self._stamp_sequence if touch else None
        hook = self._on_access if touch and sequence is None else None
        locked_hook = hook is not None and not self._lock_free_reads
        # The lock is looked up at call time, never captured: a forked child replaces it.
        # The rare paths reach the store through a weak reference: the store keeps its own
        # readers, and a strong one would make a cycle that only the cyclic GC could free.
        store_ref = weakref.ref(self)

        def read(key: str) -> Any:
            if prefix:
                key = prefix + key
            entry = data.get(key)
            if entry is not None:
                now = clock()
                deadline = entry.deadline
                payload = entry.payload
                if payload is RELEASED:
                    # Removed since we found it (an overwrite may have replaced it): look again
                    # once. Removed entries are never reinserted, so this ends.
                    entry = data.get(key)
                    if entry is not None:
                        deadline = entry.deadline
                        payload = entry.payload
                if entry is not None and (deadline is None or now <= deadline):
                    if payload is not RELEASED:
                        if sequence is not None:
                            # RecencyStamp.stamp() written out: the most common access hook.
                            entry.atime = now
                            entry.aseq = next(sequence)
                        elif hook is not None:
                            if locked_hook:
                                locked_store = store_ref()
                                if locked_store is not None:
                                    with locked_store._lock:
                                        if entry.pos >= 0:
                                            hook(entry, now)
                            else:
                                hook(entry, now)
                        next(hit)
                        if decode is not None:
                            return decode(payload)
                        return payload
                elif entry is not None:
                    store = store_ref()
                    if store is not None:
                        store._expire_if_stale(entry, now)
            next(miss)
            if "keymiss" in events.wanted:
                store = store_ref()
                if store is not None:
                    store._emit_keymiss(key, db)
            return None

        return read

    def _emit_keymiss(self, key: str, db: int) -> None:
        with self.locked():
            self._emit("keymiss", key, db)

    def peek(self, db: int, key: str) -> Entry | None:
        """The live entry without touching it or counting (Redis's NOTOUCH lookups)."""
        entry = self.keyspaces[db].data.get(key)
        if entry is not None and entry.deadline is not None:
            now = self._time()
            if now > entry.deadline:
                self._expire_if_stale(entry, now)
                return None
        return entry

    def _expire_if_stale(self, entry: Entry, now: float) -> None:
        with self.locked():
            keyspace = self.keyspaces[entry.db]
            if keyspace.data.get(entry.key) is entry:
                self._live(keyspace, entry.key, now)

    # ------------------------------------------------------------------ writes

    def deadline_for(self, ttl: float | None, now: float) -> float | None:
        """Absolute deadline for a relative TTL in seconds (None = no expiry)."""
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
            raise TypeError(f"A TTL must be a number of seconds or None, got {ttl!r}.")
        if math.isnan(ttl):
            raise ValueError("A TTL must be a number of seconds, got NaN.")
        if math.isinf(ttl):
            if ttl > 0:
                return None
            return now
        return now + ttl

    def write(
        self,
        db: int,
        key: str,
        payload: bytes,
        ttl: float | None = None,
        *,
        deadline: float | _KeepTTL | None = KEEP_TTL,
        keepttl: bool = False,
        only_if_missing: bool = False,
        only_if_present: bool = False,
    ) -> bool:
        """Store ``payload`` (Redis's SET with NX/XX/KEEPTTL/EX/PXAT). Returns False when an
        NX/XX condition prevented the write. A TTL <= 0 stores nothing and deletes the key."""
        # The general write path (writer() takes the common cases): the lock is taken inline.
        self._lock.acquire()
        try:
            now = self._time()
            keyspace = self.keyspaces[db]
            old = keyspace.data.get(key)
            if old is not None and old.deadline is not None and now > old.deadline:
                self.expire_entry(old)
                old = None
            if only_if_missing and old is not None:
                return False
            if only_if_present and old is None:
                return False
            if keepttl and old is not None:
                new_deadline = old.deadline
            elif deadline is not KEEP_TTL:
                new_deadline = deadline  # type: ignore[assignment]
            elif ttl is None:
                new_deadline = None
            elif (type(ttl) is float or type(ttl) is int) and -_FINITE < ttl < _FINITE:
                new_deadline = now + ttl
            else:
                new_deadline = self.deadline_for(ttl, now)  # validates and handles inf
            if new_deadline is None:
                size = _getsizeof(key) + _getsizeof(payload) + self._plain_overhead
            elif new_deadline > now:
                size = _getsizeof(key) + _getsizeof(payload) + self._volatile_overhead
            else:
                # Redis: a deadline that already passed deletes the key (event "del").
                if old is not None:
                    self._delete_entry(old)
                return True
            # The common case (room to spare, no entry bound) skips _make_room entirely.
            limit = self._limit
            existed = old is not None
            if limit and self.used_memory - (old.size if old else 0) + size > limit:
                old = self._make_room(keyspace, key, size, old, now)
            elif (
                old is None
                and self._max_entries is not None
                and self.key_count >= self._max_entries
            ):
                # Only the entry bound binds: what _make_room would do, minus its byte checks.
                self._cull(key, now)
            if old is None:
                entry = self._insert(
                    keyspace, key, payload, size, new_deadline, now, is_new=not existed
                )
            else:
                entry = old
                self._replace(keyspace, old, payload, size, new_deadline, now)
                if self.events.wanted:
                    self._emit("set", old)
            if new_deadline is not None and not keepttl and self.events.wanted:
                self._emit("expire", entry)  # Redis's SET ... EX announces both
            if self.used_memory > self.stats.used_memory_peak:
                self.stats.used_memory_peak = self.used_memory
        finally:
            self._unlock()
        if self._after_operation is not None:
            self._after_operation(now)
        return True

    def writer(
        self, db: int, prefix: str = "", encode: Callable[[Any], bytes] | None = None
    ) -> Callable[[str, Any, float | None], None]:
        """The plain SET path as a function: ``writer(db)(key, payload, ttl)`` is
        ``write(db, key, payload, ttl)``; ``writer(db, prefix, encode)`` writes
        ``encode(value)`` under ``prefix + key`` (encoding happens before the lock is taken,
        and an encoding error leaves the cache unchanged).

        Adapters' ``set`` is the hottest write: this closure runs it in one Python frame, with
        :meth:`_insert`, :meth:`_replace`, :meth:`Keyspace.insert` and the recency stamp written
        out and everything they read bound in cells. Eviction is not duplicated: when the write
        needs room it calls :meth:`_make_room` / :meth:`_cull` as :meth:`write` does. Whatever
        the closure does not handle itself (keyspace events being listened to, a TTL that is
        not a positive finite number) goes to :meth:`write` unchanged, so both paths are one
        behaviour (the contract suites run through this one, and a differential test drives
        both side by side on every policy).
        """
        keyspace = self.keyspaces[db]
        data = keyspace.data
        # The keyspace's sampling arrays, appended to as Keyspace.insert() does (they live as
        # long as the keyspace: clear() empties them in place).
        entries = keyspace.all_entries()
        index_volatile = keyspace.index_volatile
        volatile = keyspace._volatile  # the TTL sampling array (empty when not indexed)
        clock = self._time
        events = self.events
        stats = self.stats
        limit, max_entries = self._limit, self._max_entries
        plain_overhead, volatile_overhead = self._plain_overhead, self._volatile_overhead
        lazyfree_threshold = self._lazyfree_threshold
        policy, expiry = self.policy, self.expiry
        on_insert, on_access = policy.on_insert, policy.on_access
        ttl_set = expiry.on_ttl_set
        # The timed strategies' in-order lane, appended to here in the usual case (a new TTL
        # key whose deadline is the latest so far) instead of calling on_ttl_set().
        timed = expiry if isinstance(expiry, TimedExpiry) else None
        lane_deadlines, lane_entries = (
            timed.in_order_lane() if timed is not None else (deque(), deque())
        )
        # The recency stamp (every LRU/random/TTL policy's hook) is inlined, as in reader().
        stamps = (
            getattr(on_insert, "__func__", None) is RecencyStamp.stamp
            and getattr(on_access, "__func__", None) is RecencyStamp.stamp
        )
        sequence = on_insert.__self__.sequence if stamps else None  # type: ignore[attr-defined]
        # A policy that watches deadlines is told of a changed one, as _set_deadline() does.
        ttl_aware = self._policy_tracks_ttl
        # pickle.dumps at a fixed protocol, called here without the encoder's frame.
        pickle_protocol: int | None = getattr(encode, "pickle_protocol", None)
        pickle_dumps = pickle.dumps
        # sys.getsizeof(key) + sys.getsizeof(payload), for an ASCII str key and bytes payload.
        base_size = ASCII_STR_BASE + BYTES_BASE
        store = self
        spares = self.spare_entries
        slow_write = self.write
        after_operation = self._after_operation
        # An inline driver's hook returns at once until its next_time: compare here instead of
        # calling it after every write (the common case by far).
        gate = getattr(after_operation, "__self__", None)
        if not (
            isinstance(gate, InlineDriver)
            and getattr(after_operation, "__func__", None) is InlineDriver.after_operation
        ):
            gate = None

        def write(key: str, payload: Any, ttl: float | None) -> None:
            if pickle_protocol is not None:
                payload = pickle_dumps(payload, pickle_protocol)
            elif encode is not None:
                payload = encode(payload)
            if prefix:
                key = prefix + key
            if events.wanted:
                slow_write(db, key, payload, ttl)
                return
            if ttl is not None and not (
                (type(ttl) is float or type(ttl) is int) and 0 < ttl < _FINITE
            ):
                slow_write(db, key, payload, ttl)  # validates, handles <= 0 and infinities
                return
            lock = store._lock  # looked up per call: a forked child has a new lock
            lock.acquire()
            try:
                now = clock()
                if type(key) is str and type(payload) is bytes and key.isascii():
                    size = base_size + len(key) + len(payload)  # = the two getsizeof() calls
                else:
                    size = _getsizeof(key) + _getsizeof(payload)
                if ttl is None:
                    deadline = None
                    size += plain_overhead
                else:
                    deadline = now + ttl
                    size += volatile_overhead
                old = data.get(key)
                if old is not None and old.deadline is not None and now > old.deadline:
                    store.expire_entry(old)
                    old = None
                if deadline is not None and deadline <= now:
                    # A TTL too small to move the clock: already expired, as in write().
                    if old is not None:
                        store._delete_entry(old)
                    return
                if limit and store.used_memory - (old.size if old else 0) + size > limit:
                    old = store._make_room(keyspace, key, size, old, now)
                elif old is None and max_entries is not None and store.key_count >= max_entries:
                    store._cull(key, now)
                if old is None:
                    # _insert() and Keyspace.insert(), written out; the recency stamp is given
                    # to the constructor.
                    if sequence is not None:
                        atime, aseq = now, next(sequence)
                    else:
                        atime, aseq = 0.0, 0  # the policy's on_insert() stamps the entry
                    pos = len(entries)
                    vpos = len(volatile) if deadline is not None and index_volatile else -1
                    if spares:  # a removed entry nothing holds any more (keep_spares)
                        entry = spares.pop()
                        Entry.__init__(
                            entry, key, payload, size, deadline, db, pos, vpos, atime, aseq
                        )
                    else:
                        entry = Entry(key, payload, size, deadline, db, pos, vpos, atime, aseq)
                    if vpos >= 0:
                        volatile.append(entry)
                    if deadline is not None:
                        keyspace.volatile_count += 1
                        keyspace.volatile_memory += size
                    data[key] = entry
                    entries.append(entry)
                    keyspace.memory += size
                    if len(data) == 1:
                        store._refresh_populated()
                    used = store.used_memory = store.used_memory + size
                    store.key_count += 1
                    if sequence is None:
                        on_insert(entry, now)
                    if deadline is not None:
                        if (
                            lane_deadlines  # non-empty: only a timed strategy's lane can be
                            and deadline >= lane_deadlines[-1]
                            and timed is not None
                            and len(lane_deadlines) < timed.lane_limit
                        ):
                            lane_deadlines.append(deadline)  # TimedExpiry.on_ttl_set, inlined
                            lane_entries.append(entry)
                        else:
                            ttl_set(entry, None)
                    if used > stats.used_memory_peak:
                        stats.used_memory_peak = used
                else:
                    # _replace(), written out.
                    delta = size - old.size
                    store.used_memory += delta
                    old.size = size
                    keyspace.memory += delta
                    previous = old.deadline
                    if previous is not None:
                        keyspace.volatile_memory += delta
                    if lazyfree_threshold and len(old.payload) >= lazyfree_threshold:
                        store._lazyfree(old.payload)
                    old.payload = payload
                    if previous != deadline:
                        if previous is None or deadline is None or ttl_aware:
                            # TTL gained or lost, or a policy that ranks by deadline.
                            store._set_deadline(keyspace, old, deadline)
                        else:
                            old.deadline = deadline
                            ttl_set(old, previous)
                    if sequence is not None:
                        old.atime = now
                        old.aseq = next(sequence)
                    else:
                        on_access(old, now)
                    if delta > 0 and store.used_memory > stats.used_memory_peak:
                        stats.used_memory_peak = store.used_memory
            finally:
                # _unlock(), written out (one call less per write).
                pending = store._pending
                if pending:
                    store._pending = []
                lock.release()
                if pending:
                    store.events.publish(pending)
            if after_operation is not None and (gate is None or now >= gate.next_time):
                after_operation(now)

        return write

    def _insert(
        self,
        keyspace: Keyspace,
        key: str,
        payload: bytes,
        size: int,
        deadline: float | None,
        now: float,
        *,
        event: str = "set",
        is_new: bool = True,
    ) -> Entry:
        """Add a new entry (lock held), announcing ``new`` (if the key did not exist before
        this command) and then the command's own event."""
        if self.spare_entries:
            entry = self.spare_entries.pop()
            Entry.__init__(entry, key, payload, size, deadline, keyspace.db)
        else:
            entry = Entry(key, payload, size, deadline, keyspace.db)
        keyspace.insert(entry)
        if len(keyspace.data) == 1:
            self._refresh_populated()
        self.used_memory += size
        self.key_count += 1
        self.policy.on_insert(entry, now)
        if deadline is not None:
            self.expiry.on_ttl_set(entry, None)
        if self.events.wanted:
            if is_new:
                self._emit("new", entry)
            self._emit(event, entry)
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
        """Overwrite in place: the key keeps its LFU history, as Redis's SET does."""
        self.used_memory += size - entry.size
        keyspace.resize(entry, size)
        if self._lazyfree_threshold and len(entry.payload) >= self._lazyfree_threshold:
            self._lazyfree(entry.payload)
        entry.payload = payload
        if entry.deadline != deadline:
            self._set_deadline(keyspace, entry, deadline)
        self.policy.on_access(entry, now)

    def _set_deadline(self, keyspace: Keyspace, entry: Entry, deadline: float | None) -> None:
        previous = entry.deadline
        if previous == deadline:
            return
        keyspace.set_deadline(entry, deadline)
        if self._policy_tracks_ttl:
            self.policy.on_ttl_change(entry, previous)
        if deadline is None:
            self.expiry.on_ttl_cleared(entry)
        else:
            self.expiry.on_ttl_set(entry, previous)

    def _make_room(
        self,
        keyspace: Keyspace,
        key: str,
        size: int,
        old: Entry | None,
        now: float,
        *,
        reinserting: bool = True,
    ) -> Entry | None:
        """Evict until an entry of ``size`` bytes fits in place of ``old`` (lock held).

        Everything that could make the write fail is decided before the first eviction, so a
        failed write leaves the cache unchanged. Returns ``old``, or None if the policy chose
        the very key being overwritten (it is then dropped silently, as part of the overwrite).
        """
        config = self.config
        limit = config.maxmemory
        policy = self.policy
        keyspaces = self.populated
        old_size = old.size if old is not None else 0
        if limit:
            if size > limit:
                self.stats.rejected_writes += 1
                raise ValueTooLargeError(
                    f"Cannot store key {key!r}: the entry needs {size} bytes but maxmemory is "
                    f"{limit} bytes ({format_bytes(limit)}); no eviction can make it fit.",
                    key=key,
                    size=size,
                )
            needed = self.used_memory - old_size + size - limit
            if needed > 0:
                # A policy that may evict any key can always make room (size <= limit), so
                # only restricted policies pay for counting their candidates' bytes.
                if self._evicts_any_key:
                    evictable = needed
                else:
                    evictable = policy.candidate_bytes(keyspaces)
                    if old is not None and policy.is_candidate(old):
                        evictable -= old_size
                if evictable < needed:
                    self.stats.rejected_writes += 1
                    raise OutOfMemoryError(self._oom_message(key, needed), key=key, needed=needed)
                evicted: list[Entry] = []
                while self.used_memory - old_size + size > limit:
                    victim = policy.select_victim(keyspaces, now)
                    if victim is None:  # pragma: no cover - accounting guarantees a victim
                        raise OutOfMemoryError(self._oom_message(key, needed), key=key)
                    if victim is old:
                        if not reinserting:
                            # Growing in place (a TTL being added): the key itself is the
                            # best victim, so it is evicted and nothing is admitted.
                            self.evict_entry(old)
                            return None
                        # Overwriting: the old version goes as part of the overwrite.
                        self._remove(old)
                        old, old_size = None, 0
                        continue
                    self.evict_entry(victim)
                    evicted.append(victim)
                victim = None  # the last victim too may be reused
                keep_spares(evicted, self.spare_entries)
        if old is None and config.max_entries is not None and self.key_count >= config.max_entries:
            self._cull(key, now)
        return old

    def _cull(self, key: str, now: float) -> None:
        """Entry-count bound reached: evict a batch (Django's CULL_FREQUENCY semantics)."""
        frequency = self.config.cull_frequency
        if self._evicts_any_key:
            candidates = self.key_count
        else:
            candidates = self.policy.candidate_count(self.populated)
        if candidates == 0:
            self.stats.rejected_writes += 1
            raise OutOfMemoryError(
                f"Cannot store key {key!r}: max_entries={self.config.max_entries} is reached and "
                f"policy {self.policy.describe()!r} has no key it may evict.",
                key=key,
            )
        if frequency is None:  # one at a time, like Redis: no generator for a single victim
            victim = self.policy.select_victim(self.populated, now)
            if victim is not None:
                self.evict_entry(victim)
                evicted = [victim]
                victim = None
                keep_spares(evicted, self.spare_entries)
            return
        # CULL_FREQUENCY 0 empties the cache (Django's meaning); N evicts a 1/N batch.
        count = candidates if frequency == 0 else max(1, self.key_count // frequency)
        evicted = self._evict_all(
            self.policy.select_victims(self.populated, now, min(count, candidates))
        )
        keep_spares(evicted, self.spare_entries)  # the victims' iterator is gone by now

    def _evict_all(self, victims: Iterable[Entry]) -> list[Entry]:
        """:meth:`evict_entry` for each victim in turn (lock held), with :meth:`_remove`
        written out and the counters summed once: a Django cull evicts a third of the keys in
        one write. Each victim is removed before the next is asked for, as
        :meth:`EvictionPolicy.select_victims` promises. Returns the victims that may be
        reused (:func:`keep_spares`): those whose last holder is not the expiry index."""
        keyspaces = self.keyspaces
        policy_on_delete = self.policy.on_delete if self._policy_tracks_delete else None
        expiry_on_delete = self.expiry.on_delete if self._expiry_tracks_delete else None
        threshold = self._lazyfree_threshold
        wanted = self.events.wanted
        count = freed = 0
        emptied = False
        evicted: list[Entry] = []
        # An index that keeps records of removed keys (the timed deadline index) holds TTL
        # victims after this and hands them to keep_spares() itself when it drops the records.
        retained = self.expiry.retains_removed_entries
        # The victim's keyspace and its containers, looked up again only when the db changes
        # (a batch usually comes from one database).
        db = -1
        keyspace = keyspaces[0]
        data, items, volatile = keyspace.data, keyspace.all_entries(), keyspace._volatile
        for entry in victims:
            if entry.db != db:
                db = entry.db
                keyspace = keyspaces[db]
                data = keyspace.data
                items, volatile = keyspace.all_entries(), keyspace._volatile
            # Keyspace.remove(), written out: this loop runs once per evicted key.
            del data[entry.key]
            size = entry.size
            last = items.pop()
            if last is not entry:
                items[entry.pos] = last
                last.pos = entry.pos
            entry.pos = -1
            keyspace.memory -= size
            if entry.deadline is not None:
                keyspace.volatile_count -= 1
                keyspace.volatile_memory -= size
                vpos = entry.vpos
                if vpos >= 0:
                    last = volatile.pop()
                    if last is not entry:
                        volatile[vpos] = last
                        last.vpos = vpos
                    entry.vpos = -1
            if not data:
                emptied = True
            count += 1
            freed += size
            if policy_on_delete is not None:
                policy_on_delete(entry)
            if expiry_on_delete is not None and entry.deadline is not None:
                expiry_on_delete(entry)
            payload = entry.payload
            entry.payload = RELEASED
            if threshold and len(payload) >= threshold:
                self._lazyfree(payload)
            if wanted:
                self._emit("evicted", entry)
            if entry.deadline is None or not retained:
                evicted.append(entry)
        self.used_memory -= freed
        self.key_count -= count
        self.stats.evicted_keys += count
        self.stats.evicted_bytes += freed
        if emptied:
            self._refresh_populated()
        return evicted

    def _oom_message(self, key: str, needed: int) -> str:
        policy = self.policy
        reason = (
            "the policy is 'noeviction'"
            if not policy.evicts
            else f"policy {policy.describe()!r} can only evict keys that have a TTL, "
            f"and they hold too few bytes"
            if policy.volatile_only
            else f"policy {policy.describe()!r} has too few evictable bytes"
        )
        return (
            f"OOM command not allowed when used memory > 'maxmemory': storing key {key!r} needs "
            f"{needed} more bytes ({format_bytes(self.used_memory)} used of "
            f"{format_bytes(self.config.maxmemory)}) and {reason}."
        )

    # ------------------------------------------------------------------ other commands

    @_drives_expiry
    def delete(self, db: int, key: str) -> bool:
        """DEL: True if a live key was removed (a logically expired key returns False)."""
        with self.locked():
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, self._time())
            if entry is None:
                return False
            self._delete_entry(entry)
            return True

    @_drives_expiry
    def touch(self, db: int, key: str, deadline: float | _KeepTTL | None = KEEP_TTL) -> bool:
        """TOUCH (refresh LRU/LFU), optionally setting a new absolute deadline."""
        with self.locked():
            now = self._time()
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, now)
            if entry is None:
                return False
            if deadline is not KEEP_TTL:
                if deadline is not None and deadline <= now:  # type: ignore[operator]
                    self._delete_entry(entry)
                    return True
                gains_ttl = deadline is not None and entry.deadline is None
                if gains_ttl and not self._room_for_ttl(keyspace, entry, now):
                    return False
                if entry.deadline != deadline:  # touch(k, None) on a persistent key: silent
                    self._change_deadline(keyspace, entry, deadline)  # type: ignore[arg-type]
            self.policy.on_access(entry, now)
            return True

    def _room_for_ttl(self, keyspace: Keyspace, entry: Entry, now: float) -> bool:
        """Gaining a TTL costs index bytes: make room for them as any write would (lock
        held). False if the policy chose this very key as the victim: it is then evicted
        (``evicted`` event), since keeping it would break the byte limit."""
        if not self._limit:
            return True
        size = self.entry_size(entry.key, entry.payload, True)
        if self.used_memory - entry.size + size <= self._limit:
            return True
        return self._make_room(keyspace, entry.key, size, entry, now, reinserting=False) is not None

    def _change_deadline(self, keyspace: Keyspace, entry: Entry, deadline: float | None) -> None:
        """Set a deadline and fix the entry's size (a TTL costs index bytes)."""
        had_ttl = entry.deadline is not None
        if had_ttl != (deadline is not None):
            new_size = self.entry_size(entry.key, entry.payload, deadline is not None)
            self.used_memory += new_size - entry.size
            keyspace.resize(entry, new_size)
        self._set_deadline(keyspace, entry, deadline)
        self._emit("expire" if deadline is not None else "persist", entry)

    @_drives_expiry
    def expire(
        self,
        db: int,
        key: str,
        deadline: float,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        """PEXPIREAT with Redis's NX/XX/GT/LT rules (no TTL counts as infinite)."""
        if nx and (xx or gt or lt):
            raise ValueError("NX and XX, GT or LT options at the same time are not compatible")
        if gt and lt:
            raise ValueError("GT and LT options at the same time are not compatible")
        with self.locked():
            now = self._time()
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, now)
            if entry is None:
                return False
            current = entry.deadline
            if nx and current is not None:
                return False
            if xx and current is None:
                return False
            if gt and (current is None or deadline <= current):
                return False
            if lt and current is not None and deadline >= current:
                return False
            if deadline <= now:
                self._delete_entry(entry)
                return True
            if current is None and not self._room_for_ttl(keyspace, entry, now):
                return False
            self._change_deadline(keyspace, entry, deadline)
            return True

    @_drives_expiry
    def persist(self, db: int, key: str) -> bool:
        """PERSIST: remove the TTL. False if the key is missing or has none."""
        with self.locked():
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, self._time())
            if entry is None or entry.deadline is None:
                return False
            self._change_deadline(keyspace, entry, None)
            return True

    @_drives_expiry
    def update(
        self,
        db: int,
        key: str,
        transform: Callable[[bytes | None], bytes],
        *,
        event: str = "set",
    ) -> None:
        """Atomically replace a value computed from the current payload (None if missing),
        keeping the TTL: the basis of INCR/DECR."""
        with self.locked():
            now = self._time()
            keyspace = self.keyspaces[db]
            entry = self._live(keyspace, key, now)
            existed = entry is not None
            payload = transform(entry.payload if entry is not None else None)
            deadline = entry.deadline if entry is not None else None
            size = self.entry_size(key, payload, deadline is not None)
            entry = self._make_room(keyspace, key, size, entry, now)
            if entry is None:
                self._insert(
                    keyspace, key, payload, size, deadline, now, event=event, is_new=not existed
                )
            else:
                self._replace(keyspace, entry, payload, size, deadline, now)
                self._emit(event, entry)
            if self.used_memory > self.stats.used_memory_peak:
                self.stats.used_memory_peak = self.used_memory

    def flushdb(self, db: int) -> None:
        """Remove every key of one database."""
        with self.locked():
            keyspace = self.keyspaces[db]
            if all(ks is keyspace or not len(ks) for ks in self.keyspaces):
                self._flush_everything()
                return
            self.used_memory -= keyspace.memory
            self.key_count -= len(keyspace)
            removed = keyspace.clear()
            payloads: list[bytes] = []
            for entry in removed:
                self.policy.on_delete(entry)
                if self._expiry_tracks_delete and entry.deadline is not None:
                    self.expiry.on_delete(entry)
                payloads.append(entry.payload)  # as in _remove: stale index records must not
                entry.payload = RELEASED  # keep the values alive
            self._lazyfree(payloads)
            self._refresh_populated()

    def flushall(self) -> None:
        """Remove every key of every database."""
        with self.locked():
            self._flush_everything()

    def _flush_everything(self) -> None:
        for keyspace in self.keyspaces:
            self._lazyfree(keyspace.clear())
        self.used_memory = 0
        self.key_count = 0
        self.populated = []
        self.spare_entries.clear()  # in place: write closures hold this list
        self.policy.reset()
        self.expiry.reset()

    def keys(self, db: int) -> list[str]:
        """Live keys of one database (expired ones are skipped, not reclaimed)."""
        now = self._time()
        with self._lock:
            entries = list(self.keyspaces[db].data.values())
        return [e.key for e in entries if e.deadline is None or now <= e.deadline]

    def iter_entries(self) -> Iterator[Entry]:
        """Snapshot of every entry of every database (for tools and tests)."""
        with self._lock:
            snapshot = [e for ks in self.keyspaces for e in ks.data.values()]
        return iter(snapshot)

    # ------------------------------------------------------------------ introspection

    def idletime(self, db: int, key: str) -> float:
        """Seconds since the key was last accessed (Redis's OBJECT IDLETIME)."""
        entry = self.peek(db, key)
        if entry is None:
            raise KeyError(key)
        return max(0.0, self._time() - entry.atime)

    def frequency(self, db: int, key: str) -> int:
        """The decayed LFU counter (Redis's OBJECT FREQ); only under an LFU policy."""
        from .eviction.frequency import lfu_decay

        if "lfu" not in self.policy.describe():
            raise TypeError(
                "An LFU maxmemory-policy is not selected, access frequency not tracked."
            )
        entry = self.peek(db, key)
        if entry is None:
            raise KeyError(key)
        return lfu_decay(entry.lfu, entry.ldt, int(self._time() // 60), self.config.lfu_decay_time)

    def reset_stats(self) -> None:
        """Redis's CONFIG RESETSTAT."""
        with self._lock:
            self.stats.reset()
            self.stats.used_memory_peak = self.used_memory
        self.hits.reset()

    def info(self) -> dict[str, Any]:
        """Redis INFO fields (memory, stats, keyspace) as a dict."""
        hits, misses = self.hits.totals()
        now = self._time()
        with self._lock:
            stats = self.stats
            config = self.config
            info: dict[str, Any] = {
                "used_memory": self.used_memory,
                "used_memory_human": format_bytes(self.used_memory),
                "used_memory_peak": max(stats.used_memory_peak, self.used_memory),
                "used_memory_peak_human": format_bytes(
                    max(stats.used_memory_peak, self.used_memory)
                ),
                "maxmemory": config.maxmemory,
                "maxmemory_human": format_bytes(config.maxmemory),
                "maxmemory_policy": self.policy.describe(),
                "maxmemory_samples": config.maxmemory_samples,
                "eviction_mode": config.eviction_mode,
                "lfu_log_factor": config.lfu_log_factor,
                "lfu_decay_time": config.lfu_decay_time,
                "expiry": self.expiry.name or type(self.expiry).__qualname__,
                "hz": config.hz,
                "active_expire_effort": config.active_expire_effort,
                "keyspace_hits": hits,
                "keyspace_misses": misses,
                "expired_keys": stats.expired_keys,
                "evicted_keys": stats.evicted_keys,
                "evicted_bytes": stats.evicted_bytes,
                "rejected_writes": stats.rejected_writes,
                "expired_stale_perc": round(stats.expired_stale_perc * 100, 2),
                "expired_time_cap_reached_count": stats.expired_time_cap_reached_count,
                "expire_cycle_cpu_milliseconds": int(stats.expire_cycle_cpu_milliseconds),
                "lazyfree_pending_objects": stats.lazyfree_pending_objects,
                "lazyfreed_objects": stats.lazyfreed_objects,
                "spare_entries": len(self.spare_entries),
                "total_keys": self.key_count,
            }
            info.update(stats.extra)
            info.update(self.expiry.info())
            for keyspace in self.keyspaces:
                if len(keyspace):
                    info[f"db{keyspace.db}"] = {
                        "keys": len(keyspace),
                        "expires": keyspace.volatile_count,
                        "avg_ttl": self._avg_ttl_ms(keyspace, now),
                    }
        return info

    def _avg_ttl_ms(self, keyspace: Keyspace, now: float) -> int:
        if not keyspace.volatile_count:
            return 0
        if keyspace.volatile_count <= _AVG_TTL_SAMPLE:
            sample = keyspace.volatile_entries()
        elif keyspace.index_volatile:
            sample = keyspace.sample(Random(0), _AVG_TTL_SAMPLE, True)
        else:
            # No TTL index: sample all keys and keep those with a TTL (enough of them when
            # they are a fair share; the estimate is Redis's kind of approximation anyway).
            sample = keyspace.sample(Random(0), 4 * _AVG_TTL_SAMPLE, False)
        remaining = [max(0.0, e.deadline - now) for e in sample if e.deadline is not None]
        return int(1000 * sum(remaining) / len(remaining)) if remaining else 0

    def info_text(self) -> str:
        """The same report as Redis-INFO-style text (``# Section`` + ``field:value`` lines).

        Memory fields first, then configuration, then every counter (statistics added by an
        expiry strategy land in ``# Stats`` too), then one ``dbN:`` line per database.
        """
        info = self.info()
        memory = [
            "used_memory",
            "used_memory_human",
            "used_memory_peak",
            "used_memory_peak_human",
            "maxmemory",
            "maxmemory_human",
            "maxmemory_policy",
            "lazyfree_pending_objects",
            "lazyfreed_objects",
            "spare_entries",
        ]
        config = [
            "maxmemory_samples",
            "eviction_mode",
            "lfu_log_factor",
            "lfu_decay_time",
            "expiry",
            "hz",
            "active_expire_effort",
        ]
        scalars = {k: v for k, v in info.items() if not isinstance(v, dict)}
        stats = [name for name in scalars if name not in memory and name not in config]
        lines: list[str] = []
        for title, names in (("Memory", memory), ("Config", config), ("Stats", stats)):
            lines.append(f"# {title}")
            lines.extend(f"{name}:{scalars[name]}" for name in names if name in scalars)
            lines.append("")
        lines.append("# Keyspace")
        for name, value in info.items():
            if isinstance(value, dict):
                lines.append(f"{name}:" + ",".join(f"{k}={v}" for k, v in value.items()))
        return "\n".join(lines) + "\n"

    def check(self) -> list[str]:
        """Recount everything and return every inconsistency found (empty when healthy)."""
        problems: list[str] = []
        with self._lock:
            total = 0
            count = 0
            for keyspace in self.keyspaces:
                problems.extend(self._check_keyspace(keyspace))
                total += keyspace.memory
                count += len(keyspace)
            if total != self.used_memory:
                problems.append(f"used_memory is {self.used_memory} but entries sum to {total}")
            if count != self.key_count:
                problems.append(f"key_count is {self.key_count} but databases hold {count}")
            limit = self.config.maxmemory
            if limit and self.used_memory > limit:
                problems.append(f"used_memory {self.used_memory} exceeds maxmemory {limit}")
            if self.config.max_entries is not None and count > self.config.max_entries:
                problems.append(f"{count} keys exceed max_entries {self.config.max_entries}")
            spares = self.spare_entries
            if len(spares) > SPARE_ENTRIES_MAX:
                problems.append(f"{len(spares)} spare entries exceed {SPARE_ENTRIES_MAX}")
            if any(spare.pos >= 0 for spare in spares) or len({*map(id, spares)}) < len(spares):
                problems.append("a spare entry is still in a keyspace or listed twice")
            problems.extend(self.policy.check(self.keyspaces))
            problems.extend(self.expiry.check())
        return problems

    def _check_keyspace(self, keyspace: Keyspace) -> list[str]:
        problems: list[str] = []
        memory = volatile_memory = volatile = 0
        where = f"db{keyspace.db}"
        all_entries = keyspace.all_entries()
        if len(all_entries) != len(keyspace.data):
            problems.append(f"{where}: sampling array has {len(all_entries)} of {len(keyspace)}")
        for key, entry in keyspace.data.items():
            if entry.key != key or entry.db != keyspace.db:
                problems.append(f"{where}: entry {entry!r} filed under {key!r}")
            if not (0 <= entry.pos < len(all_entries)) or all_entries[entry.pos] is not entry:
                problems.append(f"{where}: key {key!r} has a wrong sampling position")
            expected = self.entry_size(key, entry.payload, entry.deadline is not None)
            if entry.size != expected:
                problems.append(f"{where}: key {key!r} accounted {entry.size} B, costs {expected}")
            memory += entry.size
            if entry.deadline is not None:
                volatile += 1
                volatile_memory += entry.size
                vpos = entry.vpos
                vols = keyspace._volatile
                if not keyspace.index_volatile:
                    if vpos != -1:
                        problems.append(f"{where}: key {key!r} has a TTL index slot, no index")
                elif not (0 <= vpos < len(vols)) or vols[vpos] is not entry:
                    problems.append(f"{where}: key {key!r} missing from the TTL index")
            elif entry.vpos != -1:
                problems.append(f"{where}: key {key!r} has no TTL but is in the TTL index")
        if memory != keyspace.memory:
            problems.append(f"{where}: memory counter {keyspace.memory} != sum {memory}")
        if keyspace.index_volatile and len(keyspace._volatile) != volatile:
            problems.append(f"{where}: TTL index has {len(keyspace._volatile)} of {volatile}")
        if volatile != keyspace.volatile_count:
            problems.append(
                f"{where}: TTL index has {keyspace.volatile_count}, {volatile} expected"
            )
        if volatile_memory != keyspace.volatile_memory:
            problems.append(
                f"{where}: volatile memory {keyspace.volatile_memory} != sum {volatile_memory}"
            )
        return problems

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop background work. The data stays readable; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self.expiry.stop()

    def _fork_prepare(self, timeout: float) -> bool:
        """Before fork(): hold the lock so the child copies a consistent keyspace."""
        return self._lock.acquire(timeout=timeout)

    def _fork_finish(self, held: bool, child: bool) -> None:
        """After fork(): the parent releases; the child starts with a fresh lock, since the
        thread that may still hold the inherited one does not exist in the child."""
        if child:
            self._lock = threading.Lock()
            self._pending = []
        elif held:
            self._lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn things down
            self.expiry.stop()
