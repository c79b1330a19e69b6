"""Encoder: pooling, chat rendering, truncation that keeps the end of the prompt and the start
of the response. Uses the real default backbone (all-MiniLM-L6-v2, shipped in a package) and a
tiny random Llama-style decoder built in a temp dir (tests/model/tiny_models.py)."""

import random

import pytest
import torch

from model.backbone import BackboneError, Encoder, pool, render_messages, to_device
from tests.model.tiny_models import CHAT_TEMPLATE, build_tiny_llama, sentence


def test_mean_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(pool(hidden, mask, "mean"), torch.tensor([[2.0, 2.0]]))


def test_last_pooling_takes_last_real_token_with_right_or_left_padding():
    hidden = torch.arange(6, dtype=torch.float32).view(1, 3, 2).repeat(2, 1, 1)
    mask = torch.tensor([[1, 1, 0], [0, 1, 1]])
    assert torch.allclose(pool(hidden, mask, "last"), torch.tensor([[2.0, 3.0], [4.0, 5.0]]))


def test_cls_pooling_takes_first_token():
    hidden = torch.arange(6, dtype=torch.float32).view(1, 3, 2)
    assert torch.allclose(pool(hidden, torch.ones(1, 3), "cls"), torch.tensor([[0.0, 1.0]]))


