"""What a local Hugging Face model directory holds, read from its config, and how to load it:
an encoder (BERT-like: mean pooling) or a decoder (Llama / Qwen / Mistral-like: last-token
pooling, chat template), with or without a sequence-classification score head."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

BackboneKind = Literal["encoder", "decoder"]


class BackboneError(RuntimeError):
    """The backbone cannot be loaded or used as asked."""


def backbone_kind(config) -> BackboneKind:
    """decoder when the config says so (``is_decoder``, a causal-LM architecture, or a model type
    that only exists as a causal LM), else encoder. Encoder-decoder models are refused."""
    if getattr(config, "is_encoder_decoder", False):
        raise BackboneError(
            f"{config.model_type} is an encoder-decoder model: use an encoder (BERT-like) or a decoder "
            "(Llama/Qwen/Mistral-like) as backbone"
        )
    if getattr(config, "is_decoder", False):
        return "decoder"
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "decoder"
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", "")
    causal_only = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return "decoder" if causal_only else "encoder"


def score_head_architecture(config) -> str | None:
    """The ``...ForSequenceClassification`` architecture the directory was saved as, if any."""
    architectures = getattr(config, "architectures", None) or []
    return next((a for a in architectures if a.endswith("ForSequenceClassification")), None)


def load_model(path: Path, config, dtype, keep_score_head: bool):
    """The transformer: ``AutoModelForSequenceClassification`` when its one-label score head is
    kept, else ``AutoModel`` (a reward model's score head is then dropped, with a warning)."""
    from transformers import AutoModel, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    head = score_head_architecture(config)
    if keep_score_head:
        if head is None:
            raise BackboneError(
                f"keeping the score head (--keep-score-head, or a checkpoint trained with it) needs a one-label "
                f"sequence-classification reward model; {path} is "
                f"{', '.join(getattr(config, 'architectures', None) or [config.model_type])}"
            )
        if int(getattr(config, "num_labels", 0)) != 1:
            raise BackboneError(
                f"the score head of {path} ({head}) has {config.num_labels} labels; a reward model has one"
            )
    elif head is not None:
        warnings.warn(
            f"{path} is a reward model ({head}); its score head is dropped and only its hidden states are "
            "used. Pass --keep-score-head to keep its score as one frozen expert head.",
            UserWarning,
            stacklevel=3,
        )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the dropped score head: said above, once
    try:
        cls = AutoModelForSequenceClassification if keep_score_head else AutoModel
        return cls.from_pretrained(str(path), dtype=dtype)
    finally:
        hf_logging.set_verbosity(verbosity)
