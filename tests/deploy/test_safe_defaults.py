"""Every shipped deployment is safe as it stands: compose refuses to start without the API keys and the
Redis and Grafana passwords and renders with auth on; nothing carries a default password; nginx does
not route /metrics; the Kubernetes base (and the GPU overlay) runs with auth on, the keys and the Redis
password from Secrets, and a Redis that requires that password and never evicts (maxmemory-policy
noeviction); a real redis-server run with those arguments behaves so, and the service's Redis client
authenticates with the URL the deployments build, which its logs never show whole."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
import yaml

from evaluation.service_process import free_port
from service.core.logs import redact
from service.state.user_store import UserStore
from tests.deploy.deploy_files import (
    COMPOSE, COMPOSE_SECRETS, K8S_BASE, ROOT, compose_secrets, gpu_deployment, k8s_docs, k8s_kind,
    render_compose, run, tool,
)
from tests.deploy.nginx_routes import nginx_servers, route

SECRET_NAME = re.compile(r"(PASSWORD|API_KEYS|SECRET|_TOKEN|REDISCLI_AUTH)$")
DEPLOY_FILES = [COMPOSE, *sorted((ROOT / "docker").rglob("*")), *sorted((ROOT / "deploy").rglob("*"))]


def rendered_compose(tmp_path: Path, variables: dict[str, str]) -> dict:
    (tmp_path / ".env").touch()
    result = render_compose(variables, tmp_path / ".env")
    assert result.returncode == 0, result.stdout + result.stderr
    return yaml.safe_load(result.stdout)


def flag(args: list[str], name: str) -> str:
    """The value after ``--name`` in a redis-server command line."""
    return args[args.index(name) + 1]


# ---- docker compose --------------------------------------------------------------------------
@pytest.mark.parametrize("missing", COMPOSE_SECRETS)
def test_compose_refuses_to_render_without_each_secret(tmp_path: Path, missing: str):
    (tmp_path / ".env").touch()
    variables = {k: v for k, v in compose_secrets().items() if k != missing}
    result = render_compose(variables, tmp_path / ".env")
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr and "docs/deploy.md" in result.stderr, result.stderr


@pytest.mark.parametrize("empty", COMPOSE_SECRETS)
def test_compose_refuses_an_empty_secret(tmp_path: Path, empty: str):
    (tmp_path / ".env").touch()
    result = render_compose(compose_secrets() | {empty: ""}, tmp_path / ".env")
    assert result.returncode != 0 and f"set {empty}" in result.stderr, result.stderr


def test_compose_renders_auth_on_with_the_given_keys_and_passwords(tmp_path: Path):
    given = compose_secrets()
    services = rendered_compose(tmp_path, given)["services"]
    env = services["micro"]["environment"]
    assert env["MICRO_AUTH"] == "on" and env["MICRO_API_KEYS"] == given["MICRO_API_KEYS"]
    assert env["MICRO_REDIS_URL"] == f"redis://:{given['MICRO_REDIS_PASSWORD']}@redis:6379/0"
    command = services["redis"]["command"]
    assert flag(command, "--requirepass") == given["MICRO_REDIS_PASSWORD"]
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == given["MICRO_REDIS_PASSWORD"]  # healthcheck
    assert flag(command, "--maxmemory-policy") == "noeviction" and flag(command, "--maxmemory")
    assert flag(command, "--appendonly") == "yes"
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == given["GRAFANA_ADMIN_PASSWORD"]


def test_compose_secrets_are_required_never_defaulted():
    text = COMPOSE.read_text()
    for name in COMPOSE_SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), (name, uses)
    assert not re.search(r"MICRO_AUTH:\s*\$\{", text)  # auth cannot be switched off from the environment
    env = yaml.safe_load(text)["services"]["micro"]["environment"]
    assert env["MICRO_AUTH"] == "on"


def test_no_default_or_empty_password_in_any_deployment_file():
    for path in DEPLOY_FILES:
        if not path.is_file():
            continue
        text = path.read_text()
        assert "admin/admin" not in text, path
        assert not re.search(r"(?i)(password|requirepass)\s*[:=]\s*[\"']?(admin|password|changeme|secret)?[\"']?\s*$",
                             text, re.M), path
        assert not re.search(r"\$\{[A-Z_]*(PASSWORD|API_KEYS)[A-Z_]*:?-", text), path  # ${X:-default}


def test_micro_is_reached_only_through_nginx_and_metrics_only_by_prometheus():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert "ports" not in services["micro"] and "ports" not in services["redis"]
    assert all(p.startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))


# ---- nginx -----------------------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["/metrics", "/metrics/", "/metrics?name[]=micro_requests_total", "//metrics",
                                 "/%6Detrics", "/metrics/../metrics"])
def test_nginx_does_not_route_metrics(uri: str):
    (server,) = nginx_servers(ROOT / "docker" / "nginx.conf")
    location = route(server, uri)
    assert not location.proxied and location.status in (403, 404), (uri, location)


@pytest.mark.parametrize("uri", ["/v1/score", "/get_reward", "/health/ready", "/health/live", "/docs",
                                 "/openapi.json", "/"])
def test_nginx_routes_the_public_api_to_the_replicas(uri: str):
    (server,) = nginx_servers(ROOT / "docker" / "nginx.conf")
    assert route(server, uri).proxied, uri


# ---- Kubernetes ------------------------------------------------------------------------------
def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def secret_ref(entry: dict) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    assert ref.get("optional") is not True, entry
    return ref["name"], ref["key"]


def redis_container() -> dict:
    (sts,) = [d for d in k8s_docs(K8S_BASE) if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "micro-redis"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("variant", ["base", "gpu"])
def test_k8s_service_runs_with_auth_on_and_its_keys_from_a_secret(variant: str):
    deployment = k8s_kind("Deployment") if variant == "base" else gpu_deployment()
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = env_of(container)
    assert env["MICRO_AUTH"]["value"] == "on"
    assert "MICRO_API_KEYS" not in env or "secretKeyRef" in env["MICRO_API_KEYS"].get("valueFrom", {})
    keys_file = Path(env["MICRO_API_KEYS_FILE"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if keys_file.is_relative_to(m["mountPath"])]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] and mount["readOnly"] is True
    items = {i["path"]: i["key"] for i in volume["secret"].get("items", [])}
    assert keys_file.relative_to(mount["mountPath"]).as_posix() in items or not items
    mode = volume["secret"].get("defaultMode", 0o644)
    assert mode & 0o004 == 0 or mode & 0o044 == 0o044  # readable by its group (fsGroup) without being world-readable
    if mode & 0o004 == 0:
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


@pytest.mark.parametrize("variant", ["base", "gpu"])
def test_k8s_redis_password_comes_from_the_secret_redis_requires(variant: str):
    deployment = k8s_kind("Deployment") if variant == "base" else gpu_deployment()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    names = [e["name"] for e in container["env"]]
    env = env_of(container)
    url = env["MICRO_REDIS_URL"]["value"]
    used = re.fullmatch(r"redis://:\$\((\w+)\)@micro-redis:6379/0", url)
    assert used, url
    assert names.index(used.group(1)) < names.index("MICRO_REDIS_URL")  # $(VAR) expands only earlier vars
    redis_env = env_of(redis_container())
    requirepass = flag(redis_container()["args"], "--requirepass")
    assert re.fullmatch(r"\$\((\w+)\)", requirepass)
    assert secret_ref(env[used.group(1)]) == secret_ref(redis_env[requirepass[2:-1]])
    assert secret_ref(redis_env["REDISCLI_AUTH"]) == secret_ref(env[used.group(1)])  # the probe authenticates


def test_k8s_redis_never_evicts_and_its_maxmemory_fits_the_limit():
    container = redis_container()
    args = container["args"]
    assert flag(args, "--maxmemory-policy") == "noeviction" and flag(args, "--appendonly") == "yes"
    maxmemory = flag(args, "--maxmemory")
    assert re.fullmatch(r"\d+mb", maxmemory)
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") and int(maxmemory[:-2]) < int(limit[:-2]) * 1024


def test_k8s_ships_no_secret_values_and_no_literal_credentials():
    docs = k8s_docs(K8S_BASE) + [gpu_deployment()]
    assert not [d for d in docs if d["kind"] == "Secret"]  # created by the operator (docs/deploy.md)
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    assert "secretGenerator" not in kustomization
    for doc in docs:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for entry in container.get("env", []):
                if SECRET_NAME.search(entry["name"]):
                    assert "value" not in entry and secret_ref(entry), entry


def test_k8s_only_the_service_reaches_redis():
    (policy,) = [d for d in k8s_docs(K8S_BASE) if d["kind"] == "NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == redis_container_labels()
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    service_labels = k8s_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert source["podSelector"]["matchLabels"].items() <= service_labels.items()


def redis_container_labels() -> dict:
    (sts,) = [d for d in k8s_docs(K8S_BASE) if d["kind"] == "StatefulSet"]
    return sts["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("overlay", ["base", "gpu"])
def test_k8s_rendered_by_kustomize_keeps_auth_and_secrets(overlay: str):
    result = run(tool("kubectl"), "kustomize", str(ROOT / "deploy" / "k8s" / overlay))
    assert result.returncode == 0, result.stderr
    (deployment,) = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Deployment"]
    env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
    assert env["MICRO_AUTH"]["value"] == "on" and secret_ref(env["REDIS_PASSWORD"])
    names = list(env)
    assert names.index("REDIS_PASSWORD") < names.index("MICRO_REDIS_URL")  # still expandable after the patch
    assert "Secret" not in {d["kind"] for d in yaml.safe_load_all(result.stdout) if d}


# ---- the real thing: redis-server with the manifest's arguments, the service's client -------
@pytest.fixture()
def k8s_redis(tmp_path: Path):
    """redis-server run with the k8s manifest's arguments ($(REDIS_PASSWORD) filled in) on a free port."""
    exe = shutil.which("redis-server") or pytest.skip("redis-server is not installed")
    password, port = secrets.token_hex(24), free_port()
    args = [a.replace("$(REDIS_PASSWORD)", password) for a in redis_container()["args"][1:]]
    proc = subprocess.Popen([exe, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=password, socket_timeout=0.5, decode_responses=True)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield port, password, client
    proc.kill()
    proc.wait()


def test_k8s_redis_refuses_clients_without_the_password(k8s_redis):
    port, _, client = k8s_redis
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, socket_timeout=0.5).set("k", "v")
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert int(client.config_get("maxmemory")["maxmemory"]) > 0


