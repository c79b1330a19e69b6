"""TRL 1.16.0's GRPO reward step, run for real against a service: a GRPOTrainer (tiny random
policy, tiny_policy.py) with micro_client's async and sync rewards; the first generation batch
in the order of the trainer's own RepeatSampler (``_get_train_sampler``); canned completions stand
in for generation; then ``GRPOTrainer._calculate_rewards`` scores them. Writes, as JSON, the
rewards tensor's shape and each completion's user, prompt, text and reward per function.

    MICRO_URL=http://127.0.0.1:8000 .venv-torch/bin/python examples/trl/reward_step.py out.json \
        [--standard] [--bad-user]

prompts.jsonl is conversational (message lists); ``--standard`` gives the same prompts as plain
texts (TRL's standard format; one dataset holds one format). ``--bad-user`` gives one row a user id the service refuses (422): the step must raise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from datasets import Dataset
from micro_client.adapters.trl import make_reward, reward
from tiny_policy import tiny_policy
from trl import GRPOConfig, GRPOTrainer

HERE = Path(__file__).parent
GENERATIONS = 4
COMPLETIONS = ["Start with three simple steps today.", "It depends.",
               "There are many perspectives on this question, and history offers several.", "No idea."]


def main() -> None:
    out, bad_user = Path(sys.argv[1]), "--bad-user" in sys.argv
    rows = [json.loads(line) for line in (HERE / "prompts.jsonl").read_text().splitlines()]
    if "--standard" in sys.argv:
        rows = [{"prompt": r["prompt"][0]["content"], "user_id": r["user_id"]} for r in rows]
    if bad_user:
        rows[0]["user_id"] = "not a valid id!"
    policy, tokenizer = tiny_policy([json.dumps(r["prompt"]) for r in rows] + COMPLETIONS)
    args = GRPOConfig(output_dir="/tmp/micro-grpo-step", per_device_train_batch_size=len(rows) * GENERATIONS,
                      num_generations=GENERATIONS, max_completion_length=8, report_to="none", use_cpu=True,
                      save_strategy="no", bf16=False)
    trainer = GRPOTrainer(model=policy, reward_funcs=[make_reward(), reward], args=args,
                          train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    order = list(trainer._get_train_sampler())[: len(rows) * GENERATIONS]  # noqa: SLF001 - the trainer's own sampler
    inputs = [trainer.train_dataset[i] for i in order]
    prompts = [x["prompt"] for x in inputs]
    texts = [COMPLETIONS[k % len(COMPLETIONS)] for k in range(len(inputs))]
    completions = [[{"role": "assistant", "content": t}] if isinstance(p, list) else t for p, t in zip(prompts, texts)]
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    rewards = trainer._calculate_rewards(inputs, prompts, completions, ids)  # noqa: SLF001 - the step under test
    samples = [{"user_id": x["user_id"], "prompt": x["prompt"], "completion": t, "rewards": r}
               for x, t, r in zip(inputs, texts, rewards.tolist())]
    out.write_text(json.dumps({"shape": list(rewards.shape), "funcs": trainer.reward_func_names, "samples": samples}))
    print(f"{len(samples)} completions scored by {trainer.reward_func_names}")


if __name__ == "__main__":
    main()
