"""Bound read and write paths for one database (and key prefix) of an engine.

Adapters keep one :class:`Accessor` per (database, prefix) and call its bound ``get``/``set``
on their hot paths: one call into the engine, with serialization done outside the lock, so an
encoding error leaves the cache unchanged.

Envelopes: a value written by ``get_or_set`` (early refresh, serve-stale) or with tags is
stored in an *envelope* (:mod:`cachepolicy.envelope`) whose first byte is ``0x00``, which no
pickle starts with. The reads here test that one byte and hand only such payloads to the
:class:`EnvelopePort` they were given (which opens the envelope, or says the value is stale
or invalidated: a miss); a plain value costs one byte comparison more than before envelopes
existed, and stays on this compiled path.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any, Final, Protocol

from ..envelope import FIELDS, FLAGS_AT, HEADER_SIZE, KEPT, MAGIC, TAGGED
from ..errors import ValueTooLargeError, short_repr
from ..sizing import format_bytes
from .budget import BudgetExceeded, dumps_within
from .engine import KEEPTTL, NX, Engine
from .entry import BYTES_BASE

__all__ = ["NO_ENVELOPES", "PENDING", "REFRESH", "Accessor", "EnvelopePort", "exact_key"]

#: What :meth:`Accessor.get_fresh` returns for an envelope it leaves to its caller: a stale
#: copy or a tagged value (:func:`cachepolicy.flight.judge` decides), or one whose early
#: refresh was drawn (XFetch said refresh: the caller refreshes without drawing again).
PENDING: Final[Any] = object()
REFRESH: Final[Any] = object()
#: The largest ``-ln(1 - random())``: ``random()`` is below 1 in steps of 2**-53, so
#: ``1 - random() >= 2**-53``. An expiry further away than this many ``delta * beta`` cannot
#: be refreshed early whatever is drawn, so nothing is drawn (the distribution is unchanged).
_MAX_DRAW: Final = 53 * math.log(2.0)


class EnvelopePort(Protocol):
    """What the accessor asks about envelopes (implemented above the engine, by
    :class:`cachepolicy.flight.Envelopes`, which knows the format, the clock and the tags)."""

    def opened(self, db: int, key: str, payload: bytes) -> bytes | None:
        """The value bytes ``payload`` (which starts with ``0x00``) holds, or None when it is a
        miss for a plain read (a stale copy, or a value whose tag was invalidated)."""
        ...

    def sealed(self, payload: bytes, tags: Any) -> bytes:
        """``payload`` in an envelope carrying ``tags``' current generations (the tags are
        checked first: TagError)."""
        ...


class _NoEnvelopes:
    """The port of an accessor built without one: every payload is a plain value."""

    def opened(self, db: int, key: str, payload: bytes) -> bytes | None:
        return payload

    def sealed(self, payload: bytes, tags: Any) -> bytes:
        raise TypeError("This accessor was built without tag support (no envelope port).")


#: The default port: no envelope is ever opened or made.
NO_ENVELOPES: EnvelopePort = _NoEnvelopes()


def exact_key(key: object) -> str:
    """``key`` as an exact ``str``, or a TypeError naming what it was.

    Called at the API edge, before any lock, only when ``type(key) is not str`` (one identity
    test on the hot path). Other types are refused: their sizes are not what ``getsizeof`` says
    (a tuple key of 1 MB counted 15 kB), ``1``, ``True`` and ``1.0`` are one dict key, and a
    ``__hash__`` or ``__eq__`` that raises inside the keyspace's dicts would leave them half
    updated. A ``str`` subclass is stored as its plain text: its own ``__hash__``/``__eq__``
    never reach the keyspace.
    """
    if isinstance(key, str):
        return str.__str__(key)
    raise TypeError(f"Cache keys must be str, got {type(key).__name__} {short_repr(key)}.")


class Accessor:
    """``get(key)`` / ``set(key, value, ttl)`` on ``prefix + key`` in database ``db``.

    Keys are typed ``Any`` on purpose: compiled, a ``str`` parameter would refuse a wrong key
    with mypyc's own TypeError before :func:`exact_key` could name the problem.

    ``pickle_protocol`` >= 0 makes ``set`` call ``pickle.dumps`` at that protocol directly
    (the default serializer) instead of ``dumps``. ``envelopes`` opens and makes the envelopes
    of ``get_or_set`` and tagged values (see the module docstring).
    """

    def __init__(
        self,
        engine: Engine,
        db: int,
        prefix: str,
        touch: bool,
        loads: Callable[[bytes], Any],
        dumps: Callable[[Any], bytes],
        pickle_protocol: int = -1,
        envelopes: EnvelopePort = NO_ENVELOPES,
    ) -> None:
        self.engine = engine
        self.db = db
        self.prefix = prefix
        self.touch = touch
        self.loads = loads
        self.dumps = dumps
        self.pickle_protocol = pickle_protocol
        self.envelopes = envelopes

    def get(self, key: Any, default: Any = None) -> Any:
        """The value, or ``default`` on a miss."""
        stored = self._stored(key)
        found = self.engine.get(self.db, stored, self.touch)
        if found is None:
            return default
        payload = self._value(stored, found)
        return default if payload is None else self.loads(payload)

    def _stored(self, key: Any) -> str:
        """``key`` as stored: checked (:func:`exact_key`), with the prefix."""
        if type(key) is not str:
            key = exact_key(key)
        stored: str = self.prefix + key if self.prefix else key
        return stored

    def _value(self, key: str, payload: bytes) -> bytes | None:
        """What a plain read of ``payload`` (found under the stored ``key``) gives: the payload,
        the value bytes of its envelope, or None for a stale or invalidated one (a miss)."""
        if len(payload) and not payload[0]:  # an envelope (see the module docstring)
            return self._opened(key, payload)
        return payload

    def _sealed(self, key: str, value: Any, tags: Any) -> bytes:
        """The payload :meth:`set` stores for ``value`` (``key`` without the prefix): encoded,
        and in an envelope carrying ``tags`` when there are any."""
        payload = self.encode(value, key)
        return payload if tags is None else self.envelopes.sealed(payload, tags)

    def _opened(self, key: str, payload: bytes) -> bytes | None:
        """The value bytes of ``payload`` (which starts with 0x00) for a plain read, or None
        for a stale copy: here for an untagged envelope, by the port for a tagged one (whose
        tags it checks) or anything else."""
        if len(payload) >= HEADER_SIZE and payload.startswith(MAGIC):
            flags = payload[FLAGS_AT]
            if not flags:  # fresh: the engine found it before its deadline (see KEPT)
                return payload[HEADER_SIZE:]
            if flags == KEPT:
                expiry: float = FIELDS.unpack_from(payload, FLAGS_AT)[1]
                if self.engine.time() > expiry:  # a stale copy: a miss for a plain read
                    return None
                return payload[HEADER_SIZE:]
        return self.envelopes.opened(self.db, key, payload)

    def get_fresh(self, key: Any, miss: Any, beta: float, draw: Callable[[], float]) -> Any:
        """``get_or_set``'s read (a hit or miss counted once): the value of a plain payload or
        of a fresh, untagged envelope (most hits, compiled end to end); ``miss`` on a miss;
        :data:`PENDING` for a stale or tagged envelope and :data:`REFRESH` when XFetch
        (``beta`` > 0; ``draw`` is the store's ``random``) picks this read to refresh the value
        early: the caller takes it from there (:meth:`cachepolicy.Cache.get_or_set`)."""
        key = self._stored(key)
        found = self.engine.get(self.db, key, self.touch)
        if found is None:
            return miss
        payload: bytes = found
        if len(payload) and not payload[0]:
            if len(payload) < HEADER_SIZE or not payload.startswith(MAGIC):
                return self.loads(payload)  # a serializer's output that starts with 0x00
            flags = payload[FLAGS_AT]
            if flags & TAGGED:
                return PENDING
            if not flags and beta <= 0.0:  # fresh (see KEPT), and no early refresh here
                return self.loads(payload[HEADER_SIZE:])
            fields = FIELDS.unpack_from(payload, FLAGS_AT)
            expiry: float = fields[1]
            now = self.engine.time()
            if now > expiry:  # False for NaN: no expiry
                return PENDING
            delta: float = fields[2]
            if beta > 0.0 and delta > 0.0:
                scale = delta * beta
                # XFetch (Vattani et al., VLDB 2015): now - delta * beta * ln(u) >= expiry.
                if expiry - now <= scale * _MAX_DRAW and (
                    now - scale * math.log(1.0 - draw()) >= expiry
                ):
                    return REFRESH
            payload = payload[HEADER_SIZE:]
        return self.loads(payload)

    def get_payload(self, key: Any) -> bytes | None:
        """The value's stored bytes (out of its envelope, if any), or None on a miss (counts
        and touches like :meth:`get`)."""
        stored = self._stored(key)
        found = self.engine.get(self.db, stored, self.touch)
        return None if found is None else self._value(stored, found)

    def encode(self, value: Any, key: str = "") -> bytes:
        """The payload for ``value``; ValueTooLargeError, before most of the work, for a value
        that could not fit in ``maxmemory`` whatever was evicted (see :meth:`_budgeted`)."""
        if self.pickle_protocol >= 0:
            cls = type(value)
            if cls is int or cls is float or value is None or cls is bool:
                return pickle.dumps(value, self.pickle_protocol)
            return self._budgeted(key, value)
        return self.dumps(value)

    def _budgeted(self, key: str, value: Any) -> bytes:
        """Pickle ``value``, refusing it as soon as its size passes what the store can hold.

        The budget is ``maxmemory`` less a lower bound of the entry's fixed cost (its overhead
        and the key's characters), so nothing refused here could have been stored; the engine
        still checks the exact size. A ``str``, ``bytes`` or ``bytearray`` pickles to at least
        its length, so it is refused before pickling; other values go through a pickler that
        stops at the budget (:func:`~cachepolicy._core.budget.dumps_within`). Without this a
        2 GB value cost 3 GB of allocation to be refused.
        """
        engine = self.engine
        limit = engine.plan.limit
        protocol = self.pickle_protocol
        if not limit:
            return pickle.dumps(value, protocol)
        budget = limit - engine.plan.plain_overhead - BYTES_BASE - len(key)
        cls = type(value)
        if cls is str or cls is bytes or cls is bytearray:
            if len(value) > budget:
                raise self._too_large(key, len(value))
            return pickle.dumps(value, protocol)
        try:
            return dumps_within(value, protocol, budget)
        except BudgetExceeded as exc:
            raise self._too_large(key, exc.written) from None

    def _too_large(self, key: str, written: int) -> ValueTooLargeError:
        engine = self.engine
        with engine.lock:
            engine.stats.rejected_writes += 1
        limit = engine.plan.limit
        return ValueTooLargeError(
            f"Cannot store key {short_repr(key)}: its value needs more than {written} bytes "
            f"(refused while serializing) but maxmemory is {limit} bytes "
            f"({format_bytes(limit)}); no eviction can make it fit.",
            key=key,
            size=written,
        )

    def set_payload(self, key: Any, payload: bytes, ttl: Any) -> bool:
        """Store a payload :meth:`encode` made (no condition, TTL in seconds or None): for
        adapters that must tell the serializer's errors from the store's."""
        return self.engine.write(self.db, self._stored(key), payload, ttl, 0)

    def add_payload(self, key: Any, payload: bytes, ttl: Any) -> bool:
        """:meth:`set_payload` only if ``key`` is absent (Redis's SET NX). True if stored."""
        return self.engine.write(self.db, self._stored(key), payload, ttl, NX)

    def set(
        self, key: Any, value: Any, ttl: Any = None, *, keepttl: bool = False, tags: Any = None
    ) -> bool:
        """Store ``value`` (no condition, TTL in seconds or None); ``keepttl`` keeps the TTL
        the key has (Redis's SET KEEPTTL); ``tags`` seal it with its tags' generations (see
        :meth:`cachepolicy.Cache.invalidate_tags`). False if the policy refused to admit a new
        key."""
        if type(key) is not str:  # before pickling: a bad key must not cost a huge dumps()
            key = exact_key(key)
        flags = 0
        if keepttl:
            if ttl is not None:  # Redis's SET rejects EX/PX with KEEPTTL as a syntax error
                raise ValueError(
                    f"set({short_repr(key)}, ..., ttl={short_repr(ttl)}, keepttl=True): give a "
                    "ttl or keepttl=True, not both."
                )
            flags = KEEPTTL
        payload = self._sealed(key, value, tags)
        if self.prefix:
            key = self.prefix + key
        return self.engine.write(self.db, key, payload, ttl, flags)
