"""The backbone's own throughput: model.backbone.Encoder in this process, no HTTP, no queue, on the
texts the service would embed for the same requests, each set sorted by length as Encoder.encode
does: bench.load's calls (one router text per call, one (prompt, response) text per response) and
bench.traffic's RL pattern (the torch forward, or the ONNX graph MICRO_BACKEND names; one router text
with the router window and one (prompt, response) text per /get_reward body)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.workload import Call
from model.backbone import Encoder
from model.checkpoint import read_config, record_settings
from model.features import router_text
from model.onnx_gate import features
from model.variants import VARIANT_DTYPES, auto_backend
from service.core.cpu_quota import available_cores


def load_encoder(checkpoint: Path, backend: str = "torch") -> Encoder:
    """The encoder as the service builds it (windows from the checkpoint; threads = cores; the dtype
    of the torch variant MICRO_BACKEND resolves to: auto -> torch-bf16 where the checkpoint passed its gate)."""
    torch.set_num_threads(available_cores())
    config = read_config(checkpoint)
    if backend == "auto":
        backend = auto_backend(Path(checkpoint), config.backbone, "cpu")[0]
    dtype = VARIANT_DTYPES.get(backend, "float32")
    return Encoder(device="cpu", dtype=dtype, **record_settings(config.backbone))


def raw_throughput(encoder: Encoder, calls: list[Call], batch_sizes: list[int]) -> dict:
    """Responses per second of the bare encoder, for each batch size and the best one."""
    routers = [router_text(c.prompt) for c in calls]
    pairs: list[str] = []
    for c in calls:
        pairs += encoder.join_pairs([c.prompt] * len(c.responses), c.responses)[0]
    encoder.encode(pairs[:4])  # lazy init off the clock
    by_size = {}
    for size in batch_sizes:
        start = time.perf_counter()
        encoder.encode_router(routers, batch_size=size)
        encoder.encode(pairs, batch_size=size)
        by_size[size] = round(len(pairs) / (time.perf_counter() - start), 2)
    best = max(by_size, key=by_size.get)
    return {"responses_per_s": by_size[best], "best_batch_size": best, "by_batch_size": by_size,
            "calls": len(calls), "texts": len(routers) + len(pairs)}


def rl_texts(encoder: Encoder, bodies: list[dict]) -> tuple[list[str], list[str]]:
    prompts = [b["prompts"][0] for b in bodies]
    responses = [b["query"][0][len(p):].lstrip() for b, p in zip(bodies, prompts)]
    return prompts, encoder.join_pairs(prompts, responses)[0]


def raw_rl(encoder: Encoder, checkpoint: Path, backend: str, bodies: list[dict], batch_sizes: list[int]) -> dict:
    """Queries per second of the bare forward, for each batch size and the best one."""
    forward = encoder.forward_tokens
    if backend.startswith("onnx"):
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
