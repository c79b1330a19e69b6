"""An RL run rewarded per user by the service: TRL's GRPOTrainer trains a tiny random policy
(tiny_policy.py: a 2-layer Llama built from a config, a word-level tokenizer of the example's words) on CPU, one
policy per user, for two users with opposite labelled tastes: ``brief`` prefers short, concrete
answers, ``verbose`` long, elaborate ones (the same labels, flipped). The example gives the labels
itself (fresh user ids each run), then trains. Each step it logs, as one JSON line, the mean reward
of that step's completions for both users (the trained user's reward drives the update; the other
is only measured, weight 0), and at the end the change from the first steps to the last.

    MICRO_URL=http://127.0.0.1:8000 .venv-torch/bin/python examples/trl/train_grpo.py [--steps 30] [--quick]
        [--log grpo.jsonl]

``--quick``: 2 steps per user (CI). Needs .venv-torch (scripts/integrations.sh --torch).
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from statistics import mean

from datasets import Dataset
from micro_client import MicroClient
from micro_client.adapters.trl import make_reward
from tiny_policy import tiny_policy
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

LEARNING_RATE = 1e-2
PROMPTS = ["How should I learn to cook?", "How do I save money?", "How can I sleep better?",
           "How do I start running?", "How can I focus at work?", "How do I learn a language?"]
SHORT = ["Cook three simple recipes twice a week.", "Save 10% of each paycheque.", "Same bedtime every night.",
         "Run ten minutes every other day.", "Turn off notifications.", "Practise ten minutes daily."]
LONG = ["Cooking is a vast and ancient subject, and there are many schools of thought about how one might begin, "
        "from classical French technique to the home traditions of many cultures, each with its own history.",
        "Money has a long and complicated history, and the question of saving touches on psychology, economics, "
        "culture and the many theories that scholars have proposed over the centuries about human behaviour.",
        "Sleep has been studied by philosophers and scientists for centuries, and there are many perspectives on "
        "what it is, why we need it and how the many cultures of the world have thought about rest and dreams.",
        "Running is one of the oldest human activities, and its history, from ancient messengers to the modern "
        "marathon, offers many perspectives on endurance, motivation and the meaning of physical effort.",
        "Focus is a subject on which psychologists, monks and management theorists have written at great length, "
        "and their many competing views deserve a careful and thorough discussion before any advice is given.",
        "Languages have fascinated scholars for millennia, and the many theories of acquisition, from behaviourism "
        "to universal grammar, each suggest rather different and lengthy paths for the patient learner."]


def teach_tastes(run: str) -> dict[str, str]:
    """Two users with opposite tastes (labels sent to MICRO_URL); returns name -> user id."""
    users = {"brief": f"grpo-brief-{run}", "verbose": f"grpo-verbose-{run}"}
    with MicroClient() as mc:
        for _ in range(2):
            for prompt, short, long in zip(PROMPTS, SHORT, LONG):
                mc.feedback(users["brief"], prompt, short, long)
                mc.feedback(users["verbose"], prompt, long, short)
    return users


class PerUserLog(TrainerCallback):
    """One JSON line per step: the step's mean reward for each user (TRL's rewards/<name>/mean)."""

    def __init__(self, trained: str, names: list[str], sink: list[dict], path: Path | None) -> None:
        self.trained, self.names, self.sink, self.path = trained, names, sink, path

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - TrainerCallback's signature
        if not logs or f"rewards/{self.names[0]}/mean" not in logs:
            return
        line = {"policy_for": self.trained, "step": state.global_step,
                "mean_reward": {n: logs[f"rewards/{n}/mean"] for n in self.names}}
        self.sink.append(line)
        print(json.dumps(line), flush=True)
        if self.path:
            with self.path.open("a") as f:
                f.write(json.dumps(line) + "\n")


def train_for(name: str, users: dict[str, str], steps: int, out: str, log: Path | None) -> list[dict]:
    """GRPO on ``name``'s reward; the other users' rewards of the same completions are logged too."""
    policy, tokenizer = tiny_policy(PROMPTS + SHORT + LONG, seed=0)
    others = [n for n in users if n != name]
    rows = [{"prompt": p, **{f"user_{n}": users[n] for n in users}} for p in PROMPTS]
    funcs = [make_reward(user_column=f"user_{n}", name=n) for n in [name, *others]]
    args = GRPOConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=8, num_generations=8,
                      max_completion_length=16, learning_rate=LEARNING_RATE, logging_steps=1, report_to="none", use_cpu=True,
                      save_strategy="no", bf16=False, reward_weights=[1.0] + [0.0] * len(others), seed=0,
                      disable_tqdm=True)
    lines: list[dict] = []
    trainer = GRPOTrainer(model=policy, reward_funcs=funcs, args=args, train_dataset=Dataset.from_list(rows * 50),
                          processing_class=tokenizer, callbacks=[PerUserLog(name, [name, *others], lines, log)])
    trainer.train()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2 steps per user (CI)")
    parser.add_argument("--log", type=Path, help="also append the per-step JSON lines here")
    parser.add_argument("--out", default="/tmp/micro-grpo")
    args = parser.parse_args()
    steps = 2 if args.quick else args.steps
    users = teach_tastes(uuid.uuid4().hex[:8])
    for name in users:
        lines = train_for(name, users, steps, args.out, args.log)
        k = max(1, len(lines) // 5)
        first, last = (mean(line["mean_reward"][name] for line in part) for part in (lines[:k], lines[-k:]))
        print(json.dumps({"policy_for": name, "steps": len(lines), f"first_{k}_steps": round(first, 4),
                          f"last_{k}_steps": round(last, 4), "change": round(last - first, 4)}), flush=True)


if __name__ == "__main__":
    main()
