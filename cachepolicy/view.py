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

from ._core.accessor import PENDING, REFRESH, Accessor, exact_key
from ._core.engine import NX, XX
from ._core.entry import RELEASED
from .clock import Clock
from .config import CacheConfig
from .envelope import Envelope, open_envelope
from .errors import OutOfMemoryError, ValueTooLargeError, short_repr
from .events import Subscriber
from .flight import (
    REFRESH_EARLY,
    SERVE,
    STAMPEDE_EVENTS,
    Codec,
    StampedeSettings,
    Steps,
    acompute_once,
    aon_judged,
    check_callable,
    compute_once,
    drop_if_same,
    judge,
    on_judged,
    read_verdict,
    unsealed,
)
from .recorder import DELETE, EXPIRE, NO_TTL, SET, TOUCH
from .serializers import Serializer, declared_pickle_protocol
from .store import CacheStore
from .tags import check_tags

__all__ = ["KEEP_TTL", "MISSED", "PENDING", "REFRESH", "UNREAD", "Cache"]


class _KeepTTL:
    """Sentinel: leave the key's TTL as it is."""

    def __repr__(self) -> str:
        return "KEEP_TTL"


KEEP_TTL: Any = _KeepTTL()

#: ``get_or_set(read=...)``: the key has not been read yet (the default), or
#: :meth:`~cachepolicy._core.accessor.Accessor.get_fresh` found it missing (its ``miss``).
UNREAD: Any = object()
MISSED: Any = object()


def _ttl_field(ttl: float | None) -> float:
    """A TTL as a recording writes it (:data:`cachepolicy.recorder.RECORD`)."""
    return NO_TTL if ttl is None else float(ttl)


def _loads_of(serializer: Serializer) -> Callable[[bytes], Any]:
    """What reads decode with: ``pickle.loads`` itself for a serializer that declares it
    pickles (its ``loads`` is ``pickle.loads`` by that declaration, and calling the C function
    directly saves a Python frame per hit: about a fifth of a core ``get``), else its own
    ``loads``."""
    return pickle.loads if declared_pickle_protocol(serializer) is not None else serializer.loads


