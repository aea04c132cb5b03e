#!/usr/bin/env bash
# The quick start: installs what is missing, starts a local broker, imports two real months of
# Lancashire street-level crime plus a SYNTHETIC stream of business-crime and cybercrime reports,
# runs the stream processors until they have caught up, and prints a summary from SQL.
set -euo pipefail

cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/install-broker.sh
cargo build --release --bin lantern
LANTERN=target/release/lantern
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then LANTERN="$CARGO_TARGET_DIR/release/lantern"; fi

scripts/broker.sh start
trap 'scripts/broker.sh stop' EXIT

"$LANTERN" topics
"$LANTERN" import police-uk data/sample/policeuk/*.csv
"$LANTERN" import synthetic --months 2022-09,2022-10
"$LANTERN" process --drain

echo
echo "== Recorded crime and ASB by local authority (police.uk, Lancashire, 2022-09..2022-10) =="
"$LANTERN" sql "SELECT month, COALESCE(lad_code, '(' || place_status || ')') AS local_authority, SUM(incidents) AS incidents
                FROM incidents_monthly GROUP BY 1, 2 ORDER BY 1, 3 DESC"
echo
echo "== Top crime types, with property type =="
"$LANTERN" sql "SELECT crime_type, property_type, SUM(incidents) AS incidents
                FROM incidents_monthly GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 12"
echo
echo "== Where records were placed =="
"$LANTERN" sql "SELECT place_status, SUM(incidents) AS incidents FROM incidents_monthly GROUP BY 1 ORDER BY 2 DESC"
echo
echo "== Business crime (SYNTHETIC) by sector and type =="
"$LANTERN" sql "SELECT sector, incident_type, SUM(incidents) AS incidents, ROUND(SUM(loss_total), 2) AS loss_gbp
                FROM business_crime_monthly GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10"
echo
echo "== Cybercrime (SYNTHETIC) by NFIB group =="
"$LANTERN" sql "SELECT nfib_group, SUM(reports) AS reports, ROUND(SUM(loss_total), 2) AS loss_gbp
                FROM cybercrime_monthly GROUP BY 1 ORDER BY 2 DESC"
echo
echo "Quick start finished in $(( $(date +%s) - started ))s. Tables are under .lantern/data;"
echo "query them with: $LANTERN sql \"SELECT ...\" [--format table|csv|json]"
