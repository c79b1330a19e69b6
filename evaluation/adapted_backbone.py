"""A supervised reference: the backbone's top layers adapted with the user type KNOWN, saved as a local model dir.

The shipped heads read a frozen backbone; on all-MiniLM-L6-v2's features even heads fitted with the user type known
stay below some personalization bars (``python -m evaluation.feature_ceiling``). This trains the top ``--train-layers``
transformer layers, next to one linear Bradley-Terry head per user type (the four DSP styles, HH helpful and harmless,
heads read every hidden state mean-pooled and concatenated, as the shipped heads do), on the fit slice of train; the
epoch kept is the one with the best mean per-type pair accuracy on the validation slice (1 prompt in 8, never test).
The per-type heads are a means to shape the features and are dropped; the result is a Hugging Face model directory
that every ``--backbone PATH`` flag reads. The user type is a training signal here, so nothing of this is shipped:
it measures whether a trained backbone lifts what heads on its features reach (``evaluation.feature_ceiling``).

    .venv/bin/python -m evaluation.adapted_backbone --out .cache/adapted-minilm [--train-layers 2] [--epochs 2]
    .venv/bin/python -m evaluation.feature_ceiling --backbone .cache/adapted-minilm --views mean
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from model.backbone import Encoder
from model.backbone_args import add_backbone_arguments, encoder_from_args
from model.data import PreferencePair, is_validation, load_pairs
from model.paths import REPO_ROOT
from model.pooling import pool_layers

CACHE = REPO_ROOT / ".cache" / "adapted_backbone"  # the frozen bottom's states, by model and texts


def pair_type(pair: PreferencePair) -> str:
    return f"{pair.dataset}/{pair.user_type}"


def batches_by_prompt(pairs: Sequence[PreferencePair], texts_per_batch: int, rng: random.Random) -> list[list[int]]:
    """Pair indices grouped so that one prompt's pairs share a batch (DSP's five responses are read once for its
    sixteen pairs), prompts shuffled, a batch closed once it holds ``texts_per_batch`` distinct texts."""
    by_prompt: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        by_prompt[p.prompt].append(i)
    groups = list(by_prompt.values())
    rng.shuffle(groups)
    out, current, texts = [], [], set()
    for group in groups:
        current += group
        texts |= {(pairs[i].prompt, t) for i in group for t in (pairs[i].chosen, pairs[i].rejected)}
        if len(texts) >= texts_per_batch:
            out.append(current)
            current, texts = [], set()
    if current:
        out.append(current)
    return out


class Adapter(torch.nn.Module):
    """The encoder's model, its top ``train_layers`` layers trainable, and one linear head per user type on every
    hidden state mean-pooled and concatenated. The frozen bottom runs once per distinct text (``prepare``): its
    last hidden state and its layers' pooled vectors are kept, so an epoch runs the trained layers only."""

    def __init__(self, encoder: Encoder, types: Sequence[str], train_layers: int) -> None:
        super().__init__()
        self.encoder, self.types = encoder, list(types)
        self.model = encoder.model
        self.layers = getattr(getattr(self.model, "encoder", None), "layer", None)
        if self.layers is None or not 1 <= train_layers <= len(self.layers):
            raise SystemExit(f"--train-layers must be 1..{len(self.layers or [])} for this backbone")
        self.bottom = len(self.layers) - train_layers  # hidden states 0..bottom stay frozen
        self.model.requires_grad_(False)
        for layer in self.layers[self.bottom:]:
            layer.requires_grad_(True)
        width = (encoder.num_layers + 1) * encoder.info.hidden_size
        self.heads = torch.nn.Linear(width, len(self.types), bias=False)
        torch.nn.init.zeros_(self.heads.weight)
        self.scale = torch.ones(width)  # feature spread, set from the frozen model before training
        self.frozen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # text -> (bottom state (T, D), pooled)

    def prepare(self, texts: Sequence[str], cache: Path | None = None) -> None:
        """The frozen bottom of every text, read from ``cache`` (a file keyed by the model's weights and the texts) when
        there, else computed and written there."""
        if cache is None:
            return self._run_bottom(texts)
        digest = hashlib.sha256(f"{self.encoder.info.fingerprint}|{self.bottom}|{self.encoder.max_length}".encode())
        for tensor in self.model.state_dict().values():  # the weights too: an adapted copy keeps its base's config
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        for text in sorted(set(texts)):
            digest.update(text.encode("utf-8") + b"\0")
        path = cache / f"{digest.hexdigest()[:24]}.pt"
        if path.exists():
            self.frozen.update(torch.load(path))
            return None
        self._run_bottom(texts)
        cache.mkdir(parents=True, exist_ok=True)
        torch.save(self.frozen, path)
        return None

    @torch.inference_mode()
    def _run_bottom(self, texts: Sequence[str], batch_size: int = 32) -> None:
        from tqdm import tqdm

        todo = sorted({t for t in texts if t not in self.frozen}, key=len)
        for s in tqdm(range(0, len(todo), batch_size), desc="frozen layers", unit="batch", dynamic_ncols=True):
            chunk = todo[s:s + batch_size]
            batch = self.encoder.tokenize(chunk)
            hidden = self.model(**batch, output_hidden_states=True).hidden_states[: self.bottom + 1]
            pooled = pool_layers(hidden, batch["attention_mask"], self.encoder.pooling).flatten(1)
            for i, text in enumerate(chunk):
                n = int(batch["attention_mask"][i].sum())
                self.frozen[text] = (hidden[-1][i, :n].clone(), pooled[i].clone())

    def features(self, texts: Sequence[str]) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        states = [self.frozen[t][0] for t in texts]
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(x), dtype=torch.long) for x in states], batch_first=True)
        h = torch.nn.utils.rnn.pad_sequence(states, batch_first=True)
        attention = create_bidirectional_mask(config=self.model.config, inputs_embeds=h, attention_mask=mask)
        pooled = [torch.stack([self.frozen[t][1] for t in texts])]
        for layer in self.layers[self.bottom:]:
            h = layer(h, attention)
            h = h[0] if isinstance(h, tuple) else h
            pooled.append(pool_layers([h], mask, self.encoder.pooling).flatten(1))
        return torch.cat(pooled, dim=1) / self.scale

    def pair_margins(self, pairs: Sequence[PreferencePair]) -> torch.Tensor:
        """(P,) chosen minus rejected score under each pair's own type head, every distinct text read once."""
        chosen, rejected = joined(self.encoder, pairs)
        distinct = list(dict.fromkeys(chosen + rejected))
        at = {t: i for i, t in enumerate(distinct)}
        scores = self.heads(self.features(distinct))  # (N, types)
        head = torch.tensor([self.types.index(pair_type(p)) for p in pairs])
        c = scores[torch.tensor([at[t] for t in chosen]), head]
        r = scores[torch.tensor([at[t] for t in rejected]), head]
        return c - r


