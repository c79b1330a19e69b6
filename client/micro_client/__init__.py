"""micro_client: a torch-free client for the MiCRo reward service (sync and async) and reward
adapters for RL frameworks (micro_client.adapters: OpenRLHF, veRL, TRL)."""

from micro_client.aio import AsyncMicroClient
from micro_client.config import ClientConfig
from micro_client.errors import MicroError
from micro_client.sync import MicroClient
from micro_client.types import (
    BulkFeedbackResult,
    FeedbackItem,
    FeedbackResult,
    NextQuery,
    Ranked,
    Reward,
    ScoreItem,
    ScoreResult,
    User,
    new_feedback_id,
)

__all__ = [
    "AsyncMicroClient", "BulkFeedbackResult", "ClientConfig", "FeedbackItem", "FeedbackResult", "MicroClient",
    "MicroError", "NextQuery", "Ranked", "Reward", "ScoreItem", "ScoreResult", "User", "new_feedback_id",
]
