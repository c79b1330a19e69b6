"""The backbone part of the training CLI: its flags, the encoder they build (clear errors, exit
code 2), and what the checkpoint records about a kept score head."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from model.backbone import BackboneError, Encoder


def add_backbone_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("backbone", "any local Hugging Face model directory (nothing is downloaded)")
    g.add_argument("--backbone", type=Path, default=None, help="local Hugging Face model dir (default: all-MiniLM-L6-v2)")
    g.add_argument("--backbone-id", default=None, help="name recorded in the checkpoint for --backbone (default: dir name)")
    g.add_argument("--pooling", choices=["auto", "mean", "last", "cls"], default="auto",
                   help="auto: mean for encoders, the last non-padding token for decoders (Llama/Qwen/Mistral-like)")
    g.add_argument("--chat-template", choices=["auto", "on", "off"], default="auto",
                   help="read (prompt, response) through the tokenizer's chat template; auto: decoders that have one")
    g.add_argument("--keep-score-head", action="store_true",
                   help="a one-label sequence-classification reward model keeps its score head as one frozen "
                        "expert next to the K learned heads (K + 1 heads served)")
    g.add_argument("--layers", default=None,
                   help="hidden states to pool from the one forward pass, e.g. 2,4,6, all or last (0: embeddings "
                        "output); default: the last layer only (python -m model.train: all, the shipped recipe, for "
                        "the default backbone)")
    g.add_argument("--layer-combine", choices=["concat", "mean"], default="concat",
                   help="how the --layers pooled vectors combine: side by side (D per layer) or their mean (D)")
    g.add_argument("--max-length", type=int, default=256, help="tokens per (prompt, response) text; capped by the model")
    g.add_argument("--batch-size", type=int, default=32, help="texts per backbone forward while embedding")
    g.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
                   help="backbone weights; auto: float32 on cpu, bfloat16 (or float16) on GPUs")
    g.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda or cuda:N")


def encoder_from_args(args: argparse.Namespace) -> Encoder:
    """The encoder the flags ask for; a backbone that cannot serve exits 2 with one line."""
    template = {"auto": None, "on": True, "off": False}[args.chat_template]
    try:
        encoder = Encoder(
            args.backbone, backbone_id=args.backbone_id, pooling=args.pooling, device=args.device, dtype=args.dtype,
            max_length=args.max_length, batch_size=args.batch_size, chat_template=template,
            keep_score_head=args.keep_score_head, layers=parse_layers(getattr(args, "layers", None), args.backbone),
            layer_combine=getattr(args, "layer_combine", "concat"),
        )
    except (BackboneError, OSError, ValueError) as exc:
        _fail(f"backbone {args.backbone}: {exc}")
    if template and encoder.info.chat_template is None:
        _fail(f"--chat-template on: the tokenizer at {encoder.path} has no chat template")
    print(describe(encoder), file=sys.stderr)
    return encoder


def parse_layers(text: str | None, backbone: Path | None) -> list[int] | None:
    """``--layers``: "2,4,6" -> [2, 4, 6]; "all" -> every hidden state; None or "last" -> the last layer."""
    if text is None or text.strip() == "last":
        return None
    if text.strip() == "all":
        from transformers import AutoConfig

        from model.backbone import default_backbone_path

        config = AutoConfig.from_pretrained(str(backbone or default_backbone_path()))
        return list(range(int(config.num_hidden_layers) + 1))
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        _fail(f"--layers must be comma-separated layer indices or all, not {text!r}")
        raise


def describe(encoder: Encoder) -> str:
    info = encoder.info
    template = f"chat template {info.chat_template}" if info.chat_template else "plain text"
    head = ", score head kept as a frozen expert" if info.score_head else ""
    if info.layers is not None:
        head += f", hidden states {list(info.layers)} ({info.layer_combine})"
    return (f"backbone {info.id}: {info.kind}, {info.pooling} pooling, {template}, max length {info.max_length}"
            f"{head}, d={info.dim}, {encoder.device} {str(encoder.dtype).removeprefix('torch.')}")


def expert_record(encoder: Encoder, num_learned: int) -> dict[str, Any] | None:
    """What config.json says about the frozen expert head (None without one)."""
    if not encoder.info.score_head:
        return None
    return {"kind": "score_head", "head": num_learned, "source": encoder.info.id,
            "description": "the backbone's own reward score (its sequence-classification head), frozen"}


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
