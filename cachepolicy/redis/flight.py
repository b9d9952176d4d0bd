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
``lock_timeout``. Early refresh, serve-stale and tags are the in-process tier's only so far.
:func:`aget_or_set` is the same protocol for asyncio tasks on the native async client (written
out with ``await``: the two differ in every I/O step, so there is no shared body to bind).
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ..flight import StampedeSettings, check_callable, timeout_error
from .client import AsyncRedisClient, RedisClient

__all__ = ["LOCK_SUFFIX", "POLL", "aget_or_set", "get_or_set", "release"]

#: Appended to a key to name its lock.
LOCK_SUFFIX: Final = ":cachepolicy-lock"
#: How often a waiting caller looks for the value, in seconds: a tenth of a typical 100 ms
#: computation, and at most a few hundred round trips per second per waiting process.
POLL: Final = 0.01
# Deletes KEYS[1] only if it still holds ARGV[1] (the holder's token): one atomic step.
_RELEASE: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)
_MISSING: Final[Any] = object()


def release(client: RedisClient, lock: str, token: str) -> bool:
    """Delete ``lock`` if ``token`` still holds it; True if deleted."""
    with client._errors():
        return bool(client.remote.eval(_RELEASE, 1, lock, token))


def get_or_set(
    client: RedisClient,
    key: str,
    compute: Callable[[], Any],
    ttl: float | None,
    settings: StampedeSettings | None = None,
    *,
    lock_timeout: float | None = None,
) -> Any:
    """The value of ``key`` (the stored key); on a miss, computed once across every thread
    and process using this Redis, stored with ``ttl``. ``lock_timeout`` (default: the wait)
    bounds how long a dead holder keeps the others waiting."""
    check_callable(compute, key)
    value = client.get(key, _MISSING)
    if value is not _MISSING:
        return value
    settings = settings if settings is not None else StampedeSettings()
    lock, pause = key + LOCK_SUFFIX, threading.Event()
    lock_ms = max(1, int((lock_timeout if lock_timeout is not None else settings.wait) * 1000))
    deadline = time.monotonic() + settings.wait
    while True:
        token = secrets.token_hex(16)
        with client._errors():
            held = client.remote.set(lock, token, nx=True, px=lock_ms)
        if held:
            try:
                value = client.get(key, _MISSING)  # stored between our miss and our lock?
                if value is _MISSING:
                    value = compute()
                    client.set(key, value, ttl)
                return value
            finally:
                release(client, lock, token)
        while time.monotonic() < deadline:
            pause.wait(POLL)
            value = client.get(key, _MISSING)
            if value is not _MISSING:
                return value
            with client._errors():
                if not client.remote.exists(lock):
                    break  # the holder is gone without a value: take the lock ourselves
        else:
            if settings.on_timeout == "raise":
                raise timeout_error(key, settings)
            value = compute()
            client.set(key, value, ttl)
            return value


async def arelease(client: AsyncRedisClient, lock: str, token: str) -> bool:
    """:func:`release` on the async client."""
    async with client._errors():
        return bool(await client.remote.eval(_RELEASE, 1, lock, token))


async def aget_or_set(
    client: AsyncRedisClient,
    key: str,
    compute: Callable[[], Any],
    ttl: float | None,
    settings: StampedeSettings | None = None,
    *,
    lock_timeout: float | None = None,
) -> Any:
    """:func:`get_or_set` for asyncio tasks: ``compute`` may be an ``async def`` function;
    waiting suspends the task."""
    check_callable(compute, key)
    value = await client.get(key, _MISSING)
    if value is not _MISSING:
        return value
    settings = settings if settings is not None else StampedeSettings()
    lock = key + LOCK_SUFFIX
    lock_ms = max(1, int((lock_timeout if lock_timeout is not None else settings.wait) * 1000))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.wait
    while True:
        token = secrets.token_hex(16)
        async with client._errors():
            held = await client.remote.set(lock, token, nx=True, px=lock_ms)
        if held:
            try:
                value = await client.get(key, _MISSING)
                if value is _MISSING:
                    value = await _acompute(compute)
                    await client.set(key, value, ttl)
                return value
            finally:
                await arelease(client, lock, token)
        while loop.time() < deadline:
            await asyncio.sleep(POLL)
            value = await client.get(key, _MISSING)
            if value is not _MISSING:
                return value
            async with client._errors():
                if not await client.remote.exists(lock):
                    break
        else:
            if settings.on_timeout == "raise":
                raise timeout_error(key, settings)
            value = await _acompute(compute)
            await client.set(key, value, ttl)
            return value


async def _acompute(compute: Callable[[], Any]) -> Any:
    value = compute()
    return await value if inspect.isawaitable(value) else value
