"""Validated, immutable cache configuration.

A :class:`CacheConfig` is a frozen value (``replace(**changes)`` makes a modified copy); runtime
state lives in the store. Option names are Redis's with underscores: ``maxmemory``,
``maxmemory_policy``, ``maxmemory_samples``, ``lfu_log_factor``, ``lfu_decay_time``,
``active_expire_effort``, ``hz``. :meth:`CacheConfig.from_options` also accepts them in upper case
or with dashes (``"maxmemory-policy"``, ``"MAXMEMORY_POLICY"``), so Django ``OPTIONS`` and Flask
``CACHE_*`` keys map directly. Unknown names are errors with a suggestion, never ignored.

Defaults and integer bounds are read from the options table, :mod:`cachepolicy.options`.

Names are resolved here, once: a configuration knows the policy class, the expiry strategy class
and the serializer object its options name (:attr:`CacheConfig.policy_class`,
:attr:`~CacheConfig.expiry_class`, :attr:`~CacheConfig.serializer_object`), and a store builds
from those. So this module sits above the policies and strategies (which see ``CacheConfig`` as a
type only) and below the store; the import contract in ``pyproject.toml`` keeps it that way.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigError, did_you_mean, short_repr
from .eviction.admission import check_admission, with_admission
from .eviction.base import EvictionPolicy
from .eviction.registry import EVICTION_MODES, resolve_policy
from .expiry.base import ExpiryStrategy
from .expiry.registry import resolve_expiry
from .options import DEFAULT_MAXMEMORY, DEFAULT_POLICY, MIN_MAXMEMORY, OPTION_BY_NAME
from .serializers import Serializer, resolve_serializer
from .sizing import parse_memory

__all__ = [
    "DEFAULT_MAXMEMORY",
    "DEFAULT_POLICY",
    "MIN_MAXMEMORY",
    "CacheConfig",
    "normalize_option_name",
]

# An integer option given as a string: ASCII digits with an optional sign. Not str.isdigit(),
# which accepts "²" (and int() then fails), nor \d, which accepts other scripts' digits.
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)


def normalize_option_name(name: str) -> str:
    """``"MAXMEMORY-POLICY"`` -> ``"maxmemory_policy"``."""
    return name.strip().lower().replace("-", "_")


#: The table's defaults: the values, all immutable, that the fields below start from.
_DEFAULT: Mapping[str, Any] = {name: option.default for name, option in OPTION_BY_NAME.items()}


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """Everything that shapes a cache store. All fields are validated on construction."""

    # Defaults, bounds and meanings are the options table's (cachepolicy/options.py): the field
    # names here must be its store options, in its order (tests/core/test_options_table.py).

    #: Byte budget; 0 means unlimited (then nothing is ever evicted for memory).
    maxmemory: int = _DEFAULT["maxmemory"]
    #: One of the ten redis.conf names, a registered custom name, or a dotted path.
    maxmemory_policy: str = _DEFAULT["maxmemory_policy"]
    #: Keys sampled per database per eviction round (Redis: 5; 10 is close to true LRU).
    maxmemory_samples: int = _DEFAULT["maxmemory_samples"]
    #: "sampled" (Redis's pool approximation) or "exact" (ordered structures, more memory).
    eviction_mode: str = _DEFAULT["eviction_mode"]
    #: "none" or "tinylfu": a frequency sketch refuses new keys rarer than their victim.
    admission: str = _DEFAULT["admission"]
    #: LFU counter growth: higher = more hits needed per increment (Redis default 10).
    lfu_log_factor: int = _DEFAULT["lfu_log_factor"]
    #: Minutes of idleness per LFU counter decrement; 0 = never decay (Redis default 1).
    lfu_decay_time: int = _DEFAULT["lfu_decay_time"]
    #: Expiry strategy name or dotted path (lazy expiry on access is always on).
    #: "timed": expired keys nobody reads are reclaimed within 1/hz s of writes, O(due keys), with
    #: no thread (safe under forking servers); "active" lags with many long-TTL keys (§12.8).
    expiry: str = _DEFAULT["expiry"]
    #: Active expiry cycles per second (Redis's hz, 1..500).
    hz: int = _DEFAULT["hz"]
    #: 1..10: more effort reclaims expired keys sooner at more CPU (Redis's active-expire-effort).
    active_expire_effort: int = _DEFAULT["active_expire_effort"]
    #: Number of databases sharing the one memory budget.
    databases: int = _DEFAULT["databases"]
    #: Optional bound on the number of keys, alongside the byte bound.
    max_entries: int | None = _DEFAULT["max_entries"]
    #: When max_entries is reached: evict count // cull_frequency keys (0 = all, None = one).
    cull_frequency: int | None = _DEFAULT["cull_frequency"]
    #: Values at least this many bytes are released off the request path (0 = never).
    lazyfree_threshold: int = _DEFAULT["lazyfree_threshold"]
    #: "pickle", a dotted path, or a serializer object.
    serializer: str | Serializer = _DEFAULT["serializer"]
    #: Record accesses (cachepolicy.recorder): a directory or a ``.cprec`` path; None = off.
    record: str | None = _DEFAULT["record"]
    #: Share of keys recorded (spatial sampling by key hash), 0 < rate <= 1.
    record_rate: float = _DEFAULT["record_rate"]
    #: Bytes at which a recording file is rotated.
    record_max_bytes: int = _DEFAULT["record_max_bytes"]
    #: Secret of the recordings' keyed hash (kept out of repr); None = a generated one.
    record_key: str | bytes | None = dataclasses.field(default=_DEFAULT["record_key"], repr=False)

    # Derived on construction from the options above (not options themselves: no argument, not
    # compared, not listed by option_names()); what a store is built from.
    #: The class ``maxmemory_policy`` names, for ``eviction_mode``.
    policy_class: type[EvictionPolicy] = dataclasses.field(init=False, repr=False, compare=False)
    #: The class ``expiry`` names.
    expiry_class: type[ExpiryStrategy] = dataclasses.field(init=False, repr=False, compare=False)
    #: The serializer ``serializer`` names (the object itself when one was given).
    serializer_object: Serializer = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw_maxmemory = self.maxmemory
        maxmemory = parse_memory(raw_maxmemory)
        if 0 < maxmemory < MIN_MAXMEMORY:
            raise ConfigError(
                f"Option 'maxmemory' = {short_repr(raw_maxmemory)} is smaller than the smallest "
                f"possible entry ({MIN_MAXMEMORY} bytes: an empty key and an empty value plus "
                f"the per-entry overhead), so nothing could ever be stored. Use at least "
                f"{MIN_MAXMEMORY} bytes, or 0 for no limit.",
                option="maxmemory",
            )
        object.__setattr__(self, "maxmemory", maxmemory)
        _check_int(self, "maxmemory_samples")
        _check_int(self, "lfu_log_factor")
        _check_int(self, "lfu_decay_time")
        _check_int(self, "hz")
        _check_int(self, "active_expire_effort")
        _check_int(self, "databases")
        object.__setattr__(
            self,
            "lazyfree_threshold",
            parse_memory(self.lazyfree_threshold, option="lazyfree_threshold"),
        )
        if self.max_entries is not None:
            _check_int(self, "max_entries")
        if self.cull_frequency is not None:
            _check_int(self, "cull_frequency")
        _check_eviction_mode(self)
        from .recorder import check_record_options  # the recorder's own rules

        check_record_options(self)
        object.__setattr__(self, "admission", check_admission(self.admission))
        object.__setattr__(
            self,
            "policy_class",
            with_admission(
                resolve_policy(self.maxmemory_policy, self.eviction_mode), self.admission
            ),
        )
        object.__setattr__(self, "expiry_class", resolve_expiry(self.expiry))
        object.__setattr__(self, "serializer_object", resolve_serializer(self.serializer))

    @classmethod
    def option_names(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls) if field.init]

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None = None, **more: Any) -> CacheConfig:
        """Build from a mapping whose keys may be upper case or use dashes."""
        merged: dict[str, Any] = {}
        valid = cls.option_names()
        for raw_name, value in {**(options or {}), **more}.items():
            name = normalize_option_name(str(raw_name))
            if name not in valid:
                raise _unknown_option(raw_name, name, valid)
            if name in merged:
                raise ConfigError(f"Cache option {name!r} is given twice.", option=name)
            merged[name] = value
        return cls(**merged)

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with some options changed (validated again); names as the fields spell
        them. An unknown name is a ConfigError with a did-you-mean, as in :meth:`from_options`."""
        valid = self.option_names()
        for name in changes:
            if name not in valid:
                raise _unknown_option(name, normalize_option_name(name), valid)
        return dataclasses.replace(self, **changes)

    def differences(self, other: CacheConfig) -> dict[str, tuple[Any, Any]]:
        """Options whose values differ: name -> (self's value, other's value)."""
        return {
            name: (getattr(self, name), getattr(other, name))
            for name in self.option_names()
            if getattr(self, name) != getattr(other, name)
        }


