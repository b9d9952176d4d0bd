"""Hostile Flask settings and arguments (issue 11, defects 6, 7 and 9).

Every bad ``CACHE_*`` value stops the application at ``Cache(app)`` with a ``ConfigError`` that
names the Flask key the user typed (never a raw ``ValueError``/``OverflowError`` from inside),
with a message of bounded length; lower-case keys, which Flask and Flask-Caching ignore, are
never ignored silently; and the backend's ``serializer`` is what Flask-Caching's contract says.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from cachelib.serializers import JSONSerializer, SimpleSerializer
from flask import Flask
from flask_cachepolicy import PolicyCache
from flask_cachepolicy.backend import CoreSerializer
from flask_caching import Cache

from cachepolicy import ConfigError

MakeApp = Callable[..., tuple[Flask, Cache]]
MakeBackend = Callable[..., PolicyCache]


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise pickle.PicklingError("cannot pickle")


def _startup_error(**config: Any) -> ConfigError:
    app = Flask(__name__)
    app.config.update(CACHE_TYPE="flask_cachepolicy.PolicyCache", **config)
    with pytest.raises(ConfigError) as caught:
        Cache(app)
    # Short: the hostile value cut to 80 characters (twice, for an unknown name) beside the
    # list of valid options (about 350 characters with the recorder's four).
    assert len(str(caught.value)) < 600, str(caught.value)
    return caught.value


# ---------------------------------------------------------------- errors name the key (defect 6)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"CACHE_HZ": "--5"}, "CACHE_HZ"),
        ({"CACHE_HZ": "²"}, "CACHE_HZ"),
        ({"CACHE_MAXMEMORY_SAMPLES": float("inf")}, "CACHE_MAXMEMORY_SAMPLES"),
        ({"CACHE_ACTIVE_EXPIRE_EFFORT": "1e3"}, "CACHE_ACTIVE_EXPIRE_EFFORT"),
        ({"CACHE_LFU_LOG_FACTOR": 10**400}, "CACHE_LFU_LOG_FACTOR"),
        ({"CACHE_LFU_DECAY_TIME": "9" * 400}, "CACHE_LFU_DECAY_TIME"),
        ({"CACHE_DATABASES": 10**400}, "CACHE_DATABASES"),
        ({"CACHE_CULL_FREQUENCY": 10**400}, "CACHE_CULL_FREQUENCY"),
        ({"CACHE_MAXMEMORY": "9" * 400}, "CACHE_MAXMEMORY"),
        ({"CACHE_MAXMEMORY": 10**400}, "CACHE_MAXMEMORY"),
        ({"CACHE_MAXMEMORY": 1}, "CACHE_MAXMEMORY"),
        ({"CACHE_LAZYFREE_THRESHOLD": "9" * 400}, "CACHE_LAZYFREE_THRESHOLD"),
        ({"CACHE_MAXMEMORY_POLICY": "."}, "CACHE_MAXMEMORY_POLICY"),
        ({"CACHE_MAXMEMORY_POLICY": ".."}, "CACHE_MAXMEMORY_POLICY"),
        ({"CACHE_EXPIRY": "."}, "CACHE_EXPIRY"),
        ({"CACHE_EXPIRY": ".."}, "CACHE_EXPIRY"),
        ({"CACHE_OPTIONS": {"hz": "--5"}}, "CACHE_OPTIONS['hz']"),
        ({"CACHE_OPTIONS": {"serializer": ".."}}, "CACHE_OPTIONS['serializer']"),
        ({"CACHE_OPTIONS": {"maxmemory": "9" * 400}}, "CACHE_OPTIONS['maxmemory']"),
        ({"CACHE_THRESHOLD": 10**400}, "CACHE_THRESHOLD"),
        ({"CACHE_DEFAULT_TIMEOUT": float("inf")}, "CACHE_DEFAULT_TIMEOUT"),
        ({"CACHE_DEFAULT_TIMEOUT": 10**400}, "CACHE_DEFAULT_TIMEOUT"),
        ({"CACHE_CACHEPOLICY_DB": 10**400}, "CACHE_CACHEPOLICY_DB"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_hostile_values_are_config_errors_naming_the_flask_key(
    config: dict[str, Any], key: str
) -> None:
    error = _startup_error(**config)
    assert key in str(error)
    assert error.option == key


def test_hostile_option_names_in_cache_options_are_short_errors() -> None:
    error = _startup_error(CACHE_OPTIONS={"x" * 100_000: 1})
    assert "CACHE_OPTIONS[" in str(error)


# ---------------------------------------------------------------- per-call timeouts (defect 7)


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        (float("inf"), ValueError),
        (10**400, ValueError),
        (float("nan"), ValueError),
        (True, TypeError),
        ("10", TypeError),
    ],
    ids=repr,
)
def test_bad_per_call_timeouts_raise_and_leave_the_cache_unchanged(
    make_backend: MakeBackend, timeout: Any, error: type[Exception]
) -> None:
    cache = make_backend()
    cache.set("k", "old")
    with pytest.raises(error, match="timeout"):
        cache.set("k", "new", timeout=timeout)
    with pytest.raises(error, match="timeout"):
        cache.add("fresh", 1, timeout=timeout)
    with pytest.raises(error, match="timeout"):
        cache.set_many({"k": "new"}, timeout=timeout)
    assert cache.get("k") == "old" and not cache.has("fresh")


# ---------------------------------------------------------------- lower-case keys (defect 7)


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("cache_maxmemory", "CACHE_MAXMEMORY"),
        ("Cache_Maxmemory_Policy", "CACHE_MAXMEMORY_POLICY"),
        ("cache_default_timeout", "CACHE_DEFAULT_TIMEOUT"),
        ("cache_cachepolicy_location", "CACHE_CACHEPOLICY_LOCATION"),
        ("cache_maxmemory_polcy", "CACHE_MAXMEMORY_POLICY"),
    ],
)
def test_lower_case_keys_are_not_ignored_silently(make_app: MakeApp, key: str, meant: str) -> None:
    with pytest.warns(UserWarning, match=rf"'{key}' is ignored.*Did you mean {meant}\?"):
        app, cache = make_app(**{key: "allkeys-lfu"})
    # Ignored, as Flask-Caching ignores it: the upper-case key's default applies.
    assert app.extensions["cache"][cache].core.config.maxmemory_policy == "allkeys-lru"


def test_unrelated_lower_case_keys_pass_quietly(make_app: MakeApp) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_app(cache_views_for_anonymous_users=True, CACHE_MAXMEMORY="1mb")


# ---------------------------------------------------------------- serializer contract (defect 9)


def test_default_serializer_is_a_cachelib_simple_serializer(make_app: MakeApp) -> None:
    """Flask-Caching's test_default_keeps_the_cachelib_serializer: it was None."""
    app, cache = make_app()
    backend = app.extensions["cache"][cache]
    assert isinstance(backend.serializer, SimpleSerializer)
    assert isinstance(PolicyCache().serializer, SimpleSerializer)


