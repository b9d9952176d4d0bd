"""Hostile Django settings and arguments (issue 11, defects 6 and 7).

``manage.py check`` must never crash, whatever ``CACHES`` holds for a ``PolicyCache`` alias:
every problem is an ``Error`` with a stable id naming the setting. Django builds every cache
while its own checks run (``check_file_based_cache_is_absolute``), so the backend's constructor
must not crash either. Per-call timeouts follow the ``TIMEOUT`` setting's rule (E006): a
non-number is a ``TypeError``, a non-finite number a ``ValueError``, never a silent 1 s or 10 s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from django.core import checks
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django_cachepolicy import PolicyCache
from django_cachepolicy.checks import E_UNCHECKABLE

from cachepolicy import release_shared_store

BACKEND = "django_cachepolicy.PolicyCache"


def _messages(**params: Any) -> list[checks.CheckMessage]:
    """Every system check message for a ``default`` alias with ``params`` (all checks run)."""
    caches_setting = {"default": {"BACKEND": BACKEND, **params}}
    with override_settings(CACHES=caches_setting):
        return [m for m in checks.run_checks() if str(m.id).startswith("django_cachepolicy")]


def _one_error(expected_id: str, fragment: str, **params: Any) -> checks.CheckMessage:
    messages = _messages(**params)
    assert [m.id for m in messages] == [expected_id], messages
    error = messages[0]
    assert error.level == checks.ERROR
    assert fragment in error.msg, error.msg
    assert len(error.msg) < 500, error.msg
    assert error.obj == "CACHES['default']"
    return error


# ---------------------------------------------------------------- TIMEOUT (defect 6)


@pytest.mark.parametrize(
    "timeout",
    [float("inf"), float("-inf"), float("nan"), 10**400, "9" * 400, "inf", 1e400],
    ids=["inf", "-inf", "nan", "10**400", "400-digit-string", "'inf'", "1e400"],
)
def test_timeout_beyond_float_range_is_e006_not_a_crash(timeout: Any) -> None:
    _one_error("django_cachepolicy.E006", "TIMEOUT", TIMEOUT=timeout)


def test_backend_with_infinite_timeout_is_built_and_refuses_use() -> None:
    """BaseCache.__init__ int()s TIMEOUT and let OverflowError through; Django builds every
    cache during checks, so that crashed `manage.py check` before our check could report."""
    with override_settings(CACHES={"default": {"BACKEND": BACKEND, "TIMEOUT": float("inf")}}):
        backend = caches["default"]
        assert isinstance(backend, PolicyCache)
        with pytest.raises(ImproperlyConfigured, match="TIMEOUT = inf"):
            backend.get("k")


# ---------------------------------------------------------------- LOCATION (defect 6)


@pytest.mark.parametrize("location", [["a", "b"], {"name": "a"}, 5, None, b"bytes"], ids=repr)
def test_location_that_is_not_a_string_is_e008_not_a_crash(location: Any) -> None:
    error = _one_error("django_cachepolicy.E008", "LOCATION", LOCATION=location)
    assert type(location).__name__ in error.msg


def test_unhashable_location_backend_refuses_use_with_the_message() -> None:
    hostile = {"default": {"BACKEND": BACKEND, "LOCATION": ["a"]}}
    with override_settings(CACHES=hostile), pytest.raises(ImproperlyConfigured, match="LOCATION"):
        caches["default"].set("k", 1)


# ---------------------------------------------------------------- OPTIONS (defects 5-7)


@pytest.mark.parametrize(
    ("options", "expected_id", "fragment"),
    [
        ({"HZ": "--5"}, "django_cachepolicy.E007", "OPTIONS['HZ']"),
        ({"HZ": "²"}, "django_cachepolicy.E007", "OPTIONS['HZ']"),
        ({"HZ": 10**400}, "django_cachepolicy.E007", "OPTIONS['HZ']"),
        ({"MAXMEMORY_SAMPLES": float("inf")}, "django_cachepolicy.E007", "MAXMEMORY_SAMPLES"),
        ({"LFU_LOG_FACTOR": 10**400}, "django_cachepolicy.E007", "LFU_LOG_FACTOR"),
        ({"LFU_DECAY_TIME": 2**31}, "django_cachepolicy.E007", "LFU_DECAY_TIME"),
        ({"DATABASES": "1e3"}, "django_cachepolicy.E007", "DATABASES"),
        ({"MAX_ENTRIES": 10**400}, "django_cachepolicy.E007", "MAX_ENTRIES"),
        ({"MAX_ENTRIES": float("inf")}, "django_cachepolicy.E007", "MAX_ENTRIES"),
        ({"MAXMEMORY": 10**400}, "django_cachepolicy.E002", "MAXMEMORY"),
        ({"MAXMEMORY": "9" * 400}, "django_cachepolicy.E002", "MAXMEMORY"),
        ({"MAXMEMORY": 1}, "django_cachepolicy.E002", "at least"),
        ({"MAXMEMORY_POLICY": "."}, "django_cachepolicy.E001", "MAXMEMORY_POLICY"),
        ({"MAXMEMORY_POLICY": ".."}, "django_cachepolicy.E001", "MAXMEMORY_POLICY"),
        ({"EXPIRY": "."}, "django_cachepolicy.E007", "EXPIRY"),
        ({"EXPIRY": ".."}, "django_cachepolicy.E007", "EXPIRY"),
        ({"SERIALIZER": ".."}, "django_cachepolicy.E007", "SERIALIZER"),
        ({"LAZYFREE_THRESHOLD": "9" * 400}, "django_cachepolicy.E007", "LAZYFREE_THRESHOLD"),
        ({"ACTIVE_EXPIRE_EFFORT": "²"}, "django_cachepolicy.E004", "ACTIVE_EXPIRE_EFFORT"),
        ({"x" * 100_000: 1}, "django_cachepolicy.E003", "unknown OPTIONS key"),
        ({"DATABASE": 10**400}, "django_cachepolicy.E007", "DATABASE"),
        ({"ON_OUT_OF_MEMORY": "x" * 100_000}, "django_cachepolicy.E007", "ON_OUT_OF_MEMORY"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None,
)
def test_hostile_options_are_check_errors_with_ids(
    options: dict[str, Any], expected_id: str, fragment: str
) -> None:
    _one_error(expected_id, fragment, OPTIONS=options)


@pytest.mark.parametrize("options", [["MAXMEMORY"], "64mb", 5], ids=repr)
def test_options_that_are_not_a_dict_are_e007(options: Any) -> None:
    _one_error("django_cachepolicy.E007", "OPTIONS", OPTIONS=options)


def test_many_hostile_values_at_once_are_each_reported_and_nothing_crashes() -> None:
    messages = _messages(
        LOCATION=["not", "hashable"],
        TIMEOUT=float("inf"),
        OPTIONS={"HZ": "--5", "MAXMEMORY": "9" * 400, "EXPIRY": "..", "LFU_LOG_FACTOR": 10**400},
    )
    ids = sorted(str(m.id) for m in messages)
    assert E_UNCHECKABLE not in ids
    assert ids == [
        "django_cachepolicy.E002",
        "django_cachepolicy.E006",
        "django_cachepolicy.E007",
        "django_cachepolicy.E007",
        "django_cachepolicy.E007",
        "django_cachepolicy.E008",
    ], messages


def test_non_dict_cache_entries_of_other_aliases_do_not_crash_our_check() -> None:
    from django_cachepolicy.checks import check_caches, policy_aliases

    hostile = {"default": {"BACKEND": BACKEND}, "odd": ["not", "a", "dict"], "b": {"BACKEND": 5}}
    assert policy_aliases(hostile) == ["default"]  # type: ignore[arg-type]
    with override_settings(CACHES=hostile):
        assert check_caches() == []


def test_an_unexpected_failure_is_reported_as_e009_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The safety net: a bug in validation still must not crash `manage.py check`."""
    import django_cachepolicy.checks as checks_module

    def broken(*args: Any) -> Any:
        raise RuntimeError("x" * 10_000)

    monkeypatch.setattr(checks_module, "validate_alias", broken)
    with override_settings(CACHES={"default": {"BACKEND": BACKEND, "LOCATION": "e009"}}):
        (error,) = checks_module.check_caches()
    assert error.id == E_UNCHECKABLE and "RuntimeError" in error.msg and len(error.msg) < 400


