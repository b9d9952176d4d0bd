"""Translate one ``CACHES`` entry into the core's configuration, validating everything.

This module is the single place where Django's vocabulary meets cachepolicy's:

* ``OPTIONS`` keys are Redis's words in upper case (``MAXMEMORY``, ``MAXMEMORY_POLICY``, ...),
  the Django convention for ``OPTIONS``. Lower-case or dashed spellings are rejected with a
  suggestion rather than accepted: one spelling per option keeps settings greppable.
* Django's own ``MAX_ENTRIES`` / ``CULL_FREQUENCY`` become the core's entry-count bound
  (``max_entries`` / ``cull_frequency``), so a Django user's existing settings keep their
  meaning (``CULL_FREQUENCY`` defaults to Django's 3 once ``MAX_ENTRIES`` is set). Unlike
  ``LocMemCache`` there is no implicit 300-entry bound: the byte bound ``MAXMEMORY`` is the
  primary limit.
* Django timeouts become the core's ``ttl`` in :func:`django_timeout_to_ttl`, and nowhere else.

The keys, their scope, check ids and hints come from the one options table,
:mod:`cachepolicy.options` (the full reference: ``docs/configuration.md``); the table below is
checked against it by ``tests/django/test_django_options_table.py``.

OPTIONS (defaults are the core's; the first group shapes the store, so every alias sharing a
``LOCATION`` must give the same values; the last two are per alias):

========================  ====================================================================
``MAXMEMORY``             byte budget, ``"64mb"`` / ``"1gb"`` / ``"500k"`` (k = 1000, kb = 1024)
                          or an int; 0 = no byte bound. More memory, more hits.
``MAXMEMORY_POLICY``      which keys go when full: ``allkeys-lru`` (default), ``allkeys-lfu``
                          (keeps popular keys through scans), ``allkeys-random`` (cheapest),
                          ``allkeys-lrm`` (least recently *written*: reads do not refresh),
                          ``volatile-*`` (only keys with a TIMEOUT), ``volatile-ttl``,
                          ``noeviction`` (writes fail instead); beyond Redis
                          ``allkeys-wtinylfu`` and ``allkeys-gdsf`` (size-aware: small, used
                          values first); or a registered name/dotted path
``MAXMEMORY_SAMPLES``     keys sampled per eviction (1..64); 5 is Redis's, 10 is close to exact
``EVICTION_MODE``         ``sampled`` (Redis's approximation, O(samples) per eviction) or
                          ``exact`` (ordered structures: exact ranking, more memory per key)
``ADMISSION``             ``none`` (every new key enters) or ``tinylfu`` (a frequency sketch
                          refuses new keys rarer than the key they would evict)
``EXPIRY``                how expired keys nobody reads are reclaimed: ``lazy`` (only on access),
                          ``active`` / ``timed`` / ``background`` (CPU traded for memory)
``HZ``                    active expiry cycles per second (1..500)
``ACTIVE_EXPIRE_EFFORT``  1..10: more effort reclaims expired keys sooner at more CPU
``LFU_LOG_FACTOR``        LFU counter growth (hits needed per increment grow with it); 0..2**31-1
``LFU_DECAY_TIME``        minutes of idleness per LFU counter decrement; 0 = never decay;
                          0..2**31-1
``DATABASES``             number of databases in the store (16, as in Redis; 1..1024)
``LAZYFREE_THRESHOLD``    values at least this big are freed off the request path
``SERIALIZER``            ``"pickle"`` or a dotted path
``RECORD``                record accesses for ``python -m cachepolicy.simulate``: a directory
                          or a ``.cprec`` path (keys written only as keyed hashes; off by default)
``RECORD_RATE``           share of keys recorded, by key hash (default 0.01)
``RECORD_MAX_BYTES``      size at which a recording file is rotated (default ``"64mb"``)
``RECORD_KEY``            secret of the recordings' keyed hash (default: one kept beside them)
``MAX_ENTRIES``           entry-count bound alongside ``MAXMEMORY`` (none by default)
``CULL_FREQUENCY``        when ``MAX_ENTRIES`` is hit, evict 1/N of the entries (default 3, as
                          in Django), 0 = all, ``None`` = one at a time (like Redis)
``DATABASE``              which database of the store this alias uses (0..DATABASES-1)
``ON_OUT_OF_MEMORY``      ``"raise"`` (default: ``cachepolicy.OutOfMemoryError``, like Redis's
                          OOM error) or ``"drop"`` (log a warning; the write is lost)
``STAMPEDE_WAIT``         seconds a ``get_or_set`` caller waits for another computing the same
                          key (single flight; default 10)
``STAMPEDE_ON_TIMEOUT``   then: ``"compute"`` (default) or ``"raise"``
                          (``cachepolicy.errors.ComputeTimeoutError``)
``XFETCH_BETA``           early refresh of ``get_or_set`` values shortly before expiry (XFetch;
                          default 1.0; ``None`` = off)
``STALE_GRACE``           seconds a ``get_or_set`` value is kept past its TIMEOUT and served to
                          ``get_or_set`` callers while one recomputes it (0 = off, the default)
========================  ====================================================================

Every problem raises :class:`OptionError` (an ``ImproperlyConfigured``) carrying the system
check id it maps to, so ``checks.py`` and the backend report the same sentence. Nothing falls
back silently (``BaseCache`` quietly turns a bad ``TIMEOUT`` into 300; we do not).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Mapping
from typing import Any, Final, Literal

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.exceptions import ImproperlyConfigured

from cachepolicy import CacheConfig, ConfigError
from cachepolicy.errors import short_repr
from cachepolicy.flight import StampedeSettings
from cachepolicy.options import OPTION_BY_NAME, options_for

__all__ = [
    "ALIAS_OPTIONS",
    "STORE_OPTIONS",
    "AliasOptions",
    "OptionError",
    "django_timeout_to_ttl",
    "parse_alias",
    "parse_timeout",
    "validate_alias",
]

#: OPTIONS keys that shape the shared store, mapped to :class:`cachepolicy.CacheConfig` fields.
#: Two aliases that share a LOCATION must agree on every one of these. Derived, like everything
#: about an option here, from the one options table (:mod:`cachepolicy.options`).
STORE_OPTIONS: Final[Mapping[str, str]] = {
    option.django_key: option.name
    for option in options_for("memory", "store")
    if option.django_key is not None and option.django_in_options
}

#: OPTIONS keys that belong to one alias; aliases sharing a store may differ in these.
ALIAS_OPTIONS: Final[tuple[str, ...]] = tuple(
    option.django_key
    for option in options_for("memory", "view")
    if option.django_key is not None and option.django_in_options
)

#: What a write that does not fit becomes: Redis's explicit error, or a logged, lost write.
OutOfMemoryAction = Literal["raise", "drop"]
OUT_OF_MEMORY_ACTIONS: Final[tuple[OutOfMemoryAction, ...]] = ("raise", "drop")

# Django's documented CULL_FREQUENCY default: cull a third of the entries when MAX_ENTRIES is hit.
DJANGO_DEFAULT_CULL_FREQUENCY: Final = 3
# Django's documented TIMEOUT default, in seconds.
DJANGO_DEFAULT_TIMEOUT: Final = 300

# Which system check id a core ConfigError maps to, by the option it names. Anything else is the
# generic "invalid option value" check.
_CHECK_ID_BY_FIELD: Final[Mapping[str, str]] = {
    option.name: option.django_check
    for option in options_for("memory", "store")
    if option.django_check is not None
}
E_UNKNOWN_OPTION: Final = "django_cachepolicy.E003"
E_INVALID_TIMEOUT: Final = "django_cachepolicy.E006"
E_INVALID_VALUE: Final = "django_cachepolicy.E007"
E_INVALID_LOCATION: Final = "django_cachepolicy.E008"


class OptionError(ImproperlyConfigured):
    """A ``CACHES`` entry is invalid; ``check_id`` and ``hint`` feed the system check."""

    def __init__(self, message: str, *, check_id: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.check_id = check_id
        self.hint = hint


@dataclasses.dataclass(frozen=True)
class AliasOptions:
    """One alias's validated settings: the store it needs and how it uses that store."""

    #: The shared store's name (Django's ``LOCATION``).
    location: str
    #: The store's configuration; aliases sharing ``location`` must have equal ones.
    config: CacheConfig
    #: Which database of the store this alias reads and writes.
    database: int
    #: What an out-of-memory write becomes.
    on_out_of_memory: OutOfMemoryAction
    #: Django's default timeout in seconds, ``None`` = never expire.
    default_timeout: float | None
    #: How ``get_or_set`` protects a key from a stampede (single flight).
    stampede: StampedeSettings = dataclasses.field(default_factory=StampedeSettings)


