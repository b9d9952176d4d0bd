"""What makes active reclamation run: cache operations (inline) or a daemon thread.

An expiry algorithm (Redis's cycle, the deadline index) says *what* to reclaim and *when it next
has work*; a driver decides *on which thread* that work runs. The two compose, so every
algorithm can run either way:

* :class:`InlineDriver` piggy-backs on cache writes (``after_operation``). No thread at all, so
  nothing to restart after ``fork()`` and no GIL competition with request threads; the cost is
  that a cache nobody writes to reclaims nothing (its memory does not grow either). The check on
  every write is one float comparison; work runs at most as often as the algorithm schedules it.
* :class:`ThreadDriver` runs the same work on a daemon thread, in short slices that take the
  store lock and then yield the GIL (``time.sleep(0)``), so a request waits at most one slice.
  The thread holds only a weak reference to the store (a garbage cache is collected and its
  thread exits), stops on ``close()``, and is restarted in the child after ``fork()`` (gunicorn
  ``--preload`` imports, creates caches, then forks workers).

Scheduling and budgets both use the store clock's ``monotonic()`` (deadlines are monotonic
times too, so a wall-clock step neither stalls nor floods expiry); with a
:class:`~cachepolicy.clock.ManualClock` a thread wakes whenever a test
advances the clock, so thread tests are deterministic without sleeping.
"""

from __future__ import annotations

import abc
import logging
import math
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from .base import ExpiryStrategy

if TYPE_CHECKING:
    from .._core.ports import ReclaimContext
    from ..config import CacheConfig

__all__ = ["DrivenExpiry", "InlineDriver", "ReclaimDriver", "ThreadDriver", "yield_gil"]

logger = logging.getLogger("cachepolicy.expiry")

# A sleeping thread re-checks that its store is still alive at least this often (real seconds),
# so a cache dropped without close() lets its thread exit soon even if no deadline is near.
_IDLE_RECHECK = 1.0

# With a ManualClock (tests) the thread waits for the clock to move, polling this often in real
# seconds so that stop() is noticed promptly; small enough for snappy tests, large enough not to
# spin.
_MANUAL_POLL = 0.02

# close() waits this long (real seconds) for the thread to finish its current slice and exit. A
# slice is milliseconds; the bound only matters if a subscriber callback blocks the thread.
_JOIN_TIMEOUT = 2.0

# Before fork() each running thread is paused between slices so the child never inherits a store
# lock held by a thread that does not exist there. Bounded so a wedged thread cannot hang fork().
_FORK_PAUSE_TIMEOUT = 1.0


def yield_gil() -> None:
    """Let request threads run between two slices of background work.

    ``time.sleep(0)`` releases the GIL, so a request thread waiting for it gets it now instead
    of after the interpreter's 5 ms switch interval.
    """
    time.sleep(0)


class ReclaimDriver:
    """Base driver: runs ``strategy.run`` when ``next_time`` (clock time) has come."""

    #: Whether runs happen on a separate thread (the strategy then yields between slices).
    threaded: ClassVar[bool] = False

    def __init__(self, strategy: DrivenExpiry) -> None:
        self.strategy = strategy
        #: Clock time (``clock.monotonic()``) at which the strategy next has work. Written by the
        #: strategy (under the store lock when hooks may race with it), read lock-free here.
        self.next_time = -math.inf

    def schedule(self, when: float) -> None:
        """The strategy's next work is due at clock time ``when``."""
        self.next_time = when
        self._publish(when)

    def wake(self, when: float) -> None:
        """Work became due earlier than planned (a new, nearer deadline); lock held."""
        self.next_time = when
        self._publish(when)

    def _publish(self, when: float) -> None:
        self.strategy.scheduled(when, self.threaded)

    def start(self) -> None:
        """Begin driving (called once the store is fully built)."""

    def stop(self) -> None:
        """Stop driving; idempotent."""

    def after_operation(self, now: float) -> None:
        """A cache write just finished (outside the lock)."""


class InlineDriver(ReclaimDriver):
    """Runs reclamation on the thread that performs a cache write, when work is due.

    Cost per write: one float comparison. At most one writer runs the work at a time (others
    skip instead of queueing behind it), so concurrent writers never wait for reclamation.
    """

    def __init__(self, strategy: DrivenExpiry) -> None:
        super().__init__(strategy)
        self._busy = threading.Lock()
        _INLINE_DRIVERS.add(self)

    def after_operation(self, now: float) -> None:
        if now < self.next_time:
            return
        if not self._busy.acquire(blocking=False):
            return
        try:
            context = self.strategy.context
            if context is not None:
                self.strategy.run(context, None)
        finally:
            self._busy.release()

    def _after_fork_in_child(self) -> None:
        # Another parent thread may have held the flag at fork time: it would stay held forever.
        self._busy = threading.Lock()


