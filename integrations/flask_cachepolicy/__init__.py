"""Flask-Caching integration for cachepolicy: Redis-grade memory management in a Flask cache.

Configuration::

    app.config.update(
        CACHE_TYPE="flask_cachepolicy.PolicyCache",
        CACHE_DEFAULT_TIMEOUT=300,           # seconds; 0 = never expire (Flask meaning)
        CACHE_MAXMEMORY="64mb",              # byte budget; 0 = unlimited
        CACHE_MAXMEMORY_POLICY="allkeys-lru",
        CACHE_THRESHOLD=10_000,              # entry bound (Flask-Caching's default is 500);
                                             # 0 = bounded by CACHE_MAXMEMORY only
    )
    cache = Cache(app)

Settings (each core option also works inside ``CACHE_OPTIONS`` under its lower-case name; the
keys come from the options table, :mod:`cachepolicy.options`, and this list is checked against
it by ``tests/flask/test_flask_options_table.py``):

=========================================  =========================================================
``CACHE_MAXMEMORY``                        memory budget: bytes or ``"64mb"``/``"1gb"``/``"100k"``;
                                           0 = none
``CACHE_MAXMEMORY_POLICY``                 one of the ten redis.conf policies (``allkeys-lru``,
                                           ...), or ``allkeys-wtinylfu``, ``allkeys-gdsf``,
                                           ``volatile-gdsf``
``CACHE_MAXMEMORY_SAMPLES``                keys sampled per eviction (1..64); more = closer to exact
``CACHE_EVICTION_MODE``                    ``"sampled"`` (Redis) or ``"exact"``
``CACHE_ADMISSION``                        ``"none"`` or ``"tinylfu"`` (refuse new keys rarer than
                                           victims)
``CACHE_LFU_LOG_FACTOR``                   LFU counter growth (redis.conf ``lfu-log-factor``)
``CACHE_LFU_DECAY_TIME``                   LFU decay period in minutes (``lfu-decay-time``)
``CACHE_EXPIRY``                           ``"lazy"``, ``"active"``, ``"timed"`` or ``"background"``
``CACHE_HZ``                               active expiry cycles per second
``CACHE_ACTIVE_EXPIRE_EFFORT``             1..10, CPU spent reclaiming expired keys
``CACHE_DATABASES``                        number of core databases in the store
``CACHE_CULL_FREQUENCY``                   at the threshold, evict ``count // n`` entries (None =
                                           one)
``CACHE_LAZYFREE_THRESHOLD``               see the core documentation
``CACHE_RECORD``                           record accesses for ``python -m cachepolicy.simulate`` (a
                                           directory or ``.cprec`` path; keys only as keyed hashes)
``CACHE_RECORD_RATE``                      share of keys recorded, by key hash (default 0.01)
``CACHE_RECORD_MAX_BYTES``                 size at which a recording file is rotated (default 64mb)
``CACHE_RECORD_KEY``                       secret of the recordings' keyed hash (default: kept
                                           beside them)
``CACHE_THRESHOLD``                        entry bound, the core's ``max_entries`` (Flask-Caching
                                           default 500)
``CACHE_KEY_PREFIX``                       prefix of every key; ``clear()`` on a shared store clears
                                           only it
``CACHE_CACHEPOLICY_LOCATION``             name of a process-wide store shared by every backend
                                           naming it; unset = a private store per ``Cache`` object
                                           (like SimpleCache)
``CACHE_CACHEPOLICY_DB``                   core database number to use (default 0)
``CACHE_CACHEPOLICY_SIGNALS``              keyspace events sent as blinker signals (default:
                                           evicted, expired; ``"all"``; ``()`` for none), see
                                           :mod:`.signals`
``CACHE_CACHEPOLICY_CLOCK``                a :class:`cachepolicy.ManualClock` for deterministic
                                           tests
``CACHE_CACHEPOLICY_STAMPEDE_WAIT``        seconds a caller waits for another one computing the same
                                           key (single flight: ``get_or_set``,
                                           :class:`SingleFlightCache`; default 10)
``CACHE_CACHEPOLICY_STAMPEDE_ON_TIMEOUT``  then ``"compute"`` (default) or ``"raise"``
                                           (:class:`cachepolicy.errors.ComputeTimeoutError`)
``CACHE_CACHEPOLICY_XFETCH_BETA``          early refresh of ``get_or_set`` values before expiry
                                           (XFetch; default 1.0, ``None`` = off)
``CACHE_CACHEPOLICY_STALE_GRACE``          seconds a ``get_or_set`` value is kept past its TTL and
                                           served stale while one caller recomputes it (0 = off)
=========================================  =========================================================

A bad value stops the application at ``Cache(app)`` with a :class:`cachepolicy.ConfigError`
that names the Flask key; a lower-case key (``cache_maxmemory``), which Flask and
Flask-Caching ignore, gets a ``UserWarning`` naming the upper-case key. The
``flask cachepolicy info [--json]`` command prints a Redis INFO-style report.
"""

from __future__ import annotations

from .backend import CoreSerializer, PolicyCache
from .cli import cachepolicy_cli
from .signals import (
    keyspace_event,
    keyspace_evicted,
    keyspace_expired,
)
from .single_flight import SingleFlightCache
from .timeouts import flask_timeout_to_ttl


def __getattr__(name: str) -> object:
    # Needs redis-py: imported when CACHE_TYPE names it, not with the package.
    if name == "RedisPolicyCache":
        from .redis_backend import RedisPolicyCache

        return RedisPolicyCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CoreSerializer",
    "PolicyCache",
    "RedisPolicyCache",
    "SingleFlightCache",
    "cachepolicy_cli",
    "flask_timeout_to_ttl",
    "keyspace_event",
    "keyspace_evicted",
    "keyspace_expired",
]
