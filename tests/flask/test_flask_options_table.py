"""The Flask adapter's keys and docs agree with the options table (cachepolicy/options.py)."""

from __future__ import annotations

import inspect
import re

import flask_cachepolicy
from flask_cachepolicy import PolicyCache
from flask_cachepolicy.settings import ADAPTER_KEYS, CORE_KEYS, FLASK_CACHING_KEYS

from cachepolicy.options import options_for


def test_keys_come_from_the_table() -> None:
    ours = [o for o in options_for("memory") if o.flask_key and not o.flask_native]
    assert {o.name: o.flask_key for o in ours if o.scope == "store"} == CORE_KEYS
    assert {o.name: o.flask_key for o in ours if o.scope == "view"} == ADAPTER_KEYS
    native = {o.flask_key for o in options_for("memory") if o.flask_native}
    assert native <= FLASK_CACHING_KEYS


def test_view_options_are_backend_arguments_with_the_tables_defaults() -> None:
    parameters = inspect.signature(PolicyCache).parameters
    for option in options_for("memory", "view"):
        if option.flask_key is None:
            continue
        name = {"timeout": "default_timeout", "max_entries": "threshold"}.get(
            option.name, option.name
        )
        assert name in parameters, option.name
        assert parameters[name].default == option.default, option.name


def test_package_docstring_lists_every_flask_key() -> None:
    doc = flask_cachepolicy.__doc__ or ""
    listed = set(re.findall(r"^``(CACHE_[A-Z_]+)``", doc, flags=re.MULTILINE))
    keys = {o.flask_key for o in options_for("memory") if o.flask_key}
    keys.discard("CACHE_DEFAULT_TIMEOUT")  # shown in the configuration example above it
    assert keys <= listed
