"""Reading ``CACHE_*`` Flask settings into :class:`~flask_cachepolicy.PolicyCache` arguments.

Flask-Caching hands a backend's ``factory`` the merged configuration and the keyword arguments
it built from ``CACHE_DEFAULT_TIMEOUT``, ``CACHE_IGNORE_ERRORS`` and ``CACHE_OPTIONS``. Users
can set every cachepolicy option either way:

* as a top-level key: the core option's name in upper case with a ``CACHE_`` prefix
  (``CACHE_MAXMEMORY``, ``CACHE_MAXMEMORY_POLICY``, ``CACHE_EXPIRY``, ...), or
* inside ``CACHE_OPTIONS``, which every Flask-Caching backend receives as constructor keyword
  arguments, so ``CACHE_OPTIONS={"maxmemory": "64mb"}`` means ``PolicyCache(maxmemory="64mb")``.

Giving one option both ways with different values is an error rather than a silent precedence
rule. Two core options are spelled the Flask way instead: the entry bound ``max_entries`` is
Flask-Caching's ``CACHE_THRESHOLD``, and ``CACHE_SERIALIZER`` keeps Flask-Caching's meaning (a
cachelib serializer object), so the core's ``serializer`` can only be set in ``CACHE_OPTIONS``.

Keys are upper case, as everywhere in Flask: ``Config.from_object``, ``from_pyfile`` and
``from_mapping`` skip lower-case names, and Flask-Caching reads only ``CACHE_*``. A lower-case
spelling of one of these keys (``cache_maxmemory``, set with ``app.config[...]`` or
``update()``) is therefore ignored as Flask-Caching ignores it, but never silently: a
``UserWarning`` names it and the upper-case key it was probably meant as
(:func:`warn_lower_case_keys`). Accepting it instead would make ``cache_type`` the one
lower-case key that still did nothing, since Flask-Caching picks the backend before we run.

Validation itself is the core's (:meth:`cachepolicy.CacheConfig.from_options`), so messages,
valid choices and "did you mean" suggestions are identical to the Django adapter's. This module
only remembers which Flask key supplied each option, so that :func:`flask_key_for` can put the
key the user actually typed into the error.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any

from cachepolicy import ConfigError
from cachepolicy.errors import short_repr
from cachepolicy.options import options_for

__all__ = [
    "ADAPTER_KEYS",
    "CORE_KEYS",
    "FLASK_CACHING_KEYS",
    "NEAR_KEYS",
    "backend_kwargs_from_flask",
    "flask_key_for",
    "normalize_option_name",
    "warn_lower_case_keys",
]

#: Core option -> top-level Flask key, from the one options table (:mod:`cachepolicy.options`).
#: ``max_entries`` (Flask-Caching's own ``CACHE_THRESHOLD``) and ``serializer`` (no key of its
#: own) are deliberately absent (see the module docstring).
CORE_KEYS: dict[str, str] = {
    option.name: option.flask_key
    for option in options_for("memory", "store")
    if option.flask_key is not None and not option.flask_native
}

#: Adapter argument -> top-level Flask key. These are not core options: they choose *which*
#: store a backend uses and how it reports, so they carry a ``CACHEPOLICY`` namespace that
#: cannot collide with a future Flask-Caching setting.
ADAPTER_KEYS: dict[str, str] = {
    option.name: option.flask_key
    for option in options_for("memory", "view")
    if option.flask_key is not None and not option.flask_native
}

#: The Redis backend's own options with a top-level Flask key (the near cache's) -> that key,
#: from the options table (read by ``flask_cachepolicy.RedisPolicyCache`` only; listed here
#: so that a misspelling is caught).
NEAR_KEYS: dict[str, str] = {
    option.name: option.flask_key
    for option in options_for("redis", "store")
    if option.flask_key is not None and "memory" not in option.applies_to
}

#: Keys Flask-Caching itself (or one of its other backends) reads. They are never reported as
#: typos of ours, however close the spelling.
FLASK_CACHING_KEYS: frozenset[str] = frozenset(
    {
        "CACHE_ARGS",
        "CACHE_DEFAULT_TIMEOUT",
        "CACHE_DIR",
        "CACHE_ENABLE_SIGNALS",
        "CACHE_FILE_HASH_METHOD",
        "CACHE_HASH_METHOD",
        "CACHE_IGNORE_ERRORS",
        "CACHE_KEY_PREFIX",
        "CACHE_MEMCACHED_PASSWORD",
        "CACHE_MEMCACHED_SERVERS",
        "CACHE_MEMCACHED_USERNAME",
        "CACHE_NO_NULL_WARNING",
        "CACHE_OPTIONS",
        "CACHE_REDIS_CLUSTER",
        "CACHE_REDIS_DB",
        "CACHE_REDIS_HOST",
        "CACHE_REDIS_PASSWORD",
        "CACHE_REDIS_PORT",
        "CACHE_REDIS_SENTINEL_MASTER",
        "CACHE_REDIS_SENTINEL_PASSWORD",
        "CACHE_REDIS_SENTINELS",
        "CACHE_REDIS_URL",
        "CACHE_SERIALIZER",
        "CACHE_SOURCE_CHECK",
        "CACHE_THRESHOLD",
        "CACHE_TYPE",
        "CACHE_UWSGI_NAME",
    }
)

# How close an unknown ``CACHE_*`` key must be to one of ours to be reported as a typo. High on
# purpose: other extensions may own ``CACHE_*`` keys too, and only near-misses such as
# ``CACHE_MAXMEMORY_POLCY`` should stop the application from starting.
_TYPO_CUTOFF = 0.85

# Keyword arguments that ``CACHE_OPTIONS`` may not carry, with the Flask key to use instead:
# Flask-Caching always fills these keys with a default (``CACHE_THRESHOLD=500``,
# ``CACHE_KEY_PREFIX="flask_cache_"``), so a second spelling could only ever conflict.
_FLASK_OWNED_OPTIONS: dict[str, str] = {
    "max_entries": "CACHE_THRESHOLD",
    "threshold": "CACHE_THRESHOLD",
    "key_prefix": "CACHE_KEY_PREFIX",
}
# ``CACHE_OPTIONS`` entries that Flask-Caching itself merges into ``kwargs`` (they override
# ``CACHE_DEFAULT_TIMEOUT``/``CACHE_IGNORE_ERRORS`` there), so they were read already.
_MERGED_BY_FLASK_CACHING = frozenset({"default_timeout", "ignore_delete_many_errors"})


def normalize_option_name(name: str) -> str:
    """Spell an option the way the core's ``from_options`` does: lower case, ``_`` for ``-``."""
    return name.strip().lower().replace("-", "_")


