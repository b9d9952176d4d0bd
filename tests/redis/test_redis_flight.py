"""Single flight on the Redis tier (cachepolicy.redis.flight): threads and OS processes on one
server compute a key once; a holder killed with SIGKILL is replaced after its lock timeout; the
lock is released only by its holder. On the private standalone server."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import pytest

from cachepolicy.errors import ComputeTimeoutError
from cachepolicy.flight import StampedeSettings
from cachepolicy.redis.client import RedisClient
from cachepolicy.redis.flight import LOCK_SUFFIX, get_or_set, release
from cachepolicy.redis.settings import parse_redis_settings
from tests.herd import PATIENCE, run_threads, wait_until

HERD = 16


def make_client(url: str) -> RedisClient:
    return RedisClient(parse_redis_settings(url, {"EVENTS": ()}))


@pytest.fixture
def url(redis_server: Any) -> str:
    return str(redis_server.url)


def _compute_in_process(url: str, key: str, processes: int) -> str:
    """A worker process: count the computation, wait until every process has arrived."""
    client = make_client(url)
    remote = client.remote
    remote.incr(key + ":arrived")

    def compute() -> str:
        remote.incr(key + ":computed")
        wait_until(lambda: int(remote.get(key + ":arrived") or 0) == processes, "the others")
        return f"computed by {os.getpid()}"

    return str(get_or_set(client, key, compute, 60))


def test_two_processes_compute_once(url: str, prefix: str) -> None:
    key = prefix + "hot"
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.starmap(_compute_in_process, [(url, key, 2)] * 2, chunksize=1)
    remote = make_client(url).remote
    assert int(remote.get(key + ":computed")) == 1
    assert results[0] == results[1] and results[0].startswith("computed by")
    assert not remote.exists(key + LOCK_SUFFIX)


def test_a_herd_of_threads_computes_once(url: str, prefix: str) -> None:
    client = make_client(url)
    key = prefix + "threads"
    calls: list[int] = []
    started = threading.Event()

    def compute() -> str:
        calls.append(1)
        started.set()
        time.sleep(0.2)  # the slow query: the others poll meanwhile
        return "v"

    assert run_threads(HERD, lambda i: get_or_set(client, key, compute, 60)) == ["v"] * HERD
    assert calls == [1]


def _hold_forever(url: str, key: str) -> None:
    client = make_client(url)

    def compute() -> str:
        client.remote.set(key + ":started", 1)
        time.sleep(PATIENCE)  # killed before it returns
        return "never"

    get_or_set(client, key, compute, 60, lock_timeout=0.5)


def test_a_killed_holder_is_replaced_after_its_lock_timeout(url: str, prefix: str) -> None:
    key = prefix + "killed"
    client = make_client(url)
    holder = multiprocessing.get_context("spawn").Process(target=_hold_forever, args=(url, key))
    holder.start()
    try:
        wait_until(lambda: bool(client.remote.exists(key + ":started")), "the holder's lock")
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(PATIENCE)
        began = time.monotonic()
        value = get_or_set(client, key, lambda: "replacement", 60, StampedeSettings(wait=20))
        assert value == "replacement"
        assert time.monotonic() - began < 10  # the 0.5 s lock timeout, not the 20 s wait
    finally:
        if holder.is_alive():
            holder.kill()


def test_the_holders_exception_is_its_own(url: str, prefix: str) -> None:
    client = make_client(url)
    key = prefix + "failing"
    with pytest.raises(RuntimeError):
        get_or_set(client, key, lambda: (_ for _ in ()).throw(RuntimeError("down")), 60)
    assert not client.remote.exists(key + LOCK_SUFFIX)  # released
    assert get_or_set(client, key, lambda: "ok", 60) == "ok"


def test_only_the_holder_releases(url: str, prefix: str) -> None:
    client = make_client(url)
    lock = prefix + "k" + LOCK_SUFFIX
    client.remote.set(lock, "someone-else", px=5000)
    assert release(client, lock, "my-old-token") is False
    assert client.remote.get(lock) == b"someone-else"
    assert release(client, lock, "someone-else") is True


def test_a_waiter_times_out(url: str, prefix: str) -> None:
    client = make_client(url)
    key = prefix + "slow"
    client.remote.set(key + LOCK_SUFFIX, "a-live-holder", px=5000)
    with pytest.raises(ComputeTimeoutError):
        get_or_set(client, key, lambda: "mine", 60, StampedeSettings(wait=0.05, on_timeout="raise"))
    computed = get_or_set(client, key, lambda: "mine", 60, StampedeSettings(wait=0.05))
    assert computed == "mine" and client.get(key) == "mine"


def test_djangos_redis_backend_get_or_set(url: str, prefix: str) -> None:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    backends = [
        RedisPolicyCache(url, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": ()}})
        for _ in range(HERD)
    ]
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        time.sleep(0.2)  # the slow query
        return "page"

    results = run_threads(HERD, lambda i: backends[i].get_or_set("hot", compute, 60))
    assert results == ["page"] * HERD and calls == [1]
    assert backends[0].get_or_set("value", 5) == 5  # Django's meaning for a value


def test_flasks_redis_backend_get_or_set(url: str, prefix: str) -> None:
    from flask_cachepolicy.redis_backend import RedisPolicyCache as FlaskRedisPolicyCache

    backend = FlaskRedisPolicyCache(url, key_prefix=prefix, events=())
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        time.sleep(0.2)  # the slow query
        return "page"

    results = run_threads(HERD, lambda i: backend.get_or_set("hot", compute, 60))
    assert results == ["page"] * HERD and calls == [1]
    assert backend.get("hot") == "page"


def test_a_herd_of_tasks_computes_once(url: str, prefix: str) -> None:
    from cachepolicy.redis.client import AsyncRedisClient
    from cachepolicy.redis.flight import aget_or_set

    client = AsyncRedisClient(parse_redis_settings(url, {"EVENTS": ()}))
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        await asyncio.sleep(0.2)  # the slow query: the others poll meanwhile
        return "v"

    async def herd() -> list[Any]:
        tasks = (aget_or_set(client, prefix + "tasks", compute, 60) for _ in range(64))
        results = await asyncio.gather(*tasks)
        await client.aclose()
        return results

    assert asyncio.run(herd()) == ["v"] * 64
    assert calls == [1]


def test_djangos_redis_backend_aget_or_set(url: str, prefix: str) -> None:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    backend = RedisPolicyCache(url, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": ()}})
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        await asyncio.sleep(0.2)
        return "page"

    async def herd() -> list[Any]:
        return await asyncio.gather(*(backend.aget_or_set("hot", compute, 60) for _ in range(16)))

    assert asyncio.run(herd()) == ["page"] * 16 and calls == [1]
    assert asyncio.run(backend.aget_or_set("value", 5)) == 5
