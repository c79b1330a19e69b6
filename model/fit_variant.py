"""Measure a backbone variant on a checkpoint and record whether the service may serve it:

    python -m model.fit_variant --checkpoint checkpoints/default --variant torch-bf16

Both forwards (fp32 torch and the variant) embed the checkpoint's validation pairs (model/data.py
is_validation; never the held-out slice, never the test split); the gate compares, per user type
(dsp/academy, business, entertainment, literature; relabeled_hh helpful, harmless; hh_refusals
declines-harmful, declines-wrapped: the checkpoint's data), the mixture's
pairwise accuracy and the best head's accuracy (the personalization figure) within --max-drop
(0.01), the served accuracy of users who state each type's preference (model/stated_gate.py) too,
and each text's cosine against fp32. The record goes into the checkpoint's variants.json
(model/variants.py) with the heads' sha256 and the routing strengths: rerun after the heads change
(e.g. a retrained router) or the prior's or pseudo-label's strength does. Exit 1 when the gate fails (the record then says so and the service refuses the variant).

The heads are not refit: bf16 moves the features by a cosine of ~1e-5, and the gate is what says
whether that is enough. A variant that shifts the features more (int8) would need heads fit on its
own features (``python -m model.train --dtype ...``); none is offered until one is measured to pass.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from model.accuracy import best_head_by_type, mean_by_type, mixture_correct
from model.backbone import Encoder
from model.checkpoint import load_checkpoint, read_config, record_settings
from model.fitting import PairTensors
from model.heads import MixtureRewardModel
from model.onnx_gate import pair_features, validation_pairs
from model.paths import DEFAULT_CHECKPOINT
from model.stated_gate import stated_by_type, stated_examples, stated_margins
from model.variants import VARIANT_DTYPES, heads_sha256, routing_strengths, write_variant

MAX_DROP = 0.01  # absolute accuracy, per user type: pairwise (mixture) and personalization (best head)


def variant_encoder(directory: Path, variant: str, backbone_path: Path | None = None) -> Encoder:
    return Encoder(backbone_path, device="cpu", dtype=VARIANT_DTYPES[variant],
                   **record_settings(read_config(directory).backbone))


def per_type(model: MixtureRewardModel, data: PairTensors, types: list[str]) -> dict[str, dict[str, float]]:
    """Per user type: the mixture's pairwise accuracy and the best head's (index and accuracy)."""
    pairwise = {t: float(v) for t, v in mean_by_type(mixture_correct(model, data), types).items()}
    best = best_head_by_type(model, data, types)
    return {t: {"pairwise": pairwise[t], "best_head": best[t][0], "personal": best[t][1],
                "pairs": types.count(t)} for t in pairwise}


def gate(reference: dict, got: dict, max_drop: float, figures: tuple[str, ...] = ("pairwise", "personal")) -> list[str]:
    """The failures: a user type whose pairwise or personalization accuracy (or stated: the served accuracy of a
    user who states the type's preference) fell by more than max_drop."""
    failures = []
    for t, ref in reference.items():
        for figure in figures:
            if ref[figure] - got[t][figure] > max_drop:
                failures.append(f"{t} {figure} {got[t][figure]:.4f} < fp32 {ref[figure]:.4f} - {max_drop}")
    return failures


def measure(directory: Path, variant: str, n_pairs: int, max_drop: float) -> dict:
    config = read_config(directory)
    pairs = validation_pairs(config.training.get("data", ["dsp", "relabeled_hh"]), n_pairs)
    types = [p.user_type for p in pairs]
    fp32 = variant_encoder(directory, "torch")
    model, checkpoint = load_checkpoint(directory, fp32.info)
    stated = stated_examples(pairs)
    prompts = [fp32.prompt_text(p.prompt, list(p.messages)) if p.messages else p.prompt for p in pairs]
    timings, feats, stated_ok = {}, {}, {}
    for name in ("torch", variant):
        encoder = fp32 if name == "torch" else variant_encoder(directory, variant)
        start = time.perf_counter()
        feats[name] = pair_features(encoder, encoder.forward_tokens, pairs)
        timings[name] = round(3 * len(pairs) / (time.perf_counter() - start), 1)  # texts / s
        stated_ok[name] = stated_margins(model, encoder, encoder.forward_tokens, feats[name], prompts, stated,
                                         checkpoint.routing_config()) > 0
    ref, got = feats["torch"], feats[variant]
    stated_types = {name: stated_by_type(ok, stated) for name, ok in stated_ok.items()}
    cos = torch.cat([torch.nn.functional.cosine_similarity(a, b, dim=-1) for a, b in
                     ((ref.chosen, got.chosen), (ref.rejected, got.rejected), (ref.prompt, got.prompt))])
    by_type = {"torch": per_type(model, ref, types), variant: per_type(model, got, types)}
    failures = gate(by_type["torch"], by_type[variant], max_drop) + gate(stated_types["torch"], stated_types[variant],
                                                                         max_drop, ("stated",))
    overall = {name: float(mixture_correct(model, f).float().mean()) for name, f in feats.items()}
    return {"variant": variant, "heads_sha256": heads_sha256(directory), "backbone": fp32.info.record(),
            "heads": "the checkpoint's (not refit)", "passed": not failures,
            "gate": {"pairs": len(pairs), "slice": "validation (model/data.py is_validation)", "max_drop": max_drop,
                     "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()), "pairwise_all": overall,
                     "by_type": by_type, "stated": {"pairs": len(stated.pairs), "by_type": stated_types,
                                                     "routing": routing_strengths(directory)},
                     "failures": failures, "texts_per_s": timings}}


def render(record: dict) -> str:
    g, v = record["gate"], record["variant"]
    lines = [f"{v} on {g['pairs']} validation pairs: cosine min {g['min_cosine']:.5f} mean {g['mean_cosine']:.6f}; "
             f"pairwise fp32 {g['pairwise_all']['torch']:.4f} {v} {g['pairwise_all'][v]:.4f}; "
             f"texts/s fp32 {g['texts_per_s']['torch']} {v} {g['texts_per_s'][v]}",
             "| user type | pairs | pairwise fp32 | pairwise " + v + " | best head fp32 | best head " + v + " |",
             "|---|---|---|---|---|---|"]
    for t, ref in g["by_type"]["torch"].items():
        got = g["by_type"][v][t]
        lines.append(f"| {t} | {ref['pairs']} | {ref['pairwise']:.4f} | {got['pairwise']:.4f} | "
                     f"{ref['personal']:.4f} (head {ref['best_head']}) | {got['personal']:.4f} (head {got['best_head']}) |")
    if "stated" in g:  # records written before the stated check have none
        lines += ["", f"stated preferences ({g['stated']['pairs']} stated copies of those pairs, each with a validation "
                  "statement of its type, weighed as the service weighs them):", "",
                  f"| stated user type | pairs | fp32 | {v} |", "|---|---|---|---|"]
        for t, ref in g["stated"]["by_type"]["torch"].items():
            lines.append(f"| {t} | {ref['pairs']} | {ref['stated']:.4f} | {g['stated']['by_type'][v][t]['stated']:.4f} |")
    lines.append(f"gate (each within {g['max_drop']}): {'PASSED' if record['passed'] else 'FAILED ' + '; '.join(g['failures'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--variant", default="torch-bf16", choices=[v for v in VARIANT_DTYPES if v != "torch"])
    p.add_argument("--pairs", type=int, default=2000, help="validation pairs (all of them when fewer)")
    p.add_argument("--max-drop", type=float, default=MAX_DROP)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = measure(args.checkpoint, args.variant, args.pairs, args.max_drop)
    path = write_variant(args.checkpoint, record)
    print(render(record))
    print(f"recorded in {path}")
    print(json.dumps({"variant": record["variant"], "passed": record["passed"]}))
    return 0 if record["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
