"""The invalidation connections of a near cache: Redis server-assisted client-side caching.

One dedicated RESP3 connection per Redis primary runs ``CLIENT TRACKING on BCAST PREFIX <p>``
(or, in ``default`` mode, plain ``CLIENT TRACKING on`` that the data connections ``REDIRECT``
to). The server pushes ``invalidate [keys]`` on it for every write to a matching key and
``invalidate null`` on FLUSHDB/FLUSHALL. The push frames are decoded by redis-py's RESP3
parser and handed to us through its invalidation push handler
(``parser.set_invalidation_push_handler``); no protocol code lives here.

Freshness, not liveness, is what the near cache needs: a TCP connection can stay open while
nothing arrives (a partition, a paused server, a stuck reader). So each connection sends a
``PING`` every ``heartbeat`` seconds and remembers the *send* time of the newest PING whose
PONG came back. Redis answers in order on one connection, so that PONG proves every
invalidation the server produced before it read the PING has been delivered. The L1 may serve
a hit only while ``monotonic() <= fresh_until`` = (oldest such confirmed send time over all
primaries) + staleness: a write acknowledged at time *w* is never read from any L1 after
*w + staleness*, whatever happened to the network.

On a Redis Cluster the heartbeat is ``CLUSTER INFO`` instead of ``PING``: a node that reports
``cluster_state:fail`` (it refuses every keyed command, ``CLUSTERDOWN``: a primary is gone and
full coverage is required, or this node is cut off from the majority, where a replica may be
taking over its slots) still answers ``PING``, but its reply confirms nothing. So in a
cluster-down state hits stop within the bound, the L1 is flushed, and reads go to Redis, which
raises its ``ClusterDownError``: nothing is served that the cluster itself would refuse.

The :class:`InvalidationSink` (the near cache's coherence core) receives the keys, the flushes
and the connection-state changes; a (re)connected tracker always makes it flush, since pushes
may have been lost while no connection was subscribed.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

__all__ = [
    "CLUSTER_NODE",
    "AsyncTracker",
    "InvalidationSink",
    "Tracker",
    "heartbeat_for",
    "tracking_command",
]

logger = logging.getLogger("cachepolicy.redis.near")

# The heartbeat runs four times per staleness bound, so one lost or slow PONG does not yet make
# the L1 stale: it takes about three missed beats in a row (plus the round trip).
_BEATS_PER_BOUND = 4
# Floor of the heartbeat period: below 5 ms the PINGs alone would cost a Redis core a few
# percent per client process for no gain (the invalidation delay itself is ~0.1 ms on loopback).
_MIN_HEARTBEAT = 0.005
# Reconnect back-off after a failed attempt: starts small (a restart is usually quick) and is
# capped so a server that comes back is noticed within a second.
_BACKOFF_START = 0.02
_BACKOFF_MAX = 1.0
# A connection whose oldest unanswered PING is older than this many staleness bounds is dropped
# and reconnected: it is no longer merely slow. The L1 was bypassed long before (after one bound).
_DEAD_AFTER_BOUNDS = 2.0
#: An endpoint mapping's marker (not a connection argument) for a Redis Cluster primary: its
#: heartbeat is ``CLUSTER INFO``, confirming freshness only while the node's state is ``ok``.
CLUSTER_NODE = "cluster_node"


# After this many failed sessions in a row a tracker asks the remote for the current primaries:
# a failover may have moved its slots to a replica at another address. Not on the first
# failure: a restart on the same address is the common case and needs no topology read.
_REDISCOVER_AFTER = 3


def _follow_topology(
    endpoints: list[dict[str, Any]], node: int, primaries: Sequence[Mapping[str, Any]]
) -> None:
    """Point ``endpoints[node]`` at a primary no other tracker covers, if its own is no longer
    a primary. (With more primaries than trackers some would be untracked: a resharding the
    near cache does not follow; it must be rebuilt, and this is logged.)"""

    def address(endpoint: Mapping[str, Any]) -> tuple[Any, Any]:
        return endpoint.get("host"), endpoint.get("port")

    current = {address(p) for p in primaries}
    if len(current) > len(endpoints):
        logger.error(
            "Near cache: the cluster now has %d primaries but %d are tracked; rebuild the near "
            "cache to track the new ones.",
            len(current),
            len(endpoints),
        )
    if address(endpoints[node]) in current:
        return
    covered = {address(e) for i, e in enumerate(endpoints) if i != node}
    for primary in primaries:
        if address(primary) not in covered:
            logger.warning(
                "Near cache: tracking %s:%s instead of %s:%s, which is no longer a primary.",
                *address(primary),
                *address(endpoints[node]),
            )
            endpoints[node] = dict(primary)
            return


def heartbeat_for(staleness: float) -> float:
    """The PING period for a staleness bound (seconds)."""
    return max(_MIN_HEARTBEAT, staleness / _BEATS_PER_BOUND)


def tracking_command(mode: str, prefixes: Sequence[str]) -> list[str]:
    """The ``CLIENT TRACKING`` arguments the invalidation connection sends for ``mode``."""
    if mode == "bcast":
        args = ["CLIENT", "TRACKING", "on", "BCAST"]
        for prefix in prefixes:
            if prefix:  # an empty prefix means "every key": BCAST with no PREFIX at all
                args += ["PREFIX", prefix]
        return args
    return ["CLIENT", "TRACKING", "on"]


class InvalidationSink(Protocol):
    """What a tracker reports to (the near cache's coherence core implements it)."""

    def invalidate_keys(self, keys: Sequence[str]) -> None:
        """The server says these keys changed."""

    def invalidate_all(self, reason: str) -> None:
        """Forget everything: ``"flush"`` (server flush), ``"reconnect"``, ``"stale"``,
        ``"reader-lost"`` (a watched data connection of ``default`` mode is gone)."""


def _decode_keys(raw: Any) -> list[str]:
    # Keys arrive as bytes. Our own keys are str encoded as UTF-8, so they decode back exactly;
    # a foreign non-UTF-8 key decodes to something that matches nothing in the L1, which is right.
    return [k.decode("utf-8", "surrogateescape") if isinstance(k, bytes) else str(k) for k in raw]


class _Freshness:
    """Per-connection confirmed-send times, folded into one ``fresh_until`` deadline."""

    def __init__(self, nodes: int, staleness: float, on_change: Callable[[float], None]) -> None:
        self.staleness = staleness
        self.confirmed = [-math.inf] * nodes
        self._on_change = on_change

    def set(self, node: int, sent_at: float) -> None:
        self.confirmed[node] = sent_at
        self._on_change(min(self.confirmed) + self.staleness)


class _TrackerBase(abc.ABC):
    """What the sync and the async tracker share: the per-primary state, the freshness fold,
    the connection arguments of a session, and what a session's start and end report.

    ``endpoints`` are redis-py ``Connection`` keyword arguments (host, port, password, ssl...),
    one mapping per primary. ``on_fresh_until`` receives the new read deadline whenever it moves.
    ``on_client_id(node, id)`` is told each new connection's ``CLIENT ID`` (``default`` mode
    redirects the data connections to it). ``discover`` returns the current primaries (awaited
    by the async tracker).
    """

    def __init__(
        self,
        endpoints: Sequence[Mapping[str, Any]],
        *,
        prefixes: Sequence[str],
        mode: str,
        staleness: float,
        sink: InvalidationSink,
        on_fresh_until: Callable[[float], None],
        on_client_id: Callable[[int, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watched: Callable[[], list[int]] | None = None,
        discover: Callable[[], Any] | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("A near cache needs at least one Redis endpoint to track.")
        self.endpoints = [dict(e) for e in endpoints]
        self.prefixes = list(prefixes)
        self.mode = mode
        self.staleness = staleness
        self.heartbeat = heartbeat_for(staleness)
        self.sink = sink
        self.clock = clock
        self.freshness = _Freshness(len(self.endpoints), staleness, on_fresh_until)
        self.on_client_id = on_client_id
        self.watched = watched
        self.discover = discover
        self.connected = [False] * len(self.endpoints)
        self.client_ids: list[int | None] = [None] * len(self.endpoints)
        self._connections: list[Any] = [None] * len(self.endpoints)
        self._reset_runner()

    @abc.abstractmethod
    def _reset_runner(self) -> None:
        """Make the subclass's own state: what runs the sessions (threads, or tasks)."""

    def _connection(self, node: int, default_class: Any) -> Any:
        """A new (unconnected) RESP3 connection to ``node``, registered as its current one."""
        kwargs = dict(self.endpoints[node])
        kwargs.pop(CLUSTER_NODE, None)
        # redis-py's connection classes are untyped; TLS/Unix-socket pools pass their own.
        connection_class: Any = kwargs.pop("connection_class", None) or default_class
        kwargs["protocol"] = 3
        # A hung read must end: it is bounded by the dead-connection limit, not left to the
        # caller's socket_timeout (often None).
        kwargs["socket_timeout"] = max(1.0, self.staleness * _DEAD_AFTER_BOUNDS)
        kwargs.setdefault("socket_connect_timeout", kwargs["socket_timeout"])
        connection = connection_class(**kwargs)
        self._connections[node] = connection
        return connection

    def _on_push(self, message: Any) -> None:
        keys = message[1] if len(message) > 1 else None
        if keys is None:
            self.sink.invalidate_all("flush")
        else:
            self.sink.invalidate_keys(_decode_keys(keys))

    def _subscribed(self, node: int, client_id: int, sent: float) -> None:
        """``CLIENT TRACKING`` is on for ``node``: whatever changed before may have been
        missed, so the L1 is flushed; freshness counts from ``sent`` (before CLIENT ID)."""
        self.client_ids[node] = client_id
        self.connected[node] = True
        self.sink.invalidate_all("reconnect")
        if self.on_client_id is not None:
            self.on_client_id(node, client_id)
        self.freshness.set(node, sent)

    def _forget_session(self, node: int) -> tuple[bool, Any]:
        """Mark ``node`` disconnected; (whether it was connected, its connection to drop)."""
        was_connected = self.connected[node]
        self.connected[node] = False
        self.client_ids[node] = None
        self.freshness.set(node, -math.inf)
        connection, self._connections[node] = self._connections[node], None
        return was_connected, connection

    def _log_failure(self, node: int, failures: int, exc: Exception) -> None:
        # Once per outage: later attempts while it is still down log at debug level.
        (logger.warning if failures == 1 else logger.debug)(
            "Near cache: invalidation connection to %s:%s lost (%s: %s); the near cache "
            "is bypassed until it is back.",
            self.endpoints[node].get("host"),
            self.endpoints[node].get("port"),
            type(exc).__name__,
            exc,
        )

    def _check_stale(self, node: int, now: float) -> None:
        if self.freshness.confirmed[node] + self.staleness < now:
            self.sink.invalidate_all("stale")

    def _heartbeat(self, node: int, now: float) -> list[tuple[tuple[Any, ...], _Expected]]:
        """The commands of one heartbeat and what each reply proves (see :func:`_answer`)."""
        beat: list[tuple[tuple[Any, ...], _Expected]] = []
        ids = self.watched() if self.watched is not None else []
        if ids:
            beat.append((("CLIENT", "LIST", "ID", *ids), ("list", now, ids)))
        if self.endpoints[node].get(CLUSTER_NODE):
            beat.append((("CLUSTER", "INFO"), ("state", now, [])))
        else:
            beat.append((("PING",), ("pong", now, [])))
        return beat


class Tracker(_TrackerBase):
    """Invalidation connections driven by one daemon thread per primary (sync clients)."""

    discover: Callable[[], Sequence[Mapping[str, Any]]] | None

    def _reset_runner(self) -> None:
        self._stop = threading.Event()
        self._discovering = threading.Lock()  # one node at a time picks its replacement
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for node in range(len(self.endpoints)):
            thread = threading.Thread(
                target=self._run, args=(node,), name=f"cachepolicy-near-tracker-{node}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for connection in self._connections:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.disconnect()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        self._threads.clear()

    def after_fork_in_child(self) -> None:
        """Forget the parent's threads and connections (they do not exist in this process).

        The inherited sockets are only dropped, never shut down: they are the parent's too
        (redis-py's ``disconnect`` skips the shutdown in a process that did not open them).
        """
        self._reset_runner()
        self._connections = [None] * len(self.endpoints)
        self.connected = [False] * len(self.endpoints)
        self.client_ids = [None] * len(self.endpoints)
        self.freshness.confirmed = [-math.inf] * len(self.endpoints)

    def kill_connection(self, node: int = 0) -> None:
        """Drop one invalidation connection (tests and operators); it reconnects by itself."""
        connection = self._connections[node]
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.disconnect()

    # ------------------------------------------------------------------ the loop

    def _run(self, node: int) -> None:
        backoff = _BACKOFF_START
        failures = 0
        while not self._stop.is_set():
            try:
                if failures >= _REDISCOVER_AFTER and self.discover is not None:
                    with self._discovering:
                        _follow_topology(self.endpoints, node, self.discover())
                self._session(node)
                backoff = _BACKOFF_START
                failures = 0
            except Exception as exc:  # any failure: the session is over, the L1 must not trust it
                failures += 1
                if self._stop.is_set():
                    break
                self._log_failure(node, failures, exc)
            self._lost(node)
            if self._stop.wait(backoff):
                break
            backoff = min(_BACKOFF_MAX, backoff * 2)

    def _lost(self, node: int) -> None:
        was_connected, connection = self._forget_session(node)
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.disconnect()
        if was_connected:
            self.sink.invalidate_all("stale")

    def _session(self, node: int) -> None:
        from redis.connection import Connection

        connection = self._connection(node, Connection)
        if self._stop.is_set():
            return
        connection.connect()
        pushed: list[Any] = []

        def on_invalidate(message: Any) -> Any:
            self._on_push(message)
            return pushed  # a marker: "that was a push, not a reply"

        connection._parser.set_invalidation_push_handler(on_invalidate)
        sent = self.clock()
        connection.send_command("CLIENT", "ID")
        client_id = int(connection.read_response())
        connection.send_command(*tracking_command(self.mode, self.prefixes))
        connection.read_response()
        self._subscribed(node, client_id, sent)
        self._beat(node, connection, pushed)

    def _beat(self, node: int, connection: Any, pushed: list[Any]) -> None:
        expected: collections.deque[_Expected] = collections.deque()
        next_ping = self.clock()
        dead_after = self.staleness * _DEAD_AFTER_BOUNDS
        while not self._stop.is_set():
            now = self.clock()
            if now >= next_ping:
                for command, expectation in self._heartbeat(node, now):
                    connection.send_command(*command)
                    expected.append(expectation)
                next_ping = now + self.heartbeat
            if expected and now - expected[0][1] > dead_after:
                raise TimeoutError(
                    f"no PONG for {now - expected[0][1]:.3f}s (staleness bound {self.staleness}s)"
                )
            self._check_stale(node, now)
            if not connection.can_read(timeout=max(0.0, next_ping - self.clock())):
                continue
            reply = connection.read_response(push_request=True)
            if reply is not pushed and expected:
                _answer(self.sink, self.freshness, node, expected.popleft(), reply)


# What a heartbeat reply proves: ("pong", sent, []) confirms freshness up to ``sent``;
# ("state", sent, []) too, if the cluster node says ``cluster_state:ok``; ("list", sent, ids)
# checks that the watched data connections still exist.
_Expected = tuple[str, float, list[int]]
_CLIENT_ID = re.compile(rb"(?:^|\s)id=(\d+)")
_CLUSTER_OK = b"cluster_state:ok"


def _answer(
    sink: InvalidationSink, freshness: _Freshness, node: int, expectation: _Expected, reply: Any
) -> None:
    kind, sent, ids = expectation
    if kind == "pong":
        freshness.set(node, sent)
        return
    text = reply.encode() if isinstance(reply, str) else bytes(reply or b"")
    if kind == "state":
        # Not ok: no confirmation, so the L1 goes stale within the bound and is flushed.
        if _CLUSTER_OK in text:
            freshness.set(node, sent)
        return
    alive = {int(match) for match in _CLIENT_ID.findall(text)}
    if not alive.issuperset(ids):
        # A data connection that tracked keys for us is gone, and Redis dropped its tracking
        # table entries without a push: their invalidations will never come.
        sink.invalidate_all("reader-lost")


def _cancel_pending() -> bool:
    """Whether the running task was asked to stop, even if the request was swallowed.

    On Python 3.11 ``asyncio.wait_for`` (which redis-py wraps around socket writes) can lose a
    ``cancel()`` that lands as its inner write completes; the task then carries on, and a
    loop shutting down (``asyncio.run`` cancels every task and waits) would wait forever for
    a tracker blocked on its next push. The request is still counted (``Task.cancelling()``,
    3.11+), so the tracker's loops check it at every reply and heartbeat.
    """
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling is not None and cancelling())


class AsyncTracker(_TrackerBase):
    """The same invalidation connections on ``redis.asyncio``, as tasks of the running loop.

    Each primary gets a reader task (blocks on the connection, hands pushes to the sink,
    matches PONGs) and a heartbeat task (sends PINGs, drops a connection that went silent).
    """

    discover: Callable[[], Awaitable[Sequence[Mapping[str, Any]]]] | None

    def _reset_runner(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        """Start the tasks on the running event loop."""
        loop = asyncio.get_running_loop()
        for node in range(len(self.endpoints)):
            self._tasks.append(loop.create_task(self._run(node)))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def kill_connection(self, node: int = 0) -> None:
        """Drop one invalidation connection; it reconnects by itself."""
        connection = self._connections[node]
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()

    async def _run(self, node: int) -> None:
        backoff = _BACKOFF_START
        failures = 0
        while not self._stopping and not _cancel_pending():
            try:
                if failures >= _REDISCOVER_AFTER and self.discover is not None:
                    _follow_topology(self.endpoints, node, await self.discover())
                await self._session(node)
                backoff = _BACKOFF_START
                failures = 0
            except asyncio.CancelledError:
                await self._lost(node)
                raise
            except Exception as exc:  # the session is over, the L1 must not trust it
                failures += 1
                self._log_failure(node, failures, exc)
            await self._lost(node)
            await asyncio.sleep(backoff)
            backoff = min(_BACKOFF_MAX, backoff * 2)

    async def _lost(self, node: int) -> None:
        was_connected, connection = self._forget_session(node)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()
        if was_connected:
            self.sink.invalidate_all("stale")

    async def _session(self, node: int) -> None:
        from redis.asyncio.connection import Connection

        connection = self._connection(node, Connection)
        await connection.connect()
        pushed: list[Any] = []

        async def on_invalidate(message: Any) -> Any:
            self._on_push(message)
            return pushed

        connection._parser.set_invalidation_push_handler(on_invalidate)
        sent = self.clock()
        await connection.send_command("CLIENT", "ID")
        client_id = int(await connection.read_response())
        await connection.send_command(*tracking_command(self.mode, self.prefixes))
        await connection.read_response()
        self._subscribed(node, client_id, sent)
        expected: collections.deque[_Expected] = collections.deque()
        beat = asyncio.get_running_loop().create_task(self._beat(node, connection, expected))
        try:
            while True:
                reply = await connection.read_response(push_request=True, timeout=math.inf)
                if _cancel_pending():
                    raise asyncio.CancelledError
                if reply is not pushed and expected:
                    _answer(self.sink, self.freshness, node, expected.popleft(), reply)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beat

    async def _beat(
        self, node: int, connection: Any, expected: collections.deque[_Expected]
    ) -> None:
        dead_after = self.staleness * _DEAD_AFTER_BOUNDS
        while not _cancel_pending():
            now = self.clock()
            if expected and now - expected[0][1] > dead_after:
                logger.warning("Near cache: no PONG for %.3fs, reconnecting.", now - expected[0][1])
                await connection.disconnect()  # ends the reader's read with an error
                return
            self._check_stale(node, now)
            for command, expectation in self._heartbeat(node, now):
                expected.append(expectation)
                await connection.send_command(*command)
            await asyncio.sleep(self.heartbeat)
