"""System checks: every invalid configuration fails ``check`` with a stable id and a hint."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django_cachepolicy.checks import check_caches, policy_aliases

BACKEND = "django_cachepolicy.PolicyCache"


def _run(**aliases: dict[str, Any]) -> list[Any]:
    caches = {name: {"BACKEND": BACKEND, **params} for name, params in aliases.items()}
    with override_settings(CACHES=caches):
        return check_caches()


def _only(messages: list[Any]) -> Any:
    assert len(messages) == 1, messages
    return messages[0]


def test_valid_configuration_has_no_messages() -> None:
    store_options = {
        "MAXMEMORY": "64mb",
        "MAXMEMORY_POLICY": "allkeys-lfu",
        "MAXMEMORY_SAMPLES": 10,
        "EVICTION_MODE": "sampled",
        "EXPIRY": "lazy",
        "HZ": 10,
        "ACTIVE_EXPIRE_EFFORT": 3,
        "LFU_LOG_FACTOR": 10,
        "LFU_DECAY_TIME": 1,
        "MAX_ENTRIES": 1000,
        "CULL_FREQUENCY": 4,
    }
    assert (
        _run(
            default={
                "LOCATION": "main",
                "TIMEOUT": 60,
                "OPTIONS": {**store_options, "ON_OUT_OF_MEMORY": "drop"},
            },
            # Same store options, the size spelled differently, another database: no conflict.
            sessions={
                "LOCATION": "main",
                "TIMEOUT": None,
                "OPTIONS": {**store_options, "MAXMEMORY": 64 * 1024 * 1024, "DATABASE": 1},
            },
        )
        == []
    )


def test_unknown_policy_is_e001_with_suggestion() -> None:
    error = _only(_run(default={"OPTIONS": {"MAXMEMORY_POLICY": "allkeys-lur"}}))
    assert isinstance(error, Error)
    assert error.id == "django_cachepolicy.E001"
    assert "allkeys-lur" in error.msg and "allkeys-lru" in error.msg
    assert "volatile-ttl" in (error.hint or "")
    assert error.obj == "CACHES['default']"


@pytest.mark.parametrize("size", ["64 megabytes", "-1", "1.5.2gb", True])
def test_malformed_memory_size_is_e002(size: Any) -> None:
    error = _only(_run(default={"OPTIONS": {"MAXMEMORY": size}}))
    assert error.id == "django_cachepolicy.E002"
    assert "MAXMEMORY" in error.msg and "'100mb'" in error.hint


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("MAXMEMORY_POLICI", "MAXMEMORY_POLICY"), ("maxmemory-policy", "MAXMEMORY_POLICY")],
)
def test_unknown_option_is_e003_with_suggestion(key: str, suggestion: str) -> None:
    error = _only(_run(default={"OPTIONS": {key: "allkeys-lru"}}))
    assert error.id == "django_cachepolicy.E003"
    assert f"Did you mean {suggestion!r}?" in error.msg
    assert "ON_OUT_OF_MEMORY" in error.hint


@pytest.mark.parametrize("effort", [0, 11, "high"])
def test_effort_out_of_range_is_e004(effort: Any) -> None:
    error = _only(_run(default={"OPTIONS": {"ACTIVE_EXPIRE_EFFORT": effort}}))
    assert error.id == "django_cachepolicy.E004"
    assert "1 (Redis's default) to 10" in error.hint


def test_conflicting_aliases_on_one_location_are_e005() -> None:
    error = _only(
        _run(
            default={"LOCATION": "shared", "OPTIONS": {"MAXMEMORY": "64mb"}},
            other={"LOCATION": "shared", "OPTIONS": {"MAXMEMORY": "32mb", "DATABASE": 2}},
            elsewhere={"LOCATION": "own", "OPTIONS": {"MAXMEMORY": "1mb"}},
        )
    )
    assert error.id == "django_cachepolicy.E005"
    assert "'default' and 'other' share LOCATION 'shared'" in error.msg
    assert "maxmemory is 67108864 for 'default' but 33554432 for 'other'" in error.msg
    assert "DATABASE" in error.hint


@pytest.mark.parametrize("timeout", ["five minutes", [], True])
def test_bad_timeout_is_e006(timeout: Any) -> None:
    error = _only(_run(default={"TIMEOUT": timeout}))
    assert error.id == "django_cachepolicy.E006"
    assert repr(timeout) in error.msg


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"MAXMEMORY_SAMPLES": 0}, "MAXMEMORY_SAMPLES"),
        ({"EVICTION_MODE": "approximate"}, "EVICTION_MODE"),
        ({"DATABASE": 16}, "DATABASE"),
        ({"DATABASE": "1"}, "DATABASE"),
        ({"ON_OUT_OF_MEMORY": "ignore"}, "ON_OUT_OF_MEMORY"),
        ({"MAX_ENTRIES": 0}, "MAX_ENTRIES"),
    ],
)
def test_other_bad_values_are_e007(options: dict[str, Any], needle: str) -> None:
    error = _only(_run(default={"OPTIONS": options}))
    assert error.id == "django_cachepolicy.E007"
    assert needle in error.msg
    assert error.msg.endswith((".", "?"))


def test_every_problem_of_an_alias_is_reported() -> None:
    messages = _run(
        default={
            "TIMEOUT": "never",
            "OPTIONS": {"MAXMEMORY": "lots", "MAXMEMORY_POLICY": "lru", "TYPO": 1},
        }
    )
    assert sorted(m.id for m in messages) == [
        "django_cachepolicy.E001",
        "django_cachepolicy.E002",
        "django_cachepolicy.E003",
        "django_cachepolicy.E006",
    ]


def test_cull_frequency_without_max_entries_is_w001() -> None:
    warning = _only(_run(default={"OPTIONS": {"CULL_FREQUENCY": 2}}))
    assert isinstance(warning, Warning)
    assert warning.id == "django_cachepolicy.W001"


def test_other_backends_are_ignored() -> None:
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "policy": {"BACKEND": BACKEND},
        "broken": {"BACKEND": "no.such.Backend"},
    }
    with override_settings(CACHES=caches):
        assert policy_aliases() == ["policy"]
        assert check_caches() == []


def test_manage_py_check_fails_at_start_up() -> None:
    """The app registers the check: ``manage.py check`` (and runserver) refuse to start."""
    caches = {"default": {"BACKEND": BACKEND, "OPTIONS": {"MAXMEMORY_POLICY": "allkeys-lur"}}}
    with override_settings(CACHES=caches), pytest.raises(SystemCheckError, match="E001"):
        call_command("check")


def test_max_entries_under_noeviction_is_w002() -> None:
    """Django culls at MAX_ENTRIES; under noeviction a full cache refuses the write instead."""
    warning = _only(
        _run(default={"OPTIONS": {"MAX_ENTRIES": 100, "MAXMEMORY_POLICY": "noeviction"}})
    )
    assert warning.id == "django_cachepolicy.W002"
    assert "OutOfMemoryError" in warning.msg
    assert "ON_OUT_OF_MEMORY" in warning.hint
    assert _run(default={"OPTIONS": {"MAX_ENTRIES": 100}}) == []
    assert _run(default={"OPTIONS": {"MAXMEMORY_POLICY": "noeviction"}}) == []


def test_exact_mode_of_a_policy_without_an_exact_class_is_a_check_error() -> None:
    """Issue 23 item 13: a policy registered without an exact class, in exact mode."""
    from cachepolicy import SampledPolicy, register_policy
    from cachepolicy.eviction import unregister_policy

    class Biggest(SampledPolicy):
        name = "allkeys-biggest"

    register_policy("allkeys-biggest", Biggest)
    try:
        options = {"MAXMEMORY_POLICY": "allkeys-biggest", "EVICTION_MODE": "exact"}
        error = _only(_run(default={"OPTIONS": options}))
        assert isinstance(error, Error)
        assert error.id.startswith("django_cachepolicy.E")
        assert "OPTIONS['EVICTION_MODE']" in error.msg and "'allkeys-biggest'" in error.msg
        assert "register_policy('allkeys-biggest', Biggest, exact=" in error.msg
        assert _run(default={"OPTIONS": {"MAXMEMORY_POLICY": "allkeys-biggest"}}) == []
    finally:
        unregister_policy("allkeys-biggest")
