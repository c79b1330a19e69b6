"""The ONNX Runtime backend: the exported graph computes the encoder's features (fp32 and int8
within the accuracy gate on validation pairs), and a graph of another backbone is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from model.export_onnx import GATE_FILE, encoder_for_checkpoint, export_and_gate  # noqa: E402
from model.onnx_backend import GRAPH_FILES, RECORD_FILE, GraphError, load_graph  # noqa: E402
from model.onnx_gate import MAX_ACCURACY_DROP, MIN_COSINE  # noqa: E402
from model.paths import DEFAULT_CHECKPOINT  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """The shipped checkpoint's heads (the tiny test checkpoint's random heads leave pairs at
    P = 0.5 +- 1e-7, where fp32 rounding alone flips them), graphs exported into a copy."""
    directory = tmp_path_factory.mktemp("onnx") / "ckpt"
    shutil.copytree(DEFAULT_CHECKPOINT, directory, ignore=shutil.ignore_patterns("*.onnx*"))
    encoder = encoder_for_checkpoint(directory)
    results = export_and_gate(directory, encoder, ["dsp"], n_pairs=16, threads=2)
    return directory, encoder, {r.backend: r for r in results}


def test_fp32_graph_passes_the_gate_with_features_equal_to_torch(exported):
    directory, _, results = exported
    fp32 = results["onnx"]
    assert fp32.passed and fp32.min_cosine >= MIN_COSINE
    assert fp32.pairwise == pytest.approx(fp32.pairwise_fp32, abs=MAX_ACCURACY_DROP)
    assert (directory / GRAPH_FILES["onnx"]).is_file()


def test_int8_graph_is_kept_only_when_it_passes_the_gate(exported):
    directory, _, results = exported
    int8 = results["onnx-int8"]
    assert (directory / GRAPH_FILES["onnx-int8"]).is_file() == int8.passed
    assert int8.min_cosine > 0.9  # dynamic int8 stays close even when the strict gate is not met
    gate = json.loads((directory / GATE_FILE).read_text())
    assert {g["backend"]: g["passed"] for g in gate["gates"]} == {b: r.passed for b, r in results.items()}


def test_service_forward_on_the_graph_matches_torch(exported):
    import torch

    from service.inference.embedder import encoder_forward, tokenize_items

    directory, encoder, _ = exported
    graph = load_graph(directory, "onnx", encoder, threads=1)
    items = tokenize_items(encoder, [("a short text", encoder.max_length),
                                     ("another, longer text " * 20, encoder.max_length),
                                     ("a router text", encoder.router_max_length)])
    got, want = encoder_forward(encoder, graph)(items), encoder_forward(encoder)(items)
    assert torch.nn.functional.cosine_similarity(got, want, dim=-1).min() >= MIN_COSINE


def test_graph_of_another_backbone_is_refused(exported, tmp_path: Path):
    directory, encoder, _ = exported
    copy = tmp_path / "other"
    shutil.copytree(directory, copy)
    record = json.loads((copy / RECORD_FILE).read_text())
    record["backbone"]["pooling"] = "cls"
    (copy / RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(GraphError, match="export it again"):
        load_graph(copy, "onnx", encoder, threads=1)
    with pytest.raises(GraphError, match="export_onnx"):
        load_graph(tmp_path, "onnx", encoder, threads=1)
