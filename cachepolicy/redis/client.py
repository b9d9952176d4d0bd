"""The framework-free Redis client layer: one sync and one native-async client.

:class:`RedisClient` (``redis.Redis`` or ``redis.cluster.RedisCluster``) and
:class:`AsyncRedisClient` (``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``)
speak values and TTLs in seconds; the Django and Flask adapters only make keys and translate
their timeouts (``ttl=None``: never expire; ``ttl <= 0``: expire now, i.e. delete). TTLs go to
Redis in milliseconds (``SET ... PX``, ``PEXPIRE``), so a ``0.5`` s timeout means half a second.

Topology
========
``settings.topology`` (from the ``LOCATION`` URLs or the ``topology`` option) picks the redis-py
class. Multi-key operations are correct across cluster slots: ``get_many`` uses ``MGET`` on one
server and redis-py's slot-splitting ``mget_nonatomic`` on a cluster; ``set_many`` is a
non-transactional pipeline (redis-py's cluster pipeline groups it per node); ``delete_many`` is
``DEL``, which redis-py's cluster client splits per slot. ``clear(prefix)`` SCANs ``prefix*``
(on every primary of a cluster) and UNLINKs what it finds; ``FLUSHDB`` only when the settings say
``flush_on_clear``.

Connections
===========
Sync: one redis-py client per distinct settings per process, shared by every adapter object
(Django makes one backend object per thread; redis-py's pool is thread-safe and re-creates its
connections after a fork). Async: a redis-py asyncio client is bound to the event loop that
created its connections, so clients are kept *per running loop*. They are closed when the loop
shuts down its async generators (``loop.shutdown_asyncgens()``, which ``asyncio.run``,
``asyncio.Runner``, asgiref's ``async_to_sync`` and pytest-asyncio all run before closing a
loop: :func:`close_with_loop`); :meth:`AsyncRedisClient.aclose` closes the current loop's one
for its settings at any time, and :func:`aclose_loop` everything this package opened in the
running loop (call one of them before ``loop.close()`` on a loop you run by hand). A loop
closed without either has its clients dropped the next time any loop asks (their sockets are
then collected unclosed: Python's ResourceWarning). The async ``_fetch`` and ``_write``
coalesce the calls concurrent tasks make in one loop iteration into one ``MGET`` / one
pipeline (:class:`_Batcher`), so 100 concurrent ``aget`` calls cost one round trip, not 100.

Errors
======
A server that cannot be reached raises :class:`RedisUnavailableError` (a ``ConnectionError``)
naming the server, after redis-py's own retries; nothing is answered from a stale copy. The next
call reconnects by itself. Values that fail their signature raise
:class:`~cachepolicy.redis.serializers.UntrustedPayloadError`.

A payload that cannot fit the server's ``maxmemory`` is refused *before it is sent*, with the
in-process tier's :class:`~cachepolicy.ValueTooLargeError`: Redis counts the request itself as
used memory, so sending it would first evict every other key and then fail anyway. While it is
written a value takes about twice its size (the request buffer holds a copy: measured on Redis
7.0, a 1 MB SET raised ``used_memory`` by 2.1 MB), so the limit is half of ``maxmemory`` minus
what the empty server uses (``used_memory_startup``), read from every primary at start-up
(:meth:`_Common.learn_payload_limit`), or half the configured ``maxmemory`` until then. A
payload just under the limit may still meet the server's refusal when other data fills it.
The server's own ``-OOM`` reply (``noeviction``, too few volatile keys) is the library's
:class:`~cachepolicy.OutOfMemoryError`. ``set_many`` stores what fits and returns the keys
refused (deleted, so no earlier value of theirs is served).

The near-cache seam
===================
Every Redis round trip of the client goes through one of these methods, and nothing else talks
to the server on the data path, so a near cache (an in-process L1) can subclass either client
and override just these:

reads of payloads
    ``_fetch(key) -> bytes | None`` and ``_fetch_many(keys) -> list[bytes | None]``
    (``has()`` reads the payload too: an invalidated or stale entry is absent; ``ttl()``
    goes through ``_pttl(key)``)
writes
    ``_write(key, payload, px, condition)`` (``SET`` with ``PX``, ``NX`` or ``XX``) and
    ``_write_many(items, px)``
other mutations
    ``_remove(keys)`` (every delete, including ``set`` with ``ttl <= 0``), ``_expire(key, px)``
    (``touch``), ``_incr(key, delta)`` and ``_clear(prefix)``; for tags
    (:mod:`cachepolicy.redis.tagging`) ``_create_generations(keys)``,
    ``_bump_generations(keys)`` and ``_remove_if_same(key, payload)``

Values are encoded and decoded by ``self.codec`` around those calls, so an L1 stores (and
counts the bytes of) exactly the payloads Redis holds. The async client has the same methods
(coroutines); overriding its ``_fetch``/``_write`` bypasses the coalescing for those calls
unless the override calls ``super()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from random import Random
from typing import Any, Final, TypeVar, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from ..envelope import Envelope, TagStamps, seal
from ..errors import CachePolicyError, OutOfMemoryError, ValueTooLargeError, short_repr
from ..flight import StampedeHub, StampedeSettings, seal_for
from ..sizing import format_bytes
from ..tags import TAG_COUNTERS, check_tags
from .connection_options import redacted
from .serializers import (
    PayloadCodec,
    RejectionCounter,
    UntrustedPayloadError,
    resolve_redis_serializer,
)
from .settings import RedisSettings
from .tagging import (
    DELETE_IF_SAME,
    GENERATION_INFIX,
    Pending,
    generation_keys,
    is_envelope,
    new_generation,
    plain,
    settle,
    stamped,
    tag_names,
)

__all__ = [
    "AsyncRedisClient",
    "RedisAuthenticationError",
    "RedisClient",
    "RedisTopologyError",
    "RedisUnavailableError",
    "aclose_loop",
    "close_with_loop",
    "new_stampede_hub",
    "ttl_to_px",
]

# Keys are SCANned and UNLINKed in batches this big: large enough that a clear() of a million
# keys is a few thousand round trips, small enough that one UNLINK never blocks the server.
_SCAN_BATCH: Final = 1000

# INCRBY only on an existing key, in one server-side step (Django's contract: incr of a missing
# key is an error, never a new counter; a GET-then-INCRBY pair could race with a delete).
_INCR_EXISTING: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""
# touch(key, None): PERSIST returns 0 for a key that exists but has no TTL, yet the key *was*
# touched; report existence instead.
_PERSIST_EXISTING: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PERSIST', KEYS[1])
  return 1
end
return 0
"""
T = TypeVar("T")

