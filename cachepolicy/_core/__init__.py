"""The engine: entries, keyspaces, the eviction sampler, the deadline index and the one owner
of every mutation (:class:`~cachepolicy._core.engine.Engine`).

Built wheels compile these modules with mypyc; the same source runs as plain Python when no
compiler was available or ``CACHEPOLICY_PURE=1`` was set at install time. Policies and expiry
strategies stay interpreted, because users subclass them. :data:`COMPILED` tells which build
is running (the sizes in :mod:`cachepolicy._core.entry` are calibrated per build).
"""

from __future__ import annotations

from .entry import COMPILED

__all__ = ["COMPILED"]