class _ViewCodec:
    """The core view's :class:`~cachepolicy.flight.Codec`: its serializer, its store."""

    __slots__ = ("access", "loads")

    def __init__(self, access: Accessor) -> None:
        self.access = access
        self.loads = access.loads

    def encode(self, value: Any, key: str) -> bytes:
        return self.access.encode(value, key)

    def write(self, key: str, payload: bytes, ttl: float | None) -> None:
        self.access.set_payload(key, payload, ttl)  # recorded, when the store records


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
        stampede: StampedeSettings | None = None,
        **options: Any,
    ) -> None:
        if stampede is not None and not isinstance(stampede, StampedeSettings):
            raise TypeError(
                f"Cache(stampede=...) takes a cachepolicy.flight.StampedeSettings, got "
                f"{short_repr(stampede)}."
            )
        #: How :meth:`get_or_set` protects keys from stampedes (per view).
        self.stampede = stampede if stampede is not None else StampedeSettings()
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
        one called. Values in envelopes (``get_or_set``'s, tagged ones) are recognised there
        by their first byte and opened by the store's :class:`~cachepolicy.flight.Envelopes`:
        a plain value never leaves the compiled path."""
        self._access = self.accessor()
        self._codec: Codec = _ViewCodec(self._access)
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
            self.store.envelopes,
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
        view = Cache(store=self.store, db=db, stampede=self.stampede)
        if not self._touch:
            view._touch = False
            view._bind()
        return view

    def no_touch(self) -> Cache:
        """A view whose reads do not refresh LRU/LFU data (Redis's CLIENT NO-TOUCH).

        For monitoring, warm-up checks and scans that must not make keys look hot. Hits and
        misses are still counted; :meth:`touch` still touches, as in Redis.
        """
        view = Cache(store=self.store, db=self.db, stampede=self.stampede)
        view._touch = False
        view._bind()
        return view

    @property
    def config(self) -> CacheConfig:
        return self.store.config

    # ------------------------------------------------------------------ reads

    def get(self, key: str, default: Any = None) -> Any:
        """The value for ``key``, or ``default``. Touches the key and counts a hit or miss.
        A stale copy kept for serve-stale (``stale_grace``) and a value whose tag was
        invalidated are misses here. (Instances call the accessor's equivalent ``get``
        directly: see :meth:`_bind`.)"""
        return self._access.get(key, default)

    def prefixed_getter(self, prefix: str = "") -> Callable[[str], Any]:
        """A bound ``get(key)`` reading ``prefix + key`` (None on a miss), for adapters'
        hot paths."""
        return self.accessor(prefix).get

    def prefixed_setter(self, prefix: str = "") -> Callable[[str, Any, float | None], bool]:
        """A bound ``set(key, value, ttl)`` storing under ``prefix + key``, for adapters'
        hot paths; False if the policy refused to admit a new key. Serializer errors propagate
        and leave the cache unchanged."""
        return self.accessor(prefix).set

    def get_or_set(
        self,
        key: str,
        compute: Callable[[], Any],
        ttl: float | None = None,
        *,
        stampede: StampedeSettings | None = None,
        codec: Codec | None = None,
        tags: Iterable[str] | None = None,
        read: Any = UNREAD,
    ) -> Any:
        """The value of ``key``; on a miss, ``compute()`` it, store it with ``ttl`` (and
        ``tags``, see :meth:`invalidate_tags`) and return it, protected from stampedes
        (:mod:`cachepolicy.flight`; ``stampede`` overrides this view's
        :class:`~cachepolicy.flight.StampedeSettings` for the call):

        * single flight: however many threads miss the key at once, one computes and the
          others wait for its value (at most ``stampede_wait`` seconds);
        * early refresh (``xfetch_beta``): a read shortly before expiry may recompute it, so
          that nobody sees the miss; the computation time is measured and stored with it;
        * serve-stale (``stale_grace``): past its TTL the value is kept that long, and
          ``get_or_set`` callers get it while one of them recomputes it. Plain :meth:`get`
          never returns a stale copy.

        ``compute`` must be callable (:class:`~cachepolicy.errors.NotCallableError`, before
        anything is read) and, on a miss, ``ttl`` valid before it runs. An exception from
        ``compute`` or from serializing its value reaches this caller and leaves the cache
        unchanged; waiting callers retry. A refresh that raises is logged and the stored copy
        served. A store refusal (OutOfMemoryError, ValueTooLargeError) is raised after the
        value has been handed to the waiting callers. Adapters pass their ``codec``
        (:class:`~cachepolicy.flight.Codec`); ``key`` is then the stored key. An adapter that
        read the key with :meth:`~cachepolicy._core.accessor.Accessor.get_fresh` (its hit
        path, compiled) passes what that returned when it was not a value (a miss,
        ``PENDING`` or ``REFRESH``) as ``read``: the key is then not read, and counted, twice.

        The hit path is the compiled accessor's ``get_fresh``: a plain value, or a fresh
        envelope not drawn for early refresh, is returned without an interpreted frame beyond
        this one.
        """
        if type(key) is not str:
            key = exact_key(key)
        if not callable(compute):  # untyped callers pass anything
            check_callable(compute, key)  # type: ignore[unreachable]
        tag_names = () if tags is None else check_tags(tags)
        settings = stampede if stampede is not None else self.stampede
        if read is UNREAD:
            if codec is not None:  # an adapter's own decoding: read here
                return self._get_or_set_read(key, compute, ttl, stampede, codec, tag_names)
            codec = self._codec
            beta = settings.beta
            read = self._access.get_fresh(
                key, MISSED, 0.0 if beta is None else beta, self.store.flights.rng.random
            )
            if read is not MISSED and read is not PENDING and read is not REFRESH:
                return read  # a hit
        elif codec is None:
            codec = self._codec
        steps = self._steps(key, ttl, stampede, codec, tag_names)
        if read is MISSED:  # the miss get_fresh counted
            return compute_once(steps, compute)
        payload = steps.peek()  # the envelope get_fresh read (and counted), or what replaced it
        envelope = None if payload is None else open_envelope(payload)
        if payload is None or envelope is None:
            return compute_once(steps, compute) if payload is None else codec.loads(payload)
        if read is REFRESH:  # XFetch drew this read: refresh, without drawing again
            verdict = REFRESH_EARLY
        else:
            store = self.store
            verdict = judge(envelope, self._engine.time(), settings, store.flights, store.tags)
            if verdict == SERVE:
                return codec.loads(envelope.payload)
        return on_judged(steps, compute, payload, envelope, verdict)

    def _get_or_set_read(
        self,
        key: str,
        compute: Callable[[], Any],
        ttl: float | None,
        stampede: StampedeSettings | None,
        codec: Codec,
        tag_names: tuple[str, ...],
    ) -> Any:
        """:meth:`get_or_set` for an adapter's codec that did not read the key itself."""
        payload = self._engine.get(self.db, key, self._touch)
        if payload is None:
            return compute_once(self._steps(key, ttl, stampede, codec, tag_names), compute)
        verdict, envelope = self._read_verdict(payload, stampede)
        if envelope is None or verdict == SERVE:
            return codec.loads(payload if envelope is None else envelope.payload)
        steps = self._steps(key, ttl, stampede, codec, tag_names)
        return on_judged(steps, compute, payload, envelope, verdict)

    def _read_verdict(
        self, payload: bytes, stampede: StampedeSettings | None
    ) -> tuple[int, Envelope | None]:
        """:func:`cachepolicy.flight.read_verdict` on this view's store and settings."""
        settings = stampede if stampede is not None else self.stampede
        store = self.store
        return read_verdict(payload, self._engine.time(), settings, store.flights, store.tags)

    async def aget_or_set(
        self,
        key: str,
        compute: Callable[[], Any],
        ttl: float | None = None,
        *,
        stampede: StampedeSettings | None = None,
        codec: Codec | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """:meth:`get_or_set` for asyncio: ``compute`` may be an ``async def`` function, and a
        task that waits for another caller's computation (a task or a thread) is suspended, not
        blocking its loop. Single flight, early refresh, serve-stale and tags as in
        :meth:`get_or_set`."""
        if type(key) is not str:
            key = exact_key(key)
        if not callable(compute):  # untyped callers pass anything
            check_callable(compute, key)  # type: ignore[unreachable]
        tag_names = () if tags is None else check_tags(tags)
        payload = self._engine.get(self.db, key, self._touch)
        if codec is None:
            codec = self._codec
        if payload is None:
            return await acompute_once(self._steps(key, ttl, stampede, codec, tag_names), compute)
        verdict, envelope = self._read_verdict(payload, stampede)
        if envelope is None or verdict == SERVE:
            return codec.loads(payload if envelope is None else envelope.payload)
        steps = self._steps(key, ttl, stampede, codec, tag_names)
        return await aon_judged(steps, compute, payload, envelope, verdict)

    def _steps(
        self,
        key: str,
        ttl: float | None,
        stampede: StampedeSettings | None,
        codec: Codec,
        tag_names: tuple[str, ...] = (),
    ) -> Steps:
        """How :meth:`get_or_set` reads, encodes and writes ``key`` on this view (only when it
        may compute: the TTL is validated here, before any computation)."""
        self._deadline(ttl)  # TypeError, ValueError
        engine, db = self._engine, self.db

        def peek() -> bytes | None:
            entry = engine.peek(db, key)
            payload = None if entry is None else entry.payload
            return None if payload is RELEASED else payload

        return Steps(
            table=self.store.flights,
            db=db,
            key=key,
            ttl=ttl,
            settings=stampede if stampede is not None else self.stampede,
            time=engine.time,
            peek=peek,
            codec=codec,
            tags=self.store.tags,
            tag_names=tag_names,
            drop=lambda payload: drop_if_same(engine, db, key, payload),
        )

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written with any of ``tags`` a miss, in O(1) per tag, for every
        view of the store (tags are store-wide, like keys of one database are). The entries
        are removed when next read (or evicted, or expired). TagError for a bad tag, before
        anything is invalidated. Subscribers of ``tag_invalidated`` get one event per tag."""
        self.store.tags.invalidate(tags)
        for tag in tags:
            self.store.flights.emit("tag_invalidated", self.db, tag)

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
        entry = self._engine.peek(self.db, key)
        if entry is None:
            return False
        payload = entry.payload
        return (
            payload is RELEASED
            or not payload
            or payload[0] != 0
            or unsealed(payload, self._engine.time(), self.store.tags) is not None
        )

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

    def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        *,
        keepttl: bool = False,
        tags: Iterable[str] | None = None,
    ) -> bool:
        """Store ``value``; ``keepttl=True`` keeps the key's TTL (Redis's SET KEEPTTL; no
        ``ttl`` then); ``tags`` (at most 32 non-empty strings) let :meth:`invalidate_tags`
        make it a miss. True if stored; False if the eviction policy refused to admit a new
        key (``admit``: nothing changed). Raises OutOfMemoryError / ValueTooLargeError (cache
        unchanged), the serializer's error for a value it cannot encode, or TagError for bad
        tags (cache unchanged). (Instances call the accessor's equivalent ``set`` directly:
        see :meth:`_bind`.)"""
        return self._access.set(key, value, ttl, keepttl=keepttl, tags=tags)

    def tagged(self, payload: bytes, tags: Iterable[str]) -> bytes:
        """``payload`` sealed with the current generations of ``tags`` (none: unchanged;
        TagError for bad ones), for adapters writing tagged values."""
        return self.store.envelopes.sealed(payload, tags)

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

    def set_many(
        self,
        mapping: Mapping[str, Any],
        ttl: float | None = None,
        *,
        tags: Iterable[str] | None = None,
    ) -> list[str]:
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
        names = () if tags is None else check_tags(tags)
        tagged = self.store.envelopes.sealed
        payloads: list[tuple[str, bytes | None]] = []
        for key, value in mapping.items():
            if type(key) is not str:
                key = exact_key(key)
            try:
                encoded = encode(value, key)
                payloads.append((key, tagged(encoded, names) if names else encoded))
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
        loads, dumps, now, tags = self._loads, self._dumps, self._engine.time, self.store.tags

        def add(payload: bytes | None) -> bytes:
            if payload is not None and not payload[0]:
                payload = unsealed(payload, now(), tags)  # a value in an envelope: the number
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

        self._engine.read_modify_write(self.db, key, add, "incrby")
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
        """Receive keyspace events of every database of the store; returns an unsubscriber.

        The stampede events (:data:`~cachepolicy.flight.STAMPEDE_EVENTS`: ``computed``,
        ``stale_served``, ``refreshed_early``, ``tag_invalidated``) come only when named."""
        if events is None:
            return self.store.subscribe(callback, None)
        names = set(events)
        stampede = names & set(STAMPEDE_EVENTS)
        if not stampede:
            return self.store.subscribe(callback, names)
        unsubscribers = []
        if names - stampede:  # first: it refuses unknown names before anything is subscribed
            unsubscribers.append(self.store.subscribe(callback, names - stampede))
        unsubscribers.append(self.store.flights.subscribe(callback, stampede))

        def unsubscribe() -> None:
            for each in unsubscribers:
                each()

        return unsubscribe

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
