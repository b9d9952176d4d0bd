"""``RedisPolicyCache``: a Flask-Caching backend on Redis or Redis Cluster.

Configuration::

    app.config.update(
        CACHE_TYPE="flask_cachepolicy.RedisPolicyCache",
        CACHE_REDIS_URL="redis://127.0.0.1:6379/0",   # several, comma separated: a cluster
        CACHE_KEY_PREFIX="myapp:",
        CACHE_MAXMEMORY="1gb", CACHE_MAXMEMORY_POLICY="allkeys-lfu",
        CACHE_OPTIONS={"apply_config": False, "serializer": "pickle"},
    )

The ``CACHE_*`` option keys are the in-process :class:`~flask_cachepolicy.PolicyCache`'s, read
by the same code (:func:`~flask_cachepolicy.settings.backend_kwargs_from_flask`), so errors name
the Flask key. Redis-tier options go in ``CACHE_OPTIONS`` (``topology``, ``apply_config``,
``serializer``, ``signing_key``, ``flush_on_clear``, ``events``, ``lazyfree_lazy_*``,
``client_options``); the database is ``CACHE_REDIS_DB`` (or the URL's path). The near cache
(an in-process L1 in front of Redis) is ``CACHE_NEAR_CACHE`` (``True`` or a dict of L1
options), ``CACHE_NEAR_CACHE_STALENESS`` and ``CACHE_NEAR_CACHE_MODE`` (or the same names in
``CACHE_OPTIONS``); its L1 is shared by every backend object of the process on the same
server, L1 settings and ``CACHE_KEY_PREFIX``. ``CACHE_THRESHOLD``
is ignored, as by Flask-Caching's own ``RedisCache``: Flask-Caching fills it in for every
backend, and Redis bounds memory (``CACHE_MAXMEMORY``), not entries.

Timeouts follow Flask-Caching (``0`` = never expire, ``None`` = the default) through
:func:`~flask_cachepolicy.timeouts.flask_timeout_to_ttl`, the in-process backend's function.
A configuration mismatch with the server (memory options, ``notify-keyspace-events``) is a
logged warning at start-up; ``expired``/``evicted`` notifications are sent as the same blinker
signals as in-process events (:mod:`flask_cachepolicy.signals`), and so are the stampede events
(``computed``, ``stale_served``, ``refreshed_early``, ``tag_invalidated``) of this process's
``get_or_set`` and ``invalidate_tags`` calls.
"""

from __future__ import annotations

import logging
import pickle
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cachelib.serializers import BaseSerializer, SimpleSerializer
from flask_caching.backends.base import BaseCache

from cachepolicy import ConfigError, OutOfMemoryError, ValueTooLargeError
from cachepolicy.errors import short_repr
from cachepolicy.redis import flight as redis_flight
from cachepolicy.redis import server_config
from cachepolicy.redis.client import RedisClient
from cachepolicy.redis.info import redis_info, redis_info_text
from cachepolicy.redis.serializers import PayloadCodec, resolve_redis_serializer
from cachepolicy.redis.settings import RedisSettings, parse_redis_settings
from cachepolicy.redis.two_tier import NearRedisClient

from . import signals as _signals
from .backend import _EventRelay
from .settings import NEAR_KEYS, backend_kwargs_from_flask, flask_key_for
from .timeouts import FlaskTimeout, flask_timeout_to_ttl, timeout_seconds

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["RedisPolicyCache"]

logger = logging.getLogger("flask_cachepolicy")

# backend_kwargs_from_flask() results that are the in-process store's, with no Redis meaning
# beyond what parse_redis_settings() decides (it refuses expiry/cull_frequency by name).
_NOT_SERVER_OPTIONS = ("default_timeout", "ignore_delete_many_errors", "key_prefix", "threshold")
# Writes refused for lack of memory: False (cachelib's convention), as the in-process backend.
_REFUSED_WRITES = (OutOfMemoryError, ValueTooLargeError)


class _CachelibSerializer:
    """A cachelib serializer seen as a cachepolicy one (``CACHE_SERIALIZER``)."""

    def __init__(self, serializer: BaseSerializer) -> None:
        self.serializer = serializer

    def dumps(self, value: Any) -> bytes:
        payload = self.serializer.dumps(value)
        if payload is None:  # cachelib logs a pickling error and returns None
            raise pickle.PicklingError(f"cannot serialize {short_repr(value)}")
        return bytes(payload)

    def loads(self, payload: bytes) -> Any:
        return self.serializer.loads(payload)


