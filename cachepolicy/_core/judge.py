"""Whether an admission's refusals have been right lately: who comes back first.

An admission policy (TinyLFU in front of any policy, :mod:`cachepolicy.eviction.admission`)
refuses a newcomer when its frequency sketch rates the victim higher. That is right on
frequency-skewed traffic and wrong on recency traffic, where a key read a few times in a row
is refused on each read. The judge finds out which, from the traffic itself: for a sample of
the refusal decisions it watches which of the two keys is asked for first, within ``horizon``
requests. The newcomer first means the refusal cost a hit; the victim first means it saved
one. :attr:`RefusalJudge.refusing` is true while refusals have been right at least as often as
wrong, over an exponential average of the verdicts (:data:`VERDICT_WEIGHT`), starting at
"right" (TinyLFU as published). The verdicts keep coming whether the owner refuses or not (an
admitted newcomer's next read is a hit, an evicted victim's a miss), so it follows the traffic
when it changes; decisions whose keys never come back (a scan) lapse unjudged.

Compiled with the engine; the owner calls it under whatever guards its hooks.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Final

__all__ = [
    "BUDGET_SHARE",
    "VERDICT_WEIGHT",
    "WATCHED_MAX",
    "WATCHED_MIN",
    "RefusalJudge",
    "judge_for",
]

#: The weight of each new verdict in the average (the last few dozen count).
VERDICT_WEIGHT: Final = 1 / 32
#: Decisions watched at once: a sixteenth of the expected keys, within these bounds (a few
#: dozen verdicts in flight are enough for the average; the bound keeps the judge at most
#: about 25 kB, a few bytes per key).
WATCHED_MIN: Final = 8
WATCHED_MAX: Final = 64
#: Bytes one watched decision holds at most: its record in the queue and the two dict entries'
#: tuples (3 x 64 B), the int objects of the request number and the two hashes (3 x 36 B).
_DECISION_BYTES: Final = 3 * 64 + 3 * 36


class RefusalJudge:
    """Whether refusals have been right lately (see the module docstring).

    ``seen(code)`` is called with the hash of every key read (hit or miss), ``refused(new,
    victim)`` whenever the sketch prefers the victim; ``refusing`` is the verdict. A decision
    is watched only while fewer than ``watched`` are (a sample), and for ``horizon`` requests
    at most; a key already in a watched decision is not watched twice. Memory: at most
    ``watched`` decisions, reserved in full (:meth:`memory`).
    """

    def __init__(self, horizon: int, watched: int) -> None:
        self.horizon = horizon
        self.watched = watched
        #: key hash -> (request number of the decision, whether it is the newcomer, the other
        #: key's hash); two entries per watched decision.
        self.pending: dict[int, tuple[int, bool, int]] = {}
        #: The watched decisions, oldest first: (request number, newcomer hash, victim hash).
        self.order: deque[tuple[int, int, int]] = deque()
        #: Requests seen so far (the clock of the horizon).
        self.requests = 0
        #: The average of the verdicts: 1 = the newcomer came back first (refusing was wrong).
        #: It starts at 0: TinyLFU as published.
        self.wrong = 0.0

    @property
    def refusing(self) -> bool:
        """Whether refusals have been right at least as often as wrong."""
        return self.wrong < 0.5

    def seen(self, code: int) -> None:
        self.requests += 1
        pending = self.pending
        if not pending:
            return
        decision = pending.pop(code, None)
        if decision is None:
            return
        _, newcomer, other = decision
        pending.pop(other, None)
        self.wrong += VERDICT_WEIGHT * ((1.0 if newcomer else 0.0) - self.wrong)

    def refused(self, newcomer: int, victim: int) -> None:
        pending, order = self.pending, self.order
        oldest = self.requests - self.horizon
        while order and (order[0][0] < oldest or order[0][1] not in pending):
            when, first, second = order.popleft()
            if pending.get(first, (-1,))[0] == when:  # still unjudged: it lapses
                del pending[first]
                pending.pop(second, None)
        if len(order) < self.watched and newcomer not in pending and victim not in pending:
            pending[newcomer] = (self.requests, True, victim)
            pending[victim] = (self.requests, False, newcomer)
            order.append((self.requests, newcomer, victim))

    def clear(self) -> None:
        self.pending.clear()
        self.order.clear()
        self.requests = 0
        self.wrong = 0.0

    def memory(self) -> int:
        """The bytes of ``watched`` decisions: the dict at twice that many entries, the queue
        and the records (reserved whether used or not: the budget never meets a surprise).
        A judge that watches nothing holds nothing."""
        if self.watched <= 0:
            return 0
        table = sys.getsizeof(dict.fromkeys(range(2 * self.watched)))
        queue = sys.getsizeof(deque(range(self.watched)))
        return table + queue + self.watched * _DECISION_BYTES


#: The judge takes at most this share of a byte budget; below it, it watches fewer decisions,
#: and none (refusals stay on, TinyLFU as published) when even two would not fit.
BUDGET_SHARE: Final = 8


def judge_for(keys: int, budget: int) -> RefusalJudge:
    """A judge for a cache of about ``keys`` keys and ``budget`` bytes (0: unbounded): its
    horizon that many requests, and a sixteenth of them watched at once, within
    :data:`WATCHED_MIN`..:data:`WATCHED_MAX`, fewer when the judge would take more than
    1/:data:`BUDGET_SHARE` of the budget."""
    judge = RefusalJudge(keys, min(max(keys // 16, WATCHED_MIN), WATCHED_MAX))
    while budget and judge.watched and judge.memory() * BUDGET_SHARE > budget:
        judge.watched = judge.watched // 2 if judge.watched > 2 else 0
    return judge
