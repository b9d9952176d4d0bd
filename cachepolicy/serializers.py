"""Value serializers.

Values are stored serialized: that makes the byte accounting exact and means a caller mutating
an object after ``set`` changes neither the cached copy nor ``used_memory``.
"""

from __future__ import annotations

import importlib
import pickle
import threading
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigError

__all__ = [
    "BudgetExceeded",
    "PickleSerializer",
    "Serializer",
    "dumps_within",
    "resolve_serializer",
]


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back. ``dumps`` must raise on values it cannot encode."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, payload: bytes) -> Any: ...


class PickleSerializer:
    """The default: :mod:`pickle` at the highest protocol, like Django's and cachelib's caches."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

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


class BudgetExceeded(Exception):
    """:func:`dumps_within` stopped: the pickle had passed ``budget`` bytes (``written`` so far)."""

    def __init__(self, written: int, budget: int) -> None:
        super().__init__(f"the pickle passed {budget} bytes ({written} written when stopped)")
        self.written = written
        self.budget = budget


class _BudgetSink:
    """The file a budgeted :class:`pickle.Pickler` writes to: keeps the chunks, counts them and
    raises :class:`BudgetExceeded` at the first write past the budget.

    The C pickler hands over 64 kB frames, and any object of a frame or more (a big ``bytes``)
    as the object itself, not a copy: so refusing a 200 MB value costs a frame, not 200 MB.
    Each thread keeps one sink with its pickler (building a Pickler costs more than a small
    value's whole pickle); the memo is cleared after every dump.
    """

    __slots__ = ("budget", "busy", "chunks", "pickler", "protocol", "written")

    def __init__(self, protocol: int) -> None:
        self.chunks: list[Any] = []
        self.written = 0
        self.budget = 0
        self.busy = False
        self.protocol = protocol
        self.pickler = pickle.Pickler(self, protocol)

    def write(self, data: Any) -> int:
        size = len(data) if type(data) is bytes else memoryview(data).nbytes
        self.written += size
        if self.written > self.budget:
            raise BudgetExceeded(self.written, self.budget)
        # A memoryview (of a bytearray or PickleBuffer) would see later mutation: copy it.
        self.chunks.append(data if type(data) is bytes else bytes(data))
        return size


class _ThreadSink(threading.local):
    def __init__(self) -> None:
        self.sink: _BudgetSink | None = None


_local = _ThreadSink()


def dumps_within(value: Any, protocol: int, budget: int) -> bytes:
    """``pickle.dumps(value, protocol)``, or :class:`BudgetExceeded` as soon as the pickle
    passes ``budget`` bytes, without having built the rest of it.

    For a value known to fit, ``pickle.dumps`` is quicker; this is for values whose size is
    unknown until pickled and that may be far too big to store (a list of large blobs).
    """
    sink = _local.sink
    if sink is None or sink.busy or sink.protocol != protocol:
        # busy: a value's __reduce__ is storing into a cache; that dump gets a sink of its own.
        reentrant = sink is not None and sink.busy
        sink = _BudgetSink(protocol)
        if not reentrant:
            _local.sink = sink
    sink.budget = budget
    sink.written = 0
    sink.busy = True
    try:
        sink.pickler.dump(value)
    except BaseException:
        if _local.sink is sink:
            _local.sink = None  # a pickler stopped mid-dump is not reused
        raise
    finally:
        sink.busy = False
        sink.pickler.clear_memo()
        chunks = sink.chunks
        sink.chunks = []
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
    module_name, _, attribute = spec.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"Option 'serializer' = {spec!r} is neither 'pickle' nor an importable dotted path "
            f"({exc}).",
            option="serializer",
        ) from exc
    instance = target() if isinstance(target, type) else target
    if not isinstance(instance, Serializer):
        raise ConfigError(
            f"Option 'serializer' = {spec!r} has no dumps()/loads() methods.", option="serializer"
        )
    return instance
