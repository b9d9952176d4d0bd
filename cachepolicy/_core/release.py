"""How the engine lets go of removed values: the lazy-free port.

The engine decides *which* removed values are big (``lazyfree_threshold``); what happens to
them is given to it at construction, so the engine imports nothing above ``_core``. The store
gives it :class:`cachepolicy.lazyfree.LazyFree` (the process-wide free thread); the default,
:data:`INLINE`, keeps nothing, so the value is freed where the removal drops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["INLINE", "InlineRelease", "Releaser"]


class Releaser(Protocol):
    """Takes over removed values (engine lock held); must not call back into the engine's
    commands."""

    def release(self, engine: Engine, payload: bytes) -> None:
        """One removed or overwritten value of at least the threshold's size."""

    def release_all(self, engine: Engine, payloads: list[bytes]) -> None:
        """A flushed database's values (any sizes)."""


class InlineRelease:
    """Takes nothing over: values are freed inline, on the removing thread."""

    def release(self, engine: Engine, payload: bytes) -> None:
        pass

    def release_all(self, engine: Engine, payloads: list[bytes]) -> None:
        pass


#: The engine's default :class:`Releaser`.
INLINE: Releaser = InlineRelease()