class ThreadDriver(ReclaimDriver):
    """Runs reclamation on one daemon thread per store, waking when the strategy has work."""

    threaded = True

    def __init__(self, strategy: DrivenExpiry) -> None:
        super().__init__(strategy)
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        # Held by the thread while it works; fork() takes it so no slice is in flight.
        self._working = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._clock: Any = None
        self.runs = 0
        _THREAD_DRIVERS.add(self)

    @property
    def thread(self) -> threading.Thread | None:
        """The current worker thread (None before start / after stop)."""
        return self._thread

    def start(self) -> None:
        if self._running:
            return
        context = self.strategy.context
        if context is None:
            return
        self._clock = context.clock
        del context
        self._running = True
        self._stopping.clear()
        self._spawn()

    def _spawn(self) -> None:
        name = f"cachepolicy-{self.strategy.name or type(self.strategy).__name__}"
        thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        self._running = False
        self._stopping.set()
        self._wakeup.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)
        self._thread = None

    def wake(self, when: float) -> None:
        super().wake(when)
        self._wakeup.set()

    def _loop(self) -> None:
        strategy = self.strategy
        clock = self._clock
        manual_wait = getattr(clock, "wait_for_change", None)
        while not self._stopping.is_set():
            self._wakeup.clear()
            context = strategy.context
            if context is None:
                break
            if clock.monotonic() >= self.next_time:
                try:
                    with self._working:
                        strategy.run(context, yield_gil)
                    self.runs += 1
                except Exception:  # keep collecting; a bug must not silently end expiry
                    logger.exception("Background expiry of %r failed", context)
                    self.next_time = clock.monotonic() + 1.0 / strategy.config.hz
            # Never sleep holding the cache: a garbage cache must stay collectable.
            del context
            delay = min(self.next_time - clock.monotonic(), _IDLE_RECHECK)
            if delay <= 0:
                continue
            if manual_wait is not None:
                manual_wait(_MANUAL_POLL)
            else:
                self._wakeup.wait(delay)
        self._running = False

    def _before_fork(self) -> bool:
        if self._running:
            return self._working.acquire(timeout=_FORK_PAUSE_TIMEOUT)
        return False

    def _after_fork(self, held: bool, child: bool) -> None:
        if child:
            # Fresh primitives: their internal locks may have been held by a parent thread.
            self._wakeup = threading.Event()
            self._stopping = threading.Event()
            self._working = threading.Lock()
            self._thread = None
            if self._running:
                self._spawn()
        elif held:
            self._working.release()


class DrivenExpiry(ExpiryStrategy, abc.ABC):
    """Base of the active strategies: an algorithm plus a :class:`ReclaimDriver`.

    Subclasses implement :meth:`run` (do the work due now, then ``self.driver.schedule`` the
    next time work is due) and choose a driver with the ``driver_class`` attribute, so
    ``class ThreadedActive(ActiveExpiry): driver_class = ThreadDriver`` runs Redis's cycle on a
    thread.
    """

    driver_class: ClassVar[type[ReclaimDriver]] = InlineDriver
    # after_operation below only forwards to the driver, whose work is due at ``due_at``: the
    # engine may skip the call before then.
    fast_hooks = ExpiryStrategy.fast_hooks

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        self.driver = self.driver_class(self)
        self.driver.schedule(-math.inf)

    def scheduled(self, when: float, threaded: bool) -> None:
        """The driver planned the next run at clock time ``when`` (lock held when a hook
        moved it). Writes call ``after_operation`` from then on, unless a thread runs it."""
        if not threaded:
            self.publish_due(when)
        if self.index is not None:
            self.index.alarm = when

    @abc.abstractmethod
    def run(self, context: ReclaimContext, pause: Any) -> None:
        """Do the reclamation due now. ``pause`` (None inline) is called between lock slices."""

    def start(self) -> None:
        self.driver.start()

    def stop(self) -> None:
        self.driver.stop()

    def after_operation(self, now: float) -> None:
        self.driver.after_operation(now)


# ---------------------------------------------------------------------------------- fork safety
# Called by cachepolicy.forksafety, which owns the process's one os.register_at_fork.

_THREAD_DRIVERS: weakref.WeakSet[ThreadDriver] = weakref.WeakSet()
_INLINE_DRIVERS: weakref.WeakSet[InlineDriver] = weakref.WeakSet()
_FORK_HELD: list[tuple[ThreadDriver, bool]] = []


def before_fork() -> None:
    """Pause every expiry thread between two slices."""
    _FORK_HELD[:] = [(driver, driver._before_fork()) for driver in list(_THREAD_DRIVERS)]


def after_fork_in_parent() -> None:
    for driver, held in _FORK_HELD:
        driver._after_fork(held, child=False)
    _FORK_HELD.clear()


def after_fork_in_child() -> None:
    for driver, held in _FORK_HELD:
        driver._after_fork(held, child=True)
    _FORK_HELD.clear()
    for inline in list(_INLINE_DRIVERS):
        inline._after_fork_in_child()
