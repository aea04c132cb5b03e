#!/usr/bin/env bash
# The quick start: installs what is missing (Apache Kafka from Maven Central), builds Lantern and
# runs `lantern up` (a local Kafka broker, the stream processors and the query service). It then
# imports two real months of Lancashire street-level crime plus a SYNTHETIC stream of
# business-crime and cybercrime reports, waits until the tables have caught up, prints a summary
# from SQL, and shows (and runs) the psql and curl lines of docs/analysts.md.
#
#   scripts/quickstart.sh          keeps everything running until ctrl-c
#   scripts/quickstart.sh --exit   stops everything after the summary (CI runs this)
#
# Data stays under .lantern/ (broker, tables, users, audit log) for the next run.
set -euo pipefail

cd "$(dirname "$0")/.."
exit_after_summary=false
if [ "${1:-}" = "--exit" ]; then exit_after_summary=true; fi
started=$(date +%s)
scripts/install-kafka.sh >/dev/null
# The same profile as the test command (see [profile.dev] in Cargo.toml): one build serves both.
# The end-to-end test of this script passes the binary the test build made (QUICKSTART_BIN):
# building here relinked target/debug/lantern while other tests were starting it.
if [ -n "${QUICKSTART_BIN:-}" ]; then
  LANTERN="$QUICKSTART_BIN"
else
  cargo build --locked --bin lantern
  LANTERN="${CARGO_TARGET_DIR:-target}/debug/lantern"
fi
built=$(date +%s)

# Addresses as lantern.toml and any LANTERN_* overrides set them.
ops="${LANTERN_HTTP__LISTEN:-127.0.0.1:9898}"
api="${LANTERN_QUERY__HTTP_LISTEN:-127.0.0.1:8080}"
pg_port="${LANTERN_QUERY__PG_LISTEN:-127.0.0.1:5433}"; pg_port="${pg_port##*:}"
credentials="${QUICKSTART_CREDENTIALS:-.lantern/credentials}"
mkdir -p .lantern

# The first user, on the first run only. Its secrets go to files only you can read.
if [ ! -f "$credentials/analyst.token" ]; then
  "$LANTERN" users add analyst --role analyst --credentials-dir "$credentials"
fi

# The disclosure key behind published partner tables and research extracts (docs/disclosure.md),
# on the first run only, readable only by you.
export LANTERN_DISCLOSURE__KEY_FILE="${LANTERN_DISCLOSURE__KEY_FILE:-.lantern/disclosure.key}"
if [ ! -f "$LANTERN_DISCLOSURE__KEY_FILE" ]; then
  "$LANTERN" key new "$LANTERN_DISCLOSURE__KEY_FILE"
fi

"$LANTERN" up &
up=$!
stop_up() { kill -INT "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; }
trap stop_up EXIT
until curl -sf "http://$ops/readyz" >/dev/null 2>&1; do
  if ! kill -0 "$up" 2>/dev/null; then echo "lantern up exited; see its output above" >&2; exit 1; fi
  sleep 0.5
done

"$LANTERN" import police-uk data/sample/policeuk/*.csv
"$LANTERN" import synthetic --months 2022-09,2022-10
"$LANTERN" lag --wait 600

echo
echo "== Recorded crime and ASB by local authority (police.uk, Lancashire, 2022-09..2022-10) =="
"$LANTERN" sql "SELECT COALESCE(n.name, '(' || i.place_status || ')') AS local_authority,
                       SUM(CASE WHEN i.month = '2022-09' THEN i.incidents END) AS sep_2022,
                       SUM(CASE WHEN i.month = '2022-10' THEN i.incidents END) AS oct_2022
                FROM incidents_monthly i LEFT JOIN place_names n ON n.level = 'lad' AND n.code = i.lad_code
                WHERE i.in_force_area OR i.lad_code IS NULL
                GROUP BY 1 ORDER BY 3 DESC"
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
echo "== Published for partners: disclosure-controlled, no count below 10 (docs/disclosure.md) =="
"$LANTERN" publish --release partner_incidents_csp_monthly
"$LANTERN" sql "SELECT COALESCE(n.name, '(not placed)') AS community_safety_partnership, period,
                       SUM(count) AS crimes_and_asb
                FROM partner_incidents_csp_monthly p
                LEFT JOIN place_names n ON n.level = 'csp' AND n.code = p.place_code
                GROUP BY 1, 2 ORDER BY 2, 3 DESC LIMIT 8"

echo
echo "== The same tables through the query service (docs/analysts.md) =="
echo "\$ PGPASSWORD=\$(cat $credentials/analyst.password) psql -h 127.0.0.1 -p $pg_port -U analyst -d lantern -c \"SELECT month, SUM(incidents) FROM incidents_monthly GROUP BY 1 ORDER BY 1\""
PGPASSWORD=$(cat "$credentials/analyst.password") psql -X -h 127.0.0.1 -p "$pg_port" -U analyst -d lantern \
  -c "SELECT month, SUM(incidents) FROM incidents_monthly GROUP BY 1 ORDER BY 1"
echo "\$ curl -H \"Authorization: Bearer \$(cat $credentials/analyst.token)\" -H 'Accept: text/csv' --data-binary \"SELECT nfib_group, SUM(reports) AS reports FROM cybercrime_monthly GROUP BY 1 ORDER BY 2 DESC LIMIT 3\" http://$api/api/v1/sql"
curl -sf -H "Authorization: Bearer $(cat "$credentials/analyst.token")" -H 'Accept: text/csv' \
  --data-binary "SELECT nfib_group, SUM(reports) AS reports FROM cybercrime_monthly GROUP BY 1 ORDER BY 2 DESC LIMIT 3" \
  "http://$api/api/v1/sql"

echo
echo "== The partnership dashboard (docs/partners.md) =="
curl -sf "http://$api/" | grep -q "partnership dashboard"
echo "Open http://$api/ in a browser and log in as analyst, with the password in $credentials/analyst.password."

echo
echo "Quick start reached its summary in $(( $(date +%s) - started ))s ($(( $(date +%s) - built ))s after the build)."
if $exit_after_summary; then
  echo "Stopping (--exit)."
  exit 0
fi
echo "Lantern keeps running (broker, processors, query service); ctrl-c stops everything."
wait "$up"
