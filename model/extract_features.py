"""Stage 1's embedding as a data-parallel job on torch.distributed: every process (rank) embeds its
shards of the pairs (shard s goes to rank s mod N) and writes them to one directory; a second run
skips the shards already complete; ``python -m model.train --features-dir DIR`` fits from them.

    python -m model.extract_features --data dsp --out features/dsp                      # one process
    torchrun --standalone --nproc-per-node 8 -m model.extract_features --data dsp --out features/dsp
    python -m model.train --data dsp --features-dir features/dsp --out checkpoints/mine

Without torchrun it is one process (N = 1, the same code). Under torchrun it joins the process
group (NCCL on GPUs, each rank on cuda:LOCAL_RANK; gloo on CPU). The shards do not depend on N:
1, 2 or 64 processes write the same files (docs/training.md).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from model.backbone_args import add_backbone_arguments, encoder_from_args
from model.feature_shards import (MANIFEST, FeatureShardError, ShardPlan, is_complete, plan_for, read_plan, write_plan,
                                  write_shard)
from model.features import encode_pairs
from model.pair_files import DataError
from model.train import default_layers
from model.train_data import add_source_arguments, data_sources, prepare_data

DEFAULT_SHARD_ROWS = 1024


@dataclass(frozen=True)
class Rank:
    """This process's place in the job, from torchrun's environment (one process without it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launched: bool = False  # under torchrun: join the process group

    @classmethod
    def from_env(cls) -> Rank:
        if "WORLD_SIZE" not in os.environ:
            return cls()
        env = {name: int(os.environ.get(name.upper(), default)) for name, default in
               (("rank", 0), ("world_size", 1), ("local_rank", 0), ("local_world_size", 1))}
        return cls(**env, launched=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.extract_features", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(p)
    add_backbone_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="features directory (shared by every node)")
    p.add_argument("--shard-rows", type=int, default=DEFAULT_SHARD_ROWS, help="pairs per shard file")
    p.add_argument("--max-shards", type=int, default=0,
                   help="each process stops after computing this many shards (0: all); a later run goes on")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per process (default: the cores this process may use / processes per node)")
    p.add_argument("--timeout-min", type=float, default=120.0,
                   help="how long a rank waits for the others at the end (the slowest rank's last shard)")
    args = p.parse_args(argv)
    default_layers(args)  # the features python -m model.train reads with the same flags
    args.data = data_sources(args.data)
    return args


def start(rank: Rank, args: argparse.Namespace) -> torch.device:
    """Threads, device and process group of this rank; the device its tensors live on."""
    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    if cuda:
        torch.cuda.set_device(rank.local_rank)
        args.device = f"cuda:{rank.local_rank}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(args.threads or max(1, cores // rank.local_world_size))
    if rank.launched:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=args.timeout_min))
    return torch.device(args.device if cuda else "cpu")


def start_directory(out: Path, plan: ShardPlan, rank: Rank) -> None:
    """Rank 0 writes the plan, or checks it against the one there (a resume); every rank learns the
    verdict (no rank is left waiting for one that refused), and makes the directory (nodes that do
    not share a filesystem each write their own shards; copy them into one directory for the fit)."""
    error = None
    if rank.rank == 0:
        try:
            write_plan(out, plan)
        except FeatureShardError as exc:
            error = str(exc)
    if rank.launched:
        verdict = [error]
        dist.broadcast_object_list(verdict, src=0)
        error = verdict[0]
    if error:
        raise FeatureShardError(error)
    out.mkdir(parents=True, exist_ok=True)


def extract(args: argparse.Namespace, rank: Rank) -> dict:
    """This rank's shards: the complete ones skipped, the others embedded and written. Returns the
    job's totals (summed over ranks) once every rank is done."""
    device = start(rank, args)
    quiet = io.StringIO()
    prepared = prepare_data(args.data, args.val_data, user_column=args.user_column, strict=args.strict,
                            data_root=args.data_root, out=sys.stderr if rank.rank == 0 else quiet)
    encoder = encoder_from_args(args)
    plan = plan_for(prepared.pairs, encoder.info, encoder.dtype, args.shard_rows, args.data)
    start_directory(args.out, plan, rank)
    if (Path(args.out) / MANIFEST).is_file():  # not on a node of its own, whose rank 0 wrote the plan elsewhere
        # the plan in force is the one on disk: a resumed directory from before the weights digest keeps the
        # recipe its shards were written (and will be read) under
        plan = read_plan(args.out)
    computed = skipped = texts = rows = 0
    started = time.perf_counter()
    for shard in range(rank.rank, plan.num_shards, rank.world_size):
        if is_complete(args.out, plan, shard):
            skipped += 1
            continue
        if args.max_shards and computed >= args.max_shards:
            continue  # left for a later run
        span = plan.rows_of(shard)
        tick = time.perf_counter()
        features, encoded = encode_pairs(prepared.pairs[span.start:span.stop], encoder)
        write_shard(args.out, plan, shard, features, encoded)
        computed, texts, rows = computed + 1, texts + encoded, rows + len(span)
        print(f"rank {rank.rank}: shard {shard} ({len(span)} pairs, {encoded} texts) in "
              f"{time.perf_counter() - tick:.1f} s", file=sys.stderr)
    seconds = time.perf_counter() - started
    counts = torch.tensor([computed, skipped, texts, rows], dtype=torch.float64, device=device)
    slowest = torch.tensor([seconds], dtype=torch.float64, device=device)
    if rank.launched:
        dist.all_reduce(counts)
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    computed, skipped, texts, rows = (int(v) for v in counts.tolist())
    seconds = float(slowest.item())
    return {"out": str(args.out), "processes": rank.world_size, "pairs": len(plan.row_ids), "shards": plan.num_shards,
            "shards_complete": computed + skipped, "shards_computed": computed, "shards_skipped": skipped,
            "pairs_computed": rows, "texts_encoded": texts, "seconds": round(seconds, 2),
            "texts_per_s": round(texts / seconds, 1) if seconds > 0 and texts else None,
            "pairs_per_s": round(rows / seconds, 1) if seconds > 0 and rows else None}


def main(argv: Sequence[str] | None = None) -> None:
    """Exit 2, one line, on data or a features directory that cannot be used; 0 when this run's share is done."""
    args = parse_args(argv)
    rank = Rank.from_env()
    try:
        summary = extract(args, rank)
    except (DataError, FeatureShardError) as exc:  # raised by every rank alike (the same data, a shared verdict)
        for line in (exc.problems if isinstance(exc, DataError) else [str(exc)]) if rank.rank == 0 else []:
            print(f"error: {line}", file=sys.stderr)
        finish(rank, 2)
    if rank.rank == 0:
        print(json.dumps(summary, indent=2))
    finish(rank, 0)


def finish(rank: Rank, code: int) -> None:
    """Every rank together: wait for the others, leave the process group, exit. Under torchrun the
    process then ends without the interpreter's teardown: a gloo rank aborted there ("terminate called
    without an active exception", no Python frame left) in about one resumed 2-process run in six here,
    after all its files were written; everything is flushed first. Not reached on an unexpected error:
    a rank waiting for a failed one would hang the job, while a failed rank that just exits lets
    torchrun stop the others."""
    if not rank.launched:
        if code:
            raise SystemExit(code)
        return
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
