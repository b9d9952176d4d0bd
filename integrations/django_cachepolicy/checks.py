"""System checks: invalid cachepolicy configuration fails ``manage.py check`` at start-up.

Django builds cache backends lazily, on the first ``caches[alias]``; without these checks a
typo in ``OPTIONS`` would surface on the first request that touches the cache. Each problem is
reported with a stable id, a full sentence naming the alias, the option and the value, and a
hint listing what is accepted:

=========================  ==============================================================
id                         problem
=========================  ==============================================================
django_cachepolicy.E001    unknown ``MAXMEMORY_POLICY``
django_cachepolicy.E002    malformed ``MAXMEMORY`` size
django_cachepolicy.E003    unknown ``OPTIONS`` key
django_cachepolicy.E004    ``ACTIVE_EXPIRE_EFFORT`` out of range (1..10)
django_cachepolicy.E005    two aliases share a ``LOCATION`` with conflicting store options
django_cachepolicy.E006    ``TIMEOUT`` is not a number of seconds or ``None``
django_cachepolicy.E007    any other invalid ``OPTIONS`` value
django_cachepolicy.E008    ``LOCATION`` is not a string
django_cachepolicy.E009    the alias could not be validated at all (a bug: please report it)
django_cachepolicy.W001    ``CULL_FREQUENCY`` without ``MAX_ENTRIES`` (it has no effect)
django_cachepolicy.W002    ``MAX_ENTRIES`` under ``noeviction``: a full cache refuses writes
django_cachepolicy.E201    invalid ``RedisPolicyCache`` settings
django_cachepolicy.E202    the Redis server refused the credentials (password, user name)
django_cachepolicy.E203    ``TOPOLOGY`` does not match the Redis server (cluster or not)
django_cachepolicy.W201    the Redis server's memory configuration differs from ``OPTIONS``
django_cachepolicy.W202    the Redis server does not publish the keyspace events needed
django_cachepolicy.W203    the Redis server could not be reached to check it
=========================  ==============================================================

The E2xx/W2xx checks are ``RedisPolicyCache``'s
(:func:`django_cachepolicy.redis_backend.check_redis_caches`); they run only when an alias uses
that backend, so redis-py is imported only then.

The check never raises, whatever ``CACHES`` holds: a crash would hide every other message of
``manage.py check``. Entries that are not dicts are left to Django's own checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from cachepolicy.errors import short_repr

from .options import AliasOptions, validate_alias

__all__ = [
    "E_CONFLICTING_LOCATION",
    "E_UNCHECKABLE",
    "W_CULL_WITHOUT_MAX",
    "W_MAX_ENTRIES_NOEVICTION",
    "check_caches",
    "policy_aliases",
]

E_CONFLICTING_LOCATION = "django_cachepolicy.E005"
E_UNCHECKABLE = "django_cachepolicy.E009"
W_CULL_WITHOUT_MAX = "django_cachepolicy.W001"
W_MAX_ENTRIES_NOEVICTION = "django_cachepolicy.W002"


def policy_aliases(caches: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """The aliases of ``CACHES`` whose backend is ``PolicyCache`` or a subclass of it."""
    from .backend import PolicyCache

    caches = settings.CACHES if caches is None else caches
    aliases = []
    for alias, params in caches.items():
        if not isinstance(params, Mapping):
            continue  # not a cache definition at all; Django's own checks report it
        backend = params.get("BACKEND", "")
        try:
            cls = import_string(backend) if isinstance(backend, str) else backend
        except (ImportError, ValueError, TypeError):
            continue  # Django's own check reports backends that cannot be imported.
        if isinstance(cls, type) and issubclass(cls, PolicyCache):
            aliases.append(alias)
    return aliases


@register(Tags.caches)
def check_caches(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate every PolicyCache alias, then every LOCATION shared by several aliases."""
    caches: Mapping[str, Mapping[str, Any]] = settings.CACHES
    messages: list[CheckMessage] = []
    valid: dict[str, AliasOptions] = {}
    for alias in policy_aliases(caches):
        params = caches[alias]
        try:
            options, errors = validate_alias(alias, params.get("LOCATION", ""), params)
        except Exception as exc:  # reported as an Error, never raised (see the docstring)
            messages.append(
                Error(
                    f"Cache alias {short_repr(alias)} could not be validated: validating it "
                    f"raised {type(exc).__name__}: {short_repr(str(exc), 200)}.",
                    hint="This is a bug in django_cachepolicy; please report it with the "
                    "alias's CACHES entry.",
                    obj=f"CACHES[{alias!r}]",
                    id=E_UNCHECKABLE,
                )
            )
            continue
        messages.extend(
            Error(error.message, hint=error.hint, obj=f"CACHES[{alias!r}]", id=error.check_id)
            for error in errors
        )
        if options is not None:
            valid[alias] = options
            if options.config.max_entries and options.config.maxmemory_policy == "noeviction":
                messages.append(
                    Warning(
                        f"Cache alias {short_repr(alias)} sets MAX_ENTRIES under "
                        "MAXMEMORY_POLICY 'noeviction': once it holds MAX_ENTRIES keys, a new "
                        "key's set() raises OutOfMemoryError where Django's caches cull.",
                        hint="Choose an evicting MAXMEMORY_POLICY (e.g. 'allkeys-lru') to cull "
                        "as Django does, set OPTIONS ON_OUT_OF_MEMORY='drop' to drop such "
                        "writes with a log line, or remove MAX_ENTRIES.",
                        obj=f"CACHES[{alias!r}]",
                        id=W_MAX_ENTRIES_NOEVICTION,
                    )
                )
        raw = params.get("OPTIONS") or {}
        if isinstance(raw, Mapping) and "CULL_FREQUENCY" in raw and "MAX_ENTRIES" not in raw:
            messages.append(
                Warning(
                    f"Cache alias {short_repr(alias)} sets CULL_FREQUENCY but not MAX_ENTRIES, so "
                    "CULL_FREQUENCY has no effect.",
                    hint="Set MAX_ENTRIES to bound the number of entries, or remove "
                    "CULL_FREQUENCY (MAXMEMORY bounds the bytes either way).",
                    obj=f"CACHES[{alias!r}]",
                    id=W_CULL_WITHOUT_MAX,
                )
            )
    messages.extend(_conflicts(valid))
    return messages


