"""Redis-tier fixtures: the private servers of ``tests/redis/servers.py``."""

from tests.redis.servers import redis_cluster, redis_server

__all__ = ["redis_cluster", "redis_server"]
