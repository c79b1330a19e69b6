"""veRL reward functions (``reward.custom_reward_function.path/name``). Supported: verl 0.9.x,
whose trainer scores a custom function only through the reward loop (tested on 0.9.1 by running
its trainer's reward step: docs/integrations.md#verl). veRL does not pass the prompt to a reward
function, so each row's ``extra_info`` carries it with the user:

    extra_info = {"user_id": "u-42", "prompt": "Explain ..." | [chat messages], "context": "optional"}

Called as veRL calls them (by keyword):

    compute_score_async(data_source=, solution_str=, ground_truth=, extra_info=)  -> float
        the reward loop's NaiveRewardManager.run_single awaits it, one sample per call
    compute_score(... same ...)                                                  -> float
        the same, run in a thread; also the legacy workers/reward_manager/naive.py
    compute_score_batch(data_sources=, solution_strs=, ground_truths=, extra_infos=)  -> list[float]
        only the legacy BatchRewardManager (workers/reward_manager/batch.py), which 0.9.1's
        trainer no longer calls (``reward.reward_manager.name=batch``: "Unknown reward manager")

Errors raise (MicroError, ValueError): never a silent 0.0 (veRL's ``compute_score_timeout`` and
its ``rate_limited`` manager do turn failures into 0.0; docs/integrations.md#verl).

``ground_truth`` and ``data_source`` are not used: the reward is the user's preference score.
Extra keyword arguments (veRL's ``reward_kwargs``, ``reward_router_address``...) are accepted;
``micro_url`` / ``micro_api_key`` among them override MICRO_URL / MICRO_API_KEY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from micro_client.adapters.batching import Sample, score_samples_blocking
from micro_client.adapters.clients import async_client, sync_client


def sample_of(solution_str: str, extra_info: Mapping[str, Any] | None) -> Sample:
    """The scoring sample of one veRL row; ValueError naming the missing key."""
    info = extra_info or {}
    prompt = info.get("prompt", info.get("messages"))
    if prompt is None:
        raise ValueError("micro_client veRL adapter: put the prompt in extra_info['prompt'] (text or chat messages)")
    user_id = info.get("user_id")
    return Sample(prompt, solution_str, str(user_id) if user_id is not None else None, info.get("context"))


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                  *, micro_url: str | None = None, micro_api_key: str | None = None, **_: Any) -> float:
    s = sample_of(solution_str, extra_info)
    client = sync_client(micro_url, micro_api_key)
    return client.score(s.prompt, [s.response], user_id=s.user_id, context=s.context).scores[0]


async def compute_score_async(data_source: Any, solution_str: str, ground_truth: Any,
                              extra_info: Mapping[str, Any] | None = None, *, micro_url: str | None = None,
                              micro_api_key: str | None = None, **_: Any) -> float:
    s = sample_of(solution_str, extra_info)
    client = async_client(micro_url, micro_api_key)
    return (await client.score(s.prompt, [s.response], user_id=s.user_id, context=s.context)).scores[0]


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any] | None], *, micro_url: str | None = None,
                        micro_api_key: str | None = None, **_: Any) -> list[float]:
    """For veRL's BatchRewardManager: rows sharing user and prompt go in one call, calls concurrently."""
    samples = [sample_of(text, info) for text, info in zip(solution_strs, extra_infos, strict=True)]
    return score_samples_blocking(samples, micro_url, micro_api_key)
