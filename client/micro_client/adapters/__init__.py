"""Reward functions for RL frameworks, each in the calling convention its framework really uses:
``openrlhf`` (labels carrying user ids; a ``reward_func`` file for ``--remote_rm_url``),
``verl`` (``compute_score`` single, async and batched) and ``trl`` (GRPO ``reward_funcs``)."""
