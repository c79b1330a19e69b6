#!/usr/bin/env bash
# The RL-integration test environment (docs/integrations.md):
#   1. installs the torch-free client (./client, package micro_client; editable) into the project venv;
#   2. builds .venv-rl: a separate venv holding OpenRLHF's real reward-fetching code, installed
#      with --no-deps (its own client needs only aiohttp), one --target folder per checked
#      release, plus micro_client (for OpenRLHF's `--remote_rm_url reward_func.py` path).
#   3. with --torch (CI passes it): .venv-torch, where TRL's GRPOTrainer and veRL's trainer reward step
#      run for real (tests/client/test_trl_trainer.py, test_verl_trainer.py, examples/trl/,
#      examples/verl/). No second torch: the venv reads .venv's packages (torch, transformers,
#      micro_client, the MiniLM tokenizer) through a .pth file and adds, pinned, only what they
#      lack: trl with its small dependencies (accelerate, datasets), verl --no-deps, and the few
#      packages veRL's reward path imports (ray, tensordict, omegaconf, hydra-core, codetiming,
#      torchdata, peft, cachetools, pillow, aiohttp).
# tests/client/test_openrlhf_client.py skips, saying so, while .venv-rl is missing; the .venv-torch
# tests skip likewise, except under MICRO_REQUIRE_TORCH_VENV=1 (.ci/run), where they fail.
# Idempotent; CI runs it after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OPENRLHF_VERSIONS=(0.11.2 0.10.4)   # 0.11.x rotates URLs; 0.10.x still posts empty shards
VERL_VERSION=0.9.1
TORCH_SIDE=("trl==1.16.0" "ray==2.60.0" "tensordict==0.10.0" "omegaconf==2.3.1" "hydra-core==1.3.8"
            "codetiming==1.4.0" "torchdata==0.11.0" "peft==0.21.2" "cachetools==8.0.3" "pillow==13.0.0"
            "aiohttp==3.14.5")
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
  [ -x .venv-torch/bin/python ] || .venv/bin/python -m venv .venv-torch   # .venv's Python version
  site=$(.venv-torch/bin/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")
  base=$(cd .venv && pwd -P)/lib/$(basename "$(dirname "$site")")/site-packages
  echo "import site; site.addsitedir('$base')" > "$site/_project_venv.pth"   # .venv's torch & co, after ours
  .venv-torch/bin/pip install -q --disable-pip-version-check "${TORCH_SIDE[@]}"
  .venv-torch/bin/pip install -q --disable-pip-version-check --no-deps "verl==$VERL_VERSION"
  .venv-torch/bin/python -c "import torch, trl, verl.experimental.agent_loop, verl.experimental.reward_loop"
  echo "integrations: TRL ${TORCH_SIDE[0]#trl==} and veRL $VERL_VERSION in .venv-torch (over .venv's torch)"
fi
echo "integrations: micro_client in .venv; OpenRLHF ${OPENRLHF_VERSIONS[*]} in .venv-rl/openrlhf/"
