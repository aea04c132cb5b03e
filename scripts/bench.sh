#!/usr/bin/env bash
# The benchmark, one command: builds the release binary, makes sure a Python with DuckDB (PyPI)
# exists, starts a Kafka broker of its own (fresh each run, so runs are comparable and no other
# topic is touched), runs `lantern bench` and stops the broker.
#   scripts/bench.sh                       # 10 million events: see docs/performance.md
#   scripts/bench.sh --events 1000000      # any `lantern bench` option (lantern bench --help)
# Figures are printed and written as JSON under .lantern/bench/.
set -euo pipefail

cd "$(dirname "$0")/.."
cargo build --locked --release --bin lantern
target="${CARGO_TARGET_DIR:-target}/release"

venv="${HOME}/.cache/lantern/venv"
if ! "$venv/bin/python" -c 'import duckdb' >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'duckdb==2.0.1'
fi

work=.lantern/bench
mkdir -p "$work"
rm -rf "$work/broker"
port="${BENCH_KAFKA_PORT:-39192}"
scripts/broker.sh start --dir "$work/broker" --port "$port" --controller-port "$((port + 1))"
trap 'scripts/broker.sh stop --dir "$work/broker"; rm -rf "$work/broker"' EXIT

LANTERN_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:$port" \
  "$target/lantern" bench --work-dir "$work" --python "$venv/bin/python" "$@"
