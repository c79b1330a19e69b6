"""Precomputed pair features as shards on disk: what ``python -m model.extract_features`` writes
(one or many processes, torch.distributed) and ``python -m model.train --features-dir`` reads.

A directory holds:

    manifest.json     the plan: the feature recipe (the backbone record, as a checkpoint keeps it:
                      identity + fingerprint, pooling, windows, chat template, score head, layers, weights
                      digest: compared when both sides carry it),
                      the weights' dtype, one row id per pair in data order, the shard size and count
    shard-00000.pt    chosen, rejected, prompt: (n, d) float32 features of its rows, in row order
    shard-00000.json  the shard's manifest, written last: its rows, their ids, counts, the recipe id,
                      the .pt file's bytes and sha256

Shard s holds rows [s * shard_rows, (s + 1) * shard_rows): the layout depends on the data and the
shard size, never on the number of processes, so N processes write the files one process writes.
Both files of a shard go to a temporary name first and are renamed (atomic), the .pt before the
.json: a shard is complete when its .json names its rows and its .pt has the bytes recorded there.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from model.backbone import BackboneInfo
from model.data import PreferencePair
from model.fitting import PairTensors

FORMAT = 1
MANIFEST = "manifest.json"
TENSORS = ("chosen", "rejected", "prompt")


class FeatureShardError(RuntimeError):
    """A features directory that is missing, incomplete, or made from other data or another recipe."""


def row_id(pair: PreferencePair) -> str:
    """A row's identity: a hash of everything its features are computed from (prompt or messages,
    both responses, stated context); user ids, weights and labels are not part of it."""
    raw = json.dumps([pair.prompt, pair.messages, pair.chosen, pair.rejected, pair.context], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def recipe_id(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ShardPlan:
    recipe: dict[str, Any]  # BackboneInfo.record(): how texts are read and which hidden states are kept
    dtype: str  # the backbone weights' dtype the features were computed in
    dim: int  # features per text
    row_ids: list[str]  # one per pair, in data order
    shard_rows: int
    sources: list[str]  # the --data values (for messages only: rows are matched by id)
    format: int = FORMAT

    @property
    def num_shards(self) -> int:
        return math.ceil(len(self.row_ids) / self.shard_rows)

    def rows_of(self, shard: int) -> range:
        return range(shard * self.shard_rows, min(len(self.row_ids), (shard + 1) * self.shard_rows))

    def differences(self, other: ShardPlan) -> list[str]:
        """What ``other`` (a new run's plan) changes in this one (the plan on disk), in words."""
        out = [f"{name} {getattr(self, name)!r} -> {getattr(other, name)!r}"
               for name in ("format", "dtype", "dim", "shard_rows") if getattr(self, name) != getattr(other, name)]
        out += recipe_differences(self.recipe, other.recipe)
        if self.row_ids != other.row_ids:
            out.append(rows_difference(self.row_ids, other.row_ids))
        return out


def plan_for(pairs: Sequence[PreferencePair], info: BackboneInfo, dtype: torch.dtype, shard_rows: int,
             sources: Sequence[str]) -> ShardPlan:
    if shard_rows < 1:
        raise FeatureShardError(f"--shard-rows must be at least 1, not {shard_rows}")
    return ShardPlan(recipe=info.record(), dtype=str(dtype).removeprefix("torch."), dim=info.dim,
                     row_ids=[row_id(p) for p in pairs], shard_rows=shard_rows, sources=list(sources))


def recipe_differences(have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    keys = set(have) | set(want)
    if not (have.get("weights") and want.get("weights")):
        keys.discard("weights")  # one side written before the weights digest: compared on the rest
    return [f"{key} {have.get(key)!r} -> {want.get(key)!r}" for key in sorted(keys) if have.get(key) != want.get(key)]


def rows_difference(have: Sequence[str], want: Sequence[str]) -> str:
    first = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
    return f"rows: {len(have)} -> {len(want)}, first different row {first + 1}"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_plan(directory: Path) -> ShardPlan:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FeatureShardError(f"{directory} has no {MANIFEST}: not a features directory "
                                "(python -m model.extract_features)")
    try:
        plan = ShardPlan(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise FeatureShardError(f"{path} is corrupt: {exc}") from exc
    if plan.format != FORMAT:
        raise FeatureShardError(f"{path}: features format {plan.format} is not supported (expected {FORMAT})")
    return plan


def write_plan(directory: Path, plan: ShardPlan) -> None:
    """Start a features directory, or check that the one there was made by the same plan (a resume)."""
    directory = Path(directory)
    if (directory / MANIFEST).is_file():
        changes = read_plan(directory).differences(plan)
        if changes:
            raise FeatureShardError(f"{directory} holds features of another extraction ({'; '.join(changes)}): "
                                    "use another --out, or delete it to start over")
        return
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / MANIFEST, (json.dumps(asdict(plan)) + "\n").encode("utf-8"))


def shard_paths(directory: Path, shard: int) -> tuple[Path, Path]:
    base = Path(directory) / f"shard-{shard:05d}"
    return base.with_suffix(".pt"), base.with_suffix(".json")


def _shard_meta(directory: Path, plan: ShardPlan, shard: int) -> dict[str, Any] | None:
    """The shard's manifest when the shard is complete under this plan, else None."""
    tensors, meta_path = shard_paths(directory, shard)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        size = tensors.stat().st_size
    except (OSError, json.JSONDecodeError):
        return None
    rows = plan.rows_of(shard)
    if meta.get("rows") != [rows.start, rows.stop] or meta.get("recipe_id") != recipe_id(plan.recipe):
        return None
    return meta if meta.get("bytes") == size and meta.get("row_ids") == plan.row_ids[rows.start:rows.stop] else None


def is_complete(directory: Path, plan: ShardPlan, shard: int) -> bool:
    return _shard_meta(directory, plan, shard) is not None


def write_shard(directory: Path, plan: ShardPlan, shard: int, features: PairTensors, texts: int) -> None:
    """The shard's tensors, then its manifest (each to a temporary file renamed over the name)."""
    tensors_path, meta_path = shard_paths(directory, shard)
    meta_path.unlink(missing_ok=True)  # an older, incomplete attempt
    for stale in Path(directory).glob(f"{tensors_path.stem}.*.tmp-*"):
        stale.unlink(missing_ok=True)  # left by a killed attempt
    rows = plan.rows_of(shard)
    buffer = io.BytesIO()
    torch.save({name: getattr(features, name).float().contiguous() for name in TENSORS}, buffer)
    data = buffer.getvalue()
    _write_atomic(tensors_path, data)
    meta = {"shard": shard, "rows": [rows.start, rows.stop], "count": len(rows), "texts_encoded": texts,
            "row_ids": plan.row_ids[rows.start:rows.stop], "recipe_id": recipe_id(plan.recipe), "dtype": plan.dtype,
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    _write_atomic(meta_path, (json.dumps(meta) + "\n").encode("utf-8"))


def read_shard(directory: Path, plan: ShardPlan, shard: int) -> PairTensors:
    meta = _shard_meta(directory, plan, shard)
    tensors_path, _ = shard_paths(directory, shard)
    if meta is None:
        raise FeatureShardError(f"{tensors_path} is not complete")
    data = tensors_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise FeatureShardError(f"{tensors_path} does not match the sha256 its manifest records: delete both files "
                                "and run the extraction again")
    loaded = torch.load(io.BytesIO(data), weights_only=True)
    shape = (meta["count"], plan.dim)
    if any(tuple(loaded[name].shape) != shape for name in TENSORS):
        raise FeatureShardError(f"{tensors_path}: tensors of shape {tuple(loaded['chosen'].shape)}, expected {shape}")
    return PairTensors(*(loaded[name] for name in TENSORS))


def read_features(directory: Path, pairs: Sequence[PreferencePair], info: BackboneInfo) -> PairTensors:
    """The features of ``pairs`` (in their order) from a complete directory whose recipe is ``info``'s;
    FeatureShardError, in words, when the recipe, the rows or any shard do not fit."""
    plan = read_plan(directory)
    changes = recipe_differences(plan.recipe, info.record())
    if changes:
        raise FeatureShardError(f"the features in {directory} were extracted with another backbone or feature recipe "
                                f"(extraction -> this run: {'; '.join(changes)}): train with the extraction's backbone "
                                "flags, or extract again")
    ids = [row_id(p) for p in pairs]
    if ids != plan.row_ids:
        raise FeatureShardError(f"the features in {directory} are of other rows (extraction -> this run: "
                                f"{rows_difference(plan.row_ids, ids)}): train on the extraction's data "
                                f"(--data {' --data '.join(plan.sources)})")
    missing = [s for s in range(plan.num_shards) if not is_complete(directory, plan, s)]
    if missing:
        listed = ", ".join(str(s) for s in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise FeatureShardError(f"{len(missing)} of {plan.num_shards} shards in {directory} are not complete "
                                f"({listed}): run the extraction again, it computes only those")
    parts = [read_shard(directory, plan, s) for s in range(plan.num_shards)]
    return PairTensors(*(torch.cat([getattr(p, name) for p in parts]) for name in TENSORS))
