"""Per-tenant bound on stored bytes (MICRO_TENANT_MAX_BYTES, auth on): one tenant cannot fill Redis for
the others. A tenant's keys (``<prefix>:tenants:{<tenant>}:users`` zset user -> expiry time, ``:bytes``
hash user -> bytes, field "/total" the sum; "/" is never in a user id) are in the tenant's own slot, so
a write checks its tenant in one call of its own before it touches the user's keys:

    reserve(user, bytes)   the user's bytes after the write (what it holds now, read with its state, plus
                           what the write adds: an upper bound, trims come later); refused (nothing
                           changed, QuotaExceeded -> 403) when that grows the tenant's sum over the quota
    release(user)          after an erase: the user's bytes leave the sum

Users whose keys expired (MICRO_USER_TTL_S after their last write) leave the sum at the tenant's next
write. A user's record is re-set by each write from the bytes its keys hold then, so it tracks trims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.core.errors import QuotaExceeded

if TYPE_CHECKING:  # annotations only: not imported at run time
    from redis.asyncio import Redis

TOTAL = "/total"
# KEYS: 1 users zset (user -> expiry unix time), 2 bytes hash. ARGV: 1 user, 2 bytes after the write (0: erased),
# 3 quota, 4 user ttl s (0: never expires). Returns {1, total} when done, {0, total} when refused.
RESERVE = r"""
local now = tonumber(redis.call('TIME')[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, u in ipairs(gone) do
  redis.call('HINCRBY', KEYS[2], '/total', -tonumber(redis.call('HGET', KEYS[2], u) or '0'))
  redis.call('HDEL', KEYS[2], u)
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
local user, after, quota, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local before = tonumber(redis.call('HGET', KEYS[2], user) or '0')
local total = tonumber(redis.call('HGET', KEYS[2], '/total') or '0')
if after > before and total - before + after > quota then return {0, total} end
total = redis.call('HINCRBY', KEYS[2], '/total', after - before)
if after > 0 then
  redis.call('HSET', KEYS[2], user, after)
  redis.call('ZADD', KEYS[1], ttl > 0 and (now + ttl) or '+inf', user)
else
  redis.call('HDEL', KEYS[2], user)
  redis.call('ZREM', KEYS[1], user)
end
return {1, total}
"""


def tenant_of(user_key: str) -> tuple[str, str] | None:
    """(tenant, user id) of a store user key ``<tenant>/<user id>`` (auth on); None without a tenant."""
    tenant, slash, user = user_key.partition("/")
    return (tenant, user) if slash else None


class TenantQuota:
    def __init__(self, redis: Redis, prefix: str, max_bytes: int, user_ttl_s: int) -> None:
        self.redis, self.prefix, self.max_bytes, self.user_ttl_s = redis, prefix, max_bytes, user_ttl_s

    def keys(self, tenant: str) -> list[str]:
        base = f"{self.prefix}:tenants:{{{tenant}}}"
        return [base + ":users", base + ":bytes"]

    async def reserve(self, user_key: str, bytes_after: int) -> None:
        """Record the user's bytes after a write; QuotaExceeded (nothing recorded) when the tenant's sum
        would grow over the quota. Users without a tenant are not counted."""
        owner = tenant_of(user_key)
        if owner is None:
            return
        done, total = await self.redis.eval(RESERVE, 2, *self.keys(owner[0]), owner[1], max(0, bytes_after),
                                            self.max_bytes, self.user_ttl_s)
        if not int(done):
            raise QuotaExceeded(f"this tenant stores ~{int(total)} bytes of users' labels and contexts; its quota is "
                                f"{self.max_bytes} (MICRO_TENANT_MAX_BYTES). Erase users (DELETE /v1/users/{{id}}) "
                                "or let them expire; nothing was written")

    async def release(self, user_key: str) -> None:
        await self.reserve(user_key, 0)
