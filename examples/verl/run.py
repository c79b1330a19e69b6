"""veRL's reward call path against a running service, without a GPU: loads reward.py the way
veRL loads ``reward.custom_reward_function.path/name`` (a module from a file, then the name),
and calls it for every row of prompts.jsonl exactly as veRL's reward managers do (by keyword;
naive: one row at a time with num_turns and rollout_reward_scores added to extra_info; the
reward loop: awaited; batch: lists). Two canned responses per prompt stand in for the rollout.

    MICRO_URL=http://127.0.0.1:8000 [MICRO_API_KEY=...] python examples/verl/run.py
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESPONSES = ["Here are three concrete steps you can start today.",
             "There are many perspectives on this question, and history offers several."]


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location("custom_module", HERE / "reward.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def main() -> None:
    rows = [json.loads(line) for line in (HERE / "prompts.jsonl").read_text().splitlines()]
    calls = [(row, text) for row in rows for text in RESPONSES]
    single, single_async, batch = load("compute_score"), load("compute_score_async"), load("compute_score_batch")
    naive = [single(data_source=r["data_source"], solution_str=t, ground_truth=r["reward_model"]["ground_truth"],
                    extra_info={**r["extra_info"], "num_turns": None, "rollout_reward_scores": {}}) for r, t in calls]

    async def reward_loop() -> list[float]:
        return list(await asyncio.gather(*(
            single_async(data_source=r["data_source"], solution_str=t, ground_truth=r["reward_model"]["ground_truth"],
                         extra_info=dict(r["extra_info"])) for r, t in calls)))

    looped = asyncio.run(reward_loop())
    batched = batch(data_sources=[r["data_source"] for r, _ in calls], solution_strs=[t for _, t in calls],
                    ground_truths=[r["reward_model"]["ground_truth"] for r, _ in calls],
                    extra_infos=[dict(r["extra_info"]) for r, _ in calls])
    for (row, text), a, b, c in zip(calls, naive, looped, batched):
        print(f"{row['extra_info']['user_id']:6} {row['prompt'][0]['content'][:28]:28} {text[:24]:24} "
              f"naive={a:+.4f} loop={b:+.4f} batch={c:+.4f}")


if __name__ == "__main__":
    main()
