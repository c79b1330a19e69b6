"""The backbone's own throughput: model.backbone.Encoder in this process, no HTTP, no queue,
on the texts the service would embed for the same calls (one router text per call, one
(prompt, response) text per response), each set sorted by length as Encoder.encode does."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.workload import Call
from model.backbone import Encoder
from model.backbone_record import record_settings
from model.checkpoint import read_config
from model.features import router_text
from service.runtime import available_cores


def load_encoder(checkpoint: Path) -> Encoder:
    """The encoder as the service builds it (windows from the checkpoint; threads = cores)."""
    torch.set_num_threads(available_cores())
    return Encoder(**record_settings(read_config(checkpoint).backbone))


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
