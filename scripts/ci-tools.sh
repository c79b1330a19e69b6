#!/usr/bin/env bash
# System tools some tests use (they skip, saying why, where a tool is missing):
# chromium + chromedriver (playground browser test), docker-compose (compose file check),
# prometheus (promtool: prometheus.yml, the alert rules and their unit tests), nginx-light (docker/nginx.conf
# run for real: /metrics refused). Needs root and Debian's package lists.
set -euo pipefail
pkgs=(chromium chromium-driver docker-compose prometheus nginx-light)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "ci-tools: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "ci-tools: cannot install ${missing[*]} (not root or no apt-get); their tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ci-tools: installed ${missing[*]}"