def backend_kwargs_from_flask(
    config: Mapping[str, Any], args: list[Any], kwargs: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn Flask-Caching's ``factory`` arguments into ``PolicyCache`` keyword arguments.

    :param config: the merged Flask-Caching configuration (all ``CACHE_*`` keys).
    :param args: ``CACHE_ARGS``; ``PolicyCache`` takes none, so anything here is an error.
    :param kwargs: ``default_timeout``, ``ignore_delete_many_errors`` and the entries of
        ``CACHE_OPTIONS``, as Flask-Caching built them.
    :returns: the constructor keyword arguments, and for each of them the Flask key (or
        ``CACHE_OPTIONS[...]`` entry) that supplied it, for error messages.
    :raises ConfigError: for ``CACHE_ARGS``, a misspelt ``CACHE_*`` key, an option given twice
        with different values, or an option that has a Flask key of its own.
    """
    if args:
        raise ConfigError(
            f"CACHE_ARGS={short_repr(args)} is not supported by flask_cachepolicy.PolicyCache, "
            "which takes keyword options only: put them in CACHE_OPTIONS or in CACHE_* keys.",
            option="CACHE_ARGS",
        )
    _reject_typos(config)
    warn_lower_case_keys(config)

    result: dict[str, Any] = {
        "default_timeout": kwargs.get("default_timeout", config.get("CACHE_DEFAULT_TIMEOUT")),
        "ignore_delete_many_errors": kwargs.get(
            "ignore_delete_many_errors", config.get("CACHE_IGNORE_ERRORS", False)
        ),
        "key_prefix": config.get("CACHE_KEY_PREFIX") or "",
        "threshold": config.get("CACHE_THRESHOLD"),
    }
    origins: dict[str, str] = {
        "default_timeout": "CACHE_DEFAULT_TIMEOUT",
        "ignore_delete_many_errors": "CACHE_IGNORE_ERRORS",
        "key_prefix": "CACHE_KEY_PREFIX",
        "threshold": "CACHE_THRESHOLD",
        "max_entries": "CACHE_THRESHOLD",
    }
    for name, key in (CORE_KEYS | ADAPTER_KEYS).items():
        if key in config and config[key] is not None:
            result[name] = config[key]
            origins[name] = key

    options = config.get("CACHE_OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(
            "CACHE_OPTIONS must be a dict of PolicyCache keyword arguments, not "
            f"{short_repr(options)}.",
            option="CACHE_OPTIONS",
        )
    for raw_name, value in options.items():
        name = normalize_option_name(str(raw_name))
        where = f"CACHE_OPTIONS[{short_repr(raw_name)}]"
        if name in _FLASK_OWNED_OPTIONS:
            raise ConfigError(
                f"{where} is not accepted: use Flask-Caching's {_FLASK_OWNED_OPTIONS[name]} "
                "setting instead (CACHE_THRESHOLD=0 means no entry bound).",
                option=where,
            )
        if name in _MERGED_BY_FLASK_CACHING:
            origins[name] = where
            continue
        if name in result and name in origins and not _same_option(name, result[name], value):
            raise ConfigError(
                f"The option {name!r} is set twice with different values: "
                f"{origins[name]}={short_repr(result[name])} and {where}={short_repr(value)}. "
                "Set it in one place.",
                option=where,
            )
        result[name] = value
        origins[name] = where
    return result, origins


def flask_key_for(option: str | None, origins: Mapping[str, str]) -> str | None:
    """Return the Flask key that supplied ``option`` (a name from a core ``ConfigError``)."""
    if option is None:
        return None
    if option in origins.values():
        return option
    return origins.get(normalize_option_name(option))


def _same_option(name: str, first: Any, second: Any) -> bool:
    """Whether two spellings of one option mean the same thing (``"1kb"`` and ``1024``)."""
    if first == second:
        return True
    if name in CORE_KEYS:
        from cachepolicy import CacheConfig

        try:
            return bool(
                CacheConfig.from_options({name: first}) == CacheConfig.from_options({name: second})
            )
        except ConfigError:
            return False
    return False


def _reject_typos(config: Mapping[str, Any]) -> None:
    """Refuse ``CACHE_*`` keys that nobody reads but that are one typo away from ours."""
    ours = [*CORE_KEYS.values(), *ADAPTER_KEYS.values(), *NEAR_KEYS.values()]
    known = FLASK_CACHING_KEYS.union(ours)
    for key in config:
        if not isinstance(key, str) or not key.startswith("CACHE_") or key in known:
            continue
        close = difflib.get_close_matches(key[:100], ours, n=1, cutoff=_TYPO_CUTOFF)
        if close:
            raise ConfigError(
                f"Unknown Flask setting {key[:100]}: cachepolicy does not read it. "
                f"Did you mean {close[0]}?",
                option=key,
            )


def warn_lower_case_keys(config: Mapping[str, Any]) -> None:
    """Warn about ``cache_*`` keys in any case but upper, which nothing reads (see above).

    A key whose upper-case form is a known key (ours or Flask-Caching's), or one typo away from
    one of ours, gets a ``UserWarning`` naming both spellings. Other lower-case ``cache_*`` keys
    may belong to the application and pass without a word.
    """
    ours = [*CORE_KEYS.values(), *ADAPTER_KEYS.values(), *NEAR_KEYS.values()]
    known = FLASK_CACHING_KEYS.union(ours)
    for key in config:
        if not isinstance(key, str) or key == key.upper():
            continue
        upper = key.upper()
        if not upper.startswith("CACHE_"):
            continue
        if upper in known:
            meant = upper
        else:
            close = difflib.get_close_matches(upper[:100], ours, n=1, cutoff=_TYPO_CUTOFF)
            if not close:
                continue
            meant = close[0]
        warnings.warn(
            f"Flask setting {short_repr(key)} is ignored: Flask and Flask-Caching read only "
            f"upper-case keys. Did you mean {meant}?",
            UserWarning,
            stacklevel=2,
        )
