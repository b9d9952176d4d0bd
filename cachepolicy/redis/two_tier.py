"""The Redis clients with the near cache (L1) in front: what ``NEAR_CACHE`` turns on.

:class:`NearRedisClient` and :class:`AsyncNearRedisClient` are :class:`RedisClient` and
:class:`AsyncRedisClient` with the seam of :mod:`cachepolicy.redis.client` overridden, as
``docs/near-cache.md`` ("Integration") prescribes: reads of payloads go through the near cache
(an L1 hit costs no round trip; a miss is ``GET`` + ``PTTL`` and fills the L1), and every
write, delete, ``touch``, ``incr`` and ``clear`` goes to Redis first and invalidates the local
copies *after* Redis answered (a local read that began before the write then cannot fill the
older value). ``has()`` and ``ttl()`` keep asking Redis: they are not what the L1 is for.

Sharing
=======
Django makes a backend object per thread; the near cache owns a tracker (one RESP3 connection
per primary) and an L1 that every one of them must share. So there is **one near cache per
process, server settings, L1 settings and key prefix** (:data:`_SYNC_NEAR`), made on first use,
next to the process's shared redis-py client. A fork (gunicorn ``--preload``) is handled inside
:class:`~cachepolicy.redis.near.NearCache`: the child never trusts the parent's copies and
restarts its own tracker. Async: one :class:`~cachepolicy.redis.near.AsyncNearCache` per
running event loop (its tracker runs as tasks of that loop), exactly like the per-loop
``redis.asyncio`` clients: stopped when the loop shuts down its async generators (as
``asyncio.run`` does), by :meth:`AsyncNearRedisClient.aclose` or
:func:`cachepolicy.redis.client.aclose_loop`; a loop closed without any of these has its near
caches dropped the next time any loop asks.

Several near caches of one process can hold the same Redis key (two aliases on one server, or
the sync and the async API of one backend): a write through any of them invalidates the copies
of *all* of this process's near caches on that server at once, not only after the server's
push comes back, so a process always reads its own writes.

Async misses are not coalesced into the async client's ``MGET`` batches (each miss is its own
``GET`` + ``PTTL`` pipeline): the L1's hits are what removes the round trips. Writes still ride
the batching (``super()._write``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..flight import StampedeHub
from .client import (
    _CONNECTION_ERRORS,
    _SYNC_REMOTES,
    AsyncRedisClient,
    RedisClient,
    _unavailable,
    close_with_loop,
)
from .near import AsyncNearCache, AsyncRedisRemote, Coherence, NearCache, RedisRemote
from .serializers import RejectionCounter
from .settings import RedisSettings

__all__ = ["AsyncNearRedisClient", "NearRedisClient", "close_near_caches", "settle_near_caches"]

# (server settings key, L1 settings, prefix) -> the process's sync near cache.
_SYNC_NEAR: dict[tuple[str, str, str], NearCache] = {}
# loop -> (server settings key, L1 settings, prefix) -> that loop's async near cache.
_ASYNC_NEAR: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str, str], AsyncNearCache]
] = weakref.WeakKeyDictionary()
# server settings key -> every live L1 of this process on that server (sync and async): a
# local write invalidates them all. Replaced, never mutated, so readers need no lock.
_LOCAL: dict[str, tuple[Coherence, ...]] = {}
_LOCK = threading.Lock()


def _register(server: str, core: Coherence) -> None:
    _LOCAL[server] = (*_LOCAL.get(server, ()), core)


def _unregister(server: str, core: Coherence) -> None:
    left = tuple(c for c in _LOCAL.get(server, ()) if c is not core)
    if left:
        _LOCAL[server] = left
    else:
        _LOCAL.pop(server, None)


def _forget(server: str, keys: Iterable[str]) -> None:
    cores = _LOCAL.get(server, ())
    if len(cores) == 1:
        cores[0].forget(keys)
        return
    keys = list(keys)
    for core in cores:
        core.forget(keys)


@contextlib.contextmanager
def _writing(server: str, writer: Coherence | None, keys: Iterable[str]) -> Iterator[None]:
    """Around an unconditional SET of ``keys`` through ``writer`` (the writing client's L1, or
    None): that L1 awaits the write's echo (:meth:`Coherence.own_write`), every other L1 of
    the process on the server forgets the keys after it, also after a failure (the write may
    have happened before the error)."""
    keys = list(keys)
    try:
        if writer is None:
            yield
        else:
            with writer.own_write(keys):
                yield
    finally:
        for core in _LOCAL.get(server, ()):
            if core is not writer:
                core.forget(keys)


def _flush(server: str) -> None:
    for core in _LOCAL.get(server, ()):
        core.invalidate_all("flush")


def _near_key(settings: RedisSettings, server: str, prefix: str) -> tuple[str, str, str]:
    return (server, repr(settings.near), prefix)


class NearRedisClient(RedisClient):
    """:class:`RedisClient` with the process's near cache for ``prefix`` in front.

    ``prefix`` is what every key read through this client starts with (Django's
    ``KEY_PREFIX`` as its key function renders it, Flask's ``CACHE_KEY_PREFIX``): the tracker
    subscribes to it in ``bcast`` mode, so a key outside it must not be read through here.
    """

    def __init__(
        self,
        settings: RedisSettings,
        *,
        prefix: str,
        rejections: RejectionCounter | None = None,
        stampede: StampedeHub | None = None,
    ) -> None:
        if settings.near is None:
            raise ValueError("NearRedisClient needs settings with a near cache (NEAR_CACHE).")
        super().__init__(settings, rejections=rejections, tag_prefix=prefix, stampede=stampede)
        self.prefix = prefix
        self._near_key = _near_key(settings, self._key, prefix)
        self._near: NearCache | None = None

    @property
    def near(self) -> NearCache:
        """The process's near cache for these settings and prefix (made on first use)."""
        near = self._near
        if (
            near is not None
            and _SYNC_NEAR.get(self._near_key) is near
            and near.remote.client is _SYNC_REMOTES.get(self._key)  # type: ignore[attr-defined]
        ):
            return near
        remote = self.remote  # RedisUnavailableError if a cluster cannot be reached
        stale: NearCache | None = None
        with _LOCK:
            near = _SYNC_NEAR.get(self._near_key)
            if near is not None and near.remote.client is not remote:  # type: ignore[attr-defined]
                # The shared redis-py client was closed and replaced: so is its near cache.
                stale, near = near, None
                del _SYNC_NEAR[self._near_key]
                _unregister(self._key, stale.core)
            if near is None:
                try:
                    near = NearCache(
                        RedisRemote(remote), prefix=self.prefix, config=self.settings.near
                    )
                except _CONNECTION_ERRORS as exc:  # a cluster's primaries are asked at once
                    raise _unavailable(self.settings, exc) from exc
                _SYNC_NEAR[self._near_key] = near
                _register(self._key, near.core)
        if stale is not None:
            stale.close()
        self._near = near
        return near

    # -- the seam ---------------------------------------------------------------------------

    def _fetch(self, key: str) -> bytes | None:
        try:
            return self.near.get(key)
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc

    def _fetch_many(self, keys: list[str]) -> list[bytes | None]:
        try:
            found = self.near.get_many(keys)
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc
        return [found.get(key) for key in keys]

    def _writer(self) -> Coherence | None:
        """The L1 of this client's near cache, if it exists (writes never create it)."""
        near = self._near
        return near.core if near is not None and _SYNC_NEAR.get(self._near_key) is near else None

    def _write(self, key: str, payload: bytes | int, px: int | None, condition: str = "") -> bool:
        writer = None if condition else self._writer()  # NX/XX may change nothing: no echo
        with _writing(self._key, writer, (key,)):
            return super()._write(key, payload, px, condition)

    def _write_many(self, items: Mapping[str, bytes | int], px: int | None) -> list[str]:
        with _writing(self._key, self._writer(), items):
            return super()._write_many(items, px)

    def _remove(self, keys: list[str]) -> int:
        try:
            return super()._remove(keys)
        finally:
            _forget(self._key, keys)

    def _expire(self, key: str, px: int | None) -> bool:
        try:
            return super()._expire(key, px)
        finally:
            _forget(self._key, (key,))

    def _incr(self, key: str, delta: int) -> int | None:
        try:
            return super()._incr(key, delta)
        finally:
            _forget(self._key, (key,))

    def _clear(self, prefix: str) -> int:
        try:
            return super()._clear(prefix)
        finally:
            _flush(self._key)

    def _create_generations(self, keys: list[str]) -> list[bytes | None]:
        try:
            return super()._create_generations(keys)
        finally:
            _forget(self._key, keys)

    def _bump_generations(self, keys: list[str]) -> None:
        try:
            super()._bump_generations(keys)
        finally:
            _forget(self._key, keys)

    def _remove_if_same(self, key: str, payload: bytes) -> bool:
        try:
            return super()._remove_if_same(key, payload)
        finally:
            _forget(self._key, (key,))

    # -- stats and lifetime -----------------------------------------------------------------

    def near_info(self) -> dict[str, Any]:
        """The ``near_cache_*`` fields of this process's near cache (sync API)."""
        near = self.near
        if not near.core.fresh() and self.settings.near is not None:
            # Just made (``cacheinfo`` in a fresh process): let the tracker connect first, so
            # the report shows the state reads are served in, not the instant before.
            near.wait_fresh(timeout=min(1.0, self.settings.near.staleness))
        return near.info()

    def close(self) -> None:
        """Stop this process's near caches on these server settings, then drop the connection."""
        close_near_caches(self._key)
        self._near = None
        super().close()


class AsyncNearRedisClient(AsyncRedisClient):
    """:class:`AsyncRedisClient` with the running loop's near cache for ``prefix`` in front."""

    def __init__(
        self,
        settings: RedisSettings,
        *,
        prefix: str,
        rejections: RejectionCounter | None = None,
        stampede: StampedeHub | None = None,
    ) -> None:
        if settings.near is None:
            raise ValueError("AsyncNearRedisClient needs settings with a near cache (NEAR_CACHE).")
        super().__init__(settings, rejections=rejections, tag_prefix=prefix, stampede=stampede)
        self.prefix = prefix
        self._near_key = _near_key(settings, self._key, prefix)

    @property
    def near(self) -> AsyncNearCache:
        """The running loop's near cache for these settings and prefix (made on first use;
        its tracker starts on the first read)."""
        remote = self.remote
        loop = asyncio.get_running_loop()
        caches = _ASYNC_NEAR.get(loop)
        near = caches.get(self._near_key) if caches is not None else None
        if near is not None and near.remote.client is remote:  # type: ignore[attr-defined]
            return near
        with _LOCK:
            # A closed loop's tasks are gone: its near caches can never be coherent again.
            for closed in [other for other in _ASYNC_NEAR if other.is_closed()]:
                for key, dropped in _ASYNC_NEAR.pop(closed).items():
                    _unregister(key[0], dropped.core)
            caches = _ASYNC_NEAR.get(loop)
            fresh = caches is None
            if caches is None:
                caches = _ASYNC_NEAR[loop] = {}
            near = caches.get(self._near_key)
            if near is not None and near.remote.client is not remote:  # type: ignore[attr-defined]
                _unregister(self._key, near.core)  # its client was closed and replaced
                near = None
            if near is None:
                near = AsyncNearCache(
                    AsyncRedisRemote(remote), prefix=self.prefix, config=self.settings.near
                )
                caches[self._near_key] = near
                _register(self._key, near.core)
        if fresh:
            close_with_loop(_close_loop_near)
        return near

    async def _started(self) -> AsyncNearCache:
        near = self.near
        if near.tracker is None:
            try:
                await near.start()
            except _CONNECTION_ERRORS as exc:
                raise _unavailable(self.settings, exc) from exc
        return near

    # -- the seam ---------------------------------------------------------------------------

    async def _fetch(self, key: str) -> bytes | None:
        near = await self._started()
        try:
            return await near.get(key)
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc

    async def _fetch_many(self, keys: list[str]) -> list[bytes | None]:
        near = await self._started()
        try:
            found = await near.get_many(keys)
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(self.settings, exc) from exc
        return [found.get(key) for key in keys]

    def _writer(self) -> Coherence | None:
        """The L1 of the running loop's near cache for this client, if it exists."""
        caches = _ASYNC_NEAR.get(asyncio.get_running_loop())
        near = caches.get(self._near_key) if caches is not None else None
        return near.core if near is not None else None

    async def _write(
        self, key: str, payload: bytes | int, px: int | None, condition: str = ""
    ) -> bool:
        writer = None if condition else self._writer()
        with _writing(self._key, writer, (key,)):
            return await super()._write(key, payload, px, condition)  # batched

    async def _write_many(self, items: Mapping[str, bytes | int], px: int | None) -> list[str]:
        with _writing(self._key, self._writer(), items):
            return await super()._write_many(items, px)

    async def _remove(self, keys: list[str]) -> int:
        try:
            return await super()._remove(keys)
        finally:
            _forget(self._key, keys)

    async def _expire(self, key: str, px: int | None) -> bool:
        try:
            return await super()._expire(key, px)
        finally:
            _forget(self._key, (key,))

    async def _incr(self, key: str, delta: int) -> int | None:
        try:
            return await super()._incr(key, delta)
        finally:
            _forget(self._key, (key,))

    async def _clear(self, prefix: str) -> int:
        try:
            return await super()._clear(prefix)
        finally:
            _flush(self._key)

    async def _create_generations(self, keys: list[str]) -> list[bytes | None]:
        try:
            return await super()._create_generations(keys)
        finally:
            _forget(self._key, keys)

    async def _bump_generations(self, keys: list[str]) -> None:
        try:
            await super()._bump_generations(keys)
        finally:
            _forget(self._key, keys)

    async def _remove_if_same(self, key: str, payload: bytes) -> bool:
        try:
            return await super()._remove_if_same(key, payload)
        finally:
            _forget(self._key, (key,))

    async def aclose(self) -> None:
        """Stop the current loop's near caches on these server settings, then its client."""
        loop = asyncio.get_running_loop()
        with _LOCK:
            caches = _ASYNC_NEAR.get(loop) or {}
            mine = [k for k in caches if k[0] == self._key]
            dropped = [caches.pop(k) for k in mine]
            for near in dropped:
                _unregister(self._key, near.core)
        for near in dropped:
            await near.aclose()
        await super().aclose()


async def _close_loop_near() -> None:
    """The running loop's near caches, stopped (a closer, see :func:`close_with_loop`)."""
    with _LOCK:
        caches = _ASYNC_NEAR.pop(asyncio.get_running_loop(), {})
        for key, near in caches.items():
            _unregister(key[0], near.core)
    for near in caches.values():
        await near.aclose()


def close_near_caches(server: str | None = None) -> None:
    """Stop this process's sync near caches (on one server settings key, or all): tests,
    shutdown. Not Django's per-request ``close()``: the L1 must outlive requests."""
    with _LOCK:
        keys = [key for key in _SYNC_NEAR if server is None or key[0] == server]
        dropped = [(key[0], _SYNC_NEAR.pop(key)) for key in keys]
        for owner, near in dropped:
            _unregister(owner, near.core)
    for _owner, near in dropped:
        near.close()


def settle_near_caches(timeout: float = 5.0) -> bool:
    """Block until every invalidation Redis produced before this call reached this process's
    sync near caches (a heartbeat ``PING`` sent after now has been answered on every
    tracking connection), or ``timeout`` passes (False).

    For tests and tools that change keys *outside* the near cache (another client, a script)
    and must then read through it: the invalidation delay, waited for exactly.
    """
    since = time.monotonic()
    deadline = since + timeout
    for near in list(_SYNC_NEAR.values()):
        core = near.core
        while core.fresh_until - near.config.staleness < since:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
    return True
