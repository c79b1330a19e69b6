"""The inference layer's one entry for the routes: personalised scores, labels, next query and
user state, built from the model, the embedder and the store (no HTTP; plain values in and out).

    score(items)          -> service/inference/scoring.py   (/v1/score, /v1/score:batch, /get_reward)
    feedback(user, labels) -> service/inference/feedback.py  (/v1/feedback, /v1/users/{id}/feedback:batch)
    next_query(item)      -> scoring's embeddings + model.personal_scoring.most_informative_pair
    user / set_context / forget / base_weights / rebuild: a user's state

Every collaborator is built here, once, in dependency order: the label terms, the user history
(replays kept labels after a model upgrade), the users' reader, the scorer and the feedback writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from model import personal_scoring
from model.heads import MixtureRewardModel
from model.routing import RoutingConfig
from service.core import metrics
from service.core.active_users import ActiveUsers
from service.core.errors import UserNotFound
from service.inference.feedback import FeedbackWriter
from service.inference.label_terms import LabelTermsMaker
from service.inference.scoring import Scorer
from service.inference.user_history import UserHistory
from service.inference.users import Users

if TYPE_CHECKING:  # annotations only: not imported at run time
    from service.inference.embedder import Embedder
    from service.inference.feedback import FeedbackOutcomes
    from service.inference.preference_label import Label
    from service.inference.scoring import ScoreItem, Scored
    from service.inference.texts import TextPreparer
    from service.state.records import UserState
    from service.state.user_store import UserStore


@dataclass(frozen=True)
class NextQuery:
    pair: tuple[int, int]  # indices of the two responses to ask about
    expected_gain: float  # routing.active_criterion's value: expected weight-entropy drop or label-head information
    weights: list[float]  # (K,) the user's current weights for this prompt
    weights_source: str


class RewardEngine:
    def __init__(self, model: MixtureRewardModel, routing: RoutingConfig, texts: TextPreparer, embedder: Embedder,
                 store: UserStore, model_version: str) -> None:
        self.model, self.routing, self.embedder, self.store = model, routing, embedder, store
        self.model_version = model_version
        self.active_users = ActiveUsers()
        metrics.ACTIVE_USERS.set_function(self.active_users.count)
        terms = LabelTermsMaker(model, routing, texts, embedder)
        self.history = UserHistory(store, terms, routing)  # users' kept labels, replayed after an upgrade
        self.scorer = Scorer(model, routing, texts, embedder, Users(self.history, self.active_users))
        self.writer = FeedbackWriter(store, self.history, terms, routing, self.active_users)

    async def score(self, items: Sequence[ScoreItem]) -> list[Scored]:
        """Per request, in order, its personalised scores (one embedding call for all)."""
        return await self.scorer.score(items)

    async def feedback(self, user_id: str, labels: Sequence[Label]) -> FeedbackOutcomes:
        """The user's labels applied in order, atomically and idempotently (one label: a batch of one)."""
        return await self.writer.apply(user_id, labels)

    async def next_query(self, item: ScoreItem) -> NextQuery:
        """The pair of responses whose label is expected to teach the most about this user."""
        req = await self.scorer.embedded([item])
        choice = personal_scoring.most_informative_pair(
            self.model, req.router_emb, req.pair_emb, req.offsets[0], self.routing
        )
        return NextQuery(choice.pair, choice.expected_gain, choice.weights.tolist(), req.persons[0].source)

    async def user(self, user_id: str) -> UserState:
        state = (await self.history.snapshot(user_id)).state
        if state is None:
            raise UserNotFound("no state stored for this user")  # user_id is the internal key: the route names the user
        return state

    async def set_context(self, user_id: str, context: str | None) -> UserState:
        snapshot = await self.history.snapshot(user_id)  # a state kept from another model version is rebuilt first
        return await self.store.set_context(user_id, context, history_bytes=snapshot.history_bytes)

    async def forget(self, user_id: str) -> bool:
        """Erase the user's state, remembered feedback ids, kept history and context."""
        return await self.store.delete(user_id)

    async def rebuild(self, user_id: str) -> int:
        """Replay the user's kept labels through this model (python -m service.ops.migrate_users)."""
        return await self.history.rebuild(user_id)

    def base_weights(self, offset: Sequence[float]) -> list[float]:
        """softmax(s b + u): the user's weights before any prompt is seen."""
        return personal_scoring.base_weights(self.model, torch.tensor(offset, dtype=torch.float32)).tolist()
