"""Encoder: pooling, chat rendering, truncation that keeps the end of the prompt and the start
of the response. Uses the real default backbone (all-MiniLM-L6-v2, shipped in a package)."""

import pytest
import torch

from model.backbone import BackboneError, Encoder, pool, render_messages, to_device


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
