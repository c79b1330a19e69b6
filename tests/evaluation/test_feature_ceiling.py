"""The feature-ceiling probe's two pieces of arithmetic: where the response begins in a joined text, and the three
poolings of one forward pass, checked by hand on tiny tensors."""

from types import SimpleNamespace

import pytest
import torch

from evaluation.feature_ceiling import (cache_key, fit_head, pooled_views, response_start, response_token_mask,
                                        view_of)


def test_response_start_finds_the_separator_the_response_follows():
    assert response_start("Q?\n\nAnswer here", "Answer here") == 4
    # a prompt with its own separator: the response begins after the one its text follows
    assert response_start("Part one.\n\nPart two?\n\nYes", "Yes, and more") == len("Part one.\n\nPart two?\n\n")
    assert response_start("just a response", "just a response") == 0  # no prompt
    assert response_start("Q?\n\n", "") == 4  # an empty response: no token of it
    with pytest.raises(ValueError):
        response_start("Q?\n\nsomething else", "Answer")


def test_pooled_views_by_hand():
    # one text, 3 tokens (the last padding), D = 2, two hidden states
    h0 = torch.tensor([[[1.0, 2.0], [3.0, 0.0], [9.0, 9.0]]])
    h1 = torch.tensor([[[0.0, -1.0], [2.0, 5.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    response = torch.tensor([[0, 1, 0]])  # the second token is the response
    views = pooled_views([h0, h1], mask, response)
    assert torch.allclose(views["mean"], torch.tensor([[2.0, 1.0, 1.0, 2.0]]))
    assert torch.allclose(views["response"], torch.tensor([[3.0, 0.0, 2.0, 5.0]]))
    assert torch.allclose(views["max"], torch.tensor([[3.0, 2.0, 2.0, 5.0]]))  # padding never wins
    assert view_of(views, "mean+max").shape == (1, 8)


def test_fit_head_orders_a_separable_pair_set():
    torch.manual_seed(0)
    chosen = torch.randn(40, 3) + torch.tensor([3.0, 0.0, 0.0])
    rejected = torch.randn(40, 3)
    w = fit_head(chosen, rejected, weight_decay=1e-3, steps=200)
    assert float(((chosen - rejected) @ w > 0).float().mean()) > 0.85
    assert w[0] > w[1].abs() and w[0] > w[2].abs()


def test_response_token_mask_keeps_the_responses_tokens_only():
    # [CLS] "Q?" "Yes" "no" [SEP] [PAD]: the response ("Yes no") begins at character 4
    offsets = torch.tensor([[[0, 0], [0, 2], [4, 7], [8, 10], [0, 0], [0, 0]]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 0]])
    mask = response_token_mask(offsets, [4], attention)
    assert mask.tolist() == [[False, False, True, True, False, False]]
    # no prompt: every real token but the special ones
    assert response_token_mask(offsets, [0], attention).tolist() == [[False, True, True, True, False, False]]


def test_the_cache_key_tells_backbones_and_response_spans_apart():
    def encoder(weight: float):
        model = torch.nn.Linear(2, 2)
        torch.nn.init.constant_(model.weight, weight)
        torch.nn.init.zeros_(model.bias)
        return SimpleNamespace(info=SimpleNamespace(record=lambda: {"id": "same-config"}), model=model)

    texts = ["A\n\nB\n\nC"]
    assert cache_key(encoder(1.0), texts, [3]) == cache_key(encoder(1.0), texts, [3])
    assert cache_key(encoder(1.0), texts, [3]) != cache_key(encoder(2.0), texts, [3])  # same config, other weights
    assert cache_key(encoder(1.0), texts, [3]) != cache_key(encoder(1.0), texts, [6])  # same text, other response
