"""The public contract: pydantic request and response models (the edge of the service only).

Requests forbid unknown fields (a typo is a 422, not a silently ignored option), except the
OpenRLHF request, whose clients send fields of their own. Size limits that depend on the
settings (number of responses, characters per text) are checked in service/limits.py (413).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Ids a client chooses (user, feedback, request): no "/" (it separates tenant and user in the store),
# no braces (they would break the Redis hash tag). The dash is escaped, so that the same class is
# valid in a browser's `pattern` attribute (regex `v` flag): service/static/index.html repeats it.
ID_PATTERN = r"^[A-Za-z0-9._:@\-]{1,128}$"
UserId = Annotated[
    str,
    StringConstraints(pattern=ID_PATTERN),
    Field(description="Your id for the user: 1-128 of A-Z a-z 0-9 . _ : @ -", examples=["user-42"]),
]
FeedbackId = Annotated[
    str,
    StringConstraints(pattern=ID_PATTERN),
    Field(description="Idempotency key: a retried post with the same id applies once and returns the first result"),
]
WeightsSource = Literal["user", "prior", "prior_degraded"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(Strict):
    role: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(examples=["user"])
    content: str


class PromptInput(Strict):
    prompt: str | None = Field(None, description="The prompt text (give prompt or messages)")
    messages: list[Message] | None = Field(
        None, min_length=1, description="Chat transcript ending with the user's turn (give prompt or messages)"
    )
    context: str | None = Field(
        None, description="Stated preferences for this request; overrides the user's stored context"
    )

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> PromptInput:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        return self


class ScoreRequest(PromptInput):
    user_id: UserId | None = None
    responses: list[str] = Field(min_length=1, description="1..64 candidate responses to the prompt")
    return_head_rewards: bool = Field(False, description="Also return each response's per-head rewards")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user_id": "user-42", "prompt": "Explain photosynthesis.",
                                         "responses": ["Plants turn light into sugar.", "lol idk"]}]},
    )


class ScoreResponse(BaseModel):
    scores: list[float] = Field(description="Per response: sum_k w_k r_k")
    ranking: list[int] = Field(description="Response indices, best first")
    weights: list[float] = Field(description="The K mixture weights used for this prompt")
    weights_source: WeightsSource = Field(
        description="user: the user's state; prior: no user or no state; prior_degraded: Redis unreachable"
    )
    p_first_preferred: float | None = Field(None, description="P(response 0 > response 1), for two responses")
    head_rewards: list[list[float]] | None = Field(None, description="Per response, the K head rewards")
    truncated: list[bool] = Field(description="Per response: prompt + response was cut to the backbone's window")
    model_version: str


class NextQueryRequest(PromptInput):
    responses: list[str] = Field(min_length=2, description="2..64 candidate responses; every pair is considered")


class NextQueryResponse(BaseModel):
    pair: tuple[int, int] = Field(description="Indices of the two responses to ask the user to compare")
    expected_gain: float = Field(description="Expected drop of the entropy of the user's head weights (nats)")
    weights: list[float] = Field(description="The user's current weights for this prompt")
    weights_source: WeightsSource
    model_version: str


class FeedbackRequest(PromptInput):
    user_id: UserId
    chosen: str = Field(description="The response the user preferred")
    rejected: str = Field(description="The response the user liked less")
    feedback_id: FeedbackId | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user_id": "user-42", "prompt": "Explain photosynthesis.",
                                         "chosen": "Plants turn light into sugar.", "rejected": "lol idk",
                                         "feedback_id": "f-0001"}]},
    )


class FeedbackResponse(BaseModel):
    user_id: str
    weights_before: list[float] = Field(description="The user's weights for this prompt before the label")
    weights_after: list[float] = Field(description="... and after")
    n_feedback: int = Field(description="Labels applied for this user so far")
    version: int = Field(description="The user's state version after this label (+1 per write)")
    applied: bool = Field(description="False when this feedback_id was applied before (first result returned)")
    feedback_id: str | None = None


class ContextRequest(Strict):
    context: str | None = Field(description="The user's preferences in words; null or empty clears them")


class UserResponse(BaseModel):
    user_id: str
    model_version: str
    n_feedback: int
    context: str | None
    version: int
    updated_at: float | None = Field(description="Unix seconds of the last write")
    offset: list[float] = Field(description="The user's offset u added to the router's logits")
    base_weights: list[float] = Field(description="softmax(b + u): the user's weights before any prompt")


class RewardRequest(BaseModel):
    """OpenRLHF remote reward model request."""

    model_config = ConfigDict(extra="ignore")
    query: list[str] = Field(min_length=1, description="Full texts: prompt followed by the response")
    prompts: list[str] | None = Field(None, description="The prompt of each query; the response is what follows")
    labels: list[Any] | None = Field(None, description="Accepted for compatibility, not used")

    @model_validator(mode="after")
    def _same_lengths(self) -> RewardRequest:
        if self.prompts is not None and len(self.prompts) != len(self.query):
            raise ValueError(f"prompts has {len(self.prompts)} items, query has {len(self.query)}")
        return self


class RewardResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


class ModelCard(BaseModel):
    model_version: str
    backbone: dict[str, Any]
    num_heads: int
    dim: int
    router: str
    head_descriptions: list[str]
    routing: dict[str, Any] = Field(description="The online update in use (checkpoint values or overrides)")
    training: dict[str, Any]
    metrics: dict[str, Any]
    device: str
    dtype: str
    limits: dict[str, int]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]
