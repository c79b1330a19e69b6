"""The model card's response models (GET /v1/model): the checkpoint, its routing and one card per head
(model/head_cards.py). The request and response models of the other routes are in service/api/schemas.py."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class GroupFit(BaseModel):
    group: str = Field(description="A labelled group: a user id, or data set / user type (e.g. dsp/academy)")
    pairs: int = Field(description="The group's validation pairs")
    accuracy: float = Field(description="Share of those pairs this head ranks the preferred response first")
    win_share: float = Field(description="Share of those pairs on which this head's margin is the largest of all heads")


class HeadCard(BaseModel):
    """What one head stands for, measured on the training data (model/head_cards.py)."""

    head: int
    name: str = Field(description="Short label: the head and the group it fits best")
    expert: bool = Field(False, description="The backbone's own score head, kept frozen")
    summary: str = Field(description="One line made of the facts below")
    best_for: list[GroupFit] = Field(description="Groups whose best head this is, best first (at most 3)")
    best_for_count: int = Field(description="How many groups have this head as their best")
    agrees_most: list[GroupFit] = Field(description="The groups this head ranks most accurately")
    top_responses: list[str] = Field(description="Training responses it scores highest against the other heads "
                                     "(never from the red-teaming data sets unless the cards were built with --quote-all-data)")
    bottom_responses: list[str] = Field(description="... and lowest")


class ModelCard(BaseModel):
    model_version: str
    backbone: dict[str, Any]
    num_heads: int
    dim: int
    router: str
    head_descriptions: list[str]
    head_cards: list[HeadCard] = Field(
        default_factory=list, description="One card per head; empty for checkpoints written before cards existed"
    )
    routing: dict[str, Any] = Field(
        description="The online update, the next-query criterion and the prior strength in use (checkpoint values or overrides)"
    )
    training: dict[str, Any]
    metrics: dict[str, Any]
    device: str
    dtype: str
    limits: dict[str, int]
