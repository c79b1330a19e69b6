"""How far can a linear reward head go on a frozen backbone's features, with the user type KNOWN?

A supervised reference, not something a new user gets: per user type (the four DSP styles, HH helpful and
harmless), a linear Bradley-Terry head fitted on that type's pairs of the fit slice of train, its weight decay
chosen on the validation slice (1 prompt in 8), scored on the test split. Three ways of pooling one forward pass
of each (prompt, response) text are compared, alone and side by side:

* ``mean``: the mean over every token of each hidden state, all layers concatenated (what the shipped heads read);
* ``response``: the mean over the response's tokens only (the prompt's tokens still shape them);
* ``max``: the per-coordinate maximum over every token of each hidden state;
* ``lexical``: not the backbone's, a reference beside it: TF-IDF of the response's words and word pairs
  (evaluation/lexical_features.py, vocabulary from train-split responses), joined to a pooling as ``mean+lexical``.
  Its block is weighed against the standardised hidden states by a factor chosen on validation with the weight decay.

Reports per data set: DSP own-vs-other pairwise and own-style top-1 of five, HH pairwise, each with a 95 %
bootstrap interval over test prompts. Nothing here is shipped or chosen for the service; it indicates whether a
personalization bar asks more than heads on the backbone's features reach (one linear fit: not a bound).

    .venv/bin/python -m evaluation.feature_ceiling [--views mean,response,max,mean+response,mean+max,mean+lexical]
        [--backbone LOCAL_PATH]   # another encoder? (views mean,mean+lexical: 9 min on 2 CPU cores, mpnet-base 36)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from evaluation.bootstrap import Interval, prompt_bootstrap
from evaluation.lexical_features import fit_vocabulary, tfidf
from model.backbone import Encoder
from model.data import DSP_DOMAINS, DSP_RESPONSE_KEYS, HH_OBJECTIVES, is_validation, load_dsp_items, load_relabeled_hh
from model.paths import REPO_ROOT
from model.pooling import to_device
from model.text_format import PAIR_SEPARATOR

POOLINGS = ("mean", "response", "max")
LEXICAL = "lexical"  # the response's words (TF-IDF), a reference beside the backbone's poolings
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2)
LEXICAL_WEIGHTS = (3.0, 10.0, 30.0)  # the word block's factor beside the standardised hidden states (validation)
CACHE = REPO_ROOT / ".cache" / "feature_ceiling"
PROBE_VERSION = 1  # bump when what a cached file holds changes


def response_start(text: str, response: str) -> int:
    """Where the response begins in a plain-format pair text (``prompt + SEP + response``, the response possibly
    cut at its end, the prompt at its start): the first separator after which the rest of the text is a prefix of
    the response; 0 when the text is the response alone; the text's end when the response is empty."""
    if response.startswith(text):
        return 0
    at = text.find(PAIR_SEPARATOR)
    while at >= 0:
        rest = text[at + len(PAIR_SEPARATOR):]
        if response.startswith(rest) and (rest or not response):  # an empty response: the text ends at SEP
            return at + len(PAIR_SEPARATOR)
        at = text.find(PAIR_SEPARATOR, at + 1)
    raise ValueError("the text does not end with a prefix of the response (a chat-template backbone?)")


def response_token_mask(offsets: torch.Tensor, starts: Sequence[int], attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, 2) character offsets of each token, where each text's response begins, (B, T) -> (B, T) bool: the
    tokens of the response (special tokens and padding, whose offsets are (0, 0), never are)."""
    begins = torch.tensor(list(starts))[:, None]
    return (offsets[:, :, 0] >= begins) & (offsets[:, :, 1] > offsets[:, :, 0]) & (attention_mask == 1)


def pooled_views(hidden: Sequence[torch.Tensor], mask: torch.Tensor, response_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """L + 1 hidden states (B, T, D), the attention mask and the response tokens' mask (B, T) -> each pooling's
    (B, (L + 1) * D) features, layers concatenated in order."""
    m, r = mask.unsqueeze(-1).float(), response_mask.unsqueeze(-1).float()
    out = {"mean": [], "response": [], "max": []}
    for h in hidden:
        h = h.float()
        out["mean"].append((h * m).sum(1) / m.sum(1).clamp_min(1))
        out["response"].append((h * r).sum(1) / r.sum(1).clamp_min(1))
        out["max"].append(h.masked_fill(m == 0, float("-inf")).amax(1))
    return {k: torch.cat(v, dim=1) for k, v in out.items()}


def cache_key(encoder: Encoder, texts: Sequence[str], starts: Sequence[int]) -> str:
    """The backbone as loaded (its record and a hash of its weights: a fine-tuned copy with the same config differs),
    the probe's version, and every text with where its response begins."""
    digest = hashlib.sha256(f"{PROBE_VERSION}|{json.dumps(encoder.info.record(), sort_keys=True)}".encode("utf-8"))
    for tensor in encoder.model.state_dict().values():
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    for text, start in zip(texts, starts):
        digest.update(f"\0{start}\0{text}".encode("utf-8"))
    return digest.hexdigest()[:24]


