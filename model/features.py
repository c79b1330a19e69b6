"""Preference pairs -> embedding tensors, through the on-disk cache (stage-1 training and
offline evaluation; the service embeds per request instead)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from model.backbone import Encoder
from model.data import PreferencePair
from model.embedding_cache import EmbeddingCache
from model.fitting import PairTensors
from model.pooling import LayerCombine, combine_layers


def router_text(prompt: str, context: str | None = None) -> str:
    """What the router reads: the user's stated context (if any) then the prompt."""
    return f"{context.strip()}\n\n{prompt}" if context and context.strip() else prompt


def embed_pairs(
    pairs: Sequence[PreferencePair], encoder: Encoder, cache_dir: Path, progress: bool = True
) -> PairTensors:
    """Embeds each distinct text once (cached on disk by backbone + pooling + text hash); with
    layers chosen, every layer is stored and the encoder's selection returned."""
    if encoder.info.layers is None:
        return _embed(pairs, encoder, EmbeddingCache(cache_dir, encoder.info), encoder.encode, encoder.encode_router, progress)
    return _embed(pairs, encoder, EmbeddingCache(cache_dir, encoder.info), encoder.encode_all_layers,
                  lambda t, **kw: encoder.encode_all_layers(t, max_length=encoder.router_max_length, **kw), progress)


def embed_texts(texts: Sequence[str], encoder: Encoder, cache_dir: Path, router: bool = False) -> torch.Tensor:
    """(N, D) features of plain texts as the heads read them (``router``: as the router reads them,
    in its window), through the same on-disk cache as the pairs (multi-layer stores included)."""
    cache = EmbeddingCache(cache_dir, encoder.info)
    window = encoder.router_max_length if router else None
    if encoder.info.layers is None:
        compute = encoder.encode_router if router else encoder.encode
    else:
        compute = lambda t: encoder.encode_all_layers(t, max_length=window)  # noqa: E731
    return cache.get_or_compute(list(texts), compute, max_length=window)


def embed_pair_layers(
    pairs: Sequence[PreferencePair], encoder: Encoder, cache_dir: Path, progress: bool = True
) -> PairTensors:
    """Every hidden state pooled: chosen, rejected and router inputs as (N, L + 1, D) stacks,
    from the multi-layer store (one forward pass per text serves every layer selection)."""
    info = replace(encoder.info, layers=tuple(range(encoder.num_layers + 1)), layer_combine="concat")
    cache = _StackCache(cache_dir, info)
    return _embed(pairs, encoder, cache, encoder.encode_all_layers,
                  lambda t, **kw: encoder.encode_all_layers(t, max_length=encoder.router_max_length, **kw), progress)


def encode_pairs(pairs: Sequence[PreferencePair], encoder: Encoder) -> tuple[PairTensors, int]:
    """The features embed_pairs gives, without the on-disk cache (the sharded extraction keeps its own
    files): each distinct text of these pairs through the backbone once. Returns the features and
    how many texts went through the backbone."""
    chosen_texts, rejected_texts, router_texts = pair_texts(pairs, encoder)
    joined, joined_count = _distinct_rows(chosen_texts + rejected_texts, encoder.encode)
    prompt, router_count = _distinct_rows(router_texts, encoder.encode_router)
    n = len(pairs)
    return PairTensors(chosen=joined[:n], rejected=joined[n:], prompt=prompt), joined_count + router_count


def _distinct_rows(texts: list[str], encode) -> tuple[torch.Tensor, int]:
    distinct = list(dict.fromkeys(texts))
    where = {text: i for i, text in enumerate(distinct)}
    return encode(distinct)[[where[t] for t in texts]], len(distinct)


def select_layers(tensors: PairTensors, layers: Sequence[int] | None, combine: LayerCombine = "concat") -> PairTensors:
    """A layer selection of stacked pair tensors (None: the last layer)."""
    chosen = [-1] if layers is None else list(layers)
    pick = lambda t: combine_layers(t, chosen, combine)  # noqa: E731
    return PairTensors(chosen=pick(tensors.chosen), rejected=pick(tensors.rejected), prompt=pick(tensors.prompt))


class _StackCache(EmbeddingCache):
    """The multi-layer store read whole."""

    def get_or_compute(self, texts, compute, max_length=None, chunk=512) -> torch.Tensor:  # type: ignore[override]
        return self.get_or_compute_stack(texts, compute, max_length, chunk)


def pair_texts(pairs: Sequence[PreferencePair], encoder: Encoder) -> tuple[list[str], list[str], list[str]]:
    """What the backbone reads of each pair: (chosen texts, rejected texts, router texts), the
    chosen and rejected ones joined to fit the window, the router ones read in the router window."""
    prompts = [encoder.prompt_text(p.prompt, list(p.messages)) if p.messages else p.prompt for p in pairs]
    chosen_texts, _ = encoder.join_pairs(prompts, [p.chosen for p in pairs])
    rejected_texts, _ = encoder.join_pairs(prompts, [p.rejected for p in pairs])
    return chosen_texts, rejected_texts, [router_text(prompt, p.context) for prompt, p in zip(prompts, pairs)]


def _embed(pairs, encoder: Encoder, cache: EmbeddingCache, encode, encode_router, progress: bool) -> PairTensors:
    chosen_texts, rejected_texts, router_texts = pair_texts(pairs, encoder)
    joined = chosen_texts + rejected_texts
    todo = cache.count_missing(joined) + cache.count_missing(router_texts, encoder.router_max_length)
    bar = _progress_bar(todo, progress)
    tick = bar.update if bar else None
    emb = cache.get_or_compute(joined, lambda t: encode(t, progress=tick))
    prompt_emb = cache.get_or_compute(
        router_texts, lambda t: encode_router(t, progress=tick), max_length=encoder.router_max_length
    )
    if bar:
        bar.close()
    n = len(pairs)
    return PairTensors(chosen=emb[:n], rejected=emb[n:], prompt=prompt_emb)


def _progress_bar(total: int, enabled: bool):
    if not enabled or total <= 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="embedding", unit="text", dynamic_ncols=True)
