"""On-disk cache of backbone embeddings, keyed by backbone identity (config and weights) + pooling + window (+ the
chat template and the kept score head, when used) + text hash.

Layout: ``<root>/<backbone key>/shard-*.pt``; each shard holds ``keys`` (sha256 of the text
the backbone read) and ``emb`` (N, d). New embeddings are appended as a new shard, so an
interrupted run loses at most the shard it was writing.

Multi-layer encoders (``info.layers`` set) share one store per backbone reading, keyed with
``|hidden_states=all``: every hidden state's pooled vector, (N, L + 1, D), so any selection of
layers is a slice of what one forward pass gave (``get_or_compute`` returns the selection,
``get_or_compute_stack`` the whole stack).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from model.backbone import BackboneInfo
from model.pooling import combine_layers


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(text: str, max_length: int, default_length: int) -> str:
    """Texts read at the backbone's default window keep the plain hash; others add the window."""
    return text_key(text if max_length == default_length else f"{max_length}:{text}")


def backbone_key(info: BackboneInfo) -> str:
    """Folder of one way of reading texts. A plain-text record without a score head or weights digest keeps the
    key it always had; the Encoder records the weights digest, so a model fine-tuned in place gets a folder of
    its own (and caches filled before the digest existed are computed once more)."""
    raw = f"{info.id}|{info.fingerprint}|{info.pooling}|{info.max_length}"
    if info.chat_template:
        raw += f"|template={info.chat_template}"
    if info.score_head:
        raw += "|score_head"
    if info.layers is not None:  # one store of every layer, whatever the selection (a slice on read)
        raw += "|hidden_states=all"
    if info.weights:  # a model fine-tuned in place keeps its config (and so its fingerprint)
        raw += f"|weights={info.weights}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


class EmbeddingCache:
    def __init__(self, root: Path, info: BackboneInfo) -> None:
        self.dir = Path(root) / backbone_key(info)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dim = info.dim
        self.info = info
        self.default_length = info.max_length
        self._rows: dict[str, torch.Tensor] = {}
        self.row_ndim = 1 if info.layers is None else 2  # a multi-layer store keeps (L + 1, D) per text
        for shard in sorted(self.dir.glob("shard-*.pt")):
            data = torch.load(shard, weights_only=True)
            if data["emb"].ndim != self.row_ndim + 1:  # written by a caller that passed the wrong encode: not ours
                continue
            for key, row in zip(data["keys"], data["emb"]):
                self._rows[key] = row

    def __len__(self) -> int:
        return len(self._rows)

    def count_missing(self, texts: Sequence[str], max_length: int | None = None) -> int:
        """How many distinct texts would have to go through the backbone."""
        length = max_length or self.default_length
        keys = {cache_key(t, length, self.default_length) for t in texts}
        return sum(1 for key in keys if key not in self._rows)

    def get_or_compute(self, texts: Sequence[str], compute: Callable[[list[str]], torch.Tensor], **window) -> torch.Tensor:
        """(N,) texts -> (N, d); texts not cached yet are computed in chunks and saved.
        ``window``: ``max_length``, the window ``compute`` reads with (default: the backbone's), and
        ``chunk``, as in get_or_compute_stack. With layers chosen, ``compute`` returns (n, L + 1, D)
        stacks and the selection is returned."""
        rows = self.get_or_compute_stack(texts, compute, **window)
        if self.info.layers is None:
            return rows
        if not len(texts):
            return torch.empty(0, self.dim)
        return combine_layers(rows, self.info.layers, self.info.layer_combine)

    def get_or_compute_stack(
        self,
        texts: Sequence[str],
        compute: Callable[[list[str]], torch.Tensor],
        max_length: int | None = None,
        chunk: int = 2048,
    ) -> torch.Tensor:
        """The stored rows as they are: (N, d), or (N, L + 1, D) for a multi-layer store."""
        length = max_length or self.default_length
        keys = [cache_key(t, length, self.default_length) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._rows:
                missing.setdefault(key, text)
        todo = sorted(missing.items(), key=lambda kv: len(kv[1]))  # chunks of similar length pad less
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            emb = compute([t for _, t in part]).float().cpu()
            if emb.ndim != self.row_ndim + 1:
                raise ValueError(f"this store keeps {'(n, L + 1, D) stacks' if self.row_ndim == 2 else '(n, D) rows'}, "
                                 f"the compute function returned {tuple(emb.shape)}")
            part_keys = [k for k, _ in part]
            torch.save({"keys": part_keys, "emb": emb}, self.dir / f"shard-{time.time_ns()}.pt")
            self._rows.update(zip(part_keys, emb))
        if not keys:
            return torch.empty(0, self.dim)
        return torch.stack([self._rows[k] for k in keys])