logger = logging.getLogger("cachepolicy.redis")

_GLOB_SPECIAL: Final = str.maketrans({c: "\\" + c for c in "*?[]\\"})


class RedisUnavailableError(CachePolicyError, ConnectionError):
    """The Redis server (or cluster) could not be reached; the operation did not happen."""


class RedisAuthenticationError(RedisUnavailableError):
    """The server refused the credentials (a wrong or missing password or user name)."""


class RedisTopologyError(RedisUnavailableError):
    """``TOPOLOGY`` does not match the server: ``cluster`` against a standalone server, or
    ``standalone`` against a Redis Cluster node (it answers ``MOVED``)."""


def ttl_to_px(ttl: float | None) -> int | None:
    """Seconds to Redis milliseconds: ``None`` stays ``None`` (no expiry), else at least 1 ms."""
    if ttl is None:
        return None
    return max(1, round(ttl * 1000))


def glob_prefix(prefix: str) -> str:
    """A SCAN MATCH pattern for keys starting with ``prefix`` (glob characters escaped)."""
    return prefix.translate(_GLOB_SPECIAL) + "*"


def _cluster_kwargs(settings: RedisSettings) -> dict[str, Any]:
    """Startup nodes and credentials for a cluster client, from the LOCATION URLs."""
    nodes = []
    for url in settings.urls:
        parts = urlsplit(url)
        nodes.append((parts.hostname or "127.0.0.1", parts.port or 6379))
    first = urlsplit(settings.urls[0])
    kwargs: dict[str, Any] = dict(settings.client_options)
    # The first URL's query options (?socket_timeout=1...), as redis-py parses them for one
    # server; the nodes come from every URL, the database is always 0.
    parsed: dict[str, Any] = redis.connection.parse_url(settings.urls[0])  # type: ignore[no-untyped-call]
    for name, value in parsed.items():
        if name not in ("host", "port", "path", "db", "connection_class", "username", "password"):
            kwargs.setdefault(name, value)
    if first.username:
        kwargs.setdefault("username", unquote(first.username))
    if first.password:
        kwargs.setdefault("password", unquote(first.password))
    if first.scheme == "rediss":
        kwargs.setdefault("ssl", True)
    kwargs["startup_nodes"] = nodes
    return kwargs


def _settings_key(settings: RedisSettings) -> str:
    # client_options may hold unhashable values; their repr identifies them well enough.
    options = sorted(settings.client_options.items(), key=lambda item: str(item[0]))
    return repr((settings.urls, settings.topology, settings.db, options))


# How redis-py (and the server) say the credentials were refused or missing; a cluster client
# wraps them in a RedisClusterException's text.
_AUTH_MARKERS: Final = (
    "invalid username-password",
    "WRONGPASS",
    "NOAUTH",
    "Authentication required",
    "must be called with the client already authenticated",
    "invalid password",
)
# How a server without cluster mode answers a cluster client.
_NOT_CLUSTER_MARKERS: Final = ("Cluster mode is not enabled", "cluster support disabled")


def _unavailable(settings: RedisSettings, exc: Exception) -> RedisUnavailableError:
    """The library's error for a failed round trip, saying what is wrong: the credentials, a
    TOPOLOGY that does not match the server, or a server that cannot be reached."""
    where = (
        f"The Redis {'cluster' if settings.cluster else 'server'} at "
        f"{', '.join(redacted(url) for url in settings.urls)}"
    )
    detail = f"{type(exc).__name__}: {short_repr(str(exc), 200)}"
    text = str(exc)
    error: RedisUnavailableError
    if isinstance(exc, redis.AuthenticationError) or any(m in text for m in _AUTH_MARKERS):
        error = RedisAuthenticationError(
            f"{where} refused the credentials ({detail}): check the user name and password "
            "in LOCATION (redis://user:password@host:port) or CLIENT_OPTIONS. The cache "
            "operation did not happen."
        )
    elif isinstance(exc, redis.exceptions.MovedError | redis.exceptions.AskError):
        error = RedisTopologyError(
            f"{where} is a Redis Cluster node (it answered {detail}) but TOPOLOGY is "
            "'standalone': set TOPOLOGY to 'cluster' (or leave it 'auto' and list the "
            "cluster's nodes in LOCATION). The cache operation did not happen."
        )
    elif any(marker in text for marker in _NOT_CLUSTER_MARKERS):
        error = RedisTopologyError(
            f"{where} is not a Redis Cluster ({detail}) but TOPOLOGY is 'cluster': set "
            "TOPOLOGY to 'standalone' (or 'auto' with one URL). The cache operation did not "
            "happen."
        )
    else:
        error = RedisUnavailableError(
            f"{where} cannot be reached ({detail}); the cache operation did not happen. The "
            "client reconnects on the next call."
        )
    error.__cause__ = exc
    return error


_SYNC_LOCK = threading.Lock()
# settings key -> the largest key + payload the server(s) can take (see the module docstring).
_PAYLOAD_LIMITS: dict[str, int] = {}
# A SET needs about this many times its payload while it runs: the request buffer and the value.
_WRITE_FOOTPRINT = 2


def _too_large(key: str, size: int, limit: int) -> ValueTooLargeError:
    return ValueTooLargeError(
        f"Cannot store key {short_repr(key)}: its payload is {size} bytes but the Redis "
        f"server can take at most {limit} bytes ({format_bytes(limit)}: a write needs about "
        "twice its size, out of maxmemory minus what the empty server uses); no eviction can "
        "make it fit, so it was not sent (sending it would evict every other key first).",
        key=key,
        size=size,
    )


