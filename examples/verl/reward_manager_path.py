"""veRL's own reward managers (verl 0.9.1: workers/reward_manager/naive.py and batch.py) scoring a
rollout batch through examples/verl/reward.py, loaded by veRL's own loader
(trainer/ppo/reward.get_custom_reward_fn, from reward.custom_reward_function.path/name), against
a running service. Run by .venv-torch's Python (scripts/integrations.sh --torch):

    MICRO_URL=http://127.0.0.1:8000 .venv-torch/bin/python examples/verl/reward_manager_path.py [out.json]

Only the rollout is stood in for: each row of prompts.jsonl gets the canned responses below, and
a character tokenizer turns ids back into exactly those texts (the managers only call decode).
Prints, and writes as JSON, each sample's reward from both managers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from tensordict import TensorDict
from verl import DataProto
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.workers.reward_manager.batch import BatchRewardManager
from verl.workers.reward_manager.naive import NaiveRewardManager

HERE = Path(__file__).parent
RESPONSES = ["Here are three concrete steps you can start today.",
             "There are many perspectives on this question, and history offers several."]
PAD = 0


class CharTokenizer:
    def decode(self, ids: torch.Tensor, skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids.tolist() if i != PAD)


def left_padded(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, texts))
    ids = torch.full((len(texts), width), PAD, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, t in enumerate(texts):
        ids[i, width - len(t):] = torch.tensor([ord(c) for c in t])
        mask[i, width - len(t):] = 1
    return ids, mask


def right_padded(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, texts))
    ids = torch.full((len(texts), width), PAD, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, t in enumerate(texts):
        ids[i, :len(t)] = torch.tensor([ord(c) for c in t])
        mask[i, :len(t)] = 1
    return ids, mask


def rollout_batch(rows: list[dict]) -> DataProto:
    """The batch a veRL rollout hands its reward manager: left-padded prompts, right-padded responses."""
    pairs = [(row, text) for row in rows for text in RESPONSES]
    prompts, prompt_mask = left_padded([row["prompt"][0]["content"] for row, _ in pairs])
    responses, response_mask = right_padded([text for _, text in pairs])
    batch = TensorDict({"prompts": prompts, "responses": responses,
                        "attention_mask": torch.cat([prompt_mask, response_mask], dim=1)}, batch_size=[len(pairs)])
    non_tensor = {"data_source": np.array([row["data_source"] for row, _ in pairs], dtype=object),
                  "reward_model": np.array([row["reward_model"] for row, _ in pairs], dtype=object),
                  "extra_info": np.array([dict(row["extra_info"]) for row, _ in pairs], dtype=object)}
    return DataProto(batch=batch, non_tensor_batch=non_tensor)


def rewards_of(reward_tensor: torch.Tensor, data: DataProto) -> list[float]:
    """The reward sits at the last valid response token (that is where veRL's managers put it)."""
    lengths = data.batch["attention_mask"][:, data.batch["prompts"].shape[-1]:].sum(-1)
    return [reward_tensor[i, int(n) - 1].item() for i, n in enumerate(lengths)]


def manager_rewards(name: str, manager_cls: type, rows: list[dict]) -> list[float]:
    config = OmegaConf.create({"reward": {"custom_reward_function": {"path": str(HERE / "reward.py"), "name": name}}})
    manager = manager_cls(tokenizer=CharTokenizer(), num_examine=0, compute_score=get_custom_reward_fn(config))
    data = rollout_batch(rows)
    return rewards_of(manager(data, return_dict=True)["reward_tensor"], data)


def main() -> None:
    rows = [json.loads(line) for line in (HERE / "prompts.jsonl").read_text().splitlines()]
    naive = manager_rewards("compute_score", NaiveRewardManager, rows)
    batch = manager_rewards("compute_score_batch", BatchRewardManager, rows)
    samples = [{"user_id": row["extra_info"]["user_id"], "prompt": row["extra_info"]["prompt"], "response": text,
                "context": row["extra_info"].get("context")} for row in rows for text in RESPONSES]
    results = [{**s, "naive": a, "batch": b} for s, a, b in zip(samples, naive, batch, strict=True)]
    for r in results:
        print(f"{r['user_id']:6} {r['prompt'][0]['content'][:28]:28} {r['response'][:24]:24} "
              f"naive={r['naive']:+.4f} batch={r['batch']:+.4f}")
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
