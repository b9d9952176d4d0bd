"""Lazy free (spec §8): big values and flushed databases are released off the request path.

When a removal drops the last reference to a large value, CPython frees it on the spot, inside
the store lock and on the request's thread. Dropping a flushed database of a million entries
takes a noticeable fraction of a second there. Like Redis's BIO lazyfree thread, one process-wide
daemon thread takes over such garbage and drops it, then counts it in the store's
``lazyfree_pending_objects`` (queued, not yet released) and ``lazyfreed_objects`` (released in
the background).

What goes to the thread (Redis's "free effort" above ``LAZYFREE_THRESHOLD``):

* an entry removed (deleted, expired, evicted) or a value overwritten whose payload is at least
  ``lazyfree_threshold`` bytes (0 disables lazy free): counted as one object;
* a flushed database of more than :data:`LAZYFREE_MIN_ENTRIES` entries, counted as its number of
  keys, as Redis's ``FLUSHALL ASYNC`` does.

The thread keeps only a weak reference to each store, restarts lazily after ``fork()``, and waits
(briefly, bounded) until the removing thread has let go of the garbage, so that the release
really happens on the free thread. ``used_memory`` drops when the entry leaves the cache, as it
is the cache's accounting of what it holds, not the allocator's.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING

from ..keyspace import Entry

if TYPE_CHECKING:
    from ..store import CacheStore

__all__ = ["LAZYFREE_MIN_ENTRIES", "LazyFreeWorker", "drain", "release_lazily", "worker"]

logger = logging.getLogger("cachepolicy.lazyfree")

# Redis's LAZYFREE_THRESHOLD in "allocations": releasing more entries than this inline costs more
# than queueing them, so smaller flushed databases are freed on the spot.
LAZYFREE_MIN_ENTRIES = 64

# The removing thread still holds the garbage for a few bytecodes after the store lock is
# released; wait up to this many times this many seconds for it to let go, so that the actual
# release happens here. Bounded: a reference kept elsewhere must not stall the queue.
_HANDOFF_TRIES = 20
_HANDOFF_WAIT = 0.0002

# References to queued garbage held by the free thread itself while it checks: its local
# variable and getrefcount's argument.
_OWN_REFS = 2

# fork() waits at most this long for a release in flight to finish (see driver.py).
_FORK_PAUSE_TIMEOUT = 1.0

Garbage = Entry | list[Entry] | list[bytes] | bytes


class LazyFreeWorker:
    """The process-wide free thread with its queue."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[weakref.ReferenceType[CacheStore], object, int]] = deque()
        self._in_flight = 0
        # Held while releasing one item and updating its store's counters; fork() takes it.
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fork_held = False

    def submit(self, store: CacheStore, garbage: object, count: int) -> None:
        """Queue ``garbage`` (store lock held): ``count`` objects become pending."""
        store.stats.lazyfree_pending_objects += count
        with self._cond:
            self._queue.append((weakref.ref(store), garbage, count))
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
                ref, garbage, count = self._queue.popleft()
            with self._busy:
                tries = 0
                while sys.getrefcount(garbage) > _OWN_REFS and tries < _HANDOFF_TRIES:
                    time.sleep(_HANDOFF_WAIT)
                    tries += 1
                del garbage  # the release itself
                store = ref()
                if store is not None:
                    try:
                        with store.lock:
                            store.stats.lazyfree_pending_objects -= count
                            store.stats.lazyfreed_objects += count
                    except Exception:  # pragma: no cover - never let the free thread die
                        logger.exception("Lazy free bookkeeping failed for %r", store)
                    del store
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
        # whatever was queued: the child's copy of it is garbage of the child's stores.
        self._cond = threading.Condition()
        self._busy = threading.Lock()
        self._fork_held = False
        self._thread = None
        self._in_flight = len(self._queue)
        if self._queue:
            thread = threading.Thread(target=self._loop, name="cachepolicy-lazyfree", daemon=True)
            self._thread = thread
            thread.start()


worker = LazyFreeWorker()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=worker._before_fork,
        after_in_parent=worker._after_fork_in_parent,
        after_in_child=worker._after_fork_in_child,
    )


def release_lazily(store: CacheStore, garbage: Garbage) -> None:
    """Hand ``garbage`` to the free thread if releasing it is costly (store lock held).

    Called by the store for every removed entry, every overwritten payload and every flushed
    database; cheap when the garbage is small (a type check and a length).
    """
    threshold = store.config.lazyfree_threshold
    if not threshold:
        return
    if type(garbage) is Entry:
        if len(garbage.payload) >= threshold:
            worker.submit(store, garbage, 1)
    elif isinstance(garbage, bytes):
        if len(garbage) >= threshold:
            worker.submit(store, garbage, 1)
    elif isinstance(garbage, list):
        if len(garbage) > LAZYFREE_MIN_ENTRIES:
            worker.submit(store, garbage, len(garbage))
        else:
            for item in garbage:
                if len(item if isinstance(item, bytes) else item.payload) >= threshold:
                    worker.submit(store, item, 1)


def drain(timeout: float = 5.0) -> bool:
    """Wait until the free thread has released everything queued so far."""
    return worker.drain(timeout)
