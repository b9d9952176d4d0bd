"""A policy that refuses admission, through Flask-Caching's API: ``set`` and ``add`` return
False (the documented "not stored"), and nothing else changes."""

from __future__ import annotations

from collections.abc import Callable

from flask_cachepolicy import PolicyCache

POLICY = "tests.core.test_policy_port.RefuseScans"


def test_refused_keys_return_false(make_backend: Callable[..., PolicyCache]) -> None:
    cache = make_backend(maxmemory="16kb", maxmemory_policy=POLICY)
    for i in range(100):
        assert cache.set(f"hot:{i}", "v" * 300) is True
    keys = sorted(cache.core.keys())
    # Scan values of half the budget: whatever room the fill left (it moved from run to run,
    # and a 300-byte value sometimes fitted), the write needs an eviction, so the policy is
    # asked and refuses.
    assert cache.set("scan:1", "v" * 8000) is False
    assert cache.add("scan:2", "v" * 8000) is False
    assert cache.get("scan:1") is None and not cache.has("scan:2")
    assert sorted(cache.core.keys()) == keys
    assert cache.core.info()["rejected_admissions"] == 2
