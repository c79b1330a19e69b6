"""A checkpoint's ``backbone`` record read back: which hidden states the heads read, and every
Encoder setting the record fixes (so each user of a checkpoint builds the encoder it was trained with)."""

from __future__ import annotations

from model.pooling import LayerCombine


def layer_selection(record: dict) -> tuple[tuple[int, ...] | None, LayerCombine]:
    """(layers, combine) from a checkpoint's ``backbone`` record (absent: the last layer)."""
    layers = record.get("layers")
    return (tuple(int(i) for i in layers) if layers is not None else None), record.get("layer_combine", "concat")


def record_settings(record: dict) -> dict:
    """The Encoder keyword arguments a checkpoint's ``backbone`` record fixes: how texts are read
    (pooling, windows, chat template, score head) and which hidden states the heads read. Older
    records without a router window read router texts with the full window."""
    layers, combine = layer_selection(record)
    max_length = int(record.get("max_length", 256))
    return {"pooling": record.get("pooling", "mean"), "max_length": max_length,
            "router_max_length": int(record.get("router_max_length", max_length)),
            "chat_template": bool(record.get("chat_template")), "keep_score_head": bool(record.get("score_head", False)),
            "layers": layers, "layer_combine": combine}
