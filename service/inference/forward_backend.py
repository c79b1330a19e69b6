"""The forward the batcher runs, as MICRO_BACKEND asks: torch or torch-bf16 (None: Encoder.forward_tokens
in the dtype service/inference/model_loading.py loaded it with), or
the checkpoint's ONNX Runtime graph (model/onnx_backend.py), loaded and warmed up at startup."""

from __future__ import annotations

from collections.abc import Callable

import torch

from model.backbone import Encoder
from service.core.config import Settings

GraphForward = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class BackendError(RuntimeError):
    """The asked backend cannot run (no graph, another backbone's graph, onnxruntime missing)."""


def backend_forward(encoder: Encoder, settings: Settings, backend: str, threads: int) -> GraphForward | None:
    """None for the torch backends (the encoder was loaded in the variant's dtype); else the graph,
    after one full-window forward. Blocking: call in a thread."""
    if backend.startswith("torch"):
        return None
    from model.onnx_backend import GraphError, load_graph

    try:
        graph = load_graph(settings.checkpoint, backend, encoder, threads)
    except GraphError as exc:
        raise BackendError(f"{exc} (MICRO_BACKEND={backend}, MICRO_CHECKPOINT={settings.checkpoint})") from exc
    graph(encoder.tokenize(["warm up " * encoder.max_length]))
    return graph
