#!/usr/bin/env bash
# The test command (the README and CI run exactly this): lint, then every test in the workspace,
# including the end-to-end suite against a real tansu broker.
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/install-broker.sh
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
export TANSU="${TANSU:-${CARGO_HOME:-$HOME/.cargo}/bin/tansu}"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests start their own brokers and processors; two at a time fit 2 cores.
cargo nextest run --workspace --locked --no-fail-fast --test-threads 2