def _suggest(name: str, choices: list[str]) -> str:
    """Return a "did you mean" sentence for ``name`` among ``choices`` ('' if nothing is close).

    Upper-cased and dash-normalised first, so ``"maxmemory-policy"`` suggests
    ``MAXMEMORY_POLICY``.
    """
    normalised = name.strip().upper().replace("-", "_")
    if normalised in choices:
        return f"Did you mean {normalised!r}?"
    matches = difflib.get_close_matches(normalised, choices, n=1, cutoff=0.6)
    return f"Did you mean {matches[0]!r}?" if matches else ""


def _subject(alias: str | None, location: object) -> str:
    """How messages name the cache: by alias when known (checks), else by LOCATION (backend)."""
    if alias is not None:
        return f"Cache alias {short_repr(alias)}"
    return f"The cache with LOCATION {short_repr(location)}"


def parse_timeout(subject: str, params: Mapping[str, Any]) -> float | None:
    """Return the alias's ``TIMEOUT`` in seconds (``None`` = never expire), or raise.

    Django accepts ints, numeric strings (its own tests configure ``"TIMEOUT": "1"``) and
    ``None``, truncating to whole seconds with ``int()``; we keep that meaning exactly. What
    ``BaseCache`` would silently replace by 300 (``"5 minutes"``, ``[]``, ``True``) is an error,
    and so is what would crash it or overflow later: ``inf`` (``int()`` raises OverflowError)
    and ints beyond float range such as ``10**400`` (every write would raise OverflowError).
    """
    raw = params.get("TIMEOUT", params.get("timeout", DJANGO_DEFAULT_TIMEOUT))
    if raw is None:
        return None
    if not isinstance(raw, bool):
        try:
            seconds = int(raw)
            float(seconds)  # the core's TTLs are floats: refuse what cannot become one
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            return seconds
    raise OptionError(
        f"{subject} has TIMEOUT = {short_repr(raw)}, which is not a finite number of seconds.",
        check_id=E_INVALID_TIMEOUT,
        hint="Set TIMEOUT to a number of seconds (e.g. 300), to 0 to expire entries at once, "
        "or to None to keep them until evicted.",
    )


