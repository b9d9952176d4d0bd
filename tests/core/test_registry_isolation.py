"""The registry fixture of ``tests/conftest.py``: a policy name registered, replaced or removed
by one test is back to its registered state in the next (the tests run in file order)."""

from __future__ import annotations

from cachepolicy import SampledPolicy, policy_names, register_policy
from cachepolicy.eviction.registry import policy_spec, unregister_policy


class _Probe(SampledPolicy):
    name = "allkeys-isolation-probe"

    def score(self, entry, now):  # type: ignore[no-untyped-def]
        return 0.0


def test_a_test_changes_the_registry() -> None:
    register_policy("allkeys-isolation-probe", _Probe)
    register_policy("allkeys-lru", _Probe, replace=True)
    register_policy("allkeys-isolation-gone", _Probe)
    unregister_policy("allkeys-isolation-gone")
    assert "allkeys-isolation-probe" in policy_names()
    assert policy_spec("allkeys-lru").default is _Probe


def test_the_next_test_sees_the_registry_as_it_was() -> None:
    assert "allkeys-isolation-probe" not in policy_names()
    assert policy_spec("allkeys-lru").default is not _Probe
