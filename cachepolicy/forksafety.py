"""Everything ``fork()`` must know, in one place and one order.

gunicorn ``--preload`` (and multiprocessing's fork start method) fork a process that may have
threads inside a cache's lock, an expiry thread mid-slice, or the lazy-free thread releasing a
value. The child inherits copies of those locks *held* by threads that do not exist there, and
its first cache write would hang forever. This module registers the process's one
``os.register_at_fork`` and runs, before the fork:

1. every expiry thread is paused between two slices (so none waits for a lock taken below);
2. the lazy-free thread finishes the release in flight;
3. every live cache's lock is taken (bounded wait), so the child copies a consistent keyspace.

After the fork the parent undoes 3, 2, 1 in reverse order; the child gets fresh locks, fresh
threads where threads ran, and the queued garbage of its own copy.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

from . import lazyfree
from .expiry import driver

__all__ = ["FORK_LOCK_TIMEOUT", "track"]

# How long fork() waits for a request thread to leave a cache's critical section. Critical
# sections are microseconds (at most one eviction burst); the bound only matters if a thread is
# wedged, and then the child still gets a working lock, just possibly a half-updated keyspace.
FORK_LOCK_TIMEOUT = 2.0


class _Forkable(Protocol):
    def _fork_prepare(self, timeout: float) -> bool: ...

    def _fork_finish(self, held: bool, child: bool) -> None: ...


_TRACKED: weakref.WeakSet[_Forkable] = weakref.WeakSet()
_HELD: list[tuple[_Forkable, bool]] = []
_GUARD = threading.Lock()


def track(store: _Forkable) -> None:
    """Include ``store`` in fork handling for as long as it lives."""
    with _GUARD:
        _TRACKED.add(store)


def _before() -> None:
    driver.before_fork()
    lazyfree.worker._before_fork()
    _GUARD.acquire()
    _HELD[:] = [(store, store._fork_prepare(FORK_LOCK_TIMEOUT)) for store in list(_TRACKED)]


def _finish(child: bool) -> None:
    for store, held in _HELD:
        store._fork_finish(held, child)
    _HELD.clear()
    _GUARD.release()
    if child:
        lazyfree.worker._after_fork_in_child()
        driver.after_fork_in_child()
    else:
        lazyfree.worker._after_fork_in_parent()
        driver.after_fork_in_parent()


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork()
    os.register_at_fork(
        before=_before,
        after_in_parent=lambda: _finish(child=False),
        after_in_child=lambda: _finish(child=True),
    )