def parse_alias(alias: str | None, location: object, params: Mapping[str, Any]) -> AliasOptions:
    """Validate one ``CACHES`` entry and return what the backend needs to build itself.

    ``alias`` only appears in messages (``None`` when unknown: Django does not tell a backend
    its alias). Raises the first :class:`OptionError` found; the system check reports all of
    them (:func:`validate_alias`), with the same sentences.
    """
    options, errors = validate_alias(alias, location, params)
    if errors:
        raise errors[0]
    assert options is not None  # no errors means options were built
    return options


def validate_alias(
    alias: str | None, location: object, params: Mapping[str, Any]
) -> tuple[AliasOptions | None, list[OptionError]]:
    """Return the alias's options (``None`` if invalid) and every problem found.

    ``location`` is the alias's ``LOCATION`` as given; anything but a string is an error (a
    list, as memcached backends take, would otherwise crash store lookup: ``unhashable type``).
    """
    subject = _subject(alias, location)
    errors: list[OptionError] = []
    if not isinstance(location, str):
        errors.append(
            OptionError(
                f"{subject} has LOCATION = {short_repr(location)} of type "
                f"{type(location).__name__}; it must be a string naming the store.",
                check_id=E_INVALID_LOCATION,
                hint=_hint_for("LOCATION"),
            )
        )
    default_timeout: float | None = None
    try:
        default_timeout = parse_timeout(subject, params)
    except OptionError as exc:
        errors.append(exc)
    raw_options = params.get("OPTIONS") or {}
    if not isinstance(raw_options, Mapping):
        errors.append(
            OptionError(
                f"{subject} has OPTIONS of type {type(raw_options).__name__}; it must be a dict.",
                check_id=E_INVALID_VALUE,
                hint="Write OPTIONS as a dict such as {'MAXMEMORY': '64mb'}.",
            )
        )
        return None, errors
    valid = [*STORE_OPTIONS, *ALIAS_OPTIONS]
    for name in raw_options:
        if name not in valid:
            errors.append(
                OptionError(
                    f"{subject} has the unknown OPTIONS key {short_repr(name)}. "
                    f"{_suggest(str(name)[:100], valid)}".rstrip(),
                    check_id=E_UNKNOWN_OPTION,
                    hint=f"Valid OPTIONS keys are {', '.join(valid)} (upper case, Redis's words).",
                )
            )

    config = _store_config(subject, raw_options, errors)
    database = raw_options.get("DATABASE", OPTION_BY_NAME["db"].default)
    databases = config.databases if config is not None else CacheConfig.databases
    if isinstance(database, bool) or not isinstance(database, int) or not 0 <= database < databases:
        errors.append(
            OptionError(
                f"{subject} has OPTIONS['DATABASE'] = {short_repr(database)}, but the store has "
                f"databases 0 to {databases - 1}.",
                check_id=E_INVALID_VALUE,
                hint=_hint_for("DATABASE"),
            )
        )
    on_oom = raw_options.get("ON_OUT_OF_MEMORY", OPTION_BY_NAME["on_out_of_memory"].default)
    if on_oom not in OUT_OF_MEMORY_ACTIONS:
        errors.append(
            OptionError(
                f"{subject} has OPTIONS['ON_OUT_OF_MEMORY'] = {short_repr(on_oom)}, which is "
                f"neither 'raise' nor 'drop'. "
                f"{_suggest(str(on_oom)[:80], ['RAISE', 'DROP']).lower()}".rstrip(),
                check_id=E_INVALID_VALUE,
                hint=_hint_for("ON_OUT_OF_MEMORY"),
            )
        )
    stampede = _stampede_settings(subject, raw_options, errors)
    if errors or config is None or stampede is None or not isinstance(location, str):
        return None, errors
    return (
        AliasOptions(
            location=location,
            config=config,
            database=database,
            on_out_of_memory=on_oom,
            default_timeout=default_timeout,
            stampede=stampede,
        ),
        errors,
    )


