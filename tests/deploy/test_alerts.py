"""The Prometheus alert rules (docker/prometheus-alerts.yml): wired into docker/prometheus.yml and
mounted by compose, valid for promtool, built only on metrics the service exports, and each one
fires on the series that should raise it and not on healthy ones (promtool's rule unit tests in
tests/deploy/alerts_test.yml). The promtool checks skip where promtool is missing
(scripts/ci-tools.sh installs it)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from service.core import metrics
from tests.deploy.deploy_files import ROOT, compose, exported_series, run, tool

RULES = ROOT / "docker" / "prometheus-alerts.yml"
PROMETHEUS = ROOT / "docker" / "prometheus.yml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")


def alert_rules() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"]}


def test_alert_rules_cover_redis_down_429_rate_and_p99_latency():
    rules = alert_rules()
    assert {"MicroRedisDown", "MicroRateLimitedHigh", "MicroLatencyP99High"} <= set(rules)
    assert "micro_redis_errors_total" in rules["MicroRedisDown"]["expr"]
    assert 'status="429"' in rules["MicroRateLimitedHigh"]["expr"]
    p99 = rules["MicroLatencyP99High"]["expr"]
    assert "histogram_quantile(0.99" in p99 and "micro_request_duration_seconds_bucket" in p99
    for name, rule in rules.items():
        assert rule.get("for") and rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_alert_rules_query_only_exported_metrics_and_real_label_values():
    used = {m for r in alert_rules().values() for m in re.findall(r"\bmicro_[a-z_]+", r["expr"])}
    assert used <= exported_series(), used - exported_series()
    # the degraded reason the rule matches is one the service declares (service/core/metrics.py)
    reasons = set(re.findall(r'reason="([^"]+)"', alert_rules()["MicroRedisDown"]["expr"]))
    declared = {s.labels["reason"] for f in metrics.REGISTRY.collect() if f.name == "micro_degraded" for s in f.samples}
    assert reasons and reasons <= declared, (reasons, declared)


def test_prometheus_loads_the_alert_rules_mounted_by_compose():
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == [RULES.name]  # relative to prometheus.yml
    mounts = compose()["services"]["prometheus"]["volumes"]
    config_dir = next(v.split(":")[1] for v in mounts if v.startswith("./docker/prometheus.yml:")).rsplit("/", 1)[0]
    assert f"./docker/{RULES.name}:{config_dir}/{RULES.name}:ro" in mounts


def test_alert_rules_pass_promtool_check():
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_failure_series_and_stay_quiet_on_healthy_ones(tmp_path: Path):
    promtool = tool("promtool")
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    unit = yaml.safe_load(UNIT_TESTS.read_text())
    assert unit["rule_files"] == ["RULES"]
    unit["rule_files"] = [str(tmp_path / "rules.yml")]
    fired = {t["alertname"] for case in unit["tests"] for t in case.get("alert_rule_test", []) if t["exp_alerts"]}
    assert fired == set(alert_rules())  # every alert has a case where it fires
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(unit))
    result = run(promtool, "test", "rules", str(tmp_path / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
