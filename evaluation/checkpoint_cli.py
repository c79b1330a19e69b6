"""The shared start of the small diagnosis commands: --checkpoint and --cache-dir, then the checkpoint's
encoder and model (evaluation.router_diagnosis, evaluation.top1_ceiling)."""

from __future__ import annotations

import argparse
from pathlib import Path

from model.backbone import Encoder
from model.checkpoint import load_checkpoint, read_config, record_settings
from model.heads import MixtureRewardModel
from model.paths import DEFAULT_CHECKPOINT, EMBEDDING_CACHE_DIR


def checkpoint_command(prog: str, doc: str | None, argv: list[str] | None
                       ) -> tuple[argparse.Namespace, Encoder, MixtureRewardModel]:
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--cache-dir", type=Path, default=EMBEDDING_CACHE_DIR)
    args = p.parse_args(argv)
    encoder = Encoder(**record_settings(read_config(args.checkpoint).backbone))
    model, _ = load_checkpoint(args.checkpoint, encoder.info)
    return args, encoder, model
