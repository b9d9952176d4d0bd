"""A size-aware LFU policy written against the public extension API (the built-in
``allkeys-gdsf`` is the complete form of the idea: GreedyDual-Size-Frequency with aging).

Redis ranks keys without looking at their size (spec §12.12): a 1-byte key and a 100 MB key are
equal victims. When values vary a lot in size, evicting one large, rarely used value can save
hundreds of small, hot ones. This policy scores ``size / frequency``, so big cold entries go
first, and reuses the LFU counter Redis maintains.
"""

from __future__ import annotations

from cachepolicy import Cache, Entry, register_policy
from cachepolicy.eviction import AllKeysLFU
from cachepolicy.eviction.registry import policy_names


class SizeAwareLFU(AllKeysLFU):
    """Score = entry bytes / (decayed LFU counter + 1). Cost per access: as allkeys-lfu."""

    name = "allkeys-size-lfu"

    def score(self, entry: Entry, now: float) -> float:
        counter = self.frequency(entry, now)
        return entry.size / (counter + 1)


def build_cache() -> Cache:
    """Register the policy once, then select it by name like a built-in."""
    if "allkeys-size-lfu" not in policy_names():
        register_policy("allkeys-size-lfu", SizeAwareLFU)
    cache = Cache(maxmemory="256kb", maxmemory_policy="allkeys-size-lfu", seed=1)
    cache.set("report.pdf", b"%" * 100_000)
    for i in range(2_000):
        cache.set(f"fragment:{i}", f"<li>{i}</li>")
        cache.get(f"fragment:{i}")
    return cache


if __name__ == "__main__":
    demo = build_cache()
    print("report.pdf kept:", demo.has("report.pdf"), "| keys:", len(demo))
