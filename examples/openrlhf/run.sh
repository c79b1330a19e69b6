#!/usr/bin/env bash
# OpenRLHF's own reward-fetching code against a running service, on prompts.jsonl (12 samples,
# users alice and bob in the labels), both ways in: the HTTP protocol (/get_reward) and the
# reward_func.py file. Needs scripts/integrations.sh (.venv-rl) and a service at $MICRO_URL.
#   MICRO_URL=http://127.0.0.1:8000 [MICRO_API_KEY=...] bash examples/openrlhf/run.sh [0.11.2]
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:-0.11.2}
url=${MICRO_URL:-http://127.0.0.1:8000}
root=.venv-rl/openrlhf/$version
out=$(mktemp -d)
echo "== --reward.remote_url $url/get_reward (OpenRLHF's HTTP client; sends no API key)"
.venv-rl/bin/python examples/openrlhf/reward_path.py "$root" "$out/http.json" \
  --data examples/openrlhf/prompts.jsonl --url "$url/get_reward" 2>&1 | grep -v "^INFO"
echo "== --reward.remote_url examples/openrlhf/reward_func.py (micro_client; MICRO_API_KEY, per-sample users)"
MICRO_URL=$url .venv-rl/bin/python examples/openrlhf/reward_path.py "$root" "$out/func.json" \
  --data examples/openrlhf/prompts.jsonl --url examples/openrlhf/reward_func.py 2>&1 | grep -v "^INFO"
rm -r "$out"
