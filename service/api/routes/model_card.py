"""GET /v1/model: the model card."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request

from service.api.auth import Reader
from service.api.deps import RuntimeDep
from service.api.openapi import errors
from service.api.model_card_schema import ModelCard

router = APIRouter(tags=["model"])


@router.get("/v1/model", response_model=ModelCard, responses=errors(401, 403, 503, 504))
async def model_card(request: Request, runtime: RuntimeDep, _: Reader) -> ModelCard:
    """Backbone, number of heads, head descriptions and cards (what each head stands for, from the
    training data), training data and measured accuracy."""
    limits = dataclasses.asdict(request.app.state.limits) | {"max_body_bytes": runtime.settings.max_body_bytes}
    card = dataclasses.asdict(runtime.config) | {
        "model_version": runtime.config.version,
        "routing": dataclasses.asdict(runtime.routing),  # in use: checkpoint's, MICRO_TAU/ETA/ACTIVE_CRITERION override
        "device": str(runtime.encoder.device),
        "dtype": str(runtime.encoder.dtype).removeprefix("torch."),
        "limits": limits,
    }
    return ModelCard(**card)  # the config's own fields (version, format_version) are not part of the card
