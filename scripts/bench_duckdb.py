#!/usr/bin/env python3
"""The benchmark's batch yardstick: DuckDB doing Lantern's core work over the same events.

Reads the incidents NDJSON that `lantern bench` wrote (SYNTHETIC), keeps the latest version of
each record (invalid lines skipped, version 0 refused as Lantern's validator does), joins each
LSOA to its local authority district, and counts incidents per month (Europe/London) x LAD x crime
type, leaving out cancelled records: what `incidents_monthly` holds. Prints one JSON object:
the seconds the query took (reading the file included), the rows and the total counted.

    python scripts/bench_duckdb.py --ndjson incidents.ndjson --lookup lsoa_lad.csv [--threads 2]

`lantern bench` runs it with the Python given by --python (scripts/bench.sh installs duckdb from
PyPI into ~/.cache/lantern/venv).
"""
import argparse
import json
import time

import duckdb

QUERY = """
WITH events AS (
    SELECT * FROM read_ndjson(
        $ndjson, ignore_errors = true, format = 'newline_delimited',
        columns = {incident_id: 'VARCHAR', version: 'BIGINT', status: 'VARCHAR',
                   occurred_at: 'VARCHAR', crime_type: 'VARCHAR',
                   location: 'STRUCT(lsoa_code VARCHAR)'})
),
latest AS (
    SELECT * FROM events
    WHERE incident_id IS NOT NULL AND version >= 1
    QUALIFY row_number() OVER (PARTITION BY incident_id ORDER BY version DESC) = 1
)
SELECT strftime(timezone('Europe/London', occurred_at::TIMESTAMPTZ), '%Y-%m') AS month,
       lookup.lad_code, crime_type, count(*) AS incidents
FROM latest LEFT JOIN lookup ON lookup.lsoa_code = latest.location.lsoa_code
WHERE status <> 'cancelled'
GROUP BY ALL
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ndjson", required=True)
    parser.add_argument("--lookup", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE lookup AS SELECT * FROM read_csv($p, header = true)", {"p": args.lookup})
    started = time.perf_counter()
    rows = con.execute(QUERY, {"ndjson": args.ndjson}).fetchall()
    seconds = time.perf_counter() - started
    print(json.dumps({
        "duckdb_version": duckdb.__version__,
        "threads": args.threads,
        "seconds": seconds,
        "rows": len(rows),
        "total": sum(r[3] for r in rows),
    }))


if __name__ == "__main__":
    main()
