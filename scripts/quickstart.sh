#!/usr/bin/env bash
# The quick start: installs what is missing (Apache Kafka from Maven Central), builds Lantern,
# starts a local Kafka broker, imports two real months of Lancashire street-level crime plus a
# SYNTHETIC stream of business-crime and cybercrime reports, runs the stream processors until
# they have caught up, and prints a summary from SQL. The broker is stopped at the end; its data
# stays under .lantern/broker for the next scripts/broker.sh start.
set -euo pipefail

cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/install-kafka.sh >/dev/null
# The same profile as the test command (see [profile.dev] in Cargo.toml): one build serves both.
cargo build --locked --bin lantern
LANTERN="${CARGO_TARGET_DIR:-target}/debug/lantern"

scripts/broker.sh start
trap 'scripts/broker.sh stop' EXIT
built=$(date +%s)

"$LANTERN" topics
"$LANTERN" import police-uk data/sample/policeuk/*.csv
"$LANTERN" import synthetic --months 2022-09,2022-10
"$LANTERN" process --drain

echo
echo "== Recorded crime and ASB by local authority (police.uk, Lancashire, 2022-09..2022-10) =="
"$LANTERN" sql "SELECT COALESCE(n.name, '(' || i.place_status || ')') AS local_authority,
                       SUM(CASE WHEN i.month = '2022-09' THEN i.incidents END) AS sep_2022,
                       SUM(CASE WHEN i.month = '2022-10' THEN i.incidents END) AS oct_2022
                FROM incidents_monthly i LEFT JOIN place_names n ON n.level = 'lad' AND n.code = i.lad_code
                WHERE i.in_force_area OR i.lad_code IS NULL
                GROUP BY 1 ORDER BY 3 DESC"
echo
echo "== Top crime types in Preston, with property type =="
"$LANTERN" sql "SELECT crime_type, property_type, SUM(incidents) AS incidents
                FROM incidents_monthly WHERE lad_code = 'E07000123' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 8"
echo
echo "== Top crime types across the force, with property type =="
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
echo "Quick start finished in $(( $(date +%s) - started ))s ($(( $(date +%s) - built ))s after the build"
echo "and broker start). Tables are under .lantern/data; query them with:"
echo "  $LANTERN sql \"SELECT ...\" [--format table|csv|json]"
echo "scripts/broker.sh start brings the broker back, with the imported topics, for $LANTERN process."
