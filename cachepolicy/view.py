"""The public cache object: a view on one database of a :class:`~cachepolicy.store.CacheStore`.

Design essay
============

cachepolicy re-implements Redis's memory management for in-process caches. Three pieces
compose (none knows the others' internals):

* the **keyspace** (:mod:`cachepolicy._core.keyspace`) stores serialized values per database with
  O(1) uniform sampling of all keys and of keys that have a TTL;
* an **eviction policy** (:mod:`cachepolicy.eviction`) ranks keys: Redis's ten
  ``maxmemory-policy`` values, each sampled with Redis's 16-slot pool or exact, or your own;
* an **expiry strategy** (:mod:`cachepolicy.expiry`) reclaims expired keys nobody reads.

The engine (:class:`cachepolicy._core.engine.Engine`) owns them, the lock and the byte
accounting; the :class:`~cachepolicy.store.CacheStore` builds it and runs its lifecycle; this
class adds the value (de)serialization, done outside the lock, and the database selection.
Several views (Django aliases, Flask apps) can share one store and so one ``maxmemory``.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Collection, Iterable, Mapping
from random import Random
from types import TracebackType
from typing import Any

from ._core.accessor import Accessor, exact_key
from ._core.engine import NX, XX
from .clock import Clock
from .config import CacheConfig
from .errors import OutOfMemoryError, ValueTooLargeError, short_repr
from .events import Subscriber
from .recorder import DELETE, EXPIRE, NO_TTL, SET, TOUCH
from .serializers import Serializer, declared_pickle_protocol
from .store import CacheStore

__all__ = ["KEEP_TTL", "Cache"]


class _KeepTTL:
    """Sentinel: leave the key's TTL as it is."""

    def __repr__(self) -> str:
        return "KEEP_TTL"


KEEP_TTL: Any = _KeepTTL()


def _ttl_field(ttl: float | None) -> float:
    """A TTL as a recording writes it (:data:`cachepolicy.recorder.RECORD`)."""
    return NO_TTL if ttl is None else float(ttl)


def _loads_of(serializer: Serializer) -> Callable[[bytes], Any]:
    """What reads decode with: ``pickle.loads`` itself for a serializer that declares it
    pickles (its ``loads`` is ``pickle.loads`` by that declaration, and calling the C function
    directly saves a Python frame per hit: about a fifth of a core ``get``), else its own
    ``loads``."""
    return pickle.loads if declared_pickle_protocol(serializer) is not None else serializer.loads


