"""Head cards: what each head stands for, read from data (no language model involved).

A card names the labelled groups (user ids when the data has them, else data set / user type,
e.g. ``dsp/academy``) whose validation pairs this head ranks best, how often it has the largest
margin of all heads on them (its win share), the training responses it scores highest and
lowest relative to the other heads, and one line of text made of these facts. Training writes
the cards into config.json (``head_cards``); for a checkpoint trained before cards existed:

    python -m model.head_cards --checkpoint checkpoints/default            # data: the checkpoint's own
    python -m model.head_cards --checkpoint checkpoints/mine --data my_pairs.jsonl

computes them from the training data (embeddings through the on-disk cache) and writes only
``head_cards`` into config.json: the heads, the version and every other field stay as they were.

Quoted responses come only from pairs of data sets safe to show: texts of the built-in red-teaming
data (``model.data.UNQUOTABLE_DATASETS``, i.e. ``relabeled_hh`` and ``hh_refusals``; the data README forbids showing them
in a UI by default) are never quoted, and a text that occurs in any such pair is left out too. The
group statistics (accuracy, win share) still use every validation pair. An operator who explicitly
wants those texts quoted as well passes ``--quote-all-data`` (``build_head_cards(..., quote_all=True)``).

Shapes: N pairs, M distinct responses, K heads.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from model.data import UNQUOTABLE_DATASETS, PreferencePair
from model.fitting import PairTensors
from model.heads import MixtureRewardModel
from model.accuracy import rows_of

SNIPPET_CHARS = 160  # a response snippet: its first characters, whitespace collapsed
SUMMARY_SNIPPET_CHARS = 60  # the snippets quoted in a card's one-line text
RESPONSES_PER_CARD = 3  # top and bottom responses kept per head
GROUPS_PER_CARD = 3  # groups listed per head (best-for and agrees-most)
MIN_GROUP_PAIRS = 10  # groups with fewer validation pairs are listed only when no group has this many


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first ``limit`` characters of ``text`` on one line, with an ellipsis when cut."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def group_of(pair: PreferencePair) -> str:
    """A pair's labelled group: its user id, else data set / user type (as the training report)."""
    return pair.user_id or (f"{pair.dataset}/{pair.user_type}" if pair.user_type else pair.dataset)


@torch.no_grad()
def group_table(model: MixtureRewardModel, val: PairTensors, groups: Sequence[str]) -> list[dict[str, Any]]:
    """Per group: pairs, per-head accuracy (K,), per-head win share (K,) and its best head."""
    margins = model.rewards(val.chosen) - model.rewards(val.rejected)  # (N, K)
    correct = (margins > 0).float()
    winner = margins.argmax(1)  # (N,) the head with the largest margin for the chosen response
    k = margins.shape[1]
    table = []
    for name, mask in rows_of(groups).items():
        n = int(mask.sum())
        accuracy = correct[mask].mean(0)  # (K,)
        wins = torch.bincount(winner[mask], minlength=k).float() / n  # (K,)
        table.append({"group": name, "pairs": n, "accuracy": accuracy, "wins": wins,
                      "best": int(accuracy.argmax())})  # first head on ties, as scoring.best_head
    return table


def group_entry(row: dict[str, Any], head: int) -> dict[str, Any]:
    return {"group": row["group"], "pairs": row["pairs"], "accuracy": round(float(row["accuracy"][head]), 4),
            "win_share": round(float(row["wins"][head]), 4)}


