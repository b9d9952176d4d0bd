"""The cache store's lifecycle: build the engine from a configuration, start and stop its
background work, survive ``fork()``, close.

Everything a cache *does* is the engine's (:class:`cachepolicy._core.engine.Engine`); reports
are :mod:`cachepolicy.introspection`'s. Most users want :class:`cachepolicy.Cache`, a view bound
to one database of a store.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Collection
from random import Random
from typing import Any

from . import forksafety, introspection
from ._core.engine import Engine
from ._core.keyspace import Keyspace
from ._core.stats import HitCounter, Stats
from .clock import Clock, SystemClock, WallOffset
from .config import CacheConfig, normalize_option_name
from .errors import ConfigError, did_you_mean, short_repr
from .events import EventBus, Subscriber
from .eviction.base import EvictionPolicy
from .expiry.base import ExpiryStrategy
from .flight import Envelopes, FlightTable
from .lazyfree import LAZY_FREE
from .recorder import Recorder
from .serializers import Serializer
from .tags import TagTable

__all__ = ["RUNTIME_OPTIONS", "CacheStore"]

#: The options :meth:`CacheStore.reconfigure` can change on a live store (Redis's CONFIG SET
#: for the same names). The others shape structures built once (databases, the expiry
#: strategy and its thread, the serializer of the stored bytes) and need a new store.
RUNTIME_OPTIONS = (
    "maxmemory",
    "maxmemory_policy",
    "maxmemory_samples",
    "eviction_mode",
    "admission",
    "lfu_log_factor",
    "lfu_decay_time",
)
#: Of those, the ones the policy object is built from: changing one switches to a new policy
#: object, which re-admits every key (:meth:`cachepolicy._core.engine.Engine.reconfigure`).
_POLICY_OPTIONS = frozenset(RUNTIME_OPTIONS) - {"maxmemory"}


def _engine_of(owner: Callable[[], Any]) -> Callable[[], Engine | None]:
    """The engine of a store held weakly: what an expiry strategy keeps to reach its cache."""

    def engine() -> Engine | None:
        store = owner()
        return store.engine if store is not None else None

    return engine


def _reads_of(engine: Engine) -> Callable[[], int]:
    """The store's gets so far (hits and misses), for the recorder's file headers."""

    def reads() -> int:
        hits, misses = engine.hits.totals()
        return int(hits + misses)

    return reads


class CacheStore:
    """All databases of one cache under one memory budget."""

    def __init__(
        self,
        config: CacheConfig | None = None,
        *,
        clock: Clock | None = None,
        rng: Random | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> None:
        if config is None:
            config = CacheConfig.from_options(options)
        elif options:
            config = config.replace(**{normalize_option_name(k): v for k, v in options.items()})
        elif not isinstance(config, CacheConfig):
            raise TypeError(
                f"CacheStore(config=...) takes a CacheConfig, got {type(config).__name__}; "
                "pass options as keyword arguments instead."
            )
        if clock is not None and not (
            callable(getattr(clock, "time", None)) and callable(getattr(clock, "monotonic", None))
        ):
            raise TypeError(
                f"clock must provide time() and monotonic() (a cachepolicy Clock), got "
                f"{type(clock).__name__} {clock!r}."
            )
        if rng is not None and not isinstance(rng, Random):
            raise TypeError(f"rng must be a random.Random, got {type(rng).__name__} {rng!r}.")
        #: The configuration the store was built with (what shared stores are compared by:
        #: :func:`cachepolicy.get_shared_store`); :attr:`config` is the one in force.
        self.base_config = config
        self._reconfiguring = threading.Lock()
        self.clock: Clock = clock if clock is not None else SystemClock()
        #: Converts between the engine's monotonic deadlines and epoch seconds (the API edge).
        self.wall = WallOffset(self.clock)
        self.rng = rng if rng is not None else Random(seed)
        # The names were resolved once, by the configuration.
        self.serializer: Serializer = config.serializer_object
        policy = config.policy_class(config, self.rng)
        self.expiry: ExpiryStrategy = config.expiry_class(config)
        self.events = EventBus()
        self.engine = Engine(
            config, policy, self.expiry, self.clock, self.rng, self.events, lazy_free=LAZY_FREE
        )
        self.engine.owner = weakref.ref(self)
        #: The access recorder (the ``record`` option), or None: views bind recording paths
        #: only when there is one.
        self.recorder: Recorder | None = (
            Recorder(
                config,
                self.clock,
                entry_overhead=self.engine.entry_size("", b"", False),
                reads=_reads_of(self.engine),
            )
            if config.record is not None
            else None
        )
        #: The single-flight computations in progress on this store (``get_or_set``).
        self.flights = FlightTable(Random(seed))
        #: Tag generations (``set(..., tags=...)``, ``invalidate_tags``).
        self.tags = TagTable()
        #: How the views' compiled reads open envelopes and their writes seal tags.
        self.envelopes = Envelopes(self.engine, self.tags)
        self._closed = False
        forksafety.track(self)
        self.expiry.attach(_engine_of(self.engine.owner))
        self.expiry.start()

    # ------------------------------------------------------------------ what others read

    @property
    def config(self) -> CacheConfig:
        """The configuration in force (changed by :meth:`reconfigure`)."""
        return self.engine.config

    @property
    def policy(self) -> EvictionPolicy:
        """The eviction policy in force (replaced by :meth:`reconfigure`)."""
        return self.engine.policy

    @property
    def keyspaces(self) -> list[Keyspace]:
        return self.engine.keyspaces

    @property
    def stats(self) -> Stats:
        return self.engine.stats

    @property
    def hits(self) -> HitCounter:
        return self.engine.hits

    @property
    def used_memory(self) -> int:
        return self.engine.used_memory

    @property
    def key_count(self) -> int:
        return self.engine.key_count

    @property
    def lock(self) -> threading.Lock:
        return self.engine.lock

    def locked(self) -> Any:
        """Context manager holding the lock; events queued inside are sent on exit."""
        return self.engine.locked()

    def subscribe(
        self, callback: Subscriber, events: Collection[str] | None = None
    ) -> Callable[[], None]:
        """Receive keyspace events of every database; returns an unsubscriber."""
        if not callable(callback):
            raise TypeError(f"subscribe() needs a callable, got {type(callback).__name__}.")
        return self.events.subscribe(callback, events)

    def info(self) -> dict[str, Any]:
        """Redis INFO fields (memory, stats, keyspace) as a dict; the recorder's when it
        records."""
        info = introspection.info(self)
        if self.recorder is not None:
            reads = info["keyspace_hits"] + info["keyspace_misses"]
            info.update(self.recorder.info(self.config.maxmemory or self.used_memory, reads))
        return info

    def info_text(self) -> str:
        """The same report as Redis-INFO-style text."""
        return introspection.info_text(self.info())

    def check(self) -> list[str]:
        """Recount everything; every inconsistency found (empty when healthy)."""
        return introspection.check(self)

    def reset_stats(self) -> None:
        """Redis's CONFIG RESETSTAT (the live curve starts over with the counts it corrects)."""
        self.engine.reset_stats()
        if self.recorder is not None:
            self.recorder.curve.reset()
        self.flights.reset_counters()
        self.tags.reset_counters()

    # ------------------------------------------------------------------ reconfiguration

    def reconfigure(self, **options: Any) -> CacheConfig:
        """Change options of the live store (Redis's ``CONFIG SET``); returns the new config.

        Only :data:`RUNTIME_OPTIONS` may change; names are accepted as in settings
        (``"maxmemory-policy"``, ``"MAXMEMORY"``) and values are validated by
        :class:`~cachepolicy.config.CacheConfig`, so a bad one is a ConfigError naming it and
        nothing changes. Lowering ``maxmemory`` evicts down to it before this returns (with
        ``evicted`` events); a limit the policy cannot reach is refused. Changing how keys are
        ranked (policy, mode, samples, LFU parameters) keeps every key and restarts the
        ranking state: LFU counters at 5, recency stamps at now, in the previous recency order
        (see :meth:`cachepolicy._core.engine.Engine.reconfigure`).
        """
        changes: dict[str, Any] = {}
        valid = CacheConfig.option_names()
        for raw_name, value in options.items():
            name = normalize_option_name(str(raw_name))
            if name not in valid:
                raise ConfigError(
                    f"Unknown cache option {short_repr(raw_name)}. Options that can be "
                    f"changed at runtime: {', '.join(RUNTIME_OPTIONS)}."
                    f"{did_you_mean(name, RUNTIME_OPTIONS)}",
                    option=str(raw_name),
                )
            if name not in RUNTIME_OPTIONS:
                raise ConfigError(
                    f"Option {name!r} cannot be changed on a live cache; it shapes structures "
                    f"built once. Options that can: {', '.join(RUNTIME_OPTIONS)}. Build a new "
                    f"store to change {name!r}.",
                    option=name,
                )
            if name in changes:
                raise ConfigError(f"Cache option {name!r} is given twice.", option=name)
            changes[name] = value
        with self._reconfiguring:
            current = self.config
            config = current.replace(**changes)
            if config == current:
                return current
            policy: EvictionPolicy | None = None
            if any(name in _POLICY_OPTIONS for name in current.differences(config)):
                policy = config.policy_class(config, self.rng)
            self.engine.reconfigure(config, policy)
            return config

    def config_set(self, name: str, value: Any) -> CacheConfig:
        """``CONFIG SET name value`` (``config_set("maxmemory-policy", "allkeys-lfu")``)."""
        given: object = name  # typed str, but callers' values reach here unchecked
        if not isinstance(given, str):
            hint = ""
            if isinstance(given, bytes | bytearray):
                text = normalize_option_name(bytes(given[:100]).decode("utf-8", "replace"))
                hint = did_you_mean(text, RUNTIME_OPTIONS)
            raise ConfigError(
                f"config_set() needs an option name (a str), got {type(given).__name__} "
                f"{short_repr(given)}. Options that can be changed at runtime: "
                f"{', '.join(RUNTIME_OPTIONS)}.{hint}",
                option=short_repr(given),
            )
        return self.reconfigure(**{name: value})

    def config_get(self, name: str) -> Any:
        """``CONFIG GET name``: the value in force (names as in settings)."""
        option = normalize_option_name(str(name))
        valid = CacheConfig.option_names()
        if option not in valid:
            raise ConfigError(
                f"Unknown cache option {short_repr(name)}. Valid options: {', '.join(valid)}."
                f"{did_you_mean(option, valid)}",
                option=str(name),
            )
        return getattr(self.config, option)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop background work. The data stays readable; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self.expiry.stop()
            if self.recorder is not None:
                self.recorder.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _fork_prepare(self, timeout: float) -> bool:
        """Before fork(): hold the lock so the child copies a consistent keyspace."""
        return self.engine.lock.acquire(timeout=timeout)

    def _fork_finish(self, held: bool, child: bool) -> None:
        """After fork(): the parent releases; the child starts with a fresh lock."""
        if child:
            self.engine.after_fork_in_child()
            if self.recorder is not None:
                self.recorder.after_fork_in_child()
            self.flights.reset()
            self.tags.after_fork()
        elif held:
            self.engine.lock.release()

    def __repr__(self) -> str:
        return (
            f"<CacheStore maxmemory={self.config.maxmemory} "
            f"policy={self.policy.describe()!r} keys={self.engine.key_count}>"
        )

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn things down
            self.expiry.stop()
