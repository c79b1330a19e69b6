"""Would heads that read a response's words reach issue 26's bars when fitted and served as MiCRo is (types unknown)?

evaluation.feature_ceiling showed a head per user type reading the backbone's features and a TF-IDF block of the
response's words, fitted WITH the type known, reaching the bars. Nothing served reads words, and building that into a
checkpoint changes its format; this measures first whether it would pay. Both fits below use the shipped stage-1
recipe (K = 10, alpha 0.1, weight decay 0.01, annotator groups of 10 prompts, seed 1; one k-means start each where
the shipped fit keeps the best of 3) on train less its validation slice, the shipped checkpoint's features and its
online routing settings (tau, eta, prior strength, chosen on validation for it):

* ``features``: the heads read the backbone's features alone (the shipped recipe, refitted here);
* ``features + words``: the heads read the features and the response's TF-IDF (evaluation/lexical_features.py,
  vocabulary from train-split responses), the block multiplied by a factor chosen on the validation slice with the
  stage-1 criterion (mean over user types of the best head's pair accuracy). The router reads the prompt as before.

Reported on test, 95 % bootstrap intervals over test prompts: the head chosen per user type on validation (what the
served stated routing matched on DSP, 0.784 against 0.785), DSP own-style top-1 of five and HH pairwise with no
labels (the router's prior) and after 10 labels of the type drawn from train (the served online update,
model.routing.update_offset; 20 simulated users). Nothing here is shipped; the test split chooses nothing.

    .venv/bin/python -m evaluation.lexical_mixture [--factors 0.25,1,2,4] [--json .cache/reports/lexical_mixture.json]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from evaluation.bootstrap import Interval, prompt_bootstrap
from evaluation.lexical_features import Vocabulary, fit_vocabulary, tfidf
from evaluation.run_notes import write_json
from model.accuracy import best_head_by_group, head_correct
from model.backbone import Encoder
from model.checkpoint import read_config, record_settings
from model.data import load_pairs
from model.features import embed_pairs
from model.fitting import FitConfig, PairTensors, fit_mixture
from model.heads import MixtureRewardModel
from model.paths import DEFAULT_CHECKPOINT, EMBEDDING_CACHE_DIR
from model.routing import RoutingConfig, update_offset
from model.training_set import TrainingSet, load_training_set

TRAIN_DATA = ("dsp", "relabeled_hh", "hh_refusals")  # the shipped fit's data
TEST_DATA = ("dsp", "relabeled_hh")
LABELS = (0, 10)


@dataclass
class Fitted:
    model: MixtureRewardModel
    factor: float  # the word block's factor (0: no word block)
    criterion: float  # validation: mean over user types of the best head's pair accuracy


def with_words(tensors: PairTensors, pairs: Sequence, vocabulary: Vocabulary | None, factor: float) -> PairTensors:
    """The pairs' features with ``factor`` x TF-IDF of each response beside them; the router reads the prompt's
    features as before (model.fitting gives it their width)."""
    if vocabulary is None:
        return tensors
    words = lambda side: factor * tfidf([getattr(p, side) for p in pairs], vocabulary)  # noqa: E731
    chosen = torch.cat([tensors.chosen, words("chosen")], 1)
    rejected = torch.cat([tensors.rejected, words("rejected")], 1)
    return PairTensors(chosen, rejected, tensors.prompt, tensors.group, tensors.weight)


def validation_criterion(model: MixtureRewardModel, val: TrainingSet, tensors: PairTensors) -> float:
    """Mean over user types of the best head's pair accuracy on the validation slice."""
    best = best_head_by_group(head_correct(model, tensors), val.user_types)
    return sum(acc for _, acc in best.values()) / len(best)


def fit(fit_set: TrainingSet, val_set: TrainingSet, vocabulary: Vocabulary | None, factor: float, cfg: FitConfig,
        ) -> Fitted:
    started = time.time()
    train = with_words(fit_set.tensors, fit_set.pairs, vocabulary, factor)
    val = with_words(val_set.tensors, val_set.pairs, vocabulary, factor)
    model = fit_mixture(train, val, cfg).model
    print(f"  fitted in {(time.time() - started) / 60:.1f} minutes", flush=True)
    return Fitted(model, factor, validation_criterion(model, val_set, val))


@dataclass
class Scored:
    """One set of pairs as the served score sees it: per-head rewards and the router's prior logits."""

    r_chosen: torch.Tensor  # (N, K)
    r_rejected: torch.Tensor  # (N, K)
    prior: torch.Tensor  # (N, K) prior_strength * (R p + b)


@torch.no_grad()
def scored(fitted: Fitted, data: TrainingSet, vocabulary: Vocabulary | None, strength: float) -> Scored:
    t = with_words(data.tensors, data.pairs, vocabulary if fitted.factor else None, fitted.factor)
    model = fitted.model
    return Scored(model.rewards(t.chosen), model.rewards(t.rejected), strength * model.router(t.prompt))


