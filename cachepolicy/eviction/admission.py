"""Admission as its own axis: TinyLFU in front of any evicting policy (``admission="tinylfu"``).

A policy decides *which* key leaves; admission decides whether the *new* key is worth that key
at all. TinyLFU (Einziger, Friedman, Manes, ACM ToS 2017) keeps a small frequency sketch of
recent requests, hits and misses alike (:class:`~cachepolicy._core.sketch.FrequencySketch`),
and refuses a new key whose estimated frequency is not above its victim's: one-off keys of a
scan, or a long loop larger than the cache, then never push out the keys that are asked for
again and again. Caffeine's simulator composes an admittor with a sampled policy the same way.

Composition, not a new policy: :func:`with_admission` returns a subclass of the chosen policy
class with :class:`TinyLFUAdmission` in front of it in the MRO. Its hooks count the access
and then defer to the policy (``super()``), and ``admit`` asks the sketch, so Redis's sampled
LRU/LFU/random, the exact structures and user policies all get the same admission through the
public port (``on_read``, ``on_miss``, ``on_insert``, ``on_write``, ``admit``).

What a refusal means for callers is the port's: nothing is stored or evicted, ``set`` returns
False, ``info()["rejected_admissions"]`` counts it and a ``refused`` event is announced.

Cost: one sketch increment (compiled: a few hundred ns, GIL-atomic, no lock) per read, miss and
write, which moves reads from the declared native path to a Python hook; the sketch's bytes
(4 x width, width the power of two at or above the expected number of keys) and the judge's
(3.8 kB to 25 kB, reserved in full) are counted in ``used_memory``. The expected number of
keys is ``max_entries`` when set, else ``maxmemory`` over
:data:`BYTES_PER_KEY_GUESS`.

**Adaptive.** Refusing every newcomer that is not more frequent than its victim wins where
the traffic is frequency-skewed (loops, scans, hot sets) and loses where it is recency-heavy:
a key read a few times in a row and never again is refused on each of its reads (TinyLFU
alone loses 32 points to plain LRU on the Corda trace, 24 on cache2k's ORM trace; that is why
W-TinyLFU puts a window before its admission). So the admission judges its own refusals
(:mod:`cachepolicy._core.judge`): for a sample of the decisions where the sketch preferred the
victim, it watches which of the two keys is asked for first, within the cache's size in
requests. The newcomer first means refusing it was wrong (it would have been a hit), the
victim first means it was right. The refusals apply while they have been right at least as
often as wrong, over an exponential average of the last few dozen verdicts; otherwise every
newcomer is let in, and the verdicts keep coming either way (an admitted newcomer's next read
is a hit, an evicted victim's a miss), so it switches back when the traffic does. Measured on
the shared traces in ``docs/policies/wtinylfu.md``.
"""

from __future__ import annotations

from random import Random
from typing import TYPE_CHECKING

from .._core.entry import Entry
from .._core.judge import judge_for
from .._core.sketch import FrequencySketch
from ..errors import ConfigError, did_you_mean, short_repr
from .base import EvictionPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = ["ADMISSIONS", "TinyLFUAdmission", "check_admission", "with_admission"]

#: The admission option's values: no admission (every new key enters), or TinyLFU.
ADMISSIONS = ("none", "tinylfu")
#: A guess of the bytes one key costs, to size the sketch under a byte budget (a small web
#: cache value plus the entry's overhead); more keys than guessed only share counters more.
BYTES_PER_KEY_GUESS = 512
#: The sketch's size when nothing bounds the key count (no maxmemory, no max_entries).
UNBOUNDED_KEYS_GUESS = 65_536
#: The largest sketch: 4 x 4 Mi one-byte counters (16 MiB), for budgets of 2 GiB and more.
MAX_EXPECTED_KEYS = 1 << 22


def check_admission(value: object) -> str:
    """The admission option's value, or a ConfigError naming it."""
    if isinstance(value, str) and value.strip().lower() in ADMISSIONS:
        return value.strip().lower()
    raise ConfigError(
        f"Option 'admission' must be one of {', '.join(map(repr, ADMISSIONS))}, got "
        f"{short_repr(value)}.{did_you_mean(str(value).lower(), ADMISSIONS)}",
        option="admission",
    )


def expected_keys(config: CacheConfig) -> int:
    """How many keys the sketch is sized for (see the module docstring)."""
    if config.max_entries is not None:
        keys = config.max_entries
    elif config.maxmemory:
        keys = config.maxmemory // BYTES_PER_KEY_GUESS
    else:
        keys = UNBOUNDED_KEYS_GUESS
    return min(max(keys, 1), MAX_EXPECTED_KEYS)


class TinyLFUAdmission(EvictionPolicy):
    """Put in front of a policy class by :func:`with_admission`; never used alone."""

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        keys = expected_keys(config)
        self.sketch = FrequencySketch(keys)
        self.judge = judge_for(keys, config.maxmemory)
        self._judge_bytes = self.judge.memory()

    def on_insert(self, entry: Entry, now: float) -> None:
        self.sketch.increment(hash(entry.key))
        super().on_insert(entry, now)

    def on_read(self, entry: Entry, now: float) -> None:
        code = hash(entry.key)
        self.sketch.increment(code)
        self.judge.seen(code)
        super().on_read(entry, now)

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        self.sketch.increment(hash(entry.key))
        super().on_write(entry, now, old_size)

    def on_miss(self, key: str, db: int) -> None:
        code = hash(key)
        self.sketch.increment(code)
        self.judge.seen(code)
        super().on_miss(key, db)

    def admit(self, key: str, size: int, victim: Entry, now: float) -> bool:
        sketch = self.sketch
        newcomer, kept = hash(key), hash(victim.key)
        if sketch.frequency(newcomer) <= sketch.frequency(kept):
            judge = self.judge
            judge.refused(newcomer, kept)
            if judge.refusing:
                return False
        return super().admit(key, size, victim, now)

    def reset(self) -> None:
        super().reset()
        self.sketch.clear()
        self.judge.clear()

    def structure_bytes(self) -> int:
        return self.sketch.memory() + self._judge_bytes + super().structure_bytes()


_COMPOSED: dict[type[EvictionPolicy], type[EvictionPolicy]] = {}


def with_admission(policy: type[EvictionPolicy], admission: str) -> type[EvictionPolicy]:
    """``policy`` with ``admission`` in front of it (the class itself for ``"none"``, and for
    ``noeviction``, which evicts nothing and so never asks). One class per policy class."""
    if admission == "none" or not policy.evicts:
        return policy
    composed = _COMPOSED.get(policy)
    if composed is None:
        composed = type(
            f"TinyLFU{policy.__name__}",
            (TinyLFUAdmission, policy),
            {
                "__module__": __name__,
                "__doc__": f"{policy.__name__} behind TinyLFU admission.",
                # What both classes let the engine serve natively (each removed what it
                # overrides): the composition is called for every hook either overrides.
                "fast_hooks": TinyLFUAdmission.fast_hooks & policy.fast_hooks,
            },
        )
        _COMPOSED[policy] = composed
    return composed
