"""Markdown tables of the personalization report (python -m evaluation.curves)."""

from __future__ import annotations

import os


def mean(values) -> float:
    values = list(values)
    return sum(values) / max(1, len(values))


def render_tables(*, table, chosen, hedge, curves, flat, ceiling, cold, images, orders, pool, seconds, version,
                  grid, sparse, dense, select_at, contexts, labels_to_reach, fmt, report_dir, prior_strength=1.0) -> list[str]:
    types = sorted(flat)
    datasets = sorted({t.split("/")[0] for t in types})
    lines = [
        "## Learning curves (offline simulation, same routing update as the service)",
        "",
        "Reproduce (a few minutes on 2 CPU cores once embeddings are cached; `--write-checkpoint` also stores",
        "the chosen routing defaults in the checkpoint):",
        "",
        "    .venv/bin/python -m evaluation.curves",
        "",
        f"Checkpoint `{version}`. A fresh user of each type posts n labels drawn at random from the **train**",
        f"split pairs of their type ({orders} random orders = {orders} simulated users); we then measure the",
        "pairwise accuracy of their personalised mixture on that type's **test** pairs (mean ± sd over users).",
        "",
        "Routing chosen on train-only users (labels from the fit slice, accuracy on the validation slice,",
        f"mean over n in {select_at} and all user types): **mode {chosen.mode}, tau {chosen.tau:g}"
        + (f", eta {chosen.eta:g}" if chosen.mode == "mirror" else "") + "**. "
        f"The router's logits weigh {prior_strength:g} in a user's logits (the checkpoint's `routing.prior_strength`, "
        "chosen by `python -m evaluation.online_choice`), as the service weighs them"
        + (": 0 starts every user uniform over the heads, so the router, and a stated context read by it, "
           "change nothing here; the context's pseudo-label still does." if prior_strength == 0 else "."),
        "",
    ]
    for dataset in datasets:
        mine = [t for t in types if t.startswith(dataset + "/")]
        lines += [f"### {dataset}", "", "| user type | method | " + " | ".join(f"n={n}" for n in sparse) + " |",
                  "|---|---|" + "---|" * len(sparse)]
        for u in mine:
            lines.append(f"| {u.split('/')[1]} | single BT | " + " | ".join(f"{flat[u]:.3f}" for _ in sparse) + " |")
            for name, per_type in curves.items():
                lines.append(f"| | {name} | " + " | ".join(fmt(per_type[u], n) for n in sparse) + " |")
            lines.append("| | stage-1 head chosen on validation (ceiling) | " + " | ".join(f"{ceiling[u]:.3f}" for _ in sparse) + " |")
        online = curves["MiCRo online"]
        avg = {n: mean(float(online[u][:, dense.index(n)].mean()) for u in mine) for n in sparse}
        ceil = mean(ceiling[u] for u in mine)
        bt = mean(flat[u] for u in mine)
        lines += ["", f"Mean over {dataset} user types: single BT {bt:.3f}; ceiling {ceil:.3f}; MiCRo online "
                  + ", ".join(f"n={n}: {avg[n]:.3f} ({avg[n] / ceil:.0%} of ceiling)" for n in sparse) + ".", ""]
        for image in images:
            if image.stem.endswith(dataset):
                lines += [f"![{dataset} learning curves]({os.path.relpath(image, report_dir)})", ""]
        lines += _active_table(curves, ceiling, mine, dense, labels_to_reach, pool)
    lines += _sensitivity(table, grid, datasets)
    lines += _cold_start(cold, contexts)
    lines += [f"Measured in {seconds / 60:.1f} minutes on 2 CPU cores.", ""]
    return lines


def _active_table(curves, ceiling, mine, dense, labels_to_reach, pool) -> list[str]:
    random_name, active_name = "MiCRo online", "MiCRo online, active choice"
    out = [f"Labels needed to reach 90 % of the ceiling (random order vs active choice from {pool} candidate pairs; "
           "'>50' = not within 50 labels):", "", "| user type | 90 % of ceiling | random order | active choice |", "|---|---|---|---|"]
    for u in mine:
        target = 0.9 * ceiling[u]
        r = labels_to_reach(curves[random_name][u], dense, target)
        a = labels_to_reach(curves[active_name][u], dense, target)
        out.append(f"| {u.split('/')[1]} | {target:.3f} | {r if r is not None else '>50'} | {a if a is not None else '>50'} |")
    return out + [""]


def _sensitivity(table, grid, datasets) -> list[str]:
    out = ["### Sensitivity to tau and eta (validation users, mean accuracy per dataset over the label counts above)", "",
           "| mode | tau | eta | " + " | ".join(datasets) + " |", "|---|---|---|" + "---|" * len(datasets)]
    for rc in grid:
        cells = []
        for d in datasets:
            vals = [float(c.mean()) for u, c in table[rc].items() if u.startswith(d + "/")]
            cells.append(f"{mean(vals):.3f}")
        eta = f"{rc.eta:g}" if rc.mode == "mirror" else "-"
        out.append(f"| {rc.mode} | {rc.tau:g} | {eta} | " + " | ".join(cells) + " |")
    return out + [""]


def _cold_start(cold, contexts) -> list[str]:
    out = ["### Context-aware cold start (DSP test split, n = 0 labels)", "",
           "The stated context is read by the router (before the prompt); on its own it moves the weights through",
           "the fitted statement logits S, and it acts as one pseudo-label: the heads are asked whether they prefer",
           "the context statement to a neutral one, and the exact Hedge step of that label is added to the user's",
           "logits (both: `model.personal_scoring.with_stated_context`).", "",
           "| user type | stated context | no context | router reads context | + statement logits and pseudo-label |",
           "|---|---|---|---|---|"]
    for u, (plain, routed, full) in cold.items():
        out.append(f"| {u} | {contexts[u]} | {plain:.3f} | {routed:.3f} | {full:.3f} |")
    better = sum(1 for plain, _, full in cold.values() if full > plain)
    return out + ["", f"A stated context improves n = 0 accuracy for {better} of {len(cold)} DSP user types.", ""]
