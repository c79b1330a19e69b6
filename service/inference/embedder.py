"""Text -> embedding for the service: tokenization off the event loop (each text tokenized once),
an LRU cache of embeddings keyed by (tenant, window, text) hash, and the batcher for what the cache
does not hold (the texts themselves: service/inference/texts.py).

Two kinds of text, read with different windows exactly as in training:
router texts (context + prompt) with ``encoder.router_max_length`` tokens, pair texts
(prompt + response) with ``encoder.max_length``. Both kinds share batches: each text is
tokenized with its own window, then all are padded together into one forward.

A text scored once is not embedded again while it stays in the cache: feedback on a pair
that was just scored needs no forward pass. The cache is scoped by the caller's tenant
(``service.core.logs.tenant_var``, set by the middleware from the API key): a shared cache would let
one tenant learn, from the latency of a request, whether another had scored a text.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from model.backbone import Encoder
from service.core import metrics
from service.core.logs import tenant_var

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.inference.batcher import Batcher, Forward

Item = tuple[str, int]  # (text, window in tokens)


def item_key(text: str, window: int, tenant: str | None = None) -> bytes:
    """The cache key of a text read with ``window`` tokens for ``tenant`` (None: auth off, one namespace)."""
    scope = "" if tenant is None else tenant  # tenant names hold no ":" (service/api/auth.py), so keys cannot collide
    return hashlib.blake2b(f"{scope}:{window}:{text}".encode(), digest_size=16).digest()


class EmbeddingLRU:
    """At most ``capacity`` (D,) rows, least recently used evicted first. Event-loop only."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[bytes, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: bytes) -> torch.Tensor | None:
        row = self._rows.get(key)
        if row is not None:
            self._rows.move_to_end(key)
        return row

    def put(self, key: bytes, row: torch.Tensor) -> None:
        if self.capacity <= 0:
            return
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)


class Embedder:
    def __init__(self, encoder: Encoder, batcher: Batcher, cache_size: int, router_reads: bool = True) -> None:
        self.encoder = encoder
        self.batcher = batcher
        self.cache = EmbeddingLRU(cache_size)
        # False when the router's logits are multiplied by prior_strength = 0: no router input can change
        # an answer, so router texts are not embedded (zero rows stand in; s * (R 0 + b) = 0 as s * (R p + b))
        self.router_reads = router_reads

    # ---- embeddings -----------------------------------------------------------------------
    async def embed(self, router_texts: Sequence[str], pair_texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (M, D) router embeddings, (N, D) pair embeddings. Each distinct uncached
        (text, window) goes through the backbone once; router and pair texts share batches."""
        if not self.router_reads:
            return torch.zeros(len(router_texts), self.encoder.dim), await self._embed_items(
                [(t, self.encoder.max_length) for t in pair_texts], self.encoder.dim)
        items = [(t, self.encoder.router_max_length) for t in router_texts]
        items += [(t, self.encoder.max_length) for t in pair_texts]
        emb = await self._embed_items(items)
        return emb[: len(router_texts)], emb[len(router_texts) :]

    async def _embed_items(self, items: list[Item], dim: int = 0) -> torch.Tensor:
        if not items:
            return torch.empty(0, dim)
        tenant = tenant_var.get()
        keys = [item_key(t, w, tenant) for t, w in items]
        rows: dict[bytes, torch.Tensor] = {}
        missing: dict[bytes, Item] = {}
        for key, item in zip(keys, items):
            if key in rows or key in missing:
                continue
            row = self.cache.get(key)
            if row is None:
                missing[key] = item
            else:
                rows[key] = row
        metrics.EMBED_CACHE.labels("hit").inc(len(rows))
        metrics.EMBED_CACHE.labels("miss").inc(len(missing))
        if missing:
            # tokenized once, in a thread: the worker thread only pads and runs the forward
            features = await asyncio.to_thread(tokenize_items, self.encoder, list(missing.values()))
            emb = await self.batcher.embed(features, [len(f["input_ids"]) for f in features], tenant=tenant)
            for key, row in zip(missing, emb):
                row = row.clone()  # not a view: the batch tensor can be freed
                rows[key] = row
                self.cache.put(key, row)
        return torch.stack([rows[k] for k in keys])


def tokenize_items(encoder: Encoder, items: Sequence[Item]) -> list[dict[str, list[int]]]:
    """Each text tokenized with its own window (truncated, unpadded), in input order."""
    out: list[dict[str, list[int]] | None] = [None] * len(items)
    for window in {w for _, w in items}:
        idx = [i for i, (_, w) in enumerate(items) if w == window]
        enc = encoder.tokenizer([items[i][0] for i in idx], truncation=True, max_length=window)
        for j, i in enumerate(idx):
            out[i] = {name: enc[name][j] for name in enc}
    return out  # type: ignore[return-value]


def encoder_forward(
    encoder: Encoder, graph: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None
) -> Forward:
    """The batcher's forward (runs in its worker thread): (B,) tokenized items (tokenize_items)
    -> (B, D) float32 on cpu. ``graph``: an ONNX Runtime graph of forward_tokens (MICRO_BACKEND)."""
    run = graph or encoder.forward_tokens

    def forward(features: list[dict[str, list[int]]]) -> torch.Tensor:
        with torch.inference_mode():
            return run(encoder.collate(features)).float().cpu()

    return forward