def _stampede_settings(
    subject: str, raw_options: Mapping[str, Any], errors: list[OptionError]
) -> StampedeSettings | None:
    """The alias's single-flight settings (``STAMPEDE_*``), or None with the error recorded."""
    names = {
        option.django_key: option.name
        for option in options_for("memory", "view")
        if option.django_key is not None and option.name in StampedeSettings.option_names()
    }
    given = {name: raw_options[key] for key, name in names.items() if key in raw_options}
    try:
        return StampedeSettings.from_options(given)
    except ConfigError as exc:
        key = next(key for key, name in names.items() if name == exc.option)
        errors.append(
            OptionError(
                f"{subject} has OPTIONS[{key!r}] = {short_repr(raw_options[key])}: {exc}",
                check_id=E_INVALID_VALUE,
                hint=_hint_for(key),
            )
        )
        return None


def _store_config(
    subject: str, raw_options: Mapping[str, Any], errors: list[OptionError]
) -> CacheConfig | None:
    """Build the store's CacheConfig; on failure, find every bad option one by one."""
    fields = {
        STORE_OPTIONS[name]: value for name, value in raw_options.items() if name in STORE_OPTIONS
    }
    if "max_entries" in fields and "cull_frequency" not in fields:
        # Django's default; an explicit CULL_FREQUENCY None evicts one entry at a time.
        fields["cull_frequency"] = DJANGO_DEFAULT_CULL_FREQUENCY
    try:
        return CacheConfig(**fields)
    except ConfigError:
        pass
    # Validate each option alone so that one bad option does not hide the next one.
    found = False
    for field, value in fields.items():
        try:
            CacheConfig(**{field: value})
        except ConfigError as exc:
            found = True
            errors.append(_config_error(subject, exc))
    if not found:  # only the combination is invalid; report the combined error
        try:
            CacheConfig(**fields)
        except ConfigError as exc:
            errors.append(_config_error(subject, exc))
    return None


