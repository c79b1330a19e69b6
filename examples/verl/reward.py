"""veRL custom reward function file (``reward.custom_reward_function.path``): pick one with
``reward.custom_reward_function.name``: compute_score (sync, naive reward loop), compute_score_async
(awaited by the reward loop) or compute_score_batch (BatchRewardManager). Reads MICRO_URL and
MICRO_API_KEY; each row's extra_info carries user_id, prompt and optionally context."""

from micro_client.adapters.verl import compute_score, compute_score_async, compute_score_batch

__all__ = ["compute_score", "compute_score_async", "compute_score_batch"]
