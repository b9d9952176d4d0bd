"""Single flight: one computation per key when many callers miss it at once.

When a hot key expires under load, every request that misses it would recompute it at the
same moment (a "stampede" or "dogpile"). :meth:`cachepolicy.Cache.get_or_set` instead lets the
first caller that misses a key compute it (the *leader*) while the others that miss it during
the computation (the *followers*) wait for its result:

* the per-key table of computations in progress (:class:`FlightTable`) belongs to the store,
  so every view, Django alias and Flask backend on one store shares it;
* a follower waits at most ``stampede_wait`` seconds (:class:`StampedeSettings`), then computes
  itself (``stampede_on_timeout="compute"``, the default) or raises
  :class:`~cachepolicy.errors.ComputeTimeoutError` (``"raise"``). A leader's computation is
  never interrupted: Python cannot stop a thread, so a computation that never returns holds
  only its own caller;
* an exception raised by the computation (or by serializing its value) reaches the leader only;
  its followers retry, and one of them becomes the next leader. A value computed but refused by
  the store (out of memory) is still handed to the followers.

Around the flight, for values written by ``get_or_set``: early refresh (XFetch, ``xfetch_beta``)
and serve-stale (``stale_grace``), from the computation time and freshness deadline kept in the
value's envelope (:mod:`cachepolicy.envelope`); tags (:mod:`cachepolicy.tags`) are checked on
every read of a tagged value. :func:`acompute_once` is the asyncio form of the miss path;
:func:`lease` serves callers that read, compute and write in steps of their own (Flask's
decorators). The stampede events (:data:`STAMPEDE_EVENTS`) are delivered from here.

The algorithm (:func:`compute_once`, :func:`on_hit`) reads, encodes and writes through a
:class:`Steps` bundle whose :class:`Codec` an adapter may bring, so each adapter keeps its own
conventions (Django's ``PicklingError``, ``ON_OUT_OF_MEMORY``) while the logic has one home.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import math
import threading
from collections.abc import Callable, Collection, Mapping
from random import Random
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from .envelope import Envelope, TagStamps, open_envelope, seal
from .errors import ComputeTimeoutError, ConfigError, NotCallableError, short_repr
from .events import KeyspaceEvent
from .options import OPTION_BY_NAME
from .tags import TagTable, check_tags

if TYPE_CHECKING:
    from ._core.engine import Engine

__all__ = [
    "STAMPEDE_COUNTERS",
    "STAMPEDE_EVENTS",
    "XFETCH_MIN_SCALE",
    "Codec",
    "Envelopes",
    "FlightTable",
    "StampedeHub",
    "StampedeSettings",
    "Steps",
    "acompute_once",
    "aon_judged",
    "check_callable",
    "compute_once",
    "drop_if_same",
    "freshness",
    "judge",
    "lease",
    "on_hit",
    "on_judged",
    "read_verdict",
    "seal_for",
    "timeout_error",
    "unsealed",
]

logger = logging.getLogger("cachepolicy.flight")

OnTimeout = Literal["compute", "raise"]
ON_TIMEOUT_CHOICES: Final = OPTION_BY_NAME["stampede_on_timeout"].choices
# The defaults are the options table's (the reasons for them are written there).
DEFAULT_WAIT: Final[float] = OPTION_BY_NAME["stampede_wait"].default
DEFAULT_ON_TIMEOUT: Final[OnTimeout] = OPTION_BY_NAME["stampede_on_timeout"].default
DEFAULT_BETA: Final[float | None] = OPTION_BY_NAME["xfetch_beta"].default
DEFAULT_GRACE: Final[float] = OPTION_BY_NAME["stale_grace"].default
# The largest wait accepted: threading's wait() overflows past about 2**31 seconds on some
# platforms, and a day is already far beyond any request.
MAX_WAIT: Final = 86_400.0
# A stale copy older than a year is a configuration mistake, not a grace period.
MAX_GRACE: Final = 365 * 86_400.0
# beta multiplies the computation time: at 100 a 50 ms computation is refreshed up to ~23 s
# early (ln 0.01 ~ -4.6 at the 99th percentile); beyond that early refresh is constant refresh.
MAX_BETA: Final = 100.0
# The options table's names for the fields of StampedeSettings.
_FIELDS: Final = {
    "stampede_wait": "wait",
    "stampede_on_timeout": "on_timeout",
    "xfetch_beta": "beta",
    "stale_grace": "grace",
}

#: Below this ``delta * beta`` (seconds) a value is stored without an envelope for early
#: refresh: XFetch would refresh it at most 53 ln 2 (about 37) times that before expiry, i.e.
#: practically at expiry, where single flight already makes the herd compute once. Such a
#: value then costs no envelope bytes and its hits stay on the plain compiled read (a fresh
#: envelope costs a compiled hit about 0.26 us more: header, clock, slice).
XFETCH_MIN_SCALE: Final = 0.001

#: Events a subscriber can receive (``Cache.subscribe(callback, STAMPEDE_EVENTS)``): a value
#: computed (``get_or_set``, a decorator's lease), a stale copy served, a value refreshed early,
#: a tag invalidated (the event's ``key`` is the tag).
STAMPEDE_EVENTS: Final[tuple[str, ...]] = (
    "computed",
    "stale_served",
    "refreshed_early",
    "tag_invalidated",
)

#: The counters :meth:`FlightTable.counters` reports, as ``info()`` fields.
STAMPEDE_COUNTERS: Final[tuple[str, ...]] = (
    "stampede_computed",
    "stampede_waited",
    "stampede_wait_timeouts",
    "stampede_failed",
    "stampede_early_refreshes",
    "stampede_stale_served",
)


def _number(value: Any, option: str, what: str) -> float:
    """``value`` as a float, or a ConfigError naming ``option`` (bools and NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(
            f"Option {option!r} must be {what}, got {short_repr(value)}.", option=option
        )
    return float(value)


def _seconds(value: Any, option: str, above: float, most: float) -> float:
    """A number of seconds greater than ``above`` and at most ``most``, or a ConfigError."""
    seconds = _number(value, option, "a number of seconds")
    if not above < seconds <= most:
        least = "greater than 0" if above == 0 else "0 or more"
        raise ConfigError(
            f"Option {option!r} must be a number of seconds {least} and at most {most:g}, got "
            f"{short_repr(value)}.",
            option=option,
        )
    return seconds


@dataclasses.dataclass(frozen=True)
class StampedeSettings:
    """How :meth:`~cachepolicy.Cache.get_or_set` protects a key (an immutable value).

    ``wait``: seconds a follower waits for the leader's value; ``on_timeout``: what it does
    then (``"compute"`` the value itself, or ``"raise"``
    :class:`~cachepolicy.errors.ComputeTimeoutError`).
    """

    wait: float = DEFAULT_WAIT
    on_timeout: OnTimeout = DEFAULT_ON_TIMEOUT
    beta: float | None = DEFAULT_BETA
    grace: float = DEFAULT_GRACE

    def __post_init__(self) -> None:
        object.__setattr__(self, "wait", _seconds(self.wait, "stampede_wait", 0.0, MAX_WAIT))
        if self.on_timeout not in ON_TIMEOUT_CHOICES:
            raise ConfigError(
                f"Option 'stampede_on_timeout' must be 'compute' or 'raise', got "
                f"{short_repr(self.on_timeout)}.",
                option="stampede_on_timeout",
            )
        if self.beta is not None:
            beta = _number(self.beta, "xfetch_beta", "a number greater than 0, or None")
            if not 0 < beta <= MAX_BETA:
                raise ConfigError(
                    f"Option 'xfetch_beta' must be greater than 0 and at most {MAX_BETA:g} "
                    f"(None turns early refresh off), got {short_repr(self.beta)}.",
                    option="xfetch_beta",
                )
            object.__setattr__(self, "beta", beta)
        grace = _seconds(self.grace, "stale_grace", -1.0, MAX_GRACE)
        object.__setattr__(self, "grace", grace)

    @staticmethod
    def option_names() -> tuple[str, ...]:
        """The options table's names of the fields, in field order."""
        return tuple(_FIELDS)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> StampedeSettings:
        """From the options table's names (``stampede_wait``, ``xfetch_beta``, ...); absent
        ones keep their defaults."""
        return cls(**{field: options[name] for name, field in _FIELDS.items() if name in options})

    def replace(self, **changes: Any) -> StampedeSettings:
        return dataclasses.replace(self, **changes)


class _Flight:
    """One computation in progress: followers wait on ``done``, then read the outcome."""

    __slots__ = ("done", "failed", "followers", "futures", "payload", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        #: asyncio followers: (their loop, the future to resolve when the flight lands).
        self.futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        #: Callers that joined to wait (counted under the table's lock).
        self.followers = 0
        #: True when the computation raised: followers retry.
        self.failed = False
        #: The stored bytes (followers decode their own copy), or None if it was not encoded.
        self.payload: bytes | None = None
        #: The computed object, for followers when there is no payload.
        self.value: Any = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a follower that timed out cancelled it
        future.set_result(None)


class StampedeHub:
    """Stampede counters (``info()`` fields, :data:`STAMPEDE_COUNTERS` and any ``extra``
    names) and the subscribers of the :data:`STAMPEDE_EVENTS`: the in-process tier's
    :class:`FlightTable` is one, and each Redis-tier backend keeps one per process
    (:mod:`cachepolicy.redis.flight`)."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        #: [callback, names or None] per subscription (see :meth:`subscribe`).
        self._subscribers: tuple[list[Any], ...] = ()
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((*STAMPEDE_COUNTERS, *extra), 0)

    def subscribe(
        self, callback: Callable[[KeyspaceEvent], None], names: Collection[str] | None = None
    ) -> Callable[[], None]:
        """Call ``callback`` with a :class:`~cachepolicy.events.KeyspaceEvent` for each
        :data:`STAMPEDE_EVENTS` event (or only those named); returns an unsubscriber."""
        wanted = None if names is None else frozenset(names)
        if wanted is not None and not wanted <= set(STAMPEDE_EVENTS):
            unknown = ", ".join(sorted(wanted - set(STAMPEDE_EVENTS)))
            raise ValueError(
                f"Unknown stampede event name(s): {unknown}. Valid: {', '.join(STAMPEDE_EVENTS)}."
            )
        record: list[Any] = [callback, wanted]
        with self._lock:
            self._subscribers = (*self._subscribers, record)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not record)

        return unsubscribe

    def emit(self, name: str, db: int, key: str) -> None:
        """Deliver one event to the subscribers that want it (no lock held: a callback may
        use the cache). A callback that raises is logged."""
        subscribers = self._subscribers
        if not subscribers:
            return
        event = KeyspaceEvent(name, key, db)
        for callback, wanted in subscribers:
            if wanted is None or name in wanted:
                try:
                    callback(event)
                except Exception:
                    logger.exception("Stampede event subscriber %r failed on %r", callback, event)

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def counters(self) -> dict[str, int]:
        """The counters as ``info()`` fields."""
        with self._lock:
            return dict(self._counts)

    def reset_counters(self) -> None:
        """Zero the counters (Redis's CONFIG RESETSTAT)."""
        with self._lock:
            self._counts = dict.fromkeys(self._counts, 0)


class FlightTable(StampedeHub):
    """The computations in progress of one store, by (database, key), and their counters.

    One lock guards the table; it is held for a dict operation, never during a computation.
    """

    def __init__(self, rng: Random | None = None) -> None:
        super().__init__()
        self._flights: dict[tuple[int, str], _Flight] = {}
        #: Draws XFetch's uniform variable (seed it for reproducible refreshes).
        self.rng = rng if rng is not None else Random()

    def join(self, db: int, key: str) -> tuple[_Flight, bool]:
        """The flight for ``key`` and whether the caller leads it (True: it must compute and
        then :meth:`land` it)."""
        slot = (db, key)
        with self._lock:
            flight = self._flights.get(slot)
            if flight is not None:
                flight.followers += 1
                return flight, False
            flight = self._flights[slot] = _Flight()
            return flight, True

    def lead(self, db: int, key: str) -> _Flight | None:
        """A new flight the caller leads, or None if one is in progress (not joined)."""
        slot = (db, key)
        with self._lock:
            if slot in self._flights:
                return None
            flight = self._flights[slot] = _Flight()
            return flight

    def land(self, db: int, key: str, flight: _Flight) -> None:
        """End ``flight`` (its outcome already recorded) and wake its followers, threads and
        asyncio tasks (on their own loops)."""
        with self._lock:
            if self._flights.get((db, key)) is flight:
                del self._flights[(db, key)]
            flight.done.set()
            futures, flight.futures = flight.futures, []
        for loop, future in futures:
            # A closed loop raises RuntimeError: nobody waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    def add_future(
        self, flight: _Flight, loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]
    ) -> bool:
        """Have ``future`` resolved when ``flight`` lands; False if it has landed already."""
        with self._lock:
            if flight.done.is_set():
                return False
            flight.futures.append((loop, future))
            return True

    def finish(self, db: int, key: str, flight: _Flight, computed: bool) -> None:
        """Land a :func:`lease`: ``computed`` is False when the computation raised (followers
        then do not count as served)."""
        flight.failed = not computed
        self.count("stampede_computed" if computed else "stampede_failed")
        self.land(db, key, flight)
        if computed:
            self.emit("computed", db, key)

    def in_flight(self) -> int:
        """How many computations are in progress."""
        with self._lock:
            return len(self._flights)

    def followers(self, db: int, key: str) -> int:
        """How many callers wait for the computation of ``key`` in progress (0 if none)."""
        with self._lock:
            flight = self._flights.get((db, key))
            return 0 if flight is None else flight.followers

    def reset(self) -> None:
        """After ``fork()``: the parent's computations are not the child's to wait for."""
        self._lock = threading.Lock()
        self._flights = {}


def check_callable(compute: Any, key: str) -> None:
    """Refuse a default that cannot compute a value, before anything is read or written."""
    if not callable(compute):
        raise NotCallableError(
            f"get_or_set({short_repr(key)}, ...) needs a callable that computes the value, got "
            f"{type(compute).__name__} {short_repr(compute)}. Pass a function (a lambda "
            "returning a constant works too).",
            key=key,
        )


class Codec(Protocol):
    """How a caller of ``get_or_set`` turns values into stored bytes and back, and stores them.

    The core view has one; adapters bring theirs (built once, not per call) to keep their own
    conventions: Django's ``PicklingError`` and ``ON_OUT_OF_MEMORY``, cachelib's serializers.
    """

    #: A value's serialized bytes (envelope removed) to the value; may be a C function such
    #: as ``pickle.loads``.
    loads: Callable[[bytes], Any]

    def encode(self, value: Any, key: str) -> bytes | None:
        """The bytes to store for ``value`` (None: do not store it, the codec has dealt with
        it, e.g. logged a value too large to fit)."""
        ...

    def write(self, key: str, payload: bytes, ttl: float | None) -> None:
        """Store ``payload`` under ``key`` with the engine TTL given (the caller's plus any
        grace period)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class Steps:
    """One ``get_or_set`` call's key and how it reads, decodes, encodes and writes it."""

    table: FlightTable
    db: int
    #: The stored key (prefix included): the flight's identity.
    key: str
    #: The caller's TTL in seconds (None: never expires).
    ttl: float | None
    settings: StampedeSettings
    #: The engine's clock (monotonic seconds).
    time: Callable[[], float]
    #: The stored bytes without counting a hit or a miss, or None.
    peek: Callable[[], bytes | None]
    codec: Codec
    #: The store's tag generations, and the tags to record with a value written now.
    tags: TagTable
    tag_names: tuple[str, ...]
    #: Remove the entry if it still holds these bytes (lazy removal of an invalidated one).
    drop: Callable[[bytes], None]

    def loads(self, payload: bytes) -> Any:
        return self.codec.loads(payload)


def unsealed(
    payload: bytes, now: float, tags: TagTable, drop: Callable[[], None] | None = None
) -> bytes | None:
    """The value's serialized bytes in ``payload``, or None if it holds a stale copy or a
    value one of whose tags was invalidated since it was written (then ``drop()`` removes it:
    lazy removal)."""
    envelope = open_envelope(payload)
    if envelope is None:
        return payload
    if envelope.tags and not tags.current(envelope.tags):
        tags.count_invalidated_read()
        if drop is not None:
            drop()
        return None
    return None if envelope.stale(now) else envelope.payload


def drop_if_same(engine: Engine, db: int, key: str, payload: bytes) -> None:
    """Remove ``key`` if it still holds ``payload`` (an entry found invalidated by a tag; a
    newer write in between is left alone)."""
    entry = engine.peek(db, key)
    if entry is not None and entry.payload is payload:
        engine.delete(db, key)


class Envelopes:
    """One store's envelopes as the compiled accessor sees them
    (:class:`~cachepolicy._core.accessor.EnvelopePort`): plain reads get the value of a fresh,
    current envelope and a miss for a stale copy or an invalidated tag; tagged writes are
    sealed with their tags' generations."""

    __slots__ = ("engine", "tags")

    def __init__(self, engine: Engine, tags: TagTable) -> None:
        self.engine = engine
        self.tags = tags

    def opened(self, db: int, key: str, payload: bytes) -> bytes | None:
        engine = self.engine
        return unsealed(
            payload, engine.time(), self.tags, lambda: drop_if_same(engine, db, key, payload)
        )

    def sealed(self, payload: bytes, tags: Any) -> bytes:
        names = check_tags(tags)
        return seal(payload, None, 0.0, self.tags.stamps(names)) if names else payload


#: What a ``get_or_set`` hit on an envelope calls for (:func:`judge`).
SERVE, RECOMPUTE, INVALIDATED, REFRESH_EARLY, REFRESH_STALE = range(5)


def judge(
    envelope: Envelope, now: float, settings: StampedeSettings, table: FlightTable, tags: TagTable
) -> int:
    """What a ``get_or_set`` hit on ``envelope`` does: serve it (:data:`SERVE`), or one of the
    slower paths :func:`on_judged` takes. Nothing is built for the usual answer, SERVE."""
    if envelope.tags and not tags.current(envelope.tags):
        return INVALIDATED
    return freshness(envelope, now, settings, table.rng)


def freshness(envelope: Envelope, now: float, settings: StampedeSettings, rng: Random) -> int:
    """:func:`judge` once the tags are known current (both tiers): SERVE, RECOMPUTE (a stale
    copy and no grace wanted), REFRESH_STALE or REFRESH_EARLY (drawn from ``rng``)."""
    if envelope.stale(now):
        # A copy kept for another view's grace period, when this one wants fresh values.
        return REFRESH_STALE if settings.grace else RECOMPUTE
    beta = settings.beta
    # XFetch (Vattani et al., VLDB 2015): refresh when now - delta * beta * ln(u) >= expiry,
    # u uniform in (0, 1]: the closer to expiry and the slower the computation, the likelier.
    if (
        beta is not None
        and envelope.delta > 0
        and now - envelope.delta * beta * math.log(1.0 - rng.random()) >= envelope.expiry
    ):
        return REFRESH_EARLY
    return SERVE


def read_verdict(
    payload: bytes, now: float, settings: StampedeSettings, table: FlightTable, tags: TagTable
) -> tuple[int, Envelope | None]:
    """What ``get_or_set`` (sync or async) does with the stored ``payload`` it read: SERVE
    with no envelope (a plain value: serve ``payload``), SERVE with the envelope (serve its
    value), or a slower path for :func:`on_judged` / :func:`aon_judged`."""
    if not payload or payload[0]:  # a plain pickle: nothing to judge
        return SERVE, None
    envelope = open_envelope(payload)
    if envelope is None:  # a serializer's output that starts with 0x00
        return SERVE, None
    return judge(envelope, now, settings, table, tags), envelope


def on_judged(
    steps: Steps, compute: Callable[[], Any], payload: bytes, envelope: Envelope, verdict: int
) -> Any:
    """Act on :func:`judge`'s ``verdict`` (not SERVE) for ``payload`` (holding ``envelope``)."""
    if verdict == INVALIDATED:
        steps.tags.count_invalidated_read()
        steps.drop(payload)
        return compute_once(steps, compute)
    if verdict == RECOMPUTE:
        return compute_once(steps, compute)
    return _refresh(steps, compute, envelope, stale=verdict == REFRESH_STALE)


def on_hit(steps: Steps, compute: Callable[[], Any], payload: bytes) -> Any:
    """``get_or_set`` found ``payload`` (not a plain pickle: maybe an envelope). Serve it,
    refresh it early (XFetch) or, when stale, serve it while one caller refreshes it."""
    envelope = open_envelope(payload)
    if envelope is None:
        return steps.loads(payload)
    verdict = judge(envelope, steps.time(), steps.settings, steps.table, steps.tags)
    if verdict == SERVE:
        return steps.loads(envelope.payload)
    return on_judged(steps, compute, payload, envelope, verdict)


def compute_once(steps: Steps, compute: Callable[[], Any]) -> Any:
    """After a miss: the value, computed once for every concurrent caller of the key.

    The caller has read the key (and counted the miss) first: a hit costs nothing here.
    """
    table = steps.table
    while True:
        flight, leader = table.join(steps.db, steps.key)
        if leader:
            return _lead(steps, flight, compute)
        if not _wait_for(table, steps.key, flight, steps.settings):
            value, _, refusal = _compute_and_store(steps, compute)
            if refusal is not None:
                raise refusal
            return value
        if flight.failed:
            continue  # the leader's exception was its own: try again, maybe as the leader
        table.count("stampede_waited")
        if flight.payload is None:
            return flight.value
        return steps.loads(_value_bytes(flight.payload))


def _value_bytes(payload: bytes) -> bytes:
    envelope = open_envelope(payload)
    return payload if envelope is None else envelope.payload


def _wait_for(table: FlightTable, key: str, flight: _Flight, settings: StampedeSettings) -> bool:
    """Wait for ``flight`` to land: True if it did, False if ``stampede_wait`` ran out and the
    caller is to compute (``stampede_on_timeout="compute"``); ComputeTimeoutError for
    ``"raise"``."""
    if flight.done.wait(settings.wait):
        return True
    table.count("stampede_wait_timeouts")
    if settings.on_timeout == "raise":
        raise timeout_error(key, settings)
    return False


def timeout_error(key: str, settings: StampedeSettings) -> ComputeTimeoutError:
    """The error a caller raises after waiting ``stampede_wait`` for another's computation."""
    return ComputeTimeoutError(
        f"Waited {settings.wait:g} s (stampede_wait) for another caller computing key "
        f"{short_repr(key)}; it has not finished. Raise stampede_wait, or set "
        "stampede_on_timeout='compute' to compute the value in this caller then.",
        key=key,
        waited=settings.wait,
    )


def lease(table: FlightTable, db: int, key: str, settings: StampedeSettings) -> _Flight | None:
    """Single flight for callers that read, compute and write in steps of their own (Flask's
    ``cached``/``memoize`` decorators), after their read missed ``key``.

    Returns a flight the caller now leads: it computes, writes, then :meth:`FlightTable.finish`es
    it (also when it fails or decides not to write). Or, when another caller was computing,
    waits for it and returns None: the caller reads again, and computes itself if that still
    misses (the other computation failed or stored nothing).
    """
    flight, leader = table.join(db, key)
    if leader:
        return flight
    if _wait_for(table, key, flight, settings) and not flight.failed:
        table.count("stampede_waited")
    return None


def _lead(steps: Steps, flight: _Flight, compute: Callable[[], Any]) -> Any:
    """Compute as the leader, publish the outcome to the followers, land the flight."""
    flight.failed = True  # until the value is known: an exception leaves it so
    try:
        found = _stored_meanwhile(steps, flight)
        if found is not _NOTHING:
            return found
        value, payload, refusal = _compute_and_store(steps, compute)
        return _published(flight, value, payload, refusal)
    finally:
        steps.table.land(steps.db, steps.key, flight)


# What _stored_meanwhile returns when the key is still missing (None is a value).
_NOTHING: Final[Any] = object()


def _stored_meanwhile(steps: Steps, flight: _Flight) -> Any:
    """The value a previous leader stored between our miss and our join (then published to
    our followers too), or _NOTHING."""
    payload = steps.peek()
    found = None if payload is None else unsealed(payload, steps.time(), steps.tags)
    if payload is None or found is None:
        return _NOTHING
    flight.payload, flight.failed = payload, False
    return steps.loads(found)


def _published(
    flight: _Flight, value: Any, payload: bytes | None, refusal: Exception | None
) -> Any:
    """Record the leader's outcome for its followers; the value, or the store's refusal."""
    flight.value, flight.payload, flight.failed = value, payload, False
    if refusal is not None:
        raise refusal
    return value


def _refresh(steps: Steps, compute: Callable[[], Any], envelope: Envelope, stale: bool) -> Any:
    """Recompute a key that is still served (early refresh, or a stale copy in its grace
    period): the first caller computes, every other caller meanwhile gets the stored copy.
    A refresh that raises is logged and the stored copy served (stale-if-error)."""
    flight = _refresh_lead(steps, stale)
    if flight is None:
        return steps.loads(envelope.payload)
    try:
        value, payload, refusal = _compute_and_store(steps, compute)
    except Exception:
        return _refresh_failed(steps, envelope, stale)
    finally:
        steps.table.land(steps.db, steps.key, flight)
    return _refreshed(steps, flight, (value, payload, refusal), stale)


def _refresh_lead(steps: Steps, stale: bool) -> _Flight | None:
    """The refresh flight this caller leads, or None (someone refreshes it already: the
    stored copy is served, counted when stale)."""
    flight = steps.table.lead(steps.db, steps.key)
    if flight is None:
        if stale:
            _served_stale(steps)
        return None
    flight.failed = True
    return flight


def _served_stale(steps: Steps) -> None:
    steps.table.count("stampede_stale_served")
    steps.table.emit("stale_served", steps.db, steps.key)


def _refresh_failed(steps: Steps, envelope: Envelope, stale: bool) -> Any:
    """A refresh raised (inside an ``except``): logged, the stored copy served."""
    logger.warning(
        "Refreshing key %s raised; serving its %s copy.",
        short_repr(steps.key),
        "stale" if stale else "current",
        exc_info=True,
    )
    if stale:
        _served_stale(steps)
    return steps.loads(envelope.payload)


def _refreshed(
    steps: Steps,
    flight: _Flight,
    outcome: tuple[Any, bytes | None, Exception | None],
    stale: bool,
) -> Any:
    """Publish a refresh's outcome; the value (a store refusal is logged, not raised)."""
    value, payload, refusal = outcome
    flight.value, flight.payload, flight.failed = value, payload, False
    if not stale:
        steps.table.count("stampede_early_refreshes")
        steps.table.emit("refreshed_early", steps.db, steps.key)
    if refusal is not None:
        logger.warning("Refreshed key %s could not be stored: %s", short_repr(steps.key), refusal)
    return value


def _compute_and_store(
    steps: Steps, compute: Callable[[], Any]
) -> tuple[Any, bytes | None, Exception | None]:
    """Compute (timing it), encode, seal and store: (value, stored bytes, the store's refusal
    or None). An exception from the computation or the encoder propagates (cache unchanged)."""
    stamps, started = _before_computing(steps)
    try:
        value = compute()
    except BaseException:
        steps.table.count("stampede_failed")
        raise
    return (value, *_store_computed(steps, value, stamps, started))


def _before_computing(steps: Steps) -> tuple[TagStamps, float]:
    """The tags' generations and the clock, read before the computation starts: an
    invalidation during the computation must make the value a miss."""
    stamps = steps.tags.stamps(steps.tag_names) if steps.tag_names else ()
    return stamps, steps.time()


def _store_computed(
    steps: Steps, value: Any, stamps: TagStamps, started: float
) -> tuple[bytes | None, Exception | None]:
    """Encode, seal and store a computed value: (stored bytes, the store's refusal or None)."""
    table = steps.table
    delta = steps.time() - started
    try:
        payload = steps.codec.encode(value, steps.key)
    except BaseException:
        table.count("stampede_failed")
        raise
    table.count("stampede_computed")
    table.emit("computed", steps.db, steps.key)
    if payload is None:
        return None, None
    payload, ttl = _sealed(steps, payload, delta, stamps)
    try:
        steps.codec.write(steps.key, payload, ttl)
    except Exception as exc:  # the store refused it: the value itself is good
        return payload, exc
    return payload, None


# ---------------------------------------------------------------------- asyncio


async def acompute_once(steps: Steps, compute: Callable[[], Any]) -> Any:
    """:func:`compute_once` for asyncio tasks: ``compute`` may return an awaitable (an
    ``async def`` function), and waiting for another caller's computation (a task or a
    thread) suspends the task instead of blocking its loop."""
    table = steps.table
    while True:
        flight, leader = table.join(steps.db, steps.key)
        if leader:
            return await _alead(steps, flight, compute)
        if not await _await_landing(table, steps.key, flight, steps.settings):
            value, _, refusal = await _acompute_and_store(steps, compute)
            if refusal is not None:
                raise refusal
            return value
        if flight.failed:
            continue
        table.count("stampede_waited")
        if flight.payload is None:
            return flight.value
        return steps.loads(_value_bytes(flight.payload))


async def aon_judged(
    steps: Steps, compute: Callable[[], Any], payload: bytes, envelope: Envelope, verdict: int
) -> Any:
    """:func:`on_judged` for asyncio tasks: early refresh and serve-stale included."""
    if verdict == INVALIDATED:
        steps.tags.count_invalidated_read()
        steps.drop(payload)
    if verdict in (INVALIDATED, RECOMPUTE):
        return await acompute_once(steps, compute)
    stale = verdict == REFRESH_STALE
    flight = _refresh_lead(steps, stale)
    if flight is None:
        return steps.loads(envelope.payload)
    try:
        outcome = await _acompute_and_store(steps, compute)
    except Exception:
        return _refresh_failed(steps, envelope, stale)
    finally:
        steps.table.land(steps.db, steps.key, flight)
    return _refreshed(steps, flight, outcome, stale)


async def _alead(steps: Steps, flight: _Flight, compute: Callable[[], Any]) -> Any:
    flight.failed = True
    try:
        found = _stored_meanwhile(steps, flight)
        if found is not _NOTHING:
            return found
        value, payload, refusal = await _acompute_and_store(steps, compute)
        return _published(flight, value, payload, refusal)
    finally:
        steps.table.land(steps.db, steps.key, flight)


async def _acompute_and_store(
    steps: Steps, compute: Callable[[], Any]
) -> tuple[Any, bytes | None, Exception | None]:
    stamps, started = _before_computing(steps)
    try:
        value = compute()
        if inspect.isawaitable(value):
            value = await value
    except BaseException:
        steps.table.count("stampede_failed")
        raise
    return (value, *_store_computed(steps, value, stamps, started))


async def _await_landing(
    table: FlightTable, key: str, flight: _Flight, settings: StampedeSettings
) -> bool:
    """:func:`_wait_for` for a task: True once ``flight`` lands, False (or
    ComputeTimeoutError) after ``stampede_wait`` seconds."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    if not table.add_future(flight, loop, future):
        return True
    try:
        await asyncio.wait_for(future, settings.wait)
    except TimeoutError:
        pass
    else:
        return True
    table.count("stampede_wait_timeouts")
    if settings.on_timeout == "raise":
        raise timeout_error(key, settings)
    return False


def _sealed(
    steps: Steps, payload: bytes, delta: float, stamps: TagStamps
) -> tuple[bytes, float | None]:
    return seal_for(payload, steps.ttl, steps.settings, delta, stamps, steps.time())


def seal_for(
    payload: bytes,
    ttl: float | None,
    settings: StampedeSettings,
    delta: float,
    stamps: TagStamps,
    now: float,
) -> tuple[bytes, float | None]:
    """The bytes to store for a computed value and the store's TTL (both tiers): an envelope
    (computation time, freshness deadline ``now + ttl``, tag generations) and the TTL plus
    the grace period when early refresh or serve-stale applies; the plain bytes when nothing
    does."""
    timed = ttl is not None and 0 < ttl < math.inf
    beta = settings.beta
    early = beta is not None and delta * beta >= XFETCH_MIN_SCALE
    if not timed or (not early and not settings.grace):
        if not stamps:
            return payload, ttl
        return seal(payload, None, 0.0, stamps), ttl
    assert ttl is not None
    grace = settings.grace
    return seal(payload, now + ttl, delta, stamps, kept=bool(grace)), ttl + grace
