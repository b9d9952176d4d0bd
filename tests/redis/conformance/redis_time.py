"""Time travel for the upstream suites' fake clocks, on a real Redis server.

Flask-Caching's and cachelib's suites "advance" a fake clock and expect entries to expire. A
Redis server's clock cannot be moved, but what the tests observe of time is only each key's
remaining TTL, so advancing by ``s`` seconds is done exactly that way: every key with a TTL gets
``PTTL - s*1000`` (``PEXPIRE``), and a key whose TTL would reach 0 is deleted, which is what
Redis itself does when it expires the key. Keys without a TTL are untouched. Copied next to the
fetched suites with the glue (see ``scripts/fetch_conformance.py``).
"""

from __future__ import annotations

import atexit
import json
import os
from typing import Any

from cachepolicy.redis.client import RedisClient
from cachepolicy.redis.settings import parse_redis_settings

#: The private server (or cluster, comma-separated URLs) the runner started for this run.
REDIS_URL = os.environ["CACHEPOLICY_TEST_REDIS_URL"]
#: The two-tier runs (``CACHEPOLICY_TEST_NEAR_CACHE=1``): every backend the glue makes gets the
#: near cache. A short staleness bound makes the heartbeat (4 per bound) fast, so waiting for
#: the invalidations of a time move or a flush (:func:`settle`) costs ~10 ms.
NEAR_OPTIONS: dict[str, Any] = (
    {"near_cache": True, "near_cache_staleness": 0.04}
    if os.environ.get("CACHEPOLICY_TEST_NEAR_CACHE") == "1"
    else {}
)


def client() -> RedisClient:
    return RedisClient(parse_redis_settings(REDIS_URL, {"events": ()}))


def _servers() -> list[Any]:
    return [server for _name, server in client().primaries()]


def _record_near_stats() -> None:
    """At exit, add up the near caches' hits and fills into ``CACHEPOLICY_TEST_NEAR_STATS``,
    so that the runner can check the two-tier run really served reads from an L1."""
    from cachepolicy.redis.two_tier import _SYNC_NEAR

    totals = {"hits": 0, "fills": 0, "near_caches": len(_SYNC_NEAR)}
    for near in list(_SYNC_NEAR.values()):
        report = near.info()
        totals["hits"] += report["near_cache_hits"]
        totals["fills"] += report["near_cache_fills"]
    with open(os.environ["CACHEPOLICY_TEST_NEAR_STATS"], "w") as out:
        json.dump(totals, out)


if NEAR_OPTIONS and os.environ.get("CACHEPOLICY_TEST_NEAR_STATS"):
    atexit.register(_record_near_stats)


def settle() -> None:
    """Two-tier runs: wait until the near caches of this process got the invalidations of the
    changes made here behind their back (PEXPIRE, DEL, FLUSHDB from another connection), as
    another process's reader would after the invalidation delay."""
    if NEAR_OPTIONS:
        from cachepolicy.redis.two_tier import settle_near_caches

        if not settle_near_caches(timeout=10.0):
            raise AssertionError("the near caches' invalidation connections did not answer")


def advance(seconds: float) -> None:
    """Move every key's expiry ``seconds`` closer (delete what would have expired)."""
    step = round(seconds * 1000)
    for server in _servers():
        for key in server.scan_iter(count=1000):
            left = server.pttl(key)
            if left < 0:
                continue
            if left <= step:
                server.delete(key)
            else:
                server.pexpire(key, left - step)
    settle()


def flush() -> None:
    """Empty the private server(s) between tests (never run against a shared server)."""
    for server in _servers():
        server.flushdb()
    settle()
