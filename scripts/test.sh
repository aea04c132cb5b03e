#!/usr/bin/env bash
# The test command (the README and CI run exactly this): installs what the tests need, starts
# one Apache Kafka broker for the whole run, then lint and every test in the workspace,
# including the end-to-end suite against that broker.
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/install-kafka.sh >/dev/null
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# A toolchain without rustfmt or clippy skips only that check, loudly.
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check
else
  echo "!!!!! WARNING: rustfmt is not installed: SKIPPING the format check (rustup component add rustfmt) !!!!!" >&2
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  echo "!!!!! WARNING: clippy is not installed: SKIPPING the lint check (rustup component add clippy) !!!!!" >&2
fi

# Real clients and independent checkers for the end-to-end tests, in a virtualenv of its own so
# the system Python is untouched: psql (Debian postgresql-client), psycopg and the JDBC driver
# for the query service; DuckDB, SciPy and PySAL (esda, libpysal) to recompute the analytics independently.
if ! command -v psql >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends postgresql-client >/dev/null
  else
    echo "psql is missing: apt-get install postgresql-client" >&2
    exit 1
  fi
fi
venv="${HOME}/.cache/lantern/venv"
if ! "$venv/bin/python" -c 'import psycopg, duckdb, scipy, esda, libpysal' >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'psycopg[binary]==3.2.*' 'duckdb==2.0.1' 'esda==2.9.0' 'libpysal==4.14.1'
fi
export E2E_PYTHON="$venv/bin/python"
# Delta Lake readers for the tables' Delta logs: the `deltalake` package (delta-rs) and DuckDB's
# delta extension. DuckDB downloads extensions from its own site, which CI cannot reach; PyPI's
# duckdb-extension-delta carries the extension for DuckDB 1.5.5 (and -httpfs, for reading from
# S3), hence a virtualenv of its own. moto's server is the S3-compatible store the object
# storage tests start (tests/e2e/object_store.rs).
delta_venv="${HOME}/.cache/lantern/delta-venv"
if ! "$delta_venv/bin/python" -c 'import deltalake, duckdb, duckdb_extension_delta, duckdb_extension_httpfs, moto.server, boto3' >/dev/null 2>&1; then
  python3 -m venv "$delta_venv"
  "$delta_venv/bin/pip" install --quiet 'deltalake==1.6.6' 'duckdb==1.5.5' 'duckdb-extension-delta==1.5.5' \
    'duckdb-extension-httpfs==1.5.5' 'moto[server]==5.2.5' 'pyarrow==22.*'
fi
export E2E_DELTA_PYTHON="$delta_venv/bin/python"
# The PostgreSQL JDBC driver (what DBeaver uses), from Maven Central into ~/.m2, once.
pgjdbc="$HOME/.m2/repository/org/postgresql/postgresql/42.7.14/postgresql-42.7.14.jar"
if [ ! -f "$pgjdbc" ]; then
  mvn -q -B -Dstyle.color=never dependency:get -Dartifact=org.postgresql:postgresql:42.7.14 -Dtransitive=false
fi
export E2E_PGJDBC_JAR="$pgjdbc"
# The dashboard's browser tests: Debian's Chromium, driven by playwright-core (npm, no browser
# download) from a directory of its own. Screenshots and PDFs land in E2E_ARTIFACTS_DIR.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null
  else
    echo "chromium is missing: apt-get install chromium" >&2
    exit 1
  fi
fi
command -v node >/dev/null 2>&1 || { echo "node is missing: install Node.js 18 or newer" >&2; exit 1; }
node_tools="${HOME}/.cache/lantern/node"
if [ ! -f "$node_tools/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$node_tools"
  npm install --prefix "$node_tools" --silent --no-audit --no-fund --no-save playwright-core@1.65.1
fi
export NODE_PATH="$node_tools/node_modules"
export E2E_ARTIFACTS_DIR="${CARGO_TARGET_DIR:-$PWD/target}/e2e-artifacts"

# The Helm chart: lint, values schema, rendered by Helm's engine (a Go build, cached in
# ~/.cache/go-build), kubernetes-validate. The cargo tests render it again through the same tool.
scripts/check-chart.sh
export E2E_HELM_RENDER="${HOME}/.cache/lantern/bin/lantern-helm-render"

# Build before starting the broker, so the JVM does not compete with the compiler.
cargo nextest run --workspace --locked --no-run

# One broker for the run (a JVM takes seconds to start); each test uses its own topics and
# consumer groups on it. Tests that stop or pause a broker start their own.
broker_dir="$(mktemp -d -t lantern-test-broker.XXXXXX)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
controller_port="$(free_port)"
cleanup() {
  scripts/broker.sh stop --dir "$broker_dir" >/dev/null || true
  rm -rf "$broker_dir"
}
trap cleanup EXIT
scripts/broker.sh start --dir "$broker_dir" --port "$port" --controller-port "$controller_port"
export E2E_KAFKA_BOOTSTRAP="127.0.0.1:$port"

# The end-to-end tests run the processor, importer and SQL as separate processes: two tests
# at a time fit 2 cores next to the broker.
cargo nextest run --workspace --locked --no-fail-fast --test-threads 2
echo "Browser screenshots and PDFs: $E2E_ARTIFACTS_DIR"
