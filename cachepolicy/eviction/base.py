"""The eviction policy interface.

Redis's ten ``maxmemory-policy`` values are two axes, not ten algorithms: *which keys may be
evicted* (all keys, or only keys with a TTL: ``volatile``) times *how candidates are ranked*
(LRU, LFU, LRM, TTL, random), plus ``noeviction``. A policy holds the ranking state; the engine
(:class:`cachepolicy._core.engine.Engine`) owns the keyspaces, the lock and the accounting, and
asks the policy for one victim at a time until the incoming write fits.

Declarations. A policy says what the engine may do for it without calling Python:

* :attr:`EvictionPolicy.read_access` / :attr:`EvictionPolicy.write_access`: what to record when
  a key is read (a get hit, TOUCH) and when it is written (a new key, an overwrite, INCR/DECR):
  nothing, the recency stamp, or Redis's LFU counter. LRU and LFU record on both; LRM (least
  recently *modified*) on writes only;
* :attr:`EvictionPolicy.victims`: where victims come from (Redis's sampler and pool, a random
  key, or the policy's own :meth:`~EvictionPolicy.select_victim`), and for the pool the
  :attr:`~EvictionPolicy.ranking` that scores candidates.

A subclass that overrides a hook is called for it: the base class's ``__init_subclass__`` takes
the hook out of the set the engine serves from the declarations (``fast_hooks``, derived, never
written by hand), so overriding a built-in's hook always works and ``super()`` still does the
declared bookkeeping.

Hook contract (the whole port; ``docs/custom-policies.md`` is its manual):

* ``on_insert(entry, now)``, ``on_write(entry, now, old_size)``, ``on_remove(entry, cause)``,
  ``on_ttl_change(entry, previous)``, ``admit(key, size, victim, now)``, ``reset()`` and
  ``select_victim(keyspaces, now)`` run under the lock and must never call the public cache
  API.
* ``on_read(entry, now)`` and ``on_miss(key, db)`` run on the read path *without* the lock
  unless :attr:`EvictionPolicy.on_read_needs_lock` is true, so by default they may only do
  GIL-atomic steps (attribute stores, one C-level container call).
* :attr:`Entry.slot <cachepolicy._core.entry.Entry.slot>` is a float the policy owns (a
  priority, a timestamp); declare :attr:`EvictionPolicy.uses_slot` so its cost is counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from random import Random
from typing import TYPE_CHECKING, Any, ClassVar

from .._core.entry import Entry, stamp
from .._core.keyspace import Keyspace
from .._core.ports import Access, Ranking, Removal, Victims
from .._core.ranking import lfu_decay, lfu_init, lfu_touch
from .._core.sampler import EVPOOL_SIZE, Sampler, ranked_score

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = ["HOOKS", "EvictionPolicy"]

#: Hooks and knobs of the first policy port, and what replaced them: defining one is an error
#: that names the replacement, never a hook silently not called.
_RENAMED = {
    "on_access": "on_read(entry, now) and on_write(entry, now, old_size)",
    "on_delete": "on_remove(entry, cause)",
    "access": "read_access and write_access",
    "lock_free_access": "on_read_needs_lock (inverted)",
}

#: Every hook the engine may call, i.e. every name ``fast_hooks`` may hold.
HOOKS = (
    "on_insert",
    "on_read",
    "on_write",
    "on_miss",
    "on_remove",
    "on_ttl_change",
    "admit",
    "select_victim",
    "select_victims",
    "score",
    "candidate_bytes",
    "structure_bytes",
)


class EvictionPolicy:
    """Decides which key leaves the cache when a write needs room.

    Subclass a built-in (``AllKeysLRU``, ``AllKeysLFU``, ...) and override ``score`` or any
    hook, or subclass this class and implement :meth:`select_victim`; then make it selectable
    by name with :func:`~cachepolicy.eviction.registry.register_policy` or by dotted path.
    """

    #: The name users write in settings; for built-ins the exact redis.conf spelling.
    name: ClassVar[str] = ""
    #: True for ``volatile-*`` policies: only keys with a TTL are candidates.
    volatile_only: ClassVar[bool] = False
    #: False only for ``noeviction``: writes that need room fail with OutOfMemoryError.
    evicts: ClassVar[bool] = True
    #: What is recorded when a key is read: a get hit, TOUCH (see the module docstring).
    read_access: ClassVar[Access] = Access.NONE
    #: What is recorded when a key is written: inserted, overwritten, INCR/DECR.
    write_access: ClassVar[Access] = Access.NONE
    #: Where victims come from: the policy's own ``select_victim`` unless declared otherwise.
    victims: ClassVar[Victims] = Victims.HOOK
    #: How the pool scores candidates when ``victims`` is ``Victims.POOL``.
    ranking: ClassVar[Ranking] = Ranking.SCORE
    #: The hooks the engine may serve from the declarations above instead of calling them.
    #: Derived (``__init_subclass__`` removes every hook a class defines): never set by hand.
    #: The base class's are all no-ops or follow the declarations, so all are fast here.
    fast_hooks: ClassVar[frozenset[str]] = frozenset(HOOKS)
    #: Whether :meth:`on_read` and :meth:`on_miss` must run under the cache lock (they run
    #: lock-free by default; see the module docstring).
    on_read_needs_lock: ClassVar[bool] = False
    #: Whether the policy stores a priority in :attr:`Entry.slot`: in the pure build a float
    #: stored there is an object of its own (``SLOT_OVERHEAD``), counted in ``used_memory``.
    uses_slot: ClassVar[bool] = False
    #: Bytes per entry this policy's own structures cost (counted in ``used_memory``).
    metadata_overhead: ClassVar[int] = 0
    #: Extra bytes per entry *with a TTL* (for structures that index volatile keys only).
    volatile_metadata_overhead: ClassVar[int] = 0
    #: Slots of the eviction pool (Redis's EVPOOL_SIZE; 1 reproduces Redis 2.8, no pool).
    pool_size: ClassVar[int] = EVPOOL_SIZE
    #: Whether the policy samples keys that have a TTL although it is not ``volatile_only``:
    #: the engine then keeps the TTL sampling arrays.
    uses_ttl_index: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for old, new in _RENAMED.items():
            if old in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__} defines {old!r}, which the policy port no longer has: "
                    f"use {new} (see docs/custom-policies.md)."
                )
        if "fast_hooks" not in cls.__dict__:
            # An override the class did not declare fast is called by the engine. A hook is
            # fast only if the class it resolves to (through the whole MRO: with two policy
            # bases, the first one's fast_hooks would miss the second one's overrides) says so.
            cls.fast_hooks = frozenset(name for name in HOOKS if _declared_fast(cls, name))

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        self.config = config
        self.rng = rng
        #: The sampler and pool (``victims`` POOL or RANDOM); None for other policies.
        self.sampler: Sampler | None = None
        if self.evicts and self.victims in (Victims.POOL, Victims.RANDOM):
            ranking = self.ranking if "score" in self.fast_hooks else Ranking.SCORE
            self.sampler = Sampler(
                int(ranking),
                self.volatile_only,
                config.maxmemory_samples,
                rng,
                config.lfu_decay_time,
                self.score,
                self.pool_size,
            )

    # ------------------------------------------------------------------ hooks

    def on_insert(self, entry: Entry, now: float) -> None:
        """A new key was added (its deadline, if any, is already set): the declared
        ``write_access`` is recorded (a new LFU counter starts at ``LFU_INIT_VAL``)."""
        access = self.write_access
        if access is Access.STAMP:
            stamp(entry, now)
        elif access is Access.LFU:
            lfu_init(entry, now)

    def on_read(self, entry: Entry, now: float) -> None:
        """A key was read (a get hit that touches, TOUCH): the declared ``read_access``."""
        _record_access(self, self.read_access, entry, now)

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        """A live key's value was replaced (an overwrite, INCR/DECR); ``entry.size`` is the
        new size, ``old_size`` the previous one: the declared ``write_access``."""
        _record_access(self, self.write_access, entry, now)

    def on_miss(self, key: str, db: int) -> None:
        """A read found no live ``key`` (admission policies count demand for absent keys)."""

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        """A key left the cache, for ``cause`` (deleted, expired, evicted, replaced by the
        command that wrote it, or its database flushed)."""

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        """``entry.deadline`` changed from ``previous`` (set, changed or cleared)."""

    def reset(self) -> None:
        """Every key of every database was removed: drop all state."""
        if self.sampler is not None:
            self.sampler.reset()

    # ------------------------------------------------------------------ victims

    def admit(self, key: str, size: int, victim: Entry, now: float) -> bool:
        """Whether a *new* key of ``size`` bytes may enter at the cost of ``victim``, the
        first key its write would evict (lock held). False refuses the write before anything
        is evicted: nothing changes, ``rejected_admissions`` counts it and a ``refused``
        event is announced. Only asked when the write needs room; the default admits all."""
        return True

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        """Return a live entry to evict, or None if no key may be evicted (EVICT_FAIL).

        ``keyspaces`` are the *non-empty* databases in db order. Must not remove the entry:
        the engine does that and then calls :meth:`on_remove`. Policies that declare
        ``victims = Victims.HOOK`` must override this.
        """
        sampler = self.sampler
        if sampler is None:
            if self.victims is Victims.HOOK and self.evicts:
                raise NotImplementedError(
                    f"{type(self).__qualname__} declares victims = Victims.HOOK, so it must "
                    "implement select_victim()."
                )
            return None
        if self.victims is Victims.RANDOM:
            return sampler.select_random(keyspaces)
        return sampler.select(keyspaces, now)

    def select_victims(
        self, keyspaces: Sequence[Keyspace], now: float, count: int
    ) -> Iterator[Entry]:
        """Yield up to ``count`` victims for a batch eviction (an entry-count cull).

        The engine evicts each victim before asking for the next. The pool's batch draws
        ``count * samples`` candidates and keeps the best ``count`` (one pass, same depth per
        victim as one-at-a-time eviction); otherwise :meth:`select_victim` is repeated.
        """
        sampler = self.sampler
        if sampler is not None and self.victims is Victims.POOL and count > 1:
            yield from sampler.select_batch(keyspaces, now, count)
            return
        for _ in range(count):
            victim = self.select_victim(keyspaces, now)
            if victim is None:
                return
            yield victim

    def score(self, entry: Entry, now: float) -> float:
        """How good a victim ``entry`` is at ``now`` (higher = evicted first): the declared
        ranking's score. Override to rank by anything else; the pool then calls it."""
        if self.ranking is Ranking.SCORE:
            raise NotImplementedError(
                f"{type(self).__qualname__} declares ranking = Ranking.SCORE, so it must "
                "implement score()."
            )
        return ranked_score(int(self.ranking), entry, now, self.config.lfu_decay_time)

    @property
    def pool(self) -> list[tuple[float, Entry]]:
        """The eviction pool's (score, entry) pairs, worst victim first (for introspection)."""
        if self.sampler is None:
            return []
        return list(zip(self.sampler.scores, self.sampler.entries, strict=True))

    def offer(self, score: float, entry: Entry) -> None:
        """Insert a candidate into the pool with Redis's insert/shift rules."""
        if self.sampler is not None:
            self.sampler.offer(score, entry)

    # ------------------------------------------------------------------ capacity

    def candidate_bytes(self, keyspaces: Sequence[Keyspace]) -> int:
        """Bytes that this policy could free by evicting every candidate."""
        if not self.evicts:
            return 0
        if self.volatile_only:
            return sum(ks.volatile_memory for ks in keyspaces)
        return sum(ks.memory for ks in keyspaces)

    def candidate_count(self, keyspaces: Sequence[Keyspace]) -> int:
        """Number of keys this policy could evict."""
        if not self.evicts:
            return 0
        if self.volatile_only:
            return sum(ks.volatile_count for ks in keyspaces)
        return sum(len(ks) for ks in keyspaces)

    def is_candidate(self, entry: Entry) -> bool:
        """Whether ``entry`` belongs to this policy's candidate keys."""
        return self.evicts and (not self.volatile_only or entry.deadline is not None)

    def structure_bytes(self) -> int:
        """Bytes this policy's own structures hold when they do not grow per entry in a way
        ``metadata_overhead`` can state (a heap with stale records): measured by the engine
        at the same moments as its containers, and counted in ``used_memory``."""
        return 0

    # ------------------------------------------------------------------ introspection

    def frequency(self, entry: Entry, now: float) -> int:
        """The decayed LFU counter (Redis's OBJECT FREQ); only for policies that keep it."""
        if Access.LFU not in (self.read_access, self.write_access):
            raise TypeError(
                "An LFU maxmemory-policy is not selected, access frequency not tracked."
            )
        return lfu_decay(entry.lfu, entry.ldt, int(now // 60), self.config.lfu_decay_time)

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        """Descriptions of internal inconsistencies (empty when healthy)."""
        return self.sampler.check() if self.sampler is not None else []

    def describe(self) -> str:
        """One line for INFO and error messages."""
        return self.name or type(self).__qualname__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()!r}>"


def _declared_fast(cls: type, hook: str) -> bool:
    """Whether ``hook``, as ``cls`` resolves it, may be served from the declarations: the class
    that defines it is a policy class that lists it in its ``fast_hooks`` (a class defining
    ``hook`` itself, or a mixin that is no policy, never does)."""
    for klass in cls.__mro__:
        if hook in klass.__dict__:
            return klass is not cls and hook in getattr(klass, "fast_hooks", ())
    return False


def _record_access(policy: EvictionPolicy, access: Access, entry: Entry, now: float) -> None:
    """What the base class's ``on_read`` / ``on_write`` record (a function, not a method, so
    a subclass's own helper names cannot shadow it)."""
    if access is Access.STAMP:
        stamp(entry, now)
    elif access is Access.LFU:
        config = policy.config
        lfu_touch(entry, now, config.lfu_log_factor, config.lfu_decay_time, policy.rng)
