"""CACHE_RECORD: a Flask cache records its traffic, and the simulator replays it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask_caching import Cache

from cachepolicy.simulate import read_trace
from cachepolicy.simulate.readers import GET, SET


def test_cache_record_settings_record_the_flask_api(
    tmp_path: Path, make_app: Callable[..., tuple[Flask, Cache]]
) -> None:
    app, cache = make_app(CACHE_RECORD=str(tmp_path), CACHE_RECORD_RATE=1.0, CACHE_KEY_PREFIX="a_")
    with app.app_context():
        assert cache.get("page") is None
        cache.set("page", "<html>", timeout=60)
        assert cache.get("page") == "<html>"
        backend = app.extensions["cache"][cache]
        assert backend.core.info()["record_rate"] == 1.0
        backend.close()
    [path] = tmp_path.glob("cachepolicy-*.cprec")
    trace = read_trace(path)
    assert trace.ops is not None and list(trace.ops) == [GET, SET, GET]
    assert trace.key_lengths is not None and list(trace.key_lengths) == [len("a_page")]
    assert trace.sizes is not None and trace.sizes[1] > len("<html>")


def test_info_curve(tmp_path: Path, make_app: Callable[..., tuple[Flask, Cache]]) -> None:
    app, cache = make_app(CACHE_RECORD=str(tmp_path), CACHE_RECORD_RATE=1.0, CACHE_MAXMEMORY="1mb")
    with app.app_context():
        for number in range(200):
            if cache.get(f"k{number % 50}") is None:
                cache.set(f"k{number % 50}", "x" * 100)
        app.extensions["cache"][cache].core.store.recorder.flush()
    result = app.test_cli_runner().invoke(args=["cachepolicy", "info", "--curve"])
    assert result.exit_code == 0, result.output
    assert "# LRU curve" in result.output and "200 sampled reads" in result.output
    plain, _ = make_app()
    result = plain.test_cli_runner().invoke(args=["cachepolicy", "info", "--curve"])
    assert "does not record its traffic" in result.output
