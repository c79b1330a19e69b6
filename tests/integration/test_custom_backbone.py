"""End to end on backbones built in-test, with no download (tests/model/tiny_models.py):
``python -m model.train`` fits two heads on 60 TRL-format pairs (prompt / chosen / rejected,
with user ids), ``python -m service`` serves them on the real Redis, and the HTTP API scores
and learns from feedback. The served rewards are checked against the model read locally, so
the service provably reads texts as training did (chat template, last-token pooling, score head).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
import torch

from model.backbone import Encoder
from model.checkpoint import CheckpointConfig, load_checkpoint, save_checkpoint
from model.heads import MixtureRewardModel
from model.paths import REPO_ROOT
from evaluation.service_process import ServiceProcess, ServiceStartError
from tests.helpers import TEST_REDIS_URL
from tests.integration.conftest import delete_prefix
from tests.model.tiny_models import build_tiny_llama, build_tiny_reward_model, sentence

TRAIN_TIMEOUT_S = 300
PROMPT = "please tell me about the kind teacher"
POLITE, RUDE = "kind polite answer about the teacher", "rude wrong answer about the city"


def write_pairs(path: Path, n: int = 60) -> Path:
    """TRL format with user ids: alice prefers polite responses, bob the others."""
    rng = random.Random(0)
    rows = []
    for i in range(n):
        polite, rude = "kind polite " + sentence(rng, 6), "rude wrong " + sentence(rng, 6)
        user = "alice" if i % 2 else "bob"
        chosen, rejected = (polite, rude) if user == "alice" else (rude, polite)
        rows.append({"prompt": f"{sentence(rng, 6)} question {i}", "chosen": chosen, "rejected": rejected,
                     "user_id": user})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train(tmp_path: Path, backbone: Path, *extra: str) -> Path:
    out = tmp_path / "checkpoint"
    cmd = [sys.executable, "-m", "model.train", "--data", str(write_pairs(tmp_path / "pairs.jsonl")),
           "--backbone", str(backbone), "--heads", "2", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
           "--device", "cpu", "--threads", "2", "--max-steps", "200", "--restarts", "1", *extra]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TRAIN_TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "per user" in done.stdout  # the per-user table of H5's report, users from the user_id column
    return out


def local_head_rewards(checkpoint: Path, backbone: Path, responses: list[str], **encoder_kw) -> torch.Tensor:
    """(N, K) head rewards computed in-process, as training read the texts."""
    encoder = Encoder(backbone, device="cpu", **encoder_kw)
    model, _ = load_checkpoint(checkpoint, encoder.info)
    texts, _ = encoder.join_pairs([PROMPT] * len(responses), responses)
    return model.rewards(encoder.encode(texts))


def serve(tmp_path: Path, checkpoint: Path, backbone: Path, prefix: str) -> ServiceProcess:
    return ServiceProcess(tmp_path / "service.log", checkpoint=checkpoint, backbone_path=backbone,
                          redis_url=TEST_REDIS_URL, key_prefix=prefix, torch_threads=2, max_wait_ms=2)


def score_and_feedback(url: str, num_heads: int) -> list[list[float]]:
    """Score two responses, label the pair, score again: the user's weights moved. -> head rewards."""
    with httpx.Client(base_url=url, timeout=60.0) as http:
        body = {"user_id": "carol", "prompt": PROMPT, "responses": [POLITE, RUDE], "return_head_rewards": True}
        scored = http.post("/v1/score", json=body)
        assert scored.status_code == 200, scored.text
        first = scored.json()
        assert len(first["weights"]) == num_heads and first["weights_source"] == "prior"
        assert len(first["head_rewards"]) == 2 and all(len(r) == num_heads for r in first["head_rewards"])
        label = {"user_id": "carol", "prompt": PROMPT, "chosen": RUDE, "rejected": POLITE, "feedback_id": "f-1"}
        fed = http.post("/v1/feedback", json=label)
        assert fed.status_code == 200, fed.text
        outcome = fed.json()
        assert outcome["applied"] and outcome["n_feedback"] == 1
        assert outcome["weights_after"] != outcome["weights_before"]
        again = http.post("/v1/score", json=body).json()
        assert again["weights_source"] == "user" and again["weights"] != first["weights"]
        return first["head_rewards"]


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("backbones") / "tiny-llama")


