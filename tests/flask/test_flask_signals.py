"""Keyspace events as blinker signals."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask_cachepolicy import PolicyCache, keyspace_event, keyspace_evicted, keyspace_expired
from flask_cachepolicy.signals import EVENT_SIGNALS, keyspace_set
from flask_caching import Cache

from cachepolicy import ManualClock

MakeApp = Callable[..., tuple[Flask, Cache]]
Received = list[tuple[Any, dict[str, Any]]]


@pytest.fixture
def received() -> Iterator[Callable[..., Received]]:
    """Connect a recorder to signals; disconnected after the test."""
    connected: list[tuple[Any, Any]] = []

    def listen(signal: Any) -> Received:
        log: Received = []

        def receiver(sender: Any, **kwargs: Any) -> None:
            log.append((sender, kwargs))

        signal.connect(receiver)
        connected.append((signal, receiver))
        return log

    yield listen
    for signal, receiver in connected:
        signal.disconnect(receiver)


def test_evicted_signal(make_app: MakeApp, received: Callable[..., Received]) -> None:
    evicted = received(keyspace_evicted)
    every = received(keyspace_event)
    app, cache = make_app(CACHE_THRESHOLD=2, CACHE_KEY_PREFIX="p_")
    with app.app_context():
        for key in "abc":
            cache.set(key, key)
    assert len(evicted) == 1
    sender, extra = evicted[0]
    assert sender is app
    assert extra["key"] in {"a", "b"} and extra["event"] == "evicted" and extra["db"] == 0
    assert extra["cache"] is app.extensions["cache"][cache]
    assert [kwargs["event"] for _, kwargs in every] == ["evicted"]


def test_expired_signal(
    make_app: MakeApp, received: Callable[..., Received], clock: ManualClock
) -> None:
    expired = received(keyspace_expired)
    app, cache = make_app()
    with app.app_context():
        cache.set("k", 1, timeout=1)
        clock.advance(1)
        assert cache.get("k") is None  # lazy expiry on access reclaims it
    assert [(s, kw["key"]) for s, kw in expired] == [(app, "k")]


def test_all_events_opt_in(make_app: MakeApp, received: Callable[..., Received]) -> None:
    sets = received(keyspace_set)
    app, cache = make_app(CACHE_CACHEPOLICY_SIGNALS="all")
    with app.app_context():
        cache.set("k", 1)
    assert [kw["key"] for _, kw in sets] == ["k"]
    assert set(EVENT_SIGNALS) == {
        "new",
        "set",
        "del",
        "expire",
        "persist",
        "expired",
        "evicted",
        "incrby",
        "keymiss",
        "computed",
        "stale_served",
        "refreshed_early",
        "tag_invalidated",
    }


def test_default_does_not_send_set(make_app: MakeApp, received: Callable[..., Received]) -> None:
    sets = received(keyspace_set)
    app, cache = make_app()
    with app.app_context():
        cache.set("k", 1)
    assert sets == []


def test_shared_store_events_go_to_the_owning_app(
    make_app: MakeApp, received: Callable[..., Received], location: str
) -> None:
    every = received(keyspace_event)
    common = {"CACHE_CACHEPOLICY_LOCATION": location, "CACHE_CACHEPOLICY_SIGNALS": ["set"]}
    app1, cache1 = make_app(CACHE_KEY_PREFIX="one_", **common)
    make_app(CACHE_KEY_PREFIX="two_", **common)
    with app1.app_context():
        cache1.set("k", 1)
    assert [(s, kw["key"]) for s, kw in every] == [(app1, "k")]


def test_relay_does_not_keep_the_backend_alive(
    location: str, received: Callable[..., Received], clock: ManualClock
) -> None:
    every = received(keyspace_event)
    backend = PolicyCache(location=location, signals="all", clock=clock)
    other = PolicyCache(location=location, signals=(), clock=clock)
    del backend
    gc.collect()
    other.set("k", 1)
    assert every == []
    other.close()
