"""OpenRLHF's own remote-RM client (``SingleTurnAgentExecutor.execute`` -> ``_fetch_rewards_via_http``,
openrlhf/utils/agent.py, one query per POST) driving one server, each sample timed. Run by
.venv-rl's Python (aiohttp, no torch; see examples/openrlhf/reward_path.py, whose loader and stand-ins
it reuses), by bench.rl_compare:

    .venv-rl/bin/python bench/openrlhf_driver.py <openrlhf root> out.json < job.json
    job: {"urls": [...], "samples": [{"prompt", "response", "label"}], "concurrency": 64}
    out: {"seconds", "latencies_s": [...], "rewards": [...]} (latencies and rewards in sample order)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "openrlhf"))
from reward_path import CharTokenizer, EchoEngine, load_agent_module  # noqa: E402


async def drive(agent: types.ModuleType, job: dict) -> dict:
    executor = agent.SingleTurnAgentExecutor(job["urls"] if len(job["urls"]) > 1 else job["urls"][0])
    gate = asyncio.Semaphore(job.get("concurrency", 64))
    tokenizer = CharTokenizer()

    async def one(sample: dict) -> tuple[float, object]:
        params = types.SimpleNamespace(max_tokens=max(1, len(sample["response"])), logprobs=None)
        async with gate:
            start = time.perf_counter()
            out = await executor.execute(sample["prompt"], sample["label"], params, 1_000_000, tokenizer,
                                         EchoEngine(sample["response"]))
            return time.perf_counter() - start, out["reward"]

    start = time.perf_counter()
    done = await asyncio.gather(*(one(s) for s in job["samples"]))
    return {"seconds": time.perf_counter() - start, "latencies_s": [d[0] for d in done],
            "rewards": [d[1] for d in done]}


def main() -> None:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    job = json.load(sys.stdin)
    out.write_text(json.dumps(asyncio.run(drive(load_agent_module(root), job))))


if __name__ == "__main__":
    main()
