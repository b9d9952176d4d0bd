"""The Redis tier's stampede and tag counters (``info()``) and events (subscribers, Django
signals, Flask blinker signals): the in-process tier's names, moved exactly when they should.
Fake clock and seeded RNG; herds coordinated by observable conditions, not sleeps. On the
private standalone server (nothing here flushes or configures it: keys are per-test)."""

from __future__ import annotations

import asyncio
import collections
import secrets
import threading
from random import Random
from typing import Any

import pytest

from cachepolicy.envelope import Envelope
from cachepolicy.errors import ComputeTimeoutError
from cachepolicy.events import KeyspaceEvent
from cachepolicy.flight import STAMPEDE_COUNTERS, STAMPEDE_EVENTS, StampedeSettings
from cachepolicy.redis.client import AsyncRedisClient, RedisClient
from cachepolicy.redis.flight import LOCK_SUFFIX, aget_or_set, get_or_set
from cachepolicy.redis.settings import parse_redis_settings
from cachepolicy.tags import TAG_COUNTERS
from tests.herd import PATIENCE, run_threads, wait_until

HERD = 16


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class _Reads:
    """How many times each caller (thread or task) read the key: a caller that read it twice
    without holding the lock is polling for another's value (cachepolicy.redis.flight)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_caller: collections.Counter[object] = collections.Counter()

    def record(self, caller: object) -> None:
        with self._lock:
            self.by_caller[caller] += 1

    def polling(self) -> int:
        with self._lock:
            return sum(1 for count in self.by_caller.values() if count >= 2)


class CountingClient(RedisClient):
    reads = _Reads()

    def entry(self, key: str) -> Envelope | None:
        self.reads.record(threading.get_ident())
        return super().entry(key)


class AsyncCountingClient(AsyncRedisClient):
    reads = _Reads()

    async def entry(self, key: str) -> Envelope | None:
        self.reads.record(asyncio.current_task())
        return await super().entry(key)


@pytest.fixture
def url(redis_server: Any) -> str:
    return str(redis_server.url)


def settings_for(url: str) -> Any:
    return parse_redis_settings(url, {"EVENTS": ()})


def make_client(url: str, prefix: str) -> tuple[RedisClient, FakeClock]:
    client = RedisClient(settings_for(url), tag_prefix=prefix)
    clock = FakeClock()
    client.clock = clock
    client.rng = Random(7)
    return client, clock


def moved(client: RedisClient | AsyncRedisClient) -> dict[str, int]:
    """The counters that are not zero."""
    return {name: value for name, value in client.stampede.counters().items() if value}


def record_events(client: RedisClient | AsyncRedisClient) -> list[tuple[str, str, int]]:
    seen: list[tuple[str, str, int]] = []

    def callback(event: KeyspaceEvent) -> None:
        seen.append((event.name, event.key, event.db))

    client.stampede.subscribe(callback)
    return seen


def hold_lock(client: RedisClient, key: str) -> None:
    """Another process holds ``key``'s lock (and never releases it within the test)."""
    client.remote.set(key + LOCK_SUFFIX, secrets.token_hex(8), px=int(PATIENCE * 1000))


def test_the_names_are_the_in_process_ones(url: str, prefix: str) -> None:
    client, _ = make_client(url, prefix)
    assert tuple(client.stampede.counters()) == (*STAMPEDE_COUNTERS, *TAG_COUNTERS)
    assert moved(client) == {}


def test_a_thread_herd_counts_one_computation_and_n_minus_1_waits(url: str, prefix: str) -> None:
    client = CountingClient(settings_for(url), tag_prefix=prefix)
    client.reads = _Reads()
    seen = record_events(client)
    key = prefix + "hot"

    def compute() -> str:
        # Every caller, this one included, has read the key twice: the others are polling.
        wait_until(lambda: client.reads.polling() == HERD, "the herd to poll")
        return "v"

    patient = StampedeSettings(wait=PATIENCE)  # nobody gives up while the herd gathers
    results = run_threads(HERD, lambda i: get_or_set(client, key, compute, 60, patient))
    assert results == ["v"] * HERD
    assert moved(client) == {"stampede_computed": 1, "stampede_waited": HERD - 1}
    assert seen == [("computed", key, 0)]


