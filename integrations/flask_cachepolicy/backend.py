"""``PolicyCache``: a Flask-Caching backend backed by the cachepolicy core.

Design
------
The backend is a thin adapter in the manner of Django's ``redis.py``: every method builds the
stored key (``CACHE_KEY_PREFIX`` + key), translates the timeout in the one function that does
that (:func:`flask_cachepolicy.timeouts.flask_timeout_to_ttl`) and makes one call on a core
:class:`cachepolicy.Cache` view. Memory accounting, eviction, expiry, statistics and locking are
the core's; nothing here keeps its own copy of the data.

Stores. By default each backend owns a private store, which is what Flask-Caching users of
``SimpleCache`` are used to: one ``Cache(app)`` = one independent cache. Setting
``CACHE_CACHEPOLICY_LOCATION = "name"`` instead attaches the backend to the process-wide store
of that name (:func:`cachepolicy.get_shared_store`), the way several applications share one
Redis server. Applications (or several ``Cache`` objects of one application, e.g. per
blueprint) then see each other's keys unless their ``CACHE_KEY_PREFIX`` differs, one
``maxmemory`` budget covers all of them, and ``clear()`` removes only the keys under the
backend's own prefix (all keys of its database if the prefix is empty), as cachelib's
``RedisCache`` does.

Runtime reconfiguration. :meth:`PolicyCache.config_set` is Redis's ``CONFIG SET`` on the store
(``cache.cache.config_set("maxmemory", "2mb")``); the app's ``CACHE_*`` settings stay what the
store was built from, so a later backend on the same shared location still matches it.

Return conventions are cachelib's: ``set``/``add`` return ``False`` rather than raise when the
core refuses a write for lack of memory (``noeviction``, or a ``volatile-*`` policy with too few
keys carrying a TTL; the core's ``OutOfMemoryError``) or because the value is larger than
``maxmemory`` (``ValueTooLargeError``), while values that cannot be pickled still raise.
"""

from __future__ import annotations

import logging
import pickle
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cachelib.serializers import (
    BaseSerializer,
    FileSystemSerializer,
    MongoDbSerializer,
    SimpleSerializer,
    UWSGISerializer,
)
from flask_caching.backends.base import BaseCache

from cachepolicy import (
    Cache,
    CacheConfig,
    ConfigError,
    KeyspaceEvent,
    OutOfMemoryError,
    ValueTooLargeError,
    get_shared_store,
)
from cachepolicy.errors import short_repr
from cachepolicy.flight import (
    DEFAULT_BETA,
    DEFAULT_GRACE,
    DEFAULT_ON_TIMEOUT,
    DEFAULT_WAIT,
    StampedeSettings,
)
from cachepolicy.serializers import (
    PickleSerializer,
    Serializer,
    declared_pickle_protocol,
)
from cachepolicy.tags import check_tags

from . import signals as _signals
from .settings import NEAR_KEYS, backend_kwargs_from_flask, flask_key_for
from .timeouts import FlaskTimeout, flask_timeout_to_ttl, timeout_seconds

if TYPE_CHECKING:
    from flask import Flask

    from cachepolicy._core.accessor import Accessor
    from cachepolicy.clock import Clock

__all__ = ["CoreSerializer", "PolicyCache"]

logger = logging.getLogger("flask_cachepolicy")

# Stands in for "no value" where ``None`` is a legitimate cached value.
_MISSING: Any = object()

# The core refuses these writes without changing the cache; cachelib's contract is to report
# a refused write as ``False``.
_REFUSED_WRITES = (OutOfMemoryError, ValueTooLargeError)

# cachelib's serializers whose ``dumps(value)`` is ``pickle.dumps(value, HIGHEST_PROTOCOL)``:
# BaseSerializer's own, which none of these overrides. cachelib has no way to say so, so this
# table says it for them, by exact class: a subclass may override ``dumps`` (and often does), so
# it is taken as opaque unless it declares ``pickle_protocol`` itself (see _value_encoder).
_CACHELIB_PICKLE_SERIALIZERS: frozenset[type[BaseSerializer]] = frozenset(
    {BaseSerializer, SimpleSerializer, FileSystemSerializer, MongoDbSerializer, UWSGISerializer}
)

