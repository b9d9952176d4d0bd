"""The Django adapter's options, checks and docs agree with the options table.

``STORE_OPTIONS``/``ALIAS_OPTIONS``, check ids and hints are derived from
:mod:`cachepolicy.options`; these tests pin that, and check the parts that are prose (the option
table in ``django_cachepolicy.options``' docstring, the check table in ``checks``') against it.
"""

from __future__ import annotations

import re

import django_cachepolicy.checks as checks
import django_cachepolicy.options as django_options
import pytest
from django_cachepolicy.options import (
    ALIAS_OPTIONS,
    E_INVALID_VALUE,
    OUT_OF_MEMORY_ACTIONS,
    STORE_OPTIONS,
    validate_alias,
)

from cachepolicy.options import OPTION_BY_NAME, Option, options_for

IN_OPTIONS = [o for o in options_for("memory") if o.django_key and o.django_in_options]


def test_store_and_alias_options_come_from_the_table() -> None:
    store = [o for o in IN_OPTIONS if o.scope == "store"]
    assert dict(STORE_OPTIONS) == {o.django_key: o.name for o in store}
    assert [o.django_key for o in IN_OPTIONS if o.scope == "view"] == list(ALIAS_OPTIONS)
    assert set(OUT_OF_MEMORY_ACTIONS) == set(OPTION_BY_NAME["on_out_of_memory"].choices)
    assert OPTION_BY_NAME["location"].django_check == django_options.E_INVALID_LOCATION
    assert OPTION_BY_NAME["timeout"].django_check == django_options.E_INVALID_TIMEOUT


def test_docstring_table_lists_every_option() -> None:
    doc = django_options.__doc__ or ""
    # The table's rows: a key in double back-quotes, then two spaces or more.
    listed = re.findall(r"^``([A-Z_]+)``  ", doc, flags=re.MULTILINE)
    assert sorted(listed) == sorted(o.django_key for o in IN_OPTIONS if o.django_key)


def test_checks_docstring_lists_every_check_id() -> None:
    doc = checks.__doc__ or ""
    listed = set(re.findall(r"django_cachepolicy\.[EW]\d{3}", doc))
    ids = {o.django_check for o in options_for("memory") if o.django_check}
    ids |= {
        value
        for module in (checks, django_options)
        for name, value in vars(module).items()
        if re.fullmatch(r"[EW]_[A-Z_]+", name) and isinstance(value, str)
    }
    assert ids <= listed


@pytest.mark.parametrize("option", [o for o in IN_OPTIONS if o.scope == "store"], ids=str)
def test_a_bad_value_is_reported_with_the_tables_id_and_hint(option: Option) -> None:
    assert option.django_key is not None
    params = {"OPTIONS": {option.django_key: "no such value"}}
    options, errors = validate_alias("default", "loc", params)
    assert options is None
    [error] = errors
    assert error.check_id == (option.django_check or E_INVALID_VALUE)
    assert error.hint == option.accepts
    assert option.django_key in error.message


@pytest.mark.parametrize(
    ("key", "value", "name"),
    [("DATABASE", 99, "db"), ("ON_OUT_OF_MEMORY", "never", "on_out_of_memory")],
)
def test_alias_option_hints_are_the_tables(key: str, value: object, name: str) -> None:
    _, [error] = validate_alias("default", "loc", {"OPTIONS": {key: value}})
    assert error.hint == OPTION_BY_NAME[name].accepts


def test_location_hint_is_the_tables() -> None:
    _, [error] = validate_alias("default", ["a"], {})
    assert error.hint == OPTION_BY_NAME["location"].accepts
