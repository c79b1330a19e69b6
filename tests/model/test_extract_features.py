"""python -m model.extract_features: 2 gloo processes (torchrun) write the features 1 process writes
and the fit from either gives the same heads; a stopped or killed run resumes without recomputing its
complete shards; a fit refuses features of another recipe, of other rows, or incomplete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from model.backbone import Encoder
from model.checkpoint import WEIGHTS_FILE
from model.data import PreferencePair
from model.feature_shards import MANIFEST, read_features, recipe_id, shard_paths
from model.extract_features import main as extract_main
from model.features import embed_pairs
from model.paths import REPO_ROOT
from model.train import main as train_main
from tests.model.pair_fixtures import write
from tests.model.tiny_models import build_tiny_llama, tiny_rows

ROWS, SHARD_ROWS = 48, 8  # 6 shards: 3 per rank with 2 processes
LAUNCHER = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]  # torchrun, 2 gloo processes
FIT = ["--heads", "2", "--restarts", "1", "--max-steps", "200", "--threads", "1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    data = write(root / "pairs.jsonl", tiny_rows(ROWS, seed=7))
    return {"backbone": build_tiny_llama(root / "tiny-llama"), "data": data, "root": root}


def extraction(setup: dict, out: Path, *extra: str) -> list[str]:
    return ["-m", "model.extract_features", "--data", str(setup["data"]), "--backbone", str(setup["backbone"]),
            "--out", str(out), "--shard-rows", str(SHARD_ROWS), "--threads", "1", *extra]


def run(args: list[str]) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    done = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
                          check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def one_and_two(setup):
    """The same extraction by one plain process and by torchrun with 2 gloo processes."""
    one, two = setup["root"] / "one", setup["root"] / "two"
    summary_one, _ = run(extraction(setup, one))
    summary_two, log_two = run([*LAUNCHER, *extraction(setup, two)])
    return {"one": one, "two": two, "summary_one": summary_one, "summary_two": summary_two, "log_two": log_two}


def shard_tensors(directory: Path) -> list[dict[str, torch.Tensor]]:
    return [torch.load(p, weights_only=True) for p in sorted(directory.glob("shard-*.pt"))]


def max_difference(a: Path, b: Path) -> float:
    left, right = shard_tensors(a), shard_tensors(b)
    assert len(left) == len(right) == ROWS // SHARD_ROWS
    return max(float((x[k] - y[k]).abs().max()) for x, y in zip(left, right) for k in ("chosen", "rejected", "prompt"))


def pairs_and_encoder(setup: dict) -> tuple[list[PreferencePair], Encoder]:
    from model.train_data import prepare_data

    return prepare_data([str(setup["data"])]).pairs, Encoder(setup["backbone"], device="cpu")


def test_two_gloo_processes_write_the_features_of_one_process(setup, one_and_two):
    two = one_and_two["summary_two"]
    assert one_and_two["summary_one"]["processes"] == 1 and two["processes"] == 2
    assert two["shards"] == two["shards_complete"] == two["shards_computed"] == ROWS // SHARD_ROWS
    assert two["pairs_computed"] == ROWS and two["shards_skipped"] == 0
    log = one_and_two["log_two"]
    assert all(f"rank {s % 2}: shard {s} " in log for s in range(ROWS // SHARD_ROWS))  # shard s on rank s mod 2
    assert max_difference(one_and_two["one"], one_and_two["two"]) <= 1e-5
    one_manifest = json.loads((one_and_two["one"] / MANIFEST).read_text())
    assert one_manifest == json.loads((one_and_two["two"] / MANIFEST).read_text())
    assert len(one_manifest["row_ids"]) == ROWS and one_manifest["recipe"]["fingerprint"]


def test_the_merged_features_are_those_of_the_cached_single_process_path(setup, one_and_two, tmp_path):
    pairs, encoder = pairs_and_encoder(setup)
    merged = read_features(one_and_two["two"], pairs, encoder.info)
    cached = embed_pairs(pairs, encoder, tmp_path / "cache", progress=False)
    for name in ("chosen", "rejected", "prompt"):
        assert torch.allclose(getattr(merged, name), getattr(cached, name), atol=1e-5)


def test_the_fit_from_two_processes_features_has_the_heads_of_one_process(setup, one_and_two, tmp_path):
    heads = {}
    for name in ("one", "two"):
        out = tmp_path / f"ck-{name}"
        train_main(["--data", str(setup["data"]), "--backbone", str(setup["backbone"]), "--features-dir",
                    str(one_and_two[name]), "--out", str(out), "--cache-dir", str(tmp_path / "unused"), *FIT])
        heads[name] = load_file(str(out / WEIGHTS_FILE))
        assert json.loads((out / "config.json").read_text())["training"]["features_dir"] == str(one_and_two[name])
    assert not (tmp_path / "unused").exists() or not any((tmp_path / "unused").rglob("shard-*.pt"))  # nothing embedded
    for key, value in heads["one"].items():
        assert torch.allclose(value, heads["two"][key], atol=1e-6), key


def test_a_stopped_or_killed_run_resumes_on_two_processes_skipping_complete_shards(setup, one_and_two, capsys):
    out = setup["root"] / "resumed"
    first, _ = run(extraction(setup, out, "--max-shards", "1"))  # stops after one shard, as a run killed there
    assert first["shards_computed"] == 1 and first["shards_complete"] == 1
    kept = shard_paths(out, 0)[0].stat()
    # a kill in the middle of shard 1 leaves a temporary file; one between shard 2's two renames, a .pt alone
    shard_paths(out, 1)[0].with_name("shard-00001.pt.tmp-999").write_bytes(b"half a file")
    shard_paths(out, 2)[0].write_bytes(b"tensors without a manifest")
    again, log = run([*LAUNCHER, *extraction(setup, out)])  # resumed with 2 processes: any N
    assert again["processes"] == 2 and again["shards_skipped"] == 1
    assert again["shards_computed"] == ROWS // SHARD_ROWS - 1
    assert "shard 0 " not in log and "rank 1: shard 1 " in log and "rank 0: shard 2 " in log
    after = shard_paths(out, 0)[0].stat()
    assert (after.st_ino, after.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)  # not rewritten
    assert not list(out.glob("*.tmp-*"))
    assert max_difference(out, one_and_two["one"]) <= 1e-5
    extract_main(extraction(setup, out)[2:])  # once more, in this process: nothing left to do
    last = json.loads(capsys.readouterr().out)
    assert last["shards_skipped"] == ROWS // SHARD_ROWS and last["shards_computed"] == 0


def test_a_run_from_before_the_weights_digest_resumes_and_reads(setup, capsys):
    """A directory whose manifest and shard were written before backbone records carried the weights digest: the
    resume keeps its recipe (skips the complete shard, writes the rest under it) and the fit reads every shard."""
    out = setup["root"] / "legacy"
    run(extraction(setup, out, "--max-shards", "1"))
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["recipe"].pop("weights")  # what an extraction from before the digest wrote
    (out / MANIFEST).write_text(json.dumps(manifest) + "\n")
    meta_path = shard_paths(out, 0)[1]
    meta = json.loads(meta_path.read_text())
    meta["recipe_id"] = recipe_id(manifest["recipe"])
    meta_path.write_text(json.dumps(meta) + "\n")
    extract_main(extraction(setup, out)[2:])
    summary = json.loads(capsys.readouterr().out)
    assert summary["shards_skipped"] == 1 and summary["shards_computed"] == ROWS // SHARD_ROWS - 1
    pairs, encoder = pairs_and_encoder(setup)
    features = read_features(out, pairs, encoder.info)
    assert features.chosen.shape[0] == ROWS


def fit_error(setup: dict, features: Path, tmp_path: Path, capsys, *extra: str, data: Path | None = None) -> str:
    with pytest.raises(SystemExit) as info:
        train_main(["--data", str(data or setup["data"]), "--backbone", str(setup["backbone"]), "--features-dir",
                    str(features), "--out", str(tmp_path / "ck"), *FIT, *extra])
    assert info.value.code == 2 and not (tmp_path / "ck").exists()
    return capsys.readouterr().err


def test_a_fit_refuses_another_recipe_other_rows_and_missing_shards(setup, one_and_two, tmp_path, capsys):
    err = fit_error(setup, one_and_two["one"], tmp_path, capsys, "--pooling", "mean")
    assert "another backbone or feature recipe" in err and "pooling 'last' -> 'mean'" in err
    other = write(tmp_path / "other.jsonl", tiny_rows(ROWS, seed=8))
    err = fit_error(setup, one_and_two["one"], tmp_path, capsys, data=other)
    assert "are of other rows" in err and "first different row 1" in err and str(setup["data"]) in err
    partial = tmp_path / "partial"
    partial.mkdir()
    for path in one_and_two["one"].iterdir():
        if path.name != "shard-00003.json":
            (partial / path.name).write_bytes(path.read_bytes())
    err = fit_error(setup, partial, tmp_path, capsys)
    assert "1 of 6 shards" in err and "(3)" in err and "run the extraction again" in err


def test_an_extraction_refuses_to_resume_into_features_of_another_recipe(setup, one_and_two, capsys):
    with pytest.raises(SystemExit) as info:
        extract_main(extraction(setup, one_and_two["one"], "--max-length", "64")[2:])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "holds features of another extraction" in err and "max_length 256 -> 64" in err


@pytest.mark.parametrize("flags", [[], ["--backbone", "/models/other"], ["--layers", "2,4"], ["--keep-score-head"]])
def test_the_extraction_reads_the_hidden_states_the_fit_reads_by_default(flags):
    from model.extract_features import parse_args as extraction_args
    from model.train import parse_args as fit_args

    extraction, fit = extraction_args(["--out", "features", *flags]), fit_args(flags)
    assert (extraction.layers, extraction.layer_combine) == (fit.layers, fit.layer_combine)
    assert (extraction.layers == "all") == (not flags)  # the default backbone: the shipped recipe's hidden states
