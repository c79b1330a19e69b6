"""How high can own-style top-1 of five go on these features? Per DSP user type, on the validation slice of
train: each stage-1 head alone, the best mix of the heads (softmax weights fitted on the fit slice with the
served score's Bradley-Terry loss), and a linear head fitted on the type's own fit-slice pairs WITH the type
known (supervised: a reference, not something a new user gets). Chooses nothing; test split untouched.

    .venv/bin/python -m evaluation.top1_ceiling [--checkpoint DIR]
"""

from __future__ import annotations


from pathlib import Path

import torch
import torch.nn.functional as F

from evaluation.checkpoint_cli import checkpoint_command
from model.backbone import Encoder
from model.data import DSP_DOMAINS, dsp_pairs_of, is_validation, load_dsp_items
from model.features import embed_pairs


def five(items, domain: str, encoder: Encoder, cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, D) the type's own response, (Q, 4, D) the four others, per query."""
    t = embed_pairs([p for it in items for p in dsp_pairs_of(it, domain)], encoder, cache_dir, progress=False)
    return t.chosen.view(len(items), 4, -1)[:, 0], t.rejected.view(len(items), 4, -1)


def top1(own: torch.Tensor, others: torch.Tensor) -> float:
    """(Q,), (Q, 4) scores -> share of queries where the own response scores above all four."""
    return float((own[:, None] > others).all(1).float().mean())


def fitted(x: torch.Tensor, params: torch.Tensor, score, steps: int = 300, lr: float = 0.01, wd: float = 0.0):
    opt = torch.optim.Adam([params], lr=lr, weight_decay=wd)
    for _ in range(steps):
        opt.zero_grad()
        (-F.logsigmoid(score(x, params)).mean()).backward()
        opt.step()
    return params.detach()


def main(argv: list[str] | None = None) -> None:
    args, encoder, model = checkpoint_command("python -m evaluation.top1_ceiling", __doc__, argv)
    items = load_dsp_items(split="train")
    fit_items, val_items = [i for i in items if not is_validation(i.prompt)], [i for i in items if is_validation(i.prompt)]
    print(f"| user type | best single head | best mix of heads | supervised linear head (reference) |  ({len(val_items)} "
          "validation queries)\n|---|---|---|---|")
    rows = []
    for domain in DSP_DOMAINS:
        own, others = five(val_items, domain, encoder, args.cache_dir)
        f_own, f_others = five(fit_items, domain, encoder, args.cache_dir)
        with torch.no_grad():
            r_own, r_oth = model.rewards(own), model.rewards(others.flatten(0, 1)).view(len(val_items), 4, -1)
            fr_own = model.rewards(f_own)
            fr_oth = model.rewards(f_others.flatten(0, 1)).view(len(fit_items), 4, -1)
        single = max(top1(r_own[:, k], r_oth[:, :, k]) for k in range(model.num_heads))
        diffs = (fr_own[:, None] - fr_oth).flatten(0, 1)  # (Q*4, K)
        z = fitted(diffs, torch.zeros(model.num_heads, requires_grad=True), lambda x, z: x @ torch.softmax(z, 0), lr=0.05)
        w = torch.softmax(z, 0)
        mix = top1(r_own @ w, r_oth @ w)
        x = (f_own[:, None] - f_others).flatten(0, 1)
        h = fitted(x, torch.zeros(x.shape[1], requires_grad=True), lambda x, h: x @ h, wd=0.01)
        supervised = top1(own @ h, others @ h)
        rows.append((single, mix, supervised))
        print(f"| {domain} | {single:.3f} | {mix:.3f} | {supervised:.3f} |")
    means = [sum(r[i] for r in rows) / len(rows) for i in range(3)]
    print(f"| **mean** | {means[0]:.3f} | {means[1]:.3f} | {means[2]:.3f} |")


if __name__ == "__main__":
    main()
