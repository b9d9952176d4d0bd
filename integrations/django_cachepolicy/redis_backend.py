"""``RedisPolicyCache``: a Django cache backend on Redis or Redis Cluster, with native async.

Settings::

    CACHES = {"default": {
        "BACKEND": "django_cachepolicy.RedisPolicyCache",
        "LOCATION": "redis://127.0.0.1:6379/0",   # several URLs (comma list): a cluster
        "OPTIONS": {"MAXMEMORY": "1gb", "MAXMEMORY_POLICY": "allkeys-lfu"},
    }}

``OPTIONS`` are the in-process backend's names (``MAXMEMORY``, ``MAXMEMORY_POLICY``,
``MAXMEMORY_SAMPLES``, ``LFU_LOG_FACTOR``, ``LFU_DECAY_TIME``, ``ACTIVE_EXPIRE_EFFORT``, ``HZ``,
``LAZYFREE_THRESHOLD``, ``DATABASES``, ``DATABASE``), validated by the same code, plus the Redis
tier's (``TOPOLOGY``, ``APPLY_CONFIG``, ``SERIALIZER``, ``SIGNING_KEY``, ``FLUSH_ON_CLEAR``,
``EVENTS``, ``LAZYFREE_LAZY_*``, ``CLIENT_OPTIONS``) and the near cache's (``NEAR_CACHE``,
``NEAR_CACHE_STALENESS``, ``NEAR_CACHE_MODE``: an in-process L1 in front of Redis, shared by
every thread's backend object; :mod:`cachepolicy.redis.two_tier`); see ``docs/redis.md``.
By default the memory options are read back from the server and differences are system-check
warnings (``django_cachepolicy.W201``); ``APPLY_CONFIG=True`` sets them with ``CONFIG SET``
instead.

Shape: as Django's own ``redis.py``, each method makes the key (``make_and_validate_key``),
turns the timeout into a TTL (:func:`~django_cachepolicy.options.django_timeout_to_ttl`: the
same translation as the in-process backend) and makes one call on the framework-free client
(:mod:`cachepolicy.redis.client`). The ``a*`` methods await :class:`AsyncRedisClient`
(``redis.asyncio``) directly: no ``sync_to_async`` thread hop.

``clear()`` deletes only this alias's keys (``SCAN MATCH <KEY_PREFIX>:*`` + ``UNLINK``, on every
primary of a cluster), never the whole database unless ``FLUSH_ON_CLEAR=True``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from django.apps import apps
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, default_key_func
from django.core.exceptions import ImproperlyConfigured

from cachepolicy import ConfigError
from cachepolicy.errors import short_repr
from cachepolicy.flight import STAMPEDE_EVENTS
from cachepolicy.options import options_for
from cachepolicy.redis import flight as redis_flight
from cachepolicy.redis.client import (
    AsyncRedisClient,
    RedisAuthenticationError,
    RedisClient,
    RedisTopologyError,
    new_stampede_hub,
)
from cachepolicy.redis.connection_options import redacted
from cachepolicy.redis.info import redis_info, redis_info_text
from cachepolicy.redis.serializers import RejectionCounter
from cachepolicy.redis.settings import RedisSettings, parse_redis_settings
from cachepolicy.redis.two_tier import AsyncNearRedisClient, NearRedisClient

from . import signals
from .options import django_timeout_to_ttl, parse_timeout

__all__ = ["RedisPolicyCache", "redis_settings_for"]

logger = logging.getLogger("django_cachepolicy")

# OPTIONS keys of this backend that are not handed to the Redis settings parser.
_ALIAS_OPTIONS = ("DATABASE",)


def redis_settings_for(location: Any, params: Mapping[str, Any]) -> RedisSettings:
    """Validate one ``CACHES`` entry of this backend; :class:`ConfigError` names the option.

    OPTIONS keys are upper case, as everywhere in Django's ``CACHES`` (the in-process
    backend's rule): a lower-case spelling is refused with the upper-case one suggested.
    """
    options = params.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"OPTIONS must be a dict, not {type(options).__name__}.", option="OPTIONS"
        )
    for name in options:
        if not isinstance(name, str) or name != name.upper():
            raise ConfigError(
                f"OPTIONS key {short_repr(name)} must be upper case "
                f"(Did you mean {str(name).upper().replace('-', '_')!r}?).",
                option=str(name),
            )
    rest = {k: v for k, v in options.items() if k not in _ALIAS_OPTIONS}
    # The database: LOCATION's (/3 or ?db=3) or DATABASE's; both and different is an error.
    return parse_redis_settings(location, rest, db=options.get("DATABASE"))


class _Misconfigured:
    """Stands in for the clients of a misconfigured alias: any use raises the error."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __getattr__(self, name: str) -> Any:
        raise ImproperlyConfigured(self.message)


