"""Drives OpenRLHF's own reward-fetching code path (``SingleTurnAgentExecutor.execute`` ->
``_fetch_rewards_via_http`` / ``_fetch_rewards_via_func``, openrlhf/utils/agent.py) against a
running service, ``concurrency`` samples in flight. Run by .venv-rl's Python (aiohttp, no torch):

    .venv-rl/bin/python examples/openrlhf/reward_path.py <openrlhf root> results.json < job.json
    .venv-rl/bin/python examples/openrlhf/reward_path.py <openrlhf root> results.json \\
        --data examples/openrlhf/prompts.jsonl --url http://127.0.0.1:8000/get_reward

job: {"urls": [...], "samples": [{"prompt", "response", "label"}], "concurrency": 64}
results: [{"reward", "scores", "extra_logs"}] per sample, as OpenRLHF's rollout sees them.

Only generation is stood in for (no vLLM here): the "engine" returns the sample's response and the
"tokenizer" maps characters to ids, so OpenRLHF's query is exactly prompt + response. The package's
__init__ (which imports torch and deepspeed) is bypassed: openrlhf and openrlhf.utils are bare
packages pointing at the installed folders, and agent.py is the installed file, unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any


def load_agent_module(root: Path) -> types.ModuleType:
    for name, sub in (("openrlhf", "openrlhf"), ("openrlhf.utils", "openrlhf/utils")):
        package = types.ModuleType(name)
        package.__path__ = [str(root / sub)]
        sys.modules[name] = package
    spec = importlib.util.spec_from_file_location("openrlhf.utils.agent", root / "openrlhf/utils/agent.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["openrlhf.utils.agent"] = module
    spec.loader.exec_module(module)
    return module


class Ids(list):
    def tolist(self) -> list[int]:
        return list(self)


class CharTokenizer:
    def __call__(self, text: str, add_special_tokens: bool = False, return_tensors: str | None = None) -> dict:
        return {"input_ids": [Ids(ord(c) for c in text)]}

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(map(chr, ids))


class EchoEngine:
    """Generates the given response (one engine per sample)."""

    def __init__(self, response: str) -> None:
        self.response = response

    async def generate(self, prompt_token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None) -> Any:
        out = types.SimpleNamespace(token_ids=[ord(c) for c in self.response], text=self.response,
                                    finish_reason="stop", logprobs=None)
        return types.SimpleNamespace(outputs=[out])


async def run(agent: types.ModuleType, job: dict[str, Any]) -> list[dict[str, Any]]:
    executor = agent.SingleTurnAgentExecutor(job["urls"] if len(job["urls"]) > 1 else job["urls"][0])
    gate = asyncio.Semaphore(job.get("concurrency", 64))
    tokenizer = CharTokenizer()

    async def one(sample: dict[str, Any]) -> dict[str, Any]:
        params = types.SimpleNamespace(max_tokens=max(1, len(sample["response"])), logprobs=None)
        async with gate:
            out = await executor.execute(sample["prompt"], sample["label"], params, 1_000_000, tokenizer,
                                         EchoEngine(sample["response"]))
        return {"reward": out["reward"], "scores": out["scores"], "extra_logs": out["extra_logs"]}

    return list(await asyncio.gather(*(one(s) for s in job["samples"])))


def job_from_data(path: Path, urls: list[str], concurrency: int) -> dict[str, Any]:
    """prompts.jsonl rows {"input", "label", "response"} -> a job (the response stands in for vLLM's)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    samples = [{"prompt": r["input"], "response": r["response"], "label": r.get("label", "")} for r in rows]
    return {"urls": urls, "samples": samples, "concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("openrlhf_root", type=Path, help="folder holding the installed openrlhf package")
    parser.add_argument("out", type=Path, help="where the per-sample results go (JSON)")
    parser.add_argument("--data", type=Path, help="prompts.jsonl instead of a job on stdin")
    parser.add_argument("--url", action="append", default=[], help="--reward.remote_url value(s)")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    job = job_from_data(args.data, args.url, args.concurrency) if args.data else json.load(sys.stdin)
    results = asyncio.run(run(load_agent_module(args.openrlhf_root), job))
    args.out.write_text(json.dumps(results))  # a file: OpenRLHF logs to stdout
    for sample, result in zip(job["samples"], results):
        print(f"label={sample['label'] or '-':40.40} reward={result['reward']}", file=sys.stderr)


if __name__ == "__main__":
    main()
