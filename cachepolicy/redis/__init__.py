"""Redis tiers of cachepolicy (needs the ``redis`` extra).

:mod:`cachepolicy.redis.near` is the coherent in-process near cache (L1) in front of Redis,
:mod:`cachepolicy.redis.tracking` its invalidation connections.
"""
