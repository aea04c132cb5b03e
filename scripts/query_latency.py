#!/usr/bin/env python3
"""Latency of five typical analyst queries through the query service, by client.

Run while `lantern up` (or the quick start) is serving the sample tables:

    ~/.cache/lantern/venv/bin/python scripts/query_latency.py [--runs 30]

Prints p50 and p95 in milliseconds per query for: HTTP (a new request each time, JSON),
psycopg (one connection, extended protocol) and `psql -c` (a new connection and SCRAM login
each time, as a shell script would). Needs psycopg (scripts/test.sh installs it in that venv).
"""
import argparse
import os
import statistics
import subprocess
import time
import urllib.request

import psycopg

QUERIES = {
    "monthly by LAD": "SELECT lad_code, month, SUM(incidents) FROM incidents_monthly WHERE in_force_area GROUP BY 1, 2 ORDER BY 1, 2",
    "top crime types": "SELECT crime_type, property_type, SUM(incidents) AS n FROM incidents_monthly GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 12",
    "one LSOA daily": "SELECT day, crime_type, SUM(incidents) FROM incidents_daily WHERE lsoa_code = 'E01025437' GROUP BY 1, 2 ORDER BY 1",
    "named places": "SELECT n.name, SUM(i.incidents) FROM incidents_monthly i JOIN place_names n ON n.level = 'ward' AND n.code = i.ward_code GROUP BY 1 ORDER BY 2 DESC LIMIT 20",
    "business losses": "SELECT sector, incident_type, SUM(incidents), SUM(loss_total) FROM business_crime_monthly GROUP BY 1, 2 ORDER BY 4 DESC",
}


def percentiles(samples):
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def timed(fn, runs):
    fn()  # warm-up: the first query on a new commit reads Parquet footers
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return percentiles(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--credentials", default=".lantern/credentials")
    parser.add_argument("--user", default="analyst")
    parser.add_argument("--http", default="127.0.0.1:8080")
    parser.add_argument("--pg-port", type=int, default=5433)
    args = parser.parse_args()
    token = open(os.path.join(args.credentials, f"{args.user}.token")).read().strip()
    password = open(os.path.join(args.credentials, f"{args.user}.password")).read().strip()

    def http(sql):
        request = urllib.request.Request(
            f"http://{args.http}/api/v1/sql", data=sql.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
        with urllib.request.urlopen(request) as response:
            body = response.read()
            assert b'"row_count"' in body, body[-200:]

    conn = psycopg.connect(host="127.0.0.1", port=args.pg_port, user=args.user,
                           password=password, dbname="lantern", autocommit=True)

    def pg(sql):
        conn.execute(sql).fetchall()

    env = dict(os.environ, PGPASSWORD=password)

    def psql(sql):
        subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(args.pg_port), "-U", args.user,
                        "-d", "lantern", "-c", sql], env=env, check=True, stdout=subprocess.DEVNULL)

    print(f"{'query':<18} {'HTTP p50':>9} {'p95':>7} {'psycopg p50':>12} {'p95':>7} {'psql -c p50':>12} {'p95':>7}   (ms, {args.runs} runs)")
    for name, sql in QUERIES.items():
        h = timed(lambda: http(sql), args.runs)
        p = timed(lambda: pg(sql), args.runs)
        c = timed(lambda: psql(sql), args.runs)
        print(f"{name:<18} {h[0]:>9.1f} {h[1]:>7.1f} {p[0]:>12.1f} {p[1]:>7.1f} {c[0]:>12.1f} {c[1]:>7.1f}")


if __name__ == "__main__":
    main()