def test_messages_without_chat_template_become_a_transcript():
    text = render_messages([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    assert text == "User: hi\n\nAssistant: hello\n\nAssistant:"


@pytest.fixture(scope="module")
def encoder():
    return Encoder(max_length=32)


def test_encoder_identity_and_shapes(encoder):
    assert encoder.info.id == "sentence-transformers/all-MiniLM-L6-v2"
    assert encoder.dim == 384 and encoder.device.type in ("cpu", "cuda")
    out = encoder.encode(["a short text", "another, slightly longer text", ""])
    assert out.shape == (3, 384) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_encode_keeps_input_order(encoder):
    texts = ["alpha " * 20, "beta", "gamma " * 5]
    together = encoder.encode(texts, batch_size=2)
    alone = torch.cat([encoder.encode([t]) for t in texts])
    assert torch.allclose(together, alone, atol=1e-4)


def test_long_pairs_keep_prompt_end_and_response_start(encoder):
    prompt = "start of the prompt " + "filler " * 100 + "latest question"
    response = "first words of the answer " + "padding " * 100 + "final words"
    (text,), (cut,) = encoder.join_pairs([prompt], [response])
    assert cut
    assert "latest question" in text and "start of the prompt" not in text
    assert "first words" in text and "final words" not in text
    assert len(encoder.tokenizer(text)["input_ids"]) <= encoder.max_length


def test_short_pairs_are_joined_whole(encoder):
    (text,), (cut,) = encoder.join_pairs(["Q?"], ["A."])
    assert text == "Q?\n\nA." and not cut


def test_missing_backbone_path_is_a_clear_error(tmp_path):
    with pytest.raises(BackboneError, match="not a directory"):
        Encoder(tmp_path / "missing")


def test_to_device_sends_a_batch_as_one_stacked_copy_keeping_names_and_shapes():
    batch = {"input_ids": torch.arange(6).reshape(2, 3), "attention_mask": torch.ones(2, 3, dtype=torch.long)}
    moved = to_device(batch, torch.device("meta"))  # any non-cpu device takes the stacked path
    assert list(moved) == ["input_ids", "attention_mask"]
    assert all(t.device.type == "meta" and t.shape == (2, 3) and t.dtype == torch.long for t in moved.values())
    assert to_device(batch, torch.device("cpu")) is batch


# ---- any local Hugging Face model: a tiny random Llama-style decoder built in-test --------------


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny-llama")


@pytest.fixture(scope="module")
def llama(llama_dir):
    return Encoder(llama_dir, device="cpu", max_length=64)


def test_decoder_is_detected_and_pools_the_last_token_with_the_chat_template(llama):
    assert llama.info.kind == "decoder" and llama.info.pooling == "last"
    assert llama.info.chat_template is not None and llama.info.id == "tiny-llama"


def test_decoder_without_pad_token_pads_with_eos(llama):
    assert llama.tokenizer.pad_token_id == llama.tokenizer.eos_token_id is not None


def test_chat_template_renders_the_pair_with_a_single_bos(llama):
    (text,), (cut,) = llama.join_pairs(["the cat likes"], ["a dog sees"])
    assert not cut
    assert text == "<|user|> the cat likes </s> <|assistant|> a dog sees </s> "
    ids = llama.tokenizer(text)["input_ids"]
    assert ids.count(llama.tokenizer.bos_token_id) == 1 and ids[0] == llama.tokenizer.bos_token_id


def test_without_the_template_a_decoder_reads_plain_text(llama_dir):
    plain = Encoder(llama_dir, device="cpu", max_length=64, chat_template=False)
    assert plain.info.chat_template is None
    assert plain.join_pairs(["the cat likes"], ["a dog sees"])[0] == ["the cat likes\n\na dog sees"]


def test_templated_long_pairs_keep_markers_prompt_end_and_response_start(llama):
    rng = random.Random(0)
    prompt = "my first question " + " ".join(sentence(rng) for _ in range(20)) + " why latest"
    response = "yes answer begins " + " ".join(sentence(rng) for _ in range(20)) + " final words"
    (text,), (cut,) = llama.join_pairs([prompt], [response])
    assert cut and text.startswith("<|user|>") and "<|assistant|> yes answer begins" in text
    assert text.endswith("</s> ") and "why latest </s>" in text
    assert "my first question" not in text and "final words" not in text
    assert len(llama.tokenizer(text)["input_ids"]) <= llama.max_length


def test_messages_become_one_user_turn_under_the_template(llama):
    one = [{"role": "user", "content": "the cat"}]
    assert llama.prompt_text(messages=one) == "the cat"
    two = one + [{"role": "assistant", "content": "a dog"}, {"role": "user", "content": "why"}]
    assert llama.prompt_text(messages=two) == "User: the cat\n\nAssistant: a dog\n\nUser: why"


def test_last_token_embedding_is_the_same_alone_or_batched_whatever_the_saved_padding_side(tmp_path):
    left = Encoder(build_tiny_llama(tmp_path / "left", padding_side="left"), device="cpu", max_length=64)
    rng = random.Random(1)
    texts, _ = left.join_pairs([sentence(rng, 3), sentence(rng, 9)], [sentence(rng, 12), sentence(rng, 4)])
    batched = left.encode(texts)
    alone = torch.cat([left.encode([t]) for t in texts])
    assert torch.allclose(batched, alone, atol=1e-5)
    # and it is the hidden state of the last real token of the unpadded text
    ids = left.tokenize(texts[:1])
    with torch.inference_mode():
        hidden = left.model(**ids).last_hidden_state[0, -1]
    assert torch.allclose(alone[0], hidden, atol=1e-5)


def test_service_collate_pads_like_tokenize_on_a_decoder(llama):
    rng = random.Random(2)
    texts = [sentence(rng, 3), sentence(rng, 10)]
    features = [{k: v for k, v in llama.tokenizer(t, truncation=True, max_length=64).items()} for t in texts]
    assert torch.allclose(llama.forward_tokens(llama.collate(features)), llama.encode(texts), atol=1e-5)


def test_backbone_kind_reads_the_config():
    from transformers import BertConfig, LlamaConfig, T5Config

    from model.backbone_loading import backbone_kind

    assert backbone_kind(LlamaConfig()) == "decoder"
    assert backbone_kind(BertConfig()) == "encoder"
    assert backbone_kind(BertConfig(is_decoder=True)) == "decoder"
    with pytest.raises(BackboneError, match="encoder-decoder"):
        backbone_kind(T5Config())


def test_tiny_tokenizer_keeps_the_template_it_was_saved_with(llama):
    assert llama.tokenizer.chat_template == CHAT_TEMPLATE
