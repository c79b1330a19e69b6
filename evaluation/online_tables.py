"""Markdown of python -m evaluation.online_choice: policies chosen on validation, test curves
with 95 % bootstrap intervals over prompts, active criteria against random, holdout refusals."""

from __future__ import annotations

import torch

from evaluation.bootstrap import prompt_bootstrap
from evaluation.online_policy import REPORT_AT, SELECT_AT

TOP_GRID_ROWS = 8


def render(policies, named, table, curves, prompts, active, refusals, args, argv, version, note: str) -> list[str]:
    command = "python -m evaluation.online_choice" + ("" if not argv else " " + " ".join(argv))

    lines = [
        "## Online personalization, chosen on validation users, scored on test", "",
        f"    .venv/bin/{command}", "",
        f"Checkpoint version `{version}`. Simulated users: a fresh user of one type posts n labels drawn at random "
        "from that type's pairs, then every held-out pair of the type is scored with their weights. **Choices** "
        f"(update rule, tau, eta, prior, active criterion) use users built from the train split only: labels from its "
        f"fit slice, outcomes on its validation slice, mean over user types and n in {SELECT_AT} ({args.select_orders} "
        f"users per type and policy). **Figures**: labels from the train split, outcomes on the test split, "
        f"{args.orders} users per type; mean over a data set's user types with a 95 % bootstrap interval over test "
        "prompts (a prompt's pairs resampled together).", "",
        "### Policies (validation score = mean validation accuracy over types and label counts)", "",
        "| policy | update | validation score |", "|---|---|---|",
        *[f"| {name} | {pol.label()} | {named[pol]:.4f} |" for name, pol in policies.items()], "",
        f"Top {TOP_GRID_ROWS} of the grid on validation:", "", "| update, prior | validation score |", "|---|---|",
        *[f"| {pol.label()} | {score:.4f} |" for pol, score in sorted(table.items(), key=lambda kv: -kv[1])[:TOP_GRID_ROWS]], "",
    ]
    datasets = sorted({u.split("/")[0] for u in prompts})
    for ds in datasets:
        types = [u for u in prompts if u.startswith(ds + "/")]
        lines += [f"### {ds}: test accuracy after n labels (mean over types [95 % CI])", "",
                  "| policy | " + " | ".join(f"n={n}" for n in REPORT_AT) + " |", "|" + "---|" * (len(REPORT_AT) + 1)]
        for name, per_type in curves.items():
            cells = [str(_interval(per_type, prompts, types, j)) for j in range(len(REPORT_AT))]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _active_lines(active, prompts)
    if refusals is not None:
        per_head = ", ".join(f"{k}: {v:.3f}" for k, v in enumerate(refusals["per_head"]))
        lines += ["### Jailbroken holdout (never trained or tuned on)", "",
                  f"A harmless user after 10 train labels (policy chosen on validation) scores the safe refusal above the "
                  f"jailbroken answer on **{refusals['user']:.3f}** of the {refusals['prompts']} holdout prompts (mean over "
                  f"{args.orders} users). The head chosen for the harmless type on validation (head {refusals['val_head']}) "
                  f"alone: {refusals['val_head_share']:.3f}. Each head alone: {per_head}.", ""]
    lines += [note, ""]
    return lines


def _interval(per_type, prompts, types, j):
    values = torch.cat([per_type[u][j] for u in types])
    return prompt_bootstrap(values, [p for u in types for p in prompts[u]], [u for u in types for _ in prompts[u]])


def _active_lines(active, prompts) -> list[str]:
    at = active["at"]
    out = active["outcomes"]
    lines = ["### Active next query against random (same candidate pools per user)", "",
             "Validation (n=10, mean over types): " + ", ".join(f"{c} {v:.4f}" for c, v in active["validation"].items())
             + f"; chosen on validation: **{active['chosen']}**.", "",
             "Test accuracy per user type; the difference to random carries a 95 % bootstrap interval over prompts.", "",
             "| user type | n | random | entropy drop | label-head information | entropy - random | information - random |",
             "|---|---|---|---|---|---|---|"]
    wins = {c: {n: 0 for n in at} for c in ("entropy", "information")}
    dsp = [u for u in prompts if u.startswith("dsp/")]
    for u in prompts:
        for j, n in enumerate(at):
            base = out["random"][u][j]
            diffs = {c: prompt_bootstrap(out[c][u][j] - base, prompts[u], [u] * len(prompts[u])) for c in wins}
            if u in dsp:
                for c in wins:
                    wins[c][n] += int(diffs[c].value > 0)
            lines.append(f"| {u} | {n} | {float(base.mean()):.3f} | {float(out['entropy'][u][j].mean()):.3f} | "
                         f"{float(out['information'][u][j].mean()):.3f} | {diffs['entropy']} | {diffs['information']} |")
    lines += ["", "DSP types where the criterion beats random (mean difference > 0): "
              + "; ".join(f"{c}: " + ", ".join(f"n={n} {w}/{len(dsp)}" for n, w in per.items()) for c, per in wins.items()), ""]
    return lines
