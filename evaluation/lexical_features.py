"""Word features of a response: TF-IDF over lower-cased words and word pairs, for the feature-ceiling probe.

A reference, not something served: does a linear head read more of a user's style or harm from the words a response
uses than from the backbone's pooled hidden states? The vocabulary and its inverse document frequencies are fitted
on train-split responses only (no labels), terms seen in fewer than ``min_count`` of them are dropped, and each
response becomes log(1 + count) x idf, scaled to unit length.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

_TOKEN = re.compile(r"[a-z']+|[^\sa-z']")  # words (with apostrophes) and single punctuation marks


def terms(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, then each adjacent pair of them."""
    words = _TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass(frozen=True)
class Vocabulary:
    index: dict[str, int]
    idf: torch.Tensor  # (V,)

    def __len__(self) -> int:
        return len(self.index)


def fit_vocabulary(texts: Iterable[str], min_count: int = 3) -> Vocabulary:
    """Terms found in at least ``min_count`` texts, with idf = log((N + 1) / (df + 1)) + 1."""
    df: Counter[str] = Counter()
    n = 0
    for text in texts:
        df.update(set(terms(text)))
        n += 1
    kept = sorted(t for t, c in df.items() if c >= min_count)
    idf = torch.tensor([math.log((n + 1) / (df[t] + 1)) + 1 for t in kept], dtype=torch.float32)
    return Vocabulary({t: i for i, t in enumerate(kept)}, idf)


def tfidf(texts: Sequence[str], vocabulary: Vocabulary) -> torch.Tensor:
    """(N, V): log(1 + term count) x idf, each row of unit length (a text with no known term stays zero)."""
    out = torch.zeros(len(texts), len(vocabulary))
    for row, text in enumerate(texts):
        counts = Counter(i for t in terms(text) if (i := vocabulary.index.get(t)) is not None)
        if counts:
            cols = torch.tensor(list(counts))
            out[row, cols] = torch.log1p(torch.tensor(list(counts.values()), dtype=torch.float32))
    out *= vocabulary.idf
    return out / out.norm(dim=1, keepdim=True).clamp_min(1e-12)
