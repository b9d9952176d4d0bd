"""Events for computed values, stale copies served, early refreshes and invalidated tags."""

from __future__ import annotations

import pytest

from cachepolicy import KeyspaceEvent, ManualClock
from cachepolicy.flight import STAMPEDE_EVENTS, StampedeSettings
from tests.conftest import MakeCache


def test_stampede_events_reach_subscribers_that_name_them(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(stampede=StampedeSettings(beta=None, grace=30))
    seen: list[KeyspaceEvent] = []
    unsubscribe = cache.subscribe(seen.append, [*STAMPEDE_EVENTS, "set"])
    everything: list[KeyspaceEvent] = []
    cache.subscribe(everything.append)  # no names: keyspace events only, as before
    cache.get_or_set("k", lambda: 1, 10, tags=["t"])
    cache.invalidate_tags("t")
    assert [(e.name, e.key) for e in seen] == [
        ("computed", "k"),
        ("set", "k"),
        ("tag_invalidated", "t"),
    ]
    assert all(e.name not in STAMPEDE_EVENTS for e in everything)
    unsubscribe()
    cache.get_or_set("other", lambda: 1, 10)
    assert len(seen) == 3


def test_refreshed_early_and_stale_served(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(stampede=StampedeSettings(beta=50.0))
    seen: list[str] = []
    cache.subscribe(lambda e: seen.append(e.name), ["refreshed_early", "computed"])

    def compute() -> str:
        clock.advance(1)
        return "v"

    cache.get_or_set("k", compute, 10)
    clock.advance(5)  # with beta 50 and delta 1 s, a refresh 5 s before expiry is near certain
    cache.get_or_set("k", compute, 10)
    assert seen == ["computed", "computed", "refreshed_early"]


def test_unknown_names_subscribe_nothing(make_cache: MakeCache) -> None:
    cache = make_cache()
    with pytest.raises(ValueError, match="bogus"):
        cache.subscribe(print, ["computed", "bogus"])
    seen: list[KeyspaceEvent] = []
    cache.subscribe(seen.append, ["computed"])
    cache.get_or_set("k", lambda: 1)
    assert [e.name for e in seen] == ["computed"]
