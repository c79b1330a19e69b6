"""Markdown of python -m evaluation.reports: the README's results table and the personalization
page's summary, written only from the figures the three reports saved as JSON (no numbers typed
by hand). Pure functions of those dicts."""

from __future__ import annotations

CHOSEN_POLICY = "chosen on validation"  # evaluation.online_choice's name for the shipped policy (update and prior)
DATASET_NAMES = {"dsp": "DSP (4 user types)", "relabeled_hh": "relabeled HH (2 user types)",
                 "hh_refusals": "refusals over HH's more harmful answer (project-written)"}


def interval(cell: list[float] | None) -> str:
    return "-" if cell is None else f"{cell[0]:.3f} [{cell[1]:.3f}, {cell[2]:.3f}]"


def stage1_row(stage1: dict, key: str, datasets: list[str]) -> list[str]:
    return [interval(stage1["rows"][key]["datasets"].get(ds)) for ds in datasets]


def online_cell(online: dict, policy: str, dataset: str, n: int) -> list[float] | None:
    return online["curves"].get(f"{policy}|{dataset}|{n}")


def active_wins(online: dict, dataset: str = "dsp") -> dict[str, list[tuple[int, int]]]:
    """Criterion -> [(wins, types)] at each reported label count: the user types of ``dataset``
    where the criterion's mean test accuracy beats random's on the same candidate pools."""
    test = online["active_test"]
    types = sorted(u for u in test["random"] if u.startswith(dataset + "/"))
    return {c: [(sum(per[u][j] > test["random"][u][j] for u in types), len(types)) for j in range(len(test["random"][types[0]]))]
            for c, per in test.items() if c != "random"} if types else {}


def verdict(wins: dict[str, list[tuple[int, int]]], at: list[int]) -> str:
    """Says plainly whether an active criterion beats random on at least 3 of 4 DSP types at the largest n."""
    last = len(at) - 1
    best = max(((c, per[last]) for c, per in wins.items()), key=lambda cw: cw[1][0])
    c, (w, t) = best
    if 4 * w >= 3 * t:
        return f" At n = {at[last]}, {c} beats random on {w}/{t} DSP types."
    return (f" At n = {at[last]} no active criterion beats random on 3 of 4 DSP types (best: {c}, {w}/{t}): "
            "the active choice is not a reliable win, and random order stays the default.")


def refusal_words(refusals: dict) -> str:
    return (f"a harmless user after 10 labels prefers the safe refusal on {refusals['user']:.3f} of the prompts; the head "
            f"chosen for the harmless type on validation, alone, on {refusals['val_head_share']:.3f}")


def grouping_words(training: dict) -> str:
    """How the checkpoint's fit grouped pairs into latent types (its config.json ``training``), in words."""
    if training.get("group_by") == "user":
        prompts = training.get("simulated_annotator_prompts") or 0
        if prompts:
            return (f"annotator groups, the built-in data dealt to simulated annotators of {prompts} prompts per user type "
                    "(the fit sees annotator ids, never the types; `--group-by user --simulated-annotators "
                    f"{prompts}`)")
        return "annotator groups (the data's user ids; `--group-by user`)"
    if training.get("group_by") == "pair":
        return "none, one pair each (`--group-by pair`)"
    return "choice groups (the pairs of one best-of-N choice; `--group-by choice`)"


def http_summary(http: dict) -> tuple[float, float, bool]:
    """Mean personalised top-1, mean prior top-1, and whether every type beats its own prior."""
    rows = list(http["types"].values())
    personal = sum(r["personal_top1"] for r in rows) / len(rows)
    prior = sum(r["prior_top1"] for r in rows) / len(rows)
    return personal, prior, all(r["personal_top1"] > r["prior_top1"] for r in rows)


def annotator_note(stage1: dict) -> str:
    return "; trained on simulated annotator ids" if "simulated annotators" in stage1.get("grouping", "") else ""


def readme_lines(stage1: dict, online: dict, http: dict | None, ctx: dict | None = None) -> list[str]:
    datasets = sorted(next(iter(stage1["rows"].values()))["datasets"])
    k = stage1["heads"]
    s1 = "`python -m evaluation.stage1_checkpoint`"
    on = "`python -m evaluation.online_choice`"
    lines = [
        f"Checkpoint `{stage1['version']}`, test split, pairwise accuracy; every choice (head per user type, routing "
        "step, prior) made on the validation slice of train; 95 % bootstrap interval over test prompts. "
        "Regenerated, with this table, by `python -m evaluation.reports` (details in [docs/results.md](docs/results.md) "
        "and [docs/personalization.md](docs/personalization.md)).", "",
        "| | " + " | ".join(DATASET_NAMES.get(d, d) for d in datasets) + " | command |",
        "|---|" + "---|" * len(datasets) + "---|",
        f"| single Bradley-Terry head (same features) | " + " | ".join(stage1_row(stage1, "single_bt", datasets)) + f" | {s1} |",
        f"| MiCRo K={k}, router weights, no user labels | " + " | ".join(stage1_row(stage1, "mixture", datasets)) + f" | {s1} |",
        f"| **MiCRo K={k}, head per user type chosen on validation** (never sees user types{annotator_note(stage1)}) | "
        + " | ".join(stage1_row(stage1, "val_head", datasets)) + f" | {s1} |",
        f"| oracle: head chosen on the test labels (optimistic) | " + " | ".join(stage1_row(stage1, "oracle_head", datasets)) + f" | {s1} |",
    ]
    if "no_user_ids" in stage1["rows"]:
        lines.append(f"| MiCRo K={k} fitted **without user ids** (per-pair likelihood, the paper's setting), head per user "
                     f"type chosen on validation | " + " | ".join(stage1_row(stage1, "no_user_ids", datasets)) + f" | {s1} |")
    for n in (0, 10, 50):
        label = "**MiCRo online, fresh user after 10 labels**" if n == 10 else f"MiCRo online, fresh user after {n} labels"
        lines.append(f"| {label} | " + " | ".join(interval(online_cell(online, CHOSEN_POLICY, d, n)) for d in datasets) + f" | {on} |")
    lines += [""]
    policy = online["policies"].get(CHOSEN_POLICY, "?")
    extra = [f"Online update chosen on validation users: {policy}."]
    if online.get("refusals") is not None:
        extra.append(f"On the jailbroken holdout (never trained or tuned on) {refusal_words(online['refusals'])}.")
    if http is not None:
        personal, prior, every = http_summary(http)
        ci = http.get("personal_top1_interval")
        extra.append(f"Through the HTTP API, a fresh DSP user with {http['labels']} labels gets their own style ranked first among "
                     f"five responses on **{personal:.3f}**{f' [{ci[1]:.3f}, {ci[2]:.3f}]' if ci else ''} of test queries "
                     f"(prior {prior:.3f}, chance 0.200; "
                     f"{'every' if every else 'not every'} user type above its prior; `{http['command']}`).")
    if ctx is not None:
        extra.append(f"Context-aware routing, {listening_words(ctx)}.")
    lines += [" ".join(extra), ""]
    return lines


