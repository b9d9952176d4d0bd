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