# Start-up work (CONFIG SET, the event listener) runs once per process per settings: Django
# builds a backend object per thread (and per async context).
_STARTED: set[tuple[str, int, str]] = set()
# A forked worker has no listener threads: it runs its own start-up again.
os.register_at_fork(after_in_child=_STARTED.clear)
# repr of (LOCATION, params) -> (default timeout, settings, sync client, async client).
_BUILT: dict[str, tuple[float | None, RedisSettings, RedisClient, AsyncRedisClient]] = {}
_STARTED_LOCK = threading.Lock()


class RedisPolicyCache(BaseCache):
    """Django cache backend on Redis / Redis Cluster with cachepolicy's option names."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.location = location
        # Django builds a backend object per thread, and per request context under ASGI: the
        # validated settings and the clients (whose pools are shared anyway) are made once per
        # configuration and process, so building one is a dict lookup.
        memo_key = repr((location, sorted(params.items(), key=lambda item: str(item[0]))))
        made = _BUILT.get(memo_key)
        if made is None:
            try:
                # Django's own TIMEOUT rules, with BaseCache's silent fallback to 300 refused.
                timeout = parse_timeout(f"The cache at {short_repr(redacted(location))}", params)
                settings = redis_settings_for(location, params)
            except (ConfigError, ImproperlyConfigured) as exc:
                message = (
                    f"Invalid RedisPolicyCache settings (LOCATION "
                    f"{short_repr(redacted(location))}): {exc}"
                )
                if not (apps.apps_ready and apps.is_installed("django_cachepolicy")):
                    raise ImproperlyConfigured(message) from exc
                # Django builds every cache while the system checks run; raising here would
                # crash `manage.py check` before our check reports this (E201) with its hint.
                self._client = cast(RedisClient, _Misconfigured(message))
                self._async = cast(AsyncRedisClient, _Misconfigured(message))
                return
            made = (timeout, settings, *self._make_clients(settings))
            _BUILT[memo_key] = made
        self.default_timeout, self.settings, self._client, self._async = made
        signals.attach_bridge(
            None,
            self._client.stampede,
            location,
            self.settings.db,
            type(self),
            events=STAMPEDE_EVENTS,
        )
        self._start_once()

    def _make_clients(self, settings: RedisSettings) -> tuple[RedisClient, AsyncRedisClient]:
        """Plain clients, or (``NEAR_CACHE``) the two-tier ones: the process's near cache for
        this server, L1 settings and key prefix in front of Redis."""
        # One count of refused payloads for both: rejected_payloads counts the async path too.
        # One set of stampede counters and event subscribers too, for the same reason.
        shared: dict[str, Any] = {"rejections": RejectionCounter(), "stampede": new_stampede_hub()}
        prefix = self.key_pattern_prefix  # the tags' generation keys start with it too
        if settings.near is None:
            return (
                RedisClient(settings, tag_prefix=prefix, **shared),
                AsyncRedisClient(settings, tag_prefix=prefix, **shared),
            )
        return (
            NearRedisClient(settings, prefix=prefix, **shared),
            AsyncNearRedisClient(settings, prefix=prefix, **shared),
        )

    # ------------------------------------------------------------------ start-up

    @property
    def key_pattern_prefix(self) -> str:
        """What every key of this alias starts with (``clear()`` deletes exactly those).

        Django's default key function makes ``<KEY_PREFIX>:<VERSION>:<key>``; with a custom
        ``KEY_FUNCTION`` it is the part two made keys of different keys and versions share.
        """
        if self.key_func is default_key_func:
            return f"{self.key_prefix}:"
        first = str(self.key_func("a", self.key_prefix, 1))
        second = str(self.key_func("b", self.key_prefix, 2))
        # A character-wise common prefix is meant here (not path components).
        return os.path.commonprefix([first, second])  # noqa: RUF071

    def _start_once(self) -> None:
        marker = (repr(self.settings), id(type(self)), self.key_pattern_prefix)
        with _STARTED_LOCK:
            if marker in _STARTED:
                return
            _STARTED.add(marker)
        from cachepolicy.redis import server_config

        settings = self.settings

        def start(servers: list[tuple[str, Any]]) -> bool:
            if settings.apply_config:
                server_config.apply_server_config(servers, settings)
                for _name, server in servers:
                    server_config.enable_notify_flags(server, settings.events)
            # After CONFIG SET: the limit the server runs with (the async client shares it).
            self._client.learn_payload_limit(servers)
            return not any(
                server_config.missing_notify_flags(server, settings.events)
                for _name, server in servers
            )

        try:
            notifying = self._client.on_primaries(start)
            if settings.events and notifying and apps.is_installed("django_cachepolicy"):
                self._listen()
        except ConnectionError as exc:
            # The server may come back; every operation will raise until it does, and the
            # system check (W203) says so at start-up.
            logger.warning(
                "RedisPolicyCache %s: start-up skipped: %s", redacted(self.location), exc
            )
            with _STARTED_LOCK:
                _STARTED.discard(marker)

    def _listen(self) -> None:
        from cachepolicy.redis.notifications import listen

        prefix = self.key_pattern_prefix
        location = self.location
        database = self.settings.db
        sender = type(self)

        def relay(event: str, key: str) -> None:
            if not key.startswith(prefix):
                return  # another application's key on a shared server
            signal = signals.SIGNAL_BY_EVENT.get(event)
            arguments = {"event": event, "key": key, "location": location, "database": database}
            if signal is not None and signal.receivers:
                signal.send(sender=sender, **arguments)
            if signals.keyspace_event.receivers:
                signals.keyspace_event.send(sender=sender, **arguments)

        listen(self._client, relay)

    # ------------------------------------------------------------------ helpers

    def _ttl(self, timeout: Any) -> float | None:
        return django_timeout_to_ttl(timeout, self.default_timeout)

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        """Seconds until expiry as Redis gets them (``None`` = never, ``0`` = at once)."""
        ttl = self._ttl(timeout)
        return None if ttl is None else max(0.0, ttl)

    def _key(self, key: Any, version: int | None) -> str:
        return self.make_and_validate_key(key, version=version)

    def _keys(self, keys: Iterable[Any], version: int | None) -> dict[str, Any]:
        """Made key -> the caller's key, in order (duplicates once)."""
        return {self._key(key, version): key for key in keys}

    @staticmethod
    @contextlib.contextmanager
    def _dumps_guard() -> Iterator[None]:
        """Django promises pickle.PickleError for values that cannot be stored; pickle itself
        raises TypeError/AttributeError for some (lambdas, local classes)."""
        try:
            yield
        except (TypeError, AttributeError) as exc:
            error = pickle.PicklingError(str(exc))
            error.__cause__ = exc
            raise error from exc

    @staticmethod
    @contextlib.contextmanager
    def _missing_is_value_error(key: Any) -> Iterator[None]:
        """incr/decr of a missing key: Django's ValueError (the client raises KeyError)."""
        try:
            yield
        except KeyError:
            raise ValueError(f"Key {short_repr(key)} not found") from None

    # ------------------------------------------------------------------ the BaseCache API

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        made, ttl = self._key(key, version), self._ttl(timeout)
        with self._dumps_guard():
            return self._client.add(made, value, ttl)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._client.get(self._key(key, version), default)

    def set(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> None:
        """Django's ``set``; ``tags`` (at most 32 strings) let :meth:`invalidate_tags` make the
        entry a miss in every process (``cachepolicy.errors.TagError`` for bad tags, nothing
        written)."""
        made, ttl = self._key(key, version), self._ttl(timeout)
        with self._dumps_guard():
            self._client.set(made, value, ttl, tags)

    def _flight_args(
        self, key: Any, default: Any, timeout: Any, version: int | None, tags: Any
    ) -> tuple[str, Any, float | None]:
        """(the made key, the computation, the TTL) of a ``get_or_set``: a non-callable
        ``default`` is a value (Django's meaning), stored through the flight."""
        compute = default if callable(default) else (lambda: default)
        return self._key(key, version), compute, self._ttl(timeout)

    def get_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """Django's ``get_or_set`` with single flight across processes: the first caller takes
        a lock in Redis and computes, the others wait for its value; early refresh
        (``XFETCH_BETA``) and serve-stale (``STALE_GRACE``) apply, and ``tags`` as for
        :meth:`set` (:mod:`cachepolicy.redis.flight`)."""
        if not callable(default) and tags is None:
            return super().get_or_set(key, default, timeout, version)
        # Not in _dumps_guard: a TypeError from default() itself must reach the caller as is.
        made, compute, ttl = self._flight_args(key, default, timeout, version, tags)
        return redis_flight.get_or_set(
            self._client, made, compute, ttl, self.settings.stampede, tags=tags
        )

    async def aget_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """:meth:`get_or_set` for asyncio tasks on the native async client; ``default`` may
        be an ``async def`` function."""
        if not callable(default) and tags is None:
            return await super().aget_or_set(key, default, timeout, version)
        made, compute, ttl = self._flight_args(key, default, timeout, version, tags)
        return await redis_flight.aget_or_set(
            self._async, made, compute, ttl, self.settings.stampede, tags=tags
        )

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written with any of ``tags`` a miss, for every process on this
        server (one ``INCR`` per tag; entries are removed when next read)."""
        self._client.invalidate_tags(*tags)

    async def ainvalidate_tags(self, *tags: str) -> None:
        await self._async.invalidate_tags(*tags)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._client.touch(self._key(key, version), self._ttl(timeout))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._client.delete(self._key(key, version))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        made = self._keys(keys, version)
        return {made[k]: v for k, v in self._client.get_many(list(made)).items()}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._client.has(self._key(key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Atomic ``INCRBY`` keeping the TTL; ``ValueError`` if the key is missing."""
        made = self._key(key, version)
        with self._missing_is_value_error(key):
            return self._client.incr(made, delta)

    def decr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self.incr(key, -delta, version=version)

    def set_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Any]:
        if not data:
            return []
        made, ttl = self._keys(data, version), self._ttl(timeout)
        with self._dumps_guard():
            refused = self._client.set_many({k: data[made[k]] for k in made}, ttl, tags)
        return [made[k] for k in refused]  # too large, or the server out of memory

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        made = list(self._keys(keys, version))
        if made:
            self._client.delete_many(made)

    def clear(self) -> None:
        """Delete this alias's keys only (see :attr:`key_pattern_prefix`)."""
        self._client.clear(self.key_pattern_prefix)

    def close(self, **kwargs: Any) -> None:
        """Django calls this after every request; the shared connection pool outlives it."""

    # ------------------------------------------------------------------ native async

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        made, ttl = self._key(key, version), self._ttl(timeout)
        with self._dumps_guard():
            return await self._async.add(made, value, ttl)

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return await self._async.get(self._key(key, version), default)

    async def aset(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> None:
        made, ttl = self._key(key, version), self._ttl(timeout)
        with self._dumps_guard():
            await self._async.set(made, value, ttl, tags)

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return await self._async.touch(self._key(key, version), self._ttl(timeout))

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        return await self._async.delete(self._key(key, version))

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        made = self._keys(keys, version)
        return {made[k]: v for k, v in (await self._async.get_many(list(made))).items()}

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        return await self._async.has(self._key(key, version))

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        made = self._key(key, version)
        with self._missing_is_value_error(key):
            return await self._async.incr(made, delta)

    async def adecr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return await self.aincr(key, -delta, version=version)

    async def aset_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Any]:
        if not data:
            return []
        made, ttl = self._keys(data, version), self._ttl(timeout)
        with self._dumps_guard():
            refused = await self._async.set_many({k: data[made[k]] for k in made}, ttl, tags)
        return [made[k] for k in refused]

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        made = list(self._keys(keys, version))
        if made:
            await self._async.delete_many(made)

    async def aclear(self) -> None:
        await self._async.clear(self.key_pattern_prefix)

    async def aclose(self, **kwargs: Any) -> None:
        """Django calls this after async requests; the per-loop pool outlives it."""

    # ------------------------------------------------------------------ cachepolicy extras

    @property
    def client(self) -> RedisClient:
        """The framework-free sync client (its ``remote`` is the redis-py client)."""
        return self._client

    @property
    def async_client(self) -> AsyncRedisClient:
        return self._async

    @property
    def database(self) -> int:
        return self.settings.db

    def info(self) -> dict[str, Any]:
        """The server's INFO in the in-process ``info()`` shape (per primary on a cluster),
        plus this process's near cache (``near_cache_*``) when ``NEAR_CACHE`` is on, and this
        process's stampede and tag counters (``stampede_*``, ``tags_invalidated*``: the
        in-process tier's names, for this process's callers of this alias)."""
        extra = {"rejected_payloads": self._client.rejected_payloads}
        extra.update(self._client.stampede.counters())
        cluster = self.settings.cluster
        report: dict[str, Any] = self._client.on_primaries(
            lambda servers: redis_info(servers, cluster=cluster, extra=extra)
        )
        if isinstance(self._client, NearRedisClient):
            report.update(self._client.near_info())
        return report

    def info_text(self) -> str:
        return redis_info_text(self.info())


