"""The probe's word features, by hand: terms, the vocabulary's cut and idf, TF-IDF rows; and how the feature-ceiling
probe joins and weighs the word block beside the backbone's poolings."""

import math

import torch

from evaluation.feature_ceiling import LEXICAL_WEIGHTS, candidate_scales, view_of, view_parts
from evaluation.lexical_features import fit_vocabulary, terms, tfidf


def test_terms_are_lower_cased_words_punctuation_and_adjacent_pairs():
    assert terms("Don't panic!") == ["don't", "panic", "!", "don't panic", "panic !"]
    assert terms("") == []


def test_vocabulary_keeps_terms_seen_in_enough_texts_with_their_idf():
    vocab = fit_vocabulary(["a b", "a c", "a b"], min_count=2)  # df: a 3, b 2, "a b" 2; c and "a c" once
    assert sorted(vocab.index) == ["a", "a b", "b"]
    idf = {t: float(vocab.idf[i]) for t, i in vocab.index.items()}
    assert math.isclose(idf["a"], math.log(4 / 4) + 1) and math.isclose(idf["b"], math.log(4 / 3) + 1, rel_tol=1e-6)


def test_tfidf_rows_by_hand():
    vocab = fit_vocabulary(["x y", "x", "y y"], min_count=1)  # df: x 2, y 2, "x y" 1, "y y" 1 of N = 3
    rows = tfidf(["y y x", "unknown"], vocab)  # counts: y 2, x 1, "y y" 1 ("y x" never fitted)
    assert "y x" not in vocab.index
    want = {"x": math.log(2) * (math.log(4 / 3) + 1), "y": math.log(3) * (math.log(4 / 3) + 1),
            "y y": math.log(2) * (math.log(4 / 2) + 1), "x y": 0.0}
    norm = math.sqrt(sum(v * v for v in want.values()))
    for term, value in want.items():
        assert math.isclose(float(rows[0, vocab.index[term]]), value / norm, rel_tol=1e-5, abs_tol=1e-7)
    assert float(rows[1].abs().sum()) == 0.0  # no known term: a zero row, not NaN


def test_the_word_block_is_joined_last_and_weighed_not_standardised():
    views = {"mean": torch.ones(2, 3), "lexical": torch.zeros(2, 5)}
    assert view_parts("lexical+mean") == ["mean", "lexical"]
    assert view_of(views, "lexical+mean").shape == (2, 8)
    chosen, rejected = torch.tensor([[1.0, 0.0, 0.5, 0.5]]), torch.tensor([[3.0, 0.0, 0.0, 1.0]])
    scales = candidate_scales("mean+lexical", chosen, rejected, lexical_width=2)
    assert len(scales) == len(LEXICAL_WEIGHTS)
    for scale, weight in zip(scales, LEXICAL_WEIGHTS):
        assert torch.allclose(scale[:2], torch.tensor([math.sqrt(2.0) + 1e-6, 1e-6]))  # the dense columns' spread
        assert torch.allclose(scale[2:], torch.full((2,), 1 / weight))
    assert candidate_scales("mean+max", chosen, rejected, lexical_width=2) == [None]
