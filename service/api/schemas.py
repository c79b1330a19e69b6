"""The public contract: pydantic request and response models (the edge of the service only).

Requests forbid unknown fields (a typo is a 422, not a silently ignored option), except the
OpenRLHF request, whose clients send fields of their own. Every text field is a ``Text`` (valid
Unicode, else 422 naming the field); every stated context a ``Context`` (blank = none); booleans are
strict (``"yes"`` is a 422). Size limits that depend on the settings (number of responses,
characters per text and per request) are checked in service/api/limits.py (413).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from service.core.ids import ID_PATTERN

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


def valid_unicode(text: str) -> str:
    """The text, if it is valid Unicode. A lone surrogate ("\\ud800") is legal in a JSON string and
    parses, but no UTF-8 encoder (tokenizer, cache hash, Redis) takes it: refused here (422)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"invalid Unicode: a lone surrogate at character {exc.start}") from None
    return text


def blank_as_none(value: Any) -> Any:
    """A blank or whitespace-only context states nothing: None."""
    return None if isinstance(value, str) and not value.strip() else value


Text = Annotated[str, AfterValidator(valid_unicode)]  # every text field of a request
Context = Annotated[Text | None, BeforeValidator(blank_as_none)]  # stated preferences; blank = none


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(Strict):
    role: Annotated[Text, StringConstraints(min_length=1, max_length=32)] = Field(examples=["user"])
    content: Text


class PromptInput(Strict):
    prompt: Text | None = Field(None, description="The prompt text (give prompt or messages)")
    messages: list[Message] | None = Field(
        None, min_length=1, description="Chat transcript ending with the user's turn (give prompt or messages)"
    )
    context: Context = Field(
        None, description="Stated preferences for this request; overrides the user's stored context (blank: none)"
    )

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> PromptInput:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        return self


class ScoreRequest(PromptInput):
    user_id: UserId | None = None
    responses: list[Text] = Field(min_length=1, description="1..64 candidate responses to the prompt")
    return_head_rewards: StrictBool = Field(False, description="Also return each response's per-head rewards")

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
    p_first_preferred: float | None = Field(
        None,
        description="For two responses: P(response 0 > response 1) = sigmoid(scores[0] - scores[1]); "
        "over 0.5 exactly when response 0 ranks first (docs/api.md#one-answer-score-ranking-and-pair-probability)",
    )
    head_rewards: list[list[float]] | None = Field(None, description="Per response, the K head rewards")
    truncated: list[bool] = Field(description="Per response: prompt + response was cut to the backbone's window")
    model_version: str


class NextQueryRequest(PromptInput):
    responses: list[Text] = Field(min_length=2, description="2..64 candidate responses; every pair is considered")


class NextQueryResponse(BaseModel):
    pair: tuple[int, int] = Field(description="Indices of the two responses to ask the user to compare")
    expected_gain: float = Field(
        description="Expected gain of the label under the checkpoint's active criterion (routing.active_criterion): "
        "the drop of the entropy of the user's head weights, or the label-head mutual information; nats"
    )
    weights: list[float] = Field(description="The user's current weights for this prompt")
    weights_source: WeightsSource
    model_version: str


class FeedbackLabel(PromptInput):
    """One label: the prompt (or messages), the preferred and the other response (two different texts)."""

    chosen: Text = Field(description="The response the user preferred")
    rejected: Text = Field(description="The response the user liked less (not the same text as chosen)")
    feedback_id: FeedbackId | None = None

    @model_validator(mode="after")
    def _two_responses(self) -> FeedbackLabel:
        if self.chosen == self.rejected:  # no preference: it would still move the user's weights (422)
            raise ValueError("chosen and rejected are the same text: a label compares two different responses")
        return self


class FeedbackRequest(FeedbackLabel):
    user_id: UserId

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


class FeedbackBatchRequest(Strict):
    items: list[FeedbackLabel] = Field(
        min_length=1,
        description="1..256 labels of the user (MICRO_MAX_FEEDBACK_ITEMS), applied in this order, each once by "
        "its feedback_id",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [
            {"prompt": "Explain photosynthesis.", "chosen": "Plants turn light into sugar.", "rejected": "lol idk",
             "feedback_id": "f-0001"},
            {"prompt": "Give me a business tip.", "chosen": "Track your cash flow weekly.", "rejected": "Be rich.",
             "feedback_id": "f-0002"}]}]},
    )


class FeedbackBatchResponse(BaseModel):
    user_id: str
    results: list[FeedbackResponse] = Field(description="Per item, in order: what /v1/feedback returns for it")
    applied: int = Field(description="Items applied by this request")
    duplicates: int = Field(description="Items whose feedback_id was applied before (their first result returned)")
    n_feedback: int = Field(description="Labels applied for this user so far, after this batch")
    version: int = Field(description="The user's state version after this batch")


class ContextRequest(Strict):
    context: Context = Field(description="The user's preferences in words; null or blank clears them")


class UserResponse(BaseModel):
    user_id: str
    model_version: str
    n_feedback: int
    context: str | None
    version: int
    updated_at: float | None = Field(description="Unix seconds of the last write")
    offset: list[float] = Field(description="The user's offset u added to the router's logits")
    base_weights: list[float] = Field(description="softmax(s b + u): the user's weights before any prompt (s: routing.prior_strength)")


def label_object(value: Any) -> dict[str, Any]:
    """An OpenRLHF label -> the object it holds: a JSON object, or a string holding one; anything
    else (a plain answer string, a malformed object, None) names no user: {}. A string nested too
    deep for the parser is refused (ValueError: a 422 naming the label), never a 500."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except RecursionError:
            raise ValueError("the label's JSON is nested too deeply") from None
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


class SampleLabel(BaseModel):
    """The user and stated context of one OpenRLHF sample, carried in its label."""

    model_config = ConfigDict(extra="ignore")  # a dataset's label may carry fields of its own
    user_id: UserId | None = Field(None, description="Score this sample with this user's weights")
    context: Context = Field(None, description="Stated preferences for this sample; overrides the stored ones")


Label = Annotated[SampleLabel, BeforeValidator(label_object, json_schema_input_type=Any)]


class RewardRequest(BaseModel):
    """OpenRLHF remote reward model request."""

    model_config = ConfigDict(extra="ignore")
    query: list[Text] = Field(description="Full texts: prompt followed by the response ([] answers [])")
    prompts: list[Text] | None = Field(None, description="The prompt of each query; the response is what follows")
    labels: list[Label] | None = Field(
        None,
        description='Per query: {"user_id", "context"?} as an object or a JSON string; any other label (a plain '
        "string) names no user, and the query string's user_id applies",
    )

    @model_validator(mode="after")
    def _same_lengths(self) -> RewardRequest:
        for name in ("prompts", "labels"):
            items = getattr(self, name)
            if items is not None and len(items) != len(self.query):
                raise ValueError(f"{name} has {len(items)} items, query has {len(self.query)}")
        return self


class RewardResponse(BaseModel):
    rewards: list[float] = Field(description="Per query: the personalised score, as /v1/score gives it")
    scores: list[float] = Field(description="The same as rewards")
    extra_logs: dict[str, list[float]] = Field(
        description="Per query: truncated, personalized (0/1), weight_entropy (nats), head_reward_<k>; {} for no query"
    )


class ScoreBatchRequest(Strict):
    items: list[ScoreRequest] = Field(
        min_length=1, description="1..256 /v1/score bodies (MICRO_MAX_BATCH_ITEMS), scored together"
    )


class ScoreBatchResponse(BaseModel):
    results: list[ScoreResponse] = Field(description="Per item, in order: what /v1/score returns for it")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]
