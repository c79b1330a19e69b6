"""The tiny policy of the TRL examples: a 2-layer Llama with random weights built from a config,
and a word-level tokenizer built here from the examples' own words (no download), so that a random
policy writes words a reward model can tell apart, and can stop early (``[EOS]``)."""

from __future__ import annotations

import re

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


def word_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """Every word and punctuation mark of ``texts`` (lower-cased) is one token."""
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]+", t.lower())})
    vocab = {w: i for i, w in enumerate(SPECIALS + words)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # words joined by spaces, no space before "."
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="[BOS]", eos_token="[EOS]")
    return tokenizer


def tiny_policy(texts: list[str], seed: int = 0, hidden_size: int = 32) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    tokenizer = word_tokenizer(texts)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config), tokenizer
