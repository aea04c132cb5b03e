"""Rates and month-on-month change recomputed with DuckDB (and SciPy's exact binomial test)
straight from the police.uk CSVs, the ONS lookup and the census, then compared with Lantern's
analytics_rates_monthly (force and LAD rows, as `lantern sql --format json` printed them).

usage: check_rates.py LANTERN_ROWS.json LSOA_CSV POPULATION_CSV FORCE_CODE POLICE_UK_CSV...
Exits 1 naming the first rows that differ."""

import json
import sys

import duckdb
from scipy.stats import binomtest

lantern_json, lsoa_csv, population_csv, force = sys.argv[1:5]
crime_csvs = sys.argv[5:]

db = duckdb.connect()
db.execute(f"CREATE VIEW lsoa AS SELECT * FROM read_csv('{lsoa_csv}', all_varchar = true)")
db.execute(f"CREATE VIEW pop AS SELECT * FROM read_csv('{population_csv}')")
files = ", ".join(f"'{f}'" for f in crime_csvs)
db.execute(f"CREATE VIEW crimes AS SELECT * FROM read_csv([{files}], all_varchar = true)")
# Each police.uk row is one record. Place: the row's LSOA code (police.uk's own). A row placed
# in another force is not the force's; one with no or an unknown LSOA still is (force level).
db.execute(f"""
CREATE VIEW placed AS
SELECT c."Month" AS month, c."Crime type" AS crime_type, l.lsoa_code, l.lad_code,
       COALESCE(l.force_area_code = '{force}', true) AS force_record,
       l.force_area_code = '{force}' AS in_force
FROM crimes c LEFT JOIN lsoa l ON l.lsoa_code = c."LSOA code"
""")
series = """
    SELECT month, crime_type AS series, * EXCLUDE (month, crime_type) FROM placed
    UNION ALL
    SELECT month, 'All crime', * EXCLUDE (month, crime_type) FROM placed
    WHERE crime_type <> 'Anti-social behaviour'
"""
force_pop = db.execute(f"""
    SELECT SUM(p.residents) FROM pop p JOIN lsoa l USING (lsoa_code)
    WHERE l.force_area_code = '{force}'""").fetchone()[0]
expected = {}
for month, series_name, n in db.execute(f"""
    SELECT month, series, COUNT(*) FROM ({series}) WHERE force_record GROUP BY ALL""").fetchall():
    expected[(month, "force", force, series_name)] = (n, force_pop)
for month, lad, series_name, n, residents in db.execute(f"""
    WITH s AS ({series}),
    lad_pop AS (SELECT l.lad_code, SUM(p.residents) AS residents FROM pop p JOIN lsoa l USING (lsoa_code)
                WHERE l.force_area_code = '{force}' GROUP BY ALL)
    SELECT month, s.lad_code, series, COUNT(*), ANY_VALUE(lad_pop.residents)
    FROM s JOIN lad_pop USING (lad_code) WHERE in_force GROUP BY ALL""").fetchall():
    expected[(month, "lad", lad, series_name)] = (n, residents)

rows = json.load(open(lantern_json))
by_key = {(r["month"], r["place_level"], r["place_code"], r["crime_type"]): r for r in rows}
problems = []
checked = 0
for key, (n, population) in sorted(expected.items()):
    r = by_key.get(key)
    if r is None:
        problems.append(f"{key}: DuckDB counts {n}, Lantern has no row")
        continue
    rate = 1000.0 * n / population
    if r["count"] != n or r["population"] != population or abs(r["rate_per_1000"] - rate) > 1e-9:
        problems.append(f"{key}: DuckDB {n} / {population} = {rate}, Lantern {r}")
    month = key[0]
    previous_month = f"{int(month[:4]) - (month[5:] == '01'):04d}-{(int(month[5:]) - 2) % 12 + 1:02d}"
    previous = expected.get((previous_month, *key[1:]), (0, 0))[0]
    if (previous_month, *key[1:]) in by_key or previous:
        p = binomtest(n, n + previous, 0.5).pvalue if n + previous > 0 else 1.0
        if r["previous_month_count"] != previous or abs(r["mom_p_value"] - p) > 1e-9 * max(p, 1e-300) + 1e-15:
            problems.append(f"{key}: DuckDB previous {previous}, p {p}; Lantern {r}")
    checked += 1
# Every Lantern row with a count must be one DuckDB found, and a zero row one it did not.
for key, r in by_key.items():
    if key not in expected and r["count"] != 0:
        problems.append(f"{key}: Lantern counts {r['count']}, DuckDB none")
if problems:
    print("\n".join(problems[:20]))
    print(f"{len(problems)} differences")
    sys.exit(1)
print(f"rates: {checked} force and LAD rows agree with DuckDB and SciPy")