# Turns a value into the bytes a cachelib serializer stores for it under a key (the key is the
# stored one, prefix included: the core's byte budget depends on its length).
_ValueEncoder = Callable[[Any, str], Any]


class CoreSerializer(SimpleSerializer):
    """A backend's default ``serializer``: cachelib's ``SimpleSerializer``, done by the core.

    Flask-Caching's contract is that every cachelib-backed backend holds a cachelib serializer,
    ``SimpleSerializer`` (pickle) by default, which ``CACHE_SERIALIZER`` replaces. PolicyCache
    keeps that contract without pickling twice: while this default is in place the backend
    hands values to the core, which serializes them once with its own ``serializer`` option
    (pickle at the highest protocol unless ``CACHE_OPTIONS`` names another), so byte accounting
    covers exactly what is stored. Called directly, :meth:`dumps` and :meth:`loads` do what the
    core does, with cachelib's error convention: a pickling error is logged and gives ``None``.
    """

    def __init__(self, core: Serializer) -> None:
        #: The core serializer doing the work (the store's ``serializer`` option, resolved by
        #: its configuration).
        self.core = core

    def dumps(self, value: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes | None:
        """Serialize as the core does; ``protocol`` is the core's, so the argument is unused."""
        try:
            return self.core.dumps(value)
        except pickle.PickleError as exc:
            self._warn(exc)
            return None

    def loads(self, bvalue: bytes) -> Any:
        try:
            return self.core.loads(bvalue)
        except pickle.PickleError as exc:
            self._warn(exc)
            return None


class PolicyCache(BaseCache):
    """Flask-Caching backend with Redis-style ``maxmemory``, eviction policies and expiry.

    Use it with ``CACHE_TYPE = "flask_cachepolicy.PolicyCache"``; see the package docstring for
    the settings. It can also be built directly (the keyword arguments are the ones
    ``CACHE_OPTIONS`` carries)::

        PolicyCache(default_timeout=300, key_prefix="app1_", maxmemory="64mb",
                    maxmemory_policy="allkeys-lfu")

    :param default_timeout: timeout in seconds when ``set`` gets none; ``0`` = never expire.
    :param ignore_delete_many_errors: kept for cachelib compatibility; deleting from memory
        cannot fail, so ``delete_many`` never raises either way.
    :param key_prefix: prepended to every key (``CACHE_KEY_PREFIX``); fixed at construction
        (the read fast path and the signal relay capture it).
    :param threshold: entry-count bound (``CACHE_THRESHOLD``), the core's ``max_entries``;
        ``None`` or ``0`` = bounded by ``maxmemory`` only.
    :param location: name of a process-wide shared store; ``None`` = a private store.
    :param db: the core database number this backend reads and writes.
    :param clock: a :class:`cachepolicy.ManualClock` (or other clock) for deterministic tests.
    :param signals: keyspace events to relay as blinker signals: names from
        :data:`flask_cachepolicy.signals.EVENT_NAMES`, ``"all"``, or ``()`` for none.
    :param app: the Flask application, used as the signals' sender.
    :param options: core options (``maxmemory``, ``maxmemory_policy``, ``expiry``, ...),
        validated by :meth:`cachepolicy.CacheConfig.from_options`.
    """

    def __init__(
        self,
        default_timeout: FlaskTimeout = 300,
        ignore_delete_many_errors: bool = False,
        *,
        key_prefix: str = "",
        threshold: int | None = None,
        location: str | None = None,
        db: int = 0,
        clock: Clock | None = None,
        signals: str | Iterable[str] | None = _signals.DEFAULT_SIGNAL_EVENTS,
        app: Flask | None = None,
        stampede_wait: float = DEFAULT_WAIT,
        stampede_on_timeout: str = DEFAULT_ON_TIMEOUT,
        xfetch_beta: float | None = DEFAULT_BETA,
        stale_grace: float = DEFAULT_GRACE,
        **options: Any,
    ) -> None:
        # cachelib's ``__init__`` only stores these two attributes, but it raises ``TypeError``
        # for ``None`` and rounds floats up with a warning; validate with a clear message instead.
        try:
            timeout_seconds(default_timeout, what="default timeout (CACHE_DEFAULT_TIMEOUT)")
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), option="default_timeout") from exc
        self.default_timeout = _plain_seconds(default_timeout)  # type: ignore[assignment]
        self.ignore_delete_many_errors = bool(ignore_delete_many_errors)
        if not isinstance(key_prefix, str):
            raise ConfigError(
                "The key prefix (CACHE_KEY_PREFIX) must be a string, not "
                f"{short_repr(key_prefix)}.",
                option="key_prefix",
            )
        if location is not None and (not isinstance(location, str) or not location):
            raise ConfigError(
                "The shared store location (CACHE_CACHEPOLICY_LOCATION) must be a non-empty "
                f"string or None for a private store, not {short_repr(location)}.",
                option="location",
            )
        options["max_entries"] = _threshold_to_max_entries(threshold)
        config = CacheConfig.from_options(options)
        _check_clock(clock)
        stampede = StampedeSettings.from_options(
            {
                "stampede_wait": stampede_wait,
                "stampede_on_timeout": stampede_on_timeout,
                "xfetch_beta": xfetch_beta,
                "stale_grace": stale_grace,
            }
        )

        self.key_prefix = key_prefix
        # (default_timeout, its TTL): set() translates the default once, and again only if
        # default_timeout is reassigned (compared by identity, so any new value recomputes).
        self._default_ttl: tuple[object, float | None] = (object(), None)
        self.location = location
        self.db = db
        self._serializer: BaseSerializer | None = None
        self._generic_lock = threading.Lock()
        self._view = _open_view(config, location, db, clock)
        self._view.stampede = stampede
        self._default_serializer = CoreSerializer(config.serializer_object)
        self._bind_fast_paths()

        self._signal_events = _signal_events(signals)
        self._app_ref = weakref.ref(app) if app is not None else None
        # Filled by ``_sync_signals`` once somebody listens; shared with the finalizer.
        self._subscription: list[Callable[[], None]] = []
        # A private store dies with its backend; a shared one outlives it, so only unsubscribe.
        self._finalizer = weakref.finalize(
            self, _release, self._subscription, self._view if location is None else None
        )
        _LIVE_BACKENDS.add(self)
        self._sync_signals()

    def _sync_signals(self) -> None:
        """Subscribe to the core's events once a receiver is connected to a relayed signal.

        Subscribing costs the core work on every matching operation (events are queued under
        the store lock), so a backend whose signals nobody listens to stays unsubscribed: with
        the defaults, an application that never connects a receiver pays nothing.
        """
        if not self._signal_events or self._subscription:
            return
        if not _signals.has_receivers(self._signal_events):
            return
        with self._generic_lock:
            if self._subscription:
                return
            relay = _EventRelay(weakref.ref(self), self._app_ref, self.key_prefix, self.db)
            self._subscription.append(self._view.subscribe(relay, self._signal_events))

    # -- construction through Flask-Caching -------------------------------------------------

    @classmethod
    def factory(
        cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> PolicyCache:
        """Build the backend from Flask settings; Flask-Caching calls this in ``init_app``.

        Errors surface here, i.e. when the application starts, as :class:`ConfigError`
        naming the Flask key that holds the bad value.
        """
        # Errors from reading the settings already name the Flask keys involved.
        backend_kwargs, origins = backend_kwargs_from_flask(config, args, kwargs)
        for near_key in NEAR_KEYS.values():
            if config.get(near_key) is not None:
                # An in-process cache is its own near cache: refuse rather than ignore.
                raise ConfigError(
                    f"{near_key} is an option of flask_cachepolicy.RedisPolicyCache (a near "
                    "cache in front of Redis); this in-process PolicyCache already serves "
                    "every read from process memory. Remove it, or set CACHE_TYPE to "
                    "'flask_cachepolicy.RedisPolicyCache'.",
                    option=near_key,
                )
        try:
            backend = cls(app=app, **backend_kwargs)
        except ConfigError as exc:
            option = exc.option
            key = flask_key_for(option, origins)
            where = f"Flask setting {key}" if key else "cachepolicy settings (CACHE_* keys)"
            raise ConfigError(f"Invalid {where}: {exc}", option=key or option) from exc
        from .cli import register_cli

        register_cli(app)
        return backend

    # -- the cachelib API --------------------------------------------------------------------

    def _bind_fast_paths(self) -> None:
        """Install the engine's bound read path as this instance's ``get`` while no cachelib
        serializer is set.

        ``get`` is the hot path: the core's :meth:`~cachepolicy.Cache.prefixed_getter` is a
        bound method of an accessor holding the prefix, the engine and the deserializer, so a
        read is one concatenation, one lookup and one ``loads``, without a chain of calls.
        A subclass that overrides ``get`` (instrumentation, say) keeps its override: the
        shortcut is only taken for ``PolicyCache.get`` itself.
        """
        self._core_get = self._view.get
        self._codec = _Codec(weakref.proxy(self), self._view.accessor())  # proxy: no cycle
        self._core_set = self._view.prefixed_setter(self.key_prefix)
        self._encode = _value_encoder(self._view, self._serializer)
        if self._serializer is None and type(self).get is PolicyCache.get:
            self.__dict__["get"] = self._view.prefixed_getter(self.key_prefix)
        else:
            self.__dict__.pop("get", None)

    @property
    def serializer(self) -> BaseSerializer:
        """The cachelib serializer: ``CACHE_SERIALIZER``'s, or a :class:`CoreSerializer`.

        By default it is a :class:`CoreSerializer` (a ``SimpleSerializer``, as Flask-Caching's
        contract expects) and values are serialized once, by the core. Another cachelib
        serializer, when Flask-Caching or the application assigns one, turns values into bytes
        first and the core stores those bytes, so byte accounting still covers what is stored;
        a value too large for ``maxmemory`` is refused while it is pickled if that serializer
        is known to pickle, after its ``dumps`` otherwise (:func:`_value_encoder`). Assigning
        ``None`` restores the default.
        """
        return self._serializer if self._serializer is not None else self._default_serializer

    @serializer.setter
    def serializer(self, value: BaseSerializer | None) -> None:
        # Internally ``None`` means "the core serializes": the default needs no extra pass.
        self._serializer = None if value is self._default_serializer else value
        self._bind_fast_paths()

    def get(self, key: str) -> Any:
        """Return the value of ``key``, or ``None`` if it is missing or expired."""
        if self._serializer is None:
            return self._core_get(self.key_prefix + key)
        payload = self._core_get(self.key_prefix + key, _MISSING)
        return None if payload is _MISSING else self._serializer.loads(payload)

    def set(
        self,
        key: str,
        value: Any,
        timeout: FlaskTimeout | None = None,
        tags: Iterable[str] | None = None,
    ) -> bool | None:
        """Store ``value``; ``False`` if the core refused the write for lack of memory.
        ``tags`` (at most 32 strings) let :meth:`invalidate_tags` make it a miss."""
        if tags is not None:
            return self._set_tagged(key, value, timeout, check_tags(tags))
        if timeout is None and self.default_timeout is self._default_ttl[0]:
            ttl = self._default_ttl[1]  # the usual call: the translation is already known
        else:
            ttl = flask_timeout_to_ttl(timeout, self.default_timeout)
            if timeout is None:
                self._default_ttl = (self.default_timeout, ttl)
        try:
            if self._encode is not None:
                value = self._encode(value, self.key_prefix + key)
            stored = self._core_set(key, value, ttl)
        except _REFUSED_WRITES as exc:
            logger.debug("cachepolicy refused set(%s): %s", short_repr(key), exc)
            # The caller is told the write failed; it must not keep reading the old value.
            self._view.delete(self.key_prefix + key)
            return False
        return stored is not False  # False: the policy refused to admit a new key

    def _set_tagged(
        self, key: str, value: Any, timeout: FlaskTimeout | None, tags: tuple[str, ...]
    ) -> bool:
        stored = self.key_prefix + key
        ttl = flask_timeout_to_ttl(timeout, self.default_timeout)
        codec = self._codec
        payload = codec.encode(value, stored)
        if payload is None:
            self._view.delete(stored)
            return False
        try:
            written = codec.accessor.set_payload(stored, self._view.tagged(payload, tags), ttl)
        except _REFUSED_WRITES as exc:
            logger.debug("cachepolicy refused set(%s): %s", short_repr(key), exc)
            self._view.delete(stored)
            return False
        return written is not False  # False: the policy refused to admit a new key

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written with any of ``tags`` a miss, for every backend on this
        store (O(1) per tag; entries are removed when next read)."""
        self._view.invalidate_tags(*tags)

    def get_or_set(
        self,
        key: str,
        compute: Callable[[], Any],
        timeout: FlaskTimeout | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """The value of ``key``; on a miss, ``compute()`` it and store it. Single flight: when
        many threads miss ``key`` at once, one computes and the others wait for its value
        (``CACHE_CACHEPOLICY_STAMPEDE_WAIT``, then ``..._ON_TIMEOUT``; see
        :mod:`cachepolicy.flight`). A value the core refuses for lack of memory is returned
        all the same and not stored (cachelib's convention: no error for a refused write)."""
        ttl = flask_timeout_to_ttl(timeout, self.default_timeout)
        return self._view.get_or_set(
            self.key_prefix + key, compute, ttl, codec=self._codec, tags=tags
        )

    def add(self, key: str, value: Any, timeout: FlaskTimeout | None = None) -> bool:
        """Store ``value`` only if ``key`` holds no live value; ``True`` if it was stored."""
        ttl = flask_timeout_to_ttl(timeout, self.default_timeout)
        stored = self.key_prefix + key
        try:
            if self._encode is not None:
                value = self._encode(value, stored)
            return self._view.add(stored, value, ttl)
        except _REFUSED_WRITES as exc:
            logger.debug("cachepolicy refused add(%s): %s", short_repr(key), exc)
            return False

    def delete(self, key: str) -> bool:
        """Delete ``key``; ``True`` if a live key was deleted."""
        return self._view.delete(self.key_prefix + key)

    def get_many(self, *keys: str) -> list[Any]:
        """Return the values of ``keys`` in order, ``None`` for each missing key."""
        prefix = self.key_prefix
        stored = [prefix + key for key in keys]
        found = self._view.get_many(stored)
        if self._serializer is None:
            return [found.get(key) for key in stored]
        loads = self._serializer.loads
        return [loads(found[key]) if key in found else None for key in stored]

    def get_dict(self, *keys: str) -> dict[str, Any]:
        """Like :meth:`get_many`, as a ``{key: value}`` dict that includes missing keys."""
        return dict(zip(keys, self.get_many(*keys), strict=True))

    def set_many(
        self, mapping: Mapping[str, Any], timeout: FlaskTimeout | None = None
    ) -> list[Any]:
        """Store every item; return the keys that were stored (cachelib's convention)."""
        ttl = flask_timeout_to_ttl(timeout, self.default_timeout)
        prefix = self.key_prefix
        encode = self._encode
        stored: dict[str, Any] = {}
        refused: set[str] = set()  # too large: reported, the rest stored (the core's rule)
        for key, value in mapping.items():
            name = prefix + key
            try:
                stored[name] = value if encode is None else encode(value, name)
            except ValueTooLargeError:
                refused.add(name)
        failed = refused.union(self._view.set_many(stored, ttl))
        if not failed:
            return list(mapping)
        self._view.delete_many(failed)  # refused: no stale earlier value may be served
        return [key for key in mapping if prefix + key not in failed]

    def delete_many(self, *keys: str) -> list[Any]:
        """Delete ``keys``; return every key, since each is absent afterwards.

        cachelib counts a key that did not exist as deleted; a delete from memory cannot fail,
        so ``ignore_delete_many_errors`` never comes into play.
        """
        self._view.delete_many([self.key_prefix + key for key in keys])
        return list(keys)

    def has(self, key: str) -> bool:
        """Whether ``key`` holds a live value (does not count as an access)."""
        return self._view.has(self.key_prefix + key)

    def clear(self) -> bool:
        """Delete this backend's keys: those under its prefix, or its whole database.

        A private store, or an empty prefix, clears the database in one step. On a shared store
        only keys starting with ``CACHE_KEY_PREFIX`` go, so another application's keys
        survive; that costs one scan of the database's keys.
        """
        if self.location is None or not self.key_prefix:
            self._view.clear()
            return True
        prefix = self.key_prefix
        # ``keys()`` is the core's Redis KEYS (a list snapshot); the core view is not a mapping.
        mine = [key for key in self._view.keys() if key.startswith(prefix)]  # noqa: SIM118
        self._view.delete_many(mine)
        return True

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` to an integer value atomically; a missing key starts from 0.

        A new counter gets the default timeout (as with ``SimpleCache``); an existing one keeps
        its TTL (as with Redis ``INCRBY``). Non-integer numbers (floats) fall back to a
        read-modify-write under this backend's lock, like cachelib's base implementation.
        """
        if self._serializer is not None:
            return self._inc_generic(key, delta)
        stored = self.key_prefix + key
        try:
            return int(self._view.incr(stored, delta))
        except KeyError:
            ttl = flask_timeout_to_ttl(None, self.default_timeout)
            if ttl is not None:
                try:
                    self._view.add(stored, 0, ttl)
                except _REFUSED_WRITES:
                    return None
            try:
                return int(self._view.incr(stored, delta, default=0))
            except _REFUSED_WRITES:
                return None
        except TypeError:
            return self._inc_generic(key, delta)
        except _REFUSED_WRITES:
            return None

    def dec(self, key: str, delta: int = 1) -> int | None:
        """Subtract ``delta``; the mirror image of :meth:`inc`."""
        return self.inc(key, -delta)

    def _inc_generic(self, key: str, delta: int) -> int | None:
        """cachelib's read-modify-write increment, for values the core cannot increment."""
        with self._generic_lock:
            value = (self.get(key) or 0) + delta
            return value if self.set(key, value) else None

    # -- cachepolicy extras ----------------------------------------------------------------

    @property
    def core(self) -> Cache:
        """The core view behind this backend, for Redis-style calls (``ttl``, ``touch``, ...).

        Keys there carry ``CACHE_KEY_PREFIX``: use :meth:`make_key` to build them.
        """
        return self._view

    def make_key(self, key: str) -> str:
        """The key under which ``key`` is stored in the core (prefix included)."""
        return self.key_prefix + key

    def info(self) -> dict[str, Any]:
        """The core's Redis-INFO dict, plus where this backend sits in it."""
        info = dict(self._view.info())
        info["flask_key_prefix"] = self.key_prefix
        info["flask_location"] = self.location or ""
        info["flask_db"] = self.db
        return info

    def config_set(self, name: str, value: Any) -> None:
        """Redis's ``CONFIG SET`` on the store behind this backend: ``maxmemory``,
        ``maxmemory_policy`` (also spelled ``maxmemory-policy``), ``maxmemory_samples``,
        ``eviction_mode``, ``lfu_log_factor`` or ``lfu_decay_time``. It changes the store, so
        every backend sharing it sees the change; a bad name or value raises the core's
        ``ConfigError`` naming it (see :meth:`cachepolicy.CacheStore.reconfigure`)."""
        self._view.config_set(name, value)

    def info_text(self) -> str:
        """Redis-INFO-style text: the core's report followed by a ``# Flask`` section."""
        lines = [
            self._view.info_text().rstrip("\r\n"),
            "",
            "# Flask",
            f"key_prefix:{self.key_prefix}",
            f"location:{self.location or '(private)'}",
            f"db:{self.db}",
        ]
        return "\r\n".join(lines) + "\r\n"

    def close(self) -> None:
        """Release the store: stops a private store's threads; a shared store is left alone."""
        self._finalizer()

    def __repr__(self) -> str:
        where = f"location={self.location!r}" if self.location else "private"
        return f"<PolicyCache {where} db={self.db} key_prefix={self.key_prefix!r}>"


class _EventRelay:
    """Core subscriber that re-sends keyspace events as blinker signals (also the Redis-tier
    backend's stampede events).

    It holds the backend weakly: a shared store lives as long as the process and would
    otherwise keep every backend ever attached to it alive through its subscriber list.
    """

    __slots__ = ("_app_ref", "_backend_ref", "_db", "_prefix")

    def __init__(
        self,
        backend_ref: weakref.ref[BaseCache],
        app_ref: weakref.ref[Flask] | None,
        prefix: str,
        db: int,
    ) -> None:
        self._backend_ref = backend_ref
        self._app_ref = app_ref
        self._prefix = prefix
        self._db = db

    def __call__(self, event: KeyspaceEvent) -> None:
        backend = self._backend_ref()
        if backend is None or event.db != self._db:
            return
        key = event.key
        if self._prefix and event.name != "tag_invalidated":  # a tag carries no key prefix
            if not key.startswith(self._prefix):
                return  # another application's key on a shared store
            key = key[len(self._prefix) :]
        sender: Any = self._app_ref() if self._app_ref is not None else backend
        if sender is None:
            return
        extra: dict[str, Any] = {"cache": backend, "key": key, "event": event.name, "db": event.db}
        _signals.keyspace_event.send(sender, **extra)
        specific = _signals.EVENT_SIGNALS.get(event.name)
        if specific is not None:
            specific.send(sender, **extra)


#: Every live backend, so that connecting a receiver later can subscribe them (weakly held).
_LIVE_BACKENDS: weakref.WeakSet[PolicyCache] = weakref.WeakSet()


def _on_receiver_connected(signal: Any, **_: Any) -> None:
    """blinker hook: a receiver was connected to one of our signals; subscribe backends."""
    if _signals.is_relayed(signal):
        for backend in list(_LIVE_BACKENDS):
            backend._sync_signals()


for _signal in (_signals.keyspace_event, *_signals.EVENT_SIGNALS.values()):
    _signal.receiver_connected.connect(_on_receiver_connected, weak=False)


def _value_encoder(view: Cache, serializer: BaseSerializer | None) -> _ValueEncoder | None:
    """How ``set``, ``add`` and ``set_many`` serialize with an application's cachelib serializer
    (``None``: no such serializer, the core serializes).

    Its bytes are what is stored, so the size of a value is only known once they are made. A
    serializer known to pickle (``pickle_protocol`` declared as the core's serializers declare
    it, or one of cachelib's own pickle serializers, :data:`_CACHELIB_PICKLE_SERIALIZERS`) is
    run by the core's budgeted pickler: the same bytes, but a value that cannot fit in
    ``maxmemory`` is refused (``ValueTooLargeError``, counted in ``rejected_writes``) as soon
    as its pickle passes the budget, a ``str`` or ``bytes`` from its length before any
    pickling. Its pickling errors keep cachelib's convention: logged, and ``None`` is stored.

    Any other serializer (JSON, a subclass overriding ``dumps``) is opaque: its ``dumps`` runs
    in full, so refusing a value costs what that serializer allocates for it (its output at
    least, a second copy for JSON's text and bytes), once; the core then refuses the bytes
    from their length without copying them.
    """
    if serializer is None:
        return None
    declared = declared_pickle_protocol(serializer)
    if declared is not None:
        protocol = declared
    elif type(serializer) in _CACHELIB_PICKLE_SERIALIZERS:
        protocol = pickle.HIGHEST_PROTOCOL
    else:
        dumps = serializer.dumps
        return lambda value, key: dumps(value)
    encode = view.accessor(serializer=PickleSerializer(protocol)).encode

    def budgeted(value: Any, key: str) -> bytes | None:
        try:
            return encode(value, key)
        except pickle.PickleError as exc:
            serializer._warn(exc)
            return None

    return budgeted


class _Codec:
    """How ``get_or_set`` encodes and stores for a backend (:class:`cachepolicy.flight.Codec`):
    through the cachelib serializer when one is set, a refused write logged and not stored
    (cachelib's convention: no error), as ``set()`` does."""

    __slots__ = ("accessor", "backend", "loads")

    def __init__(self, backend: PolicyCache, accessor: Accessor) -> None:
        self.backend = backend
        self.accessor = accessor
        serializer = backend._serializer
        if serializer is None:
            self.loads: Callable[[bytes], Any] = accessor.loads
        else:
            core_loads, loads = accessor.loads, serializer.loads
            self.loads = lambda payload: loads(core_loads(payload))

    def encode(self, value: Any, key: str) -> bytes | None:
        encode = self.backend._encode
        try:
            if encode is not None:
                value = encode(value, key)
            return self.accessor.encode(value, key)
        except ValueTooLargeError as exc:
            logger.debug("cachepolicy refused get_or_set(%s): %s", short_repr(key), exc)
            return None

    def write(self, key: str, payload: bytes, ttl: float | None) -> None:
        try:
            self.accessor.set_payload(key, payload, ttl)
        except _REFUSED_WRITES as exc:
            logger.debug("cachepolicy refused get_or_set(%s): %s", short_repr(key), exc)
            self.backend._view.delete(key)


def _open_view(config: CacheConfig, location: str | None, db: int, clock: Clock | None) -> Cache:
    """Open the core view: on a private store, or on the shared store named ``location``."""
    if isinstance(db, bool) or not isinstance(db, int) or not 0 <= db < config.databases:
        raise ConfigError(
            f"The database number (CACHE_CACHEPOLICY_DB) must be a whole number from 0 to "
            f"{config.databases - 1} (the store has {config.databases} databases, "
            f"CACHE_DATABASES), not {short_repr(db)}.",
            option="db",
        )
    if location is None:
        return Cache(config=config, clock=clock, db=db)
    return Cache(store=get_shared_store(location, config, clock=clock), db=db)


def _release(subscription: list[Callable[[], None]], private_view: Cache | None) -> None:
    """Finalizer: detach the signal relay and close a private store (never a shared one)."""
    while subscription:
        subscription.pop()()
    if private_view is not None:
        private_view.close()


def _plain_seconds(timeout: FlaskTimeout) -> int | float:
    """``default_timeout`` as a number: cachelib code reads it as seconds, not a timedelta."""
    if isinstance(timeout, timedelta):
        return int(timeout_seconds(timeout))
    return timeout


def _threshold_to_max_entries(threshold: Any) -> int | None:
    """Map Flask-Caching's ``CACHE_THRESHOLD`` onto the core's ``max_entries``.

    ``SimpleCache`` keeps at most about ``threshold`` entries and evicts when a write would
    exceed that, so the threshold is an entry-count bound, exactly ``max_entries``; the core
    then evicts by the configured policy (one victim per write, not ``SimpleCache``'s full
    scan). ``None`` and ``0`` mean no entry bound: cachelib silently turns ``0`` into ``500``,
    which is the kind of fallback this project avoids.
    """
    if threshold is None or threshold == 0:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ConfigError(
            f"The entry bound (CACHE_THRESHOLD) must be a positive whole number of entries, "
            f"or 0 for no bound, not {short_repr(threshold)}.",
            option="threshold",
        )
    return threshold


def _check_clock(clock: object) -> None:
    """``CACHE_CACHEPOLICY_CLOCK`` is None or a clock object (``cachepolicy.ManualClock()``)."""
    if clock is not None and not (
        callable(getattr(clock, "time", None)) and callable(getattr(clock, "monotonic", None))
    ):
        raise ConfigError(
            "CACHE_CACHEPOLICY_CLOCK must be a clock object with time() and monotonic(), such "
            f"as cachepolicy.ManualClock(), or None for the system clock; got "
            f"{type(clock).__name__} {short_repr(clock)}.",
            option="clock",
        )


def _signal_events(signals: str | Iterable[str] | None) -> tuple[str, ...]:
    """Validate ``CACHE_CACHEPOLICY_SIGNALS`` into a tuple of Redis event names."""
    if signals is None:
        return ()
    if isinstance(signals, str):
        if signals == "all":
            return _signals.EVENT_NAMES
        signals = [signals]
    if not isinstance(signals, Iterable):
        raise ConfigError(
            f"CACHE_CACHEPOLICY_SIGNALS must be 'all', an event name or a list of event names "
            f"({', '.join(_signals.EVENT_NAMES)}), or None for no signals; got "
            f"{type(signals).__name__} {short_repr(signals)}.",
            option="signals",
        )
    events = tuple(signals)
    for name in events:
        if name not in _signals.EVENT_NAMES:
            from cachepolicy.errors import did_you_mean

            raise ConfigError(
                f"Unknown keyspace event {short_repr(name)} in CACHE_CACHEPOLICY_SIGNALS. "
                f"Valid events are 'all' or any of {', '.join(_signals.EVENT_NAMES)}."
                + did_you_mean(str(name)[:100], _signals.EVENT_NAMES),
                option="signals",
            )
    return events
