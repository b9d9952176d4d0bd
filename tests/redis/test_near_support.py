"""Helpers of the near-cache tests (no tests here): servers, a freezable proxy, polling.

* ``shared_redis``: the shared server on 127.0.0.1:6379 (only ever touched under a unique key
  prefix: never flushed, never reconfigured); skipped with a reason when nothing answers.
* :class:`PrivateServer`: a throw-away ``redis-server`` on a free loopback port that the fault
  tests may pause, flush, kill and restart (on the same port): ``tests/redis/servers.py``'s
  process with a password option.
* :class:`FreezableProxy`: a loopback TCP relay; ``freeze()`` stops forwarding in both
  directions without closing anything, which is what a network partition or a stuck reader
  looks like to the client (the connection stays open and silent).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

redis = pytest.importorskip("redis")

from tests.redis.servers import RedisProcess, require_redis_server  # noqa: E402

SHARED_HOST, SHARED_PORT = "127.0.0.1", 6379


def unique_prefix(tag: str) -> str:
    return f"cptest:near:{tag}:{uuid.uuid4().hex[:10]}:"


def poll_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.001) -> Any:
    """Call ``condition`` until it returns a truthy value (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


def poll_within_bound(
    read: Callable[[], Any],
    settled: Callable[[Any], bool],
    since: float,
    bound: float,
    timeout: float = 5.0,
) -> Any:
    """Call ``read()`` until ``settled(result)`` (returned); fail if a read that *began* more
    than ``bound`` seconds after ``since`` (a ``time.monotonic()``) was not settled.

    Each read is judged by its own start time, so a slow or descheduled test thread only makes
    fewer reads, never a false failure: a bound checked this way fails on a real violation
    only, however loaded the machine. (``timeout`` only ends a wait that never settles.)
    """
    deadline = time.monotonic() + timeout
    while True:
        began = time.monotonic()
        result = read()
        if settled(result):
            return result
        late = began - since
        if late > bound:
            raise AssertionError(
                f"{result!r} from a read begun {late:.3f}s after the event (bound {bound}s)"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {timeout}s: {read}")
        time.sleep(0.001)


@pytest.fixture
def shared_redis() -> Iterator[Any]:
    client = redis.Redis(host=SHARED_HOST, port=SHARED_PORT)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server answers on 127.0.0.1:6379")
    yield client
    client.close()


def delete_prefix(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


class PrivateServer(RedisProcess):
    """A ``redis-server`` of our own (:class:`~benchmarks.redisproc.RedisProcess`, started at
    once) that may be stopped and restarted on its port, optionally with a password."""

    def __init__(self, *extra: str, password: str | None = None) -> None:
        self.password = password  # before the start: the readiness probe authenticates
        auth = ("--requirepass", password) if password else ()
        super().__init__(require_redis_server(), extra=(*extra, *auth))

    def client(self, **kwargs: Any) -> Any:
        if self.password:
            kwargs.setdefault("password", self.password)
        return super().client(**kwargs)


@pytest.fixture
def private_server() -> Iterator[PrivateServer]:
    server = PrivateServer()
    yield server
    server.close()


class FreezableProxy:
    """Relays 127.0.0.1:<port> to a target; ``freeze()`` holds all bytes until ``thaw()``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port: int = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.parked: list[threading.Event] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self, timeout: float = 5.0) -> None:
        """Stop forwarding; returns once every relay is parked (no chunk is in transit)."""
        self.frozen.set()
        deadline = time.monotonic() + timeout
        while any(not parked.is_set() for parked in self.parked):
            if time.monotonic() > deadline:
                raise AssertionError("the proxy's relays did not park")
            time.sleep(0.001)

    def thaw(self) -> None:
        self.frozen.clear()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            parked = threading.Event()
            self.parked.append(parked)
            threading.Thread(
                target=self._relay, args=(client, upstream, parked), daemon=True
            ).start()

    def _relay(self, a: socket.socket, b: socket.socket, parked: threading.Event) -> None:
        peers = {a: b, b: a}
        try:
            self._forward(peers, parked)
        finally:
            parked.set()  # a finished relay forwards nothing either
            self.parked.remove(parked)

    def _forward(self, peers: dict[socket.socket, socket.socket], parked: threading.Event) -> None:
        with contextlib.suppress(OSError, ValueError):
            while not self.closed.is_set():
                if self.frozen.is_set():
                    parked.set()
                    time.sleep(0.005)
                    continue
                parked.clear()
                readable, _, _ = select.select(list(peers), [], [], 0.01)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