def test_a_task_herd_counts_one_computation_and_n_minus_1_waits(url: str, prefix: str) -> None:
    client = AsyncCountingClient(settings_for(url), tag_prefix=prefix)
    client.reads = _Reads()
    seen = record_events(client)
    key = prefix + "hot"

    async def compute() -> str:
        while client.reads.polling() < HERD:
            await asyncio.sleep(0.001)  # yields to the herd; bounded by the wait_for below
        return "v"

    async def herd() -> list[Any]:
        patient = StampedeSettings(wait=PATIENCE)
        calls = [aget_or_set(client, key, compute, 60, patient) for _ in range(HERD)]
        return await asyncio.wait_for(asyncio.gather(*calls), PATIENCE)

    assert asyncio.run(herd()) == ["v"] * HERD
    assert moved(client) == {"stampede_computed": 1, "stampede_waited": HERD - 1}
    assert seen == [("computed", prefix + "hot", 0)]


def test_a_failing_computation_counts_failed_and_no_event(url: str, prefix: str) -> None:
    client, _ = make_client(url, prefix)
    seen = record_events(client)

    def broken() -> str:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        get_or_set(client, prefix + "k", broken, 60)
    assert moved(client) == {"stampede_failed": 1}
    assert client.get(prefix + "k") is None and seen == []

    async def abroken() -> str:
        raise RuntimeError("still down")

    aclient = AsyncRedisClient(settings_for(url), tag_prefix=prefix, stampede=client.stampede)
    with pytest.raises(RuntimeError, match="still down"):
        asyncio.run(aget_or_set(aclient, prefix + "k", abroken, 60))
    assert moved(client) == {"stampede_failed": 2}  # one hub for both clients
    assert seen == []


def test_a_value_that_cannot_be_encoded_counts_failed(url: str, prefix: str) -> None:
    client, _ = make_client(url, prefix)
    with pytest.raises(Exception, match="lock"):
        get_or_set(client, prefix + "k", threading.Lock, 60)
    assert moved(client) == {"stampede_failed": 1}


def test_a_wait_that_runs_out_counts_a_timeout(url: str, prefix: str) -> None:
    client, _ = make_client(url, prefix)
    hold_lock(client, prefix + "a")
    hold_lock(client, prefix + "b")
    raising = StampedeSettings(wait=0.05, on_timeout="raise")
    with pytest.raises(ComputeTimeoutError):
        get_or_set(client, prefix + "a", lambda: "v", 60, raising)
    assert moved(client) == {"stampede_wait_timeouts": 1}
    computing = StampedeSettings(wait=0.05)
    assert get_or_set(client, prefix + "b", lambda: "v", 60, computing) == "v"
    assert moved(client) == {"stampede_wait_timeouts": 2, "stampede_computed": 1}

    aclient = AsyncRedisClient(settings_for(url), tag_prefix=prefix, stampede=client.stampede)
    with pytest.raises(ComputeTimeoutError):
        asyncio.run(aget_or_set(aclient, prefix + "a", lambda: "v", 60, raising))
    assert moved(client) == {"stampede_wait_timeouts": 3, "stampede_computed": 1}


def test_xfetch_counts_the_early_refresh_and_sends_its_event(url: str, prefix: str) -> None:
    client, clock = make_client(url, prefix)
    seen = record_events(client)
    settings = StampedeSettings(beta=1.0)
    key = prefix + "hot"

    def slow_query() -> str:
        clock.now += 2.0
        return "v"

    get_or_set(client, key, slow_query, 60, settings)
    reads = 0
    while client.stampede.counters()["stampede_early_refreshes"] == 0:
        clock.now += 0.1
        reads += 1
        assert reads < 600, "no early refresh before expiry"
        get_or_set(client, key, slow_query, 60, settings)
    assert moved(client) == {"stampede_computed": 2, "stampede_early_refreshes": 1}
    assert seen == [("computed", key, 0), ("computed", key, 0), ("refreshed_early", key, 0)]


def test_async_xfetch_counts_the_early_refresh(url: str, prefix: str) -> None:
    client = AsyncRedisClient(settings_for(url), tag_prefix=prefix)
    clock = FakeClock()
    client.clock, client.rng = clock, Random(7)
    seen = record_events(client)
    settings = StampedeSettings(beta=1.0)

    async def slow_query() -> str:
        clock.now += 2.0
        return "v"

    async def scenario() -> None:
        await aget_or_set(client, prefix + "hot", slow_query, 60, settings)
        while client.stampede.counters()["stampede_early_refreshes"] == 0:
            clock.now += 0.1
            assert clock.now < 1_000_062, "no early refresh before expiry"
            await aget_or_set(client, prefix + "hot", slow_query, 60, settings)

    asyncio.run(scenario())
    assert moved(client) == {"stampede_computed": 2, "stampede_early_refreshes": 1}
    assert [name for name, _, _ in seen] == ["computed", "computed", "refreshed_early"]


