"""``flask cachepolicy info``."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask
from flask_caching import Cache

MakeApp = Callable[..., tuple[Flask, Cache]]


def test_info_text(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_MAXMEMORY="1mb", CACHE_KEY_PREFIX="p_")
    with app.app_context():
        cache.set("k", 1)
        cache.get("k")
        cache.get("missing")
    result = app.test_cli_runner().invoke(args=["cachepolicy", "info"])
    assert result.exit_code == 0, result.output
    for line in (
        "# Memory",
        "maxmemory:1048576",
        "maxmemory_policy:allkeys-lru",
        "keyspace_hits:1",
        "keyspace_misses:1",
        "# Flask",
        "key_prefix:p_",
        "location:(private)",
    ):
        assert line in result.output.splitlines()


def test_info_json(make_app: MakeApp) -> None:
    app, _ = make_app()
    Cache(app, config={"CACHE_KEY_PREFIX": "second_"})
    result = app.test_cli_runner().invoke(args=["cachepolicy", "info", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [c["flask_key_prefix"] for c in report["caches"]] == ["flask_cache_", "second_"]
    assert report["caches"][0]["maxmemory_policy"] == "allkeys-lru"
    assert "used_memory" in report["caches"][0]


def test_info_without_policy_cache() -> None:
    app = Flask(__name__)
    from flask_cachepolicy.cli import register_cli

    register_cli(app)
    result = app.test_cli_runner().invoke(args=["cachepolicy", "info"])
    assert result.exit_code != 0
    assert "no cache with CACHE_TYPE" in result.output
