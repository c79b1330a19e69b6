"""Erase means erased across model versions: a user taught (and with a stated context) under model
version 1 is rebuilt under version 2 on first use; DELETE on the version-2 server leaves no key of the
user under any version, and the version-1 server (a rollback) finds nothing to bring back. The probe:
204, but version 1's keys stayed with the context, and the rollback brought the erased user back."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import redis

from evaluation.service_process import ServiceProcess
from tests.helpers import TEST_REDIS_URL, make_tiny_checkpoint
from tests.integration.conftest import delete_prefix

PROMPT, CHOSEN, REJECTED = "Name a prime number.", "Seven is prime.", "Nine is prime."


def user_keys(prefix: str, user: str) -> list[bytes]:
    return list(redis.Redis.from_url(TEST_REDIS_URL).scan_iter(match=f"{prefix}:*{{{user}}}*", count=1000))


def test_erase_after_an_upgrade_leaves_no_key_and_a_rollback_brings_nothing_back(tmp_path: Path):
    prefix, user, kept = f"erase-{uuid.uuid4().hex[:8]}", f"dana-{uuid.uuid4().hex[:6]}", f"kept-{uuid.uuid4().hex[:6]}"
    words = "I have diabetes and take insulin."
    settings = {"redis_url": TEST_REDIS_URL, "key_prefix": prefix, "torch_threads": 1, "max_wait_ms": 2,
                "warmup": "false"}
    old = ServiceProcess(tmp_path / "v1.log", checkpoint=make_tiny_checkpoint(tmp_path / "v1", version="erase-1"),
                         **settings)
    new = ServiceProcess(tmp_path / "v2.log", checkpoint=make_tiny_checkpoint(tmp_path / "v2", seed=1,
                                                                              version="erase-2"), **settings)
    try:
        old.start(), new.start()
        old.wait_ready(), new.wait_ready()
        with httpx.Client(base_url=old.url, timeout=60) as v1, httpx.Client(base_url=new.url, timeout=60) as v2:
            for who in (user, kept):
                assert v1.put(f"/v1/users/{who}/context", json={"context": words}).status_code == 200
                for i in range(3):
                    body = {"user_id": who, "prompt": PROMPT, "chosen": CHOSEN, "rejected": REJECTED,
                            "feedback_id": f"f{i}"}
                    assert v1.post("/v1/feedback", json=body).status_code == 200
            assert v2.get(f"/v1/users/{user}").json()["n_feedback"] == 3  # rebuilt under version 2
            assert v2.post("/v1/feedback", json={"user_id": user, "prompt": PROMPT, "chosen": REJECTED,
                                                 "rejected": CHOSEN}).status_code == 200
            assert any(b":erase-1:" in k for k in user_keys(prefix, user))
            assert any(b":erase-2:" in k for k in user_keys(prefix, user))

            assert v2.delete(f"/v1/users/{user}").status_code == 204
            assert user_keys(prefix, user) == []  # no version's state, ids, history, context
            # the rollback: version 1 serves again and finds nothing of the user
            assert v1.get(f"/v1/users/{user}").status_code == 404
            scored = v1.post("/v1/score", json={"user_id": user, "prompt": PROMPT, "responses": [CHOSEN, REJECTED]})
            assert scored.json()["weights_source"] == "prior"
            assert user_keys(prefix, user) == []  # ... and a read did not bring anything back
            assert v1.get(f"/v1/users/{kept}").json()["context"] == words  # another user is untouched
            assert v1.delete(f"/v1/users/{kept}").status_code == 204  # erased from the old version too
            assert user_keys(prefix, kept) == []
            assert v2.get(f"/v1/users/{kept}").status_code == 404
    finally:
        old.stop(), new.stop()
        delete_prefix(TEST_REDIS_URL, prefix)