def listed(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups worth quoting: those with MIN_GROUP_PAIRS pairs, or all when none has that many."""
    big = [row for row in table if row["pairs"] >= MIN_GROUP_PAIRS]
    return big or table


@torch.no_grad()
def distinct_responses(
    model: MixtureRewardModel, pairs: Sequence[PreferencePair], data: PairTensors
) -> tuple[list[str], torch.Tensor]:
    """Distinct response texts of the pairs and how each head scores them *relative to the other
    heads*: z-scored per head, minus the mean over heads (K = 1: the z-score). -> texts, (M, K)."""
    texts = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        first.setdefault(text, i)
    index = torch.tensor(list(first.values()), dtype=torch.long)
    rewards = model.rewards(torch.cat([data.chosen, data.rejected])[index])  # (M, K)
    z = (rewards - rewards.mean(0)) / rewards.std(0).clamp_min(1e-8) if len(index) > 1 else rewards * 0
    relative = z - z.mean(1, keepdim=True) if z.shape[1] > 1 else z
    return list(first), relative


def quotable(pairs: Sequence[PreferencePair], texts: Sequence[str], quote_all: bool = False) -> list[bool]:
    """Per text: may a card quote it? Not when it occurs in any pair of UNQUOTABLE_DATASETS (unless quote_all)."""
    if quote_all:
        return [True] * len(texts)
    hidden = {t for p in pairs if p.dataset in UNQUOTABLE_DATASETS for t in (p.chosen, p.rejected)}
    return [text not in hidden for text in texts]


def summary_text(card: dict[str, Any]) -> str:
    """One line made of the card's facts."""
    def fits(entries: list[dict[str, Any]]) -> str:
        return ", ".join(f"{e['group']} (acc {e['accuracy']:.2f} on {e['pairs']} val pairs, "
                         f"largest margin on {100 * e['win_share']:.0f}%)" for e in entries)

    parts = ["the backbone's own score head (frozen expert)"] if card["expert"] else []
    if card["best_for"]:
        more = card["best_for_count"] - len(card["best_for"])
        parts.append("best head for: " + fits(card["best_for"]) + (f" and {more} more" if more > 0 else ""))
    elif card["agrees_most"]:
        parts.append("best head for no labelled group; agrees most with: " + fits(card["agrees_most"][:1]))
    else:
        parts.append("no validation pairs to measure it on")
    if card["top_responses"]:
        top, bottom = (snippet(card[key][0], SUMMARY_SNIPPET_CHARS) for key in ("top_responses", "bottom_responses"))
        parts.append(f'scores higher than the other heads: "{top}"; lower: "{bottom}"')
    return "; ".join(parts)


def card_label(best_for: list[dict[str, Any]], agrees: list[dict[str, Any]], expert: bool) -> str:
    """The group a head is best for; else "expert", or the group it agrees with most ("near ...")."""
    if best_for:
        return best_for[0]["group"]
    if expert:
        return "expert"
    return f"near {agrees[0]['group']}" if agrees else "no labelled group"


def build_head_cards(
    model: MixtureRewardModel,
    val: PairTensors,
    val_groups: Sequence[str],
    train_pairs: Sequence[PreferencePair],
    train: PairTensors,
    expert_head: int | None = None,
    quote_all: bool = False,
) -> list[dict[str, Any]]:
    """One card per head (see the module docstring); plain JSON values, ready for config.json.
    Responses are quoted only from data sets safe to show unless ``quote_all``."""
    table = listed(group_table(model, val, val_groups)) if len(val) else []
    texts, relative = distinct_responses(model, train_pairs, train) if len(train_pairs) else ([], None)
    shown = quotable(train_pairs, texts, quote_all)
    cards = []
    for k in range(model.num_heads):
        mine = sorted((r for r in table if r["best"] == k), key=lambda r: -float(r["accuracy"][k]))
        agrees = sorted(table, key=lambda r: -float(r["accuracy"][k]))[:GROUPS_PER_CARD]
        ranked = relative[:, k].argsort(descending=True).tolist() if relative is not None else []
        order = [i for i in ranked if shown[i]]  # z-scores over all responses, quotes only the showable
        n = min(RESPONSES_PER_CARD, len(order) // 2)
        card: dict[str, Any] = {
            "head": k,
            "name": f"head {k} · {card_label(mine, agrees, k == expert_head)}",
            "expert": k == expert_head,
            "best_for": [group_entry(r, k) for r in mine[:GROUPS_PER_CARD]],
            "best_for_count": len(mine),
            "agrees_most": [group_entry(r, k) for r in agrees],
            "top_responses": [snippet(texts[i]) for i in order[:n]],
            "bottom_responses": [snippet(texts[i]) for i in order[::-1][:n]],
        }
        card["summary"] = summary_text(card)
        cards.append(card)
    return cards


def write_head_cards(checkpoint: Path, cards: list[dict[str, Any]]) -> Path:
    """Set ``head_cards`` in the checkpoint's config.json, every other field and the weights untouched."""
    from model.checkpoint import update_config

    return update_config(checkpoint, head_cards=cards)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from model.paths import DEFAULT_CHECKPOINT, EMBEDDING_CACHE_DIR

    p = argparse.ArgumentParser(prog="python -m model.head_cards", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint directory to describe")
    p.add_argument("--data", action="append", metavar="PATH_OR_NAME",
                   help="training data as for model.train (default: the sources its config.json records)")
    p.add_argument("--val-data", action="append", metavar="PATH", help="as model.train --val-data (default: recorded)")
    p.add_argument("--user-column", default=None, help="as model.train --user-column (default: recorded)")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding dsp/ and relabeled_hh/")
    p.add_argument("--backbone", type=Path, default=None,
                   help="the checkpoint's backbone directory (default: all-MiniLM-L6-v2)")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--dry-run", action="store_true", help="print the cards, write nothing")
    p.add_argument("--quote-all-data", action="store_true",
                   help="also quote responses of the red-teaming data sets (relabeled_hh, hh_refusals); off by default, "
                        "as the data README forbids showing them in a UI by default")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Cards for an existing checkpoint, written into its config.json (exit 2 on unusable data)."""
    from model.backbone import Encoder
    from model.checkpoint import record_settings
    from model.checkpoint import CheckpointError, load_checkpoint, read_config
    from model.pair_files import DataError
    from model.train_data import data_sources, prepare_data
    from model.training_set import embed_training_set

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = read_config(args.checkpoint)
    sources = data_sources(args.data or config.training.get("data") or None)
    val_sources = args.val_data or config.training.get("val_data") or None
    recorded_column = config.training.get("user_column")  # model.train records "user_id" when none was named
    user_column = args.user_column or (recorded_column if recorded_column not in (None, "user_id") else None)
    bb = config.backbone
    encoder = Encoder(args.backbone, backbone_id=bb.get("id"), device=args.device, **record_settings(bb))
    try:
        model, config = load_checkpoint(args.checkpoint, encoder.info)  # refuses another backbone, naming both
        prepared = prepare_data(sources, val_sources, user_column=user_column, data_root=args.data_root)
    except (CheckpointError, DataError) as exc:
        for line in exc.problems if isinstance(exc, DataError) else [str(exc)]:
            print(f"error: {line}", file=sys.stderr)
        print(f"error: nothing written to {args.checkpoint}", file=sys.stderr)
        raise SystemExit(2) from None
    data = embed_training_set(prepared.pairs, encoder, args.cache_dir, "pair")
    _, val, _ = data.slices(prepared)
    expert = config.expert["head"] if config.expert else None
    cards = build_head_cards(model, val.tensors, [group_of(p) for p in val.pairs], data.pairs, data.tensors, expert,
                             quote_all=args.quote_all_data)
    for card in cards:
        print(f"{card['name']}: {card['summary']}")
    if not args.dry_run:
        print(f"wrote head_cards into {write_head_cards(args.checkpoint, cards)} (version {config.version})")
    return cards


if __name__ == "__main__":
    main()
