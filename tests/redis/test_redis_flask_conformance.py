"""Flask-Caching's and cachelib's own suites against ``RedisPolicyCache``, standalone and cluster.

Reuses the in-process runner (``tests/flask/test_flask_conformance.py``): its subprocess runner
and its per-upstream-test counting; the suites are fetched by ``scripts/fetch_conformance.py``
with the Redis glue of ``tests/redis/conformance/`` (the cachelib conftest is the in-process
one, unchanged). Each run gets the session's private server or cluster through
``CACHEPOLICY_TEST_REDIS_URL``; the glue flushes it between tests.

Each suite runs against the plain backend and against the two-tier one (``redis+l1``: the glue
gives every backend ``near_cache=True``, and waits for the near caches' invalidations after
its own time moves and flushes, which change keys behind the backend's back, as another
process would).

Exclusions (in the glue, each with its reason): the same two Flask-Caching tests as in-process
(one reads ``SimpleCache._cache``, the other tests Flask-Caching's own ``RedisCache``), with and
without the near cache.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest

import tests.flask.test_flask_conformance as base
from tests.modules import conformance_fetcher
from tests.redis.servers import RedisClusterProcess, RedisProcess

pytestmark = pytest.mark.slow

GLUE_DIR = Path(__file__).with_name("conformance")
GLUE = {
    "flask_caching": {
        "flask_caching_conftest.py": "conftest.py",
        "../../flask/conformance/flask_caching_conftest.py": "policy_conftest.py",
        "flask_caching_generic.py": "test_policycache_generic.py",
        "redis_time.py": "redis_time.py",
    },
    "cachelib": {
        "../../flask/conformance/cachelib_conftest.py": "conftest.py",
        "cachelib_mixins.py": "test_policycache_mixins.py",
        "redis_time.py": "redis_time.py",
    },
}


@pytest.fixture(scope="module")
def suite_dir() -> Path:
    fetcher = conformance_fetcher()
    try:
        return Path(
            fetcher.fetch_flask_suite(glue_dir=GLUE_DIR, glue=GLUE, run_prefix="flask-redis-run-")
        )
    except fetcher.ConformanceFetchError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Could not fetch the Flask conformance suites in CI: {exc}")
        pytest.skip(f"Flask conformance suites unavailable offline: {exc}")


@pytest.mark.parametrize("tier", ["redis", "redis+l1"])
@pytest.mark.parametrize("topology", ["standalone", "cluster"])
@pytest.mark.parametrize(
    ("suite", "minimum_passed", "allowed_skips"),
    [("cachelib", 22, 0), ("flask_caching", 157, 2)],
)
def test_upstream_suite_passes(
    suite_dir: Path,
    suite: str,
    minimum_passed: int,
    allowed_skips: int,
    topology: str,
    tier: str,
    redis_server: RedisProcess,
    redis_cluster: RedisClusterProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = redis_server.url if topology == "standalone" else redis_cluster.location
    monkeypatch.setenv("CACHEPOLICY_TEST_REDIS_URL", url)
    # The two-tier backend: the glue gives every backend it makes the near cache.
    monkeypatch.setenv("CACHEPOLICY_TEST_NEAR_CACHE", "1" if tier == "redis+l1" else "0")
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        stats_file = Path(scratch) / "near.json"
        monkeypatch.setenv("CACHEPOLICY_TEST_NEAR_STATS", str(stats_file))
        code, output = base._run(suite_dir / suite, report)
        assert report.is_file(), output
        results = base.upstream_results(report)
        near = json.loads(stats_file.read_text()) if stats_file.is_file() else None
    if tier == "redis+l1":
        # The suites really ran on the two tiers: their reads went through an L1 and filled it
        # (cachelib's tests read most keys once after writing them, so few of its reads can
        # be L1 hits; Flask-Caching's memoize/cached tests re-read).
        assert near is not None and near["fills"] > 0, near
        assert suite == "cachelib" or near["hits"] > 0, near
        print(f"  near caches: {near}")
    else:
        assert near is None
    counts = Counter(results.values())
    print(f"{suite} on {topology} ({tier}): {dict(counts)} upstream tests")
    assert counts["failed"] == 0, [name for name, result in results.items() if result == "failed"]
    assert code == 0, output[-3000:]
    assert counts["passed"] >= minimum_passed, (dict(counts), output[-3000:])
    assert counts["skipped"] <= allowed_skips, (dict(counts), output[-3000:])