def joined(encoder: Encoder, pairs: Sequence[PreferencePair]) -> tuple[list[str], list[str]]:
    prompts = [p.prompt for p in pairs]
    chosen = encoder.join_pairs(prompts, [p.chosen for p in pairs])[0]
    return chosen, encoder.join_pairs(prompts, [p.rejected for p in pairs])[0]


@torch.no_grad()
def feature_scale(adapter: Adapter, pairs: Sequence[PreferencePair], n: int = 512) -> torch.Tensor:
    texts = joined(adapter.encoder, pairs[:n])[0]
    x = torch.cat([adapter.features(texts[s:s + 32]) for s in range(0, len(texts), 32)])
    spread = x.std(0)
    # floored: the last layer of all-MiniLM-L6-v2 pools one coordinate to a constant; divided by its spread of ~0,
    # the least move of a trained layer there would swamp every score
    return spread.clamp_min(0.1 * float(spread.median()))


def start_heads(adapter: Adapter, pairs: Sequence[PreferencePair], weight_decay: float) -> None:
    """Each type's head starts as a Bradley-Terry fit on the unadapted features (the probe's fit), so epoch 0 is the
    frozen backbone's reference and training moves from there."""
    from evaluation.feature_ceiling import fit_head

    chosen, rejected = joined(adapter.encoder, pairs)
    distinct = list(dict.fromkeys(chosen + rejected))
    with torch.no_grad():
        x = torch.cat([adapter.features(distinct[s:s + 64]) for s in range(0, len(distinct), 64)])
    at = {t: i for i, t in enumerate(distinct)}
    for k, name in enumerate(adapter.types):
        own = [i for i, p in enumerate(pairs) if pair_type(p) == name]
        c = x[torch.tensor([at[chosen[i]] for i in own])]
        r = x[torch.tensor([at[rejected[i]] for i in own])]
        w = fit_head(c, r, weight_decay=weight_decay)
        w = w / ((c - r) @ w).std().clamp_min(1e-6)  # margins of spread 1: a fit near separation has huge ones,
        with torch.no_grad():                       # which turn any move of the features into huge losses
            adapter.heads.weight[k] = w


