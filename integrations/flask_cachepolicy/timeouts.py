"""The one place where Flask-Caching timeouts become core TTLs.

Flask-Caching and cachelib give ``timeout`` a meaning that differs from the core's ``ttl``:

============================  ==========================  ==================================
Flask-Caching ``timeout``     meaning                      core ``ttl``
============================  ==========================  ==================================
``None``                      use the default timeout      ``default_timeout`` translated
``0`` (or ``timedelta(0)``)   never expire                 ``None``
``n > 0``                     expire after ``n`` seconds   ``n - DEADLINE_EPSILON``
``n < 0``                     already expired              ``float(n)`` (core: delete now)
``timedelta``                 whole seconds, rounded up    as the number of seconds
============================  ==========================  ==================================

The deadline is exclusive in Flask-Caching (cachelib's ``SimpleCache`` keeps an entry while
``now < expires``; Django's ``LocMemCache`` too) but inclusive in the core, which follows
Redis's ``keyIsExpired`` (expired once ``now > deadline``). Flask-Caching's own tests advance a
clock by exactly ``timeout`` seconds and expect a miss, so the TTL handed to the core is
shortened by :data:`DEADLINE_EPSILON`, far below any real clock's resolution.

Getting this wrong is silent (a ``0`` passed straight through would make every "forever" entry
vanish at once), so every backend method calls :func:`flask_timeout_to_ttl` and nothing else
does arithmetic on timeouts.
"""

from __future__ import annotations

import math
from datetime import timedelta

from cachepolicy.errors import short_repr

__all__ = ["DEADLINE_EPSILON", "FlaskTimeout", "flask_timeout_to_ttl", "timeout_seconds"]

#: What Flask-Caching and cachelib accept as a timeout.
FlaskTimeout = int | float | timedelta

#: Seconds taken off every positive TTL to turn the core's inclusive deadline into Flask's
#: exclusive one (see the module docstring). One microsecond: four times the spacing of float
#: timestamps near 2024 (2**-22 s), so ``now + ttl`` really lands before ``now + timeout``, yet
#: a thousand times finer than the millisecond deadlines Redis itself keeps.
DEADLINE_EPSILON = 1e-6


def timeout_seconds(timeout: FlaskTimeout, *, what: str = "timeout") -> float:
    """Return ``timeout`` as seconds, without giving ``0`` any special meaning.

    ``timedelta`` values are rounded *up* to whole seconds, as Flask-Caching and cachelib do, so
    ``timedelta(milliseconds=200)`` means one second and never turns into "no expiry". Floats
    are kept exact: the core stores deadlines as floats, so there is no reason to round (cachelib
    rounds them up with a deprecation warning because its stores hold integers). NaN, infinity
    and ints beyond float range raise ``ValueError``: ``0`` already means "never expire".
    """
    if isinstance(timeout, timedelta):
        return float(math.ceil(timeout.total_seconds()))
    # bool is an int subclass; ``timeout=True`` is always a bug in the caller.
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"The cache {what} must be an int, a float or a datetime.timedelta (seconds; "
            f"0 means never expire), not {short_repr(timeout)} of type {type(timeout).__name__}."
        )
    try:
        seconds = float(timeout)
    except OverflowError:
        seconds = math.inf
    if math.isnan(seconds):
        raise ValueError(f"The cache {what} must be a number of seconds, not NaN.")
    if math.isinf(seconds):
        raise ValueError(
            f"The cache {what} must be a finite number of seconds, not {short_repr(timeout)}; "
            "0 means never expire."
        )
    return seconds


def flask_timeout_to_ttl(
    timeout: FlaskTimeout | None, default_timeout: FlaskTimeout
) -> float | None:
    """Translate a Flask-Caching ``timeout`` into the core's ``ttl`` (see the module table).

    :param timeout: the ``timeout`` argument the caller gave (``None`` = use the default).
    :param default_timeout: the backend's ``default_timeout`` (Flask's ``CACHE_DEFAULT_TIMEOUT``),
        which itself follows the Flask meaning: ``0`` = never expire.
    :returns: seconds until expiry, ``None`` for "never", or a value ``<= 0`` for "already
        expired" (the core then deletes the key instead of storing the write).
    """
    seconds = timeout_seconds(default_timeout if timeout is None else timeout)
    if seconds == 0:
        return None
    if seconds > 0:
        return seconds - DEADLINE_EPSILON
    return seconds
