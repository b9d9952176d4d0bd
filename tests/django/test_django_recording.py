"""OPTIONS["RECORD"]: a Django cache records its traffic, and the simulator replays it."""

from __future__ import annotations

import uuid
from io import StringIO
from pathlib import Path

from django.core.cache import caches
from django.core.management import call_command
from django.test import override_settings
from django_cachepolicy import PolicyCache

from cachepolicy import release_shared_store
from cachepolicy.recorder import HEADER, RECORD
from cachepolicy.simulate import read_trace
from cachepolicy.simulate.readers import DELETE, GET, SET


def test_options_record_the_django_api(tmp_path: Path) -> None:
    location = f"record-{uuid.uuid4().hex}"
    options = {"RECORD": str(tmp_path / "site.cprec"), "RECORD_RATE": 1, "MAXMEMORY": "1mb"}
    cache = PolicyCache(location, {"OPTIONS": options})
    try:
        assert cache.get("user:1") is None
        cache.set("user:1", {"name": "Ada"}, 30)
        assert cache.get("user:1") == {"name": "Ada"}
        cache.add("user:2", 2)
        cache.get_many(["user:1", "user:3"])
        cache.delete("user:2")
        assert cache._view.info()["record_queued"] == 7
    finally:
        release_shared_store(location)  # closes the store: the recorder writes its queue
    [path] = tmp_path.glob("site-*.cprec")
    assert b"user:" not in path.read_bytes()
    assert (path.stat().st_size - HEADER.size) // RECORD.size == 7
    trace = read_trace(path)
    assert trace.ops is not None and list(trace.ops) == [GET, SET, GET, SET, GET, GET, DELETE]
    assert trace.requests == 4 and trace.has_ttls
    assert trace.key_lengths is not None and list(trace.key_lengths) == [len(":1:user:1")] * 3


def test_cacheinfo_curve(tmp_path: Path) -> None:
    location = f"record-{uuid.uuid4().hex}"
    options = {"RECORD": str(tmp_path), "RECORD_RATE": 1, "MAXMEMORY": "1mb"}
    setting = {"default": {"BACKEND": "django_cachepolicy.PolicyCache", "LOCATION": location}}
    setting["default"]["OPTIONS"] = options  # type: ignore[assignment]
    try:
        with override_settings(CACHES=setting):
            cache = caches["default"]
            for number in range(300):
                if cache.get(f"k{number % 120}") is None:
                    cache.set(f"k{number % 120}", "x" * 100)
            cache._view.store.recorder.flush()
            out = StringIO()
            call_command("cacheinfo", curve=True, stdout=out)
    finally:
        release_shared_store(location)
    text = out.getvalue()
    assert "# LRU curve" in text and "<- maxmemory now" in text
    assert "300 sampled reads" in text and "at 2x maxmemory:" in text


def test_cacheinfo_curve_without_recording() -> None:
    location = f"plain-{uuid.uuid4().hex}"
    setting = {"default": {"BACKEND": "django_cachepolicy.PolicyCache", "LOCATION": location}}
    try:
        with override_settings(CACHES=setting):
            out = StringIO()
            call_command("cacheinfo", curve=True, stdout=out)
    finally:
        release_shared_store(location)
    assert "does not record its traffic" in out.getvalue()
