"""The accuracy gate of an exported graph: on validation pairs, its features against the torch
fp32 encoder's (cosine of each text's vector) and the checkpoint's pairwise and personalization
accuracy read from either set of features.

Pairwise accuracy: the mixture (router weights of the prompt) prefers the chosen response.
Personalization accuracy: each user type's best head (the stage-1 oracle), averaged over types.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from model.backbone import Encoder
from model.data import PreferencePair, is_validation, load_pairs
from model.features import router_text
from model.fitting import PairTensors
from model.heads import MixtureRewardModel
from model.accuracy import best_head_accuracy, mixture_correct

Forward = Callable[[dict[str, torch.Tensor]], torch.Tensor]  # tokenized (B, T) batch -> (B, d)
MIN_COSINE = 0.99  # every text's vector, against fp32 torch
MAX_ACCURACY_DROP = 0.005  # pairwise and personalization accuracy, absolute


@dataclass(frozen=True)
class GateResult:
    backend: str
    pairs: int
    min_cosine: float
    mean_cosine: float
    pairwise_fp32: float
    pairwise: float
    personal_fp32: float
    personal: float

    @property
    def passed(self) -> bool:
        return (self.min_cosine >= MIN_COSINE and abs(self.pairwise - self.pairwise_fp32) <= MAX_ACCURACY_DROP
                and abs(self.personal - self.personal_fp32) <= MAX_ACCURACY_DROP)

    def record(self) -> dict:
        return {**asdict(self), "passed": self.passed, "min_cosine_required": MIN_COSINE,
                "max_accuracy_drop": MAX_ACCURACY_DROP}


def validation_pairs(datasets: Sequence[str], n: int, seed: int = 0) -> list[PreferencePair]:
    """``n`` pairs (all when fewer) of the train split's validation slice, a fixed sample. Pairs whose two
    responses are the same text (DSP has a few) carry no preference: their margin is exactly 0 in torch and
    +-1e-7 in another runtime, a coin flip the gate would count as an accuracy change; they are left out."""
    pairs = [p for p in load_pairs(datasets, split="train") if is_validation(p.prompt) and p.chosen != p.rejected]
    return pairs if len(pairs) <= n else random.Random(seed).sample(pairs, n)


def features(
    encoder: Encoder, forward: Forward, texts: Sequence[str], window: int, batch_size: int = 16
) -> torch.Tensor:
    """(N,) texts -> (N, d) float32 through ``forward``, batches of similar length."""
    out = torch.empty(len(texts), encoder.dim)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        with torch.inference_mode():
            out[idx] = forward(encoder.tokenize([texts[i] for i in idx], window)).float()
    return out


def pair_features(encoder: Encoder, forward: Forward, pairs: Sequence[PreferencePair]) -> PairTensors:
    prompts = [encoder.prompt_text(p.prompt, list(p.messages)) if p.messages else p.prompt for p in pairs]
    chosen, _ = encoder.join_pairs(prompts, [p.chosen for p in pairs])
    rejected, _ = encoder.join_pairs(prompts, [p.rejected for p in pairs])
    pair_emb = features(encoder, forward, chosen + rejected, encoder.max_length)
    routers = features(encoder, forward, [router_text(t, p.context) for t, p in zip(prompts, pairs)],
                       encoder.router_max_length)
    return PairTensors(chosen=pair_emb[: len(pairs)], rejected=pair_emb[len(pairs) :], prompt=routers)


def accuracies(model: MixtureRewardModel, data: PairTensors, user_types: Sequence[str]) -> tuple[float, float]:
    """(pairwise, personalization) accuracy of the checkpoint on these features."""
    pairwise = float(mixture_correct(model, data).float().mean())
    per_type = best_head_accuracy(model, data, user_types)
    return pairwise, sum(per_type.values()) / len(per_type)


def run_gate(encoder: Encoder, model: MixtureRewardModel, graph: Forward, pairs: Sequence[PreferencePair],
             backend: str, reference: PairTensors | None = None) -> GateResult:
    """The graph's features and accuracies against the fp32 torch encoder's (``reference``:
    those, when already computed)."""
    ref = reference or pair_features(encoder, encoder.forward_tokens, pairs)
    got = pair_features(encoder, graph, pairs)
    cos = torch.cat([torch.nn.functional.cosine_similarity(a, b, dim=-1) for a, b in
                     ((ref.chosen, got.chosen), (ref.rejected, got.rejected), (ref.prompt, got.prompt))])
    types = [p.user_type for p in pairs]
    (pw_ref, pers_ref), (pw, pers) = accuracies(model, ref, types), accuracies(model, got, types)
    return GateResult(backend, len(pairs), float(cos.min()), float(cos.mean()), pw_ref, pw, pers_ref, pers)