def test_tiny_llama_trains_serves_scores_and_learns_from_feedback(tmp_path, llama_dir, key_prefix):
    checkpoint = train(tmp_path, llama_dir)
    backbone = json.loads((checkpoint / "config.json").read_text())["backbone"]
    assert backbone["kind"] == "decoder" and backbone["pooling"] == "last" and backbone["chat_template"]
    prefix = f"{key_prefix}-llama"
    try:
        with serve(tmp_path, checkpoint, llama_dir, prefix) as service:
            card = httpx.get(service.url + "/v1/model", timeout=30).json()
            assert card["backbone"]["chat_template"] == backbone["chat_template"] and card["num_heads"] == 2
            served = score_and_feedback(service.url, num_heads=2)
    finally:
        delete_prefix(TEST_REDIS_URL, prefix)
    local = local_head_rewards(checkpoint, llama_dir, [POLITE, RUDE], chat_template=True)
    assert torch.allclose(torch.tensor(served), local, atol=1e-3)


def test_reward_model_keeps_its_score_head_as_a_served_expert(tmp_path, key_prefix):
    from transformers import AutoModelForSequenceClassification

    rm_dir = build_tiny_reward_model(tmp_path / "tiny-rm")
    checkpoint = train(tmp_path, rm_dir, "--keep-score-head")
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["num_heads"] == 3 and config["expert"]["head"] == 2 and config["backbone"]["score_head"]
    prefix = f"{key_prefix}-rm"
    try:
        with serve(tmp_path, checkpoint, rm_dir, prefix) as service:
            served = torch.tensor(score_and_feedback(service.url, num_heads=3))  # (2 responses, 2 learned + expert)
    finally:
        delete_prefix(TEST_REDIS_URL, prefix)
    encoder = Encoder(rm_dir, device="cpu", keep_score_head=True)
    texts, _ = encoder.join_pairs([PROMPT] * 2, [POLITE, RUDE])
    reward_model = AutoModelForSequenceClassification.from_pretrained(rm_dir).eval()
    with torch.inference_mode():
        own = reward_model(**encoder.tokenize(texts)).logits[:, 0]  # the reward model's own score
    assert torch.allclose(served[:, 2], own, atol=1e-3)
    assert torch.allclose(served, local_head_rewards(checkpoint, rm_dir, [POLITE, RUDE], keep_score_head=True), atol=1e-3)


def test_service_refuses_a_backbone_whose_chat_template_changed(tmp_path, llama_dir, key_prefix):
    encoder = Encoder(llama_dir, device="cpu")
    checkpoint = save_checkpoint(
        tmp_path / "checkpoint", MixtureRewardModel(encoder.dim, 2),
        CheckpointConfig(backbone=asdict(encoder.info), num_heads=2, dim=encoder.dim, version="template-test"),
    )
    edited = shutil.copytree(llama_dir, tmp_path / "tiny-llama")  # same dir name and config: same identity
    template = edited / "chat_template.jinja"
    template.write_text(template.read_text().replace("</s> ", "</s> :: "))  # one more token per turn
    new_id = Encoder(edited, device="cpu").info.chat_template
    assert new_id not in (None, encoder.info.chat_template)
    service = serve(tmp_path, checkpoint, edited, f"{key_prefix}-refused").start()
    try:
        with pytest.raises(ServiceStartError, match="chat template mismatch") as refused:
            service.wait_ready()
    finally:
        service.stop()
    assert encoder.info.chat_template in str(refused.value) and new_id in str(refused.value)
    assert service.exit_code not in (None, 0)
