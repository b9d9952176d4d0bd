"""The public cache object: a view on one database of a :class:`~cachepolicy.store.CacheStore`.

Design essay
============

cachepolicy re-implements Redis's memory management for in-process caches. Three pieces
compose (none knows the others' internals):

* the **keyspace** (:mod:`cachepolicy.keyspace`) stores serialized values per database with
  O(1) uniform sampling of all keys and of keys that have a TTL;
* an **eviction policy** (:mod:`cachepolicy.eviction`) ranks keys: Redis's eight
  ``maxmemory-policy`` values, each sampled with Redis's 16-slot pool or exact, or your own;
* an **expiry strategy** (:mod:`cachepolicy.expiry`) reclaims expired keys nobody reads.

The :class:`~cachepolicy.store.CacheStore` owns them, the lock and the byte accounting; this
class adds the value (de)serialization, done outside the lock, and the database selection.
Several views (Django aliases, Flask apps) can share one store and so one ``maxmemory``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from random import Random
from types import TracebackType
from typing import Any

from .clock import Clock
from .config import CacheConfig
from .errors import OutOfMemoryError, ValueTooLargeError
from .events import Subscriber
from .serializers import PickleSerializer
from .store import KEEP_TTL, CacheStore

__all__ = ["KEEP_TTL", "Cache"]


class Cache:
    """A byte-bounded cache with Redis's eviction policies, bound to one database.

    ``Cache(maxmemory="64mb", maxmemory_policy="allkeys-lfu")`` creates a private store;
    ``Cache(store=shared, db=1)`` views database 1 of an existing one. TTLs are seconds
    (float); ``None`` means no expiry and a TTL ``<= 0`` expires the key at once.
    """

    __slots__ = ("_dumps", "_loads", "_owns_store", "_read", "_set", "_touch", "db", "store")

    def __init__(
        self,
        *,
        store: CacheStore | None = None,
        db: int = 0,
        config: CacheConfig | None = None,
        clock: Clock | None = None,
        rng: Random | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> None:
        if store is None:
            store = CacheStore(config, clock=clock, rng=rng, seed=seed, **options)
            self._owns_store = True
        else:
            if config is not None or options or clock is not None or rng is not None:
                raise TypeError(
                    "Cache(store=...) takes the store's configuration; do not pass config, "
                    "clock, rng or options as well."
                )
            self._owns_store = False
        if isinstance(db, bool) or not isinstance(db, int) or not 0 <= db < len(store.keyspaces):
            raise ValueError(
                f"Database index {db!r} is out of range: this store has databases "
                f"0..{len(store.keyspaces) - 1}."
            )
        self.store = store
        self.db = db
        self._touch = True
        self._read = store._readers[True][db]
        serializer = store.serializer
        if isinstance(serializer, PickleSerializer):
            self._dumps, self._loads = serializer.fast_functions()
        else:
            self._dumps, self._loads = serializer.dumps, serializer.loads
        self._set = store.writer(db, encode=self._dumps)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **kwargs: Any) -> Cache:
        """Build from a settings mapping (keys in any case, dashes or underscores)."""
        return cls(config=CacheConfig.from_options(options), **kwargs)

    def select(self, db: int) -> Cache:
        """A view on database ``db`` of the same store (Redis's SELECT)."""
        view = Cache(store=self.store, db=db)
        view._touch = self._touch
        view._read = self.store._readers[self._touch][db]
        return view

    def no_touch(self) -> Cache:
        """A view whose reads do not refresh LRU/LFU data (Redis's CLIENT NO-TOUCH).

        For monitoring, warm-up checks and scans that must not make keys look hot. Hits and
        misses are still counted; :meth:`touch` still touches, as in Redis.
        """
        view = Cache(store=self.store, db=self.db)
        view._touch = False
        view._read = self.store._readers[False][self.db]
        return view

    @property
    def config(self) -> CacheConfig:
        return self.store.config

    # ------------------------------------------------------------------ reads

    def get(self, key: str, default: Any = None) -> Any:
        """The value for ``key``, or ``default``. Touches the key and counts a hit or miss."""
        payload = self._read(key)
        if payload is None:
            return default
        return self._loads(payload)

    def prefixed_getter(self, prefix: str = "") -> Callable[[str], Any]:
        """A ``get(key)`` function reading ``prefix + key`` (None on a miss), for adapters'
        hot paths: one Python frame per read instead of a method chain."""
        return self.store.reader(self.db, self._touch, prefix, decode=self._loads)

    def prefixed_setter(self, prefix: str = "") -> Callable[[str, Any, float | None], None]:
        """A ``set(key, value, ttl)`` function storing under ``prefix + key``, for adapters'
        hot paths: the store's :meth:`~cachepolicy.store.CacheStore.writer`, one Python frame
        per write. Serializer errors propagate and leave the cache unchanged."""
        return self.store.writer(self.db, prefix, self._dumps)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of the keys that exist."""
        read = self._read
        loads = self._loads
        found: dict[str, Any] = {}
        for key in keys:
            payload = read(key)
            if payload is not None:
                found[key] = loads(payload)
        return found

    def has(self, key: str) -> bool:
        """Whether ``key`` exists. Does not touch it or count a hit (Redis's EXISTS)."""
        return self.store.peek(self.db, key) is not None

    __contains__ = has

    def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires, None if it never does; KeyError if missing."""
        entry = self.store.peek(self.db, key)
        if entry is None:
            raise KeyError(key)
        if entry.deadline is None:
            return None
        return max(0.0, entry.deadline - self.store.clock.time())

    def expiretime(self, key: str) -> float | None:
        """The absolute deadline (epoch seconds), None if none; KeyError if missing."""
        entry = self.store.peek(self.db, key)
        if entry is None:
            raise KeyError(key)
        return entry.deadline

    def keys(self) -> list[str]:
        return self.store.keys(self.db)

    def __len__(self) -> int:
        """Keys in this database, counting expired keys not yet reclaimed (Redis's DBSIZE)."""
        return len(self.store.keyspaces[self.db])

    def idletime(self, key: str) -> float:
        """Seconds since ``key`` was last read or written (Redis's OBJECT IDLETIME)."""
        return self.store.idletime(self.db, key)

    def frequency(self, key: str) -> int:
        """The key's decayed LFU counter (Redis's OBJECT FREQ); LFU policies only."""
        return self.store.frequency(self.db, key)

    # ------------------------------------------------------------------ writes

    def set(self, key: str, value: Any, ttl: float | None = None, *, keepttl: bool = False) -> None:
        """Store ``value``. Raises OutOfMemoryError / ValueTooLargeError (cache unchanged), or
        the serializer's error for a value it cannot encode (cache unchanged)."""
        if keepttl:
            self.store.write(self.db, key, self._dumps(value), ttl, keepttl=True)
        else:
            self._set(key, value, ttl)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store only if ``key`` is absent (Redis's SET NX). True if stored."""
        return self.store.write(self.db, key, self._dumps(value), ttl, only_if_missing=True)

    def replace(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store only if ``key`` exists (Redis's SET XX). True if stored."""
        return self.store.write(self.db, key, self._dumps(value), ttl, only_if_present=True)

    def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> list[str]:
        """Store several values; returns the keys that did not fit (out of memory)."""
        failed: list[str] = []
        write = self._set
        for key, value in mapping.items():
            try:
                write(key, value, ttl)
            except (OutOfMemoryError, ValueTooLargeError):
                failed.append(key)
        return failed

    def delete(self, key: str) -> bool:
        """True if a live key was deleted (an expired, unreclaimed key counts as absent)."""
        return self.store.delete(self.db, key)

    def delete_many(self, keys: Iterable[str]) -> int:
        return sum(self.store.delete(self.db, key) for key in keys)

    def touch(self, key: str, ttl: float | None = KEEP_TTL) -> bool:
        """Refresh LRU/LFU; with ``ttl`` also set a new TTL (None = never expire).

        Giving a key its first TTL costs index bytes, so near ``maxmemory`` it can evict, or
        raise OutOfMemoryError / ValueTooLargeError like a write (the cache then unchanged).
        """
        if ttl is KEEP_TTL:
            return self.store.touch(self.db, key)
        return self.store.touch(self.db, key, self._deadline(ttl))

    def expire(
        self,
        key: str,
        ttl: float,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        """Set a TTL in seconds with Redis's NX/XX/GT/LT conditions; <= 0 deletes the key."""
        deadline = self._deadline(ttl)
        if deadline is None:
            raise ValueError(f"expire() needs a finite TTL in seconds, got {ttl!r}.")
        return self.store.expire(self.db, key, deadline, nx=nx, xx=xx, gt=gt, lt=lt)

    def expireat(self, key: str, when: float, **conditions: bool) -> bool:
        """Set an absolute deadline (epoch seconds); a past one deletes the key."""
        if not math.isfinite(when):
            raise ValueError(f"expireat() needs a finite time, got {when!r}.")
        return self.store.expire(self.db, key, float(when), **conditions)

    def persist(self, key: str) -> bool:
        """Remove the TTL. False if the key is missing or had none."""
        return self.store.persist(self.db, key)

    def incr(self, key: str, delta: int = 1, *, default: int | None = None) -> int:
        """Atomically add ``delta``; keeps the TTL. KeyError if missing and no ``default``."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"incr() needs an int delta, got {delta!r}.")
        result: list[int] = []
        loads, dumps = self._loads, self._dumps

        def add(payload: bytes | None) -> bytes:
            if payload is None:
                if default is None:
                    raise KeyError(key)
                current: Any = default
            else:
                current = loads(payload)
            if isinstance(current, bool) or not isinstance(current, int):
                raise TypeError(f"Key {key!r} holds {type(current).__name__}, not an integer.")
            result.append(current + delta)
            return dumps(current + delta)

        self.store.update(self.db, key, add, event="incrby")
        return result[0]

    def decr(self, key: str, delta: int = 1, *, default: int | None = None) -> int:
        """Atomically subtract ``delta`` (see :meth:`incr`)."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"decr() needs an int delta, got {delta!r}.")
        return self.incr(key, -delta, default=default)

    def clear(self) -> None:
        """Remove every key of this database (Redis's FLUSHDB)."""
        self.store.flushdb(self.db)

    def flushall(self) -> None:
        """Remove every key of every database of the store."""
        self.store.flushall()

    def _deadline(self, ttl: float | None) -> float | None:
        return self.store.deadline_for(ttl, self.store.clock.time())

    # ------------------------------------------------------------------ observability

    def info(self) -> dict[str, Any]:
        return self.store.info()

    def info_text(self) -> str:
        return self.store.info_text()

    def check(self) -> list[str]:
        return self.store.check()

    def subscribe(
        self, callback: Subscriber, events: Collection[str] | None = None
    ) -> Callable[[], None]:
        """Receive keyspace events of every database of the store; returns an unsubscriber."""
        return self.store.subscribe(callback, events)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop background work if this view created its store; shared stores stay up."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        config = self.store.config
        return (
            f"<Cache db={self.db} maxmemory={config.maxmemory} "
            f"policy={config.maxmemory_policy!r} keys={len(self)}>"
        )