# ---------------------------------------------------------------------- system checks

E_INVALID = "django_cachepolicy.E201"
E_CREDENTIALS = "django_cachepolicy.E202"
E_TOPOLOGY = "django_cachepolicy.E203"
W_MISMATCH = "django_cachepolicy.W201"
W_NO_NOTIFICATIONS = "django_cachepolicy.W202"
W_UNREACHABLE = "django_cachepolicy.W203"


# OPTIONS key -> the sentence naming its accepted values, from the options table.
_HINTS: dict[str, str] = {
    option.django_key: option.accepts
    for option in options_for("redis")
    if option.django_key is not None and option.django_in_options
}


def _hint_for(option: str | None) -> str:
    """The E201 hint: what the named option accepts (the options table's sentence)."""
    accepts = _HINTS.get(str(option).upper()) if option else None
    return accepts or "See the OPTIONS table in docs/redis.md and docs/configuration.md."


def redis_aliases(caches: Mapping[str, Any]) -> list[str]:
    """The aliases of ``caches`` whose backend is ``RedisPolicyCache`` or a subclass."""
    from django.utils.module_loading import import_string

    found = []
    for alias, params in caches.items():
        if not isinstance(params, Mapping):
            continue
        backend = params.get("BACKEND", "")
        try:
            cls = import_string(backend) if isinstance(backend, str) else backend
        except (ImportError, ValueError, TypeError):
            continue
        if isinstance(cls, type) and issubclass(cls, RedisPolicyCache):
            found.append(alias)
    return found