def test_serve_stale_counts_each_stale_copy_served(url: str, prefix: str) -> None:
    client, clock = make_client(url, prefix)
    seen = record_events(client)
    settings = StampedeSettings(beta=None, grace=30)
    key = prefix + "page"
    get_or_set(client, key, lambda: "v1", 10, settings)
    clock.now += 15  # stale, within the grace period

    hold_lock(client, key)  # another caller is refreshing it: the stale copy is served
    assert get_or_set(client, key, lambda: "v2", 10, settings) == "v1"
    assert moved(client) == {"stampede_computed": 1, "stampede_stale_served": 1}
    client.remote.delete(key + LOCK_SUFFIX)

    def down() -> str:
        raise RuntimeError("down")

    assert get_or_set(client, key, down, 10, settings) == "v1"  # stale-if-error
    assert moved(client) == {
        "stampede_computed": 1,
        "stampede_failed": 1,
        "stampede_stale_served": 2,
    }
    assert get_or_set(client, key, lambda: "v2", 10, settings) == "v2"  # refreshed by us
    assert moved(client) == {
        "stampede_computed": 2,
        "stampede_failed": 1,
        "stampede_stale_served": 2,
    }
    assert seen == [
        ("computed", key, 0),
        ("stale_served", key, 0),
        ("stale_served", key, 0),
        ("computed", key, 0),
    ]


def test_async_serve_stale_counts_the_stale_copy(url: str, prefix: str) -> None:
    sync, clock = make_client(url, prefix)
    client = AsyncRedisClient(settings_for(url), tag_prefix=prefix, stampede=sync.stampede)
    client.clock = clock
    seen = record_events(client)
    settings = StampedeSettings(beta=None, grace=30)
    key = prefix + "page"
    get_or_set(sync, key, lambda: "v1", 10, settings)
    clock.now += 15
    hold_lock(sync, key)
    assert asyncio.run(aget_or_set(client, key, lambda: "v2", 10, settings)) == "v1"
    assert moved(client) == {"stampede_computed": 1, "stampede_stale_served": 1}
    assert seen == [("computed", key, 0), ("stale_served", key, 0)]


def test_invalidate_tags_counts_each_tag_and_each_invalidated_read(url: str, prefix: str) -> None:
    client, _ = make_client(url, prefix)
    seen = record_events(client)
    client.set(prefix + "a", 1, 60, tags=["t1"])
    client.set(prefix + "b", 2, 60, tags=["t1", "t2"])
    client.invalidate_tags("t1", "t2")
    assert moved(client) == {"tags_invalidated": 2}
    assert seen == [("tag_invalidated", "t1", 0), ("tag_invalidated", "t2", 0)]
    assert client.get(prefix + "a") is None
    assert client.get_many([prefix + "b"]) == {}
    assert moved(client) == {"tags_invalidated": 2, "tags_invalidated_reads": 2}
    assert client.get(prefix + "a") is None  # removed by the first read: nothing to count
    assert moved(client)["tags_invalidated_reads"] == 2

    aclient = AsyncRedisClient(settings_for(url), tag_prefix=prefix, stampede=client.stampede)

    async def scenario() -> Any:
        await aclient.set(prefix + "c", 3, 60, tags=["t3"])
        await aclient.invalidate_tags("t3")
        return await aclient.get(prefix + "c")

    assert asyncio.run(scenario()) is None
    assert moved(client) == {"tags_invalidated": 3, "tags_invalidated_reads": 3}
    assert seen[-1] == ("tag_invalidated", "t3", 0)


def test_a_subscriber_sees_only_the_events_it_names(url: str, prefix: str) -> None:
    client, _ = make_client(url, prefix)
    names: list[str] = []
    client.stampede.subscribe(lambda event: names.append(event.name), ["tag_invalidated"])
    get_or_set(client, prefix + "k", lambda: 1, 60)
    client.invalidate_tags("t")
    assert names == ["tag_invalidated"]
    with pytest.raises(ValueError, match="Unknown stampede event"):
        client.stampede.subscribe(print, ["evicted"])
    assert set(STAMPEDE_EVENTS) >= {"computed", "stale_served", "refreshed_early"}


