"""Where a new user's weights go and how wide each head's rewards are, on validation pairs only (chooses
nothing; test split and holdout untouched): per slice (HH red-teaming prompts and HH's other prompts under
HH's own label, the refusal pairs of model/refusal_pairs.py, DSP), each head's agreement with the label, the router's mean weights at strength s = 1, and
the standard deviation of each head's reward difference (a wide head outweighs the others in sum_k w_k r_k).

    .venv/bin/python -m evaluation.router_diagnosis [--checkpoint DIR]
"""

from __future__ import annotations


import torch

from evaluation.checkpoint_cli import checkpoint_command
from model.data import is_validation, load_hh_original, load_pairs
from model.features import embed_pairs


def main(argv: list[str] | None = None) -> None:
    args, encoder, model = checkpoint_command("python -m evaluation.router_diagnosis", __doc__, argv)
    hh = [q for q in load_hh_original(split="train") if is_validation(q.prompt)]
    slices = {"HH red-teaming prompts, HH's label": [q for q in hh if q.user_type == "original-harmless"],
              "HH other prompts, HH's label": [q for q in hh if q.user_type == "original-helpful"],
              "HH red-teaming prompts, a refusal over HH's more harmful answer":
                  [q for q in load_pairs(["hh_refusals"], split="train") if is_validation(q.prompt)],
              "DSP, all four types": [q for q in load_pairs(["dsp"], split="train") if is_validation(q.prompt)]}
    k = model.num_heads
    print("| validation slice | pairs | measure | " + " | ".join(f"head {i}" for i in range(k)) + " |")
    print("|---|---|---|" + "---|" * k)
    for name, pairs in slices.items():
        t = embed_pairs(pairs, encoder, args.cache_dir, progress=False)
        with torch.no_grad():
            diff = model.rewards(t.chosen) - model.rewards(t.rejected)
            each = torch.softmax(model.router(t.prompt), -1)
            mixed = ((each * diff).sum(-1) > 0).float().mean()
        weights = each.mean(0)
        print(f"| {name} | {len(pairs)} | the router's mixture (s = 1) agrees: {mixed:.3f} |" + " |" * k)
        rows = {"agrees with the label": (diff > 0).float().mean(0), "mean router weight (s = 1)": weights,
                "std of reward difference": diff.std(0)}
        for measure, values in rows.items():
            print(f"| {name} | {len(pairs)} | {measure} | " + " | ".join(f"{v:.2f}" for v in values.tolist()) + " |")


if __name__ == "__main__":
    main()
