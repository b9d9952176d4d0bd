"""The live dashboard's shared module (example_project/dashboard.py) and its Flask endpoints.

The load generator and the history run on a fake clock: a load "phase of two seconds" takes
no real time, and its operation counts are exact. The Django endpoints are checked in
``django_site_checks.py`` (they need the example's settings), the real page in a browser in
``test_dashboard_browser.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cachepolicy import Cache, ManualClock
from cachepolicy.introspection import build
from example_project import dashboard as live
from example_project.flaskapp import create_app
from tests.conftest import MakeCache

#: A plan a test runs in no real time: 1 s of Zipf, 0.5 s of scan, 1 s of burst, paced.
SMALL = live.LoadPlan(
    zipf_seconds=1.0,
    scan_seconds=0.5,
    burst_seconds=1.0,
    zipf_keys=2000,
    max_rate=3000.0,
    burst_rate=1000.0,
    batch=50,
)


class FakeTime:
    """``monotonic`` and ``sleep`` for the load generator; sleeping moves the cache's clock
    too, so short TTLs run out as the load goes on."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.now = 100.0
        self.slept = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += 1
        self.now += seconds
        self.clock.advance(seconds)


def run_small(cache: Cache, clock: ManualClock, seed: int = 1) -> live.LoadProgress:
    fake = FakeTime(clock)
    generator = live.LoadGenerator(
        cache, SMALL, seed=seed, monotonic=fake.monotonic, sleep=fake.sleep
    )
    return generator.run(live.LoadProgress(seed))