def test_k8s_redis_when_full_refuses_writes_and_keeps_every_key(k8s_redis):
    _, _, client = k8s_redis
    client.config_set("maxmemory", "2mb")  # small, to fill it quickly; the policy is the manifest's
    written, value = 0, "x" * 4096
    with pytest.raises(redis.ResponseError, match="maxmemory"):  # "OOM command not allowed ..."
        for i in range(10_000):
            client.set(f"user:{i}", value)
            written += 1
    assert written and client.dbsize() == written  # nothing was evicted to make room


def test_the_service_client_authenticates_with_the_url_the_deployments_build(k8s_redis):
    port, password, _ = k8s_redis
    env = k8s_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    template = next(e["value"] for e in env if e["name"] == "MICRO_REDIS_URL")
    built = template.replace("$(REDIS_PASSWORD)", password).replace("micro-redis:6379", f"127.0.0.1:{port}")

    async def ping() -> bool:
        client = UserStore.connect(built, timeout_s=0.5, max_connections=2)
        try:
            return await client.ping()
        finally:
            await client.aclose()

    assert asyncio.run(ping()) is True


def test_the_redis_url_the_deployments_build_is_redacted_in_logs(tmp_path: Path):
    password = secrets.token_hex(24)
    env = k8s_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    k8s_url = next(e["value"] for e in env if e["name"] == "MICRO_REDIS_URL").replace("$(REDIS_PASSWORD)", password)
    compose_url = rendered_compose(tmp_path, compose_secrets() | {"MICRO_REDIS_PASSWORD": password})[
        "services"]["micro"]["environment"]["MICRO_REDIS_URL"]
    for url in (k8s_url, compose_url):
        line = redact(f"MICRO_REDIS_URL={url!r} is not a usable Redis URL")
        assert password not in line and ":6379/0" in line, line  # the host stays, for the operator
