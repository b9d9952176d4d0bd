"""Flask-Caching's and cachelib's own suites against ``RedisPolicyCache``, standalone and cluster.

Reuses the in-process runner (``tests/flask/test_flask_conformance.py``): its subprocess runner
and its per-upstream-test counting; the suites are fetched by ``scripts/fetch_conformance.py``
with the Redis glue of ``tests/redis/conformance/`` (the cachelib conftest is the in-process
one, unchanged). Each run gets the session's private server or cluster through
``CACHEPOLICY_TEST_REDIS_URL``; the glue flushes it between tests.

Exclusions (in the glue, each with its reason): the same two Flask-Caching tests as in-process
(one reads ``SimpleCache._cache``, the other tests Flask-Caching's own ``RedisCache``).
"""

from __future__ import annotations

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
    redis_server: RedisProcess,
    redis_cluster: RedisClusterProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = redis_server.url if topology == "standalone" else redis_cluster.location
    monkeypatch.setenv("CACHEPOLICY_TEST_REDIS_URL", url)
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        code, output = base._run(suite_dir / suite, report)
        assert report.is_file(), output
        results = base.upstream_results(report)
    counts = Counter(results.values())
    print(f"{suite} on {topology}: {dict(counts)} upstream tests")
    assert counts["failed"] == 0, [name for name, result in results.items() if result == "failed"]
    assert code == 0, output[-3000:]
    assert counts["passed"] >= minimum_passed, (dict(counts), output[-3000:])
    assert counts["skipped"] <= allowed_skips, (dict(counts), output[-3000:])
