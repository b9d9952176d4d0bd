"""Value serializers.

Values are stored serialized: that makes the byte accounting exact and means a caller mutating
an object after ``set`` changes neither the cached copy nor ``used_memory``.
"""

from __future__ import annotations

import pickle
from typing import Any, Protocol, runtime_checkable

from ._core.budget import BudgetExceeded, dumps_within
from .dotted import import_dotted
from .errors import ConfigError

__all__ = [
    "BudgetExceeded",
    "PickleSerializer",
    "Serializer",
    "declared_pickle_protocol",
    "dumps_within",
    "resolve_serializer",
]


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back. ``dumps`` must raise on values it cannot encode."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, payload: bytes) -> Any: ...


def declared_pickle_protocol(serializer: object) -> int | None:
    """The protocol ``serializer`` declares it pickles at (its ``pickle_protocol``, as
    :class:`PickleSerializer` declares it), or None: then its own methods must be called."""
    protocol = getattr(serializer, "pickle_protocol", None)
    return protocol if isinstance(protocol, int) and not isinstance(protocol, bool) else None


class PickleSerializer:
    """The default: :mod:`pickle` at the highest protocol, like Django's and cachelib's caches."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that overrides ``dumps`` or ``loads`` without re-declaring
        :attr:`pickle_protocol` no longer declares it: the cache then calls its methods
        instead of pickle's functions (an override is never silently bypassed)."""
        super().__init_subclass__(**kwargs)
        if ("dumps" in vars(cls) or "loads" in vars(cls)) and "pickle_protocol" not in vars(cls):
            cls.pickle_protocol = None  # type: ignore[assignment]

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self.protocol)

    def loads(self, payload: bytes) -> Any:
        return pickle.loads(payload)

    @property
    def pickle_protocol(self) -> int:
        """Declares that ``dumps(value)`` is ``pickle.dumps(value, pickle_protocol)`` and
        ``loads`` is ``pickle.loads``, so the engine's write path may call pickle itself."""
        return self.protocol

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PickleSerializer) and other.protocol == self.protocol

    def __hash__(self) -> int:
        return hash(("pickle", self.protocol))


def resolve_serializer(spec: str | Serializer) -> Serializer:
    """``"pickle"``, a dotted path to a class or instance, or a serializer object."""
    if not isinstance(spec, str):
        if isinstance(spec, Serializer):
            return spec
        raise ConfigError(
            f"Option 'serializer' must be 'pickle', a dotted path or an object with dumps() and "
            f"loads(), got {spec!r}.",
            option="serializer",
        )
    if spec == "pickle":
        return PickleSerializer()
    target = import_dotted(spec, option="serializer", accepted="'pickle'", names=["pickle"])
    instance = target() if isinstance(target, type) else target
    if not isinstance(instance, Serializer):
        raise ConfigError(
            f"Option 'serializer' = {spec!r} has no dumps()/loads() methods.", option="serializer"
        )
    return instance
