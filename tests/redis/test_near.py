"""Near cache: options, the coherence rules on a manual clock, and coherence on the shared server.

The rules (invalidation, TTL bound, staleness bound, no stale fill) are first checked on
:class:`~cachepolicy.redis.near.Coherence` alone with a :class:`~cachepolicy.ManualClock`,
exactly; then end to end against the shared Redis on 6379 under a unique key prefix (never
flushed). Fault injection on a private server is in ``test_near_faults.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import tests.redis.test_near_support as support
from cachepolicy import ConfigError, ManualClock
from cachepolicy.redis.near import (
    UNTRACKED,
    Coherence,
    NearCache,
    NearCacheConfig,
    NearRemote,
    Redirect,
    RedisRemote,
)
from tests.redis.test_near_support import delete_prefix, poll_until, unique_prefix

shared_redis = support.shared_redis  # the fixture

# ---------------------------------------------------------------------- options


def test_options_absent_means_no_near_cache() -> None:
    assert NearCacheConfig.from_options({"MAXMEMORY": "1gb"}) is None
    assert NearCacheConfig.from_options({"NEAR_CACHE": False}) is None


def test_options_defaults_and_spellings() -> None:
    config = NearCacheConfig.from_options(
        {
            "NEAR_CACHE": {"MAXMEMORY": "1mb", "maxmemory-policy": "allkeys-lfu"},
            "near_cache_staleness": 0.5,
            "NEAR-CACHE-MODE": "DEFAULT",
        }
    )
    assert config is not None
    assert config.l1.maxmemory == 1024 * 1024
    assert config.l1.maxmemory_policy == "allkeys-lfu"
    assert config.staleness == 0.5
    assert config.mode == "default"
    defaults = NearCacheConfig.from_options({"NEAR_CACHE": True})
    assert defaults is not None
    assert defaults.l1.maxmemory == 16 * 1024 * 1024
    assert (defaults.staleness, defaults.mode) == (1.0, "bcast")


@pytest.mark.parametrize(
    ("options", "option", "words"),
    [
        ({"NEAR_CACHE": "yes"}, "NEAR_CACHE", "True or a mapping"),
        ({"NEAR_CACHE": {"MAXMEMRY": "1mb"}}, "NEAR_CACHE", "Did you mean 'maxmemory'"),
        ({"NEAR_CACHE": {"SERIALIZER": "pickle"}}, "NEAR_CACHE", "payloads"),
        ({"NEAR_CACHE": {"maxmemory_policy": "lru"}}, "NEAR_CACHE", "maxmemory_policy"),
        ({"NEAR_CACHE": True, "NEAR_CACHE_STALENESS": 0}, "NEAR_CACHE_STALENESS", "between"),
        ({"NEAR_CACHE": True, "NEAR_CACHE_STALENESS": "1"}, "NEAR_CACHE_STALENESS", "seconds"),
        ({"NEAR_CACHE": True, "NEAR_CACHE_STALENESS": True}, "NEAR_CACHE_STALENESS", "True"),
        ({"NEAR_CACHE": True, "NEAR_CACHE_MODE": "bcats"}, "NEAR_CACHE_MODE", "'bcast'"),
        ({"NEAR_CACHE_STALENESS": 1}, "NEAR_CACHE_STALENESS", "NEAR_CACHE=True"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], option: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        NearCacheConfig.from_options(options)
    assert caught.value.option == option
    assert option in str(caught.value)
    assert words in str(caught.value)


# ---------------------------------------------------------------------- the rules, exactly


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def core(clock: ManualClock) -> Iterator[Coherence]:
    config = NearCacheConfig(staleness=1.0)
    coherence = Coherence(config, clock=clock)
    coherence.invalidate_all("reconnect")
    coherence.set_fresh_until(clock.monotonic() + 1.0)
    yield coherence
    assert coherence.l1.check() == []
    coherence.close()


def _read(core: Coherence, key: str, reply: tuple[bytes | None, int], sent: float) -> None:
    started = core.begin([key])
    assert started is not None
    core.fill([key], started, [reply], sent)


def test_fill_then_hit(core: Coherence, clock: ManualClock) -> None:
    assert core.lookup("k") is None
    _read(core, "k", (b"v", -1), clock.monotonic())
    assert core.lookup("k") == b"v"
    info = core.info()
    assert (info["near_cache_hits"], info["near_cache_misses"], info["near_cache_fills"]) == (
        1,
        1,
        1,
    )


def test_invalidation_while_in_flight_prevents_the_fill(core: Coherence) -> None:
    started = core.begin(["k", "other"])
    assert started is not None
    core.invalidate_keys(["k"])  # a write landed while Redis was answering
    core.fill(["k", "other"], started, [(b"old", -1), (b"o", -1)], core.monotonic())
    assert core.lookup("k") is None
    assert core.lookup("other") == b"o"  # another key's invalidation does not block it
    assert core.info()["near_cache_fills_refused"] == 1


def test_invalidation_after_the_fill_removes_the_copy(core: Coherence) -> None:
    _read(core, "k", (b"v", -1), core.monotonic())
    core.invalidate_keys(["k"])
    assert core.lookup("k") is None


# -- the echo of this process's own writes (bcast mode) ------------------------------------


@pytest.fixture
def own(core: Coherence) -> Coherence:
    core.own_prefixes = ("p:",)
    return core


def _own_set(core: Coherence, keys: list[str], acknowledged: bool = True) -> None:
    token = core.expect_own(keys)
    core.own_written(token, keys, acknowledged)


def test_the_echo_of_an_own_write_spares_the_copy_read_after_it(own: Coherence) -> None:
    _own_set(own, ["p:k"])  # cache-aside: SET, then read back
    _read(own, "p:k", (b"v", -1), own.monotonic())
    own.invalidate_keys(["p:k"])  # the server's push for that SET
    assert own.lookup("p:k") == b"v"
    assert own.info()["near_cache_own_echoes"] == 1
    own.invalidate_keys(["p:k"])  # the next push is another write: it invalidates
    assert own.lookup("p:k") is None


def test_the_echo_spares_a_read_in_flight_that_began_after_the_write(own: Coherence) -> None:
    _own_set(own, ["p:k"])
    started = own.begin(["p:k"])
    assert started is not None
    own.invalidate_keys(["p:k"])  # the echo lands while the read-back is in flight
    own.fill(["p:k"], started, [(b"v", -1)], own.monotonic())
    assert own.lookup("p:k") == b"v"


def test_a_read_begun_before_the_own_write_never_fills(own: Coherence) -> None:
    started = own.begin(["p:k"])
    assert started is not None
    _own_set(own, ["p:k"])
    own.invalidate_keys(["p:k"])
    own.fill(["p:k"], started, [(b"old", -1)], own.monotonic())
    assert own.lookup("p:k") is None


def test_an_echo_before_the_reply_is_an_ordinary_invalidation(own: Coherence) -> None:
    token = own.expect_own(["p:k"])
    own.invalidate_keys(["p:k"])  # pushed before this process read the SET's reply
    own.own_written(token, ["p:k"], True)
    _read(own, "p:k", (b"v", -1), own.monotonic())
    own.invalidate_keys(["p:k"])  # so this one is another write's
    assert own.lookup("p:k") is None


def test_an_earlier_push_takes_the_mark_and_the_echo_then_invalidates(own: Coherence) -> None:
    _own_set(own, ["p:k"])
    own.invalidate_keys(["p:k"])  # a write older than ours (or our echo): spared, mark gone
    _read(own, "p:k", (b"v", -1), own.monotonic())
    own.invalidate_keys(["p:k"])  # whatever comes next invalidates
    assert own.lookup("p:k") is None


def test_two_own_writes_in_flight_spare_nothing(own: Coherence) -> None:
    first = own.expect_own(["p:k"])
    second = own.expect_own(["p:k"])  # their pushes may be merged into one: no mark is trusted
    own.own_written(first, ["p:k"], True)
    own.own_written(second, ["p:k"], True)
    _read(own, "p:k", (b"v", -1), own.monotonic())
    own.invalidate_keys(["p:k"])
    assert own.lookup("p:k") is None


def test_a_failed_write_awaits_no_echo(own: Coherence) -> None:
    _own_set(own, ["p:k"], acknowledged=False)
    _read(own, "p:k", (b"v", -1), own.monotonic())
    own.invalidate_keys(["p:k"])
    assert own.lookup("p:k") is None


@pytest.mark.parametrize("reason", ["reconnect", "stale", "flush", "reader-lost"])
def test_a_flush_forgets_the_awaited_echoes(own: Coherence, reason: str) -> None:
    _own_set(own, ["p:k"])
    own.invalidate_all(reason)  # pushes may have been lost meanwhile
    own.set_fresh_until(own.monotonic() + 1.0)
    _read(own, "p:k", (b"v", -1), own.monotonic())
    own.invalidate_keys(["p:k"])
    assert own.lookup("p:k") is None


def test_only_tracked_keys_in_bcast_mode_await_an_echo(clock: ManualClock, own: Coherence) -> None:
    _own_set(own, ["elsewhere:k"])  # outside the tracked prefix: no push will come
    _read(own, "elsewhere:k", (b"v", -1), own.monotonic())
    own.invalidate_keys(["elsewhere:k"])
    assert own.lookup("elsewhere:k") is None
    default = Coherence(NearCacheConfig(staleness=1.0, mode="default"), clock=clock)
    default.own_prefixes = ("p:",)
    assert default.expect_own(["p:k"]) is None  # its pushes depend on what was read
    default.close()


def test_two_readers_of_one_key_and_an_invalidation_between(core: Coherence) -> None:
    first = core.begin(["k"])
    core.invalidate_keys(["k"])
    second = core.begin(["k"])  # began after the write: it may fill, the first may not
    assert first is not None and second is not None
    core.fill(["k"], first, [(b"old", -1)], core.monotonic())
    assert core.lookup("k") is None
    core.fill(["k"], second, [(b"new", -1)], core.monotonic())
    assert core.lookup("k") == b"new"


def test_flush_while_in_flight_prevents_the_fill(core: Coherence) -> None:
    started = core.begin(["k"])
    assert started is not None
    core.invalidate_all("flush")
    core.fill(["k"], started, [(b"v", -1)], core.monotonic())
    assert core.lookup("k") is None


def test_default_mode_fills_only_from_watched_data_connections(core: Coherence) -> None:
    first = Redirect(7)
    first.reader = 41
    started = core.begin(["k"])
    assert started is not None
    core.fill(["k"], started, [(b"v", -1)], core.monotonic(), first)
    assert core.lookup("k") is None  # connection 41 was not checked by a heartbeat yet
    assert core.watched() == [41]
    again = Redirect(7)
    again.reader = 41
    _started = core.begin(["k"])
    assert _started is not None
    core.fill(["k"], _started, [(b"v", -1)], core.monotonic(), again)
    assert core.lookup("k") == b"v"
    unknown = Redirect(7)  # the remote could not tell which connection read
    started = core.begin(["j"])
    assert started is not None
    core.fill(["j"], started, [(b"w", -1)], core.monotonic(), unknown)
    assert core.lookup("j") is None
    core.invalidate_all("reader-lost")
    assert core.watched() == []
    assert len(core.l1) == 0
    assert core.info()["near_cache_lost_readers"] == 1


def test_failed_read_only_unregisters(core: Coherence) -> None:
    started = core.begin(["k"])
    assert started is not None
    core.fill(["k"], started, None, core.monotonic())
    assert core._flights == {}


def test_copy_never_outlives_the_ttl(core: Coherence, clock: ManualClock) -> None:
    sent = clock.monotonic()
    clock.advance(0.3)  # the reply took 300 ms: the TTL counts from the send
    core.set_fresh_until(clock.monotonic() + 10)
    _read(core, "k", (b"v", 1000), sent)
    assert core.l1.ttl("k") == pytest.approx(0.7)
    clock.advance(0.69)
    assert core.lookup("k") == b"v"
    clock.advance(0.011)
    assert core.lookup("k") is None


@pytest.mark.parametrize(
    ("pttl", "stored"), [(-2, False), (UNTRACKED, False), (0, False), (-1, True), (5, True)]
)
def test_ttl_edge_replies(core: Coherence, pttl: int, stored: bool) -> None:
    _read(core, "k", (b"v", pttl), core.monotonic())
    assert (core.lookup("k") is not None) is stored


def test_missing_key_is_not_cached(core: Coherence) -> None:
    _read(core, "k", (None, -2), core.monotonic())
    assert len(core.l1) == 0


def test_stale_means_flushed_and_bypassed(core: Coherence, clock: ManualClock) -> None:
    _read(core, "k", (b"v", -1), clock.monotonic())
    clock.advance(1.0)
    assert core.lookup("k") == b"v"  # exactly at the bound: still fresh
    clock.advance(0.001)
    assert core.lookup("k") is None
    assert len(core.l1) == 0
    assert core.begin(["k"]) is None  # bypassed: nothing registers, nothing fills
    info = core.info()
    assert (info["near_cache_stale_flushes"], info["near_cache_bypassed_reads"]) == (1, 1)
    assert core.lookup("k") is None
    assert core.info()["near_cache_stale_flushes"] == 1  # once per episode
    core.set_fresh_until(clock.monotonic() + 1.0)  # the heartbeat is back
    _read(core, "k", (b"v2", -1), clock.monotonic())
    assert core.lookup("k") == b"v2"


def test_read_that_outlasts_the_staleness_bound_does_not_fill(
    core: Coherence, clock: ManualClock
) -> None:
    started = core.begin(["k"])
    assert started is not None
    clock.advance(1.5)  # the tracker went silent while Redis was answering
    core.fill(["k"], started, [(b"v", -1)], clock.monotonic())
    assert len(core.l1) == 0


def test_l1_byte_budget_holds(clock: ManualClock) -> None:
    config = NearCacheConfig.from_options({"NEAR_CACHE": {"MAXMEMORY": "64kb"}})
    assert config is not None
    core = Coherence(config, clock=clock)
    core.set_fresh_until(clock.monotonic() + 100)
    for i in range(500):
        _read(core, f"k{i}", (b"x" * 1000, -1), clock.monotonic())
    info = core.info()
    assert info["near_cache_used_memory"] <= 64 * 1024
    assert info["near_cache_evicted_keys"] > 0
    assert core.l1.check() == []
    core.close()


# ---------------------------------------------------------------------- end to end, shared server


@pytest.fixture
def prefix(shared_redis: Any) -> Iterator[str]:
    value = unique_prefix("e2e")
    yield value
    delete_prefix(shared_redis, value)


@pytest.fixture(params=["bcast", "default"])
def near(request: Any, shared_redis: Any, prefix: str) -> Iterator[NearCache]:
    config = NearCacheConfig(staleness=1.0, mode=request.param)
    cache = NearCache(RedisRemote(shared_redis), prefix=prefix, config=config)
    assert cache.wait_fresh()
    yield cache
    cache.close()


def _stable(near: NearCache, key: str, value: bytes | None) -> bool:
    """The read returns ``value`` and the copy is in L1 (so the next read is a hit)."""
    return near.get(key) == value and (value is None or near.core.l1.has(key))


def test_remote_adapter_satisfies_the_protocol(shared_redis: Any) -> None:
    assert isinstance(RedisRemote(shared_redis), NearRemote)


def test_untrackable_read_is_returned_but_not_cacheable(shared_redis: Any, prefix: str) -> None:
    """default mode: a REDIRECT to an invalidation connection that just died fails; the value
    is still right, but no invalidation of it would come, so it must not be cached."""
    shared_redis.set(prefix + "u", b"v")
    remote = RedisRemote(shared_redis)
    dead = Redirect(2**62)
    assert remote.fetch(prefix + "u", redirect=dead) == (b"v", UNTRACKED)
    assert dead.reader is None
    assert remote.fetch_many([prefix + "u", prefix + "none"], redirect=Redirect(2**62)) == [
        (b"v", UNTRACKED),
        (None, UNTRACKED),
    ]
    assert remote.fetch(prefix + "u")[0] == b"v"


def test_hit_is_served_from_l1(near: NearCache, shared_redis: Any, prefix: str) -> None:
    shared_redis.set(prefix + "a", b"1")
    poll_until(lambda: _stable(near, prefix + "a", b"1"))
    hits = near.info()["near_cache_hits"]
    assert near.get(prefix + "a") == b"1"
    assert near.info()["near_cache_hits"] == hits + 1


def test_write_by_another_connection_invalidates(
    near: NearCache, shared_redis: Any, prefix: str
) -> None:
    key = prefix + "w"
    shared_redis.set(key, b"old")
    poll_until(lambda: _stable(near, key, b"old"))
    before = near.info()["near_cache_invalidations"]
    shared_redis.set(key, b"new")
    poll_until(lambda: near.info()["near_cache_invalidations"] > before)
    assert near.get(key) == b"new"  # invalidation delivered: never the old value again
    shared_redis.delete(key)
    poll_until(lambda: near.get(key) is None)
    assert not near.core.l1.has(key)


def test_own_writes_are_visible_at_once(near: NearCache, prefix: str) -> None:
    key = prefix + "own"
    near.set(key, b"1")
    poll_until(lambda: _stable(near, key, b"1"))
    near.set(key, b"2")
    assert near.get(key) == b"2"
    assert near.delete(key)
    assert near.get(key) is None


def test_copy_expires_with_the_key(near: NearCache, shared_redis: Any, prefix: str) -> None:
    key = prefix + "ttl"
    shared_redis.set(key, b"v", px=400)
    poll_until(lambda: _stable(near, key, b"v"))
    remaining = near.core.l1.ttl(key)
    assert remaining is not None and remaining <= 0.4
    server_left = shared_redis.pttl(key) / 1000
    assert remaining <= server_left + 0.001


def test_get_many_mixes_hits_and_one_round_trip(
    near: NearCache, shared_redis: Any, prefix: str
) -> None:
    keys = [prefix + f"m{i}" for i in range(10)]
    shared_redis.mset({k: f"v{i}".encode() for i, k in enumerate(keys[:8])})
    poll_until(lambda: _stable(near, keys[0], b"v0"))
    found = near.get_many(keys)
    assert found == {k: f"v{i}".encode() for i, k in enumerate(keys[:8])}
    poll_until(lambda: near.get_many(keys) == found and near.core.l1.has(keys[7]))
    shared_redis.set(keys[3], b"changed")
    poll_until(lambda: near.get_many(keys)[keys[3]] == b"changed")


def test_read_racing_a_write_never_caches_the_older_value(shared_redis: Any, prefix: str) -> None:
    """The write (by another connection) lands while our GET's reply is on its way back."""
    key = prefix + "race"
    shared_redis.set(key, b"old")
    writer = type(shared_redis)(connection_pool=shared_redis.connection_pool)
    holder: dict[str, NearCache] = {}

    class WriteDuringRead(RedisRemote):
        def fetch_many(
            self, keys: Sequence[str], redirect: int | None = None
        ) -> list[tuple[bytes | None, int]]:
            replies = super().fetch_many(keys, redirect)
            if replies[0][0] == b"old":
                before = holder["near"].info()["near_cache_invalidations"]
                writer.set(key, b"new")
                poll_until(lambda: holder["near"].info()["near_cache_invalidations"] > before)
            return replies

    near = NearCache(WriteDuringRead(shared_redis), prefix=prefix)
    holder["near"] = near
    try:
        assert near.wait_fresh()
        assert near.get(key) == b"old"  # what Redis answered before the write
        assert not near.core.l1.has(key)
        assert near.get(key) == b"new"
        assert near.info()["near_cache_fills_refused"] >= 1
    finally:
        near.close()


