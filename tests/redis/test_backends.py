"""The Django and Flask Redis backends: timeouts, native async, INFO, cacheinfo, the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from cachepolicy import Cache, ConfigError


def _django(location: str, prefix: str, **options: Any) -> Any:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    return RedisPolicyCache(location, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": (), **options}})


def test_django_timeouts(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    cache.set("forever", 1, timeout=None)
    assert cache.client.ttl(cache.make_key("forever")) is None
    cache.set("now", 1, timeout=0)
    assert cache.get("now") is None
    before = time.time()
    cache.set("half", 1, timeout=1000.5)
    after = time.time()
    # Milliseconds, not rounded to seconds: judged by the server's absolute deadline (same
    # machine, same clock), so a slow test thread cannot make it fail.
    expires = cache.client.remote.pexpiretime(cache.make_key("half")) / 1000
    assert before + 1000.5 - 0.002 <= expires <= after + 1000.5 + 0.002
    cache.set("default", 1)
    assert cache.client.ttl(cache.make_key("default")) == pytest.approx(300, abs=1)
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.clear()


def test_django_async_is_native(
    location: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asgiref.sync

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("sync_to_async was used")

    monkeypatch.setattr(asgiref.sync, "sync_to_async", refuse)
    cache = _django(location, prefix)

    async def run() -> None:
        await cache.aset("a", {"v": 1})
        await cache.aset_many({f"k{i}": i for i in range(20)}, timeout=30)
        assert await cache.aget("a") == {"v": 1}
        assert await cache.aget_many([f"k{i}" for i in range(20)]) == {
            f"k{i}": i for i in range(20)
        }
        assert await cache.aadd("a", 2) is False
        assert await cache.aincr("k1", 10) == 11
        assert await cache.adecr("k1") == 10
        assert await cache.ahas_key("a") is True
        assert await cache.atouch("a", None) is True
        assert await cache.adelete("a") is True
        await cache.adelete_many(["k0", "k1"])
        assert await cache.aget("k0", "gone") == "gone"
        await cache.aclear()
        assert await cache.aget_many([f"k{i}" for i in range(20)]) == {}
        await cache.async_client.aclose()

    asyncio.run(run())


def test_info_has_the_in_process_shape(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    cache.set("x", 1, timeout=100)
    report = cache.info()
    in_process = Cache().info()
    shared = {
        "used_memory",
        "used_memory_human",
        "used_memory_peak",
        "maxmemory",
        "maxmemory_human",
        "maxmemory_policy",
        "maxmemory_samples",
        "lfu_log_factor",
        "lfu_decay_time",
        "active_expire_effort",
        "keyspace_hits",
        "keyspace_misses",
        "expired_keys",
        "evicted_keys",
        "total_keys",
    }
    assert shared <= set(in_process)
    assert shared - {
        "maxmemory_samples",
        "lfu_log_factor",
        "lfu_decay_time",
        "active_expire_effort",
    } <= set(report)
    assert report["db0"]["keys"] >= 1 and report["db0"]["expires"] >= 1
    if cache.settings.cluster:
        assert len(report["nodes"]) == 3
        assert report["total_keys"] == sum(n["total_keys"] for n in report["nodes"].values())
        assert all(shared <= set(node) for node in report["nodes"].values())
        assert "# Node 127.0.0.1:" in cache.info_text()
    else:
        assert shared <= set(report)
    cache.clear()


def test_cacheinfo_reports_redis_aliases(location: str, prefix: str) -> None:
    caches = {
        "default": {"BACKEND": "django_cachepolicy.PolicyCache", "LOCATION": "cacheinfo-local"},
        "redis": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"EVENTS": ()},
        },
    }
    with override_settings(CACHES=caches):
        out = io.StringIO()
        call_command("cacheinfo", "--json", stdout=out)
        reports = json.loads(out.getvalue())
        assert set(reports) == {"default", "redis"}
        assert reports["redis"]["location"] == location and "used_memory" in reports["redis"]
        text = io.StringIO()
        call_command("cacheinfo", "redis", stdout=text)
        assert "alias:redis" in text.getvalue() and "used_memory:" in text.getvalue()


def test_flask_backend_through_flask_caching(location: str, prefix: str) -> None:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.RedisPolicyCache",
        CACHE_REDIS_URL=location,
        CACHE_KEY_PREFIX=prefix,
        CACHE_DEFAULT_TIMEOUT=0,  # Flask: 0 = never expire
        CACHE_OPTIONS={"events": ()},
    )
    cache = FlaskCache(app)
    with app.app_context():
        cache.set("k", {"v": 1})
        backend = app.extensions["cache"][cache]
        assert backend.client.ttl(prefix + "k") is None
        assert backend.inc("counter") == 1 and backend.inc("counter", 4) == 5
        cache.set("f", 1.5)
        assert backend.inc("f") == 2.5  # non-integers fall back to read-modify-write
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cachepolicy", "info", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["caches"][0]
    assert report["flask_key_prefix"] == prefix and "used_memory" in report
    text = runner.invoke(args=["cachepolicy", "info"])
    assert "# Flask" in text.output and "keyspace_hits:" in text.output
    with app.app_context():
        cache.clear()


def test_flask_settings_errors_name_the_flask_key(redis_server: Any) -> None:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.RedisPolicyCache",
        CACHE_REDIS_URL=redis_server.url,
        CACHE_MAXMEMORY_POLICY="myapp.TinyLFU",
    )
    with pytest.raises(ConfigError, match="CACHE_MAXMEMORY_POLICY"):
        FlaskCache(app)
    app.config.pop("CACHE_MAXMEMORY_POLICY")
    app.config["CACHE_EXPIRY"] = "timed"
    with pytest.raises(ConfigError, match="CACHE_EXPIRY"):
        FlaskCache(app)
    del app.config["CACHE_EXPIRY"]
    del app.config["CACHE_REDIS_URL"]
    with pytest.raises(ConfigError, match="CACHE_REDIS_URL"):
        FlaskCache(app)


@pytest.mark.parametrize(
    "backend",
    ["django_redis.cache.RedisCache", "django.core.cache.backends.redis.RedisCache"],
)
def test_values_written_by_django_redis_and_django_are_read_as_they_are(
    redis_server: Any, prefix: str, backend: str
) -> None:
    from django.utils.module_loading import import_string

    pytest.importorskip("django_redis")
    theirs = import_string(backend)(redis_server.url, {"KEY_PREFIX": prefix})
    ours = _django(redis_server.url, prefix)
    values = {"int": 42, "str": "text", "obj": {"a": [1, 2.5, None]}, "true": True}
    theirs.set_many(values)
    assert ours.get_many(list(values)) == values
    assert ours.incr("int") == 43
    ours.set("back", ("tuple", 1))
    assert theirs.get("back") == ("tuple", 1) and theirs.get("int") == 43
    ours.clear()
