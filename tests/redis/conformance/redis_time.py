"""Time travel for the upstream suites' fake clocks, on a real Redis server.

Flask-Caching's and cachelib's suites "advance" a fake clock and expect entries to expire. A
Redis server's clock cannot be moved, but what the tests observe of time is only each key's
remaining TTL, so advancing by ``s`` seconds is done exactly that way: every key with a TTL gets
``PTTL - s*1000`` (``PEXPIRE``), and a key whose TTL would reach 0 is deleted, which is what
Redis itself does when it expires the key. Keys without a TTL are untouched. Copied next to the
fetched suites with the glue (see ``scripts/fetch_conformance.py``).
"""

from __future__ import annotations

import os
from typing import Any

from cachepolicy.redis.client import RedisClient
from cachepolicy.redis.settings import parse_redis_settings

#: The private server (or cluster, comma-separated URLs) the runner started for this run.
REDIS_URL = os.environ["CACHEPOLICY_TEST_REDIS_URL"]


def client() -> RedisClient:
    return RedisClient(parse_redis_settings(REDIS_URL, {"events": ()}))


def _servers() -> list[Any]:
    return [server for _name, server in client().primaries()]


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


def flush() -> None:
    """Empty the private server(s) between tests (never run against a shared server)."""
    for server in _servers():
        server.flushdb()
