"""The options table (cachepolicy/options.py) is what the core validates with.

Every store option of the table is a ``CacheConfig`` field with the table's default, in the
table's order; every integer bound in the table is the bound the core enforces (the value at
the bound passes, one beyond it is a ConfigError naming the option); every fixed choice is
accepted and matches the registries'.
"""

from __future__ import annotations

import dataclasses

import pytest

from cachepolicy import REDIS_POLICIES, CacheConfig, ConfigError
from cachepolicy.eviction.registry import BUILTIN_POLICIES, EVICTION_MODES
from cachepolicy.expiry.registry import expiry_names
from cachepolicy.options import OPTION_BY_NAME, OPTIONS, TIERS, Option, options_for

STORE = options_for("memory", "store")


def test_store_options_are_the_config_fields_in_order() -> None:
    assert [option.name for option in STORE] == CacheConfig.option_names()


@pytest.mark.parametrize("option", STORE, ids=lambda option: option.name)
def test_config_default_is_the_tables(option: Option) -> None:
    field = {f.name: f for f in dataclasses.fields(CacheConfig)}[option.name]
    assert field.default == option.default
    assert getattr(CacheConfig(), option.name) == option.default


def test_rows_are_well_formed() -> None:
    names = [option.name for option in OPTIONS]
    assert len(names) == len(set(names))
    for attribute in ("django_key", "flask_key"):
        keys = [getattr(o, attribute) for o in OPTIONS if getattr(o, attribute) is not None]
        assert len(keys) == len(set(keys)), attribute
    for option in OPTIONS:
        assert option.meaning.endswith(".") and option.accepts.endswith("."), option.name
        assert set(option.applies_to) <= set(TIERS), option.name
        assert option.django_key is None or option.django_key == option.django_key.upper()
        assert option.flask_key is None or option.flask_key.startswith("CACHE_")
        if option.low is not None and option.high is not None:
            assert option.low <= option.high, option.name
    assert set(OPTION_BY_NAME) == set(names)


def test_options_for_filters_by_tier_and_scope() -> None:
    assert options_for("memory") == tuple(o for o in OPTIONS if "memory" in o.applies_to)
    assert options_for("redis") == tuple(o for o in OPTIONS if "redis" in o.applies_to)
    assert set(options_for("memory")) | set(options_for("redis")) == set(OPTIONS)
    assert all(option.scope == "view" for option in options_for("memory", "view"))
    with pytest.raises(ValueError, match="Unknown tier 'nope'"):
        options_for("nope")


BOUNDED = [o for o in STORE if o.low is not None and o.high is not None]


@pytest.mark.parametrize("option", BOUNDED, ids=lambda option: option.name)
def test_bounds_are_the_ones_enforced(option: Option) -> None:
    assert option.low is not None and option.high is not None
    lowest = option.low
    if option.name == "maxmemory":
        assert CacheConfig(maxmemory=0).maxmemory == 0  # 0 = no limit, then MIN_MAXMEMORY..
    else:
        assert getattr(CacheConfig(**{option.name: lowest}), option.name) == lowest
    assert getattr(CacheConfig(**{option.name: option.high}), option.name) == option.high
    for beyond in (option.low - 1, option.high + 1):
        with pytest.raises(ConfigError) as caught:
            CacheConfig(**{option.name: beyond})
        assert caught.value.option == option.name


@pytest.mark.parametrize("option", [o for o in STORE if o.choices], ids=lambda o: o.name)
def test_every_choice_is_accepted(option: Option) -> None:
    for choice in option.choices:
        CacheConfig(**{option.name: choice})
    with pytest.raises(ConfigError) as caught:
        CacheConfig(**{option.name: "no such value"})
    assert caught.value.option == option.name


def test_choices_match_the_registries() -> None:
    assert OPTION_BY_NAME["maxmemory_policy"].choices == BUILTIN_POLICIES
    assert BUILTIN_POLICIES[: len(REDIS_POLICIES)] == REDIS_POLICIES
    assert OPTION_BY_NAME["eviction_mode"].choices == EVICTION_MODES
    # The built-in strategies; tests may have registered more names after them.
    builtin = OPTION_BY_NAME["expiry"].choices
    assert expiry_names()[: len(builtin)] == list(builtin)


def test_every_store_option_is_validated() -> None:
    """A wrong type for any store option is a ConfigError naming it, never accepted."""
    for option in STORE:
        with pytest.raises(ConfigError) as caught:
            CacheConfig(**{option.name: "no such value"})
        assert caught.value.option == option.name
