"""Lazy free (spec §8): big values and flushed databases are released off the request path.

When a removal drops the last reference to a large value, CPython frees it on the spot, inside
the cache lock and on the request's thread. Dropping a flushed database of a million entries
takes a noticeable fraction of a second there. Like Redis's BIO lazyfree thread, one process-wide
daemon thread takes over such garbage and drops it, then counts it in the cache's
``lazyfree_pending_objects`` (queued, not yet released) and ``lazyfreed_objects`` (released).

What goes to the thread (Redis's "free effort" above ``LAZYFREE_THRESHOLD``):

* a removed (deleted, expired, evicted) or overwritten value of at least ``lazyfree_threshold``
  bytes (0 disables lazy free): counted as one object;
* a flushed database of more than :data:`LAZYFREE_MIN_ENTRIES` entries, counted as its number of
  keys, as Redis's ``FLUSHALL ASYNC`` does.

Bound. Bytes waiting to be freed are memory the process still holds although ``used_memory``
no longer counts them. They are counted (``lazyfree_pending_bytes``) and bounded: once the
backlog of a cache reaches :func:`backlog_limit` (a sixteenth of ``maxmemory``, at least 4
values of the threshold size), further garbage is released inline on the removing thread, as
Redis frees synchronously when its lazyfree thread falls behind. So memory held for a cache
stays within ``maxmemory`` plus that limit, whatever the number of writer threads.

The thread keeps only a weak reference to each cache, restarts after ``fork()``, and waits
(briefly, bounded) until the removing thread has let go of the garbage, so that the release
really happens on the free thread.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core.engine import Engine

__all__ = [
    "LAZYFREE_MIN_ENTRIES",
    "LAZY_FREE",
    "LazyFree",
    "LazyFreeWorker",
    "backlog_limit",
    "drain",
    "release_lazily",
    "release_lazily_all",
    "worker",
]

logger = logging.getLogger("cachepolicy.lazyfree")

# Redis's LAZYFREE_THRESHOLD in "allocations": releasing more entries than this inline costs more
# than queueing them, so smaller flushed databases are freed on the spot.
LAZYFREE_MIN_ENTRIES = 64

# The removing thread still holds the garbage for a few bytecodes after the engine lock is
# released; wait up to this many times this many seconds for it to let go, so that the actual
# release happens here. Bounded: a reference kept elsewhere must not stall the queue.
_HANDOFF_TRIES = 20
_HANDOFF_WAIT = 0.0002

# References to queued garbage held by the free thread itself while it checks: its local
# variable and getrefcount's argument.
_OWN_REFS = 2

# fork() waits at most this long for a release in flight to finish (see driver.py).
_FORK_PAUSE_TIMEOUT = 1.0

# Pending bytes allowed per cache, as a share of maxmemory (see the module docstring), and the
# least, in values of the threshold size, so that a small cache still frees big values lazily.
_BACKLOG_SHARE = 16
_BACKLOG_MIN_VALUES = 4


def backlog_limit(engine: Engine) -> int:
    """Bytes of a cache's garbage the free thread may hold at once."""
    threshold = engine.plan.lazyfree_threshold
    return max(engine.plan.limit // _BACKLOG_SHARE, _BACKLOG_MIN_VALUES * threshold)


class LazyFreeWorker:
    """The process-wide free thread with its queue."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[Callable[[], Any], object, int, int]] = deque()
        self._in_flight = 0
        # Held while releasing one item and updating its engine's counters; fork() takes it.
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fork_held = False

    def submit(self, engine: Engine, garbage: object, count: int, size: int) -> None:
        """Queue ``garbage`` of ``size`` bytes (engine lock held): ``count`` objects pending."""
        engine.stats.lazyfree_pending_objects += count
        engine.stats.lazyfree_pending_bytes += size
        with self._cond:
            self._queue.append((engine.owner, garbage, count, size))
            self._in_flight += 1
            thread = self._thread
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._loop, name="cachepolicy-lazyfree")
                thread.daemon = True
                self._thread = thread
                thread.start()
            self._cond.notify()

    def drain(self, timeout: float) -> bool:
        """Wait until everything queued so far is released (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout)

    @property
    def pending(self) -> int:
        return self._in_flight

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                ref, garbage, count, size = self._queue.popleft()
            with self._busy:
                tries = 0
                while sys.getrefcount(garbage) > _OWN_REFS and tries < _HANDOFF_TRIES:
                    time.sleep(_HANDOFF_WAIT)
                    tries += 1
                del garbage  # the release itself
                owner = ref()  # the store, held weakly (see Engine.owner)
                if owner is not None:
                    try:
                        engine = owner.engine
                        with engine.lock:
                            engine.stats.lazyfree_pending_objects -= count
                            engine.stats.lazyfree_pending_bytes -= size
                            engine.stats.lazyfreed_objects += count
                        del engine
                    except Exception:  # pragma: no cover - never let the free thread die
                        logger.exception("Lazy free bookkeeping failed for %r", owner)
                    del owner
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _before_fork(self) -> None:
        self._fork_held = self._busy.acquire(timeout=_FORK_PAUSE_TIMEOUT)

    def _after_fork_in_parent(self) -> None:
        if self._fork_held:
            self._busy.release()
        self._fork_held = False

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here; its locks may be held. Start afresh and keep
        # whatever was queued: the child's copy of it is garbage of the child's engines.
        self._cond = threading.Condition()
        self._busy = threading.Lock()
        self._fork_held = False
        self._thread = None
        self._in_flight = len(self._queue)
        if self._queue:
            thread = threading.Thread(target=self._loop, name="cachepolicy-lazyfree", daemon=True)
            self._thread = thread
            thread.start()


#: The process-wide free thread (its fork handling is in :mod:`cachepolicy.forksafety`).
worker = LazyFreeWorker()


def release_lazily(engine: Engine, garbage: bytes, count: int) -> None:
    """Hand a big removed value to the free thread (engine lock held), or let it go here when
    the cache's backlog is full (see the module docstring)."""
    size = len(garbage)
    if engine.stats.lazyfree_pending_bytes + size > backlog_limit(engine):
        return  # released inline when the caller drops its reference
    worker.submit(engine, garbage, count, size)


def release_lazily_all(engine: Engine, payloads: list[bytes]) -> None:
    """A flushed database's values (engine lock held): a big batch goes to the free thread as
    one object per key; a small one releases its big values one by one."""
    if len(payloads) > LAZYFREE_MIN_ENTRIES:
        size = sum([len(payload) for payload in payloads])
        if engine.stats.lazyfree_pending_bytes + size <= backlog_limit(engine):
            worker.submit(engine, payloads, len(payloads), size)
        return
    threshold = engine.plan.lazyfree_threshold
    for payload in payloads:
        if len(payload) >= threshold:
            release_lazily(engine, payload, 1)


class LazyFree:
    """The engine's lazy-free port (:class:`cachepolicy._core.release.Releaser`): what a store
    gives its engine, so the engine never imports this module."""

    def release(self, engine: Engine, payload: bytes) -> None:
        release_lazily(engine, payload, 1)

    def release_all(self, engine: Engine, payloads: list[bytes]) -> None:
        release_lazily_all(engine, payloads)


#: The one port every store gives its engine.
LAZY_FREE = LazyFree()


def drain(timeout: float = 5.0) -> bool:
    """Wait until the free thread has released everything queued so far."""
    return worker.drain(timeout)
