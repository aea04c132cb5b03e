#!/usr/bin/env bash
# Installs the tansu Kafka-protocol broker (crates.io, Apache-2.0) at the pinned version, with the
# SQLite (libsql) and in-memory (dynostore) storage engines. A binary already installed at the
# pinned version is reused, so this is instant after the first run (~10 minutes to build once).
set -euo pipefail

TANSU_VERSION="0.6.0"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
TANSU="$CARGO_BIN/tansu"

installed_version() {
  # `cargo install --list` records what cargo installed and at which version and features.
  cargo install --list 2>/dev/null | sed -n "s/^tansu v\([0-9.]*\):$/\1/p"
}

if [[ -x "$TANSU" && "$(installed_version)" == "$TANSU_VERSION" ]]; then
  echo "tansu $TANSU_VERSION already installed at $TANSU"
  exit 0
fi

echo "Building tansu $TANSU_VERSION (features libsql,dynostore); this takes about 10 minutes once."
cargo install tansu --version "$TANSU_VERSION" --features libsql,dynostore --locked
echo "tansu $TANSU_VERSION installed at $TANSU"
