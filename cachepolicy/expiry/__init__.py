"""Expiry strategies: lazy (always on), plus active reclamation strategies.

* ``lazy``: only lookups delete expired keys (Redis with active expiry off).
* ``active``: Redis's active expire cycle (cursor sampling, effort scaling), driven by writes.
* ``timed``: a deadline-ordered index, reclaiming O(due keys), driven by writes (no thread).
* ``background``: the same index, collected by a daemon thread in short lock slices.

Algorithms and drivers compose: ``class ThreadedActive(ActiveExpiry): driver_class =
ThreadDriver`` runs Redis's cycle on a thread.
"""

from .active import ActiveExpiry, EffortParams, effort_params
from .base import ExpiryStrategy, LazyExpiry
from .driver import DrivenExpiry, InlineDriver, ReclaimDriver, ThreadDriver
from .registry import expiry_names, register_expiry, resolve_expiry
from .timed import BackgroundExpiry, TimedExpiry

__all__ = [
    "ActiveExpiry",
    "BackgroundExpiry",
    "DrivenExpiry",
    "EffortParams",
    "ExpiryStrategy",
    "InlineDriver",
    "LazyExpiry",
    "ReclaimDriver",
    "ThreadDriver",
    "TimedExpiry",
    "effort_params",
    "expiry_names",
    "register_expiry",
    "resolve_expiry",
]
