#!/usr/bin/env bash
# Starts or stops a local tansu broker for the quick start.
#   scripts/broker.sh start [PORT]   # SQLite storage under .lantern/broker/, logs in .lantern/broker/tansu.log
#   scripts/broker.sh stop
set -euo pipefail

cd "$(dirname "$0")/.."
STATE=.lantern/broker
PORT="${2:-9092}"
TANSU="${TANSU:-${CARGO_HOME:-$HOME/.cargo}/bin/tansu}"
mkdir -p "$STATE"

case "${1:-}" in
  start)
    if [[ -f "$STATE/pid" ]] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
      echo "tansu already running (pid $(cat "$STATE/pid"))"
      exit 0
    fi
    "$TANSU" broker \
      --listener-url "tcp://127.0.0.1:$PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$PORT" \
      --storage-engine "sqlite://$STATE/tansu.db" \
      >"$STATE/tansu.log" 2>&1 &
    echo $! >"$STATE/pid"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        echo "tansu listening on 127.0.0.1:$PORT (pid $(cat "$STATE/pid"))"
        exit 0
      fi
      sleep 0.1
    done
    echo "tansu did not start; see $STATE/tansu.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$STATE/pid" ]]; then
      kill "$(cat "$STATE/pid")" 2>/dev/null || true
      rm -f "$STATE/pid"
    fi
    ;;
  *)
    echo "usage: $0 start [PORT] | stop" >&2
    exit 2
    ;;
esac
