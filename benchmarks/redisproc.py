"""Private, throw-away ``redis-server`` processes: the one way this repository starts one.

The benchmarks change ``maxmemory`` and flush, and the tests flush, ``CONFIG SET``, restart and
kill servers: none of that may hit a server other people's tests (or data) use, such as the one
on port 6379. So every server here runs on free loopback ports, in a temporary directory,
without persistence, and is stopped when done. The tests' fixtures
(``tests/redis/servers.py``) wrap these classes; the benchmarks use :func:`redis_server`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CLUSTER_TIMEOUT",
    "START_TIMEOUT",
    "RedisClusterProcess",
    "RedisProcess",
    "free_port",
    "node_state",
    "redis_server",
    "wait_until",
]

# How long a server gets to answer PING after start, and the cluster to reach state ok: generous
# because the machine is shared and slow, and the waits poll (they end as soon as it is ready).
START_TIMEOUT = 20.0
CLUSTER_TIMEOUT = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now (and whose +10000 bus port is free too)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        # Redis Cluster also binds port + 10000 for its bus: both must fit and be free.
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass (then fail naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # a server still starting refuses connections: keep polling
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class RedisProcess:
    """One private ``redis-server`` process on a loopback port; ``restart()`` keeps the port."""

    def __init__(
        self,
        binary: str,
        *,
        cluster: bool = False,
        full_coverage: bool = False,
        extra: tuple[str, ...] = (),
    ):
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = free_port()
        self.cluster = cluster
        self.full_coverage = full_coverage
        self.extra = extra
        self.dir = tempfile.mkdtemp(prefix=f"cachepolicy-redis-{self.port}-")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.cluster:
            args += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{self.port}.conf",
                # A killed primary is declared failed quickly, so the fault tests stay short.
                "--cluster-node-timeout", "2000",
                # Survivors keep serving their own slots once a primary is declared failed, as
                # a cache cluster is usually run. With Redis's default ("yes") every node
                # refuses every command from then on (CLUSTERDOWN), and whether a command
                # lands before or after that moment is chance: tests that want that state ask
                # for it (``RedisClusterProcess(full_coverage=True)``) and wait for it.
                "--cluster-require-full-coverage", "yes" if self.full_coverage else "no",
            ]  # fmt: skip
        return args + list(self.extra)

    def client(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        probe = self.client(socket_timeout=1)
        try:
            wait_until(probe.ping, START_TIMEOUT, f"redis-server on port {self.port}")
        finally:
            probe.close()

    def stop(self) -> None:
        """Kill the server (SIGKILL: a crash, not a clean shutdown) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def node_state(node: RedisProcess) -> str:
    """The ``cluster_state`` a cluster node reports (``ok`` or ``fail``)."""
    client = node.client(socket_timeout=1)
    try:
        info = client.execute_command("CLUSTER INFO")
    finally:
        client.close()
    # redis-py parses CLUSTER INFO into a dict; older versions return the text.
    if isinstance(info, dict):
        state = info.get("cluster_state")
        return state.decode() if isinstance(state, bytes) else str(state)
    text = info.decode() if isinstance(info, bytes) else str(info)
    return text.split("cluster_state:", 1)[1].split()[0] if "cluster_state:" in text else ""


class RedisClusterProcess:
    """Three private cluster-enabled ``redis-server`` primaries joined into one cluster.

    ``full_coverage``: Redis's ``cluster-require-full-coverage``; off by default, so the
    survivors of a killed primary go on serving their slots (see :meth:`RedisProcess.argv`).
    """

    def __init__(self, binary: str, primaries: int = 3, *, full_coverage: bool = False):
        self.nodes = [
            RedisProcess(binary, cluster=True, full_coverage=full_coverage)
            for _ in range(primaries)
        ]
        try:
            subprocess.run(
                [
                    "redis-cli", "--cluster", "create",
                    *(f"{n.host}:{n.port}" for n in self.nodes),
                    "--cluster-replicas", "0", "--cluster-yes",
                ],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
            )  # fmt: skip
            self.wait_ok()
        except BaseException:
            self.close()
            raise

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def location(self) -> str:
        """A ``LOCATION`` string for the backends: the nodes' URLs, comma separated."""
        return ",".join(self.urls)

    def wait_ok(self, timeout: float = CLUSTER_TIMEOUT) -> None:
        """Wait until every live node reports ``cluster_state:ok``."""
        self.wait_state("ok", timeout)

    def wait_state(self, state: str, timeout: float = CLUSTER_TIMEOUT) -> None:
        """Wait until every live node reports ``cluster_state:<state>`` (``ok`` or ``fail``)."""

        def all_in_state() -> bool:
            return all(node_state(node) == state for node in self.nodes if node.process is not None)

        wait_until(all_in_state, timeout, f"cluster_state:{state} on every node", interval=0.1)

    def client(self, **kwargs: Any) -> Any:
        from redis.cluster import ClusterNode, RedisCluster

        live = [ClusterNode(n.host, n.port) for n in self.nodes if n.process is not None]
        return RedisCluster(startup_nodes=live, **kwargs)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@contextlib.contextmanager
def redis_server(*extra: str) -> Iterator[Any]:
    """A ``redis.Redis`` client of a private server (``extra``: more ``redis-server``
    arguments), stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    server = RedisProcess(binary, extra=extra)
    client = server.client()
    try:
        yield client
    finally:
        client.close()
        server.close()
