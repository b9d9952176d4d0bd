"""A small demonstration of the embedded cache: Zipf traffic through a 1 MB LFU cache.

Prints the Redis-INFO-style report at the end. The Django site and Flask app built on the
same store live beside this file.
"""

from __future__ import annotations

import random

from cachepolicy import Cache


def main() -> None:
    cache = Cache(maxmemory="1mb", maxmemory_policy="allkeys-lfu", seed=7)
    rng = random.Random(7)
    keys = [f"page:{i}" for i in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(keys))]
    for key in rng.choices(keys, weights, k=200_000):
        if cache.get(key) is None:
            cache.set(key, "<html>" + key * 10 + "</html>", ttl=300)
    info = cache.info()
    hits, misses = info["keyspace_hits"], info["keyspace_misses"]
    print(cache.info_text())
    print(
        f"hit ratio {hits / (hits + misses):.1%} with {len(cache)} keys in {info['used_memory_human']}"
    )
    cache.close()


if __name__ == "__main__":
    main()