def _unknown_option(raw_name: object, name: str, valid: Sequence[str]) -> ConfigError:
    """The error for an option name that is none of ``valid`` (``name``: it normalized)."""
    return ConfigError(
        f"Unknown cache option {short_repr(raw_name)}. Valid options: {', '.join(valid)}."
        f"{did_you_mean(name, valid)}",
        option=str(raw_name),
    )


def _check_int(config: CacheConfig, name: str) -> None:
    """Validate an integer option within its table bounds, converting exact spellings to ``int``.

    Accepted: ints and anything with ``__index__`` (numpy integers), integral finite floats
    (``10.0``) and strings of ASCII digits with an optional sign (``"10"``, from environment
    variables). Everything else, including ``bool``, is a ConfigError naming the option.
    """
    row = OPTION_BY_NAME[name]
    assert row.low is not None and row.high is not None, f"{name} has no bounds in the table"
    low, high = row.low, row.high
    value = getattr(config, name)
    bounds = f"between {low} and {high}"
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text) is None:
            raise ConfigError(
                f"Option {name!r} must be an integer {bounds}, got the string {short_repr(value)}.",
                option=name,
            )
        # More digits than ``high`` has is out of range; int() is not asked to convert it
        # (it refuses strings of over 4300 digits and is quadratic below that).
        if len(text.lstrip("+-").lstrip("0")) > len(str(high)):
            raise ConfigError(
                f"Option {name!r} must be {bounds}, got {short_repr(value)}.", option=name
            )
        value = int(text)
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(
                f"Option {name!r} must be an integer {bounds}, got float {short_repr(value)}.",
                option=name,
            )
        value = int(value)
    elif not isinstance(value, bool) and hasattr(type(value), "__index__"):
        value = operator.index(value)
    else:
        raise ConfigError(
            f"Option {name!r} must be an integer {bounds}, got {type(value).__name__} "
            f"{short_repr(value)}.",
            option=name,
        )
    if not low <= value <= high:
        raise ConfigError(
            f"Option {name!r} must be {bounds}, got {short_repr(value)}.", option=name
        )
    object.__setattr__(config, name, value)


def _check_eviction_mode(config: CacheConfig) -> None:
    """Accept the mode in any case, as policy names are; suggest the closest one otherwise."""
    mode = config.eviction_mode
    normalized = mode.strip().lower() if isinstance(mode, str) else None
    if normalized not in EVICTION_MODES:
        suggestion = did_you_mean(normalized, EVICTION_MODES) if normalized else ""
        raise ConfigError(
            f"Option 'eviction_mode' must be one of {', '.join(map(repr, EVICTION_MODES))}, "
            f"got {short_repr(mode)}.{suggestion}",
            option="eviction_mode",
        )
    object.__setattr__(config, "eviction_mode", normalized)
