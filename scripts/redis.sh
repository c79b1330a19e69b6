#!/usr/bin/env bash
# Makes sure a Redis answers on 127.0.0.1:${REDIS_PORT:-6379}; starts a throw-away one if none does.
# Production runs Redis with AOF persistence (see docs/deploy.md); this one keeps nothing on disk.
set -euo pipefail
PORT=${REDIS_PORT:-6379}
ping_redis() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
if ping_redis; then
  echo "redis: answering on 127.0.0.1:$PORT"
  exit 0
fi
command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install redis-server" >&2; exit 1; }
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no
for _ in $(seq 50); do ping_redis && { echo "redis: started on 127.0.0.1:$PORT"; exit 0; }; sleep 0.1; done
echo "redis: did not start on port $PORT" >&2
exit 1
