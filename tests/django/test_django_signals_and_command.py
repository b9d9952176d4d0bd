"""Keyspace-event signals and the ``cacheinfo`` management command."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django_cachepolicy import PolicyCache, signals
from django_cachepolicy.options import parse_alias

from cachepolicy import ManualClock, get_shared_store, release_shared_store

BACKEND = "django_cachepolicy.PolicyCache"


class Recorder:
    """A signal receiver that remembers what it was sent."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal")
        self.calls.append({"sender": sender, **kwargs})


@pytest.fixture
def location() -> Iterator[str]:
    name = f"signals-{uuid.uuid4().hex}"
    yield name
    release_shared_store(name)


def _backend(location: str, clock: ManualClock | None = None, **params: Any) -> PolicyCache:
    if clock is not None:
        get_shared_store(location, parse_alias(None, location, params).config, clock=clock)
    return PolicyCache(location, params)


def test_evicted_signal(location: str) -> None:
    cache = _backend(location, OPTIONS={"MAX_ENTRIES": 3, "CULL_FREQUENCY": 0}, TIMEOUT=None)
    recorder = Recorder()
    signals.evicted.connect(recorder)
    try:
        for key in "abcd":
            cache.set(key, key)
    finally:
        signals.evicted.disconnect(recorder)
    assert sorted(call["key"] for call in recorder.calls) == [":1:a", ":1:b", ":1:c"]
    assert recorder.calls[0] == {
        "sender": PolicyCache,
        "event": "evicted",
        "key": recorder.calls[0]["key"],
        "location": location,
        "database": 0,
    }


def test_expired_signal_with_a_manual_clock(location: str) -> None:
    clock = ManualClock()
    cache = _backend(location, clock)
    recorder = Recorder()
    signals.expired.connect(recorder)
    try:
        cache.set("k", 1, timeout=5)
        clock.advance(6)
        assert cache.get("k") is None  # lazy expiry reclaims it and reports it
    finally:
        signals.expired.disconnect(recorder)
    assert [(c["event"], c["key"]) for c in recorder.calls] == [("expired", ":1:k")]


def test_keyspace_event_receives_everything_of_its_database(location: str) -> None:
    zero = _backend(location)
    one = _backend(location, OPTIONS={"DATABASE": 1})
    recorder = Recorder()
    signals.keyspace_event.connect(recorder)
    try:
        zero.set("n", 1)
        zero.incr("n")
        zero.delete("n")
        zero.get("n")
    finally:
        signals.keyspace_event.disconnect(recorder)
    mine = [c for c in recorder.calls if c["location"] == location and c["database"] == 0]
    events = [c["event"] for c in mine]
    assert {"set", "incrby", "del", "keymiss"} <= set(events)
    one.set("other-db", 1)  # nothing is listening any more
    assert all(c["key"] != ":1:other-db" for c in recorder.calls)


def test_unobserved_events_are_not_subscribed(location: str) -> None:
    cache = _backend(location)
    assert not cache.view.store.events.active  # no receivers: the store has no subscriber
    recorder = Recorder()
    signals.missed.connect(recorder)
    try:
        assert cache.view.store.events.active
        cache.get("nope")
    finally:
        signals.missed.disconnect(recorder)
    assert not cache.view.store.events.active
    assert [c["event"] for c in recorder.calls] == ["keymiss"]


@pytest.fixture
def policy_caches() -> Iterator[dict[str, dict[str, Any]]]:
    suffix = uuid.uuid4().hex
    setting: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": BACKEND,
            "LOCATION": f"info-{suffix}",
            "OPTIONS": {"MAXMEMORY": "1mb", "MAXMEMORY_POLICY": "allkeys-lfu"},
        },
        "sessions": {
            "BACKEND": BACKEND,
            "LOCATION": f"info-{suffix}",
            "OPTIONS": {"MAXMEMORY": "1mb", "MAXMEMORY_POLICY": "allkeys-lfu", "DATABASE": 2},
        },
        "plain": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with override_settings(CACHES=setting):
        yield setting
    release_shared_store(f"info-{suffix}")


def _cacheinfo(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("cacheinfo", *args, stdout=out, **options)
    return out.getvalue()


def test_cacheinfo_text(policy_caches: dict[str, dict[str, Any]]) -> None:
    caches["default"].set("a", 1)
    caches["default"].get("a")
    caches["default"].get("b")
    text = _cacheinfo()
    assert "# Alias\nalias:default\n" in text and "alias:sessions\n" in text
    assert "maxmemory:1048576" in text
    assert "maxmemory_policy:allkeys-lfu" in text
    assert "keyspace_hits:1" in text and "keyspace_misses:1" in text
    assert "evicted_keys:" in text and "expired_keys:" in text
    assert "db0:keys=1" in text
    assert "alias:plain" not in text


def test_cacheinfo_json_for_one_alias(policy_caches: dict[str, dict[str, Any]]) -> None:
    caches["sessions"].set("s", 1)
    report = json.loads(_cacheinfo("sessions", json=True))
    assert list(report) == ["sessions"]
    info = report["sessions"]
    assert info["database"] == 2
    assert info["maxmemory_policy"] == "allkeys-lfu"
    assert info["used_memory"] > 0


def test_cacheinfo_refuses_unknown_and_foreign_aliases(
    policy_caches: dict[str, dict[str, Any]],
) -> None:
    with pytest.raises(CommandError, match="Did you mean 'default'"):
        _cacheinfo("defualt")
    with pytest.raises(CommandError, match=r"does not use django_cachepolicy\.PolicyCache"):
        _cacheinfo("plain")
