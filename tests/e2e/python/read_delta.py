"""Reads a Lantern table's Delta Lake log with two independent Delta readers.

Usage: read_delta.py TABLE_DIR GROUP_COLUMN MEASURE_COLUMN

TABLE_DIR may be an s3:// URL: both readers then take the endpoint and credentials from the
standard AWS_* environment variables, as any tool of a force's would.

Prints JSON {"duckdb": [[group, total], ...], "deltalake": [[group, total], ...], "version": N}:
the measure summed by group, as DuckDB's delta extension (delta_scan, built on delta-kernel-rs)
and the `deltalake` package (delta-rs) each read the table's current snapshot. Neither reader
knows anything of Lantern's own manifests.
"""

import glob
import json
import os
import sys

import deltalake
import duckdb
import duckdb_extension_delta


def duckdb_totals(table_dir, group, measure):
    # The extension ships inside the PyPI package; DuckDB would otherwise download it.
    package = os.path.dirname(duckdb_extension_delta.__file__)
    (extension,) = glob.glob(os.path.join(package, "extensions", "*", "delta.duckdb_extension"))
    con = duckdb.connect()
    con.execute(f"LOAD '{extension}'")
    if table_dir.startswith("s3://"):
        load_s3(con)
    rows = con.execute(
        f'SELECT "{group}", SUM("{measure}") FROM delta_scan(?) GROUP BY 1 ORDER BY 1',
        [table_dir],
    ).fetchall()
    return [[g, int(total)] for g, total in rows]


def load_s3(con):
    """DuckDB reads S3 through its httpfs extension (also from PyPI) and a secret."""
    import duckdb_extension_httpfs

    package = os.path.dirname(duckdb_extension_httpfs.__file__)
    (extension,) = glob.glob(os.path.join(package, "extensions", "*", "httpfs.duckdb_extension"))
    con.execute(f"LOAD '{extension}'")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    use_ssl = not endpoint.startswith("http://")
    host = endpoint.split("://", 1)[-1]
    def quoted(value):
        return "'" + value.replace("'", "''") + "'"

    con.execute(
        f"CREATE SECRET (TYPE s3, KEY_ID {quoted(os.environ['AWS_ACCESS_KEY_ID'])}, "
        f"SECRET {quoted(os.environ['AWS_SECRET_ACCESS_KEY'])}, "
        f"REGION {quoted(os.environ.get('AWS_REGION', 'us-east-1'))}, ENDPOINT {quoted(host)}, "
        f"URL_STYLE 'path', USE_SSL {str(use_ssl).lower()})"
    )


def deltalake_totals(table_dir, group, measure):
    table = deltalake.DeltaTable(table_dir)
    data = table.to_pyarrow_table(columns=[group, measure])
    totals = {}
    for g, value in zip(data.column(group).to_pylist(), data.column(measure).to_pylist()):
        totals[g] = totals.get(g, 0) + (value or 0)
    return [[g, int(totals[g])] for g in sorted(totals)], table.version()


def main():
    table_dir, group, measure = sys.argv[1:4]
    lake, version = deltalake_totals(table_dir, group, measure)
    print(json.dumps({"duckdb": duckdb_totals(table_dir, group, measure), "deltalake": lake, "version": version}))


if __name__ == "__main__":
    main()