def check_redis_caches(caches: Mapping[str, Any]) -> list[Any]:
    """E201 for invalid settings; W201-W203 from reading the server's configuration back.

    ======================  =============================================================
    django_cachepolicy.E201  invalid RedisPolicyCache OPTIONS / LOCATION / TIMEOUT
    django_cachepolicy.E202  the server refused the credentials (password, user name)
    django_cachepolicy.E203  TOPOLOGY does not match the server (cluster vs standalone)
    django_cachepolicy.W201  the server's memory configuration differs from OPTIONS
    django_cachepolicy.W202  the server does not publish the keyspace events EVENTS needs
    django_cachepolicy.W203  the server could not be reached to check its configuration
    ======================  =============================================================
    """
    from django.core.checks import Error, Warning

    from cachepolicy.redis import server_config

    messages: list[Any] = []
    for alias in redis_aliases(caches):
        params = caches[alias]
        obj = f"CACHES[{alias!r}]"
        try:
            parse_timeout(f"Cache alias {alias!r}", params)
            settings = redis_settings_for(params.get("LOCATION", ""), params)
        except (ConfigError, ImproperlyConfigured) as exc:
            messages.append(
                Error(
                    f"Cache alias {alias!r} (RedisPolicyCache) is misconfigured: {exc}",
                    hint=_hint_for(getattr(exc, "option", None)),
                    obj=obj,
                    id=E_INVALID,
                )
            )
            continue
        if settings.apply_config:
            continue  # the backend sets the server's configuration itself at start-up
        client = RedisClient(settings)

        def read_back(
            servers: list[tuple[str, Any]], settings: RedisSettings = settings
        ) -> tuple[list[server_config.Mismatch], dict[str, str]]:
            missing = {
                name: flags
                for name, server in servers
                if (flags := server_config.missing_notify_flags(server, settings.events))
            }
            return server_config.check_server_config(servers, settings), missing

        try:
            mismatches, missing = client.on_primaries(read_back)
        except RedisAuthenticationError as exc:
            messages.append(
                Error(
                    f"Cache alias {alias!r}: {exc}",
                    hint="Fix the password (and user name) in LOCATION "
                    "(redis://user:password@host:port) or OPTIONS['CLIENT_OPTIONS'].",
                    obj=obj,
                    id=E_CREDENTIALS,
                )
            )
            continue
        except RedisTopologyError as exc:
            messages.append(
                Error(
                    f"Cache alias {alias!r}: {exc}",
                    hint="Set OPTIONS['TOPOLOGY'] to what the server runs, or leave it "
                    "'auto' (several URLs in LOCATION mean a cluster, one URL a server).",
                    obj=obj,
                    id=E_TOPOLOGY,
                )
            )
            continue
        except ConnectionError as exc:
            messages.append(
                Warning(
                    f"Cache alias {alias!r}: could not check the Redis configuration: {exc}",
                    hint="Start the server, or fix LOCATION.",
                    obj=obj,
                    id=W_UNREACHABLE,
                )
            )
            continue
        messages.extend(
            Warning(
                f"Cache alias {alias!r}: {mismatch.sentence()}",
                hint="Set OPTIONS['APPLY_CONFIG'] = True to CONFIG SET it at start-up (it "
                "changes the server for every client), or change the server's configuration.",
                obj=obj,
                id=W_MISMATCH,
            )
            for mismatch in mismatches
        )
        messages.extend(
            Warning(
                f"Cache alias {alias!r}: Redis server {name} does not publish the "
                f"{'/'.join(settings.events)} keyspace events (notify-keyspace-events lacks "
                f"{flags!r}), so the django_cachepolicy expired/evicted signals will not fire.",
                hint="Set OPTIONS['APPLY_CONFIG'] = True, add the classes to the server's "
                "notify-keyspace-events, or set OPTIONS['EVENTS'] = () to silence this.",
                obj=obj,
                id=W_NO_NOTIFICATIONS,
            )
            for name, flags in missing.items()
        )
    return messages
