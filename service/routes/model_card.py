"""GET /v1/model: the model card."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from service.auth import Reader
from service.deps import RuntimeDep
from service.schemas import ModelCard

router = APIRouter(tags=["model"])


@router.get("/v1/model", response_model=ModelCard)
async def model_card(runtime: RuntimeDep, _: Reader) -> ModelCard:
    """Backbone, number of heads, head descriptions, training data and measured accuracy."""
    cfg, s = runtime.config, runtime.settings
    return ModelCard(
        model_version=cfg.version,
        backbone=cfg.backbone,
        num_heads=cfg.num_heads,
        dim=cfg.dim,
        router=cfg.router,
        head_descriptions=cfg.head_descriptions,
        routing=dataclasses.asdict(runtime.routing),
        training=cfg.training,
        metrics=cfg.metrics,
        device=str(runtime.encoder.device),
        dtype=str(runtime.encoder.dtype).removeprefix("torch."),
        limits={
            "max_responses": s.max_responses,
            "max_queries": s.max_queries,
            "max_text_chars": s.max_text_chars,
            "max_messages": s.max_messages,
            "max_context_chars": s.max_context_chars,
            "max_body_bytes": s.max_body_bytes,
        },
    )
