"""Token states -> one vector per text, and the host-to-device copy of a tokenized batch.

Shapes: B texts, T tokens, D hidden size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

Pooling = Literal["mean", "last", "cls"]
LayerCombine = Literal["concat", "mean"]  # selected layers' pooled vectors: side by side, or averaged


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: Pooling) -> torch.Tensor:
    """(B, T, D), (B, T) -> (B, D). ``last``: the last non-padding token, whichever side pads."""
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        # index of the last real token, for right or left padding alike
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (positions * mask).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    # sums in float32: a half-precision sum over 256 tokens loses digits
    return (hidden * m).sum(1, dtype=torch.float32) / m.sum(1, dtype=torch.float32).clamp_min(1.0)


def pool_layers(hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, how: Pooling) -> torch.Tensor:
    """L + 1 hidden states (embeddings output, then each layer), each (B, T, D) -> (B, L + 1, D)
    float32: every layer pooled the same way, from one forward pass."""
    return torch.stack([pool(h, mask, how).float() for h in hidden_states], dim=1)


def combine_layers(stack: torch.Tensor, layers: Sequence[int], combine: LayerCombine) -> torch.Tensor:
    """(B, L + 1, D) pooled layers -> (B, D * len(layers)) concatenated in the given order, or
    (B, D) their mean. Index 0 is the embeddings output, -1 the last layer."""
    picked = stack[:, list(layers)]  # (B, S, D)
    if combine == "mean":
        return picked.mean(dim=1)
    return picked.reshape(picked.shape[0], -1)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The (B, T) integer tensors of a batch on ``device`` in one host-to-device copy: stacked,
    pinned when the device is a GPU, sent non_blocking (the forward queues behind the copy on
    the same stream, so it needs no sync). Unchanged on cpu."""
    if device.type == "cpu":
        return batch
    names = list(batch)
    if len({(t.shape, t.dtype) for t in batch.values()}) != 1:  # not one shape: one copy each
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    packed = torch.stack([batch[k] for k in names])  # (F, B, T)
    if device.type == "cuda":
        packed = packed.pin_memory()
    return dict(zip(names, packed.to(device, non_blocking=True).unbind(0)))