def online_outcomes(labels: Scored, test: Scored, routing: RoutingConfig, users: int, n: int, seed: int = 0,
                    label_prompts: Sequence[str] | None = None) -> torch.Tensor:
    """(N_test,) share of ``users`` simulated users (each ``n`` labels drawn at random from ``labels``, at most one
    per prompt of ``label_prompts`` when given, as the HTTP evaluation teaches) for whom the served score
    s = sum_k w_k r_k ranks the test pair's chosen response above the other (a tie is a miss)."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.zeros(test.r_chosen.shape[0])
    for _ in range(users):
        offset, seen = torch.zeros(labels.r_chosen.shape[1]), set()
        order = torch.randperm(labels.r_chosen.shape[0], generator=gen).tolist()
        if label_prompts is not None:
            order = [i for i in order if label_prompts[i] not in seen and not seen.add(label_prompts[i])]
        for i in order[:n]:
            offset = update_offset(offset, labels.prior[i], labels.r_chosen[i], labels.r_rejected[i], routing)
        w = torch.softmax(test.prior + offset, -1)
        out += ((w * (test.r_chosen - test.r_rejected)).sum(-1) > 0).float() / users
    return out


def top1_of_five(pair_outcomes: torch.Tensor, prompts: Sequence[str]) -> tuple[torch.Tensor, list[str]]:
    """One scorer's 0/1 outcomes on a DSP type's pairs (own style vs each of the four others, one set of weights per
    query) -> per query 1 when every pair is right (the own response scores above all four), and the queries."""
    queries = list(dict.fromkeys(prompts))
    where = {q: i for i, q in enumerate(queries)}
    idx = torch.tensor([where[p] for p in prompts])
    worst = torch.ones(len(queries)).scatter_reduce(0, idx, pair_outcomes.float(), reduce="amin")
    return worst, queries


def report(fitted: Fitted, val_set: TrainingSet, train_set: TrainingSet, test_set: TrainingSet,
           vocabulary: Vocabulary | None, routing: RoutingConfig, users: int) -> dict:
    """Test figures of one fit: head per type chosen on validation; DSP top-1 and HH pairwise at 0 and 10 labels."""
    words = vocabulary if fitted.factor else None
    val_t = with_words(val_set.tensors, val_set.pairs, words, fitted.factor)
    on_validation = best_head_by_group(head_correct(fitted.model, val_t), val_set.user_types)
    chosen_head = {u: k for u, (k, _) in on_validation.items()}
    test_t = with_words(test_set.tensors, test_set.pairs, words, fitted.factor)
    correct = head_correct(fitted.model, test_t)  # (N, K)
    types, prompts = test_set.user_types, [p.prompt for p in test_set.pairs]
    out: dict = {"factor": fitted.factor, "validation_criterion": round(fitted.criterion, 4)}
    for dataset in ("dsp", "relabeled_hh"):
        rows = [i for i, u in enumerate(types) if u.startswith(dataset + "/")]
        values = torch.stack([correct[i, chosen_head[types[i]]] for i in rows]).float()
        out[f"{dataset}_head_per_type"] = _interval(values, [prompts[i] for i in rows], [types[i] for i in rows])
    dsp_rows = [i for i, u in enumerate(types) if u.startswith("dsp/")]
    out["dsp_top1_head_per_type"] = _top1(correct[dsp_rows, :].float().gather(
        1, torch.tensor([[chosen_head[types[i]]] for i in dsp_rows])).squeeze(1), dsp_rows, types, prompts)
    train_scored = scored(fitted, train_set, vocabulary, routing.prior_strength)
    test_scored = scored(fitted, test_set, vocabulary, routing.prior_strength)
    for n in LABELS:
        dsp_users, hh_values = {}, {}
        for u in sorted(set(types)):
            # a label is a pair of two different texts (the service refuses one text twice), one per prompt
            label_rows = [i for i, (t, pair) in enumerate(zip(train_set.user_types, train_set.pairs))
                          if t == u and pair.chosen != pair.rejected]
            label_prompts = [train_set.pairs[i].prompt for i in label_rows]
            test_rows = torch.tensor([i for i, t in enumerate(types) if t == u])
            labels, test = _take(train_scored, torch.tensor(label_rows)), _take(test_scored, test_rows)
            if u.startswith("dsp/"):  # top-1 is all-or-nothing per user: average it over users, not pairs
                dsp_users[u] = torch.stack([top1_of_five(online_outcomes(labels, test, routing, 1, n, s, label_prompts),
                                                         [prompts[i] for i in test_rows.tolist()])[0]
                                            for s in range(users)]).mean(0)
            else:
                hh_values[u] = online_outcomes(labels, test, routing, users, n, label_prompts=label_prompts)
        out[f"dsp_top1_{n}_labels"] = _interval_by_query(dsp_users, test_set)
        out[f"dsp_top1_{n}_labels_by_type"] = {u: round(float(v.mean()), 4) for u, v in dsp_users.items()}
        out[f"relabeled_hh_{n}_labels_by_type"] = {u: round(float(v.mean()), 4) for u, v in hh_values.items()}
        hh_rows = [i for i, u in enumerate(types) if u in hh_values]
        hh_cat = torch.cat([hh_values[u] for u in sorted(hh_values)])
        order = [i for u in sorted(hh_values) for i in hh_rows if types[i] == u]
        out[f"relabeled_hh_{n}_labels"] = _interval(hh_cat, [prompts[i] for i in order], [types[i] for i in order])
    return out


def _take(s: Scored, rows: torch.Tensor) -> Scored:
    return Scored(s.r_chosen[rows], s.r_rejected[rows], s.prior[rows])


def _interval(values: torch.Tensor, prompts: list[str], groups: list[str]) -> dict:
    i = prompt_bootstrap(values, prompts, groups)
    return {"value": round(i.value, 4), "low": round(i.low, 4), "high": round(i.high, 4)}


def _top1(pair_values: torch.Tensor, rows: list[int], types: list[str], prompts: list[str]) -> dict:
    per_type = {}
    for u in sorted({types[i] for i in rows}):
        mine = [j for j, i in enumerate(rows) if types[i] == u]
        per_type[u] = top1_of_five(pair_values[mine], [prompts[rows[j]] for j in mine])
    values = torch.cat([v for v, _ in per_type.values()])
    queries = [q for _, qs in per_type.values() for q in qs]
    return _interval(values, queries, [u for u, (_, qs) in per_type.items() for _ in qs])


def _interval_by_query(per_type: dict[str, torch.Tensor], test_set: TrainingSet) -> dict:
    prompts = [p.prompt for p in test_set.pairs]
    types = test_set.user_types
    queries = {u: list(dict.fromkeys(prompts[i] for i, t in enumerate(types) if t == u)) for u in per_type}
    values = torch.cat([per_type[u] for u in per_type])
    return _interval(values, [q for u in per_type for q in queries[u]], [u for u in per_type for _ in queries[u]])


def fmt(i: dict) -> str:
    return str(Interval(i["value"], i["low"], i["high"]))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.lexical_mixture", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="its features and routing settings")
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    p.add_argument("--factors", default="0.25,1,2,4",
                   help="the word block's factors, times the features' mean row norm")
    p.add_argument("--restarts", type=int, default=1, help="k-means restarts per fit (the shipped fit: 3)")
    p.add_argument("--users", type=int, default=20, help="simulated users per type and label count")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    started = time.time()
    config = read_config(args.checkpoint)
    encoder = Encoder(**record_settings(config.backbone))
    train_set = load_training_set(TRAIN_DATA, encoder, args.cache_dir, None, "train", "user", 10)
    test_pairs = load_pairs(TEST_DATA, split="test")
    test_set = TrainingSet(test_pairs, embed_pairs(test_pairs, encoder, args.cache_dir))
    fit_set, val_set = train_set.split_validation()
    vocabulary = fit_vocabulary(dict.fromkeys(r for p in train_set.pairs for r in (p.chosen, p.rejected)))
    norm = float(fit_set.tensors.chosen.norm(dim=1).mean())
    print(f"{len(fit_set.pairs)} fit pairs, {len(val_set.pairs)} validation, {len(test_pairs)} test; "
          f"{len(vocabulary)} terms; features' mean row norm {norm:.2f}", flush=True)
    cfg = FitConfig(num_heads=10, alpha=0.1, weight_decay=0.01, lr=0.01, restarts=args.restarts, seed=1)
    base = fit(fit_set, val_set, None, 0.0, cfg)
    print(f"features alone: validation criterion {base.criterion:.4f}", flush=True)
    candidates = []
    for f in (float(x) for x in args.factors.split(",")):
        candidates.append(fit(fit_set, val_set, vocabulary, f * norm, cfg))
        print(f"features + words x {f} (x {f * norm:.2f}): validation criterion {candidates[-1].criterion:.4f}",
              flush=True)
    words = max(candidates, key=lambda c: c.criterion)
    routing = config.routing_config()
    results = {"features": report(base, val_set, train_set, test_set, None, routing, args.users),
               "features + words": report(words, val_set, train_set, test_set, vocabulary, routing, args.users)}
    results["candidates"] = [{"factor": c.factor, "validation_criterion": round(c.criterion, 4)} for c in candidates]
    keys = [k for k, v in results["features"].items() if isinstance(v, dict) and "value" in v]
    print("| heads read | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name in ("features", "features + words"):
        print(f"| {name} | " + " | ".join(fmt(results[name][k]) for k in keys) + " |")
    for name in ("features", "features + words"):
        print(name, {k: v for k, v in results[name].items() if k.endswith("_by_type")})
    print(f"Measured in {(time.time() - started) / 60:.1f} minutes.")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
