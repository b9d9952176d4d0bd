"""``active`` expiry against a real ``redis-server`` on the same scenario (issue 11, defect 10).

The test starts its own server on a free loopback port (``tests/redis/servers.py``; never the
shared one: it needs an empty keyspace and ``hz 10``), writes 2,000 keys with a long TTL and
then 3,300 keys with a 0.2 s TTL to both, and records ``expired_keys`` every 50 ms while nothing
reads the keys: Redis in real time (its cron runs the slow cycle), ours on a manual clock
advanced 50 ms per step (the write hook runs the cycle, as a write would). The two curves are
printed side by side; the test asserts that ours reaches 90 % of the short keys within 0.25 s
(2.5 cycles at hz 10) of Redis, 100 % no later than 0.25 s after Redis, and that neither
touches a long-TTL key. With the old insertion-order cursor ours reclaimed none of them in 2.6 s.

Why the last few per cent are compared one way only: once fewer than a tenth of the sampled
keys are expired, Redis's cycle stops early (its acceptable-stale rule), so the tail is reclaimed
by whichever cycles happen to sample the last short keys among the 2,000 long ones. Redis's own
time to 100 % therefore varies from run to run with its random sampling (0.5 s to 0.9 s seen
here, ours 0.5 s on its seeded RNG): a two-sided bound on one sample of it failed a CI rehearsal
on a run where Redis's tail took 0.55 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cachepolicy import Cache, ManualClock
from tests.redis.servers import RedisProcess, require_redis_server

redis = pytest.importorskip("redis")

pytestmark = [pytest.mark.redis, pytest.mark.slow]

LONG, SHORT = 2000, 3300
SHORT_TTL = 0.2
STEP = 0.05
DURATION = 2.0
#: Seconds by which the times to 90 % / 100 % reclaimed may differ: 2.5 slow cycles at hz 10.
TOLERANCE = 0.25


@pytest.fixture
def server() -> Iterator[object]:
    """A private server of our own (the shared one's keyspace is not empty), at ``hz 10``."""
    process = RedisProcess(require_redis_server(), extra=("--hz", "10"))
    client = process.client()
    try:
        yield client
    finally:
        client.close()
        process.close()


def _redis_curve(client: object) -> list[tuple[float, int]]:
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for i in range(LONG):
        pipe.set(f"long{i}", i, px=3_600_000)
    pipe.execute()
    start = time.monotonic()
    for i in range(SHORT):
        pipe.set(f"short{i}", i, px=int(SHORT_TTL * 1000))
    pipe.execute()
    curve = []
    for step in range(int(DURATION / STEP) + 1):
        target = start + step * STEP
        while time.monotonic() < target:  # sampling times, not an assertion: poll to each one
            time.sleep(min(0.005, max(0.0, target - time.monotonic())))
        stats = client.info("stats")  # type: ignore[attr-defined]
        curve.append((step * STEP, int(stats["expired_keys"])))
    assert client.dbsize() == LONG  # type: ignore[attr-defined]
    return curve


def _our_curve() -> list[tuple[float, int]]:
    clock = ManualClock()
    cache = Cache(expiry="active", hz=10, clock=clock, seed=1)
    try:
        for i in range(LONG):
            cache.set(f"long{i}", i, ttl=3600)
        for i in range(SHORT):
            cache.set(f"short{i}", i, ttl=SHORT_TTL)
        curve = [(0.0, cache.info()["expired_keys"])]
        strategy = cache.store.expiry
        for step in range(1, int(DURATION / STEP) + 1):
            clock.advance(STEP)
            strategy.after_operation(clock.monotonic())
            curve.append((round(step * STEP, 3), cache.info()["expired_keys"]))
        assert len(cache) == LONG
        assert cache.check() == []
        return curve
    finally:
        cache.close()


def _time_to(curve: list[tuple[float, int]], count: float) -> float:
    return next((t for t, expired in curve if expired >= count), float("inf"))


def test_expired_keys_curve_follows_redis(server: object) -> None:
    theirs = _redis_curve(server)
    ours = _our_curve()
    print("\n  t (s)   redis   cachepolicy")
    for (t, r), (_, o) in zip(theirs, ours, strict=True):
        print(f"  {t:5.2f}  {r:6d}  {o:6d}")
    for share in (0.9, 1.0):
        redis_t, our_t = _time_to(theirs, share * SHORT), _time_to(ours, share * SHORT)
        assert redis_t < DURATION, f"redis did not reach {share:.0%}: {theirs}"
        assert our_t <= redis_t + TOLERANCE, (share, our_t, redis_t, ours, theirs)
        if share < 1.0:  # the bulk; the tail is Redis's sampling luck (see the module doc)
            assert our_t >= redis_t - TOLERANCE, (share, our_t, redis_t, ours, theirs)
    assert ours[-1][1] == theirs[-1][1] == SHORT
    # Nothing is reclaimed before the deadline by either.
    assert all(expired == 0 for t, expired in ours if t < SHORT_TTL)
