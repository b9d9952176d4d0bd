"""A coherent, byte-bounded in-process near cache (L1) in front of Redis.

Design essay
============

The L1 is an ordinary :class:`cachepolicy.Cache` (its own ``maxmemory`` and policy) holding
the *payloads* Redis returned, under the full Redis keys, so a hit costs one dictionary probe
and no network. Four rules keep it coherent with Redis, each enforced in one place:

1. **Invalidation.** A :class:`~cachepolicy.redis.tracking.Tracker` holds one RESP3 connection
   per primary with ``CLIENT TRACKING on BCAST PREFIX <prefix>`` (default) or plain tracking to
   which every read is redirected (``default`` mode). Every pushed key is deleted from the L1;
   ``invalidate null`` (FLUSHDB/FLUSHALL) and every (re)connection flush it.

2. **TTL bound.** A fill stores the payload with the PTTL Redis returned, minus the time since
   the request was *sent* (the server read the TTL after that), on a monotonic clock, so no
   copy outlives the key even if the expiry push never comes or the wall clock jumps.

3. **Staleness bound.** Hits are served only while ``monotonic() <= fresh_until``, which the
   tracker's heartbeat keeps ``staleness`` seconds past the send time of the newest PING whose
   PONG proved all earlier pushes were delivered. A dead or silent connection therefore stops
   L1 hits within the bound; the L1 is flushed and reads go to Redis until the tracker is
   back (it reconnects by itself and flushes again, since pushes were missed meanwhile).

4. **No stale fill.** A read that misses registers the key as *in flight* before asking Redis;
   an invalidation of that key (or any flush) arriving before the fill marks the read, and the
   fill is dropped. Registration, invalidation and fill all run under one lock, so "invalidated
   after the read began" is never lost between the check and the store.

Writes by this process go to Redis first, then invalidate locally. The server's push for our
own write (its *echo*) arrives later; in ``bcast`` mode an echo that is provably the echo of
an acknowledged unconditional ``SET`` spares the copy read after that write, instead of
costing one more miss per write (:meth:`Coherence.expect_own` gives the argument). The L1 is
never filled by writes: only a read that Redis answered, and that no invalidation raced, fills
it.

:class:`NearCache` is the sync client, :class:`AsyncNearCache` the ``redis.asyncio`` one;
both share :class:`Coherence` (the rules above) and differ only in how the tracker runs and
how the remote is awaited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .. import forksafety
from ..clock import Clock
from ..config import CacheConfig, normalize_option_name
from ..errors import ConfigError, did_you_mean, short_repr
from ..options import OPTION_BY_NAME, options_for
from ..view import Cache
from .tracking import CLUSTER_NODE, AsyncTracker, Tracker

__all__ = [
    "DEFAULT_NEAR_MAXMEMORY",
    "DEFAULT_NEAR_STALENESS",
    "NEAR_MODES",
    "NEAR_OPTIONS",
    "UNTRACKED",
    "AsyncNearCache",
    "AsyncNearRemote",
    "AsyncRedisRemote",
    "Coherence",
    "NearCache",
    "NearCacheConfig",
    "NearRemote",
    "RedisRemote",
]

#: The L1's default byte budget: small next to a worker's memory (it is per process, and every
#: process of every machine has one), large enough for the hot set of a typical site.
DEFAULT_NEAR_MAXMEMORY = 16 * 1024 * 1024  # "16mb"
#: Default staleness bound (seconds): how long a silent invalidation connection may still be
#: trusted. One second is the usual web-cache tolerance and costs four PINGs a second (the
#: options table's default, :mod:`cachepolicy.options`).
DEFAULT_NEAR_STALENESS: float = OPTION_BY_NAME["near_cache_staleness"].default
#: Staleness bounds outside this range are refused: below 10 ms the heartbeat would be faster
#: than a busy server's latency spikes (the L1 would flap); above an hour it is not a bound.
_MIN_STALENESS = 0.01
_MAX_STALENESS = 3600.0
NEAR_MODES: tuple[str, ...] = OPTION_BY_NAME["near_cache_mode"].choices
_DEFAULT_MODE: str = OPTION_BY_NAME["near_cache_mode"].default
# Options of the L1 that make no sense there: it stores Redis's payload bytes as they are.
_L1_REFUSED = ("serializer", "databases")
#: The near cache's option names (normalized spelling), from the options table.
NEAR_OPTIONS: tuple[str, ...] = tuple(
    option.name for option in options_for("redis") if option.name.startswith("near_cache")
)


class _Payloads:
    """The L1's serializer: it stores the bytes Redis returned, unchanged."""

    __slots__ = ()

    def dumps(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise TypeError(f"The near cache stores payload bytes, got {type(value).__name__}.")
        return value

    def loads(self, payload: bytes) -> Any:
        return payload


_PAYLOADS = _Payloads()


class _MonotonicClock:
    """The L1's clock: epoch-like seconds that follow ``time.monotonic``.

    L1 deadlines come from Redis's PTTL, a *duration*; on the wall clock an NTP step backwards
    would stretch them past the key's real expiry. Offsetting the monotonic clock keeps
    deadlines exact and still looks like epoch time to INFO readers.
    """

    __slots__ = ("_offset",)

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def time(self) -> float:
        return time.monotonic() + self._offset

    def monotonic(self) -> float:
        return time.monotonic()


@dataclasses.dataclass(frozen=True)
class NearCacheConfig:
    """Validated near-cache options (``NEAR_CACHE``, ``NEAR_CACHE_STALENESS``, ``NEAR_CACHE_MODE``).

    ``l1`` is the L1's :class:`~cachepolicy.CacheConfig` (``MAXMEMORY``, ``MAXMEMORY_POLICY``,
    samples, LFU tuning... any in-process option except ``SERIALIZER``/``DATABASES``).
    """

    l1: CacheConfig = dataclasses.field(
        default_factory=lambda: CacheConfig(maxmemory=DEFAULT_NEAR_MAXMEMORY)
    )
    staleness: float = DEFAULT_NEAR_STALENESS
    mode: str = _DEFAULT_MODE

    def __post_init__(self) -> None:
        staleness = self.staleness
        if (
            isinstance(staleness, bool)
            or not isinstance(staleness, int | float)
            or not _MIN_STALENESS <= staleness <= _MAX_STALENESS
        ):
            raise ConfigError(
                f"Option 'NEAR_CACHE_STALENESS' must be a number of seconds between "
                f"{_MIN_STALENESS} and {_MAX_STALENESS:g}, got {short_repr(staleness)}.",
                option="NEAR_CACHE_STALENESS",
            )
        object.__setattr__(self, "staleness", float(staleness))
        mode = self.mode.strip().lower() if isinstance(self.mode, str) else None
        if mode not in NEAR_MODES:
            hint = did_you_mean(mode, NEAR_MODES) if mode else ""
            raise ConfigError(
                f"Option 'NEAR_CACHE_MODE' must be one of {', '.join(map(repr, NEAR_MODES))}, "
                f"got {short_repr(self.mode)}.{hint}",
                option="NEAR_CACHE_MODE",
            )
        object.__setattr__(self, "mode", mode)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> NearCacheConfig | None:
        """The near-cache part of a backend's options, or None when ``NEAR_CACHE`` is absent.

        ``NEAR_CACHE`` is ``True`` (defaults), a mapping of L1 options, or ``None``/``False``
        (no near cache; then the other two options are an error, not silently ignored).
        Other keys of ``options`` are not looked at: they are the backend's.
        """
        given = {normalize_option_name(str(name)): value for name, value in options.items()}
        near = given.get("near_cache")
        if near is None or near is False:
            for name in NEAR_OPTIONS[1:]:
                if name in given:
                    raise ConfigError(
                        f"Option {name.upper()!r} is set but 'NEAR_CACHE' is not: set "
                        f"NEAR_CACHE=True (or a mapping of L1 options) to enable the near cache.",
                        option=name.upper(),
                    )
            return None
        if near is True:
            l1_options: dict[str, Any] = {}
        elif isinstance(near, Mapping):
            l1_options = {normalize_option_name(str(k)): v for k, v in near.items()}
        else:
            raise ConfigError(
                f"Option 'NEAR_CACHE' must be True or a mapping of in-process cache options "
                f"such as {{'MAXMEMORY': '16mb', 'MAXMEMORY_POLICY': 'allkeys-lru'}}, got "
                f"{short_repr(near)}.",
                option="NEAR_CACHE",
            )
        for name in _L1_REFUSED:
            if name in l1_options:
                raise ConfigError(
                    f"Option 'NEAR_CACHE' cannot set {name.upper()!r}: the near cache keeps "
                    f"Redis's payloads as they are, in one database.",
                    option="NEAR_CACHE",
                )
        l1_options.setdefault("maxmemory", DEFAULT_NEAR_MAXMEMORY)
        try:
            l1 = CacheConfig.from_options(l1_options, serializer=_PAYLOADS, databases=1)
        except ConfigError as exc:
            raise ConfigError(f"Option 'NEAR_CACHE': {exc}", option="NEAR_CACHE") from exc
        return cls(
            l1=l1,
            staleness=given.get("near_cache_staleness", DEFAULT_NEAR_STALENESS),
            mode=given.get("near_cache_mode", _DEFAULT_MODE),
        )


# ---------------------------------------------------------------------- the remote side


class Redirect:
    """``default`` mode, one read: the invalidation connection its tracking is redirected to
    (``target``), and the ``CLIENT ID`` of the data connection that made it (``reader``, set by
    the remote). Redis forgets a connection's tracked keys when that connection closes, so the
    near cache watches every reader's id (see :meth:`Coherence.watched`)."""

    __slots__ = ("reader", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.reader: int | None = None


@runtime_checkable
class NearRemote(Protocol):
    """What the near cache needs from the Redis side (full Redis keys, payload bytes).

    ``fetch`` returns ``(payload, pttl_ms)``: ``payload`` None for a missing key, ``pttl_ms``
    as Redis's PTTL (-1 no expiry, -2 missing), read in the same round trip as the value, or
    :data:`UNTRACKED` (-3) for a value that must not be cached.
    With a :class:`Redirect` (``default`` mode) the read must run right after
    ``CLIENT TRACKING on REDIRECT <redirect.target>`` and ``CLIENT ID`` on the same connection
    (one pipeline), so the server tracks exactly this read for the invalidation connection;
    the remote stores the ``CLIENT ID`` reply in ``redirect.reader``.
    """

    def fetch(self, key: str, redirect: Redirect | None = None) -> tuple[bytes | None, int]: ...

    def fetch_many(
        self, keys: Sequence[str], redirect: Redirect | None = None
    ) -> list[tuple[bytes | None, int]]: ...

    def store(self, key: str, payload: bytes, ttl_ms: int | None) -> None: ...

    def remove(self, keys: Sequence[str]) -> int: ...

    def clear(self) -> None: ...

    def tracking_endpoints(self) -> list[dict[str, Any]]:
        """redis-py ``Connection`` keyword arguments, one mapping per primary (a cluster's
        marked ``CLUSTER_NODE: True``: their heartbeat checks the cluster state)."""


@runtime_checkable
class AsyncNearRemote(Protocol):
    """:class:`NearRemote` on ``redis.asyncio``: the same methods, awaited."""

    def fetch(
        self, key: str, redirect: Redirect | None = None
    ) -> Awaitable[tuple[bytes | None, int]]: ...

    def fetch_many(
        self, keys: Sequence[str], redirect: Redirect | None = None
    ) -> Awaitable[list[tuple[bytes | None, int]]]: ...

    def store(self, key: str, payload: bytes, ttl_ms: int | None) -> Awaitable[None]: ...

    def remove(self, keys: Sequence[str]) -> Awaitable[int]: ...

    def clear(self) -> Awaitable[None]: ...

    def tracking_endpoints(self) -> Awaitable[list[dict[str, Any]]]:
        """Awaited: an asyncio cluster client learns its primaries asynchronously."""


# Connection options a tracking connection inherits from the data pool: which server (TCP or
# Unix socket), credentials, TLS (every ``ssl_*``). Not timeouts, retries, health checks,
# redis-py's own client-side cache or its maintenance-notification handler: the tracker sets
# its own (RESP3, timeouts from the staleness bound, a failure ends the session).
_INHERITED = frozenset(
    {
        "host",
        "port",
        "path",
        "db",
        "username",
        "password",
        "credential_provider",
        "client_name",
        "socket_keepalive",
        "socket_keepalive_options",
        "socket_type",
        "encoding",
        "encoding_errors",
        "driver_info",
    }
)


def _endpoint(pool: Any) -> dict[str, Any]:
    """Tracking-connection kwargs from a pool: same server, credentials, TLS or Unix socket
    (``connection_class`` is passed on), minus what the tracker sets itself."""
    kwargs = {
        k: v for k, v in pool.connection_kwargs.items() if k in _INHERITED or k.startswith("ssl")
    }
    kwargs["connection_class"] = pool.connection_class
    return kwargs


#: The PTTL a remote reports for a value that is correct but must not be cached: in ``default``
#: mode the ``CLIENT TRACKING ... REDIRECT`` before it failed (the invalidation connection it
#: names has just died), so no invalidation of this read would ever arrive.
UNTRACKED = -3


def _pair_replies(replies: list[Any], redirect: Redirect | None) -> list[tuple[bytes | None, int]]:
    """GET/PTTL reply pairs; with a ``redirect``, CLIENT TRACKING's and CLIENT ID's first."""
    tracked = True
    if redirect is not None:
        tracked = not isinstance(replies[0], Exception)
        if tracked and not isinstance(replies[1], Exception):
            redirect.reader = int(replies[1])
        replies = replies[2:]
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
    return [
        (replies[i], int(replies[i + 1]) if tracked else UNTRACKED)
        for i in range(0, len(replies), 2)
    ]


def _tracked_pipeline(pipe: Any, keys: Sequence[str], redirect: Redirect | None) -> None:
    if redirect is not None:
        pipe.execute_command("CLIENT", "TRACKING", "on", "REDIRECT", redirect.target)
        pipe.execute_command("CLIENT", "ID")
    for key in keys:
        pipe.execute_command("GET", key)
        pipe.execute_command("PTTL", key)


class RedisRemote:
    """A :class:`NearRemote` over a ``redis.Redis`` or a ``redis.cluster.RedisCluster``.

    Keys are used as given. On a cluster the GET/PTTL pipeline is split per node by redis-py
    and every primary gets its own tracking connection.
    """

    def __init__(self, client: Any, *, clear_prefix: str = "") -> None:
        self.client = client
        self.clear_prefix = clear_prefix

    def fetch(self, key: str, redirect: Redirect | None = None) -> tuple[bytes | None, int]:
        return self.fetch_many([key], redirect)[0]

    def fetch_many(
        self, keys: Sequence[str], redirect: Redirect | None = None
    ) -> list[tuple[bytes | None, int]]:
        pipe = self.client.pipeline(transaction=False)
        _tracked_pipeline(pipe, keys, redirect)
        replies = pipe.execute(raise_on_error=redirect is None)
        return _pair_replies(replies, redirect)

    def store(self, key: str, payload: bytes, ttl_ms: int | None) -> None:
        self.client.set(key, payload, px=ttl_ms)

    def remove(self, keys: Sequence[str]) -> int:
        return int(self.client.delete(*keys)) if keys else 0

    def clear(self) -> None:
        batch = list(self.client.scan_iter(match=self.clear_prefix + "*", count=1000))
        for start in range(0, len(batch), 500):
            self.client.unlink(*batch[start : start + 500])

    def tracking_endpoints(self) -> list[dict[str, Any]]:
        return _endpoints_of(self.client)


def _endpoints_of(client: Any) -> list[dict[str, Any]]:
    """One tracking endpoint per primary: the pool's server, or every cluster primary."""
    primaries = getattr(client, "get_primaries", None)
    if primaries is None:
        return [_endpoint(client.connection_pool)]
    # The client's view of the topology: refreshed by redis-py when a command meets a moved
    # slot or a dead node, and here too, for a tracker whose primary stopped answering.
    client.nodes_manager.initialize()
    endpoints = []
    for node in primaries():
        pool = getattr(node.redis_connection, "connection_pool", None)
        common = _endpoint(pool) if pool is not None else {}
        endpoints.append({**common, "host": node.host, "port": node.port, CLUSTER_NODE: True})
    return endpoints


class AsyncRedisRemote:
    """An :class:`AsyncNearRemote` over ``redis.asyncio.Redis`` or its ``RedisCluster``."""

    def __init__(self, client: Any, *, clear_prefix: str = "") -> None:
        self.client = client
        self.clear_prefix = clear_prefix

    async def fetch(self, key: str, redirect: Redirect | None = None) -> tuple[bytes | None, int]:
        return (await self.fetch_many([key], redirect))[0]

    async def fetch_many(
        self, keys: Sequence[str], redirect: Redirect | None = None
    ) -> list[tuple[bytes | None, int]]:
        pipe = self.client.pipeline(transaction=False)
        _tracked_pipeline(pipe, keys, redirect)
        replies = await pipe.execute(raise_on_error=redirect is None)
        return _pair_replies(replies, redirect)

    async def store(self, key: str, payload: bytes, ttl_ms: int | None) -> None:
        await self.client.set(key, payload, px=ttl_ms)

    async def remove(self, keys: Sequence[str]) -> int:
        return int(await self.client.delete(*keys)) if keys else 0

    async def clear(self) -> None:
        batch = [k async for k in self.client.scan_iter(match=self.clear_prefix + "*", count=1000)]
        for start in range(0, len(batch), 500):
            await self.client.unlink(*batch[start : start + 500])

    async def tracking_endpoints(self) -> list[dict[str, Any]]:
        primaries = getattr(self.client, "get_primaries", None)
        if primaries is None:
            return [_endpoint(self.client.connection_pool)]
        await self.client.initialize()  # a no-op once the cluster's slots are known
        # Refreshed for a tracker whose primary stopped answering (a failover moves its slots).
        await self.client.nodes_manager.initialize()
        return [
            {**_endpoint(node), "host": node.host, "port": node.port, CLUSTER_NODE: True}
            for node in primaries()
        ]


# ---------------------------------------------------------------------- the coherence core


class _Flight:
    """Readers of one key that asked Redis and have not filled yet."""

    __slots__ = ("generation", "readers")

    def __init__(self) -> None:
        self.readers = 0
        self.generation = 0  # bumped by every invalidation of the key while readers are out


# The mark of a key with several own writes in flight: its echoes are ordinary invalidations.
_POISON = 0


class Coherence:
    """The L1 and the four coherence rules (see the module docstring); thread-safe.

    The tracker calls :meth:`invalidate_keys`, :meth:`invalidate_all` and
    :meth:`set_fresh_until`; the clients call :meth:`lookup`, :meth:`begin` and :meth:`fill`.
    """

    def __init__(self, config: NearCacheConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        clock = clock or _MonotonicClock()
        # Whatever the given L1 config says, it stores Redis's payload bytes as they are.
        l1_config = config.l1.replace(serializer=_PAYLOADS, databases=1)
        self.l1 = Cache(config=l1_config, clock=clock)
        self._l1_get = self.l1.accessor().get_payload
        self._l1_set = self.l1.prefixed_setter()
        self._l1_delete = self.l1.delete
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        # Bumped by every flush: a read that began before it never fills.
        self._epoch = 0
        # default mode: CLIENT IDs of the data connections whose tracked reads fill the L1.
        self._watched: set[int] = set()
        self.lost_readers = 0
        self.fresh_until = -float("inf")
        self._stale_flushed = True  # nothing to flush before the first connection
        # Freshness deadlines and the TTL arithmetic share the L1's clock (a ManualClock in
        # tests), so "now" means the same instant for both.
        self.monotonic = clock.monotonic
        self.invalidations = 0
        self.flushes = 0
        self.stale_flushes = 0
        self.reconnects = 0
        self.bypassed = 0
        self.fills = 0
        self.fills_refused = 0
        # bcast mode: key -> the token of the one own SET whose echo may still come (positive:
        # sent, negative: acknowledged, _POISON: several in flight); see expect_own().
        self._own: dict[str, int] = {}
        self._token = 0
        self.own_echoes = 0
        #: The key prefixes this L1's tracker subscribes to (set by the near cache); only
        #: their keys have echoes.
        self.own_prefixes: tuple[str, ...] = ()

    # ---------------------------------------------------------------- tracker side

    def set_fresh_until(self, deadline: float) -> None:
        self.fresh_until = deadline
        if deadline > self.monotonic():
            self._stale_flushed = False

    def invalidate_keys(self, keys: Sequence[str]) -> None:
        """The server pushed ``invalidate keys``; the echo of this process's own acknowledged
        write (see :meth:`expect_own`) is recognised and spares what was read after it."""
        with self._lock:
            own = self._own
            if own:
                pushed = keys
                keys = [key for key in pushed if own.pop(key, _POISON) >= 0]
                echoes = len(pushed) - len(keys)
                self.own_echoes += echoes
                self.invalidations += echoes
            self._drop(keys)

    def _drop(self, keys: Sequence[str]) -> None:
        """Delete the copies of ``keys`` and mark their reads in flight (under the lock)."""
        flights = self._flights
        delete = self._l1_delete
        for key in keys:
            delete(key)
            flight = flights.get(key)
            if flight is not None:
                flight.generation += 1
        self.invalidations += len(keys)

    def invalidate_all(self, reason: str) -> None:
        """Flush the L1: a server flush, a (re)connection or a staleness episode (once each)."""
        with self._lock:
            if reason == "stale":
                if self._stale_flushed:
                    return
                self._stale_flushed = True
                self.stale_flushes += 1
            elif reason == "reconnect":
                self.reconnects += 1
            elif reason == "reader-lost":
                self.lost_readers += 1
            else:
                self.flushes += 1
            self._epoch += 1
            # The L1 is empty: no copy depends on any data connection's tracking any more.
            self._watched.clear()
            # Pushes may have been lost (or will not come, before a subscription): no echo is
            # awaited any more.
            self._own.clear()
            self.l1.clear()

    def watched(self) -> list[int]:
        """default mode: the data connections the heartbeat must find alive (``CLIENT LIST
        ID``). Redis drops a closed connection's tracked keys without any push, so one that
        is gone means invalidations were lost: the heartbeat then flushes (``reader-lost``)."""
        with self._lock:
            return sorted(self._watched)

    # ---------------------------------------------------------------- client side

    def fresh(self) -> bool:
        """Whether L1 hits may be served now; flushes the L1 once when it just went stale."""
        if self.monotonic() <= self.fresh_until:
            return True
        if not self._stale_flushed:
            self.invalidate_all("stale")
        return False

    def lookup(self, key: str) -> bytes | None:
        """The L1 payload when fresh (counts an L1 hit or miss), else None."""
        if self.monotonic() <= self.fresh_until:
            return self._l1_get(key)
        if not self._stale_flushed:
            self.invalidate_all("stale")
        return None

    def begin(self, keys: Iterable[str]) -> tuple[int, list[tuple[_Flight, int]]] | None:
        """Register reads of ``keys`` about to ask Redis; None when the L1 is bypassed."""
        with self._lock:
            if self.monotonic() > self.fresh_until:
                self.bypassed += 1
                return None
            tokens = []
            for key in keys:
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight()
                flight.readers += 1
                tokens.append((flight, flight.generation))
            return self._epoch, tokens

    def fill(
        self,
        keys: Sequence[str],
        started: tuple[int, list[tuple[_Flight, int]]],
        replies: Sequence[tuple[bytes | None, int]] | None,
        sent_at: float,
        redirect: Redirect | None = None,
    ) -> None:
        """End the reads :meth:`begin` registered; store the replies no invalidation raced.

        ``replies`` None means the read failed: only the registration is undone. In
        ``default`` mode a read made on a data connection not yet watched is not stored: the
        heartbeat only vouches for connections it checked, so that connection joins the
        watched set now and its next read fills.
        """
        epoch, tokens = started
        with self._lock:
            now = self.monotonic()
            usable = replies is not None and epoch == self._epoch and now <= self.fresh_until
            if redirect is not None:
                reader = redirect.reader
                if reader is None:
                    usable = False
                elif reader not in self._watched:
                    self._watched.add(reader)
                    usable = False
            for index, key in enumerate(keys):
                flight, generation = tokens[index]
                flight.readers -= 1
                if flight.readers == 0:
                    del self._flights[key]
                if replies is None:
                    continue
                payload, pttl = replies[index]
                if payload is None:
                    continue
                if not usable or flight.generation != generation:
                    self.fills_refused += 1
                    continue
                if pttl == -1:
                    ttl: float | None = None
                elif pttl >= 0:
                    # The server read the TTL after we sent the request: count from the send,
                    # up to this very moment (a thread preempted since ``now`` would otherwise
                    # give the copy the time it lost, past the server's expiry).
                    ttl = pttl / 1000.0 - (self.monotonic() - sent_at)
                    if ttl <= 0:
                        continue
                else:
                    continue  # -2: gone between GET and PTTL; -3: UNTRACKED
                try:
                    self._l1_set(key, payload, ttl)
                except (MemoryError, ValueError):
                    continue  # larger than the L1's budget or refused by its policy: skip L1
                self.fills += 1

    def forget(self, keys: Iterable[str]) -> None:
        """This process wrote or deleted ``keys`` in Redis: drop the copies, stop racing fills."""
        with self._lock:
            self._drop(list(keys))  # counted with the pushed invalidations

    # ---------------------------------------------------------------- own writes' echoes
    #
    # In bcast mode the server pushes an invalidation for *every* write under the prefix,
    # this process's own included. That echo arrives after the write's reply was sent, so
    # typically while the caller is already reading the key back (cache-aside: miss, SET,
    # GET): it would drop that fill, or the copy it made, and cost one more miss per write.
    #
    # A pushed key is spared only when the push is provably the echo of an own write W that
    # precedes the read which filled the copy:
    #
    # * W is an unconditional SET of a tracked key (it always produces a push) and was the
    #   only own write of the key in flight: :meth:`expect_own` marks the key with W's token
    #   *before* W is sent, a second own write of the key poisons the mark.
    # * On W's reply, :meth:`own_written` forgets the key (every read registered before fails
    #   to fill) and, under the same lock, promotes *W's own* mark to "acknowledged". A copy
    #   present later was therefore read after W.
    # * Pushes arrive in the server's order on one connection, and W's push is sent before
    #   W's reply. A push for a write after the read is behind W's push in that stream, and
    #   the first push of the key to arrive pops the mark (a foreign write before W may do it
    #   early: then W's echo is an ordinary invalidation). So the push that finds the
    #   acknowledged mark is W's echo or older than W: sparing the copy is safe.
    # * Any flush (reconnection, staleness, server flush, fork) clears the marks: a push may
    #   have been lost. ``default`` mode has no marks (its pushes depend on what was read).

    def expect_own(self, keys: Sequence[str]) -> int | None:
        """An unconditional SET of ``keys`` by this process is about to be sent; returns the
        token for :meth:`own_written` (None: nothing marked)."""
        prefixes = self.own_prefixes
        if self.config.mode != "bcast" or not prefixes:
            return None
        with self._lock:
            self._token += 1
            token = self._token
            own = self._own
            for key in keys:
                if key.startswith(prefixes):
                    own[key] = _POISON if key in own else token
            return token

    @contextlib.contextmanager
    def own_write(self, keys: Sequence[str]) -> Iterator[None]:
        """:meth:`expect_own` before the SET the block sends, :meth:`own_written` after it
        (also after a failure: the write may have happened before the error)."""
        token = self.expect_own(keys)
        done = False
        try:
            yield
            done = True
        finally:
            self.own_written(token, keys, done)

    def own_written(self, token: int | None, keys: Iterable[str], acknowledged: bool) -> None:
        """The SET :meth:`expect_own` announced has been answered (``acknowledged``) or
        failed: forget the keys, and await the echo of an acknowledged write."""
        keys = list(keys)
        with self._lock:
            self._drop(keys)
            if token is None:
                return
            own = self._own
            for key in keys:
                if own.get(key) == token:
                    if acknowledged:
                        own[key] = -token
                    else:
                        del own[key]  # it may or may not have happened: no echo awaited

    def after_fork_in_child(self) -> None:
        """This process is a fork: nothing of the parent's tracking is valid here.

        The L1 is not cleared now (its store's own fork handling may not have run yet); the
        freshness deadline is dropped instead, so the first read flushes and bypasses it.
        """
        self._lock = threading.Lock()
        self._flights = {}
        self._watched = set()
        self._own = {}
        self._epoch += 1
        self.fresh_until = -float("inf")
        self._stale_flushed = False

    def info(self) -> dict[str, Any]:
        l1 = self.l1.info()
        return {
            "near_cache_mode": self.config.mode,
            "near_cache_staleness": self.config.staleness,
            "near_cache_fresh": self.monotonic() <= self.fresh_until,
            "near_cache_hits": l1["keyspace_hits"],
            "near_cache_misses": l1["keyspace_misses"],
            "near_cache_keys": len(self.l1),
            "near_cache_used_memory": l1["used_memory"],
            "near_cache_maxmemory": l1["maxmemory"],
            "near_cache_maxmemory_policy": l1["maxmemory_policy"],
            "near_cache_evicted_keys": l1["evicted_keys"],
            "near_cache_expired_keys": l1["expired_keys"],
            "near_cache_fills": self.fills,
            "near_cache_fills_refused": self.fills_refused,
            "near_cache_invalidations": self.invalidations,
            "near_cache_own_echoes": self.own_echoes,
            "near_cache_flushes": self.flushes,
            "near_cache_stale_flushes": self.stale_flushes,
            "near_cache_reconnects": self.reconnects,
            "near_cache_lost_readers": self.lost_readers,
            "near_cache_bypassed_reads": self.bypassed,
        }

    def close(self) -> None:
        self.l1.close()


def _prefixes(prefix: str | Sequence[str]) -> list[str]:
    return [prefix] if isinstance(prefix, str) else list(prefix)


def _check_nodes(config: NearCacheConfig, nodes: Sequence[Mapping[str, Any]]) -> None:
    if config.mode == "default" and len(nodes) != 1:
        raise ConfigError(
            "Option 'NEAR_CACHE_MODE' = 'default' needs a single Redis server: on a cluster "
            "each read would have to be redirected to the tracker of its key's primary. "
            "Use 'bcast' (one tracking connection per primary).",
            option="NEAR_CACHE_MODE",
        )


class _Read:
    """One registered read of keys that missed the L1 (:meth:`Coherence.begin`), until its
    replies fill the L1 (:meth:`filled`) or it fails (:meth:`failed`)."""

    __slots__ = ("core", "keys", "redirect", "sent", "started")

    def __init__(
        self,
        core: Coherence,
        keys: Sequence[str],
        started: tuple[int, list[tuple[_Flight, int]]],
        redirect: Redirect | None,
    ) -> None:
        self.core = core
        self.keys = keys
        self.started = started
        self.sent = core.monotonic()
        self.redirect = redirect

    def filled(self, replies: Sequence[tuple[bytes | None, int]]) -> None:
        self.core.fill(self.keys, self.started, replies, self.sent, self.redirect)

    def failed(self) -> None:
        self.core.fill(self.keys, self.started, None, self.sent)


class _NearBase:
    """What the sync and the async near cache share: the L1 side of every operation (lookups,
    registering and ending the reads that missed, local invalidation, stats). Subclasses only
    run the remote calls (awaited or not) and the tracker."""

    tracker: Tracker | AsyncTracker | None

    def __init__(
        self, remote: Any, prefix: str | Sequence[str], config: NearCacheConfig | None
    ) -> None:
        self.config = config or NearCacheConfig()
        self.remote = remote
        self.prefixes = _prefixes(prefix)
        self.core = Coherence(self.config)
        self.core.own_prefixes = tuple(self.prefixes)

    def _tracker_options(self, own_endpoints: bool) -> dict[str, Any]:
        """The :class:`Tracker` / :class:`AsyncTracker` keyword arguments."""
        core = self.core
        return {
            "prefixes": self.prefixes,
            "mode": self.config.mode,
            "staleness": self.config.staleness,
            "sink": core,
            "on_fresh_until": core.set_fresh_until,
            "clock": core.monotonic,
            "watched": core.watched if self.config.mode == "default" else None,
            "discover": None if own_endpoints else self.remote.tracking_endpoints,
        }

    def _bypassed(self) -> None:
        """A read found the L1 bypassed (the sync cache restarts a forked child's tracker)."""

    def _redirect(self) -> Redirect | None:
        if self.config.mode != "default" or self.tracker is None:
            return None
        target = self.tracker.client_ids[0]
        return Redirect(target) if target is not None else None

    def _begin(self, keys: Sequence[str]) -> _Read | None:
        """Register a read of ``keys`` about to ask Redis; None when the L1 is bypassed."""
        started = self.core.begin(keys)
        if started is None:
            self._bypassed()
            return None
        return _Read(self.core, keys, started, self._redirect())

    def _split(self, keys: Iterable[str]) -> tuple[dict[str, bytes], list[str]]:
        """(the L1 hits, the distinct keys that missed), in the order given."""
        lookup = self.core.lookup
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for key in keys:
            payload = lookup(key)
            if payload is None:
                missing.append(key)
            else:
                found[key] = payload
        return found, list(dict.fromkeys(missing))

    @staticmethod
    def _merge(
        found: dict[str, bytes], keys: Sequence[str], replies: Sequence[tuple[bytes | None, int]]
    ) -> dict[str, bytes]:
        for key, (payload, _pttl) in zip(keys, replies, strict=True):
            if payload is not None:
                found[key] = payload
        return found

    def invalidate(self, keys: Iterable[str]) -> None:
        """Drop local copies after a write this object did not perform (add, incr, touch...)."""
        self.core.forget(keys)

    def info(self) -> dict[str, Any]:
        report = self.core.info()
        tracker = self.tracker
        report["near_cache_tracking_connections"] = sum(tracker.connected) if tracker else 0
        return report


class NearCache(_NearBase):
    """A near cache in front of a sync :class:`NearRemote`, on payload bytes and full keys.

    ``prefix`` is the key prefix tracked in ``bcast`` mode (every key this cache reads must
    start with it; ``""`` tracks every key). ``endpoints`` overrides the remote's
    ``tracking_endpoints()`` (one redis-py ``Connection`` kwargs mapping per primary).
    """

    tracker: Tracker
    remote: NearRemote

    def __init__(
        self,
        remote: NearRemote,
        *,
        prefix: str | Sequence[str],
        config: NearCacheConfig | None = None,
        endpoints: Sequence[Mapping[str, Any]] | None = None,
        start: bool = True,
    ) -> None:
        super().__init__(remote, prefix, config)
        nodes = list(endpoints) if endpoints is not None else remote.tracking_endpoints()
        _check_nodes(self.config, nodes)
        self.tracker = Tracker(nodes, **self._tracker_options(endpoints is not None))
        self._forked = False
        forksafety.track(self)
        if start:
            self.tracker.start()

    # A fork (gunicorn --preload, multiprocessing) copies the L1 but not the tracker threads.
    # The child's copy is made stale at once, and the tracker restarts on the first read that
    # finds it stale: from the bypass path, so the hit path pays nothing for fork safety.
    def _fork_prepare(self, timeout: float) -> bool:
        return self.core._lock.acquire(timeout=timeout)

    def _fork_finish(self, held: bool, child: bool) -> None:
        if child:
            self.core.after_fork_in_child()
            self.tracker.after_fork_in_child()
            self._forked = True
        elif held:
            self.core._lock.release()

    def _bypassed(self) -> None:
        if self._forked:
            self._forked = False
            self.tracker.start()

    def wait_fresh(self, timeout: float = 5.0) -> bool:
        """Block until the invalidation connections are up (True) or ``timeout`` passes."""
        self._bypassed()
        deadline = time.monotonic() + timeout
        while not self.core.fresh():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def _fetch(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        """Ask Redis for keys that missed the L1, and fill it with what no write raced."""
        read = self._begin(keys)
        if read is None:
            return self.remote.fetch_many(keys)
        try:
            replies = self.remote.fetch_many(keys, read.redirect)
        except BaseException:
            read.failed()
            raise
        read.filled(replies)
        return replies

    def get(self, key: str) -> bytes | None:
        """The payload of ``key`` from the L1, else from Redis (filling the L1)."""
        payload = self.core.lookup(key)
        if payload is not None:
            return payload
        return self._fetch((key,))[0][0]

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """Payloads of the keys that exist: L1 hits, then one Redis round trip for the rest."""
        found, missing = self._split(keys)
        return self._merge(found, missing, self._fetch(missing)) if missing else found

    def set(self, key: str, payload: bytes, ttl_ms: int | None = None) -> None:
        """Write to Redis, then drop the local copy (other processes get the server's push;
        its echo here spares what is read after the write, see :meth:`Coherence.expect_own`)."""
        with self.core.own_write((key,)):
            self.remote.store(key, payload, ttl_ms)

    def delete_many(self, keys: Sequence[str]) -> int:
        removed = self.remote.remove(keys)
        self.core.forget(keys)
        return removed

    def delete(self, key: str) -> bool:
        return self.delete_many((key,)) > 0

    def clear(self) -> None:
        self.remote.clear()
        self.core.invalidate_all("flush")

    def close(self) -> None:
        self.tracker.stop()
        self.core.close()

    def __enter__(self) -> NearCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncNearCache(_NearBase):
    """A near cache in front of an :class:`AsyncNearRemote` (``redis.asyncio``).

    The tracker runs as tasks on the event loop that calls :meth:`start` (or the first
    ``async with``); the L1 and the coherence rules are the sync ones. :meth:`aclose` (or
    ``async with``) stops the tracker and closes its connections: call it before the loop
    closes.
    """

    tracker: AsyncTracker | None
    remote: AsyncNearRemote

    def __init__(
        self,
        remote: AsyncNearRemote,
        *,
        prefix: str | Sequence[str],
        config: NearCacheConfig | None = None,
        endpoints: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(remote, prefix, config)
        self._endpoints = list(endpoints) if endpoints is not None else None
        if self._endpoints is not None:
            _check_nodes(self.config, self._endpoints)
        # Made by start(): the endpoints may have to be awaited, and the tasks need the loop.
        self.tracker = None
        self._starting = False

    async def start(self) -> None:
        """Resolve the primaries and start the tracker on the running loop (once)."""
        if self._starting:
            return
        self._starting = True  # before any await: a concurrent start() returns at once
        nodes = self._endpoints
        if nodes is None:
            try:
                nodes = list(await self.remote.tracking_endpoints())
                _check_nodes(self.config, nodes)
            except BaseException:
                self._starting = False
                raise
        self.tracker = AsyncTracker(nodes, **self._tracker_options(self._endpoints is not None))
        self.tracker.start()

    async def wait_fresh(self, timeout: float = 5.0) -> bool:
        import asyncio

        await self.start()
        deadline = time.monotonic() + timeout
        while not self.core.fresh():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.002)
        return True

    async def _fetch(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        read = self._begin(keys)
        if read is None:
            return await self.remote.fetch_many(keys)
        try:
            replies = await self.remote.fetch_many(keys, read.redirect)
        except BaseException:
            read.failed()
            raise
        read.filled(replies)
        return replies

    async def get(self, key: str) -> bytes | None:
        payload = self.core.lookup(key)
        if payload is not None:
            return payload
        return (await self._fetch((key,)))[0][0]

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        found, missing = self._split(keys)
        return self._merge(found, missing, await self._fetch(missing)) if missing else found

    async def set(self, key: str, payload: bytes, ttl_ms: int | None = None) -> None:
        with self.core.own_write((key,)):
            await self.remote.store(key, payload, ttl_ms)

    async def delete_many(self, keys: Sequence[str]) -> int:
        removed = await self.remote.remove(keys)
        self.core.forget(keys)
        return removed

    async def delete(self, key: str) -> bool:
        return await self.delete_many((key,)) > 0

    async def clear(self) -> None:
        await self.remote.clear()
        self.core.invalidate_all("flush")

    async def aclose(self) -> None:
        """Stop the tracker's tasks (closing their connections) and close the L1."""
        if self.tracker is not None:
            await self.tracker.stop()
        self.core.close()

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncNearCache:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
