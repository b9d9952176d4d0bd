"""Validated settings of a Redis-backed cache: where the server is, and what it should run.

The option names are the in-process backend's (``maxmemory``, ``maxmemory_policy``,
``maxmemory_samples``, ``lfu_log_factor``, ``lfu_decay_time``, ``active_expire_effort``,
``hz``, ``lazyfree_threshold``, ``databases``), validated by the very same code: the values are
handed to :class:`cachepolicy.CacheConfig`, so ``"64mb"``, ``"1kb"``, out-of-range numbers and
misspelt names are accepted or refused exactly as in-process, with the same sentences. What the
in-process store could run but Redis cannot is refused here, naming the option:

* ``maxmemory_policy``: only Redis's eight policies run inside Redis; a registered Python
  policy or a dotted path (W-TinyLFU, ...) cannot, so it is a :class:`ConfigError`;
* ``eviction_mode="exact"``: Redis always samples (``"sampled"`` is accepted);
* ``expiry``: Redis always expires lazily and actively (tune ``active_expire_effort``/``hz``);
* ``max_entries``/``cull_frequency``: Redis has no entry-count bound (use ``maxmemory``).

Only options the user *gave* become server parameters: an option left out is neither applied
nor compared, so an unconfigured backend never reports a shared server as "mismatched".

Redis-tier options (not in the in-process backend): ``topology``, ``apply_config``,
``serializer``/``signing_key``, ``flush_on_clear``, ``events``, the five ``lazyfree_lazy_*``
flags, ``client_options`` (keyword arguments for redis-py's client, e.g. timeouts) and the near
cache's ``near_cache``, ``near_cache_staleness``, ``near_cache_mode`` (validated by
:meth:`~cachepolicy.redis.near.NearCacheConfig.from_options`; ``settings.near``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from ..config import CacheConfig, normalize_option_name
from ..errors import ConfigError, did_you_mean, short_repr
from ..eviction import REDIS_POLICIES
from ..flight import StampedeSettings
from ..options import OPTION_BY_NAME, options_for
from .connection_options import check_client_options, check_url, redacted
from .near import NEAR_OPTIONS, NearCacheConfig

__all__ = [
    "LAZYFREE_FLAGS",
    "REDIS_OPTIONS",
    "SERVER_PARAMETERS",
    "TOPOLOGIES",
    "RedisSettings",
    "location_database",
    "parse_locations",
    "parse_redis_settings",
]

#: Core option -> the redis.conf parameter it becomes (CONFIG SET / CONFIG GET name).
SERVER_PARAMETERS: Final[Mapping[str, str]] = {
    "maxmemory": "maxmemory",
    "maxmemory_policy": "maxmemory-policy",
    "maxmemory_samples": "maxmemory-samples",
    "lfu_log_factor": "lfu-log-factor",
    "lfu_decay_time": "lfu-decay-time",
    "active_expire_effort": "active-expire-effort",
    "hz": "hz",
}

#: Redis's lazy-free switches (redis.conf ``lazyfree-lazy-*``), each a yes/no option here.
LAZYFREE_FLAGS: Final[Mapping[str, str]] = {
    "lazyfree_lazy_eviction": "lazyfree-lazy-eviction",
    "lazyfree_lazy_expire": "lazyfree-lazy-expire",
    "lazyfree_lazy_server_del": "lazyfree-lazy-server-del",
    "lazyfree_lazy_user_del": "lazyfree-lazy-user-del",
    "lazyfree_lazy_user_flush": "lazyfree-lazy-user-flush",
}

# The flags LAZYFREE_THRESHOLD (the in-process option) switches: "free big values off the
# request path" is what lazyfree does for evictions, expiries and deletes in Redis. Redis's size
# threshold itself is a compile-time constant (LAZYFREE_THRESHOLD = 64 elements), so only 0
# versus non-zero carries over.
_THRESHOLD_FLAGS = (
    "lazyfree_lazy_eviction",
    "lazyfree_lazy_expire",
    "lazyfree_lazy_server_del",
    "lazyfree_lazy_user_del",
)

TOPOLOGIES: Final = OPTION_BY_NAME["topology"].choices

# Each option's default, as the options table states it.
_DEFAULT: Final[Mapping[str, Any]] = {
    option.name: option.default for option in options_for("redis", "store")
}

#: The events a backend can relay from Redis's keyspace notifications.
RELAYED_EVENTS: Final = OPTION_BY_NAME["events"].choices

# In-process options that have no meaning in Redis, with why: refused, never ignored.
_REFUSED: Final[Mapping[str, str]] = {
    "expiry": "Redis always expires keys lazily on access and actively in the background; tune "
    "that with 'active_expire_effort' and 'hz' instead",
    "max_entries": "Redis has no entry-count bound; bound the memory with 'maxmemory' instead",
    "cull_frequency": "Redis has no entry-count bound, so there is nothing to cull; bound the "
    "memory with 'maxmemory' instead",
    "admission": "Redis evicts by its own maxmemory-policy and admits every key; TinyLFU "
    "admission runs in the in-process backend only",
    **dict.fromkeys(
        ("record", "record_rate", "record_max_bytes", "record_key"),
        "the access recorder records an in-process store's traffic only",
    ),
}

#: Every option name this module accepts (normalized spelling): the options table's store
#: rows of the ``redis`` tier (:mod:`cachepolicy.options`), in table order.
REDIS_OPTIONS: Final = (
    *(option.name for option in options_for("redis", "store")),
    *StampedeSettings.option_names(),  # get_or_set's, per alias (scope "view")
)


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    """Everything a Redis client layer needs; build it with :func:`parse_redis_settings`."""

    #: Server URLs (``redis://``, ``rediss://`` or ``unix://``); a cluster's startup nodes.
    urls: tuple[str, ...]
    #: ``"standalone"`` or ``"cluster"`` (``"auto"`` is resolved at parse time).
    topology: str
    #: The database number (``SELECT``); always 0 on a cluster.
    db: int
    #: redis.conf parameter -> wanted value, as CONFIG SET / CONFIG GET spell it.
    server_config: Mapping[str, str]
    #: redis.conf parameter -> the option name the user wrote, for messages.
    option_for: Mapping[str, str]
    #: CONFIG SET the wanted values at start-up (it changes a shared server: opt-in).
    apply_config: bool
    #: ``"pickle"``, ``"json"``, a dotted path or a serializer object.
    serializer: Any
    #: HMAC keys: the first signs, every one verifies (rotation); empty = no signing.
    signing_keys: tuple[bytes, ...]
    #: Let ``clear()`` use FLUSHDB when the key prefix is empty (otherwise: SCAN + UNLINK).
    flush_on_clear: bool
    #: Keyspace events relayed to the framework's signals (subset of ``expired``, ``evicted``).
    events: tuple[str, ...]
    #: Extra keyword arguments for redis-py's client (``socket_timeout``, ...).
    client_options: Mapping[str, Any]
    #: The near cache (in-process L1) in front of Redis, or None (``NEAR_CACHE`` absent).
    near: NearCacheConfig | None = None
    #: How ``get_or_set`` protects a key (``STAMPEDE_WAIT``, ``XFETCH_BETA``, ``STALE_GRACE``).
    stampede: StampedeSettings = dataclasses.field(default_factory=StampedeSettings)

    @property
    def cluster(self) -> bool:
        return self.topology == "cluster"


def parse_locations(location: Any, option: str = "LOCATION") -> tuple[str, ...]:
    """``LOCATION`` as a tuple of URLs: one string, a comma-separated string, or a list."""
    if isinstance(location, str):
        urls = [part.strip() for part in location.split(",") if part.strip()]
    elif isinstance(location, Sequence) and all(isinstance(u, str) for u in location):
        urls = [u.strip() for u in location if u.strip()]
    else:
        raise ConfigError(
            f"{option} = {short_repr(location)} must be a Redis URL such as "
            "'redis://127.0.0.1:6379/0', several separated by commas, or a list of them.",
            option=option,
        )
    if not urls:
        raise ConfigError(
            f"{option} is empty; give a Redis URL such as 'redis://127.0.0.1:6379/0'.",
            option=option,
        )
    for url in urls:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"{option} entry {short_repr(redacted(url))} is not a Redis URL: it must "
                "start with redis://, rediss:// or unix://.",
                option=option,
            )
        check_url(url, option)  # host, port, query options
    return tuple(urls)


def _database_number(text: str, where: str, option: str) -> int:
    if not text.isdigit():
        raise ConfigError(
            f"{option} {where} {short_repr(text)} is not a database number: a Redis URL names "
            "its database as a path such as '/0' or a query such as '?db=0'.",
            option=option,
        )
    return int(text)


def location_database(urls: Sequence[str], option: str = "LOCATION") -> int | None:
    """The database the URLs name (a path ``/3`` or a query ``?db=3``), or None if none does.

    Every place that names one must agree: a path and a query that differ, or two URLs that
    differ, are a :class:`ConfigError` naming both (``/abc`` is refused, never read as 0).
    """
    found: dict[int, str] = {}
    for url in urls:
        parts = urlsplit(url)
        shown = redacted(url)
        named: list[tuple[int, str]] = []
        path = parts.path.strip("/")
        if parts.scheme != "unix" and path:  # a unix:// URL's path is the socket's
            named.append((_database_number(path, f"path of {shown!r},", option), repr(shown)))
        for value in parse_qs(parts.query, keep_blank_values=True).get("db", []):
            named.append((_database_number(value, f"query db= of {shown!r},", option), repr(shown)))
        for number, source in named:
            found.setdefault(number, source)
    if len(found) > 1:
        given = " and ".join(f"{number} (in {source})" for number, source in found.items())
        raise ConfigError(
            f"{option} names two databases: {given}. Name one.",
            option=option,
        )
    return next(iter(found), None)


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false"):
        return value.strip().lower() in ("yes", "true")
    raise ConfigError(
        f"Option {name!r} must be True or False (or 'yes'/'no'), got {short_repr(value)}.",
        option=name,
    )


def _signing_keys(value: Any) -> tuple[bytes, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str | bytes) else value
    if not isinstance(values, Sequence) or not values:
        raise ConfigError(
            f"Option 'signing_key' must be a secret string/bytes or a list of them (the first "
            f"signs, all verify), got {short_repr(value)}.",
            option="signing_key",
        )
    keys = []
    for key in values:
        if not isinstance(key, str | bytes) or len(key) < 16:
            raise ConfigError(
                "Option 'signing_key' needs secrets of at least 16 characters (a short key "
                f"can be guessed), got {short_repr(key)}.",
                option="signing_key",
            )
        keys.append(key.encode() if isinstance(key, str) else bytes(key))
    return tuple(keys)


def _events(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        names: tuple[Any, ...] = (value,)
    elif isinstance(value, Sequence | set | frozenset):
        names = tuple(value)
    else:
        raise ConfigError(
            f"Option 'events' must be an event name or a list of them "
            f"({', '.join(map(repr, RELAYED_EVENTS))}), got {short_repr(value)}.",
            option="events",
        )
    for name in names:
        if name not in RELAYED_EVENTS:
            raise ConfigError(
                f"Option 'events' may name {', '.join(map(repr, RELAYED_EVENTS))} (Redis's "
                f"keyspace notifications relayed as signals), not {short_repr(name)}."
                f"{did_you_mean(str(name), RELAYED_EVENTS)}",
                option="events",
            )
    return names


def parse_redis_settings(
    location: Any,
    options: Mapping[str, Any] | None = None,
    *,
    db: Any = None,
    location_option: str = "LOCATION",
    db_option: str = "DATABASE",
) -> RedisSettings:
    """Validate ``location`` and ``options`` (any case, dashes or underscores) into settings.

    The database has one source of truth, ``settings.db``: the URL's (path ``/3`` or query
    ``?db=3``), else ``db`` (the framework's DATABASE / CACHE_REDIS_DB setting; None: not
    given), else 0. Both given and different is an error naming both (``location_option``,
    ``db_option``: the settings' names in messages).

    :raises ConfigError: naming the option, for any unknown name or invalid value.
    """
    given: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for raw, value in (options or {}).items():
        name = normalize_option_name(str(raw))
        if name in _REFUSED:
            raise ConfigError(
                f"Option {short_repr(raw)} cannot be used with a Redis server: {_REFUSED[name]}.",
                option=str(raw),
            )
        if name not in REDIS_OPTIONS:
            raise ConfigError(
                f"Unknown Redis cache option {short_repr(raw)}. Valid options: "
                f"{', '.join(REDIS_OPTIONS)}.{did_you_mean(name, REDIS_OPTIONS)}",
                option=str(raw),
            )
        given[name] = value
        spelled[name] = str(raw)

    core_fields = {
        name: given[name]
        for name in (*SERVER_PARAMETERS, "eviction_mode", "lazyfree_threshold", "databases")
        if name in given
    }
    # The in-process validation, unchanged: same accepted spellings, same errors.
    try:
        config = CacheConfig(**core_fields)
    except ConfigError as exc:
        # The same sentence, with the option named as the user wrote it (OPTIONS/CACHE_* key).
        written = spelled.get(exc.option or "", exc.option or "")
        raise ConfigError(f"{written}: {exc}", option=written) from exc
    if "maxmemory_policy" in given:
        policy = str(config.maxmemory_policy).strip().lower()
        if policy not in REDIS_POLICIES:
            raise ConfigError(
                f"Option {spelled['maxmemory_policy']!r} = {short_repr(given['maxmemory_policy'])}"
                " is not a policy Redis can run: a Python policy (a registered name or a dotted "
                "path) only runs in the in-process backend. Use one of Redis's policies: "
                f"{', '.join(REDIS_POLICIES)}.{did_you_mean(policy, REDIS_POLICIES)}",
                option=spelled["maxmemory_policy"],
            )
    if config.eviction_mode != "sampled":
        raise ConfigError(
            f"Option {spelled.get('eviction_mode', 'eviction_mode')!r} = "
            f"{short_repr(given.get('eviction_mode'))} cannot run in Redis, which always ranks "
            "a sample of keys; use 'sampled' (tune 'maxmemory_samples', 10 is close to exact).",
            option=spelled.get("eviction_mode", "eviction_mode"),
        )

    wanted: dict[str, str] = {}
    option_for: dict[str, str] = {}
    for name, parameter in SERVER_PARAMETERS.items():
        if name in given:
            value = getattr(config, name)
            wanted[parameter] = str(value).lower() if name == "maxmemory_policy" else str(value)
            option_for[parameter] = spelled[name]
    if "lazyfree_threshold" in given:
        on = "yes" if config.lazyfree_threshold > 0 else "no"
        for flag in _THRESHOLD_FLAGS:
            wanted[LAZYFREE_FLAGS[flag]] = on
            option_for[LAZYFREE_FLAGS[flag]] = spelled["lazyfree_threshold"]
    for name, parameter in LAZYFREE_FLAGS.items():
        if name in given:
            wanted[parameter] = "yes" if _flag(spelled[name], given[name]) else "no"
            option_for[parameter] = spelled[name]

    urls = parse_locations(location, location_option)
    url_db = location_database(urls, location_option)
    if db is None:
        db = 0 if url_db is None else url_db
    elif url_db is not None and (isinstance(db, bool) or db != url_db):
        raise ConfigError(
            f"The database is given twice with different values: {db_option} = "
            f"{short_repr(db)} and {location_option} names database {url_db}. Give it in one "
            "place.",
            option=db_option,
        )
    topology = given.get("topology", _DEFAULT["topology"])
    if not isinstance(topology, str) or topology.strip().lower() not in TOPOLOGIES:
        raise ConfigError(
            f"Option {spelled.get('topology', 'topology')!r} must be one of "
            f"{', '.join(map(repr, TOPOLOGIES))}, got {short_repr(topology)}."
            f"{did_you_mean(str(topology).lower(), TOPOLOGIES)}",
            option=spelled.get("topology", "topology"),
        )
    topology = topology.strip().lower()
    if topology == "auto":
        # Several URLs can only mean a cluster's startup nodes: there is no client-side
        # sharding here (that is what Redis Cluster is for).
        topology = "cluster" if len(urls) > 1 else "standalone"
    if topology == "standalone" and len(urls) > 1:
        raise ConfigError(
            f"LOCATION lists {len(urls)} servers but the topology is 'standalone'; give one URL, "
            "or set the topology to 'cluster' for a Redis Cluster's startup nodes.",
            option=spelled.get("topology", "topology"),
        )
    if isinstance(db, bool) or not isinstance(db, int) or not 0 <= db < config.databases:
        raise ConfigError(
            f"The database number ({db_option if url_db is None else location_option}) must be "
            f"an integer from 0 to {config.databases - 1}, got {short_repr(db)}.",
            option=db_option if url_db is None else location_option,
        )
    if topology == "cluster" and db != 0:
        raise ConfigError(
            f"Redis Cluster has only database 0, so the database number {db} cannot be used "
            "with the 'cluster' topology.",
            option=db_option if url_db is None else location_option,
        )
    client_options = given.get("client_options") or {}
    if not isinstance(client_options, Mapping):
        raise ConfigError(
            f"Option 'client_options' must be a dict of redis-py client keyword arguments, got "
            f"{short_repr(client_options)}.",
            option=spelled.get("client_options", "client_options"),
        )
    check_client_options(
        client_options,
        cluster=topology == "cluster",
        option=spelled.get("client_options", "client_options"),
    )
    serializer = given.get("serializer", _DEFAULT["serializer"])
    from .serializers import resolve_redis_serializer

    signing_keys = _signing_keys(given.get("signing_key"))
    resolve_redis_serializer(serializer, signing_keys)  # validated now, not on first use
    near = _near(given, spelled, topology)
    return RedisSettings(
        stampede=_stampede(given, spelled),
        urls=urls,
        topology=topology,
        db=db,
        server_config=wanted,
        option_for=option_for,
        apply_config=_flag("apply_config", given.get("apply_config", _DEFAULT["apply_config"])),
        serializer=serializer,
        signing_keys=signing_keys,
        flush_on_clear=_flag(
            "flush_on_clear", given.get("flush_on_clear", _DEFAULT["flush_on_clear"])
        ),
        events=_events(given.get("events", _DEFAULT["events"])),
        client_options=dict(client_options),
        near=near,
    )


def _stampede(given: Mapping[str, Any], spelled: Mapping[str, str]) -> StampedeSettings:
    """The stampede options, errors named as the user wrote them."""
    options = {name: given[name] for name in StampedeSettings.option_names() if name in given}
    try:
        return StampedeSettings.from_options(options)
    except ConfigError as exc:
        written = spelled.get(exc.option or "", exc.option or "")
        raise ConfigError(str(exc), option=written) from exc


def _near(given: Mapping[str, Any], spelled: Mapping[str, str], topology: str) -> Any:
    """The near-cache options as a :class:`NearCacheConfig` (None: no L1), errors named as
    the user wrote the option (an OPTIONS key, or the Flask setting's keyword)."""
    options = {name: given[name] for name in NEAR_OPTIONS if name in given}
    try:
        near = NearCacheConfig.from_options(options)
    except ConfigError as exc:
        written = spelled.get(normalize_option_name(exc.option or ""), exc.option or "")
        raise ConfigError(str(exc), option=written) from exc
    if near is not None and near.mode == "default" and topology == "cluster":
        # NearCache itself refuses it too, but only once it has met the cluster: say it now.
        raise ConfigError(
            f"Option {spelled.get('near_cache_mode', 'near_cache_mode')!r} = 'default' needs a "
            "single Redis server: on a cluster each read would have to be redirected to the "
            "tracker of its key's primary. Use 'bcast' (one tracking connection per primary).",
            option=spelled.get("near_cache_mode", "near_cache_mode"),
        )
    return near
