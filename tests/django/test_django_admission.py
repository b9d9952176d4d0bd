"""A policy that refuses admission, through Django's API: ``set`` stores nothing (and returns
None, as Django's ``set`` always does), ``add`` returns False, ``set_many`` reports the key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django_cachepolicy import PolicyCache

from cachepolicy import release_shared_store

POLICY = "tests.core.test_policy_port.RefuseScans"


@pytest.fixture
def cache() -> Iterator[PolicyCache]:
    location = f"admission-{uuid.uuid4().hex}"
    backend = PolicyCache(location, {"OPTIONS": {"MAXMEMORY": "16kb", "MAXMEMORY_POLICY": POLICY}})
    for i in range(100):
        backend.set(f"hot:{i}", "v" * 300, None)
    assert backend.info()["evicted_keys"] > 0
    yield backend
    assert backend.view.check() == []
    release_shared_store(location)


def test_refused_keys_are_not_stored_and_are_reported(cache: PolicyCache) -> None:
    before = cache.info()["rejected_admissions"]
    # Scan values of half the budget: whatever room the fill left, each needs an eviction, so
    # the policy is asked and refuses.
    assert cache.set("scan:1", "v" * 8000, None) is None
    assert cache.add("scan:2", "v" * 8000, None) is False
    assert cache.set_many({"scan:3": "v" * 8000, "hot:x": "v" * 300}, None) == ["scan:3"]
    assert cache.get("scan:1") is None and cache.get("scan:3") is None
    assert cache.get("hot:x") == "v" * 300
    assert cache.info()["rejected_admissions"] == before + 3
