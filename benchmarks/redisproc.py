"""A private, throw-away ``redis-server`` for the benchmarks.

The benchmarks change ``maxmemory`` and flush, which must never hit a server that other
people's tests (or data) use, such as the one on port 6379: so they start their own, on a free
loopback port, without persistence, and stop it when done.
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

__all__ = ["redis_server"]


@contextlib.contextmanager
def redis_server() -> Iterator[Any]:
    """A private ``redis-server`` on a free loopback port (no persistence), stopped on exit.

    A private server, not the one on 6379: the benchmark changes ``maxmemory`` and flushes,
    which must not hit a server other people's tests use.
    """
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="cachepolicy-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