@torch.no_grad()
def validation_accuracy(adapter: Adapter, pairs: Sequence[PreferencePair], batches: list[list[int]],
                        ) -> dict[str, float]:
    adapter.eval()
    hits: dict[str, list[float]] = defaultdict(list)
    for idx in batches:
        margins = adapter.pair_margins([pairs[i] for i in idx])
        for i, m in zip(idx, margins.tolist()):
            hits[pair_type(pairs[i])].append(float(m > 0))
    return {t: sum(v) / len(v) for t, v in sorted(hits.items())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backbone_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="directory the adapted model and tokenizer are saved to")
    p.add_argument("--data", default="dsp,relabeled_hh", help="data sets (train split only)")
    p.add_argument("--train-layers", type=int, default=2, help="top transformer layers trained (the rest frozen)")
    p.add_argument("--epochs", type=int, default=2, help="epochs over the fit slice (about 6 minutes each)")
    p.add_argument("--lr", type=float, default=1e-5, help="learning rate of the trained layers")
    p.add_argument("--head-lr", type=float, default=1e-4, help="learning rate of the per-type heads")
    p.add_argument("--dropout", action="store_true", help="the trained layers' dropout on while training")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    p.add_argument("--head-weight-decay", type=float, default=1e-2, help="of the start heads' fit on frozen features")
    p.add_argument("--texts-per-batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    encoder = encoder_from_args(args)
    if encoder.info.kind != "encoder" or encoder.dtype != torch.float32:
        print("adapted_backbone: an encoder backbone in float32 only", file=sys.stderr)
        return 2
    pairs = load_pairs([d.strip() for d in args.data.split(",") if d.strip()], split="train")
    fit = [q for q in pairs if not is_validation(q.prompt)]
    val = [q for q in pairs if is_validation(q.prompt)]
    types = sorted({pair_type(q) for q in pairs})
    adapter = Adapter(encoder, types, args.train_layers)
    adapter.prepare([t for texts in joined(encoder, pairs) for t in texts], CACHE)
    adapter.scale = feature_scale(adapter, fit)
    adapter.eval()
    start_heads(adapter, fit, args.head_weight_decay)
    trained = [q for q in adapter.model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW([{"params": trained, "lr": args.lr, "weight_decay": 0.01},
                             {"params": adapter.heads.parameters(), "lr": args.head_lr, "weight_decay": 0.0}])
    val_batches = batches_by_prompt(val, 64, random.Random(0))
    best = validation_accuracy(adapter, val, val_batches)
    best_epoch, best_state = 0, {k: v.clone() for k, v in adapter.model.state_dict().items()}
    history = [{"epoch": 0, "validation": best}]
    print(f"epoch 0 (frozen backbone, heads fitted on it) validation {json.dumps(best)}", file=sys.stderr)
    from tqdm import tqdm

    for epoch in range(1, args.epochs + 1):
        adapter.train(args.dropout)  # off by default: its noise, times heads fitted to frozen features, swamps the loss
        batches = batches_by_prompt(fit, args.texts_per_batch, rng)
        started, total = time.perf_counter(), 0.0
        for idx in tqdm(batches, desc=f"epoch {epoch}", unit="batch", dynamic_ncols=True):
            loss = -F.logsigmoid(adapter.pair_margins([fit[i] for i in idx])).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([q for g in opt.param_groups for q in g["params"]], args.clip)
            opt.step()
            total += float(loss.detach()) * len(idx)
        acc = validation_accuracy(adapter, val, val_batches)
        mean = sum(acc.values()) / len(acc)
        history.append({"epoch": epoch, "fit_loss": total / len(fit), "validation": acc,
                        "seconds": time.perf_counter() - started})
        print(f"epoch {epoch}: fit loss {total / len(fit):.4f}, validation mean {mean:.4f} {json.dumps(acc)}",
              file=sys.stderr)
        if mean > sum(best.values()) / len(best):
            best, best_epoch = acc, epoch
            best_state = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    adapter.model.load_state_dict(best_state)
    args.out.mkdir(parents=True, exist_ok=True)
    adapter.model.save_pretrained(args.out)
    encoder.tokenizer.save_pretrained(args.out)
    (args.out / "adaptation.json").write_text(json.dumps({
        "base": str(encoder.path), "train_layers": args.train_layers, "data": args.data, "lr": args.lr,
        "head_lr": args.head_lr, "clip": args.clip, "dropout": args.dropout,
        "head_weight_decay": args.head_weight_decay,
        "epochs": args.epochs, "kept_epoch": best_epoch, "seed": args.seed,
        "history": history}, indent=2) + "\n", encoding="utf-8")
    print(f"kept epoch {best_epoch}; saved to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
