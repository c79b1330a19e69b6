"""What the deploy tests share: the repository's deployment files as data, the tools that check them
(each test skips without its tool), and renderers for compose and the GPU overlay."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model.paths import REPO_ROOT as ROOT
from service.core import metrics

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


# what docker-compose.yml refuses to start without (docs/deploy.md); nothing else is required
COMPOSE_SECRETS = ("MICRO_API_KEYS", "MICRO_REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD")


def compose_secrets() -> dict[str, str]:
    """Fresh values for the required variables: a key hash in the MICRO_API_KEYS format, random passwords."""
    digest = hashlib.sha256(secrets.token_hex(16).encode()).hexdigest()
    return {"MICRO_API_KEYS": f"acme:read+write:{digest}", "MICRO_REDIS_PASSWORD": secrets.token_hex(24),
            "GRAFANA_ADMIN_PASSWORD": secrets.token_hex(12)}


def render_compose(variables: dict[str, str], env_file: Path) -> subprocess.CompletedProcess:
    """`docker compose config` (or docker-compose's) with exactly ``variables`` among the required ones and
    ``env_file`` (write an empty one: no developer's .env leaks in); skip without either tool."""
    docker = shutil.which("docker")
    if docker and run(docker, "compose", "version").returncode == 0:
        command = [docker, "compose"]
    else:
        command = [tool("docker-compose")]
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS} | variables
    return run(*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config", env=env)


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


def dashboard_panels() -> list[dict]:
    """The dashboard's query panels (row headers hold none)."""
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard_panels() for t in p["targets"]]


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