def _out_of_memory(exc: Exception) -> OutOfMemoryError:
    error = OutOfMemoryError(
        f"The Redis server refused the write: it is out of memory ({exc}). Under "
        "'noeviction', or a 'volatile-*' policy with too few keys carrying a TTL, nothing can "
        "be evicted to make room."
    )
    error.__cause__ = exc
    return error


def _refused_writes(keys: Iterable[str], results: list[Any]) -> list[str]:
    """The keys of a SET pipeline whose SET the server refused for lack of memory; any other
    error is raised."""
    refused = []
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, redis.exceptions.OutOfMemoryError):
            refused.append(key)
        elif isinstance(result, Exception):
            raise result
    return refused


def _incr_error(key: str, exc: redis.ResponseError) -> Exception:
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return _out_of_memory(exc)
    text = str(exc)
    if "overflow" in text:
        return OverflowError(f"Incrementing key {short_repr(key)} would overflow: {text}.")
    return TypeError(f"The value of key {short_repr(key)} is not an integer: {text}.")


# What "the server cannot serve this now" looks like through redis-py: a refused or dropped
# connection (refused credentials included), a timeout, a cluster whose slots are not all
# served (CLUSTERDOWN, a primary gone) or whose topology cannot be learnt, and a cluster node
# met by a standalone client (MOVED/ASK). _unavailable() says which.
_CONNECTION_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterError,
    redis.RedisClusterException,
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
)


