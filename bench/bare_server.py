"""The reference: the reward server a user writes in ten minutes (OpenRLHF serve_rm.py's shape).

One FastAPI handler: read the JSON, tokenize the request's texts, run the backbone on them, apply
the head, answer. No queue, no batching across requests, no cache, no Redis, fp32 torch with
threads = cores; the forward blocks inside the ``async def`` as serve_rm's does (one request at a
time). Same backbone, same features (the checkpoint's pooling, windows and layer concatenation,
model.backbone.Encoder), same head: a sample without a user gets the mix the service gives a new
user, softmax(s (R p + b)) with s = routing.prior_strength (the prompt's router forward runs only
when s != 0: it cannot change the answer otherwise). bench.rl_compare drives it beside the service.

    MICRO_CHECKPOINT=checkpoints/default MICRO_PORT=8100 python -m bench.bare_server   # MICRO_DEVICE=cuda: on a GPU
"""

from __future__ import annotations

import os

import torch
import uvicorn
from fastapi import FastAPI, Request

from model.backbone import Encoder
from model.checkpoint import load_checkpoint, read_config, record_settings
from model.features import router_text
from model.paths import DEFAULT_CHECKPOINT
from service.core.cpu_quota import available_cores


def create_app(checkpoint: str) -> FastAPI:
    torch.set_num_threads(int(os.environ.get("MICRO_TORCH_THREADS", "0")) or available_cores())  # 0: the cores
    config = read_config(checkpoint)
    encoder = Encoder(device=os.environ.get("MICRO_DEVICE", "cpu"), dtype="float32", **record_settings(config.backbone))
    model, config = load_checkpoint(checkpoint, encoder.info)
    model.prior_strength = config.routing_config().prior_strength
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict:
        return {"ok": True}

    @app.post("/get_reward")
    async def get_reward(request: Request) -> dict:
        data = await request.json()
        queries, prompts = data["query"], data.get("prompts") or data["query"]
        responses = [q[len(p):].lstrip() if q.startswith(p) else q for q, p in zip(queries, prompts)]
        texts, _ = encoder.join_pairs(prompts, responses)
        with torch.inference_mode():
            rewards = model.rewards(encoder.forward_tokens(encoder.tokenize(texts)).float().cpu())  # (N, K)
            if model.prior_strength:
                routers = encoder.tokenize([router_text(p) for p in prompts], encoder.router_max_length)
                weights = model.log_weights(encoder.forward_tokens(routers).float().cpu()).exp()  # (N, K)
            else:
                weights = torch.softmax(torch.zeros(model.num_heads), -1)  # s = 0: uniform, whatever the prompt
            scores = (rewards * weights).sum(-1).tolist()
        return {"rewards": scores, "scores": scores, "extra_logs": {}}

    return app


def main() -> None:
    app = create_app(os.environ.get("MICRO_CHECKPOINT", str(DEFAULT_CHECKPOINT)))
    uvicorn.run(app, host=os.environ.get("MICRO_HOST", "127.0.0.1"), port=int(os.environ.get("MICRO_PORT", "8100")),
                log_level="warning")


if __name__ == "__main__":
    main()
