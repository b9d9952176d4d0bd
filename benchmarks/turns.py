"""Timing two caches fairly on a noisy machine: they take turns, batch by batch.

Running one cache for a whole round and then the other exposes them to different machine
speeds (on a shared 2-core VM it drifts by tens of percent within seconds), so two runs of the
same code can disagree by more than the difference being measured. Alternating every batch, in
ABBA order, exposes both to the same drift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

#: One batch of a subject: runs it and returns (operations done, seconds spent in the timed
#: part). The batch times itself, so that untimed set-up around it (an application context)
#: stays out of the figure.
Batch = Callable[[], tuple[int, float]]


def take_turns(batches: Mapping[str, Batch], seconds: float) -> dict[str, float]:
    """Ops/s of each subject, running one batch of each in turn (ABBA order) until the
    subjects have been timed for about ``seconds`` each."""
    ops = dict.fromkeys(batches, 0)
    spent = dict.fromkeys(batches, 0.0)
    order = list(batches)
    while sum(spent.values()) < seconds * len(batches):
        for name in order:
            count, elapsed = batches[name]()
            ops[name] += count
            spent[name] += elapsed
        order.reverse()
    return {name: ops[name] / spent[name] for name in batches}
