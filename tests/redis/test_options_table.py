"""The Redis tier's options agree with the options table (cachepolicy/options.py): the Redis
parser's names, defaults and choices, the near cache's defaults and bounds, the Flask Redis
backend's keys and docs, and Django's E201 hints.

Here, not beside the in-process table tests, because every ``cachepolicy.redis`` module
imports redis-py: the ``[django]`` and ``[flask]`` extras (scripts/test_extras.sh) and the
Django 4.2 run do not install it; this directory's slice does.
"""

from __future__ import annotations

import pytest

from cachepolicy import ConfigError
from cachepolicy.options import OPTION_BY_NAME, Option, options_for

STORE = options_for("memory", "store")
REDIS_STORE = options_for("redis", "store")
URL = "redis://127.0.0.1:1/0"  # parsing only: nothing connects


def _redis_options(option: Option, value: object) -> dict[str, object]:
    options: dict[str, object] = {option.name: value}
    if option.name.startswith("near_cache_"):
        options["near_cache"] = True  # its companions are refused without it
    return options


def test_the_redis_parser_accepts_exactly_the_redis_store_rows() -> None:
    from cachepolicy.flight import StampedeSettings
    from cachepolicy.options import OPTION_BY_NAME
    from cachepolicy.redis.settings import REDIS_OPTIONS, parse_redis_settings

    # The store rows, and get_or_set's (view rows the Redis backends take per alias).
    stampede = StampedeSettings.option_names()
    assert (*(option.name for option in REDIS_STORE), *stampede) == REDIS_OPTIONS
    assert all("redis" in OPTION_BY_NAME[name].applies_to for name in stampede)
    for option in STORE:
        if option in REDIS_STORE:
            continue
        with pytest.raises(ConfigError, match="cannot be used with a Redis server") as caught:
            parse_redis_settings(URL, {option.name: option.default})
        assert caught.value.option == option.name


@pytest.mark.parametrize(
    "option", [o for o in REDIS_STORE if o.default is not None], ids=lambda o: o.name
)
def test_a_redis_rows_default_is_accepted_and_is_the_default(option: Option) -> None:
    """Every default is valid; a Redis-only option left out means its default. (A memory
    option left out leaves the server's own value: it is then neither set nor checked.)"""
    from cachepolicy.redis.settings import parse_redis_settings

    explicit = parse_redis_settings(URL, {"near_cache": True, option.name: option.default})
    if option.applies_to == ("redis",):
        assert parse_redis_settings(URL, {"near_cache": True}) == explicit, option.name


@pytest.mark.parametrize(
    "option", [o for o in REDIS_STORE if o.choices and o.applies_to == ("redis",)], ids=str
)
def test_every_redis_choice_is_accepted_and_others_refused(option: Option) -> None:
    from cachepolicy.redis.settings import parse_redis_settings

    for choice in option.choices:
        parse_redis_settings(URL, _redis_options(option, choice))
    with pytest.raises(ConfigError):
        parse_redis_settings(URL, _redis_options(option, "no such value"))


def test_the_near_cache_reads_its_defaults_and_bounds_from_the_table() -> None:
    from cachepolicy.redis.near import NEAR_MODES, NearCacheConfig

    config = NearCacheConfig()
    assert config.staleness == OPTION_BY_NAME["near_cache_staleness"].default
    assert config.mode == OPTION_BY_NAME["near_cache_mode"].default
    assert OPTION_BY_NAME["near_cache_mode"].choices == NEAR_MODES
    # The bounds the table's sentence names are the ones enforced.
    assert "0.01 to 3600" in OPTION_BY_NAME["near_cache_staleness"].accepts
    NearCacheConfig(staleness=0.01)
    NearCacheConfig(staleness=3600)
    for beyond in (0.0099, 3600.5):
        with pytest.raises(ConfigError):
            NearCacheConfig(staleness=beyond)


def test_the_redis_backends_own_keys_come_from_the_table() -> None:
    from flask_cachepolicy import redis_backend
    from flask_cachepolicy.settings import NEAR_KEYS

    own = [o for o in options_for("redis", "store") if o.applies_to == ("redis",)]
    assert {o.name: o.flask_key for o in own if o.flask_key} == NEAR_KEYS
    doc = redis_backend.__doc__ or ""
    for option in own:  # each documented: by its Flask key, or its CACHE_OPTIONS name
        name = "lazyfree_lazy_*" if option.name.startswith("lazyfree_lazy_") else option.name
        assert f"``{option.flask_key or name}``" in doc, option.name


REDIS_IN_OPTIONS = [o for o in options_for("redis") if o.django_key and o.django_in_options]


@pytest.mark.parametrize(
    "option", [o for o in REDIS_IN_OPTIONS if o.applies_to == ("redis",)], ids=lambda o: o.name
)
def test_a_bad_redis_option_is_e201_with_the_tables_hint(option: Option) -> None:
    from django_cachepolicy.redis_backend import E_INVALID, check_redis_caches

    assert option.django_key is not None
    options: dict[str, object] = {option.django_key: object()}  # no option accepts an object
    if option.name.startswith("near_cache_"):
        options["NEAR_CACHE"] = True
    caches = {
        "default": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # never reached: the settings are invalid
            "OPTIONS": options,
        }
    }
    [message] = check_redis_caches(caches)
    assert message.id == E_INVALID
    assert message.hint == option.accepts