class _DefaultSerializer(SimpleSerializer):
    """The backend's default ``serializer``: a cachelib ``SimpleSerializer`` (the contract)
    whose work the Redis codec does (integers as text, the rest by the configured one)."""


def _near_options_from_flask(
    config: Mapping[str, Any], backend_kwargs: dict[str, Any], origins: dict[str, str]
) -> None:
    """``CACHE_NEAR_CACHE``, ``CACHE_NEAR_CACHE_STALENESS``, ``CACHE_NEAR_CACHE_MODE``: the
    near cache's options as top-level keys (as the core options are), or in CACHE_OPTIONS;
    both with different values is an error, as for every other option."""
    for name, key in NEAR_KEYS.items():
        if key not in config or config[key] is None:
            continue
        value = config[key]
        if name in backend_kwargs and backend_kwargs[name] != value:
            raise ConfigError(
                f"The option {name!r} is set twice with different values: {key}="
                f"{short_repr(value)} and {origins.get(name, 'CACHE_OPTIONS')}="
                f"{short_repr(backend_kwargs[name])}. Set it in one place.",
                option=key,
            )
        backend_kwargs[name] = value
        origins[name] = key


class RedisPolicyCache(BaseCache):
    """Flask-Caching backend on Redis / Redis Cluster with cachepolicy's option names."""

    def __init__(
        self,
        location: Any,
        default_timeout: FlaskTimeout = 300,
        ignore_delete_many_errors: bool = False,
        *,
        key_prefix: str = "",
        db: int | None = None,
        app: Flask | None = None,
        **options: Any,
    ) -> None:
        try:
            timeout_seconds(default_timeout, what="default timeout (CACHE_DEFAULT_TIMEOUT)")
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), option="default_timeout") from exc
        if not isinstance(key_prefix, str):
            raise ConfigError(
                "The key prefix (CACHE_KEY_PREFIX) must be a string, not "
                f"{short_repr(key_prefix)}.",
                option="key_prefix",
            )
        self.default_timeout = default_timeout  # type: ignore[assignment]
        # cachelib's flag; a key that does not exist counts as deleted, so nothing can fail.
        self.ignore_delete_many_errors = bool(ignore_delete_many_errors)
        self.key_prefix = key_prefix
        # The database: the URL's (/3 or ?db=3) or CACHE_REDIS_DB's; both and different is an
        # error naming both.
        self.settings: RedisSettings = parse_redis_settings(
            location,
            options,
            db=db,
            location_option="CACHE_REDIS_URL",
            db_option="CACHE_REDIS_DB",
        )
        self._client: RedisClient = (
            RedisClient(self.settings, tag_prefix=key_prefix)
            if self.settings.near is None
            else NearRedisClient(self.settings, prefix=key_prefix)
        )
        self._default_serializer = _DefaultSerializer()
        self._serializer: BaseSerializer | None = None
        self._generic_lock = threading.Lock()
        self._app_ref = weakref.ref(app) if app is not None else None
        self._unsubscribe: Any = None
        self.mismatches: list[server_config.Mismatch] = []
        # This process's stampede events, as the in-process backend's signals (the hub is
        # this backend's client's: nothing to unsubscribe, the relay holds the backend weakly).
        self._client.stampede.subscribe(
            _EventRelay(weakref.ref(self), self._app_ref, key_prefix, self.settings.db)
        )
        self._start()

    # -- start-up ------------------------------------------------------------------------

    def _start(self) -> None:
        """CONFIG SET (opted in) or CONFIG GET and warn; start relaying keyspace events."""
        try:
            self._client.on_primaries(self._start_on)
        except ConnectionError as exc:
            logger.warning("RedisPolicyCache: start-up checks skipped: %s", exc)

    def _start_on(self, servers: list[tuple[str, Any]]) -> None:
        if self.settings.apply_config:
            server_config.apply_server_config(servers, self.settings)
            for _name, server in servers:
                server_config.enable_notify_flags(server, self.settings.events)
        else:
            self.mismatches = server_config.check_server_config(servers, self.settings)
            for mismatch in self.mismatches:
                logger.warning(
                    "%s Set CACHE_OPTIONS={'apply_config': True} to CONFIG SET it, or "
                    "change the server's configuration.",
                    mismatch.sentence(),
                )
        self._client.learn_payload_limit(servers)  # after CONFIG SET: what the server runs
        missing = {
            name: flags
            for name, server in servers
            if (flags := server_config.missing_notify_flags(server, self.settings.events))
        }
        for name, flags in missing.items():
            logger.warning(
                "Redis server %s does not publish the %s keyspace events (its "
                "notify-keyspace-events lacks %r), so the keyspace signals will not fire. "
                "Set CACHE_OPTIONS={'apply_config': True} or configure the server.",
                name,
                "/".join(self.settings.events),
                flags,
            )
        if self.settings.events and not missing:
            self._listen()

    def _listen(self) -> None:
        from cachepolicy.redis.notifications import listen

        backend_ref = weakref.ref(self)
        app_ref = self._app_ref
        prefix = self.key_prefix

        def relay(event: str, key: str) -> None:
            backend = backend_ref()
            if backend is None or not key.startswith(prefix):
                return
            sender: Any = app_ref() if app_ref is not None else backend
            if sender is None:
                return
            extra: dict[str, Any] = {
                "cache": backend,
                "key": key[len(prefix) :],
                "event": event,
                "db": backend.settings.db,
            }
            _signals.keyspace_event.send(sender, **extra)
            specific = _signals.EVENT_SIGNALS.get(event)
            if specific is not None:
                specific.send(sender, **extra)

        self._unsubscribe = listen(self._client, relay)
        weakref.finalize(self, self._unsubscribe)

    @classmethod
    def factory(
        cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> RedisPolicyCache:
        """Build the backend from Flask settings; errors name the Flask key."""
        backend_kwargs, origins = backend_kwargs_from_flask(config, args, kwargs)
        _near_options_from_flask(config, backend_kwargs, origins)
        location = config.get("CACHE_REDIS_URL") or backend_kwargs.pop("location", None)
        backend_kwargs.pop("location", None)
        origins.setdefault("location", "CACHE_REDIS_URL")
        origins.setdefault("db", "CACHE_REDIS_DB")
        if not location:
            raise ConfigError(
                "Set CACHE_REDIS_URL to the Redis server's URL (e.g. 'redis://127.0.0.1:6379/0'; "
                "several URLs separated by commas for a Redis Cluster).",
                option="CACHE_REDIS_URL",
            )
        db = backend_kwargs.pop("db", None)
        if db is None:
            db = config.get("CACHE_REDIS_DB")  # None: not given (the URL's, else 0)
        for name in ("threshold", "signals", "clock"):
            backend_kwargs.pop(name, None)
        try:
            backend = cls(location, app=app, db=db, **backend_kwargs)
        except ConfigError as exc:
            key = flask_key_for(exc.option, origins)
            where = f"Flask setting {key}" if key else "cachepolicy settings (CACHE_* keys)"
            raise ConfigError(f"Invalid {where}: {exc}", option=key or exc.option) from exc
        from .cli import register_cli

        register_cli(app)
        return backend

    # -- serializer contract ------------------------------------------------------------------

    @property
    def serializer(self) -> BaseSerializer:
        return self._serializer if self._serializer is not None else self._default_serializer

    @serializer.setter
    def serializer(self, value: BaseSerializer | None) -> None:
        self._serializer = None if value is self._default_serializer else value
        if self._serializer is None:
            codec = PayloadCodec(
                resolve_redis_serializer(self.settings.serializer, self.settings.signing_keys),
                self._client.codec.rejections,
            )
        else:
            codec = PayloadCodec(
                _CachelibSerializer(self._serializer), self._client.codec.rejections
            )
        self._client.codec = codec

    # -- the cachelib API ------------------------------------------------------------------------

    def _ttl(self, timeout: FlaskTimeout | None) -> float | None:
        return flask_timeout_to_ttl(timeout, self.default_timeout)

    def get(self, key: str) -> Any:
        return self._client.get(self.key_prefix + key)

    def set(
        self,
        key: str,
        value: Any,
        timeout: FlaskTimeout | None = None,
        tags: Iterable[str] | None = None,
    ) -> bool | None:
        """cachelib's ``set``; ``tags`` (at most 32 strings) let :meth:`invalidate_tags` make
        it a miss in every process (``cachepolicy.errors.TagError`` for bad ones)."""
        stored = self.key_prefix + key
        try:
            self._client.set(stored, value, self._ttl(timeout), tags)
        except pickle.PicklingError as exc:
            logger.warning("RedisPolicyCache could not serialize %s: %s", short_repr(key), exc)
            return False
        except _REFUSED_WRITES as exc:
            logger.debug("RedisPolicyCache refused set(%s): %s", short_repr(key), exc)
            # The caller is told the write failed; it must not keep reading the old value.
            self._client.delete(stored)
            return False
        return True

    def get_or_set(
        self,
        key: str,
        compute: Callable[[], Any],
        timeout: FlaskTimeout | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """The value of ``key``; on a miss computed once across every thread and process on
        this Redis (a lock in Redis, :mod:`cachepolicy.redis.flight`) and stored (with
        ``tags``); early refresh and serve-stale as ``xfetch_beta`` and ``stale_grace`` say."""
        return redis_flight.get_or_set(
            self._client,
            self.key_prefix + key,
            compute,
            self._ttl(timeout),
            self.settings.stampede,
            tags=tags,
        )

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written with any of ``tags`` a miss, for every process on this
        server (one ``INCR`` per tag)."""
        self._client.invalidate_tags(*tags)

    def add(self, key: str, value: Any, timeout: FlaskTimeout | None = None) -> bool:
        try:
            return self._client.add(self.key_prefix + key, value, self._ttl(timeout))
        except _REFUSED_WRITES as exc:
            logger.debug("RedisPolicyCache refused add(%s): %s", short_repr(key), exc)
            return False

    def delete(self, key: str) -> bool:
        return self._client.delete(self.key_prefix + key)

    def get_many(self, *keys: str) -> list[Any]:
        stored = [self.key_prefix + key for key in keys]
        found = self._client.get_many(stored)
        return [found.get(key) for key in stored]

    def get_dict(self, *keys: str) -> dict[str, Any]:
        return dict(zip(keys, self.get_many(*keys), strict=True))

    def set_many(
        self,
        mapping: Mapping[str, Any],
        timeout: FlaskTimeout | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Any]:
        prefix = self.key_prefix
        stored = {prefix + k: v for k, v in mapping.items()}
        refused = set(self._client.set_many(stored, self._ttl(timeout), tags))
        return [key for key in mapping if prefix + key not in refused]  # cachelib: those stored

    def delete_many(self, *keys: str) -> list[Any]:
        self._client.delete_many([self.key_prefix + key for key in keys])
        return list(keys)

    def has(self, key: str) -> bool:
        return self._client.has(self.key_prefix + key)

    def clear(self) -> bool:
        """Delete the keys under ``CACHE_KEY_PREFIX`` (all of the database's if it is empty);
        FLUSHDB only with ``flush_on_clear``."""
        self._client.clear(self.key_prefix)
        return True

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Atomic ``INCRBY`` (keeps the TTL); a missing key starts from 0 with the default
        timeout; a non-integer value falls back to cachelib's read-modify-write."""
        stored = self.key_prefix + key
        try:
            for _attempt in range(2):
                try:
                    return self._client.incr(stored, delta)
                except KeyError:
                    if self._client.add(stored, delta, self._ttl(None)):
                        return delta
            return self._client.incr(stored, delta)
        except TypeError:
            with self._generic_lock:
                value = (self.get(key) or 0) + delta
                return value if self.set(key, value) else None

    def dec(self, key: str, delta: int = 1) -> int | None:
        return self.inc(key, -delta)

    # -- cachepolicy extras ------------------------------------------------------------------

    @property
    def client(self) -> RedisClient:
        return self._client

    def make_key(self, key: str) -> str:
        return self.key_prefix + key

    def info(self) -> dict[str, Any]:
        """The server's INFO in the in-process ``info()`` shape, this process's near cache
        (``near_cache_*``) and this process's stampede and tag counters (``stampede_*``,
        ``tags_invalidated*``, the in-process names: this backend's callers only)."""
        extra = {"rejected_payloads": self._client.rejected_payloads}
        extra.update(self._client.stampede.counters())
        cluster = self.settings.cluster
        report = self._client.on_primaries(
            lambda servers: redis_info(servers, cluster=cluster, extra=extra)
        )
        if isinstance(self._client, NearRedisClient):
            report.update(self._client.near_info())
        report["flask_key_prefix"] = self.key_prefix
        report["flask_location"] = ",".join(self.settings.urls)
        report["flask_db"] = self.settings.db
        return report

    def info_text(self) -> str:
        report = self.info()
        return (
            redis_info_text(report).rstrip("\n")
            + f"\n\n# Flask\nkey_prefix:{self.key_prefix}\n"
            + f"location:{report['flask_location']}\ndb:{self.settings.db}\n"
        )

    def close(self) -> None:
        """Shared connections outlive a backend object; nothing to release."""

    def __repr__(self) -> str:
        return (
            f"<RedisPolicyCache {self.settings.topology} {','.join(self.settings.urls)} "
            f"db={self.settings.db} key_prefix={self.key_prefix!r}>"
        )
