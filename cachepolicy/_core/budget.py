"""Pickling within a byte budget: a value too big for the cache is refused while it is pickled.

Here, in the compiled engine package, rather than beside the serializers: the sink's ``write``
is called by the C pickler for every dump the default write path makes, and a compiled method
costs that call a fraction of an interpreted one.
"""

from __future__ import annotations

import pickle
import threading
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
    Each thread keeps one sink with its pickler (building a Pickler costs more than a small
    value's whole pickle); the memo is cleared after every dump.
    """

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


#: One sink per thread (``sink`` attribute, set on first use).
_local = threading.local()


def dumps_within(value: Any, protocol: int, budget: int) -> bytes:
    """``pickle.dumps(value, protocol)``, or :class:`BudgetExceeded` as soon as the pickle
    passes ``budget`` bytes, without having built the rest of it.

    For a value known to fit, ``pickle.dumps`` is quicker; this is for values whose size is
    unknown until pickled and that may be far too big to store (a list of large blobs).
    """
    found: BudgetSink | None = getattr(_local, "sink", None)
    if found is None or found.busy or found.protocol != protocol:
        # busy: a value's __reduce__ is storing into a cache; that dump gets a sink of its own.
        sink = BudgetSink(protocol)
        if found is None or not found.busy:
            _local.sink = sink
    else:
        sink = found
    sink.budget = budget
    sink.written = 0
    sink.busy = True
    try:
        sink.pickler.dump(value)
    except BaseException:
        if getattr(_local, "sink", None) is sink:
            _local.sink = None  # a pickler stopped mid-dump is not reused
        raise
    finally:
        sink.busy = False
        sink.pickler.clear_memo()
        chunks = sink.chunks
        sink.chunks = []
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
