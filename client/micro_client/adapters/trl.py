"""TRL GRPO reward functions (``GRPOTrainer(reward_funcs=[reward])``). GRPOTrainer calls
``reward_func(prompts=, completions=, completion_ids=, **columns)`` with every other dataset
column as a list (plus trainer_state, log_extra, log_metric), awaits it when it is async, and
reads a list of floats, one per completion (None -> NaN). trl 1.16.0, trainer/grpo_trainer.py.

The dataset needs a ``user_id`` column (and may have ``context``). Standard format: prompts and
completions are texts; conversational: prompts are message lists, completions are lists of
assistant messages, whose contents are joined into the response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from micro_client.adapters.batching import Sample, score_samples, score_samples_blocking
from micro_client.adapters.clients import async_client
from micro_client.types import Prompt


def completion_text(completion: str | Sequence[Mapping[str, Any]]) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content") or "") for m in completion)


def samples_of(prompts: Sequence[Prompt], completions: Sequence[Any], user_id: Sequence[str | None] | None,
               context: Sequence[str | None] | None) -> list[Sample]:
    n = len(prompts)
    users = list(user_id) if user_id is not None else [None] * n
    contexts = list(context) if context is not None else [None] * n
    return [Sample(p, completion_text(c), u, x) for p, c, u, x in zip(prompts, completions, users, contexts,
                                                                       strict=True)]


def reward(prompts: Sequence[Prompt], completions: Sequence[Any], completion_ids: Any = None, *,
           user_id: Sequence[str | None] | None = None, context: Sequence[str | None] | None = None,
           **_: Any) -> list[float]:
    """Sync GRPO reward: the user's score of each completion (MICRO_URL, MICRO_API_KEY)."""
    return score_samples_blocking(samples_of(prompts, completions, user_id, context))


async def reward_async(prompts: Sequence[Prompt], completions: Sequence[Any], completion_ids: Any = None, *,
                       user_id: Sequence[str | None] | None = None, context: Sequence[str | None] | None = None,
                       **_: Any) -> list[float]:
    """Async GRPO reward (TRL runs it on its own event loop, beside other async rewards)."""
    return await score_samples(async_client(), samples_of(prompts, completions, user_id, context))


def make_reward(base_url: str | None = None, api_key: str | None = None, *, user_column: str = "user_id",
                name: str = "micro_reward") -> Callable[..., Any]:
    """An async GRPO reward bound to a service and a user column (TRL logs it under ``name``)."""

    async def micro_reward(prompts: Sequence[Prompt], completions: Sequence[Any], completion_ids: Any = None,
                           **columns: Any) -> list[float]:
        samples = samples_of(prompts, completions, columns.get(user_column), columns.get("context"))
        return await score_samples(async_client(base_url, api_key), samples)

    micro_reward.__name__ = micro_reward.__qualname__ = name
    return micro_reward
