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
keys are expired, Redis's cycle stops early (its acceptable-stale rule), and its scan cursor
moves on. Short keys the cursor passed before their deadline (the 3,300 writes take a while on a
loaded machine) are then reclaimed only when the cursor comes round again, about 20 keys per slow
cycle: Redis's time to 100 % ranges from 0.3 s (this machine, idle) to more than the 2 s window
(a CI run, 44 keys left). So Redis's tail is polled on, up to ``TAIL_LIMIT``, and ours must be
no later than it plus the tolerance; a two-sided bound on one sample of it failed CI twice.
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
#: How long Redis's tail is polled for after the compared window (see the module doc).
TAIL_LIMIT = 20.0
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


def _redis_curve(client: object) -> tuple[list[tuple[float, int]], float]:
    """Redis's ``expired_keys`` every ``STEP`` for ``DURATION``, and when it reached all of them."""
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for i in range(LONG):
        pipe.set(f"long{i}", i, px=3_600_000)
    pipe.execute()
    start = time.monotonic()
    for i in range(SHORT):
        pipe.set(f"short{i}", i, px=int(SHORT_TTL * 1000))
    pipe.execute()
    curve: list[tuple[float, int]] = []
    all_reclaimed = float("inf")
    step = 0
    while step * STEP <= DURATION or (all_reclaimed == float("inf") and step * STEP < TAIL_LIMIT):
        target = start + step * STEP
        while time.monotonic() < target:  # sampling times, not an assertion: poll to each one
            time.sleep(min(0.005, max(0.0, target - time.monotonic())))
        expired = int(client.info("stats")["expired_keys"])  # type: ignore[attr-defined]
        if step * STEP <= DURATION:
            curve.append((round(step * STEP, 3), expired))
        if expired >= SHORT and all_reclaimed == float("inf"):
            all_reclaimed = round(step * STEP, 3)
        step += 1
    # Every long key is still there, whether or not Redis's tail has finished.
    assert client.exists(*(f"long{i}" for i in range(LONG))) == LONG  # type: ignore[attr-defined]
    return curve, all_reclaimed


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
    theirs, redis_all = _redis_curve(server)
    ours = _our_curve()
    print("\n  t (s)   redis   cachepolicy")
    for (t, r), (_, o) in zip(theirs, ours, strict=True):
        print(f"  {t:5.2f}  {r:6d}  {o:6d}")
    print(f"  redis reclaimed all {SHORT} at {redis_all} s")
    redis_bulk, our_bulk = _time_to(theirs, 0.9 * SHORT), _time_to(ours, 0.9 * SHORT)
    assert redis_bulk < DURATION, f"redis did not reach 90 %: {theirs}"
    # Rounded to the curve's resolution: 0.55 - 0.3 is 0.25000000000000006 in floats, and a
    # run on a loaded machine failed on that last bit, not on the behaviour.
    gap = round(abs(our_bulk - redis_bulk), 3)
    assert gap <= TOLERANCE, (our_bulk, redis_bulk, ours, theirs)
    # The tail: ours on time, and no later than Redis (the module doc says why one way only).
    our_all = _time_to(ours, SHORT)
    assert our_all < DURATION, ours
    assert our_all <= redis_all + TOLERANCE, (our_all, redis_all, ours, theirs)
    # Nothing is reclaimed before the deadline by either.
    assert all(expired == 0 for t, expired in ours if t < SHORT_TTL)
    assert all(expired == 0 for t, expired in theirs if t < SHORT_TTL)
