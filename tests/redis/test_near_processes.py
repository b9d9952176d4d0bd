"""Coherence across two OS processes sharing one Redis, each with its own L1.

The parent writes (and deletes) through its near cache; a spawned child reads through its own
in a tight loop and reports every change it sees. The parent writes version *i* only after the
child has seen *i - 1*, so the child's reads are totally ordered against the writes:

* the child never returns an older version after a newer one (no stale fill, no stale hit
  once the invalidation came);
* every acknowledged write reaches the child; the delay from the parent's acknowledgement to
  the child's first read of the new value is measured (CLOCK_MONOTONIC is system-wide on Linux,
  so both processes read the same clock) and printed as p50/p99/max;
* the child really reads from its L1 in between (its hit counter grows).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import redis

import tests.redis.test_near_support as support
from cachepolicy.redis.near import NearCache, NearCacheConfig, RedisRemote
from tests.redis.test_near_support import SHARED_PORT, delete_prefix, unique_prefix

shared_redis = support.shared_redis  # the fixture

VERSIONS = 200
STALENESS = 1.0


def reader_process(conn: Connection, port: int, prefix: str, key: str) -> None:
    """The child: read ``key`` through its own near cache until told to stop."""
    client = redis.Redis(host="127.0.0.1", port=port)
    near = NearCache(
        RedisRemote(client), prefix=prefix, config=NearCacheConfig(staleness=STALENESS)
    )
    try:
        if not near.wait_fresh(10):
            conn.send(("error", "the tracking connection did not come up"))
            return
        conn.send(("ready",))
        last: bytes | None = b"0"
        last_began = time.monotonic()  # when the newest read that returned ``last`` began
        while True:
            if conn.poll() and conn.recv() == "stop":
                break
            began = time.monotonic()
            payload = near.get(key)
            if payload != last:
                seen = time.monotonic()
                if payload is not None and last is not None and int(payload) < int(last):
                    conn.send(("back", int(last), int(payload)))
                conn.send(("seen", payload, seen, last_began))
                last = payload
            last_began = began
        conn.send(("info", near.info()))
    finally:
        near.close()
        client.close()


def _expect_seen(
    conn: Connection, value: bytes | None, timeout: float = 10.0
) -> tuple[float, float]:
    """(when the reader first saw ``value``, when its last read of the previous value began)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            break
        message = conn.recv()
        if message[0] == "back":
            raise AssertionError(f"the reader went back from {message[1]} to {message[2]}")
        if message[0] == "seen" and message[1] == value:
            return message[2], message[3]
    raise AssertionError(f"the reader did not see {value!r} within {timeout}s")


def test_two_processes_writes_and_deletes_reach_the_other_l1(shared_redis: Any) -> None:
    prefix = unique_prefix("procs")
    key = prefix + "k"
    shared_redis.set(key, b"0")
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=reader_process, args=(child_end, SHARED_PORT, prefix, key))
    child.start()
    writer = NearCache(RedisRemote(shared_redis), prefix=prefix)
    delays: list[float] = []
    # How long after each acknowledgement the reader's last read of the old value *began*:
    # the staleness bound caps it by construction, whatever the load (a slow reader makes
    # the measured delay longer, not this).
    stale_reads: list[float] = []
    try:
        assert writer.wait_fresh()
        assert parent_end.poll(30), "the reader process did not start"
        assert parent_end.recv() == ("ready",)
        for version in range(1, VERSIONS + 1):
            payload = str(version).encode()
            writer.set(key, payload)
            acknowledged = time.monotonic()
            assert writer.get(key) == payload  # the writer reads its own write at once
            seen, old_began = _expect_seen(parent_end, payload)
            delays.append(max(0.0, seen - acknowledged))
            stale_reads.append(old_began - acknowledged)
        writer.delete(key)
        acknowledged = time.monotonic()
        seen, old_began = _expect_seen(parent_end, None)
        delays.append(max(0.0, seen - acknowledged))
        stale_reads.append(old_began - acknowledged)
        parent_end.send("stop")
        assert parent_end.poll(10)
        message = parent_end.recv()
        while message[0] != "info":
            assert message[0] != "back", message
            message = parent_end.recv()
        info = message[1]
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
        writer.close()
        delete_prefix(shared_redis, prefix)
    assert child.exitcode == 0
    assert info["near_cache_hits"] > VERSIONS  # it read from its L1 between the writes
    assert info["near_cache_invalidations"] >= VERSIONS
    ordered = sorted(delays)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"\ninvalidation delay across processes over {len(ordered)} writes: "
        f"p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, max {ordered[-1] * 1e3:.3f} ms"
    )
    # The staleness bound caps it by construction (hits stop, the L1 is bypassed): no read
    # that began after the bound returned the old value.
    assert max(stale_reads) <= STALENESS
