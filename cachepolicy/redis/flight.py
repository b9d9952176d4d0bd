"""Single flight on the Redis tier: one computation per key across threads *and processes*.

The in-process table of :mod:`cachepolicy.flight` cannot see other processes, so here the lock
is a Redis key next to the value's (``<key>:cachepolicy-lock``):

* ``SET lock token NX PX lock_timeout``: the caller that sets it computes (the *holder*);
  ``token`` is random, so only the holder can release it;
* the holder stores the value through the client (so a near cache and a signing serializer see
  it like any write), then releases with a compare-and-delete script (``GET`` = token, then
  ``DEL``): a holder whose lock already expired and was taken by another never deletes the
  other's lock;
* the others poll the value (every ``POLL`` seconds) for at most ``stampede_wait`` seconds; when
  the lock disappears without a value (the holder raised, or died and its lock expired after
  ``lock_timeout``) they try to take it themselves. After ``stampede_wait`` they compute or raise
  :class:`~cachepolicy.errors.ComputeTimeoutError` (``stampede_on_timeout``).

A holder killed mid-computation (SIGKILL) therefore delays the others by at most
``lock_timeout``.

Around the lock, as on the in-process tier (:mod:`cachepolicy.flight`, whose judgement and
envelope rules these are): the value is stored in an envelope with the computation time
(*delta*) and its freshness deadline (wall-clock seconds, which every process reading it
shares), its Redis TTL being the caller's plus ``stale_grace``. A hit is judged by
:func:`cachepolicy.flight.freshness`: XFetch (``xfetch_beta``) may draw it for an early
refresh, and a copy past its deadline is served while one caller refreshes it (serve-stale).
A refresh is led by whoever takes the same lock; the others keep getting the stored copy, and
a refresh that raises is logged and the copy served. ``tags`` are stamped before the
computation begins (:mod:`cachepolicy.redis.tagging`), so an invalidation during it makes the
value a miss.

The in-process tier's stampede counters (:data:`cachepolicy.flight.STAMPEDE_COUNTERS`) and
events (:data:`cachepolicy.flight.STAMPEDE_EVENTS`) are kept by the client's
:class:`~cachepolicy.flight.StampedeHub` (``client.stampede``, shared by a backend's sync and
async clients), under the same names and at the same moments, counted **per process**: each
process reports the computations, waits and refreshes of its own callers.

:func:`aget_or_set` is the same protocol for asyncio tasks on the native async client (written
out with ``await``: the two differ in every I/O step; the decisions are shared functions).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

from ..envelope import Envelope
from ..errors import short_repr
from ..flight import (
    RECOMPUTE,
    REFRESH_STALE,
    SERVE,
    StampedeSettings,
    check_callable,
    freshness,
    timeout_error,
)
from .client import AsyncRedisClient, RedisClient
from .tagging import DELETE_IF_SAME, tag_names

__all__ = ["LOCK_SUFFIX", "POLL", "aget_or_set", "get_or_set", "release"]

logger = logging.getLogger("cachepolicy.redis.flight")

#: Appended to a key to name its lock.
LOCK_SUFFIX: Final = ":cachepolicy-lock"
#: How often a waiting caller looks for the value, in seconds: a tenth of a typical 100 ms
#: computation, and at most a few hundred round trips per second per waiting process.
POLL: Final = 0.01
# The settings of a call that gives none (immutable: one instance serves every call).
_DEFAULT_SETTINGS: Final = StampedeSettings()


def release(client: RedisClient, lock: str, token: str) -> bool:
    """Delete ``lock`` if ``token`` still holds it; True if deleted."""
    with client._errors():
        return bool(client.remote.eval(DELETE_IF_SAME, 1, lock, token))


async def arelease(client: AsyncRedisClient, lock: str, token: str) -> bool:
    """:func:`release` on the async client."""
    async with client._errors():
        return bool(await client.remote.eval(DELETE_IF_SAME, 1, lock, token))


class _Call:
    """One ``get_or_set`` call: its key, lock, settings and tags (checked, before any I/O)."""

    __slots__ = ("compute", "key", "lock", "lock_ms", "names", "settings", "ttl")

    def __init__(
        self,
        key: str,
        compute: Callable[[], Any],
        ttl: float | None,
        settings: StampedeSettings | None,
        lock_timeout: float | None,
        tags: Any,
    ) -> None:
        check_callable(compute, key)
        self.names = tag_names(tags)
        self.key, self.compute, self.ttl = key, compute, ttl
        self.settings = settings if settings is not None else _DEFAULT_SETTINGS
        self.lock = key + LOCK_SUFFIX
        timeout = lock_timeout if lock_timeout is not None else self.settings.wait
        self.lock_ms = max(1, int(timeout * 1000))

    def verdict(self, entry: Envelope, client: RedisClient | AsyncRedisClient) -> int:
        """What a hit on ``entry`` calls for (:func:`cachepolicy.flight.freshness`)."""
        return freshness(entry, client.clock(), self.settings, client.rng)


def _refreshed_meanwhile(
    judged: Envelope, current: Envelope | None, client: RedisClient | AsyncRedisClient
) -> bool:
    """Whether another caller refreshed the key between our read and our lock (its holder
    released it just before we took it): then ``current`` is served, not computed again."""
    return (
        current is not None
        and current.expiry != judged.expiry
        and not current.stale(client.clock())
    )


def _failed_refresh(call: _Call, stale: bool) -> None:
    logger.warning(
        "Refreshing key %s raised; serving its %s copy.",
        short_repr(call.key),
        "stale" if stale else "current",
        exc_info=True,
    )


def _refreshed(client: RedisClient | AsyncRedisClient, call: _Call, stale: bool) -> None:
    """A refresh stored its value: an early one is counted (a stale one served nobody)."""
    if not stale:
        client.stampede_event("stampede_early_refreshes", "refreshed_early", call.key)


def _stored_copy(
    client: RedisClient | AsyncRedisClient, call: _Call, entry: Envelope, stale: bool
) -> Any:
    """The copy read, served while another caller refreshes it (or after a refresh raised);
    counted when stale."""
    if stale:
        client.stampede_event("stampede_stale_served", "stale_served", call.key)
    return client.codec.loads(entry.payload)


def _timed_out(client: RedisClient | AsyncRedisClient, call: _Call) -> None:
    """``stampede_wait`` ran out: counted; ComputeTimeoutError when the settings say raise."""
    client.stampede_event("stampede_wait_timeouts", None, call.key)
    if call.settings.on_timeout == "raise":
        raise timeout_error(key=call.key, settings=call.settings)


@contextlib.contextmanager
def _counted(client: RedisClient | AsyncRedisClient, call: _Call) -> Iterator[None]:
    """Around a computation and the write of its value: ``stampede_computed`` (and the
    ``computed`` event) when both succeed, ``stampede_failed`` when either raises (nothing
    is stored then)."""
    try:
        yield
    except BaseException:
        client.stampede_event("stampede_failed", None, call.key)
        raise
    client.stampede_event("stampede_computed", "computed", call.key)


def _waited(client: RedisClient | AsyncRedisClient, call: _Call, value: Any) -> Any:
    """A waiting caller found the value another caller computed."""
    client.stampede_event("stampede_waited", None, call.key)
    return value


# ---------------------------------------------------------------------------- sync


@contextlib.contextmanager
def _locked(client: RedisClient, call: _Call) -> Iterator[bool]:
    """Try the key's lock (``SET NX PX`` with a fresh token); True inside if held, released
    on the way out by its holder only."""
    token = secrets.token_hex(16)
    with client._errors():
        held = bool(client.remote.set(call.lock, token, nx=True, px=call.lock_ms))
    try:
        yield held
    finally:
        if held:
            release(client, call.lock, token)


def _compute_and_store(client: RedisClient, call: _Call) -> Any:
    stamps = client.stamps(call.names)  # before computing: an invalidation meanwhile counts
    started = client.clock()
    with _counted(client, call):
        value = call.compute()
        delta = client.clock() - started
        client.set_computed(call.key, value, call.ttl, stamps, call.settings, delta)
    return value


def get_or_set(
    client: RedisClient,
    key: str,
    compute: Callable[[], Any],
    ttl: float | None,
    settings: StampedeSettings | None = None,
    *,
    lock_timeout: float | None = None,
    tags: Any = None,
) -> Any:
    """The value of ``key`` (the stored key); on a miss, computed once across every thread
    and process using this Redis, stored with ``ttl`` (and ``tags``). ``lock_timeout``
    (default: the wait) bounds how long a dead holder keeps the others waiting. Early refresh
    and serve-stale as ``settings`` say."""
    call = _Call(key, compute, ttl, settings, lock_timeout, tags)
    entry = client.entry(key)
    if entry is not None:
        verdict = call.verdict(entry, client)
        if verdict == SERVE:
            return client.codec.loads(entry.payload)
        if verdict != RECOMPUTE:
            return _refresh(client, call, entry, verdict == REFRESH_STALE)
    return _compute_once(client, call)


def _refresh(client: RedisClient, call: _Call, entry: Envelope, stale: bool) -> Any:
    """Early refresh or serve-stale: whoever takes the lock recomputes, the others (and a
    refresh that raises) get the stored copy."""
    with _locked(client, call) as held:
        if held:
            current = client.entry(call.key)
            if _refreshed_meanwhile(entry, current, client):
                return client.codec.loads(current.payload)  # type: ignore[union-attr]
            try:
                value = _compute_and_store(client, call)
            except Exception:
                _failed_refresh(call, stale)
            else:
                _refreshed(client, call, stale)
                return value
    return _stored_copy(client, call, entry, stale)


def _fresh_value(client: RedisClient, call: _Call) -> tuple[bool, Any]:
    entry = client.entry(call.key)
    if entry is None or entry.stale(client.clock()):
        return False, None
    return True, client.codec.loads(entry.payload)


def _compute_once(client: RedisClient, call: _Call) -> Any:
    pause = threading.Event()
    deadline = time.monotonic() + call.settings.wait
    polled = False
    while True:
        with _locked(client, call) as held:
            if held:
                found, value = _fresh_value(client, call)  # stored between miss and lock?
                if found:
                    # After polling, the holder stored it and let go between two looks.
                    return _waited(client, call, value) if polled else value
                return _compute_and_store(client, call)
        polled = True
        while time.monotonic() < deadline:
            pause.wait(POLL)
            found, value = _fresh_value(client, call)
            if found:
                return _waited(client, call, value)
            with client._errors():
                if not client.remote.exists(call.lock):
                    break  # the holder is gone without a value: take the lock ourselves
        else:
            _timed_out(client, call)
            return _compute_and_store(client, call)


# ---------------------------------------------------------------------------- asyncio


@contextlib.asynccontextmanager
async def _alocked(client: AsyncRedisClient, call: _Call) -> AsyncIterator[bool]:
    """:func:`_locked` on the async client."""
    token = secrets.token_hex(16)
    async with client._errors():
        held = bool(await client.remote.set(call.lock, token, nx=True, px=call.lock_ms))
    try:
        yield held
    finally:
        if held:
            await arelease(client, call.lock, token)


async def _acompute_and_store(client: AsyncRedisClient, call: _Call) -> Any:
    stamps = await client.stamps(call.names)
    started = client.clock()
    with _counted(client, call):
        value = call.compute()
        if inspect.isawaitable(value):
            value = await value
        delta = client.clock() - started
        await client.set_computed(call.key, value, call.ttl, stamps, call.settings, delta)
    return value


async def aget_or_set(
    client: AsyncRedisClient,
    key: str,
    compute: Callable[[], Any],
    ttl: float | None,
    settings: StampedeSettings | None = None,
    *,
    lock_timeout: float | None = None,
    tags: Any = None,
) -> Any:
    """:func:`get_or_set` for asyncio tasks: ``compute`` may be an ``async def`` function;
    waiting suspends the task."""
    call = _Call(key, compute, ttl, settings, lock_timeout, tags)
    entry = await client.entry(key)
    if entry is not None:
        verdict = call.verdict(entry, client)
        if verdict == SERVE:
            return client.codec.loads(entry.payload)
        if verdict != RECOMPUTE:
            return await _arefresh(client, call, entry, verdict == REFRESH_STALE)
    return await _acompute_once(client, call)


async def _arefresh(client: AsyncRedisClient, call: _Call, entry: Envelope, stale: bool) -> Any:
    async with _alocked(client, call) as held:
        if held:
            current = await client.entry(call.key)
            if _refreshed_meanwhile(entry, current, client):
                return client.codec.loads(current.payload)  # type: ignore[union-attr]
            try:
                value = await _acompute_and_store(client, call)
            except Exception:
                _failed_refresh(call, stale)
            else:
                _refreshed(client, call, stale)
                return value
    return _stored_copy(client, call, entry, stale)


async def _afresh_value(client: AsyncRedisClient, call: _Call) -> tuple[bool, Any]:
    entry = await client.entry(call.key)
    if entry is None or entry.stale(client.clock()):
        return False, None
    return True, client.codec.loads(entry.payload)


async def _acompute_once(client: AsyncRedisClient, call: _Call) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + call.settings.wait
    polled = False
    while True:
        async with _alocked(client, call) as held:
            if held:
                found, value = await _afresh_value(client, call)
                if found:
                    return _waited(client, call, value) if polled else value
                return await _acompute_and_store(client, call)
        polled = True
        while loop.time() < deadline:
            await asyncio.sleep(POLL)
            found, value = await _afresh_value(client, call)
            if found:
                return _waited(client, call, value)
            async with client._errors():
                if not await client.remote.exists(call.lock):
                    break
        else:
            _timed_out(client, call)
            return await _acompute_and_store(client, call)
