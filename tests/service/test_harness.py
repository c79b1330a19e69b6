"""evaluation/service_process.py without a model: the child's environment, and a server that cannot start
(a bad MICRO_* setting exits before any model is loaded) reported with its exit code and log."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.service_process import ServiceProcess, ServiceStartError, settings_env


def test_settings_become_micro_variables_and_the_callers_micro_variables_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("MICRO_ETA", "9")
    monkeypatch.setenv("UNRELATED_VARIABLE", "kept")
    env = settings_env({"max_batch_size": 1, "checkpoint": Path("/ckpt")}, port=4321)

    assert env["MICRO_MAX_BATCH_SIZE"] == "1" and env["MICRO_CHECKPOINT"] == "/ckpt"
    assert env["MICRO_HOST"] == "127.0.0.1" and env["MICRO_PORT"] == "4321"
    assert "MICRO_ETA" not in env and env["UNRELATED_VARIABLE"] == "kept"


def test_a_server_that_cannot_start_raises_with_its_log_tail_and_exit_code(tmp_path: Path):
    service = ServiceProcess(tmp_path / "service.log", max_batch_size="not-a-number")
    with pytest.raises(ServiceStartError, match="MICRO_MAX_BATCH_SIZE"), service:
        pass
    assert service.exit_code == 2  # python -m service: invalid setting
    assert "invalid MICRO_* setting" in service.log_tail()


def test_stop_before_start_is_a_no_op(tmp_path: Path):
    service = ServiceProcess(tmp_path / "service.log")
    assert service.stop() is None and service.exit_code is None
    assert service.url == f"http://127.0.0.1:{service.port}"
