"""Preference pairs -> embedding tensors, through the on-disk cache (stage-1 training and
offline evaluation; the service embeds per request instead)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model.backbone import Encoder
from model.data import PreferencePair
from model.embedding_cache import EmbeddingCache
from model.fitting import PairTensors


def router_text(prompt: str, context: str | None = None) -> str:
    """What the router reads: the user's stated context (if any) then the prompt."""
    return f"{context.strip()}\n\n{prompt}" if context and context.strip() else prompt


def embed_pairs(
    pairs: Sequence[PreferencePair], encoder: Encoder, cache_dir: Path, progress: bool = True
) -> PairTensors:
    """Embeds each distinct text once (cached on disk by backbone + pooling + text hash)."""
    cache = EmbeddingCache(cache_dir, encoder.info)
    prompts = [encoder.prompt_text(p.prompt, list(p.messages)) if p.messages else p.prompt for p in pairs]
    chosen_texts, _ = encoder.join_pairs(prompts, [p.chosen for p in pairs])
    rejected_texts, _ = encoder.join_pairs(prompts, [p.rejected for p in pairs])
    router_texts = [router_text(prompt, p.context) for prompt, p in zip(prompts, pairs)]
    pair_texts = chosen_texts + rejected_texts
    todo = cache.count_missing(pair_texts) + cache.count_missing(router_texts, encoder.router_max_length)
    bar = _progress_bar(todo, progress)
    tick = bar.update if bar else None
    emb = cache.get_or_compute(pair_texts, lambda t: encoder.encode(t, progress=tick))
    prompt_emb = cache.get_or_compute(
        router_texts, lambda t: encoder.encode_router(t, progress=tick), max_length=encoder.router_max_length
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