def test_default_serializer_pickles_once_in_the_core(make_backend: MakeBackend) -> None:
    cache = make_backend()
    serializer = cache.serializer
    assert isinstance(serializer, CoreSerializer)
    cache.set("k", {"a": [1, 2]})
    # The core holds the value itself (it pickled it once), not bytes pickled by the adapter.
    assert cache.core.get(cache.make_key("k")) == {"a": [1, 2]}
    payload = serializer.dumps({"a": [1, 2]})
    assert payload is not None and serializer.loads(payload) == {"a": [1, 2]}
    # cachelib's convention: a pickle error is logged and gives None (others propagate).
    assert serializer.dumps(_Unpicklable()) is None
    assert SimpleSerializer().dumps(_Unpicklable()) is None


def test_assigning_a_serializer_and_none_restores_the_default(make_backend: MakeBackend) -> None:
    cache = make_backend()
    default = cache.serializer
    json = JSONSerializer()
    cache.serializer = json
    assert cache.serializer is json
    cache.set("j", {"a": 1})
    assert cache.core.get(cache.make_key("j")) == b'{"a": 1}'
    cache.serializer = None  # type: ignore[assignment]
    assert cache.serializer is default
    cache.serializer = default
    cache.set("k", [1])
    assert cache.core.get(cache.make_key("k")) == [1] and cache.get("k") == [1]


# ---------------------------------------------------------------- issue 23, item 8


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"CACHE_CACHEPOLICY_SIGNALS": 5}, "CACHE_CACHEPOLICY_SIGNALS"),
        ({"CACHE_CACHEPOLICY_SIGNALS": object()}, "CACHE_CACHEPOLICY_SIGNALS"),
        ({"CACHE_CACHEPOLICY_CLOCK": "manual"}, "CACHE_CACHEPOLICY_CLOCK"),
        ({"CACHE_CACHEPOLICY_CLOCK": 5}, "CACHE_CACHEPOLICY_CLOCK"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_signals_and_clock_of_the_wrong_type_are_config_errors_naming_the_key(
    config: dict[str, Any], key: str
) -> None:
    error = _startup_error(**config)
    assert key in str(error)
    assert error.option == key
