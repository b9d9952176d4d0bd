"""Why a key left, as the int codes the engine passes around (the values of
:class:`~cachepolicy._core.ports.Removal`, which is what a policy's ``on_remove`` receives)."""

from __future__ import annotations

from typing import Final

from .ports import Removal

__all__ = ["CAUSES", "DELETED", "EVICTED", "EXPIRED", "FLUSHED", "REPLACED"]

#: DEL, an overwrite with a past deadline, ...: event ``del``.
DELETED: Final = 0
#: Its deadline passed: event ``expired``, ``expired_keys``.
EXPIRED: Final = 1
#: The budget needed its bytes: event ``evicted``, ``evicted_keys``.
EVICTED: Final = 2
#: Removed silently as part of a command (an overwrite whose old version the policy chose).
REPLACED: Final = 3
#: Its database was flushed (FLUSHDB of one database; FLUSHALL resets the policy instead).
FLUSHED: Final = 4
#: The cause as the policy's ``on_remove`` receives it, by code.
CAUSES: Final = (
    Removal.DELETED,
    Removal.EXPIRED,
    Removal.EVICTED,
    Removal.REPLACED,
    Removal.FLUSHED,
)
