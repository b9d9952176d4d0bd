"""The Redis tier: the same cache settings on a Redis server or a Redis Cluster.

Framework-free (the Django and Flask backends are thin adapters over it):

- :mod:`.settings`: option validation (the in-process options, plus the Redis-tier ones);
- :mod:`.client`: :class:`RedisClient` (sync) and :class:`AsyncRedisClient` (native asyncio),
  standalone or cluster, with the near-cache seam described in its docstring;
  :func:`aclose_loop` closes what the running event loop opened (a loop's shutdown does it
  by itself);
- :mod:`.near`, :mod:`.tracking`: the coherent in-process near cache (L1) and its
  invalidation connections; :mod:`.two_tier`: the clients with the near cache in front
  (``NEAR_CACHE``);
- :mod:`.serializers`: pickle (default), JSON, HMAC-signed (the trust model);
- :mod:`.server_config`: CONFIG SET (opt-in) or CONFIG GET and report mismatches;
- :mod:`.info`: the server's INFO in the in-process ``info()`` shape;
- :mod:`.notifications`: ``expired``/``evicted`` keyspace notifications to callbacks.

Importing this package needs ``redis`` (``pip install cachepolicy[redis]``).
"""

from .client import (
    AsyncRedisClient,
    RedisAuthenticationError,
    RedisClient,
    RedisTopologyError,
    RedisUnavailableError,
    aclose_loop,
)
from .serializers import UntrustedPayloadError
from .server_config import Mismatch
from .settings import RedisSettings, parse_redis_settings

__all__ = [
    "AsyncRedisClient",
    "Mismatch",
    "RedisAuthenticationError",
    "RedisClient",
    "RedisSettings",
    "RedisTopologyError",
    "RedisUnavailableError",
    "UntrustedPayloadError",
    "aclose_loop",
    "parse_redis_settings",
]
