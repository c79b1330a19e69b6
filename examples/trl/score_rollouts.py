"""TRL's reward call path against a running service, without TRL: calls the GRPO reward
functions the way GRPOTrainer._calculate_rewards does (trl 1.16: prompts, completions,
completion_ids and every other dataset column as keyword lists, plus trainer_state, log_extra,
log_metric; an async function awaited on the trainer's own event loop), for the rows of
prompts.jsonl, each prompt repeated num_generations times with canned completions.

    MICRO_URL=http://127.0.0.1:8000 [MICRO_API_KEY=...] python examples/trl/score_rollouts.py
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from micro_client.adapters.trl import reward, reward_async

HERE = Path(__file__).parent
GENERATIONS = ["Here are three concrete steps you can start today.", "It depends.",
               "There are many perspectives on this question, and history offers several.", "No idea."]


def main() -> None:
    rows = [json.loads(line) for line in (HERE / "prompts.jsonl").read_text().splitlines()]
    prompts = [row["prompt"] for row in rows for _ in GENERATIONS]
    completions = [[{"role": "assistant", "content": text}] for _ in rows for text in GENERATIONS]
    columns = {"user_id": [row["user_id"] for row in rows for _ in GENERATIONS]}
    extras = {"completion_ids": [[0]] * len(prompts), "trainer_state": None,
              "log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None}
    sync = reward(prompts=prompts, completions=completions, **columns, **extras)
    looped = asyncio.run(reward_async(prompts=prompts, completions=completions, **columns, **extras))
    for p, c, u, a, b in zip(prompts, completions, columns["user_id"], sync, looped):
        print(f"{u:6} {p[0]['content'][:28]:28} {c[0]['content'][:24]:24} sync={a:+.4f} async={b:+.4f}")


if __name__ == "__main__":
    main()
