"""A sequence-classification reward model as backbone: its one-label score head kept as one
frozen expert next to the K learned heads (--keep-score-head), or dropped with a warning.
The reward model is a tiny random LlamaForSequenceClassification built in a temp dir."""

import random
import warnings
from dataclasses import asdict

import pytest
import torch

from model.backbone import BackboneError, Encoder
from model.checkpoint import CheckpointConfig, load_checkpoint, save_checkpoint
from model.fitting import FitConfig, PairTensors, fit_mixture
from model.heads import MixtureRewardModel
from tests.model.tiny_models import HIDDEN, build_tiny_llama, build_tiny_reward_model, sentence


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "tiny-rm")


@pytest.fixture(scope="module")
def kept(rm_dir):
    return Encoder(rm_dir, device="cpu", max_length=64, keep_score_head=True)


def pair_texts(encoder, n=4, seed=0):
    rng = random.Random(seed)
    return encoder.join_pairs([sentence(rng, 5) for _ in range(n)], [sentence(rng, 3 + 2 * i) for i in range(n)])[0]


def test_kept_score_head_is_appended_to_each_embedding(rm_dir, kept):
    from transformers import AutoModelForSequenceClassification

    assert kept.info.score_head and kept.dim == HIDDEN + 1 and kept.info.hidden_size == HIDDEN
    texts = pair_texts(kept)
    emb = kept.encode(texts)  # (N, D + 1)
    reference = AutoModelForSequenceClassification.from_pretrained(rm_dir).eval()
    with torch.inference_mode():
        own = reference(**kept.tokenize(texts)).logits[:, 0]
    assert torch.allclose(emb[:, -1], own, atol=1e-4)
    assert own.std() > 0  # the texts get different rewards: the check above is not vacuous


def test_without_the_flag_the_score_head_is_dropped_with_a_warning(rm_dir):
    with pytest.warns(UserWarning, match=r"score head is dropped.*--keep-score-head"):
        dropped = Encoder(rm_dir, device="cpu", max_length=64)
    assert not dropped.info.score_head and dropped.dim == HIDDEN


def test_plain_decoder_gives_no_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Encoder(build_tiny_llama(tmp_path / "llama"), device="cpu", max_length=32)


def test_score_head_cannot_be_kept_on_a_causal_lm(tmp_path):
    with pytest.raises(BackboneError, match="sequence-classification reward model.*LlamaForCausalLM"):
        Encoder(build_tiny_llama(tmp_path / "llama"), device="cpu", keep_score_head=True)


def test_score_head_with_two_labels_is_not_a_reward_model(tmp_path):
    with pytest.raises(BackboneError, match="2 labels"):
        Encoder(build_tiny_reward_model(tmp_path / "rm2", num_labels=2), device="cpu", keep_score_head=True)


def test_expert_head_reads_the_last_coordinate_next_to_the_learned_heads():
    model = MixtureRewardModel(dim=5, num_heads=3, expert=True)
    emb = torch.randn(7, 5)
    rewards = model.rewards(emb)
    assert rewards.shape == (7, 4) and model.num_heads == 4
    assert torch.equal(rewards[:, 3], emb[:, 4])
    assert torch.allclose(emb @ model.head_matrix().T, rewards)
    assert model.router(emb).shape == (7, 4)  # the router weighs the expert too


def expert_pairs(n=200, dim=6, seed=0):
    """Pairs the expert (last coordinate) orders right for half the prompts, wrong for the rest."""
    gen = torch.Generator().manual_seed(seed)
    chosen, rejected = torch.randn(n, dim, generator=gen), torch.randn(n, dim, generator=gen)
    prompt = torch.randn(n, dim, generator=gen)
    trusts = prompt[:, 0] > 0
    lo, hi = torch.minimum(chosen[:, -1], rejected[:, -1]), torch.maximum(chosen[:, -1], rejected[:, -1])
    chosen[:, -1], rejected[:, -1] = torch.where(trusts, hi, lo), torch.where(trusts, lo, hi)
    return PairTensors(chosen, rejected, prompt)


def test_fitting_keeps_the_expert_frozen_and_routes_to_it():
    data = expert_pairs()
    result = fit_mixture(data, expert_pairs(seed=1), FitConfig(num_heads=2, expert=True, max_steps=200, restarts=1))
    model = result.model
    assert model.num_heads == 3 and model.heads.weight.shape == (2, 6)
    assert torch.equal(model.rewards(data.chosen)[:, 2], data.chosen[:, -1])
    w = model.log_weights(data.prompt).exp()[:, 2]  # weight of the expert
    trusts = data.prompt[:, 0] > 0
    assert w[trusts].mean() > w[~trusts].mean()  # the router learned where the expert is right


def test_checkpoint_of_an_expert_model_serves_the_same_rewards(tmp_path):
    model = MixtureRewardModel(dim=5, num_heads=2, expert=True)
    torch.nn.init.normal_(model.heads.weight)
    torch.nn.init.normal_(model.router.weight)
    from model.backbone import BackboneInfo

    info = BackboneInfo("rm", "f00d", 4, "last", 64, kind="decoder", chat_template="abc", score_head=True)
    expert = {"kind": "score_head", "head": 2, "source": "rm"}
    save_checkpoint(tmp_path, model, CheckpointConfig(backbone=asdict(info), num_heads=3, dim=5, expert=expert))
    served, cfg = load_checkpoint(tmp_path, info)
    emb = torch.randn(4, 5)
    assert cfg.expert == expert and served.num_heads == 3
    assert torch.allclose(served.rewards(emb), model.rewards(emb))
    assert torch.allclose(served.log_weights(emb), model.log_weights(emb))
