"""A stated preference on validation, weighed as the service weighs it (chooses nothing; test split and
holdout untouched): per user type, the served score's pairwise accuracy on the validation slice of train with
the validation statements (model/statements/validation.json, or ``--statements``), at the checkpoint's routing
(prior strength s, the pseudo-label's strength c) and, beside it, at s = 1 with no pseudo-label (what
``python -m model.fit_router`` chose on). Compare routers by running it on each checkpoint.

    .venv/bin/python -m evaluation.stated_validation [--checkpoint DIR] [--statements FILE] [--from-index N]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from statistics import fmean

from model.backbone import Encoder
from model.checkpoint import load_checkpoint, read_config, record_settings
from model.data import is_validation
from model.fit_router import examples
from model.router_scores import groups_of, stated_accuracy
from model.paths import DEFAULT_CHECKPOINT, EMBEDDING_CACHE_DIR
from model.refusal_pairs import load_refusal_dataset, stated_refusal_pairs
from model.router_examples import VALIDATION_STATEMENTS, load_statements, with_statements
from model.train_data import prepare_data


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.stated_validation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--statements", type=Path, default=VALIDATION_STATEMENTS)
    p.add_argument("--from-index", type=int, default=0, metavar="N",
                   help="each type's statements from index N on, 0-based (validation.json: 4 leaves the six written "
                        "in registers apart from the training statements)")
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    args = p.parse_args(argv)
    encoder = Encoder(**record_settings(read_config(args.checkpoint).backbone))
    model, config = load_checkpoint(args.checkpoint, encoder.info)
    statements = {key: texts[args.from_index:] for key, texts in load_statements(args.statements).items()}
    statements = {key: texts for key, texts in statements.items() if texts}
    sources = list(config.training.get("data", ["dsp", "relabeled_hh"]))
    pairs = [q for q in prepare_data(sources).train.pairs if is_validation(q.prompt)]
    stated = with_statements(pairs, statements, 1)
    if "relabeled_hh" in sources and config.training.get("router_fit", {}).get("refusals"):  # as model.fit_router
        stated += stated_refusal_pairs([q for q in load_refusal_dataset(split="train") if is_validation(q.prompt)],
                                       statements, 1)
    ex = examples(model, stated, encoder, args.cache_dir, 10)
    routing = config.routing
    s, c = float(routing.get("prior_strength", 1.0)), float(routing.get("context_strength", 1.0))
    served = stated_accuracy(model, stated, ex, encoder, args.cache_dir, (c,), prior_strength=s)[c]
    fitted = stated_accuracy(model, stated, ex, encoder, args.cache_dir, (0.0,))[0.0]
    counts = Counter(groups_of(stated, True))
    print(f"Checkpoint `{config.version}`, validation slice, statements {args.statements.name}"
          f"{f' from index {args.from_index} of each type' if args.from_index else ''} (one per prompt)\n")
    print(f"| stated user type | pairs | served (s = {s:g}, c = {c:g}) | s = 1, c = 0 |")
    print("|---|---|---|---|")
    for group in served:
        print(f"| {group} | {counts[group]} | {served[group]:.3f} | {fitted[group]:.3f} |")
    print(f"| **mean over types** | {len(stated)} | {fmean(served.values()):.3f} | {fmean(fitted.values()):.3f} |")


if __name__ == "__main__":
    main()
