#!/usr/bin/env bash
# A four-year backfill, as a force would load one: the six shared months of Lancashire
# street-level crime relabelled as 48 months, 2018-01 .. 2021-12 (806,496 events; the events
# are real rows with a false month, so the figures mean nothing: a volume test only).
# Imports them into the local broker, drains them with the release build, and measures a bare
# librdkafka consumer on the same topic. Uses a broker, data directory and consumer groups of its
# own, all under .lantern/backfill and started afresh each run, so runs are comparable and the
# quick start's topics and tables are not touched.
#   scripts/backfill.sh            # see docs/backfill.md for what it prints and measured figures
set -euo pipefail

cd "$(dirname "$0")/.."
shared="${LANTERN_SHARED_DATA:-../shared/data}/policeuk/lancashire"
work=.lantern/backfill
mkdir -p "$work/csv"

# 2018-01 gets 2022-05, 2018-02 gets 2022-06, ... cycling through the six real months.
sources=("$shared"/2022-0{5,6,7,8,9}-lancashire-street.csv "$shared"/2022-10-lancashire-street.csv)
i=0
for year in 2018 2019 2020 2021; do
  for month in 01 02 03 04 05 06 07 08 09 10 11 12; do
    src="${sources[$((i % 6))]}"
    # Month is the second column; the first (Crime ID) is hex or empty, never quoted.
    sed -E "s/^([^,]*),2022-[0-9]{2},/\1,$year-$month,/" "$src" >"$work/csv/$year-$month-lancashire-street.csv"
    i=$((i + 1))
  done
done
rows=$(cat "$work"/csv/*.csv | grep -vc '^Crime ID' || true)
echo "Relabelled $rows rows into 48 monthly files under $work/csv"

cargo build --locked --release --bin lantern --example bare_consumer -p lantern-cli -p lantern-stream
target="${CARGO_TARGET_DIR:-target}/release"
rm -rf "$work/broker" "$work/data"
scripts/broker.sh start --dir "$work/broker"
trap 'scripts/broker.sh stop --dir "$work/broker"' EXIT
export LANTERN_TOPICS__INCIDENTS=backfill.incidents.v1
export LANTERN_TOPICS__DEAD_LETTER=backfill.dlq
export LANTERN_STORAGE__DATA_DIR="$work/data"
export LANTERN_PROCESSOR__GROUP_PREFIX=backfill
export LANTERN_PROCESSOR__PIPELINES='["incidents"]'

"$target/lantern" topics
echo "== import (lantern import police-uk, 48 files) =="
/usr/bin/time -f "import: %e s wall, %M KB peak RSS" "$target/lantern" import police-uk "$work"/csv/*.csv
echo "== bare librdkafka consumer, same topic =="
"$target/examples/bare_consumer" 127.0.0.1:9092 "$LANTERN_TOPICS__INCIDENTS"
echo "== lantern process --drain (incidents pipeline, empty state) =="
/usr/bin/time -f "drain: %e s wall, %U s user, %M KB peak RSS" "$target/lantern" process --drain
"$target/lantern" sql "SELECT COUNT(DISTINCT month) AS months, SUM(incidents) AS incidents FROM incidents_monthly"
