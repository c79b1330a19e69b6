"""Fit a checkpoint's router to read what users say and what they ask (MiCRo's context-aware
routing), each head's ranking frozen: ``python -m model.fit_router --checkpoint checkpoints/default --in-place``.

Examples (model/router_examples.py): the training pairs with statements of the preference behind
them (``--statements``, 2 per prompt and user type) and without any (a new user's default). Fit on the
fit slice of the train split, every setting chosen on its validation slice (1 prompt in 8, by hash)
with other statements (``--val-statements``): the criterion is the served score's pairwise accuracy,
the mean of "with a statement" (mean over user types, and the refusal pairs' two stated kinds) and "without"
(mean over data sets, HH's red-teaming and other prompts and the refusal pairs apart). The statement logits S are
fitted free or through the stated types' statement basis (``--statement-map``; model/context_routing.py), chosen
likewise. The heads rank as stage 1 left them; ``--head-scale`` may put their reward
differences on one spread first (model/head_scale.py; --head-scale equal or choose). The router, the
head factors, version and ``training.router_fit`` record are written to ``--out`` (or, with ``--in-place``, over the checkpoint); then choose the prior strength
(evaluation.online_choice --write-checkpoint) and rerun the bf16 gate (model.fit_variant), as printed. Teams: a file's ``context`` column (or system
message) is read as each row's statement; ``--statements FILE`` keyed by user id adds more.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import asdict
from itertools import product
from pathlib import Path

import torch

from model.backbone import Encoder
from model.checkpoint import load_checkpoint, read_config, record_settings, save_checkpoint
from model.annotators import simulated_annotators
from model.context_routing import ContextRouter, RouterExamples, RouterFitConfig, fit_router, statement_basis
from model.data import is_validation, load_hh_original
from model.features import embed_pairs, embed_texts
from model.head_scale import equal_spread_factors, rescale_heads
from model.heads import MixtureRewardModel
from model.routing import NEUTRAL_CONTEXT
from model.paths import DEFAULT_CHECKPOINT, EMBEDDING_CACHE_DIR
from model.refusal_pairs import REFUSALS, WRAPPERS, load_refusal_dataset, stated_refusal_pairs
from model.router_examples import (TRAIN_STATEMENTS, VALIDATION_STATEMENTS, load_statements, statement_key,
                                   with_statements, without_context)
from model.router_scores import context_strengths, groups_of, score
from model.train import weights_version
from model.train_data import data_sources, prepare_data

GRID = [RouterFitConfig(loss=loss, weight_decay=wd, alpha=alpha)
        for loss, wd, alpha in product(("grouped", "mixture", "score"), (1e-3, 1e-2), (0.0, 0.1))]


def examples(model: MixtureRewardModel, pairs, encoder: Encoder, cache_dir: Path, annotator_prompts: int
             ) -> RouterExamples:
    """Router inputs, frozen heads' differences, weights, and groups: one user (a team file's user id, or a
    simulated annotator of ``annotator_prompts`` prompts of one type), stating their preference (in words
    that vary from prompt to prompt) or not."""
    t = embed_pairs(pairs, encoder, cache_dir)
    with torch.no_grad():
        diff = model.rewards(t.chosen) - model.rewards(t.rejected)
    who = simulated_annotators(pairs, annotator_prompts)
    keys: dict[tuple, int] = {}
    group = torch.tensor([keys.setdefault((w if w is not None else ("prompt", q.prompt), q.context is None), len(keys))
                          for w, q in zip(who, pairs)])
    return RouterExamples(t.prompt, diff, torch.tensor([q.weight for q in pairs], dtype=torch.float32), group,
                          statement_features(pairs, encoder, cache_dir))


def statement_features(pairs, encoder: Encoder, cache_dir: Path) -> torch.Tensor:
    """(N, D) emb(context) - emb(neutral statement) per pair (0 with no context), embedded as the service
    embeds a stated context (service/inference/stated_context.py: beside the responses)."""
    contexts = sorted({q.context for q in pairs if q.context})
    emb = embed_texts(contexts + [NEUTRAL_CONTEXT], encoder, cache_dir)
    at = {c: i for i, c in enumerate(contexts)}
    out = torch.zeros(len(pairs), emb.shape[1])
    for i, q in enumerate(pairs):
        if q.context:
            out[i] = emb[at[q.context]] - emb[-1]
    return out


def deepest_layer_coords(info) -> slice:
    """The coordinates of the deepest pooled layer in a router vector (the backbone's sentence meaning)."""
    h = info.hidden_size
    if info.layers is None or info.layer_combine == "mean":
        return slice(0, h)
    at = info.layers.index(max(info.layers))
    return slice(at * h, (at + 1) * h)


def fit_statement_basis(pairs, statements: dict[str, list[str]], encoder: Encoder, cache_dir: Path) -> torch.Tensor:
    """The statement basis (model.context_routing.statement_basis) of the fit's stated pairs: each distinct
    statement under the key of the statements file that holds it (else its pair's user id or type)."""
    source = {text: key for key, texts in statements.items() for text in texts}
    contexts = sorted({q.context for q in pairs if q.context})
    keys = {q.context: source.get(q.context, statement_key(q) or q.dataset) for q in pairs if q.context}
    emb = embed_texts(contexts + [NEUTRAL_CONTEXT], encoder, cache_dir)
    return statement_basis(emb[:-1] - emb[-1], [keys[c] for c in contexts], deepest_layer_coords(encoder.info))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m model.fit_router", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write the refitted checkpoint here")
    where.add_argument("--in-place", action="store_true", help="rewrite --checkpoint itself (its version changes)")
    p.add_argument("--data", action="append", default=None, help="default: the checkpoint's training data")
    p.add_argument("--statements", type=Path, default=TRAIN_STATEMENTS)
    p.add_argument("--val-statements", type=Path, default=VALIDATION_STATEMENTS)
    p.add_argument("--refusals", type=Path, default=REFUSALS,
                   help="declining answers beside HH's more harmful answer on red-teaming prompts (model/refusal_pairs.py)")
    p.add_argument("--wrappers", type=Path, default=WRAPPERS,
                   help="jailbreak wrappers: each refusal pair's twin with the request dressed up (model/refusal_pairs.py)")
    p.add_argument("--no-refusals", action="store_true", help="fit without the refusal pairs")
    p.add_argument("--per-prompt", type=int, default=2, choices=range(1, 13), metavar="1..12",
                   help="statements per prompt and user type (fit slice)")
    p.add_argument("--system-as-context", action="store_true",
                   help="chat rows without a context column: their system messages are the stated context")
    p.add_argument("--loss", choices=("grouped", "mixture", "score", "all"), default="all",
                   help="the router's likelihood (model/context_routing.py); all: chosen on validation")
    p.add_argument("--head-scale", choices=("raw", "equal", "choose"), default="raw",
                   help="raw: the heads as the checkpoint holds them; equal: every head's reward differences on the fit pairs "
                        "put on one spread (model/head_scale.py); choose: both, chosen on this fit's validation criterion "
                        "(the online update is not in it: docs/personalization.md gives both stages' validation figures)")
    p.add_argument("--statement-map", choices=("free", "basis", "choose"), default="choose",
                   help="the statement logits S: free (K x D), or through the basis of the stated types' mean statements "
                        "(model/context_routing.py); choose: both, chosen on validation")
    p.add_argument("--annotator-prompts", type=int, default=10,
                   help="prompts per simulated user of a built-in type (the \"grouped\" likelihood's groups)")
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    p.add_argument("--backbone", type=Path, default=None,
                   help="local path of the checkpoint's backbone (default: the packaged all-MiniLM-L6-v2)")
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    encoder = Encoder(args.backbone, **record_settings(read_config(args.checkpoint).backbone))
    model, config = load_checkpoint(args.checkpoint, encoder.info)
    sources = data_sources(args.data) if args.data else list(config.training.get("data", ["dsp", "relabeled_hh"]))
    recorded = config.training  # the data settings the heads were trained with
    pairs = prepare_data(sources, user_column=recorded.get("user_column") if args.data is None else None,
                         strict=bool(recorded.get("strict", False)) if args.data is None else False,
                         system_as_context=args.system_as_context).train.pairs
    if args.no_refusals:  # the heads' own data may hold them (hh_refusals): left out of the router's fit too
        pairs = [q for q in pairs if q.dataset != "hh_refusals"]
    train_st, val_st = load_statements(args.statements), load_statements(args.val_statements)
    fit_pairs = [q for q in pairs if not is_validation(q.prompt)]
    val_pairs = [q for q in pairs if is_validation(q.prompt)]
    hh = "relabeled_hh" in sources
    hh_fit = [q for q in load_hh_original(split="train") if not is_validation(q.prompt)] if hh else []
    hh_val = [q for q in load_hh_original(split="train") if is_validation(q.prompt)] if hh else []
    fit_stated = with_statements(fit_pairs, train_st, args.per_prompt)
    fit_plain = without_context(fit_pairs, hh_fit)
    val_stated, val_plain = with_statements(val_pairs, val_st, 1), without_context(val_pairs, hh_val)
    if hh and not args.no_refusals:
        refusals = load_refusal_dataset(split="train", path=args.refusals, wrappers=args.wrappers)
        fit_ref = [q for q in refusals if not is_validation(q.prompt)]
        val_ref = [q for q in refusals if is_validation(q.prompt)]
        fit_stated += stated_refusal_pairs(fit_ref, train_st, args.per_prompt)
        val_stated += stated_refusal_pairs(val_ref, val_st, 1)
        if "hh_refusals" not in sources:  # else the heads' own data already holds them, without context
            fit_plain, val_plain = fit_plain + fit_ref, val_plain + val_ref
    if not fit_stated or not val_stated:
        raise SystemExit("model.fit_router: no stated preferences to fit on (fit: %d, validation: %d): give rows a "
                         "context column (or --system-as-context for chat rows), or --statements / --val-statements "
                         "keyed by user id or data set/user type" % (len(fit_stated), len(val_stated)))
    print(f"router examples: fit {len(fit_stated)} stated + {len(fit_plain)} plain, "
          f"validation {len(val_stated)} stated + {len(val_plain)} plain", file=sys.stderr)
    n = args.annotator_prompts
    fit = examples(model, fit_stated + fit_plain, encoder, args.cache_dir, n)
    val_sets = {"stated": (examples(model, val_stated, encoder, args.cache_dir, n), groups_of(val_stated, True)),
                "plain": (examples(model, val_plain, encoder, args.cache_dir, n), groups_of(val_plain, False))}
    first = val_sets["stated"][0]
    val_all = RouterExamples(torch.cat([v[0].prompt for v in val_sets.values()]),
                             torch.cat([v[0].diff for v in val_sets.values()]), None,
                             torch.cat([first.group, val_sets["plain"][0].group + len(first.group)]),
                             torch.cat([v[0].statement for v in val_sets.values()]))
    before = score(ContextRouter(model.router, model.statement_router), val_sets)
    print(f"checkpoint's router on validation: {before}", file=sys.stderr)
    basis = fit_statement_basis(fit_stated, train_st, encoder, args.cache_dir) if args.statement_map != "free" else None
    inits = {name: ContextRouter.zeros(model.router.in_features, model.router.out_features, b)
             for name, b in (("free", None), ("basis", basis)) if args.statement_map in ("choose", name)}
    learned = model.num_heads - int(bool(config.expert))  # a frozen expert head keeps its scale
    scales = {"raw": torch.ones(model.num_heads), "equal": equal_spread_factors(fit.diff, learned)}
    scales = {name: c for name, c in scales.items() if args.head_scale in ("choose", name)}
    table = []
    for (scale, c), (smap, init), cfg in product(scales.items(), inits.items(),
                                                 [g for g in GRID if args.loss in ("all", g.loss)]):
        sets = {name: (ex.with_head_factors(c), groups) for name, (ex, groups) in val_sets.items()}
        router, val_loss, steps = fit_router(init, fit.with_head_factors(c), val_all.with_head_factors(c), cfg)
        table.append((score(router, sets), cfg, router, steps, scale, smap))
        print(f"heads {scale:5s} S {smap:5s} {cfg.loss:8s} wd={cfg.weight_decay:g} alpha={cfg.alpha:g}: steps {steps}, "
              f"{table[-1][0]}", file=sys.stderr)
    best = max(table, key=lambda row: row[0]["criterion"])  # the first of equals: raw before equal, free before basis
    head_scale, statement_map = best[4], best[5]
    rescale_heads(model, scales[head_scale])
    model.router.load_state_dict(best[2].router.state_dict())
    with torch.no_grad():
        model.statement_router.weight.copy_(best[2].statement_matrix())
    strengths = context_strengths(model, val_stated, val_sets["stated"][0].with_head_factors(scales[head_scale]),
                                  encoder, args.cache_dir)
    context_strength = max(strengths, key=strengths.__getitem__)
    print(f"context pseudo-label strength on validation (stated mean accuracy): {strengths}", file=sys.stderr)
    record = {"statements": {str(args.statements.name): _sha(args.statements), "validation": _sha(args.val_statements)},
              "per_prompt": args.per_prompt, "annotator_prompts": args.annotator_prompts, "chosen": asdict(best[1]),
              "context_strength": {"chosen": context_strength, "validation": strengths}, "steps": best[3],
              "validation": best[0], "validation_before": before,
              "head_scale": {"chosen": head_scale, "factors": [round(float(x), 6) for x in scales[head_scale]],
                             "factors_since_stage1": [round(float(x) * f, 6) for x, f in
                                                      zip(scales[head_scale], _earlier_factors(config, model.num_heads))],
                             "validation": {name: max(s["criterion"] for s, *_, h, _ in table if h == name)
                                            for name in scales}},
              "statement_map": {"chosen": statement_map, "basis_rows": None if basis is None else int(basis.shape[0]),
                                "validation": {name: max(s["criterion"] for s, *_, m in table if m == name)
                                               for name in inits},
                                "stated": {name: _best_of(table, name)[0]["stated"] for name in inits}},
              "grid": [{**asdict(c), "head_scale": h, "statement_map": m, "criterion": s["criterion"]}
                       for s, c, _, _, h, m in table],
              "examples": {"fit": len(fit), "validation": len(val_all)},
              "no_statement": "every pair, relabeled HH under HH's own label" if hh else "every pair",
              "refusals": None if not hh or args.no_refusals else
              {args.refusals.name: _sha(args.refusals), **({args.wrappers.name: _sha(args.wrappers)} if args.wrappers else {})},
              "command": "python -m model.fit_router" + "".join(" " + a for a in argv)}
    out = args.checkpoint if args.in_place else args.out
    config.version = f"k{model.num_heads}-{weights_version(model)}"
    config.training = {**config.training, "router_fit": record}
    config.routing = {**config.routing, "prior_strength": 1.0, "context_strength": context_strength}
    save_checkpoint(out, model, config)
    print(f"router fitted (heads {head_scale}, S {statement_map}, {best[1].loss}, wd {best[1].weight_decay:g}, alpha {best[1].alpha:g}): validation "
          f"{best[0]} (before {before['criterion']}); wrote {out} version {config.version}")
    print("next: python -m evaluation.online_choice --checkpoint %s --write-checkpoint   (prior strength and update for "
          "this router; reset to 1 here)\n      python -m model.fit_variant --checkpoint %s --variant torch-bf16   "
          "(the bf16 gate: the weights changed)" % (out, out))
    if head_scale != "raw":
        print("      python -m model.head_cards --checkpoint %s   (the head cards: the heads' scales changed)" % out)


def _earlier_factors(config, heads: int) -> list[float]:
    """The head factors earlier runs of this command applied (1 each when none): a second run's "raw" is the
    heads as the checkpoint holds them, so the record keeps the product since stage 1."""
    earlier = config.training.get("router_fit", {}).get("head_scale", {})
    return list(earlier.get("factors_since_stage1", earlier.get("factors", [1.0] * heads)))


def _best_of(table: list[tuple], statement_map: str) -> tuple:
    """The grid row of the best validation criterion among the fits with this form of S."""
    return max((row for row in table if row[5] == statement_map), key=lambda row: row[0]["criterion"])


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


if __name__ == "__main__":
    main()
