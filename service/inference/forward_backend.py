"""The forward the batcher runs, as MICRO_BACKEND asks: torch (None: Encoder.forward_tokens), or
the checkpoint's ONNX Runtime graph (model/onnx_backend.py), loaded and warmed up at startup."""

from __future__ import annotations

from collections.abc import Callable

import torch

from model.backbone import Encoder
from service.core.config import Settings

GraphForward = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class BackendError(RuntimeError):
    """The asked backend cannot run (no graph, another backbone's graph, onnxruntime missing)."""


def backend_forward(encoder: Encoder, settings: Settings, threads: int) -> GraphForward | None:
    """None for torch; else the graph, after one full-window forward. Blocking: call in a thread."""
    if settings.backend == "torch":
        return None
    from model.onnx_backend import GraphError, load_graph

    try:
        graph = load_graph(settings.checkpoint, settings.backend, encoder, threads)
    except GraphError as exc:
        raise BackendError(f"{exc} (MICRO_BACKEND={settings.backend}, MICRO_CHECKPOINT={settings.checkpoint})") from exc
    graph(encoder.tokenize(["warm up " * encoder.max_length]))
    return graph