@register(Tags.caches)
def check_redis_caches(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """RedisPolicyCache aliases: settings (E201) and the server's configuration (W201-W203)."""
    try:
        from .redis_backend import check_redis_caches as check
    except ImportError:
        # Without redis-py no RedisPolicyCache BACKEND can be imported either, and Django's own
        # check reports backends that cannot be imported.
        return []
    return list(check(settings.CACHES))


def _conflicts(valid: Mapping[str, AliasOptions]) -> list[CheckMessage]:
    """E005 for each alias whose store options differ from the first alias on its LOCATION."""
    first_by_location: dict[str, str] = {}
    messages: list[CheckMessage] = []
    for alias, options in valid.items():
        first = first_by_location.setdefault(options.location, alias)
        if first == alias:
            continue
        differences = valid[first].config.differences(options.config)
        if not differences:
            continue
        detail = "; ".join(
            f"{name} is {short_repr(mine)} for {first!r} but {short_repr(theirs)} for {alias!r}"
            for name, (mine, theirs) in differences.items()
        )
        messages.append(
            Error(
                f"Cache aliases {first!r} and {alias!r} share LOCATION "
                f"{short_repr(options.location)} but "
                f"configure its store differently: {detail}.",
                hint="Aliases with one LOCATION share one store and so one memory budget and "
                "policy: give them identical memory OPTIONS (they may differ in DATABASE and "
                "ON_OUT_OF_MEMORY), or give each its own LOCATION.",
                obj=f"CACHES[{alias!r}]",
                id=E_CONFLICTING_LOCATION,
            )
        )
    return messages