def encode_views(encoder: Encoder, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 32,
                 ) -> dict[str, torch.Tensor]:
    """Each (prompt, response) joined as the service joins it, one forward pass, every pooling (cached on disk)."""
    texts, _ = encoder.join_pairs(prompts, responses)
    starts = [response_start(t, r) for t, r in zip(texts, responses)]
    path = CACHE / f"{cache_key(encoder, texts, starts)}.pt"
    if path.exists():
        return torch.load(path)
    from tqdm import tqdm

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    views: dict[str, torch.Tensor] = {}
    with tqdm(total=len(texts), desc="encoding", unit="text", dynamic_ncols=True) as bar:
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            batch = encoder.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                      max_length=encoder.max_length, return_tensors="pt", return_offsets_mapping=True)
            offsets = batch.pop("offset_mapping")
            response_mask = response_token_mask(offsets, [starts[i] for i in idx], batch["attention_mask"])
            batch, response_mask = to_device(batch, encoder.device), response_mask.to(encoder.device)
            with torch.inference_mode():
                hidden = encoder.model(**batch, output_hidden_states=True).hidden_states
            for name, x in pooled_views(hidden, batch["attention_mask"], response_mask).items():
                if name not in views:
                    views[name] = torch.empty(len(texts), x.shape[1])
                views[name][idx] = x.cpu()
            bar.update(len(idx))
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(views, path)
    return views


def view_parts(name: str) -> list[str]:
    """The view's blocks in the order they are joined: the poolings as named, the word block last."""
    parts = name.split("+")
    return [p for p in parts if p != LEXICAL] + [LEXICAL] * (LEXICAL in parts)