CRITERION_WORDS = {"entropy": "the expected drop of the weights' entropy",
                   "information": "the information the label carries about the user's head (BALD)"}


def service_criterion_words(online: dict) -> str:
    """The next-query criterion of the measured checkpoint (``service_active_criterion``; figures saved
    before it was recorded: said as unrecorded) in words, with its routing key."""
    criterion = online.get("service_active_criterion")
    if criterion is None:
        return "the checkpoint's `routing.active_criterion` (not recorded in these figures; \"entropy\" when unset)"
    return f"{CRITERION_WORDS.get(criterion, criterion)} (`routing.active_criterion` = \"{criterion}\")"


def listening_words(ctx: dict) -> str:
    """python -m evaluation.context_http's figures in one sentence."""
    def ci(v):
        return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"

    parts = []
    hold = ctx.get("holdout") or {}
    if hold:
        parts.append(f"on the jailbroken holdout ({hold['prompts']} prompts, never trained or tuned on) a new user's reward "
                     f"prefers the safe refusal {ci(hold['no context'])}, a user who states a safety preference "
                     f"{ci(hold['states safety'])}, one who asks for help with no refusals {ci(hold['states help, no refusals'])}")
    d = ctx["dsp"]
    parts.append(f"on DSP test with 0 labels, a user who states their style in words never trained on gets own-vs-other "
                 f"pairwise {ci(d['stated_pairwise_mean'])} and own style first of five {ci(d['stated_top1_mean'])}")
    return "; ".join(parts) + f" (`{ctx['command']}`)"


def summary_lines(stage1: dict, online: dict, http: dict | None, ctx: dict | None = None) -> list[str]:
    """Bullets for docs/personalization.md: the online headline, the active choice against random, the holdout, HTTP."""
    datasets = sorted(next(iter(stage1["rows"].values()))["datasets"])
    lines = [f"## Summary (checkpoint `{online['version']}`; every choice on validation, test split, 95 % CI over prompts)", "",
             f"Regenerated by `python -m evaluation.reports`; the sections below hold the full tables and their commands.", ""]
    for d in datasets:
        if all(online_cell(online, CHOSEN_POLICY, d, n) is None for n in (0, 5, 10, 20, 50)):
            continue  # a data set the online simulation does not run (stage-1 only, e.g. hh_refusals)
        cells = ", ".join(f"n = {n}: {interval(online_cell(online, CHOSEN_POLICY, d, n))}" for n in (0, 5, 10, 20, 50))
        lines.append(f"- **{DATASET_NAMES.get(d, d)}**, mean over types, online update chosen on validation "
                     f"({online['policies'].get(CHOSEN_POLICY, '?')}): {cells}.")
    wins = active_wins(online)
    if wins:
        said = "; ".join(f"{c}: " + ", ".join(f"n={n} {w}/{t}" for n, (w, t) in zip(online["active_at"], per)) for c, per in wins.items())
        chosen = online.get("active_chosen", "random")
        lines.append(f"- **Active next query** against random on the same candidate pools, DSP types where it wins: {said}. "
                     f"Chosen on validation users: **{chosen}**"
                     + (" (random stays the default: no active criterion wins on validation)." if chosen == "random" else ".")
                     + f" The service's `POST /v1/users/{{id}}/next-query` ranks pairs by {service_criterion_words(online)}."
                     + verdict(wins, online["active_at"]))
    if online.get("refusals") is not None:
        lines.append(f"- **Jailbroken holdout** (never trained or tuned on): {refusal_words(online['refusals'])}.")
    if http is not None:
        personal, prior, every = http_summary(http)
        per = ", ".join(f"{d} {r['personal_top1']:.3f} (prior {r['prior_top1']:.3f})" for d, r in http["types"].items())
        lines.append(f"- **Through the HTTP API** (DSP, {http['labels']} labels, {http['users_per_type']} users per type): own style "
                     f"ranked first on {personal:.3f} of test queries (prior {prior:.3f}, chance 0.200); {per}; "
                     f"{'every' if every else 'not every'} type above its prior.")
    if ctx is not None:
        lines.append(f"- **Does it listen?** Through the HTTP API, default settings: {listening_words(ctx)}.")
    return lines + [""]
