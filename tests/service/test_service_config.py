"""Settings from MICRO_* env vars; size limits (413) apply before any work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

import service
from model.paths import DEFAULT_CHECKPOINT
from model.paths import REPO_ROOT as PROJECT_ROOT
from service.core.config import Settings
from service.core.errors import PayloadTooLarge
from service.api.limits import Limits
from service.api.schemas import ID_PATTERN, FeedbackRequest, ScoreRequest


def test_settings_read_micro_env_vars(monkeypatch):
    monkeypatch.setenv("MICRO_PORT", "9123")
    monkeypatch.setenv("MICRO_TAU", "0.5")
    monkeypatch.setenv("MICRO_MAX_WAIT_MS", "2.5")
    s = Settings()
    assert s.port == 9123 and s.tau == 0.5 and s.max_wait_ms == 2.5 and s.eta is None


def test_default_checkpoint_is_relative_to_the_project_not_the_cwd(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Settings().checkpoint == DEFAULT_CHECKPOINT == PROJECT_ROOT / "checkpoints" / "default"


def test_bad_setting_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("MICRO_MAX_BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match="max_batch_size"):
        Settings()


def test_limits_refuse_too_many_responses_and_too_long_texts():
    limits = Limits.from_settings(Settings(max_responses=3, max_text_chars=10))
    limits.score(ScoreRequest(prompt="p", responses=["a", "b", "c"]))
    with pytest.raises(PayloadTooLarge, match="responses has 4 items"):
        limits.score(ScoreRequest(prompt="p", responses=["a"] * 4))
    with pytest.raises(PayloadTooLarge, match=r"responses\[1\]"):
        limits.score(ScoreRequest(prompt="p", responses=["a", "x" * 11]))
    with pytest.raises(PayloadTooLarge, match="chosen"):
        limits.feedback(FeedbackRequest(user_id="u", prompt="p", chosen="x" * 11, rejected="b"))


def test_score_request_needs_exactly_one_of_prompt_and_messages():
    with pytest.raises(ValidationError, match="exactly one"):
        ScoreRequest(responses=["a"])
    with pytest.raises(ValidationError, match="exactly one"):
        ScoreRequest(prompt="p", messages=[{"role": "user", "content": "p"}], responses=["a"])


def test_playground_checks_user_ids_with_the_api_pattern():
    page = (Path(service.__file__).parent / "api" / "static" / "index.html").read_text()
    attribute = re.search(r'id="user-id"[^>]*pattern="([^"]+)"', page)
    assert attribute is not None and f"^{attribute.group(1)}$" == ID_PATTERN
    assert all(re.fullmatch(ID_PATTERN, i) for i in ["user-42", "a.b_c:d@e-f", "x" * 128])
    assert not any(re.fullmatch(ID_PATTERN, i) for i in ["", "a/b", "a{b}", "x" * 129, "a b"])


def test_micro_active_criterion_overrides_the_checkpoints_next_query_criterion(monkeypatch):
    from model.checkpoint import CheckpointConfig
    from service.inference.runtime import routing_config

    config = CheckpointConfig(backbone={}, num_heads=2, dim=2, routing={"tau": 0.5})  # no active_criterion: older
    assert routing_config(config, Settings()).active_criterion == "entropy"
    monkeypatch.setenv("MICRO_ACTIVE_CRITERION", "information")
    routing = routing_config(config, Settings())
    assert routing.active_criterion == "information" and routing.tau == 0.5
    monkeypatch.setenv("MICRO_ACTIVE_CRITERION", "bald")
    with pytest.raises(ValidationError, match="active_criterion"):
        Settings()
