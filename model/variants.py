"""Backbone variants a checkpoint may be served with, and the record that allows each.

A variant is a cheaper forward of the same backbone (``torch-bf16``: the weights and activations in
bfloat16, on CPUs with AVX-512 BF16 or AMX, and on GPUs). It shifts the features the heads read a
little, so a checkpoint is served with a variant only when ``python -m model.fit_variant`` has
measured that variant on the checkpoint's validation pairs and written a passed record into
``variants.json`` beside the heads. The record names the heads it was measured with (their
sha256): a checkpoint whose heads changed since (a retrained router, issue 26) is refused until
the command is run again. fp32 torch (``torch``) needs no record.

    variants.json: {"torch-bf16": {"variant", "heads_sha256", "backbone", "passed", "gate": {...}}}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from model.backbone_weights import same_backbone
from model.checkpoint import read_config

VARIANTS_FILE = "variants.json"
WEIGHTS_FILE = "heads.safetensors"
VARIANT_DTYPES = {"torch": "float32", "torch-bf16": "bfloat16"}  # torch variants: the dtype the Encoder loads


class VariantError(RuntimeError):
    """The checkpoint has no passed, current record for the asked variant; the message says what to run."""


def heads_sha256(directory: Path) -> str:
    return hashlib.sha256((Path(directory) / WEIGHTS_FILE).read_bytes()).hexdigest()


def read_variants(directory: Path) -> dict[str, dict]:
    """The checkpoint's variant records ({} without the file); an unreadable file is a VariantError naming it."""
    path = Path(directory) / VARIANTS_FILE
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VariantError(f"{path} cannot be read ({exc}): delete it and run "
                           f"`python -m model.fit_variant --checkpoint {directory} --variant torch-bf16`") from exc
    if not isinstance(records, dict):
        raise VariantError(f"{path} must hold an object of variant -> record")
    return records


def write_variant(directory: Path, record: dict) -> Path:
    """Add or replace ``record["variant"]``'s record in the checkpoint's variants.json."""
    records = read_variants(directory)
    records[record["variant"]] = record
    path = Path(directory) / VARIANTS_FILE
    path.write_text(json.dumps(records, indent=2) + "\n")
    return path


def check_variant(directory: Path, variant: str, backbone: dict) -> dict:
    """The checkpoint's passed record for ``variant`` (refused: missing, failed, other heads or backbone)."""
    command = f"python -m model.fit_variant --checkpoint {directory} --variant {variant}"
    record = read_variants(directory).get(variant)
    if record is None:
        raise VariantError(f"checkpoint {directory} was not measured with the {variant} backbone: run `{command}`")
    if not record.get("passed"):
        raise VariantError(f"checkpoint {directory} failed the accuracy gate with {variant} "
                           f"({record.get('gate', {}).get('failures')}): serve it with MICRO_BACKEND=torch")
    if record.get("heads_sha256") != heads_sha256(directory):
        raise VariantError(f"checkpoint {directory}'s heads changed since {variant} was measured on them: run `{command}`")
    if not same_backbone(record.get("backbone") or {}, backbone):
        raise VariantError(f"checkpoint {directory}'s {variant} record was measured on backbone {record.get('backbone')}, "
                           f"not {backbone}: run `{command}`")
    measured = record.get("gate", {}).get("stated", {}).get("routing")
    if measured is not None and measured != routing_strengths(directory):  # records before the stated check: none
        raise VariantError(f"checkpoint {directory}'s routing changed since {variant} was measured with it "
                           f"({measured} then, {routing_strengths(directory)} now): run `{command}`")
    return record


def routing_strengths(directory: Path) -> dict[str, float]:
    """The routing settings a stated user's weights depend on (the gate's stated check measured them)."""
    routing = read_config(directory).routing_config()
    return {"prior_strength": float(routing.prior_strength), "context_strength": float(routing.context_strength)}


def cpu_has_bf16() -> bool:
    """The CPU has bf16 dot-product instructions (AVX-512 BF16 or AMX): without them bf16 is slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def auto_backend(directory: Path, backbone: dict, device: str) -> tuple[str, str]:
    """(backend, why) for MICRO_BACKEND=auto: torch-bf16 on a CPU with bf16 instructions when the
    checkpoint has a passed, current record for it; else torch (fp32 on CPU; on a GPU the dtype
    setting picks bf16/fp16 as before)."""
    if device.startswith("cuda"):
        return "torch", "a GPU: MICRO_DTYPE picks the GPU's dtype"
    if not cpu_has_bf16():
        return "torch", "this CPU has no bf16 instructions (avx512_bf16 / amx_bf16)"
    try:
        check_variant(directory, "torch-bf16", backbone)
    except VariantError as exc:
        return "torch", str(exc)
    return "torch-bf16", "the checkpoint passed the torch-bf16 accuracy gate"
