"""routing.prior_strength in the checkpoint decides how much a user's weights trust the router:
at 0 a new user is uniform over the heads on every prompt (scores, /get_reward base weights),
and the first label moves them from there, through the real service on a loopback port."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from model.checkpoint import read_config, update_routing
from evaluation.service_process import ServiceProcess
from tests.integration.conftest import service_on_own_prefix

PROMPT = "Name three ways to reduce greenhouse gas emissions."
ANSWERS = ["1. Renewables. 2. Efficiency. 3. Reforestation.", "Well, buckle up, the planet is the greatest show on earth!"]


@pytest.fixture(scope="module")
def uniform_prior(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    directory = shutil.copytree(tiny_checkpoint, tmp_path_factory.mktemp("prior") / "checkpoint")
    update_routing(directory, prior_strength=0.0)
    assert read_config(directory).routing_config().prior_strength == 0.0
    log = tmp_path_factory.mktemp("prior-log") / "service.log"
    with service_on_own_prefix("prior", log, directory, max_wait_ms=2) as proc:
        yield proc


def test_a_new_user_starts_uniform_at_strength_zero_and_at_the_router_by_default(uniform_prior: ServiceProcess, server: str):
    body = {"user_id": f"u-{uuid.uuid4().hex[:8]}", "prompt": PROMPT, "responses": ANSWERS}
    routed = httpx.post(f"{server}/v1/score", json=body, timeout=60).json()["weights"]
    assert max(routed) - min(routed) > 1e-3  # the tiny checkpoint's router does prefer some heads: the test can tell
    with httpx.Client(base_url=uniform_prior.url, timeout=60) as c:
        flat = c.post("/v1/score", json=body).json()
        k = len(flat["weights"])
        assert flat["weights"] == pytest.approx([1 / k] * k, abs=1e-6) and flat["weights_source"] == "prior"
        assert c.get(f"/v1/users/{body['user_id']}").status_code == 404  # scoring wrote no state
        label = {"user_id": body["user_id"], "feedback_id": "f1", "prompt": PROMPT, "chosen": ANSWERS[0], "rejected": ANSWERS[1]}
        after = c.post("/v1/feedback", json=label).json()
        assert after["weights_before"] == pytest.approx([1 / k] * k, abs=1e-6)
        assert after["weights_after"] != pytest.approx(after["weights_before"], abs=1e-4)
        state = c.get(f"/v1/users/{body['user_id']}").json()
        scored = c.post("/v1/score", json=body).json()
        assert scored["weights_source"] == "user"
        # with the router's logits weighed 0, the user's weights are the same on every prompt: softmax(u)
        assert scored["weights"] == pytest.approx(state["base_weights"], abs=1e-5)
        assert scored["weights"] == pytest.approx(after["weights_after"], abs=1e-5)