class _Common:
    """What both clients share: settings, codec, TTL translation."""

    def __init__(
        self,
        settings: RedisSettings,
        *,
        rejections: RejectionCounter | None = None,
        tag_prefix: str = "",
        stampede: StampedeHub | None = None,
    ) -> None:
        """``rejections``: the count of refused payloads to share (a backend's sync and async
        clients pass one, so ``rejected_payloads`` counts both paths); a new one if None.
        ``tag_prefix``: what the tags' generation keys start with (the adapter's key prefix,
        so that a near cache tracks them; :mod:`cachepolicy.redis.tagging`). ``stampede``:
        the stampede and tag counters and event subscribers to share, like ``rejections``."""
        self.settings = settings
        #: This process's stampede and tag counters (``info()``) and the subscribers of the
        #: stampede events (:mod:`cachepolicy.redis.flight`).
        self.stampede = stampede if stampede is not None else new_stampede_hub()
        self.tag_prefix = tag_prefix + GENERATION_INFIX
        #: The clock of envelopes' freshness deadlines (wall-clock seconds: every process
        #: reading the value must agree on it); tests replace it.
        self.clock: Callable[[], float] = time.time
        #: Draws XFetch's uniform variable (seed it for reproducible refreshes).
        self.rng = Random()
        self._key = _settings_key(settings)
        self.codec = PayloadCodec(
            resolve_redis_serializer(settings.serializer, settings.signing_keys), rejections
        )
        configured = int(settings.server_config.get("maxmemory", 0))
        if configured > 0:
            _PAYLOAD_LIMITS.setdefault(self._key, configured // _WRITE_FOOTPRINT)

    def stampede_event(self, counter: str, event: str | None, key: str) -> None:
        """Count ``counter`` and deliver ``event`` (if any) for ``key`` to the subscribers."""
        self.stampede.count(counter)
        if event is not None:
            self.stampede.emit(event, self.settings.db, key)

    def _invalidated(self, names: tuple[str, ...]) -> None:
        """Count and announce the tags :meth:`invalidate_tags` just bumped."""
        for name in names:
            self.stampede_event("tags_invalidated", "tag_invalidated", name)

    @property
    def rejected_payloads(self) -> int:
        """Payloads refused (tampered, unsigned or foreign) since start-up, on every path."""
        return self.codec.rejected

    def _decode_found(self, keys: list[str], payloads: Iterable[bytes | None]) -> dict[str, Any]:
        """``get_many``'s values: what decodes. A refused payload (tampered, foreign) is left
        out as a miss, counted and logged: one bad value does not fail the batch (Django's
        contract is to return what is found); ``get`` of that key raises."""
        loads = self.codec.loads
        found: dict[str, Any] = {}
        for key, payload in zip(keys, payloads, strict=True):
            if payload is None:
                continue
            try:
                found[key] = loads(payload)
            except UntrustedPayloadError as exc:
                logger.warning("Left %s out of get_many: %s", short_repr(key), exc)
        return found

    @property
    def payload_limit(self) -> int | None:
        """The largest key + payload the server(s) can take; None: no ``maxmemory``."""
        return _PAYLOAD_LIMITS.get(self._key)

    def learn_payload_limit(self, servers: list[tuple[str, Any]]) -> None:
        """Read ``maxmemory`` and ``used_memory_startup`` from every primary (sync redis-py
        clients); the smallest room left is the limit. A server that refuses ``CONFIG GET``
        (managed services may) leaves the configured ``maxmemory`` as the limit."""
        rooms = []
        for _name, server in servers:
            try:
                maxmemory = int(server.config_get("maxmemory").get("maxmemory", 0))
                startup = int(server.info("memory").get("used_memory_startup", 0))
            except redis.ResponseError:
                return
            if maxmemory > 0:
                rooms.append(max(0, maxmemory - startup) // _WRITE_FOOTPRINT)
        if rooms:
            _PAYLOAD_LIMITS[self._key] = min(rooms)
        else:
            _PAYLOAD_LIMITS.pop(self._key, None)

    def _encode(self, key: str, value: Any) -> bytes | int:
        """``value``'s payload; :class:`ValueTooLargeError` when it cannot fit (not sent)."""
        payload: bytes | int = self.codec.dumps(value)
        limit = _PAYLOAD_LIMITS.get(self._key)
        if limit is not None and isinstance(payload, bytes) and len(payload) + len(key) > limit:
            raise _too_large(key, len(payload), limit)
        return payload

    def _encode_many(self, items: Mapping[str, Any]) -> tuple[dict[str, bytes | int], list[str]]:
        """(the payloads that fit, the keys whose payload cannot): every value encoded first."""
        encoded: dict[str, bytes | int] = {}
        refused: list[str] = []
        for key, value in items.items():
            try:
                encoded[key] = self._encode(key, value)
            except ValueTooLargeError:
                refused.append(key)
        return encoded, refused

    def _value(self, entry: Envelope | None, default: Any) -> Any:
        """A value read, or ``default`` if it was invalidated or is a stale copy."""
        if entry is None or entry.stale(self.clock()):
            return default
        return self.codec.loads(entry.payload)

    def _fresh(self, entries: list[Envelope | None]) -> list[bytes | None]:
        now = self.clock()
        return [None if e is None or e.stale(now) else e.payload for e in entries]

    def _tagged(self, key: str, value: Any, tags: Any) -> tuple[bytes | int, tuple[str, ...]]:
        """(``value``'s payload, the checked tags): TagError before anything is encoded."""
        names = tag_names(tags)
        return self._encode(key, value), names

    def _sealed(
        self,
        payload: bytes | int,
        ttl: float | None,
        stamps: TagStamps,
        computed: tuple[StampedeSettings, float] | None,
    ) -> tuple[bytes | int, int | None]:
        """(the payload to store, its PX): in an envelope when tagged or (``computed``:
        the settings and the computation time of a ``get_or_set``) when early refresh or
        serve-stale applies; the TTL then includes the grace period."""
        if computed is None:
            if not stamps:
                return payload, ttl_to_px(ttl)
            return seal(_as_bytes(payload), None, 0.0, stamps), ttl_to_px(ttl)
        settings, delta = computed
        sealed, stored_ttl = seal_for(
            _as_bytes(payload), ttl, settings, delta, stamps, self.clock()
        )
        return sealed, ttl_to_px(stored_ttl)


def new_stampede_hub() -> StampedeHub:
    """The counters and event subscribers one backend's clients share in this process: the
    in-process tier's stampede counters and its tag counters, under the same names."""
    return StampedeHub(TAG_COUNTERS)


def _as_bytes(payload: bytes | int) -> bytes:
    return payload if isinstance(payload, bytes) else str(payload).encode()


# --------------------------------------------------------------------------- sync


_SYNC_REMOTES: dict[str, Any] = {}


def _make_sync_remote(settings: RedisSettings) -> Any:
    options = dict(settings.client_options)
    if settings.cluster:
        kwargs = _cluster_kwargs(settings)
        nodes = [
            redis.cluster.ClusterNode(h, p)  # type: ignore[no-untyped-call]
            for h, p in kwargs.pop("startup_nodes")
        ]
        return redis.cluster.RedisCluster(startup_nodes=nodes, **kwargs)
    return redis.Redis.from_url(settings.urls[0], db=settings.db, **options)


class RedisClient(_Common):
    """Blocking client; thread-safe; one shared redis-py client per settings per process."""

    _remote: Any = None

    @property
    def remote(self) -> Any:
        """The shared ``redis.Redis`` / ``redis.cluster.RedisCluster``."""
        remote = self._remote
        if remote is not None and _SYNC_REMOTES.get(self._key) is remote:
            return remote
        remote = _SYNC_REMOTES.get(self._key)
        if remote is None:
            with _SYNC_LOCK:
                remote = _SYNC_REMOTES.get(self._key)
                if remote is None:
                    try:
                        remote = _make_sync_remote(self.settings)
                    except _CONNECTION_ERRORS as exc:  # a cluster asks for its slots at once
                        raise _unavailable(self.settings, exc) from exc
                    _SYNC_REMOTES[self._key] = remote
        self._remote = remote
        return remote

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc
        except redis.exceptions.OutOfMemoryError as exc:
            raise _out_of_memory(exc) from exc

    # -- the seam (see the module docstring) ------------------------------------------------

    # The hot paths catch errors inline: a context manager costs a generator per call.

    def _fetch(self, key: str) -> bytes | None:
        try:
            result: bytes | None = self.remote.get(key)
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc
        return result

    def _fetch_many(self, keys: list[str]) -> list[bytes | None]:
        try:
            remote = self.remote
            if self.settings.cluster:
                return list(remote.mget_nonatomic(keys))
            return list(remote.mget(keys))
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc

    def _exists(self, key: str) -> bool:
        with self._errors():
            return bool(self.remote.exists(key))

    def _pttl(self, key: str) -> int:
        with self._errors():
            return int(self.remote.pttl(key))

    def _write(self, key: str, payload: bytes | int, px: int | None, condition: str = "") -> bool:
        with self._errors():
            done = self.remote.set(key, payload, px=px, nx=condition == "nx", xx=condition == "xx")
        return bool(done)

    def _write_many(self, items: Mapping[str, bytes | int], px: int | None) -> list[str]:
        """SET every item (one pipeline); the keys the server refused for lack of memory."""
        if not items:
            return []
        with self._errors():
            pipe = self.remote.pipeline(transaction=False)
            for key, payload in items.items():
                pipe.set(key, payload, px=px)
            return _refused_writes(items, pipe.execute(raise_on_error=False))

    def _remove(self, keys: list[str]) -> int:
        if not keys:
            return 0
        with self._errors():
            return int(self.remote.delete(*keys))

    def _expire(self, key: str, px: int | None) -> bool:
        with self._errors():
            if px is None:
                return bool(self.remote.eval(_PERSIST_EXISTING, 1, key))
            return bool(self.remote.pexpire(key, px))

    def _incr(self, key: str, delta: int) -> int | None:
        with self._errors():
            try:
                result = self.remote.eval(_INCR_EXISTING, 1, key, delta)
            except redis.ResponseError as exc:
                raise _incr_error(key, exc) from exc
        return None if result is None else int(result)

    def _clear(self, prefix: str) -> int:
        with self._errors():
            remote = self.remote
            if self.settings.flush_on_clear:
                if self.settings.cluster:
                    remote.flushdb(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
                else:
                    remote.flushdb()
                return 0
            removed = 0
            batch: list[Any] = []
            # On a cluster, redis-py's scan_iter walks every primary with its own cursor.
            for key in remote.scan_iter(match=glob_prefix(prefix), count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    removed += int(remote.unlink(*batch))
                    batch = []
            if batch:
                removed += int(remote.unlink(*batch))
            return removed

    def _create_generations(self, keys: list[str]) -> list[bytes | None]:
        """Create the generation keys that are missing at a random value (``SET NX``) and
        read them back (one pipeline: per node on a cluster)."""
        with self._errors():
            pipe = self.remote.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, new_generation(), nx=True)
                pipe.get(key)
            replies = pipe.execute()
        return list(replies[1::2])

    def _bump_generations(self, keys: list[str]) -> None:
        """``INCR`` each generation key (one pipeline)."""
        with self._errors():
            pipe = self.remote.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
            pipe.execute()

    def _remove_if_same(self, key: str, payload: bytes) -> bool:
        """Delete ``key`` if it still holds ``payload`` (one atomic script)."""
        with self._errors():
            return bool(self.remote.eval(DELETE_IF_SAME, 1, key, payload))

    # -- tags and envelopes (cachepolicy.redis.tagging) --------------------------------------

    def stamps(self, names: tuple[str, ...]) -> TagStamps:
        """The current generation of each tag (created if missing), to record in a value
        written after this call."""
        if not names:
            return ()
        keys = generation_keys(self.tag_prefix, names)
        replies = self._fetch_many(keys)
        missing = [index for index, reply in enumerate(replies) if reply is None]
        if missing:
            created = self._create_generations([keys[index] for index in missing])
            for index, reply in zip(missing, created, strict=True):
                replies[index] = reply
        return stamped(names, replies)

    def _entries(self, keys: list[str], payloads: list[bytes | None]) -> list[Envelope | None]:
        """The payloads read, opened; None for a missing one or one whose tag was invalidated
        since it was written (then deleted if unchanged). Stale copies are included."""
        pending = Pending(self.tag_prefix, payloads)
        if not pending.keys:
            return pending.entries
        entries, invalidated = settle(pending, self._fetch_many(pending.keys))
        for index in invalidated:
            self.stampede.count("tags_invalidated_reads")
            self._remove_if_same(keys[index], cast(bytes, payloads[index]))
        return entries

    def entry(self, key: str) -> Envelope | None:
        """What ``key`` holds with its metadata (tags checked; a stale copy kept for
        serve-stale included: the caller judges it), or None."""
        payload = self._fetch(key)
        if payload is None:
            return None
        return self._entries([key], [payload])[0] if is_envelope(payload) else plain(payload)

    def invalidate_tags(self, *tags: str) -> None:
        """Make every entry written with any of ``tags`` a miss, in every process: one
        ``INCR`` per tag. TagError (nothing invalidated) for a bad tag."""
        names = check_tags(tags, None)
        if names:
            self._bump_generations(generation_keys(self.tag_prefix, names))
            self._invalidated(names)

    def set_computed(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        stamps: TagStamps,
        settings: StampedeSettings,
        delta: float,
    ) -> None:
        """Store a value ``get_or_set`` computed in ``delta`` seconds, with the tag stamps
        read before the computation began (:mod:`cachepolicy.redis.flight`)."""
        payload = self._encode(key, value)
        if ttl is not None and ttl <= 0:
            self._remove([key])
            return
        sealed, px = self._sealed(payload, ttl, stamps, (settings, delta))
        self._write(key, sealed, px)

    # -- the value API ------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        payload = self._fetch(key)
        if payload is None:
            return default
        if is_envelope(payload):
            return self._value(self._entries([key], [payload])[0], default)
        return self.codec.loads(payload)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        payloads = self._fetch_many(wanted)
        if any(payload is not None and is_envelope(payload) for payload in payloads):
            payloads = self._fresh(self._entries(wanted, payloads))
        return self._decode_found(wanted, payloads)

    def set(self, key: str, value: Any, ttl: float | None, tags: Any = None) -> None:
        """Store ``value``; ``tags`` (at most 32 strings) let :meth:`invalidate_tags` make it a
        miss. The value is encoded and the tags checked first: a bad one changes nothing."""
        payload, names = self._tagged(key, value, tags)
        if ttl is not None and ttl <= 0:
            self._remove([key])
            return
        sealed, px = self._sealed(payload, ttl, self.stamps(names), None)
        self._write(key, sealed, px)

    def add(self, key: str, value: Any, ttl: float | None) -> bool:
        """Store only if ``key`` is absent; ``True`` if stored (atomic ``SET NX``)."""
        payload = self._encode(key, value)
        if ttl is not None and ttl <= 0:
            # Django's RedisCache: report whether the key was absent, keep nothing.
            if self._write(key, payload, 1, "nx"):
                self._remove([key])
                return True
            return False
        return self._write(key, payload, ttl_to_px(ttl), "nx")

    def set_many(self, items: Mapping[str, Any], ttl: float | None, tags: Any = None) -> list[str]:
        """Store what fits; the keys refused for lack of memory (deleted: no earlier value
        of theirs is served). ``tags`` as for :meth:`set`, for every item."""
        names = tag_names(tags)
        if not items:
            return []
        encoded, refused = self._encode_many(items)
        if ttl is not None and ttl <= 0:
            self._remove(list(items))
            return []
        stamps = self.stamps(names)
        if stamps:
            encoded = {k: self._sealed(p, ttl, stamps, None)[0] for k, p in encoded.items()}
        refused += self._write_many(encoded, ttl_to_px(ttl))
        if refused:
            self._remove(refused)
        return refused

    def delete(self, key: str) -> bool:
        return self._remove([key]) > 0

    def delete_many(self, keys: Iterable[str]) -> int:
        return self._remove(list(dict.fromkeys(keys)))

    def has(self, key: str) -> bool:
        """Whether ``get`` would find a value (an invalidated entry or a stale copy is
        absent)."""
        entry = self.entry(key)
        return entry is not None and not entry.stale(self.clock())

    def touch(self, key: str, ttl: float | None) -> bool:
        if ttl is not None and ttl <= 0:
            return self._remove([key]) > 0
        return self._expire(key, ttl_to_px(ttl))

    def incr(self, key: str, delta: int = 1) -> int:
        """Atomic ``INCRBY`` that keeps the TTL; ``KeyError`` if missing, ``TypeError`` if the
        value is not an integer."""
        result = self._incr(key, delta)
        if result is None:
            raise KeyError(key)
        return result

    def ttl(self, key: str) -> float | None:
        """Seconds left (``None``: no TTL); ``KeyError`` if missing."""
        left = self._pttl(key)
        if left == -2:
            raise KeyError(key)
        return None if left == -1 else left / 1000

    def clear(self, prefix: str) -> int:
        """Delete the keys starting with ``prefix`` (FLUSHDB under ``flush_on_clear``)."""
        return self._clear(prefix)

    def primaries(self) -> list[tuple[str, Any]]:
        """``(name, redis.Redis)`` for each server holding data: one, or every primary."""
        with self._errors():
            remote = self.remote
            if not self.settings.cluster:
                pool = remote.connection_pool.connection_kwargs
                where = pool.get("port", pool.get("path"))
                return [(f"{pool.get('host', 'unix')}:{where}", remote)]
            return [
                (node.name, remote.get_redis_connection(node)) for node in remote.get_primaries()
            ]

    def on_primaries(self, work: Callable[[list[tuple[str, Any]]], T]) -> T:
        """Run ``work(primaries())`` with connection failures as :class:`RedisUnavailableError`
        (for the admin paths: INFO, CONFIG GET/SET, start-up checks)."""
        with self._errors():
            return work(self.primaries())

    def close(self) -> None:
        """Drop this process's shared connection for these settings (next use reconnects)."""
        with _SYNC_LOCK:
            remote = _SYNC_REMOTES.pop(self._key, None)
        if remote is not None:
            remote.close()


# --------------------------------------------------------------------------- async


# loop -> settings key -> asyncio client. Keyed weakly by the loop: a garbage-collected loop
# takes its clients with it; a closed but live loop's clients are purged on the next access.
_ASYNC_REMOTES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)
_ASYNC_LOCK = threading.Lock()


class _LoopGuard:
    """What closes a loop's clients when the loop shuts down its async generators.

    An async generator, first advanced in the loop, is registered with the loop by its
    ``firstiter`` hook; ``loop.shutdown_asyncgens()`` then ``aclose()``s it while the loop still
    runs, and its ``finally`` awaits every registered closer (newest first: near caches before
    the connections they read through). The guard is held here, since the loop holds its
    generators only weakly; it references no loop, so a collected loop takes it along.
    """

    def __init__(self) -> None:
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self.generator = self._watch()
        first: Any = self.generator.__anext__()  # the loop's firstiter hook registers it here
        with contextlib.suppress(StopIteration):
            first.send(None)  # runs to the ``yield``: nothing before it awaits

    async def _watch(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await _run_closers(self.closers)


async def _run_closers(closers: list[Callable[[], Awaitable[None]]]) -> None:
    while closers:
        closer = closers.pop()
        with contextlib.suppress(Exception):  # one failing close must not skip the others
            await closer()


_GUARDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopGuard] = (
    weakref.WeakKeyDictionary()
)


def close_with_loop(closer: Callable[[], Awaitable[None]]) -> None:
    """Have ``await closer()`` run, in the running loop, when that loop shuts down its async
    generators (or when :func:`aclose_loop` is awaited in it), whichever comes first."""
    loop = asyncio.get_running_loop()
    with _ASYNC_LOCK:
        guard = _GUARDS.get(loop)
        if guard is None:
            guard = _GUARDS[loop] = _LoopGuard()
        guard.closers.append(closer)


async def aclose_loop() -> None:
    """Close every client and near cache this package opened in the running loop now (they
    are made again on next use). What a loop's shutdown does anyway; for loops that are closed
    without ``shutdown_asyncgens()``, and for tests."""
    with _ASYNC_LOCK:
        guard = _GUARDS.get(asyncio.get_running_loop())
    if guard is not None:
        await _run_closers(guard.closers)


async def _close_loop_remotes() -> None:
    """The running loop's asyncio clients, closed (a closer, see :func:`close_with_loop`)."""
    with _ASYNC_LOCK:
        clients = _ASYNC_REMOTES.pop(asyncio.get_running_loop(), {})
    for key, remote in clients.items():
        if not key.startswith("batch:"):
            await remote.aclose()


def _make_async_remote(settings: RedisSettings) -> Any:
    if settings.cluster:
        kwargs = _cluster_kwargs(settings)
        nodes = [redis.asyncio.cluster.ClusterNode(h, p) for h, p in kwargs.pop("startup_nodes")]
        return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **kwargs)
    return redis.asyncio.Redis.from_url(
        settings.urls[0], db=settings.db, **dict(settings.client_options)
    )


def async_remote_count() -> int:
    """How many asyncio clients are alive, over all loops (tests: loop cleanup)."""
    with _ASYNC_LOCK:
        return sum(
            1
            for clients in _ASYNC_REMOTES.values()
            for key in clients
            if not key.startswith("batch:")
        )


class _Batcher:
    """Coalesces the GETs and SETs that concurrent tasks issue in one loop iteration.

    An ``aget`` awaits a future; the first read of an iteration schedules one flush (``call_soon``),
    which sends every read queued by then as one ``MGET`` (``mget_nonatomic`` on a cluster) and
    every write as one non-transactional pipeline, then resolves each caller's future. A hundred
    concurrent ``aget`` calls are thus one round trip instead of a hundred, which is where a
    native async client beats a thread pool. A lone caller pays one future and one task (a few
    microseconds against a network round trip). Each caller still gets exactly its own key's
    answer; a failure is raised in every caller of the batch. The flush runs as its own task, so
    a caller that is cancelled does not cancel the others' batch.
    """

    def __init__(self, client: AsyncRedisClient, remote: Any):
        # No reference to the loop: the batcher is a value of the loop-keyed weak dictionary,
        # and holding its key would keep a closed loop's entry alive. Every method runs in it.
        self.client = client
        self.remote = remote
        self.reads: list[tuple[str, asyncio.Future[Any]]] = []
        self.writes: list[tuple[str, bytes | int, int | None, str, asyncio.Future[Any]]] = []
        self.scheduled = False
        self.tasks: set[asyncio.Task[None]] = set()

    def _schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def read(self, key: str) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self.reads.append((key, future))
        self._schedule()
        return future

    def write(
        self, key: str, payload: bytes | int, px: int | None, condition: str
    ) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self.writes.append((key, payload, px, condition, future))
        self._schedule()
        return future

    def _flush(self) -> None:
        self.scheduled = False
        reads, self.reads = self.reads, []
        writes, self.writes = self.writes, []
        task = asyncio.get_running_loop().create_task(self._run(reads, writes))
        self.tasks.add(task)  # a task nobody references may be garbage-collected mid-run
        task.add_done_callback(self.tasks.discard)

    async def _run(
        self,
        reads: list[tuple[str, asyncio.Future[Any]]],
        writes: list[tuple[str, bytes | int, int | None, str, asyncio.Future[Any]]],
    ) -> None:
        settings = self.client.settings
        if writes:
            futures = [w[4] for w in writes]
            try:
                if len(writes) == 1:
                    key, payload, px, condition, _f = writes[0]
                    results = [
                        await self.remote.set(
                            key, payload, px=px, nx=condition == "nx", xx=condition == "xx"
                        )
                    ]
                else:
                    pipe = self.remote.pipeline(transaction=False)
                    for key, payload, px, condition, _f in writes:
                        pipe.set(key, payload, px=px, nx=condition == "nx", xx=condition == "xx")
                    results = await pipe.execute(raise_on_error=False)
            except _CONNECTION_ERRORS as exc:
                _fail(futures, _unavailable(settings, exc))
            except redis.exceptions.OutOfMemoryError as exc:
                _fail(futures, _out_of_memory(exc))
            except BaseException as exc:  # deliver whatever went wrong to every caller
                _fail(futures, exc)
            else:
                for future, result in zip(futures, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        failure: BaseException = result
                        if isinstance(result, _CONNECTION_ERRORS):
                            failure = _unavailable(settings, result)
                        elif isinstance(result, redis.exceptions.OutOfMemoryError):
                            failure = _out_of_memory(result)
                        future.set_exception(failure)
                    else:
                        future.set_result(result)
        if reads:
            futures = [r[1] for r in reads]
            keys = [r[0] for r in reads]
            try:
                if len(keys) == 1:
                    values = [await self.remote.get(keys[0])]
                elif settings.cluster:
                    values = list(await self.remote.mget_nonatomic(keys))
                else:
                    values = list(await self.remote.mget(keys))
            except _CONNECTION_ERRORS as exc:
                _fail(futures, _unavailable(settings, exc))
            except BaseException as exc:
                _fail(futures, exc)
            else:
                for future, value in zip(futures, values, strict=True):
                    if not future.done():
                        future.set_result(value)


def _fail(futures: list[asyncio.Future[Any]], exc: BaseException) -> None:
    for future in futures:
        if not future.done():
            if isinstance(exc, asyncio.CancelledError):  # the loop is shutting down
                future.cancel()
            else:
                future.set_exception(exc)
    if isinstance(exc, asyncio.CancelledError):
        raise exc


class AsyncRedisClient(_Common):
    """Native asyncio client on ``redis.asyncio``; one redis-py client per running loop."""

    @property
    def remote(self) -> Any:
        """The current loop's ``redis.asyncio.Redis`` / ``RedisCluster``."""
        loop = asyncio.get_running_loop()
        clients = _ASYNC_REMOTES.get(loop)
        remote = clients.get(self._key) if clients is not None else None
        if remote is None:
            with _ASYNC_LOCK:
                # A closed loop's connections can never be used (nor awaited closed) again.
                for stale in [other for other in _ASYNC_REMOTES if other.is_closed()]:
                    del _ASYNC_REMOTES[stale]
                clients = _ASYNC_REMOTES.get(loop)
                if clients is None:
                    clients = _ASYNC_REMOTES[loop] = {}
                    fresh = True
                else:
                    fresh = False
                remote = clients.get(self._key)
                if remote is None:
                    remote = clients[self._key] = _make_async_remote(self.settings)
            if fresh:
                close_with_loop(_close_loop_remotes)
        return remote

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        try:
            yield
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc
        except redis.exceptions.OutOfMemoryError as exc:
            raise _out_of_memory(exc) from exc

    # -- the seam ---------------------------------------------------------------------------

    async def _fetch(self, key: str) -> bytes | None:
        future: asyncio.Future[Any] = self._batcher().read(key)
        result: bytes | None = await future
        return result

    async def _fetch_many(self, keys: list[str]) -> list[bytes | None]:
        async with self._errors():
            remote = self.remote
            if self.settings.cluster:
                return list(await remote.mget_nonatomic(keys))
            return list(await remote.mget(keys))

    async def _exists(self, key: str) -> bool:
        async with self._errors():
            return bool(await self.remote.exists(key))

    async def _pttl(self, key: str) -> int:
        async with self._errors():
            return int(await self.remote.pttl(key))

    async def _write(
        self, key: str, payload: bytes | int, px: int | None, condition: str = ""
    ) -> bool:
        future: asyncio.Future[Any] = self._batcher().write(key, payload, px, condition)
        return bool(await future)

    def _batcher(self) -> _Batcher:
        remote = self.remote  # creates this loop's entry
        loop = asyncio.get_running_loop()
        clients = _ASYNC_REMOTES[loop]
        batcher = clients.get("batch:" + self._key)
        if batcher is None or batcher.remote is not remote:
            batcher = clients["batch:" + self._key] = _Batcher(self, remote)
        return cast(_Batcher, batcher)

    async def _write_many(self, items: Mapping[str, bytes | int], px: int | None) -> list[str]:
        if not items:
            return []
        async with self._errors():
            pipe = self.remote.pipeline(transaction=False)
            for key, payload in items.items():
                pipe.set(key, payload, px=px)
            return _refused_writes(items, await pipe.execute(raise_on_error=False))

    async def _remove(self, keys: list[str]) -> int:
        if not keys:
            return 0
        async with self._errors():
            return int(await self.remote.delete(*keys))

    async def _expire(self, key: str, px: int | None) -> bool:
        async with self._errors():
            if px is None:
                return bool(await self.remote.eval(_PERSIST_EXISTING, 1, key))
            return bool(await self.remote.pexpire(key, px))

    async def _incr(self, key: str, delta: int) -> int | None:
        async with self._errors():
            try:
                result = await self.remote.eval(_INCR_EXISTING, 1, key, delta)
            except redis.ResponseError as exc:
                raise _incr_error(key, exc) from exc
        return None if result is None else int(result)

    async def _clear(self, prefix: str) -> int:
        async with self._errors():
            remote = self.remote
            if self.settings.flush_on_clear:
                if self.settings.cluster:
                    await remote.flushdb(target_nodes=redis.asyncio.cluster.RedisCluster.PRIMARIES)
                else:
                    await remote.flushdb()
                return 0
            removed = 0
            batch: list[Any] = []
            async for key in remote.scan_iter(match=glob_prefix(prefix), count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    removed += int(await remote.unlink(*batch))
                    batch = []
            if batch:
                removed += int(await remote.unlink(*batch))
            return removed

    async def _create_generations(self, keys: list[str]) -> list[bytes | None]:
        """:meth:`RedisClient._create_generations`."""
        async with self._errors():
            pipe = self.remote.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, new_generation(), nx=True)
                pipe.get(key)
            replies = await pipe.execute()
        return list(replies[1::2])

    async def _bump_generations(self, keys: list[str]) -> None:
        async with self._errors():
            pipe = self.remote.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
            await pipe.execute()

    async def _remove_if_same(self, key: str, payload: bytes) -> bool:
        async with self._errors():
            return bool(await self.remote.eval(DELETE_IF_SAME, 1, key, payload))

    # -- tags and envelopes (see RedisClient) --------------------------------------------------

    async def stamps(self, names: tuple[str, ...]) -> TagStamps:
        if not names:
            return ()
        keys = generation_keys(self.tag_prefix, names)
        replies = await self._fetch_many(keys)
        missing = [index for index, reply in enumerate(replies) if reply is None]
        if missing:
            created = await self._create_generations([keys[index] for index in missing])
            for index, reply in zip(missing, created, strict=True):
                replies[index] = reply
        return stamped(names, replies)

    async def _entries(
        self, keys: list[str], payloads: list[bytes | None]
    ) -> list[Envelope | None]:
        pending = Pending(self.tag_prefix, payloads)
        if not pending.keys:
            return pending.entries
        entries, invalidated = settle(pending, await self._fetch_many(pending.keys))
        for index in invalidated:
            self.stampede.count("tags_invalidated_reads")
            await self._remove_if_same(keys[index], cast(bytes, payloads[index]))
        return entries

    async def entry(self, key: str) -> Envelope | None:
        payload = await self._fetch(key)
        if payload is None:
            return None
        if is_envelope(payload):
            return (await self._entries([key], [payload]))[0]
        return plain(payload)

    async def invalidate_tags(self, *tags: str) -> None:
        names = check_tags(tags, None)
        if names:
            await self._bump_generations(generation_keys(self.tag_prefix, names))
            self._invalidated(names)

    async def set_computed(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        stamps: TagStamps,
        settings: StampedeSettings,
        delta: float,
    ) -> None:
        payload = self._encode(key, value)
        if ttl is not None and ttl <= 0:
            await self._remove([key])
            return
        sealed, px = self._sealed(payload, ttl, stamps, (settings, delta))
        await self._write(key, sealed, px)

    # -- the value API ------------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        payload = await self._fetch(key)
        if payload is None:
            return default
        if is_envelope(payload):
            return self._value((await self._entries([key], [payload]))[0], default)
        return self.codec.loads(payload)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        payloads = await self._fetch_many(wanted)
        if any(payload is not None and is_envelope(payload) for payload in payloads):
            payloads = self._fresh(await self._entries(wanted, payloads))
        return self._decode_found(wanted, payloads)

    async def set(self, key: str, value: Any, ttl: float | None, tags: Any = None) -> None:
        payload, names = self._tagged(key, value, tags)
        if ttl is not None and ttl <= 0:
            await self._remove([key])
            return
        sealed, px = self._sealed(payload, ttl, await self.stamps(names), None)
        await self._write(key, sealed, px)

    async def add(self, key: str, value: Any, ttl: float | None) -> bool:
        payload = self._encode(key, value)
        if ttl is not None and ttl <= 0:
            if await self._write(key, payload, 1, "nx"):
                await self._remove([key])
                return True
            return False
        return await self._write(key, payload, ttl_to_px(ttl), "nx")

    async def set_many(
        self, items: Mapping[str, Any], ttl: float | None, tags: Any = None
    ) -> list[str]:
        """Store what fits; the keys refused (see :meth:`RedisClient.set_many`)."""
        names = tag_names(tags)
        if not items:
            return []
        encoded, refused = self._encode_many(items)
        if ttl is not None and ttl <= 0:
            await self._remove(list(items))
            return []
        stamps = await self.stamps(names)
        if stamps:
            encoded = {k: self._sealed(p, ttl, stamps, None)[0] for k, p in encoded.items()}
        refused += await self._write_many(encoded, ttl_to_px(ttl))
        if refused:
            await self._remove(refused)
        return refused

    async def delete(self, key: str) -> bool:
        return await self._remove([key]) > 0

    async def delete_many(self, keys: Iterable[str]) -> int:
        return await self._remove(list(dict.fromkeys(keys)))

    async def has(self, key: str) -> bool:
        entry = await self.entry(key)
        return entry is not None and not entry.stale(self.clock())

    async def touch(self, key: str, ttl: float | None) -> bool:
        if ttl is not None and ttl <= 0:
            return await self._remove([key]) > 0
        return await self._expire(key, ttl_to_px(ttl))

    async def incr(self, key: str, delta: int = 1) -> int:
        result = await self._incr(key, delta)
        if result is None:
            raise KeyError(key)
        return result

    async def ttl(self, key: str) -> float | None:
        left = await self._pttl(key)
        if left == -2:
            raise KeyError(key)
        return None if left == -1 else left / 1000

    async def clear(self, prefix: str) -> int:
        return await self._clear(prefix)

    async def aclose(self) -> None:
        """Close the current loop's connections for these settings."""
        loop = asyncio.get_running_loop()
        with _ASYNC_LOCK:
            clients = _ASYNC_REMOTES.get(loop)
            remote = clients.pop(self._key, None) if clients is not None else None
            if clients is not None:
                clients.pop("batch:" + self._key, None)
        if remote is not None:
            await remote.aclose()
