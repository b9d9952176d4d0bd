"""A hill climber: moves one setting of a policy towards a better hit ratio, a sample at a time.

Caffeine's adaptive W-TinyLFU (Einziger, Eytan, Friedman, Manes, "Adaptive Software Cache
Management", Middleware 2018) sizes its window this way, and TinyLFU admission
(:mod:`cachepolicy.eviction.admission`) uses the same rule for how often it lets a refused key
in. The owner counts the requests of a sample (``hits``, ``misses``) and calls :meth:`tick`;
at the end of each sample of ``period`` requests the climber

* takes the first sample as the baseline, without moving (a first move would be blind: a
  scan arriving then would be blamed on the move's direction, or not),
* then moves its ``value`` by ``step`` (kept within ``low``..``high``),
* turns round (negates the step) when the sample's hit ratio fell below the previous sample's,
* shrinks the step by ``decay``, so the value settles when the traffic is steady,
* and, when the hit ratio moved by ``restart`` or more between two samples (the traffic
  changed), starts again from the first step size, in the direction it was going (Caffeine's
  product climber). ``restart`` 0 never restarts.

Compiled with the engine: a tick is two additions and a comparison, on the owner's lock-free
or locked path alike (the counts are the owner's, under whatever guards its hooks).
"""

from __future__ import annotations

__all__ = ["RESTART_THRESHOLD", "SAMPLE_PER_KEY", "STEP_DECAY", "STEP_START", "HillClimber"]

#: The first step of a climber that moves a share of the cache (a window), as a share of the
#: capacity (Caffeine's hill climber: 6.25 %).
STEP_START = 0.0625

#: Requests per sample, per key the cache holds (Caffeine: 10 x the maximum size).
SAMPLE_PER_KEY = 10

#: How much of the step is left after each adjustment (Caffeine's simple climber: 0.98).
STEP_DECAY = 0.98
#: A change of the hit ratio between two samples at least this big restarts the climber at its
#: first step (Caffeine's product climber: 5 points).
RESTART_THRESHOLD = 0.05


class HillClimber:
    """One climbing setting; see the module docstring."""

    def __init__(
        self,
        value: float,
        low: float,
        high: float,
        step: float,
        decay: float,
        restart: float,
        period: int,
    ) -> None:
        self.value = min(max(value, low), high)
        self.low = low
        self.high = high
        self.step_start = step
        self.step = step
        self.decay = decay
        self.restart = restart
        #: Requests per sample; the owner may change it (a cache whose size moves).
        self.period = max(period, 1)
        #: The current sample's counts, kept by the owner.
        self.hits = 0
        self.misses = 0
        #: The previous sample's hit ratio (-1 before the first sample ends).
        self.previous = -1.0
        #: Samples completed (for tests and INFO).
        self.samples = 0

    def tick(self) -> bool:
        """End the sample if it has ``period`` requests: climb, and return True."""
        requests = self.hits + self.misses
        if requests < self.period:
            return False
        self.climb(self.hits / requests)
        self.hits = 0
        self.misses = 0
        return True

    def climb(self, ratio: float) -> float:
        """One adjustment after a sample whose hit ratio was ``ratio``; the new value."""
        previous = self.previous
        self.previous = ratio
        self.samples += 1
        if previous < 0:
            return self.value  # the baseline
        if ratio < previous:
            self.step = -self.step  # it got worse: turn
        self.value = min(max(self.value + self.step, self.low), self.high)
        if self.restart > 0 and abs(ratio - previous) >= self.restart:
            self.step = self.step_start if self.step > 0 else -self.step_start
        else:
            self.step *= self.decay
        return self.value

    def reset(self, value: float) -> None:
        """Forget every sample and start again from ``value``."""
        self.value = min(max(value, self.low), self.high)
        self.step = self.step_start
        self.hits = self.misses = self.samples = 0
        self.previous = -1.0