def _config_error(subject: str, exc: ConfigError) -> OptionError:
    field = exc.option or ""
    option = next((key for key, value in STORE_OPTIONS.items() if value == field), field)
    error = OptionError(
        f"{subject} has an invalid OPTIONS[{option!r}]: {exc}",
        check_id=_CHECK_ID_BY_FIELD.get(field, E_INVALID_VALUE),
        hint=_hint_for(option),
    )
    error.__cause__ = exc
    return error


def _hint_for(option: str) -> str:
    """A hint naming the accepted values of ``option`` (the error sentence says what was wrong)."""
    hints = {
        option.django_key: option.accepts
        for option in options_for("memory")
        if option.django_key is not None
    }
    return hints.get(option, "See the OPTIONS table in the django_cachepolicy documentation.")


def django_timeout_to_ttl(timeout: Any, default_timeout: float | None) -> float | None:
    """Turn a Django ``timeout`` argument into the core's ``ttl``: the one place this happens.

    Django: ``DEFAULT_TIMEOUT`` = the alias's ``TIMEOUT``; ``None`` = never expire; ``0`` (or a
    negative number) = expire at once; otherwise seconds from now, even beyond memcached's
    30-day "absolute timestamp" threshold. The core: ``None`` = no TTL, ``<= 0`` = delete now,
    otherwise seconds from now. So only ``DEFAULT_TIMEOUT`` needs resolving.

    The argument must be a real number (int, float, ``Fraction``, numpy numbers), as in
    ``LocMemCache``, which adds it to ``time.time()``: a string raises ``TypeError`` there and
    here. ``True`` raises ``TypeError`` too (``LocMemCache`` silently takes it as one second;
    the ``TIMEOUT`` setting refuses it with E006, and a per-call value gets the same rule).
    ``NaN``, infinity and numbers beyond float range raise ``ValueError``: use ``None`` to
    never expire.
    """
    if timeout is DEFAULT_TIMEOUT:
        timeout = default_timeout
    if timeout is None:
        return None
    kind = type(timeout)
    # Exact int and float (the usual arguments) skip the isinstance() checks; bool is refused.
    if (kind is not int and kind is not float) and (
        isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
    ):
        raise TypeError(
            f"The cache timeout must be a number of seconds or None, not "
            f"{short_repr(timeout)} of type {kind.__name__}."
        )
    try:
        seconds = float(timeout)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(
            f"The cache timeout must be a finite number of seconds, not {short_repr(timeout)}; "
            "use None to keep the entry until it is evicted."
        )
    return seconds