def view_of(views: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """``mean+max`` -> the two poolings side by side (``lexical``, when named, last)."""
    return torch.cat([views[part] for part in view_parts(name)], dim=1)


def candidate_scales(name: str, chosen: torch.Tensor, rejected: torch.Tensor, lexical_width: int) -> list:
    """Column scales a view's head is fitted with: None (every column standardised) for the backbone's poolings;
    with the word block, the hidden states standardised and the unit-length TF-IDF divided by 1 / each factor of
    LEXICAL_WEIGHTS (standardising sparse word columns one by one drowns the head in rare words)."""
    if LEXICAL not in name.split("+"):
        return [None]
    dense = chosen.shape[1] - lexical_width
    spread = torch.cat([chosen[:, :dense], rejected[:, :dense]]).std(0) + 1e-6
    return [torch.cat([spread, torch.full((lexical_width,), 1.0 / c)]) for c in LEXICAL_WEIGHTS]


def fit_head(chosen: torch.Tensor, rejected: torch.Tensor, weight_decay: float, steps: int = 400,
             scale: torch.Tensor | None = None) -> torch.Tensor:
    """A linear Bradley-Terry head on scaled features (standardised unless ``scale`` is given): returns w with
    scores (x / scale) @ w, scale folded in (so scores are x @ w)."""
    if scale is None:
        scale = torch.cat([chosen, rejected]).std(0) + 1e-6
    diff = (chosen - rejected) / scale
    w = torch.zeros(diff.shape[1], requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        (-F.logsigmoid(diff @ w).mean() + weight_decay * w.square().sum()).backward()
        opt.step()
    return w.detach() / scale


def choose_and_fit(fit: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
                   scales: Sequence[torch.Tensor | None] = (None,)) -> torch.Tensor:
    """The head of the weight decay (and column scale) with the best validation pairwise accuracy."""
    best, best_acc = None, -1.0
    for scale in scales:
        for wd in WEIGHT_DECAYS:
            w = fit_head(*fit, wd, scale=scale)
            acc = float(((val[0] - val[1]) @ w > 0).float().mean())
            if acc > best_acc:
                best, best_acc = w, acc
    return best


def with_words(views: dict[str, torch.Tensor], names: Sequence[str], responses: Sequence[str],
               vocabulary) -> dict[str, torch.Tensor]:
    """The poolings, plus the responses' TF-IDF block when a view names it."""
    if not any(LEXICAL in n.split("+") for n in names):
        return views
    return {**views, LEXICAL: tfidf(responses, vocabulary)}


def dsp_figures(encoder: Encoder, names: Sequence[str]) -> dict[str, tuple[Interval, Interval]]:
    """view -> (own-vs-other pairwise, own-style top-1 of five) on the DSP test split."""
    keys = list(DSP_RESPONSE_KEYS)
    train, test = load_dsp_items(split="train"), load_dsp_items(split="test")
    vocabulary = fit_vocabulary(it.responses[k] for it in train for k in keys)  # train responses, no labels

    def stack(items):
        responses = [it.responses[k] for it in items for k in keys]
        views = with_words(encode_views(encoder, [it.prompt for it in items for _ in keys], responses), names,
                           responses, vocabulary)
        return {n: view_of(views, n).view(len(items), len(keys), -1) for n in names}

    x_train, x_test = stack(train), stack(test)
    val = torch.tensor([is_validation(it.prompt) for it in train])
    out = {}
    for name in names:
        pair_ok, top_ok, pair_groups, top_groups = [], [], [], []
        for domain in DSP_DOMAINS:
            own, others = keys.index(domain), [i for i in range(len(keys)) if i != keys.index(domain)]

            def pairs(x):
                return x[:, own:own + 1].expand(-1, len(others), -1).flatten(0, 1), x[:, others].flatten(0, 1)

            fit = pairs(x_train[name][~val])
            w = choose_and_fit(fit, pairs(x_train[name][val]), candidate_scales(name, *fit, len(vocabulary)))
            scores = x_test[name] @ w  # (Q, 5)
            beats = scores[:, own:own + 1] > scores[:, others]  # (Q, 4)
            pair_ok.append(beats.float().flatten())
            top_ok.append(beats.all(1).float())
            pair_groups += [domain] * beats.numel()
            top_groups += [domain] * len(test)
        pair_prompts = [it.prompt for it in test for _ in range(len(keys) - 1)] * len(DSP_DOMAINS)
        top_prompts = [it.prompt for it in test] * len(DSP_DOMAINS)
        out[name] = (prompt_bootstrap(torch.cat(pair_ok), pair_prompts, pair_groups),
                     prompt_bootstrap(torch.cat(top_ok), top_prompts, top_groups))
    return out


def hh_figures(encoder: Encoder, names: Sequence[str]) -> dict[str, Interval]:
    """view -> HH pairwise accuracy (mean over helpful and harmless) on the test split."""
    train, test = load_relabeled_hh(split="train"), load_relabeled_hh(split="test")
    vocabulary = fit_vocabulary(text for p in train for text in (p.chosen, p.rejected))  # train responses, no labels

    def both(pairs):
        chosen, rejected = [p.chosen for p in pairs], [p.rejected for p in pairs]
        c = with_words(encode_views(encoder, [p.prompt for p in pairs], chosen), names, chosen, vocabulary)
        r = with_words(encode_views(encoder, [p.prompt for p in pairs], rejected), names, rejected, vocabulary)
        return {n: (view_of(c, n), view_of(r, n)) for n in names}

    x_train, x_test = both(train), both(test)
    val = torch.tensor([is_validation(p.prompt) for p in train])
    out = {}
    for name in names:
        ok = torch.empty(len(test))
        for objective in HH_OBJECTIVES:
            fit = torch.tensor([p.user_type == objective for p in train])
            on_fit = tuple(x[fit & ~val] for x in x_train[name])
            w = choose_and_fit(on_fit, tuple(x[fit & val] for x in x_train[name]),
                               candidate_scales(name, *on_fit, len(vocabulary)))
            sel = torch.tensor([p.user_type == objective for p in test])
            ok[sel] = ((x_test[name][0][sel] - x_test[name][1][sel]) @ w > 0).float()
        out[name] = prompt_bootstrap(ok, [p.prompt for p in test], [p.user_type for p in test])
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.feature_ceiling", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--views", default="mean,response,max,mean+response,mean+max",
                   help="poolings (mean, response, max), alone or joined with + (side by side); lexical: the "
                        "response's TF-IDF, a reference beside them")
    p.add_argument("--backbone", type=Path, default=None,
                   help="a local encoder to measure instead of the packaged all-MiniLM-L6-v2 (plain-format texts)")
    args = p.parse_args(argv)
    names = [v.strip() for v in args.views.split(",") if v.strip()]
    for name in names:
        if any(part not in (*POOLINGS, LEXICAL) for part in name.split("+")):
            p.error(f"unknown view {name!r}: poolings are {', '.join(POOLINGS)} (and {LEXICAL}), joined with +")
    started = time.time()
    encoder = Encoder(args.backbone, chat_template=False)  # plain texts: the response span is found in them
    dsp, hh = dsp_figures(encoder, names), hh_figures(encoder, names)
    print(f"\n| pooling (all {encoder.num_layers + 1} hidden states) | DSP own-vs-other pairwise | DSP own-style top-1 of five | HH pairwise |")
    print("|---|---|---|---|")
    for name in names:
        print(f"| {name} | {dsp[name][0]} | {dsp[name][1]} | {hh[name]} |")
    print(f"\nTest split, 95 % bootstrap over prompts; one linear head per user type fitted WITH the type known "
          f"(weight decay chosen on validation). {time.time() - started:.0f} s.")


if __name__ == "__main__":
    main()