# ------------------------------------------------------------------ the adapters


def test_djangos_redis_backend_reports_counters_and_sends_the_signals(
    url: str, prefix: str
) -> None:
    from django_cachepolicy import signals
    from django_cachepolicy.redis_backend import RedisPolicyCache

    received: list[tuple[Any, dict[str, Any]]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append((sender, kwargs))

    cache = RedisPolicyCache(url, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": ()}})
    for signal in (signals.computed, signals.tag_invalidated):
        signal.connect(receiver)
    try:
        assert cache.get_or_set("feed", lambda: ["post"], 300, tags=["user:1"]) == ["post"]

        async def scenario() -> Any:
            return await cache.aget_or_set("other", lambda: 2, 300)

        assert asyncio.run(scenario()) == 2
        cache.invalidate_tags("user:1")
        assert cache.get("feed") is None
    finally:
        for signal in (signals.computed, signals.tag_invalidated):
            signal.disconnect(receiver)

    info = cache.info()
    assert {name: info[name] for name in (*STAMPEDE_COUNTERS, *TAG_COUNTERS)} == {
        "stampede_computed": 2,
        "stampede_waited": 0,
        "stampede_wait_timeouts": 0,
        "stampede_failed": 0,
        "stampede_early_refreshes": 0,
        "stampede_stale_served": 0,
        "tags_invalidated": 1,
        "tags_invalidated_reads": 1,
    }
    where = {"location": url, "database": cache.database}
    assert received == [
        (
            RedisPolicyCache,
            {
                "signal": signals.computed,
                "event": "computed",
                "key": cache.make_key("feed"),
                **where,
            },
        ),
        (
            RedisPolicyCache,
            {
                "signal": signals.computed,
                "event": "computed",
                "key": cache.make_key("other"),
                **where,
            },
        ),
        (
            RedisPolicyCache,
            {
                "signal": signals.tag_invalidated,
                "event": "tag_invalidated",
                "key": "user:1",
                **where,
            },
        ),
    ]
    # A second backend object of the alias (Django makes one per thread) shares the counters.
    again = RedisPolicyCache(url, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": ()}})
    assert again.info()["stampede_computed"] == 2


def test_flasks_redis_backend_reports_counters_and_sends_the_signals(url: str, prefix: str) -> None:
    from flask_cachepolicy import signals
    from flask_cachepolicy.redis_backend import RedisPolicyCache

    backend = RedisPolicyCache(url, key_prefix=prefix, events=())
    received: list[tuple[str, str]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        assert sender is backend and kwargs["cache"] is backend
        received.append((kwargs["event"], kwargs["key"]))

    with (
        signals.keyspace_computed.connected_to(receiver),
        signals.keyspace_tag_invalidated.connected_to(receiver),
    ):
        assert backend.get_or_set("feed", lambda: "post", 300, tags=["user:1"]) == "post"
        backend.invalidate_tags("user:1")
        assert backend.get("feed") is None
    info = backend.info()
    assert info["stampede_computed"] == 1
    assert info["tags_invalidated"] == 1 and info["tags_invalidated_reads"] == 1
    assert received == [("computed", "feed"), ("tag_invalidated", "user:1")]


def test_the_near_cache_clients_count_into_the_backends_info(url: str, prefix: str) -> None:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    from cachepolicy.redis.two_tier import NearRedisClient, close_near_caches

    options = {"EVENTS": (), "NEAR_CACHE": {"MAXMEMORY": "1mb"}, "NEAR_CACHE_STALENESS": 0.04}
    cache = RedisPolicyCache(url, {"KEY_PREFIX": prefix, "OPTIONS": options})
    try:
        assert isinstance(cache.client, NearRedisClient)
        assert cache.client.stampede is cache.async_client.stampede
        cache.get_or_set("a", lambda: 1, 60, tags=["t"])

        async def scenario() -> Any:
            await cache.ainvalidate_tags("t")
            return await cache.aget_or_set("a", lambda: 2, 60)

        assert asyncio.run(scenario()) == 2
        info = cache.info()
        assert any(name.startswith("near_cache_") for name in info)
        assert info["stampede_computed"] == 2
        assert info["tags_invalidated"] == 1 and info["tags_invalidated_reads"] == 1
    finally:
        close_near_caches()