class Cache:
    """A byte-bounded cache with Redis's eviction policies, bound to one database.

    ``Cache(maxmemory="64mb", maxmemory_policy="allkeys-lfu")`` creates a private store;
    ``Cache(store=shared, db=1)`` views database 1 of an existing one. TTLs are seconds
    (float); ``None`` means no expiry and a TTL ``<= 0`` expires the key at once.
    """

    # No __slots__: _bind() shadows ``get`` with an instance attribute (see there).

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
            if not isinstance(store, CacheStore):
                raise TypeError(f"Cache(store=...) takes a CacheStore, got {short_repr(store)}.")
            if config is not None or options or clock is not None or rng is not None:
                raise TypeError(
                    "Cache(store=...) takes the store's configuration; do not pass config, "
                    "clock, rng or options as well."
                )
            self._owns_store = False
        if isinstance(db, bool) or not isinstance(db, int) or not 0 <= db < len(store.keyspaces):
            raise ValueError(
                f"Database index {short_repr(db)} is out of range: this store has databases "
                f"0..{len(store.keyspaces) - 1}."
            )
        self.store = store
        self.db = db
        self._engine = store.engine
        serializer = store.serializer
        self._dumps, self._loads = serializer.dumps, _loads_of(serializer)
        self._touch = True
        #: The store's recorder: None (one attribute test) unless ``record`` is set.
        self._recorder = store.recorder
        self._bind()

    def _bind(self) -> None:
        """(Re)make the view's bound read and write paths. Unless a subclass overrides
        :meth:`get` or :meth:`set`, ``self.get`` and ``self.set`` become the compiled
        accessor's own bound methods, which do what these do without an interpreted frame per
        call (a fifth of a hit's cost, a tenth of an overwrite's); an override is always the
        one called."""
        self._access = self.accessor()
        cls = type(self)
        if cls.get is Cache.get:
            self.__dict__["get"] = self._access.get
        if cls.set is Cache.set:
            self.__dict__["set"] = self._access.set

    def accessor(self, prefix: str = "", serializer: Serializer | None = None) -> Accessor:
        """The bound read and write paths on ``prefix + key`` in this view's database.

        ``serializer`` (default: the store's) is the one its ``encode``, ``get`` and ``set``
        use. One that declares ``pickle_protocol`` (see
        :attr:`~cachepolicy.serializers.PickleSerializer.pickle_protocol`) is pickled by the
        engine's budgeted path, so a value too large for ``maxmemory`` is refused while it is
        pickled; any other one's ``dumps`` runs in full before the size is known.
        """
        if serializer is None:
            serializer = self.store.serializer
        protocol = declared_pickle_protocol(serializer)
        accessor = Accessor(
            self._engine,
            self.db,
            prefix,
            self._touch,
            _loads_of(serializer),
            serializer.dumps,
            -1 if protocol is None else protocol,
        )
        if self._recorder is not None:  # the same methods, each access noted
            return self._recorder.accessor(accessor)
        return accessor

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **kwargs: Any) -> Cache:
        """Build from a settings mapping (keys in any case, dashes or underscores)."""
        return cls(config=CacheConfig.from_options(options), **kwargs)

    def select(self, db: int) -> Cache:
        """A view on database ``db`` of the same store (Redis's SELECT)."""
        view = Cache(store=self.store, db=db)
        if not self._touch:
            view._touch = False
            view._bind()
        return view

    def no_touch(self) -> Cache:
        """A view whose reads do not refresh LRU/LFU data (Redis's CLIENT NO-TOUCH).

        For monitoring, warm-up checks and scans that must not make keys look hot. Hits and
        misses are still counted; :meth:`touch` still touches, as in Redis.
        """
        view = Cache(store=self.store, db=self.db)
        view._touch = False
        view._bind()
        return view

    @property
    def config(self) -> CacheConfig:
        return self.store.config

    # ------------------------------------------------------------------ reads

    def get(self, key: str, default: Any = None) -> Any:
        """The value for ``key``, or ``default``. Touches the key and counts a hit or miss.
        (Instances call the accessor's equivalent ``get`` directly: see :meth:`_bind`.)"""
        payload = self._access.get_payload(key)
        if payload is None:
            return default
        return self._loads(payload)

    def prefixed_getter(self, prefix: str = "") -> Callable[[str], Any]:
        """A bound ``get(key)`` reading ``prefix + key`` (None on a miss), for adapters'
        hot paths."""
        return self.accessor(prefix).get

    def prefixed_setter(self, prefix: str = "") -> Callable[[str, Any, float | None], bool]:
        """A bound ``set(key, value, ttl)`` storing under ``prefix + key``, for adapters'
        hot paths; False if the policy refused to admit a new key. Serializer errors propagate
        and leave the cache unchanged."""
        return self.accessor(prefix).set

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of the keys that exist. A non-``str`` key raises before any is read."""
        checked = [key if type(key) is str else exact_key(key) for key in keys]
        read = self._access.get_payload
        loads = self._loads
        found: dict[str, Any] = {}
        for key in checked:
            payload = read(key)
            if payload is not None:
                found[key] = loads(payload)
        return found

    def has(self, key: str) -> bool:
        """Whether ``key`` exists. Does not touch it or count a hit (Redis's EXISTS)."""
        if type(key) is not str:
            key = exact_key(key)
        return self._engine.peek(self.db, key) is not None

    __contains__ = has

    def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires, None if it never does; KeyError if missing."""
        if type(key) is not str:
            key = exact_key(key)
        entry = self._engine.peek(self.db, key)
        if entry is None:
            raise KeyError(key)
        if entry.deadline is None:
            return None
        return max(0.0, entry.deadline - self._engine.time())

    def expiretime(self, key: str) -> float | None:
        """The absolute deadline (epoch seconds), None if none; KeyError if missing.

        Deadlines are kept on the monotonic clock; this converts with the wall clock's offset
        now, so after a wall-clock step the answer moves with it (``ttl()`` does not)."""
        if type(key) is not str:
            key = exact_key(key)
        entry = self._engine.peek(self.db, key)
        if entry is None:
            raise KeyError(key)
        deadline = entry.deadline
        return None if deadline is None else self.store.wall.to_wall(deadline)

    def keys(self) -> list[str]:
        return self._engine.keys(self.db)

    def __len__(self) -> int:
        """Keys in this database, counting expired keys not yet reclaimed (Redis's DBSIZE)."""
        return len(self.store.keyspaces[self.db])

    def idletime(self, key: str) -> float:
        """Seconds since ``key`` was last read or written (Redis's OBJECT IDLETIME)."""
        if type(key) is not str:
            key = exact_key(key)
        entry = self._engine.peek(self.db, key)
        if entry is None:
            raise KeyError(key)
        return max(0.0, self._engine.time() - entry.atime)

    def frequency(self, key: str) -> int:
        """The key's decayed LFU counter (Redis's OBJECT FREQ); LFU policies only."""
        if type(key) is not str:
            key = exact_key(key)
        return self._engine.frequency(self.db, key)

    # ------------------------------------------------------------------ writes

    def set(self, key: str, value: Any, ttl: float | None = None, *, keepttl: bool = False) -> bool:
        """Store ``value``; ``keepttl=True`` keeps the key's TTL (Redis's SET KEEPTTL; no
        ``ttl`` then). True if stored; False if the eviction policy refused to admit a new key
        (``admit``: nothing changed). Raises OutOfMemoryError / ValueTooLargeError (cache
        unchanged), or the serializer's error for a value it cannot encode (cache unchanged).
        (Instances call the accessor's equivalent ``set`` directly: see :meth:`_bind`.)"""
        return self._access.set(key, value, ttl, keepttl=keepttl)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store only if ``key`` is absent (Redis's SET NX). True if stored."""
        return self._write_if(key, value, ttl, NX)

    def replace(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store only if ``key`` exists (Redis's SET XX). True if stored."""
        return self._write_if(key, value, ttl, XX)

    def _write_if(self, key: str, value: Any, ttl: float | None, condition: int) -> bool:
        """SET NX / XX (``condition``), recorded when it stored."""
        if type(key) is not str:
            key = exact_key(key)
        if ttl is not None:  # a bad TTL is an error even when the condition skips the write
            self._engine.deadline_for(ttl, 0.0)
        payload = self._access.encode(value, key)
        stored = self._engine.write(self.db, key, payload, ttl, condition)
        if stored and self._recorder is not None:
            self._recorder.note(key, SET, len(payload), _ttl_field(ttl))
        return stored

    def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> list[str]:
        """Store several values; returns the keys that did not fit (out of memory).

        Serializing is all or nothing: every value is serialized before anything is stored, so
        a value that cannot be serialized raises and leaves the cache unchanged (Django's
        ``LocMemCache`` keeps the items before it), and so does a non-``str`` key (TypeError).
        Storing then goes item by item, in order, each like :meth:`set`: an item refused for
        lack of memory (``OutOfMemoryError`` under ``noeviction``, or a ``volatile-*`` policy
        with too few keys carrying a TTL) or too large for ``maxmemory`` at all is skipped and
        its key returned, while the items that fit, before and after it, are stored; under an
        evicting policy a later item may evict an earlier one of the same call."""
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"set_many() takes a mapping of keys to values (a dict), got "
                f"{type(mapping).__name__} {short_repr(mapping)}; for (key, value) pairs pass "
                "dict(pairs)."
            )
        encode = self._access.encode
        payloads: list[tuple[str, bytes | None]] = []
        for key, value in mapping.items():
            if type(key) is not str:
                key = exact_key(key)
            try:
                payloads.append((key, encode(value, key)))
            except ValueTooLargeError:  # refused while serializing: reported like a write
                payloads.append((key, None))
        failed: list[str] = []
        write = self._engine.write
        for key, payload in payloads:
            if payload is None:
                failed.append(key)
                continue
            try:
                write(self.db, key, payload, ttl, 0)
            except (OutOfMemoryError, ValueTooLargeError):
                failed.append(key)
                continue
            if self._recorder is not None:
                self._recorder.note(key, SET, len(payload), _ttl_field(ttl))
        return failed

    def delete(self, key: str) -> bool:
        """True if a live key was deleted (an expired, unreclaimed key counts as absent)."""
        if type(key) is not str:
            key = exact_key(key)
        if self._recorder is not None:
            self._recorder.note(key, DELETE, 0, NO_TTL)
        return self._engine.delete(self.db, key)

    def delete_many(self, keys: Iterable[str]) -> int:
        delete = self._engine.delete
        checked = [key if type(key) is str else exact_key(key) for key in keys]
        if self._recorder is not None:
            for key in checked:
                self._recorder.note(key, DELETE, 0, NO_TTL)
        return sum(delete(self.db, key) for key in checked)

    def touch(self, key: str, ttl: float | None = KEEP_TTL) -> bool:
        """Refresh LRU/LFU; with ``ttl`` also set a new TTL (None = never expire).

        Giving a key its first TTL costs index bytes, so near ``maxmemory`` it can evict, or
        raise OutOfMemoryError / ValueTooLargeError like a write (the cache then unchanged).
        """
        if type(key) is not str:
            key = exact_key(key)
        if self._recorder is not None:
            self._recorder.note(key, TOUCH, 0, math.nan if ttl is KEEP_TTL else _ttl_field(ttl))
        if ttl is KEEP_TTL:
            return self._engine.touch(self.db, key, None, True)
        return self._engine.touch(self.db, key, self._deadline(ttl), False)

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
        if type(key) is not str:
            key = exact_key(key)
        deadline = self._deadline(ttl)
        if deadline is None:
            raise ValueError(f"expire() needs a finite TTL in seconds, got {short_repr(ttl)}.")
        changed = self._engine.expire_at(self.db, key, deadline, nx, xx, gt, lt)
        if changed and self._recorder is not None:
            self._recorder.note(key, EXPIRE, 0, float(ttl))
        return changed

    def expireat(
        self,
        key: str,
        when: float,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> bool:
        """Set an absolute deadline (epoch seconds); a past one deletes the key."""
        if type(key) is not str:
            key = exact_key(key)
        if isinstance(when, bool) or not isinstance(when, (int, float)):
            raise TypeError(f"expireat() needs a time in epoch seconds, got {short_repr(when)}.")
        try:
            seconds = float(when)
        except OverflowError:  # an int beyond float range
            seconds = math.inf
        if not math.isfinite(seconds):
            raise ValueError(f"expireat() needs a finite time, got {short_repr(when)}.")
        deadline = self.store.wall.from_wall(seconds)
        changed = self._engine.expire_at(self.db, key, deadline, nx, xx, gt, lt)
        if changed and self._recorder is not None:
            self._recorder.note(key, EXPIRE, 0, deadline - self._engine.time())
        return changed

    def persist(self, key: str) -> bool:
        """Remove the TTL. False if the key is missing or had none."""
        if type(key) is not str:
            key = exact_key(key)
        persisted = self._engine.persist(self.db, key)
        if persisted and self._recorder is not None:
            self._recorder.note(key, EXPIRE, 0, NO_TTL)
        return persisted

    def incr(self, key: str, delta: int = 1, *, default: int | None = None) -> int:
        """Atomically add ``delta``; keeps the TTL. KeyError if missing and no ``default``."""
        if type(key) is not str:
            key = exact_key(key)
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"incr() needs an int delta, got {delta!r}.")
        if default is not None and (isinstance(default, bool) or not isinstance(default, int)):
            raise TypeError(
                f"incr() needs an int default (the value of a missing key), got "
                f"{type(default).__name__} {short_repr(default)}."
            )
        result: list[int] = []
        written: list[bytes] = []
        loads, dumps = self._loads, self._dumps

        def add(payload: bytes | None) -> bytes:
            if payload is None:
                if default is None:
                    raise KeyError(key)
                current: Any = default
            else:
                current = loads(payload)
            if isinstance(current, bool) or not isinstance(current, int):
                raise TypeError(
                    f"Key {short_repr(key)} holds {type(current).__name__}, not an integer."
                )
            result.append(current + delta)
            written.append(dumps(current + delta))
            return written[-1]

        self._engine.update(self.db, key, add, "incrby")
        if self._recorder is not None:  # a write that keeps the TTL
            self._recorder.note(key, SET, len(written[-1]), math.nan)
        return result[0]

    def decr(self, key: str, delta: int = 1, *, default: int | None = None) -> int:
        """Atomically subtract ``delta`` (see :meth:`incr`)."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"decr() needs an int delta, got {delta!r}.")
        return self.incr(key, -delta, default=default)

    def clear(self) -> None:
        """Remove every key of this database (Redis's FLUSHDB)."""
        self._engine.flushdb(self.db)

    def flushall(self) -> None:
        """Remove every key of every database of the store."""
        self._engine.flushall()

    def _deadline(self, ttl: float | None) -> float | None:
        return self._engine.deadline_for(ttl, self._engine.time())

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

    # ------------------------------------------------------------------ configuration

    def config_set(self, name: str, value: Any) -> CacheConfig:
        """Redis's ``CONFIG SET`` on the store this view belongs to (every database and every
        view sharing it): ``cache.config_set("maxmemory", "2mb")``. See
        :meth:`cachepolicy.store.CacheStore.reconfigure`; returns the new configuration."""
        return self.store.config_set(name, value)

    def config_get(self, name: str) -> Any:
        """Redis's ``CONFIG GET``: the value of one option in force on the store."""
        return self.store.config_get(name)