def test_concurrent_readers_never_read_a_version_older_than_a_delivered_write(
    shared_redis: Any, prefix: str
) -> None:
    """Threads read while another connection writes versions 1..N. Once version v is
    acknowledged *and* its invalidation delivered, no read that starts later returns less than
    v. (Before delivery an older copy may still be served: that window is the invalidation
    delay, measured in the benchmark.)"""
    key = prefix + "versions"
    shared_redis.set(key, b"0")
    near = NearCache(RedisRemote(shared_redis), prefix=prefix)
    assert near.wait_fresh()
    stop = threading.Event()
    floor = [0]
    errors: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            least = floor[0]
            payload = near.get(key)
            assert payload is not None
            reads[0] += 1
            if int(payload) < least:
                errors.append(f"read {int(payload)} after {least} was delivered")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for version in range(1, 200):
            before = near.info()["near_cache_invalidations"]
            shared_redis.set(key, str(version).encode())
            poll_until(lambda b=before: near.info()["near_cache_invalidations"] > b)
            floor[0] = version
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        near.close()
    assert errors == []
    assert reads[0] > 200


def test_info_reports_the_counters(near: NearCache) -> None:
    info = near.info()
    for name in (
        "near_cache_hits",
        "near_cache_misses",
        "near_cache_invalidations",
        "near_cache_flushes",
        "near_cache_stale_flushes",
        "near_cache_reconnects",
        "near_cache_bypassed_reads",
        "near_cache_used_memory",
        "near_cache_maxmemory",
    ):
        assert isinstance(info[name], int), name
    assert info["near_cache_fresh"] is True
    assert info["near_cache_tracking_connections"] == 1
    assert info["near_cache_reconnects"] == 1


