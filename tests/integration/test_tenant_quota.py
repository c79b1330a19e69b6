"""One tenant cannot fill Redis for everyone (auth on, two tenants, a Redis whose maxmemory is its use
at start + 40 MB, as in the probe): tenant A posts labels as large as the probe's (chat messages and responses of
~19,900 characters) until its quota answers 403; each label keeps at most 64 KB in Redis, and tenant B's
feedback and context updates are answered 200 throughout (the probe: A's 122 labels of 1.15 MB each
filled Redis and B got 503)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from evaluation.service_process import ServiceProcess
from tests.helpers import api_keys_setting
from tests.integration.conftest import RedisServer, service_on

pytestmark = pytest.mark.slow

KEY_A, KEY_B = (f"key-{name}-{uuid.uuid4().hex}" for name in ("a", "b"))
QUOTA = 400_000  # ~6 kept labels of 64 KB
PREFIX = "quota"


@pytest.fixture(scope="module")
def tenants(tiny_checkpoint: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ServiceProcess, redis.Redis]]:
    direct = redis.Redis(port=redis_server.port)
    direct.config_set("maxmemory", int(direct.info("memory")["used_memory"]) + (40 << 20))
    log = tmp_path_factory.mktemp("quota") / "service.log"
    keys = api_keys_setting(("a", "read+write", KEY_A), ("b", "read+write", KEY_B))
    with service_on(redis_server, tiny_checkpoint, log, auth="on", api_keys=keys, key_prefix=PREFIX,
                    tenant_max_bytes=QUOTA, warmup="false") as proc:
        yield proc, direct
    direct.close()


def huge_label(i: int) -> dict:
    messages = [{"role": "user" if j % 2 == 0 else "assistant", "content": f"{i}.{j} " + "lorem ipsum " * 1658}
                for j in range(24)]
    return {"messages": messages, "chosen": f"Yes {i}. " + "dolor " * 3316, "rejected": f"No {i}. " + "amet " * 3980,
            "context": "sit " * 999}


def test_a_tenant_at_its_quota_gets_403_while_another_tenant_keeps_writing(tenants):
    service, direct = tenants
    a, b = ({"Authorization": f"Bearer {key}"} for key in (KEY_A, KEY_B))
    statuses_a, statuses_b = [], []
    with httpx.Client(base_url=service.url, timeout=120) as c:
        for i in range(12):
            reply = c.post(f"/v1/users/a-user-{i % 3}/feedback:batch", json={"items": [huge_label(i)]}, headers=a)
            statuses_a.append(reply.status_code)
            if reply.status_code == 403:
                assert "quota" in reply.json()["detail"] and "lorem" not in reply.text
            feedback = {"user_id": f"b-user-{i}", "prompt": "Hi?", "chosen": "Hello.", "rejected": "Go away."}
            statuses_b.append(c.post("/v1/feedback", json=feedback, headers=b).status_code)
            statuses_b.append(c.put(f"/v1/users/b-user-{i}/context", json={"context": "Kind words."},
                                    headers=b).status_code)
        assert c.get("/v1/users/a-user-0", headers=a).json()["n_feedback"] >= 1
        items = [item for key in direct.scan_iter(match=f"{PREFIX}:users:*a/a-user-*:history")
                 for item in direct.lrange(key, 0, -1)]
        for i in range(3):  # A erases its users: its quota is free again
            assert c.delete(f"/v1/users/a-user-{i}", headers=a).status_code == 204
        assert c.post("/v1/users/a-user-0/feedback:batch", json={"items": [huge_label(99)]}, headers=a).status_code == 200
    assert 200 in statuses_a and statuses_a[-1] == 403, statuses_a
    assert set(statuses_b) == {200}, statuses_b
    assert len(items) == statuses_a.count(200) and sum(map(len, items)) <= QUOTA  # A's kept labels, within its quota
    assert max(map(len, items)) <= 64 * 1024  # bytes stored per label
    print(f"quota: A {statuses_a.count(200)} labels kept ({sum(map(len, items))} bytes, the largest "
          f"{max(map(len, items))}) then 403; B {len(statuses_b)} writes, all 200")
