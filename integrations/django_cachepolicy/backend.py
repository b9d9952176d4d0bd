"""``PolicyCache``: a Django cache backend on a cachepolicy store.

Shape
=====
A thin adapter in the manner of Django's own Redis backend: each method turns Django's key into
the stored key (prefix, version, ``KEY_FUNCTION``, ``validate_key``), turns Django's timeout into
the core's ``ttl`` (:func:`~django_cachepolicy.options.django_timeout_to_ttl`), and makes one call
on a :class:`cachepolicy.Cache` view. Eviction, expiry, byte accounting and atomicity (``incr``
keeps the TTL and cannot lose an update) are the core's.

Sharing
=======
Django builds one backend object per thread and calls ``close()`` after every request. All
objects configured with the same ``LOCATION`` therefore share one store, obtained from
:func:`cachepolicy.get_shared_store`, which also refuses a second, conflicting configuration for
the same name; ``close()`` leaves it alone. Different aliases on one ``LOCATION`` may use
different databases of that store (``OPTIONS["DATABASE"]``), like Redis's ``SELECT``.

Speed
=====
Profiling ``get`` through ``django.core.cache`` shows most of the time is Django's key handling,
not the store: ``make_and_validate_key`` costs three Python calls plus a generator and a regular
expression per key. When neither ``make_key`` nor ``validate_key`` is overridden and
``KEY_FUNCTION`` is Django's default, :meth:`PolicyCache._key` builds the key inline and calls
``validate_key`` only for keys that could draw a warning (longer than memcached's 250
characters, or containing a space or a non-printable character); for every other key
``validate_key`` provably warns about nothing, so skipping the call changes no behaviour.

The async methods run the in-memory operation directly on the event loop: the operation holds
the store lock for microseconds, far less than ``sync_to_async``'s thread hop costs.

Runtime reconfiguration
=======================
``caches["default"].config_set("maxmemory-policy", "allkeys-lfu")`` is Redis's ``CONFIG SET`` on
the shared store (:meth:`cachepolicy.CacheStore.reconfigure`): every alias on the ``LOCATION``
sees it, and per-thread backends created afterwards still attach, since stores are matched by
the configuration they were built with.
"""

from __future__ import annotations

import logging
import pickle
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from django.apps import apps
from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    MEMCACHE_MAX_KEY_LENGTH,
    BaseCache,
    default_key_func,
)
from django.core.exceptions import ImproperlyConfigured

from cachepolicy import (
    Cache,
    OutOfMemoryError,
    ValueTooLargeError,
    get_shared_store,
)
from cachepolicy import ConfigError as CoreConfigError
from cachepolicy.errors import short_repr
from cachepolicy.tags import check_tags
from cachepolicy.view import MISSED, PENDING, REFRESH

from . import settings_sync, signals
from .options import AliasOptions, django_timeout_to_ttl, parse_alias

__all__ = ["PolicyCache"]

logger = logging.getLogger("django_cachepolicy")

# The settings BaseCache.__init__ reads that are Django's alone (key making); TIMEOUT and the
# OPTIONS it also reads are validated by parse_alias.
_KEY_SETTINGS = ("KEY_PREFIX", "VERSION", "KEY_FUNCTION")


def _configuration_error(exc: Exception) -> ImproperlyConfigured:
    """The error a misconfigured alias raises, as a full sentence."""
    if isinstance(exc, ImproperlyConfigured):
        return exc
    return ImproperlyConfigured(
        f"{exc} Aliases on one LOCATION may differ only in TIMEOUT, KEY_PREFIX, VERSION, "
        "KEY_FUNCTION and the OPTIONS DATABASE and ON_OUT_OF_MEMORY."
    )


class _Misconfigured:
    """Stands in for the view of a misconfigured alias: any use raises the configuration error."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __getattr__(self, name: str) -> Any:
        raise ImproperlyConfigured(self.message)


class _Codec:
    """How ``get_or_set`` encodes and stores for a backend (:class:`cachepolicy.flight.Codec`):
    as ``set()`` does, with Django's ``PicklingError`` and ``ON_OUT_OF_MEMORY``."""

    __slots__ = ("backend", "loads")

    def __init__(self, backend: PolicyCache, loads: Callable[[bytes], Any]) -> None:
        self.backend = backend
        self.loads = loads

    def encode(self, value: Any, key: str) -> bytes | None:
        backend = self.backend
        try:
            return backend._encode(value, key)
        except ValueTooLargeError as exc:  # refused while pickling: a refused write
            backend._refused(exc, key)
            return None
        except Exception as exc:
            raise backend._unpicklable(exc, key) from exc

    def write(self, key: str, payload: bytes, ttl: float | None) -> None:
        backend = self.backend
        try:
            backend._write(key, payload, ttl)
        except (OutOfMemoryError, ValueTooLargeError) as exc:
            backend._refused(exc, key)


