"""The deployment files hold together without a Docker engine or a cluster: the Dockerfile installs
with the CI's own script and passes hadolint, the compose file validates and wires Redis (AOF),
the replicas, nginx, Prometheus and Grafana; the dashboard queries only metrics the service
exports; the Kubernetes manifests validate and point their probes at real routes. Checks that
need a tool (hadolint, docker compose, promtool, kubectl, kubernetes-validate) skip without it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.deploy_files import (
    DASHBOARD, DOCKERFILE, K8S_BASE, K8S_GPU, ROOT, SERVICE_PORT, compose, compose_secrets,
    dashboard_exprs, dockerfile_instructions, exported_series, gpu_deployment, k8s_docs, k8s_kind,
    render_compose, run, tool,
)


# ---- Dockerfile ------------------------------------------------------------------------------
def test_dockerfile_installs_with_the_ci_setup_script_only():
    runs = [args for word, args in dockerfile_instructions() if word == "RUN"]
    assert any(re.search(r"\bbash scripts/setup\.sh\b", r) for r in runs), runs
    assert not any("pip install" in r or "pip3 install" in r for r in runs), "install Python packages in setup.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh" in ci  # the same script CI runs


def test_dockerfile_runs_the_service_as_non_root_with_a_live_healthcheck():
    ins = dockerfile_instructions()
    users = [args for word, args in ins if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    uid = next(args.split("=", 1)[1] for word, args in ins if word == "ARG" and args.startswith("UID="))
    assert int(uid) >= 1000
    (health,) = [args for word, args in ins if word == "HEALTHCHECK"]
    assert "/health/live" in health
    assert ins[-1] == ("ENTRYPOINT", '["python", "-m", "service"]')
    env = " ".join(args for word, args in ins if word == "ENV")
    assert "MICRO_HOST=0.0.0.0" in env and f"MICRO_PORT={SERVICE_PORT}" in env and "HF_HUB_OFFLINE=1" in env
    assert "MICRO_AUTH=on" in env  # the image refuses to start without keys unless told otherwise


def test_dockerfile_picks_cpu_or_cuda_base_by_build_arg_and_ships_the_checkpoint():
    ins = dockerfile_instructions()
    assert ins[0] == ("ARG", "FLAVOR=cpu")
    froms = [args for word, args in ins if word == "FROM"]
    assert any(f.endswith("AS base-cpu") for f in froms) and any(f.endswith("AS base-cuda") for f in froms)
    assert "base-${FLAVOR} AS base" in froms
    copies = [args for word, args in ins if word == "COPY"]
    assert "checkpoints/default/ checkpoints/default/" in copies
    assert (ROOT / "checkpoints" / "default" / "config.json").is_file()


def test_dockerignore_lets_in_everything_the_dockerfile_copies():
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for word, args in dockerfile_instructions():
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert any(source.rstrip("/") == a or source.startswith(a + "/") for a in allowed), source


def test_dockerfile_passes_hadolint():
    result = run(tool("hadolint"), "--failure-threshold", "style", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


# ---- docker-compose --------------------------------------------------------------------------
def test_compose_wires_redis_with_aof_two_replicas_nginx_prometheus_grafana():
    services = compose()["services"]
    assert set(services) == {"redis", "micro", "nginx", "prometheus", "grafana"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") and not v.startswith(".") for v in redis["volumes"])  # a named volume
    micro = services["micro"]
    assert micro["build"]["dockerfile"] == "docker/Dockerfile" and micro["deploy"]["replicas"] == 2
    assert re.match(r"redis://:\$\{MICRO_REDIS_PASSWORD:\?[^}]+\}@redis:6379/", micro["environment"]["MICRO_REDIS_URL"])
    assert micro["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in micro  # reached through nginx only
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    assert f"server micro:{SERVICE_PORT}" in nginx and "proxy_pass http://micro;" in nginx
    listen = re.search(r"listen (\d+);", nginx).group(1)
    assert any(p.endswith(f":{listen}") for p in services["nginx"]["ports"])


def test_compose_bind_mounts_exist():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"


def test_compose_file_validates_with_docker_compose(tmp_path: Path):
    (tmp_path / ".env").touch()
    result = render_compose(compose_secrets(), tmp_path / ".env")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(yaml.safe_load(result.stdout)["services"]) == set(compose()["services"])


# ---- Prometheus + Grafana --------------------------------------------------------------------
def test_prometheus_scrapes_every_replica_directly():
    config = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "micro"]
    assert job["metrics_path"] == "/metrics"
    assert job["dns_sd_configs"][0]["names"] == ["micro"] and job["dns_sd_configs"][0]["port"] == SERVICE_PORT


def test_prometheus_config_passes_promtool():
    result = run(tool("promtool"), "check", "config", "docker/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_only_exported_metrics_and_covers_the_service():
    used = {m for e in dashboard_exprs() for m in re.findall(r"\bmicro_[a-z_]+", e)}
    assert used <= exported_series(), used - exported_series()
    for needed in ("micro_requests_total", "micro_request_duration_seconds_bucket", "micro_batch_size_bucket",
                   "micro_queue_size", "micro_feedback_total", "micro_degraded_total", "micro_redis_errors_total",
                   "micro_redis_duration_seconds_bucket"):
        assert needed in used, needed


def test_dashboard_has_personalization_and_redis_health_sections():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    rows = sorted((p["gridPos"]["y"], p["title"]) for p in panels if p["type"] == "row")
    assert [title for _, title in rows] == ["Personalization", "Redis health"]
    (personal_y, _), (redis_y, _) = rows

    def section(top: int, bottom: float) -> str:
        return " ".join(t["expr"] for p in panels if p["type"] != "row" and top < p["gridPos"]["y"] < bottom
                        for t in p["targets"])

    personalization, redis_health = section(personal_y, redis_y), section(redis_y, float("inf"))
    assert "micro_feedback_total" in personalization and "* 60" in personalization  # labels per minute
    for metric in ("micro_redis_errors_total", "micro_redis_duration_seconds_bucket", "micro_degraded_total"):
        assert metric in redis_health, metric
    assert "ALERTS{" in redis_health  # the alert rules' state


def test_dashboard_uses_the_provisioned_datasource_and_path():
    source = yaml.safe_load((ROOT / "docker/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = source["datasources"][0]["uid"]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert {p["datasource"]["uid"] for p in panels} == {uid}
    provider = yaml.safe_load((ROOT / "docker/grafana/provisioning/dashboards/micro.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./docker/grafana/dashboards:{path}:ro" in compose()["services"]["grafana"]["volumes"]


def test_dashboard_queries_are_valid_promql(tmp_path: Path):
    promtool = tool("promtool")
    rules = [{"record": f"micro:dashboard_{i}", "expr": e.replace("$__rate_interval", "1m")}
             for i, e in enumerate(dashboard_exprs())]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(tmp_path / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


# ---- Kubernetes ------------------------------------------------------------------------------
def test_k8s_probes_point_at_the_health_routes_and_resources_are_set():
    deployment = k8s_kind("Deployment")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port["http"] == SERVICE_PORT
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    uid = next(a.split("=", 1)[1] for w, a in dockerfile_instructions() if w == "ARG" and a.startswith("UID="))
    assert pod["spec"]["securityContext"]["runAsUser"] == int(uid)


def test_k8s_service_hpa_and_pdb_select_the_deployment():
    deployment = k8s_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = k8s_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = k8s_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "micro-reward"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert k8s_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S_BASE.glob("*.yaml")
                                                        if p.name != "kustomization.yaml")


def test_k8s_gpu_overlay_requests_a_gpu_on_gpu_nodes():
    spec = gpu_deployment()["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] and spec["tolerations"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MICRO_DEVICE"] == "cuda" and env["MICRO_REDIS_URL"]  # base env kept, GPU env added
    assert env["MICRO_AUTH"] == "on" and env["MICRO_API_KEYS_FILE"]  # and auth with it
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"  # base probes kept


def test_k8s_manifests_validate_against_the_kubernetes_schema():
    validator = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    for doc in [*k8s_docs(K8S_BASE), gpu_deployment()]:
        if doc["kind"] != "Kustomization":
            validator.validate(doc, validator.latest_version(), strict=True)


@pytest.mark.parametrize("overlay", [K8S_BASE, K8S_GPU], ids=["base", "gpu"])
def test_k8s_kustomizations_render(overlay: Path):
    result = run(tool("kubectl"), "kustomize", str(overlay))
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "StatefulSet"} <= {d["kind"] for d in docs}
    try:
        import kubernetes_validate
    except ImportError:
        return
    for doc in docs:  # the overlay's patch lands in a valid object too
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