# ---------------------------------------------------------------- per-call timeouts (defect 7)


@pytest.fixture
def backend() -> Iterator[PolicyCache]:
    location = f"hostile-{uuid.uuid4().hex}"
    cache = PolicyCache(location, {"TIMEOUT": 300})
    yield cache
    assert cache.view.check() == []
    release_shared_store(location)


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (True, TypeError),
        (False, TypeError),
        ("10", TypeError),
        (b"10", TypeError),
        ([], TypeError),
        (float("inf"), ValueError),
        (float("-inf"), ValueError),
        (float("nan"), ValueError),
        (10**400, ValueError),
        (Fraction(10**400), ValueError),
    ],
    ids=repr,
)
def test_bad_per_call_timeouts_raise_and_leave_the_cache_unchanged(
    backend: PolicyCache, timeout: Any, error: type[Exception]
) -> None:
    backend.set("k", "old")
    before = backend.info()["used_memory"]
    with pytest.raises(error, match="timeout"):
        backend.set("k", "new", timeout=timeout)
    with pytest.raises(error, match="timeout"):
        backend.add("fresh", 1, timeout=timeout)
    with pytest.raises(error, match="timeout"):
        backend.touch("k", timeout=timeout)
    with pytest.raises(error, match="timeout"):
        backend.set_many({"k": "new", "fresh": 1}, timeout=timeout)
    with pytest.raises(error, match="timeout"):
        backend.get_or_set("fresh", 1, timeout=timeout)
    assert backend.get("k") == "old" and not backend.has_key("fresh")
    assert backend.info()["used_memory"] == before


def test_per_call_timeout_follows_the_timeout_settings_rule_for_true() -> None:
    """TIMEOUT=True is E006; timeout=True per call was silently one second."""
    _one_error("django_cachepolicy.E006", "TIMEOUT = True", TIMEOUT=True)


def test_real_numbers_stay_valid_per_call_timeouts(backend: PolicyCache) -> None:
    for timeout in (10, 2.5, Fraction(3, 2), None, 0, -1):
        backend.set("k", 1, timeout=timeout)
    backend.set("k", 1, timeout=Fraction(3, 2))
    ttl = backend.view.ttl(backend.make_key("k"))
    assert ttl is not None and 0 < ttl <= 1.5
