"""Tiny random Hugging Face models built in a temp dir, with no download: a word-level tokenizer
trained in-test on a small generated corpus (with a chat template), a 2-layer Llama-style
decoder, and a 2-layer Llama sequence-classification reward model (one label).

Words outside ``WORDS`` become ``<unk>``: texts in tests should be built with :func:`sentence`.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from tests.model.pair_fixtures import USERS


def words(text: str) -> list[str]:
    return text.split()


SUBJECTS = words("the a my your our this that every some one")
NOUNS = words(
    "cat dog bird fish horse robot teacher doctor friend city river garden house road book song story poem "
    "letter idea plan answer question problem reason method result model tree mountain ocean window door "
    "kitchen market school library museum train ship plane car bicycle phone computer letter paper"
)
VERBS = words(
    "likes sees finds makes takes gives writes reads helps builds moves opens closes explains answers asks "
    "describes improves changes follows leads holds keeps shows teaches learns"
)
ADJECTIVES = words(
    "big small quick slow happy sad bright dark clear short long simple complex polite rude kind honest "
    "careful funny formal casual detailed brief useful wrong correct safe"
)
EXTRA = words("please can you tell me about why how what is are and but because very really not yes no")
WORDS = sorted(set(SUBJECTS + NOUNS + VERBS + ADJECTIVES + EXTRA))
SPECIAL = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>"]
PAD = "<pad>"
# Llama-3-like: BOS in the template (the encoder must not add a second one), one end token per turn
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
HIDDEN = 64


def sentence(rng: random.Random, n_words: int = 8) -> str:
    """A random sentence made only of words the tiny tokenizer knows."""
    parts = [rng.choice(SUBJECTS), rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(VERBS)]
    parts += [rng.choice(WORDS) for _ in range(max(0, n_words - 4))]
    return " ".join(parts)


def tiny_rows(n: int, seed: int = 0) -> list[dict]:
    """Preference rows of words the tiny tokenizer knows; user ann prefers long answers, bob short ones."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        long, short = sentence(rng, 12), sentence(rng, 4)
        user = USERS[i % 2]
        chosen, rejected = (long, short) if user == "ann" else (short, long)
        rows.append({"prompt": sentence(rng, 6), "chosen": chosen, "rejected": rejected, "user_id": user})
    return rows


def build_tokenizer(*, with_pad: bool, chat_template: str | None = CHAT_TEMPLATE, padding_side: str = "right"):
    """A WordLevel tokenizer trained on a few hundred generated sentences, adding BOS itself."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = SPECIAL + ([PAD] if with_pad else [])
    rng = random.Random(0)
    corpus = [sentence(rng, 10) for _ in range(300)] + [" ".join(WORDS)]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token=PAD if with_pad else None, padding_side=padding_side,
    )
    fast.add_special_tokens({"additional_special_tokens": ["<|user|>", "<|assistant|>"]})
    if chat_template:
        fast.chat_template = chat_template
    return fast


def llama_config(tokenizer, **extra):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **extra,
    )


def build_tiny_llama(directory: Path, *, seed: int = 0, padding_side: str = "right",
                     chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """A random 2-layer LlamaForCausalLM (hidden 64) whose tokenizer has no pad token."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(with_pad=False, chat_template=chat_template, padding_side=padding_side)
    model = LlamaForCausalLM(llama_config(tokenizer))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_reward_model(directory: Path, *, seed: int = 1, num_labels: int = 1) -> Path:
    """A random 2-layer LlamaForSequenceClassification (one label, pad token set): a reward model."""
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(with_pad=True)
    model = LlamaForSequenceClassification(llama_config(tokenizer, num_labels=num_labels))
    with torch.no_grad():  # rewards of order 1 (the random init gives ~0.02)
        model.score.weight.normal_(0.0, 0.5)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
