"""Redis's LFU counter (spec §4) and the score of each built-in :class:`~.ports.Ranking`.

The counter math is Redis's exactly: new keys start at ``LFU_INIT_VAL`` = 5; an access first
applies decay (one point per ``lfu-decay-time`` minutes idle, 0 = never) and then increments with
probability ``1 / ((counter - 5) * lfu_log_factor + 1)``, saturating at 255. One deliberate
difference: the last-decrement time is kept in whole minutes without Redis's 16-bit wrap, so a
key idle for 46 days does not suddenly look fresh.

This module is the one home of these formulas: the engine's declared fast paths, the policies'
hooks and the sampler all call these functions.
"""

from __future__ import annotations

from random import Random
from typing import Final

from .entry import Entry, stamp

__all__ = [
    "LFU_COUNTER_MAX",
    "LFU_INIT_VAL",
    "lfu_decay",
    "lfu_init",
    "lfu_log_incr",
    "lfu_score",
    "lfu_touch",
]

# A new key's counter: high enough that it is not evicted before it had a chance to be read
# again, low enough that a few accesses lift it above never-read keys. Redis's LFU_INIT_VAL.
LFU_INIT_VAL: Final = 5
# The counter is 8 bits in Redis; keeping the same ceiling keeps Redis's published tables valid.
LFU_COUNTER_MAX: Final = 255
# Idle seconds at which the recency tie-break reaches 0.5: keys idle much longer than an hour
# all get nearly the same bonus, which stays below 1 so it never overrides a counter difference.
TIE_BREAK_SCALE: Final = 3600.0


def lfu_decay(counter: int, ldt_minutes: int, now_minutes: int, decay_time: int) -> int:
    """The counter after idle decay, without storing it (Redis's ``LFUDecrAndReturn``)."""
    if decay_time <= 0:
        return counter
    periods = (now_minutes - ldt_minutes) // decay_time
    if periods <= 0:
        return counter
    return counter - periods if periods < counter else 0


def lfu_log_incr(counter: int, log_factor: int, rng: Random) -> int:
    """Logarithmic increment (Redis's ``LFULogIncr``): likely while low, rare when high."""
    if counter >= LFU_COUNTER_MAX:
        return LFU_COUNTER_MAX
    base = counter - LFU_INIT_VAL
    if base <= 0:
        return counter + 1
    if rng.random() < 1.0 / (base * log_factor + 1):
        return counter + 1
    return counter


def lfu_init(entry: Entry, now: float) -> None:
    """A new key's LFU state, and the recency stamp (``atime``, the sampled score's tie-break
    and ``idletime`` source; ``aseq``, exact LFU's tie-break)."""
    entry.lfu = LFU_INIT_VAL
    entry.ldt = int(now // 60)
    stamp(entry, now)


def lfu_touch(entry: Entry, now: float, log_factor: int, decay_time: int, rng: Random) -> None:
    """An access under LFU: decay, then the logarithmic increment (Redis's ``updateLFU``).

    Runs without the lock on the read path: concurrent readers may lose an increment, which
    only makes a probabilistic counter slightly more conservative. (Exact LFU composes the
    same steps with its priority, :class:`~cachepolicy.eviction.exact.ExactAllKeysLFU`.)
    """
    now_minutes = int(now // 60)
    counter = lfu_decay(entry.lfu, entry.ldt, now_minutes, decay_time)
    entry.lfu = lfu_log_incr(counter, log_factor, rng)
    entry.ldt = now_minutes
    stamp(entry, now)


def lfu_score(entry: Entry, now: float, decay_time: int) -> float:
    """``255 - decayed counter``, plus a fraction below 1 that grows with idle time, so keys
    with equal counters go least recently used first (Redis breaks such ties arbitrarily)."""
    counter = lfu_decay(entry.lfu, entry.ldt, int(now // 60), decay_time)
    idle = now - entry.atime
    if idle <= 0:
        return float(LFU_COUNTER_MAX - counter)
    return (LFU_COUNTER_MAX - counter) + idle / (idle + TIE_BREAK_SCALE)
