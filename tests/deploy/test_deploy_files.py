"""The deployment files hold together without a Docker engine or a cluster: the Dockerfile installs
with the CI's own script and passes hadolint, the compose file validates and wires Redis (AOF),
the replicas, nginx, Prometheus and Grafana; the dashboard queries only metrics the service
exports; the Kubernetes manifests validate and point their probes at real routes. Checks that
need a tool (hadolint, docker compose, promtool, kubectl, kubernetes-validate) skip without it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service import metrics

from model.paths import REPO_ROOT as ROOT
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "micro.json"
K8S_BASE = ROOT / "deploy" / "k8s" / "base"
K8S_GPU = ROOT / "deploy" / "k8s" / "gpu"
SERVICE_PORT = 8000


def tool(name: str) -> str:
    """A CLI on PATH or next to this Python (pip-installed into the venv); skip without it."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, capture_output=True, text=True, timeout=120, cwd=ROOT, **kw)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def k8s_docs(directory: Path) -> list[dict]:
    docs = []
    for path in sorted(directory.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def k8s_kind(kind: str) -> dict:
    (doc,) = [d for d in k8s_docs(K8S_BASE) if d["kind"] == kind and d["metadata"]["name"] == "micro-reward"]
    return doc


def exported_series() -> set[str]:
    """Every series name the service's registry can expose (histogram and counter suffixes included)."""
    names = set()
    for family in metrics.REGISTRY.collect():
        if family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
        elif family.type == "counter":
            names.add(family.name + "_total")
        else:
            names.add(family.name)
    return names


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p["targets"]]


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
    assert micro["environment"]["MICRO_REDIS_URL"].startswith("redis://redis:6379/")
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


def test_compose_file_validates_with_docker_compose():
    docker = shutil.which("docker")
    if docker and run(docker, "compose", "version").returncode == 0:
        command = [docker, "compose"]
    else:
        command = [tool("docker-compose")]
    result = run(*command, "-f", str(COMPOSE), "config", "-q")
    assert result.returncode == 0, result.stdout + result.stderr


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
                   "micro_queue_size", "micro_feedback_total", "micro_degraded_total"):
        assert needed in used, needed


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


def strategic_merge(base: object, patch: object) -> object:
    """Kustomize's strategic merge, as far as gpu-patch.yaml needs it: maps merge, lists of named
    items (containers, env) merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {k: strategic_merge(base[k], v) if k in base else v for k, v in patch.items()} | {
            k: v for k, v in base.items() if k not in patch}
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i
                                                                  for i in base + patch):
        merged = {i["name"]: i for i in base}
        for item in patch:
            merged[item["name"]] = strategic_merge(merged[item["name"]], item) if item["name"] in merged else item
        return list(merged.values())
    return patch


def gpu_deployment() -> dict:
    kustomization = yaml.safe_load((K8S_GPU / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../base"]
    (patch_file,) = [p["path"] for p in kustomization["patches"]]
    return strategic_merge(k8s_kind("Deployment"), yaml.safe_load((K8S_GPU / patch_file).read_text()))


def test_k8s_gpu_overlay_requests_a_gpu_on_gpu_nodes():
    spec = gpu_deployment()["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] and spec["tolerations"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MICRO_DEVICE"] == "cuda" and env["MICRO_REDIS_URL"]  # base env kept, GPU env added
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