def test_a_load_run_fills_evicts_and_expires_on_a_fake_clock(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(maxmemory="512kb")
    progress = run_small(cache, clock)
    assert progress.phase == "done" and progress.error == ""
    assert progress.finished_at is not None
    # Paced exactly: rate x seconds, in whole batches.
    assert progress.ops == {"zipf": 3000, "scan": 1500, "burst": 1000}
    info = cache.store.info()
    assert info["evicted_keys"] > 0  # 2,000 Zipf keys of ~2 KB overflow 512kb
    assert info["expired_keys"] > 0  # burst keys of 0.3-1.5 s, the clock moved 1 s
    assert info["keyspace_hits"] > 0 and info["keyspace_misses"] > 0
    assert info["used_memory"] <= info["maxmemory"]
    assert progress.refused == 0


def test_the_zipf_phase_hits_more_than_the_scan(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory="8mb")  # no eviction: the hit ratios are the traffic's own
    fake = FakeTime(clock)
    generator = live.LoadGenerator(cache, SMALL, seed=3, monotonic=fake.monotonic, sleep=fake.sleep)
    progress = live.LoadProgress(1)
    generator._paced(progress, "zipf", 1.0, 3000.0, generator._zipf_step)
    hits, misses = cache.store.hits.totals()
    assert hits / (hits + misses) > 0.5  # a few hot keys take most reads
    cache.store.reset_stats()
    generator._paced(progress, "scan", 0.5, 3000.0, generator._scan_step)
    hits, misses = cache.store.hits.totals()
    assert hits == 0 and misses == 1500  # a scan reads every key once


def test_the_same_seed_writes_the_same_load(make_cache: MakeCache) -> None:
    clocks = [ManualClock(), ManualClock()]
    caches = [make_cache(maxmemory="512kb", clock=clock) for clock in clocks]
    for cache, clock in zip(caches, clocks, strict=True):
        run_small(cache, clock, seed=7)
    first, second = caches
    assert sorted(first.keys()) == sorted(second.keys())
    assert first.store.info()["evicted_keys"] == second.store.info()["evicted_keys"]


def test_refused_writes_are_counted_under_noeviction(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(maxmemory="256kb", maxmemory_policy="noeviction")
    progress = run_small(cache, clock)
    assert progress.phase == "done"
    assert progress.refused > 0
    assert cache.store.info()["evicted_keys"] == 0


def test_a_failing_client_is_reported_not_raised(clock: ManualClock) -> None:
    class Broken:
        def get(self, key: str) -> Any:
            raise RuntimeError("backend down")

        def set(self, key: str, value: Any, timeout: float) -> Any:
            raise RuntimeError("backend down")

    fake = FakeTime(clock)
    generator = live.LoadGenerator(Broken(), SMALL, monotonic=fake.monotonic, sleep=fake.sleep)
    progress = generator.run(live.LoadProgress(1))
    assert progress.phase == "failed"
    assert "backend down" in progress.error
    assert progress.as_dict()["running"] is False


def test_the_runner_runs_one_load_at_a_time_in_the_background(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(maxmemory="512kb")
    release = threading.Event()
    fake = FakeTime(clock)

    def sleep(seconds: float) -> None:
        release.wait(10)  # the run is held until the test lets it go
        fake.sleep(seconds)

    runner = live.LoadRunner(lambda: cache, SMALL, monotonic=fake.monotonic, sleep=sleep)
    assert runner.status()["phase"] == "idle"
    started, progress = runner.start()
    assert started and progress.run == 1
    again, same = runner.start()
    assert not again and same is progress  # pressed twice: still the one run
    assert runner.status()["running"] is True
    release.set()
    runner.join(10)
    assert runner.status()["phase"] == "done"
    assert runner.start()[0] is True  # a finished run makes room for the next
    runner.join(10)
    assert runner.status()["run"] == 2


def test_history_rates_and_bounds() -> None:
    now = [1000.0]
    history = live.History(lambda: now[0])
    info = {
        "used_memory": 10,
        "maxmemory": 100,
        "keyspace_hits": 0,
        "keyspace_misses": 0,
        "evicted_keys": 0,
        "expired_keys": 0,
        "maxmemory_policy": "allkeys-lru",
    }
    assert history.record(info)["evicted_per_sec"] == 0.0
    now[0] += 2
    sample = history.record({**info, "evicted_keys": 50, "expired_keys": 10})
    assert sample["evicted_per_sec"] == 25.0 and sample["expired_per_sec"] == 5.0
    now[0] += 0.1  # too soon: the same sample again, not a new point
    assert history.record({**info, "evicted_keys": 99}) is sample
    now[0] += 1
    assert history.record(info)["evicted_per_sec"] == 0.0  # counters reset: no negative rate
    for _ in range(live.HISTORY_SAMPLES + 10):
        now[0] += 1
        history.record(info)
    assert len(history.series()) == live.HISTORY_SAMPLES


def _dashboard(cache: Cache, clock: ManualClock) -> live.Dashboard:
    fake = FakeTime(clock)
    return live.Dashboard(
        info=cache.store.info,
        reconfigure=cache.store.reconfigure,
        runner=live.LoadRunner(lambda: cache, SMALL, monotonic=fake.monotonic, sleep=fake.sleep),
        labels={0: "the tests"},
        framework="core",
        clock=clock.time,
    )


def test_state_reports_what_the_page_shows(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory="512kb")
    board = _dashboard(cache, clock)
    empty = board.state()
    assert empty["hit_ratio"] is None and empty["load"]["phase"] == "idle"
    run_small(cache, clock)
    state = board.state()
    for name in ("used_memory", "maxmemory", "keyspace_hits", "evicted_keys", "expired_keys"):
        assert state[name] == cache.store.info()[name], name
    assert state["maxmemory_policy"] == "allkeys-lru" and state["expiry"] == "timed"
    assert state["build"] == build() and state["build"] in ("compiled", "pure")  # issue 23
    assert 0 < state["hit_ratio"] < 1
    assert state["keyspace"][0] == {
        "db": 0,
        "label": "the tests",
        "keys": len(cache),
        "expires": cache.store.info()["db0"]["expires"],
    }
    assert [s["t"] for s in state["history"]] == [empty["history"][0]["t"], round(clock.time(), 3)]
    assert state["evicted_per_sec"] > 0
    assert state["choices"]["maxmemory_policy"][0] == "noeviction"
    assert state["stampede"]["stampede_computed"] == 0
    cache.get_or_set("computed", lambda: 1, 60)
    cache.invalidate_tags("group")
    counters = board.state()["stampede"]
    assert counters["stampede_computed"] == 1 and counters["tags_invalidated"] == 1
    assert set(counters) == set(live.STAMPEDE_FIELDS)
    for name in live.STAMPEDE_FIELDS:  # each has its place on the page
        assert f'id="stat-{name}"' in live.page_body(live.DashboardUrls("/s", "/l", "/c", "/j"))


def test_configure_switches_policy_and_budget_in_one_step(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(maxmemory="512kb", maxmemory_policy="noeviction")
    for i in range(200):
        cache.set(f"k{i}", b"x" * 1000)
    board = _dashboard(cache, clock)
    # noeviction cannot get under 100kb: refused whole, nothing changed.
    status, body = board.configure({"maxmemory": "100kb"})
    assert status == 400 and body["option"] == "maxmemory" and "noeviction" in body["error"]
    assert cache.config.maxmemory == 512 * 1024
    # With a policy that may evict, the same budget is reachable in the same request.
    status, body = board.configure({"maxmemory_policy": "allkeys-lfu", "maxmemory": "100kb"})
    assert status == 200, body
    assert body["state"]["maxmemory_policy"] == "allkeys-lfu"
    assert body["state"]["maxmemory"] == 100 * 1024 >= body["state"]["used_memory"]
    assert body["state"]["evicted_keys"] > 0
    status, body = board.configure({"maxmemory_policy": "allkeys-lfru"})
    assert status == 400 and body["option"] == "maxmemory_policy"
    assert "Did you mean 'allkeys-lru'" in body["error"]
    assert board.configure({})[0] == 400
    assert board.configure({"maxmemory": "lots"})[0] == 400


def test_page_body_escapes_and_preselects() -> None:
    urls = live.DashboardUrls(
        state="/d/state.json?a=1&b=2", load="/d/load", config="/d/config", script="/d.js"
    )
    body = live.page_body(urls, 'to"ken', {"maxmemory_policy": "volatile-ttl"})
    assert 'data-state-url="/d/state.json?a=1&amp;b=2"' in body
    assert 'data-csrf-token="to&quot;ken"' in body
    assert '<option value="volatile-ttl" selected>' in body
    assert '<script src="/d.js"></script>' in body
    assert "$" not in body.replace("$state_url", "")  # every placeholder was filled
    assert "http" not in body  # no CDN, no external asset
    assert 'id="stat-build"' in body  # the engine's build has a tile (issue 23, item 11)


# ---------------------------------------------------------------------------------- Flask


@pytest.fixture
def app() -> Iterator[Flask]:
    made = create_app(TESTING=True)
    made.extensions["dashboard"].runner.plan = live.LoadPlan(
        zipf_seconds=0.2, scan_seconds=0.1, burst_seconds=0.2
    )
    yield made
    made.extensions["dashboard"].runner.join(30)
    backend = made.extensions["cache"][next(iter(made.extensions["cache"]))]
    assert backend.core.check() == []
    backend.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_flask_page_is_self_contained(client: FlaskClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ('id="load-button"', 'id="policy-select"', 'id="memory-chart"', "/dashboard.js"):
        assert text in page, text
    assert '<option value="allkeys-lru" selected>' in page
    # Issue 23, item 15: a time axis under each chart, and no favicon request (no 404).
    for text in ('id="memory-time-start"', 'id="rate-time-end"', '<link rel="icon" href="data:,">'):
        assert text in page, text
    script = client.get("/dashboard.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert "http" not in script.get_data(as_text=True).split("\n", 3)[-1]  # nothing external


def test_flask_endpoints_drive_the_store(app: Flask, client: FlaskClient) -> None:
    state = client.get("/dashboard/state.json").get_json()
    assert state["framework"] == "Flask" and state["maxmemory"] == 4 * 1024 * 1024
    response = client.post("/dashboard/load")
    assert response.status_code == 202 and response.get_json()["started"] is True
    assert client.post("/dashboard/load").status_code in (202, 409)  # 202 if it already ended
    app.extensions["dashboard"].runner.join(30)
    state = client.get("/dashboard/state.json").get_json()
    assert state["load"]["phase"] == "done"
    assert state["keyspace_misses"] > 0 and state["keyspace"][0]["keys"] > 0
    response = client.post(
        "/dashboard/config", data={"maxmemory_policy": "allkeys-lfu", "maxmemory": "1mb"}
    )
    assert response.status_code == 200, response.get_json()
    state = client.get("/dashboard/state.json").get_json()
    assert state["maxmemory_policy"] == "allkeys-lfu" and state["maxmemory"] == 1024 * 1024
    assert state["used_memory"] <= state["maxmemory"]
    bad = client.post("/dashboard/config", data={"maxmemory_policy": "lru"})
    assert bad.status_code == 400 and bad.get_json()["option"] == "maxmemory_policy"
