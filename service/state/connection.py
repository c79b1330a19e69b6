"""The Redis client the store talks through: short timeouts, one immediate retry, standalone or
Cluster (MICRO_REDIS_CLUSTER)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect_redis(url: str, *, timeout_s: float, max_connections: int, cluster: bool = False) -> Redis | RedisCluster:
    """A client whose every command fails within ~2 x timeout_s when Redis is gone (one
    immediate retry on a fresh connection: pooled sockets die when Redis restarts; the retry
    cannot apply a feedback twice: the script dedupes by feedback id, and reports a result its
    own resent command wrote as applied). ``cluster``: ``url``
    names any node of a Redis Cluster; the client discovers the others on first use."""
    if cluster:
        return RedisCluster.from_url(
            url,
            max_connections=max_connections,  # per node
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=max(1.0, 4 * timeout_s),  # waiting for a free pooled connection is load, not an outage
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        decode_responses=True,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=0,
    )
    return Redis(connection_pool=pool)
