#!/usr/bin/env bash
# The GPU path in one short script (never part of CI; needs a CUDA build of torch in .venv and .venv-rl for
# OpenRLHF's client; Redis is optional: user-less samples never read it). Prints:
#   1. the backbone forward on the GPU in fp32 / bf16 / fp16: texts/s and cosine against fp32;
#   2. bench.rl_compare at a larger load (2,000 single-query /get_reward, 256 in flight): the bare per-request server
#      (fp32, on the GPU) vs the service's defaults (MICRO_DTYPE=auto: bf16 where supported, else fp16) and vs the
#      service in fp32, best of 3 interleaved, with the rewards' agreement with the bare server's fp32.
# UNRUN: no GPU was lent to issue 27 (docs/performance.md).
#   bash bench/gpu_check.sh [checkpoint dir]
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:-checkpoints/default}
.venv/bin/python - "$CKPT" <<'PY'
import sys, time, torch
from model.backbone import Encoder
from model.checkpoint import read_config, record_settings
from bench.workload import dsp_items, rl_bodies
assert torch.cuda.is_available(), "no CUDA device"
cfg = read_config(sys.argv[1]).backbone
gen = rl_bodies(dsp_items(), "gpu")
bodies = [next(gen) for _ in range(2048)]
texts = [b["query"][0] for b in bodies]
ref = None
for dtype in ("float32", "bfloat16", "float16"):
    enc = Encoder(device="cuda", dtype=dtype, batch_size=128, **record_settings(cfg))
    enc.encode(texts[:256]); torch.cuda.synchronize()
    start = time.perf_counter(); out = enc.encode(texts); torch.cuda.synchronize()
    rate = len(texts) / (time.perf_counter() - start)
    ref = out if ref is None else ref
    cos = torch.nn.functional.cosine_similarity(out, ref).min().item()
    print(f"{dtype:9s} {rate:8.0f} texts/s  min cosine vs fp32 {cos:.5f}")
    del enc; torch.cuda.empty_cache()
PY
.venv/bin/python -m bench.rl_compare --checkpoint "$CKPT" --device cuda --samples 2000 --concurrency 256 --rounds 3 \
  --server-env MICRO_FORWARD_OVERHEAD_TOKENS=4096 --server-env MICRO_MAX_BATCH_SIZE=128 \
  --server-env MICRO_MAX_BATCH_TOKENS=32768 --json /tmp/gpu_rl.json