class PolicyCache(BaseCache):
    """Django cache backend with Redis's memory management; configure it in ``CACHES``.

    ``LOCATION`` names the shared store (like ``LocMemCache``'s). ``OPTIONS`` are listed in
    :mod:`django_cachepolicy.options`.
    """

    #: Shown by ``cacheinfo`` and in messages.
    location: str
    #: This alias's validated options (absent when the configuration is invalid).
    options: AliasOptions
    _view: Cache
    #: The serializing half of a write: the pickler's errors only (ValueTooLargeError aside).
    _encode: Callable[[Any, str], bytes]
    #: The storing half: the store's errors only (OutOfMemoryError, ValueTooLargeError).
    _write: Callable[[str, bytes, float | None], bool | None]
    _add: Callable[[str, bytes, float | None], bool]
    #: TIMEOUT as the core's TTL, for the common ``set(key, value)`` (no call to convert it).
    _default_ttl: float | None

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        try:
            super().__init__(params)
        except (TypeError, ValueError, OverflowError, AttributeError):
            # BaseCache.__init__ int()s TIMEOUT, MAX_ENTRIES and CULL_FREQUENCY but catches only
            # ValueError and TypeError: TIMEOUT=inf raises OverflowError, OPTIONS that are not a
            # dict AttributeError. Django builds every cache while `manage.py check` runs, so
            # that would crash the checks. Those settings are parse_alias's to report (with a
            # check id), so BaseCache is built from the key settings only.
            super().__init__({name: params[name] for name in _KEY_SETTINGS if name in params})
        self.location = location
        cls = type(self)
        # The inline key path is only equivalent to make_and_validate_key() when no subclass
        # changed how keys are made or validated; KEY_FUNCTION is checked on every call because
        # code (Django's own tests included) may replace self.key_func at run time.
        self._inline_keys = (
            cls.make_key is BaseCache.make_key
            and cls.validate_key is BaseCache.validate_key
            and cls.make_and_validate_key is BaseCache.make_and_validate_key
        )
        try:
            # Django does not tell a backend its alias; messages name the LOCATION instead.
            options = parse_alias(None, location, params)
            # The name is the LOCATION, unless a settings change split it (settings_sync).
            store = get_shared_store(
                settings_sync.store_name(location, options.config), options.config
            )
        except (ImproperlyConfigured, CoreConfigError) as exc:
            error = _configuration_error(exc)
            if not (apps.apps_ready and apps.is_installed("django_cachepolicy")):
                raise error from exc
            # Django's own check_file_based_cache_is_absolute() builds every cache while the
            # system checks run; raising here would crash `manage.py check` with a traceback
            # before our check could report this problem with its id and hint. Our check
            # reports it at start-up instead, and every use of this object raises it.
            self._view = cast(Cache, _Misconfigured(str(error)))
            self._encode = self._misconfigured_encode
            self._write = self._misconfigured_write
            self._add = self._misconfigured_add
            self._get_fresh = self._misconfigured_get_fresh
            self._xfetch: tuple[float, Callable[[], float]] = (0.0, float)
            self._default_ttl = None
            self._drop_on_oom = False
            return
        # BaseCache.__init__ swaps an unparsable TIMEOUT for 300; parse_alias has already
        # refused those, and this restores Django's int() truncation exactly.
        self.default_timeout = options.default_timeout
        self._default_ttl = django_timeout_to_ttl(DEFAULT_TIMEOUT, self.default_timeout)
        self.options = options
        self._view = Cache(store=store, db=options.database, stampede=options.stampede)
        # set() serializes, then stores, through the accessor's bound methods: two calls, so
        # that only what pickling raised becomes Django's promised PicklingError.
        accessor = self._view.accessor()
        self._encode = accessor.encode
        self._write = accessor.set_payload
        self._add = accessor.add_payload
        self._drop_on_oom = options.on_out_of_memory == "drop"
        self._codec = _Codec(weakref.proxy(self), accessor.loads)  # proxy: no reference cycle
        # get_or_set's hit path: the compiled read of the value or its fresh envelope.
        self._get_fresh = accessor.get_fresh
        beta = options.stampede.beta
        self._xfetch = (0.0 if beta is None else beta, self._view.store.flights.rng.random)
        signals.attach_bridge(store, self._view, location, options.database, PolicyCache)

    # ------------------------------------------------------------------ keys and timeouts

    def _key(self, key: Any, version: int | None) -> str:
        """Django's ``make_and_validate_key()``, inlined when that is provably equivalent."""
        if self._inline_keys and self.key_func is default_key_func:
            # "%s" formatting, not an f-string: byte-for-byte what default_key_func() makes,
            # even for key objects whose __format__ differs from __str__.
            made = "%s:%s:%s" % (  # noqa: UP031
                self.key_prefix,
                self.version if version is None else version,
                key,
            )
            # validate_key() warns only for keys over 250 characters or with characters in
            # [\x00-\x20\x7f]; isprintable() is False for all of those except the space.
            if len(made) > MEMCACHE_MAX_KEY_LENGTH or " " in made or not made.isprintable():
                self.validate_key(made)
            return made
        if type(self).make_and_validate_key is not BaseCache.make_and_validate_key:
            made = self.make_and_validate_key(key, version=version)
        else:
            made = self.make_key(key, version=version)
            if type(made) is str:
                self.validate_key(made)
        if type(made) is not str:
            raise TypeError(
                f"The cache key function returned {type(made).__name__} {short_repr(made)} for "
                f"key {short_repr(key)}; cachepolicy stores str keys, so KEY_FUNCTION must "
                "return a str."
            )
        return made

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        """Django's hook: the absolute expiry time (epoch seconds) for ``timeout``.

        Kept for API compatibility (third-party code calls it); the backend itself stores
        relative TTLs through :func:`~django_cachepolicy.options.django_timeout_to_ttl`.
        """
        ttl = django_timeout_to_ttl(timeout, self.default_timeout)
        if ttl is None:
            return None
        return self._view.store.clock.time() + (ttl if ttl > 0 else -1.0)

    def _misconfigured_encode(self, value: Any, key: str) -> bytes:
        raise ImproperlyConfigured(cast(_Misconfigured, self._view).message)

    def _misconfigured_write(self, key: str, payload: bytes, ttl: float | None) -> None:
        raise ImproperlyConfigured(cast(_Misconfigured, self._view).message)

    def _misconfigured_add(self, key: str, payload: bytes, ttl: float | None) -> bool:
        raise ImproperlyConfigured(cast(_Misconfigured, self._view).message)

    def _misconfigured_get_fresh(self, key: str, miss: Any, beta: float, draw: Any) -> Any:
        raise ImproperlyConfigured(cast(_Misconfigured, self._view).message)

    def _out_of_memory(self, exc: OutOfMemoryError | ValueTooLargeError, key: str) -> None:
        """Apply ON_OUT_OF_MEMORY: re-raise (the default) or log the lost write."""
        if not self._drop_on_oom:
            raise exc
        logger.warning(
            "Cache LOCATION %s dropped the write of key %s (ON_OUT_OF_MEMORY='drop'): %s",
            short_repr(self.location),
            short_repr(key),
            exc,
        )

    @staticmethod
    def _unpicklable(exc: Exception, key: str) -> Exception:
        """What pickling ``key``'s value raised, as the ``pickle.PickleError`` Django promises
        (whatever the value's ``__reduce__`` raised: ValueError, RecursionError...). Called
        only around serializing, so the store's own errors are never disguised; a
        PickleError, a configuration error and a real MemoryError pass unchanged."""
        if isinstance(exc, pickle.PickleError | ImproperlyConfigured | MemoryError):
            return exc
        error = pickle.PicklingError(f"Cannot cache the value of key {short_repr(key)}: {exc}")
        error.__cause__ = exc
        return error

    # ------------------------------------------------------------------ the BaseCache API

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        made = self._key(key, version)
        ttl = django_timeout_to_ttl(timeout, self.default_timeout)  # its errors are not pickling's
        try:
            payload = self._encode(value, made)
        except ValueTooLargeError as exc:
            self._out_of_memory(exc, made)
            return False
        except Exception as exc:
            raise self._unpicklable(exc, made) from exc
        try:
            return self._add(made, payload, ttl)
        except (OutOfMemoryError, ValueTooLargeError) as exc:
            self._out_of_memory(exc, made)
            return False

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._view.get(self._key(key, version), default)

    def set(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> None:
        """Django's ``set``; ``tags`` (at most 32 strings) let :meth:`invalidate_tags` make the
        entry a miss (``cachepolicy.errors.TagError`` for bad tags, nothing written)."""
        made = self._key(key, version)
        ttl = self._ttl_of(timeout)  # its errors aren't pickle's
        names = () if tags is None else check_tags(tags)
        try:
            payload = self._encode(value, made)
        except ValueTooLargeError as exc:  # refused while pickling: a refused write
            self._refused(exc, made)
            return
        except Exception as exc:
            raise self._unpicklable(exc, made) from exc
        if names:
            payload = self._view.tagged(payload, names)
        try:
            self._write(made, payload, ttl)
        except (OutOfMemoryError, ValueTooLargeError) as exc:
            self._refused(exc, made)

    def _ttl_of(self, timeout: Any) -> float | None:
        """The TTL of ``timeout`` (the default's, computed once, for DEFAULT_TIMEOUT)."""
        if timeout is DEFAULT_TIMEOUT:
            return self._default_ttl
        return django_timeout_to_ttl(timeout, self.default_timeout)

    def get_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """Django's ``get_or_set`` with single flight: when many threads miss ``key`` at once,
        one calls ``default()`` and the others wait for its value (``STAMPEDE_WAIT``, then
        ``STAMPEDE_ON_TIMEOUT``); early refresh (``XFETCH_BETA``) and serve-stale
        (``STALE_GRACE``) apply (see :mod:`cachepolicy.flight`), and ``tags`` as for
        :meth:`set`. An exception from ``default()`` reaches the caller that ran it; waiting
        callers retry. A non-callable ``default`` is a value, as in Django: stored with
        ``add()`` (``set()`` when tagged), no flight needed."""
        made = self._key(key, version)
        beta, draw = self._xfetch
        read = self._get_fresh(made, MISSED, beta, draw)
        if read is not MISSED and read is not PENDING and read is not REFRESH:
            return read  # a hit: one compiled call, as Django's get() is
        if not callable(default):
            if tags is None and read is MISSED:
                self.add(key, default, timeout, version)  # Django's meaning: add, then get
                return self.get(key, default, version)
            value = default
            default = lambda: value  # noqa: E731  (Django's meaning, through the flight)
        ttl = self._ttl_of(timeout)
        return self._view.get_or_set(made, default, ttl, codec=self._codec, tags=tags, read=read)

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written with any of ``tags`` a miss, for every alias and thread on
        this ``LOCATION`` (O(1) per tag; entries are removed when next read)."""
        self._view.invalidate_tags(*tags)

    def _refused(self, exc: OutOfMemoryError | ValueTooLargeError, made: str) -> None:
        """A set() the store refused: under 'raise' the caller gets the error and the cache is
        unchanged (Redis's OOM); under 'drop' the previous value must not be served as if this
        write had happened (Django's memcached backend deletes on a failed set likewise)."""
        self._out_of_memory(exc, made)
        self._view.delete(made)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """Set a new timeout. Giving a key its first TTL costs index bytes, so under memory
        pressure this can be refused like a write (ON_OUT_OF_MEMORY applies; False if dropped)."""
        made = self._key(key, version)
        try:
            return self._view.touch(made, django_timeout_to_ttl(timeout, self.default_timeout))
        except (OutOfMemoryError, ValueTooLargeError) as exc:
            self._out_of_memory(exc, made)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._view.delete(self._key(key, version))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        made = {self._key(key, version): key for key in keys}
        found = self._view.get_many(made)
        return {made[stored]: value for stored, value in found.items()}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._view.has(self._key(key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Atomically add ``delta``, keeping the TTL; ``ValueError`` if the key is missing."""
        made = self._key(key, version)
        try:
            return self._view.incr(made, delta)
        except KeyError:
            raise ValueError(f"Key {short_repr(key)} not found") from None

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, -delta, version=version)

    def set_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Any]:
        """Store every pair; return the keys that could not be stored (Django's contract).

        A value that cannot be pickled raises ``pickle.PickleError`` as ``set()`` does.
        Keys refused for lack of memory are returned (Django's contract for partial failure)
        whatever ON_OUT_OF_MEMORY says, logged under 'drop', and deleted so that no stale
        earlier value is served for them.
        """
        if not data:
            return []
        made: dict[str, Any] = {}
        payload: dict[str, bytes | None] = {}
        encode = self._encode
        names = () if tags is None else check_tags(tags)
        tagged = self._view.tagged
        for key, value in data.items():
            stored = self._key(key, version)
            made[stored] = key
            try:  # every value is pickled before anything is stored: all or nothing
                pickled = encode(value, stored)
                payload[stored] = tagged(pickled, names) if names else pickled
            except ValueTooLargeError:
                payload[stored] = None  # refused while pickling: reported like a refused write
            except Exception as exc:
                raise self._unpicklable(exc, stored) from exc
        ttl = django_timeout_to_ttl(timeout, self.default_timeout)
        write = self._write
        failed: list[str] = []
        for stored, encoded in payload.items():
            if encoded is None:
                failed.append(stored)
                continue
            try:
                if write(stored, encoded, ttl) is False:  # the policy refused to admit it
                    failed.append(stored)
            except (OutOfMemoryError, ValueTooLargeError):
                failed.append(stored)
        if failed:
            self._view.delete_many(failed)
        if failed and self._drop_on_oom:
            logger.warning(
                "Cache LOCATION %s could not store %d of %d keys of a set_many() "
                "(ON_OUT_OF_MEMORY='drop').",
                short_repr(self.location),
                len(failed),
                len(payload),
            )
        return [made[stored] for stored in failed]

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self._view.delete_many([self._key(key, version) for key in keys])

    def clear(self) -> None:
        """Empty this alias's database of the store (other databases are untouched)."""
        self._view.clear()

    def close(self, **kwargs: Any) -> None:
        """Django calls this after every request; the shared store must outlive it."""

    # ------------------------------------------------------------------ async, without a thread hop

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self.add(key, value, timeout, version)

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._view.get(self._key(key, version), default)

    async def aget_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """:meth:`get_or_set` for asyncio tasks: ``default`` may be an ``async def``
        function; a task waiting for another caller's computation is suspended, not blocking
        the loop (:meth:`cachepolicy.Cache.aget_or_set`)."""
        if not callable(default):
            return self.get_or_set(key, default, timeout, version, tags)
        made = self._key(key, version)
        ttl = self._ttl_of(timeout)
        return await self._view.aget_or_set(made, default, ttl, codec=self._codec, tags=tags)

    async def aset(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> None:
        self.set(key, value, timeout, version, tags)

    async def ainvalidate_tags(self, *tags: str) -> None:
        self.invalidate_tags(*tags)

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self.touch(key, timeout, version)

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        return self.delete(key, version)

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return self.get_many(keys, version)

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        return self.has_key(key, version)

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, delta, version)

    async def adecr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, -delta, version)

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        return self.set_many(data, timeout, version)

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self.delete_many(keys, version)

    async def aclear(self) -> None:
        self.clear()

    async def aclose(self, **kwargs: Any) -> None:
        """See :meth:`close`."""

    # ------------------------------------------------------------------ cachepolicy extras

    @property
    def view(self) -> Cache:
        """The core :class:`cachepolicy.Cache` view behind this alias (TTL, INFO, events...)."""
        return self._view

    def config_set(self, name: str, value: Any) -> None:
        """Redis's ``CONFIG SET`` on the shared store: ``maxmemory``, ``maxmemory_policy``
        (``"MAXMEMORY_POLICY"`` and ``"maxmemory-policy"`` also work), ``maxmemory_samples``,
        ``eviction_mode``, ``lfu_log_factor`` or ``lfu_decay_time``. Every alias on this
        ``LOCATION`` sees the change; ``settings.CACHES`` keeps describing how the store was
        built, so backends created afterwards (one per thread) still attach to it. A bad name
        or value raises the core's ``ConfigError`` naming it."""
        self._view.config_set(name, value)

    def info(self) -> dict[str, Any]:
        """Redis-INFO-style statistics of the shared store (``cacheinfo`` prints these)."""
        return self._view.info()
