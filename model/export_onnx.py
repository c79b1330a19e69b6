"""CLI: export a checkpoint's backbone (tokens -> pooled features) as ONNX graphs next to it,
fp32 and int8, each kept only when it passes the accuracy gate (model/onnx_gate.py).

    python -m model.export_onnx --checkpoint checkpoints/default          # needs: pip install -e ".[onnx]"

Writes backbone.onnx, backbone.int8.onnx, backbone.onnx.json (the BackboneInfo they serve) and
backbone.onnx.gate.json (the gate's figures). A graph that fails the gate is deleted and the
command exits 1, so the service can never load it (MICRO_BACKEND=onnx | onnx-int8).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from model.backbone import Encoder

from model.checkpoint import load_checkpoint, read_config, record_settings
from model.onnx_backend import GRAPH_FILES, export_graph, load_graph, quantize_graph
from model.onnx_gate import GateResult, pair_features, run_gate, validation_pairs
from model.paths import DEFAULT_CHECKPOINT

GATE_FILE = "backbone.onnx.gate.json"


def encoder_for_checkpoint(
    directory: Path, backbone_path: Path | None = None, backbone_id: str | None = None
) -> Encoder:
    """The fp32 cpu encoder a checkpoint was trained with (windows, pooling, layers, template)."""
    return Encoder(backbone_path, backbone_id=backbone_id, device="cpu", dtype="float32",
                   **record_settings(read_config(directory).backbone))


def export_and_gate(directory: Path, encoder: Encoder, datasets: list[str], n_pairs: int,
                    threads: int) -> list[GateResult]:
    """Export both graphs, gate each against fp32 torch; delete the ones that fail; write the
    gate's figures (GATE_FILE)."""
    start = time.perf_counter()
    model, _ = load_checkpoint(directory, encoder.info)
    export_graph(encoder, directory)
    quantize_graph(directory)
    pairs = validation_pairs(datasets, n_pairs)
    reference = pair_features(encoder, encoder.forward_tokens, pairs)
    results = []
    for backend in GRAPH_FILES:
        graph = load_graph(directory, backend, encoder, threads)
        results.append(run_gate(encoder, model, graph, pairs, backend, reference))
        if not results[-1].passed:
            (directory / GRAPH_FILES[backend]).unlink()
    record = {"data": datasets, "seconds": round(time.perf_counter() - start, 1), "threads": threads,
              "gates": [r.record() for r in results]}
    (directory / GATE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                   help="the checkpoint directory (graphs go here)")
    p.add_argument("--backbone-path", type=Path, help="local HF model dir (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--backbone-id", help="the name the checkpoint records, when --backbone-path is set")
    p.add_argument("--data", default=None,
                   help="gate data sets, comma separated (default: the checkpoint's training data)")
    p.add_argument("--gate-pairs", type=int, default=400, help="validation pairs the gate reads (one flip = 1/N)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="ONNX Runtime intra-op threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    directory = args.checkpoint
    training = read_config(directory).training.get("data", ["dsp"])
    datasets = args.data.split(",") if args.data else (training if isinstance(training, list) else ["dsp"])
    results = export_and_gate(directory, encoder_for_checkpoint(directory, args.backbone_path, args.backbone_id),
                              datasets, args.gate_pairs, args.threads)
    for r in results:
        print(f"{r.backend:10s} {'passed' if r.passed else 'FAILED (graph deleted)'}: cosine min {r.min_cosine:.4f} "
              f"mean {r.mean_cosine:.4f}; pairwise {r.pairwise:.4f} (fp32 {r.pairwise_fp32:.4f}); "
              f"personalization {r.personal:.4f} (fp32 {r.personal_fp32:.4f}); {r.pairs} validation pairs")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
