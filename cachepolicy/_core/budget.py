"""Pickling within a byte budget: a value too big for the cache is refused while it is pickled.

Here, in the compiled engine package, rather than beside the serializers: the sink's ``write``
is called by the C pickler for every dump the default write path makes, and a compiled method
costs that call a fraction of an interpreted one.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

__all__ = ["BudgetExceeded", "dumps_within"]


class BudgetExceeded(Exception):
    """:func:`dumps_within` stopped: the pickle had passed ``budget`` bytes (``written`` so far)."""

    def __init__(self, written: int, budget: int) -> None:
        super().__init__(f"the pickle passed {budget} bytes ({written} written when stopped)")
        self.written = written
        self.budget = budget


class BudgetSink:
    """The file a budgeted :class:`pickle.Pickler` writes to: keeps the chunks, counts them and
    raises :class:`BudgetExceeded` at the first write past the budget.

    The C pickler hands over 64 kB frames, and any object of a frame or more (a big ``bytes``)
    as the object itself, not a copy: so refusing a 200 MB value costs a frame, not 200 MB.
    Sinks are reused, each with its pickler (building a Pickler costs more than a small value's
    whole pickle); the memo is cleared after every dump.
    """

    def __init__(self, protocol: int) -> None:
        #: The first chunk (a small value's whole pickle) and any further ones.
        self.first: bytes | None = None
        self.chunks: list[bytes] = []
        self.written = 0
        self.budget = 0
        self.protocol = protocol
        pickler = pickle.Pickler(self, protocol)
        # Bound once: a method looked up on the C pickler at every dump costs more than a call.
        self.dump: Callable[[Any], None] = pickler.dump
        self.clear_memo: Callable[[], None] = pickler.clear_memo

    def write(self, data: Any) -> int:
        size = len(data) if type(data) is bytes else memoryview(data).nbytes
        self.written += size
        if self.written > self.budget:
            raise BudgetExceeded(self.written, self.budget)
        # A memoryview (of a bytearray or PickleBuffer) would see later mutation: copy it.
        chunk = data if type(data) is bytes else bytes(data)
        if self.first is None:
            self.first = chunk
        else:
            self.chunks.append(chunk)
        return size

    def take(self) -> bytes:
        """The pickle written since the last ``take``; the sink is empty again."""
        first = self.first
        self.first = None
        if first is None:
            return b""
        chunks = self.chunks
        if not chunks:
            return first
        self.chunks = []
        chunks.insert(0, first)
        return b"".join(chunks)


#: Idle sinks by protocol. A dump takes one with ``list.pop()`` and puts it back when done;
#: both are single C calls, atomic under the GIL, so no two dumps ever share a sink (threads,
#: or a value whose ``__reduce__`` stores into a cache while it is being pickled) and there
#: are never more sinks than dumps that ran at once.
_idle: dict[int, list[BudgetSink]] = {}


def dumps_within(value: Any, protocol: int, budget: int) -> bytes:
    """``pickle.dumps(value, protocol)``, or :class:`BudgetExceeded` as soon as the pickle
    passes ``budget`` bytes, without having built the rest of it.

    For a value known to fit, ``pickle.dumps`` is quicker; this is for values whose size is
    unknown until pickled and that may be far too big to store (a list of large blobs).
    """
    idle = _idle.get(protocol)
    if idle is None:
        idle = _idle.setdefault(protocol, [])
    try:
        sink = idle.pop()
    except IndexError:
        sink = BudgetSink(protocol)
    sink.budget = budget
    sink.written = 0
    try:
        sink.dump(value)
    except BaseException:
        sink.take()  # a pickler stopped mid-dump is not reused
        raise
    pickled = sink.take()
    sink.clear_memo()
    idle.append(sink)
    return pickled
