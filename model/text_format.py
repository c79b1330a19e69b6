"""How a (prompt, response) pair becomes the one text the backbone reads.

Two formats:

* plain (encoders, and decoders without a chat template): ``prompt + "\\n\\n" + response``;
* chat template (decoders whose tokenizer has one): the tokenizer's template rendered on
  ``[user: prompt, assistant: response]``, as a chat reward model reads a conversation.

Either way truncation keeps what matters for a reward: the *end* of the prompt (the latest
turn) and the *start* of the response; template markers are never cut. A prompt given as a
message list is first rendered to one text (:func:`render_messages`); with a chat template it
becomes the single user turn.

One prompt, one text (:func:`dialogue`): system messages are the deployment's instructions to the
policy, not the user's words, so they are not read as the prompt (a user's stated context travels as
``context``; a training file's chat row without a ``context`` column has its system messages read as
one, :func:`system_context`); a single user message then reads exactly as the same prompt given as
plain text, and a multi-turn dialogue keeps its user and assistant turns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from model.backbone_loading import BackboneError

Message = dict[str, str]

PAIR_SEPARATOR = "\n\n"  # between prompt and response in the plain format, as in the reference figures


def render_messages(messages: Sequence[Message], tokenizer=None) -> str:
    """Chat messages -> one prompt text: the tokenizer's chat template when it has one,
    else a plain ``User:/Assistant:`` transcript ending with the assistant's cue."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    lines = [f"{names.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def dialogue(messages: Sequence[Message]) -> list[Message]:
    """The turns that make a prompt's text: every message but the system ones."""
    return [m for m in messages if m["role"] != "system"]


def system_context(messages: Sequence[Message] | None) -> str | None:
    """The system messages' text, read as a stated context when none is given (the router reads it
    before the prompt; it never enters the prompt's text): None without any."""
    text = "\n".join(m["content"].strip() for m in messages or () if m.get("role") == "system" and m.get("content", "").strip())
    return text or None


def template_id(tokenizer) -> str | None:
    """Short identity of the tokenizer's chat template (hash of its text); None without one."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    if isinstance(template, dict):  # several named templates: the default one renders
        template = template.get("default") or next(iter(template.values()))
    return hashlib.sha256(str(template).encode("utf-8")).hexdigest()[:16]


class PairFormat:
    """Joins (prompt, response) pairs into texts that fit ``max_length`` tokens."""

    def __init__(self, tokenizer, max_length: int, use_template: bool) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.use_template = use_template and template_id(tokenizer) is not None
        ids = tokenizer("a")["input_ids"]
        # a template that writes the BOS itself would get a second one from the tokenizer
        self._strip_bos = bool(tokenizer.bos_token) and bool(ids) and ids[0] == tokenizer.bos_token_id
        try:
            frame = self.compose("", "") if self.use_template else PAIR_SEPARATOR
        except Exception as exc:  # a template that needs more than a user and an assistant turn
            raise BackboneError(
                f"the tokenizer's chat template cannot render a (user, assistant) pair ({exc}); "
                "train with --chat-template off to read plain text"
            ) from exc
        self.overhead = len(tokenizer(frame, add_special_tokens=False)["input_ids"])  # tokens around the texts

    def compose(self, prompt: str, response: str) -> str:
        """One pair as the backbone reads it (no truncation)."""
        if not self.use_template:
            return prompt + PAIR_SEPARATOR + response if prompt else response
        turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        text = self.tokenizer.apply_chat_template(turns, tokenize=False)
        if self._strip_bos and text.startswith(self.tokenizer.bos_token):
            text = text[len(self.tokenizer.bos_token):]
        return text

    def prompt_text(self, prompt: str | None, messages: Sequence[Message] | None) -> str:
        """The prompt as one text. Messages: system ones dropped (:func:`dialogue`); a single user
        message is its content, the same text as that prompt given plain; a longer dialogue is
        rendered (with a chat template in use it becomes one user turn, so a plain transcript)."""
        turns = dialogue(messages or []) or list(messages or [])  # system messages alone: as they are
        if not turns:
            return prompt or ""
        if len(turns) == 1 and turns[0]["role"] == "user":
            return turns[0]["content"]
        if not self.use_template:
            return render_messages(turns, self.tokenizer)
        return render_messages(turns)[: -len(PAIR_SEPARATOR + "Assistant:")]

    def join(self, prompts: Sequence[str], responses: Sequence[str]) -> tuple[list[str], list[bool]]:
        """Join each (prompt, response) into one text that fits the window: keep the end of
        the prompt and the start of the response. Returns texts and whether each was cut."""
        tok = self.tokenizer
        budget = self.max_length - tok.num_special_tokens_to_add(pair=False) - self.overhead
        distinct = list(dict.fromkeys(prompts))  # a request's N responses share one prompt: tokenize it once
        p_enc = tok(distinct, add_special_tokens=False, return_offsets_mapping=True)
        p_offsets = dict(zip(distinct, p_enc["offset_mapping"]))
        r_enc = tok(list(responses), add_special_tokens=False, return_offsets_mapping=True)
        texts, truncated = [], []
        for prompt, response, r_off in zip(prompts, responses, r_enc["offset_mapping"]):
            p_off = p_offsets[prompt]
            n_p, n_r = len(p_off), len(r_off)
            if n_p + n_r <= budget:
                texts.append(self.compose(prompt, response))
                truncated.append(False)
                continue
            keep_p = min(n_p, max(budget - n_r, budget // 4))  # the prompt keeps at least a quarter
            keep_r = min(n_r, budget - keep_p)
            p_cut = prompt[p_off[n_p - keep_p][0]:] if keep_p else ""
            r_cut = response[: r_off[keep_r - 1][1]] if keep_r else ""
            texts.append(self.compose(p_cut, r_cut))
            truncated.append(True)
        return texts, truncated