def test_default_mode_refuses_several_primaries(shared_redis: Any) -> None:
    endpoint = {"host": "127.0.0.1", "port": 6379}
    with pytest.raises(ConfigError) as caught:
        NearCache(
            RedisRemote(shared_redis),
            prefix="x:",
            config=NearCacheConfig(mode="default"),
            endpoints=[endpoint, endpoint],
            start=False,
        )
    assert caught.value.option == "NEAR_CACHE_MODE"


def test_forked_child_restarts_tracking_and_never_serves_the_parents_copy(
    shared_redis: Any, prefix: str
) -> None:
    """gunicorn --preload: the child inherits the L1 but not the tracker thread."""
    import os

    key = prefix + "fork"
    shared_redis.set(key, b"parent")
    near = NearCache(RedisRemote(shared_redis), prefix=prefix)
    try:
        assert near.wait_fresh()
        poll_until(lambda: near.get(key) == b"parent" and near.core.l1.has(key))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 only if every check passed
            status = 1
            try:
                os.close(read_end)
                assert not near.core.fresh()  # the parent's freshness does not carry over
                assert near.get(key) == b"parent"  # from Redis (bypass), restarting tracking
                assert near.wait_fresh(10)
                poll_until(lambda: near.get(key) == b"parent" and near.core.l1.has(key))
                os.write(write_end, b"r")  # ready: the parent may write now
                poll_until(lambda: near.get(key) == b"changed", timeout=10)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        assert os.read(read_end, 1) == b"r"
        os.close(read_end)
        shared_redis.set(key, b"changed")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        poll_until(lambda: near.get(key) == b"changed")  # the parent is unaffected
        assert near.info()["near_cache_tracking_connections"] == 1
    finally:
        near.close()
