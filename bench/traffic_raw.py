"""The raw loop of the RL pattern: the backbone (torch, or the ONNX graph MICRO_BACKEND names) in
this process, no HTTP, no queue, on the texts the service embeds for the same /get_reward bodies
(one router text with the router window, one (prompt, response) text), sorted by length."""

from __future__ import annotations

import time
from pathlib import Path

from model.backbone import Encoder
from model.onnx_gate import features
from service.runtime import available_cores


def rl_texts(encoder: Encoder, bodies: list[dict]) -> tuple[list[str], list[str]]:
    prompts = [b["prompts"][0] for b in bodies]
    responses = [b["query"][0][len(p):].lstrip() for b, p in zip(bodies, prompts)]
    return prompts, encoder.join_pairs(prompts, responses)[0]


def raw_rl(encoder: Encoder, checkpoint: Path, backend: str, bodies: list[dict], batch_sizes: list[int]) -> dict:
    """Queries per second of the bare forward, for each batch size and the best one."""
    forward = encoder.forward_tokens
    if backend != "torch":
        from model.onnx_backend import load_graph

        forward = load_graph(checkpoint, backend, encoder, available_cores())
    routers, pairs = rl_texts(encoder, bodies)
    features(encoder, forward, pairs[:4], encoder.max_length)  # lazy init off the clock
    by_size = {}
    for size in batch_sizes:
        start = time.perf_counter()
        features(encoder, forward, routers, encoder.router_max_length, size)
        features(encoder, forward, pairs, encoder.max_length, size)
        by_size[size] = round(len(pairs) / (time.perf_counter() - start), 2)
    best = max(by_size, key=by_size.get)
    return {"queries_per_s": by_size[best], "best_batch_size": best, "by_batch_size": by_size, "queries": len(pairs)}
