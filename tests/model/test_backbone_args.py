"""The training CLI's backbone flags: the encoder they build, and exit code 2 with one clear
line when the backbone cannot be used as asked."""

import argparse

import pytest

from model.backbone_args import add_backbone_arguments, encoder_from_args
from tests.model.tiny_models import build_tiny_llama


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_backbone_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("args") / "tiny-llama")


def test_flags_reach_the_encoder_and_are_described(llama_dir, capsys):
    encoder = encoder_from_args(parsed("--backbone", str(llama_dir), "--batch-size", "3", "--dtype", "bfloat16",
                                       "--device", "cpu", "--max-length", "48", "--pooling", "mean"))
    assert encoder.batch_size == 3 and encoder.max_length == 48 and encoder.info.pooling == "mean"
    assert str(encoder.dtype) == "torch.bfloat16" and encoder.device.type == "cpu"
    line = capsys.readouterr().err
    assert "decoder, mean pooling, chat template" in line and "max length 48" in line and "bfloat16" in line


def test_chat_template_on_without_a_template_exits_2(tmp_path, capsys):
    bare = build_tiny_llama(tmp_path / "bare", chat_template=None)
    with pytest.raises(SystemExit) as exit_:
        encoder_from_args(parsed("--backbone", str(bare), "--chat-template", "on"))
    assert exit_.value.code == 2 and "has no chat template" in capsys.readouterr().err


def test_keep_score_head_on_a_causal_lm_exits_2_with_one_line(llama_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        encoder_from_args(parsed("--backbone", str(llama_dir), "--keep-score-head"))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "LlamaForCausalLM" in err[0]
