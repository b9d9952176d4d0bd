"""Store locks across ``fork()``.

gunicorn ``--preload`` (and multiprocessing's fork start method) fork a process that may have
threads inside a store's lock. The child inherits a copy of that lock *held* by a thread that
does not exist there, and its first cache write would hang forever. Before a fork every live
store's lock is taken (bounded wait), so the child copies a consistent keyspace; afterwards the
parent releases them and the child gets fresh, unlocked locks.

This module is imported first by ``cachepolicy/__init__.py`` on purpose: ``os.register_at_fork``
runs *before* hooks in reverse registration order, so ours runs after the expiry threads have
been paused (``expiry/driver.py``), never while one of them waits for a lock we hold.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

__all__ = ["FORK_LOCK_TIMEOUT", "track"]

# How long fork() waits for a request thread to leave a store's critical section. Critical
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
    _GUARD.acquire()
    _HELD[:] = [(store, store._fork_prepare(FORK_LOCK_TIMEOUT)) for store in list(_TRACKED)]


def _finish(child: bool) -> None:
    for store, held in _HELD:
        store._fork_finish(held, child)
    _HELD.clear()
    _GUARD.release()


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork()
    os.register_at_fork(
        before=_before,
        after_in_parent=lambda: _finish(child=False),
        after_in_child=lambda: _finish(child=True),
    )
