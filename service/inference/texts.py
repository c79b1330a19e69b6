"""The texts a request embeds, prepared off the event loop: its prompt as one text (chat messages
rendered, model/text_format.py) and one backbone text per response (prompt + response, cut to the
window keeping the end of the prompt and the start of the response)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from model.backbone import Encoder, Message


@dataclass(frozen=True)
class TextRequest:
    """A prompt (text or chat messages) and its responses, as a request gives them."""

    prompt: str | None
    messages: Sequence[Message] | None
    responses: Sequence[str]
    pair_prompt: str | None = None  # what precedes each response in its text; None: the prompt's text


@dataclass(frozen=True)
class Prepared:
    prompt_text: str  # the prompt as one text: what the router reads after a stated context
    pair_texts: list[str]  # (N,) prompt + response, each within the window
    truncated: list[bool]  # (N,) whether each was cut


class TextPreparer:
    """Tokenizer work in a worker thread: one call for all of a request's items."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    async def prepare(self, requests: Sequence[TextRequest]) -> list[Prepared]:
        """Per request: its prompt as one text (chat messages rendered) and one backbone text per
        response (prompt + response, truncated to the window); all requests in one thread call."""
        return await asyncio.to_thread(self._prepare, requests)

    def _prepare(self, requests: Sequence[TextRequest]) -> list[Prepared]:
        prompt_texts = [self.encoder.prompt_text(r.prompt, r.messages) for r in requests]
        heads = [p if r.pair_prompt is None else r.pair_prompt for p, r in zip(prompt_texts, requests)]
        responses = [x for r in requests for x in r.responses]
        texts, truncated = self.encoder.join_pairs(
            [h for h, r in zip(heads, requests) for _ in r.responses], responses
        ) if responses else ([], [])
        out, start = [], 0
        for prompt_text, r in zip(prompt_texts, requests):
            end = start + len(r.responses)
            out.append(Prepared(prompt_text, texts[start:end], truncated[start:end]))
            start = end
        return out
