"""The export gate's validation pairs leave out pairs whose two responses are the same text: their
torch margin is exactly 0 and any other runtime's is +-1e-7, a coin flip counted as an accuracy change."""

from model.data import is_validation, load_pairs
from model.onnx_gate import validation_pairs


def test_tied_pairs_are_left_out_of_the_gate_sample():
    raw = [p for p in load_pairs(["dsp"], split="train") if is_validation(p.prompt)]
    assert any(p.chosen == p.rejected for p in raw)  # the data does hold such pairs
    sample = validation_pairs(["dsp"], n=len(raw))
    assert sample and all(p.chosen != p.rejected for p in sample)
    assert len(sample) == sum(p.chosen != p.rejected for p in raw)
