"""OpenRLHF custom reward function: ``--reward.remote_url examples/openrlhf/reward_func.py``
(``--remote_rm_url`` before 0.11). OpenRLHF loads ``reward_func(queries, prompts, labels)`` from
this file; it scores through micro_client, so it sends MICRO_API_KEY to MICRO_URL and reads the
user (and context) of each sample from its label. Needs ``pip install ./client``."""

from micro_client.adapters.openrlhf import reward_func

__all__ = ["reward_func"]
