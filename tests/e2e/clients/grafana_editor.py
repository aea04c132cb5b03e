#!/usr/bin/env python3
"""The metadata queries Grafana's PostgreSQL data source sends, replayed with psycopg.

Grafana (Go, extended query protocol) runs these when a data source is saved (version and
TimescaleDB checks) and while a user builds a panel in its query editor (schemas, the tables on
the search path, a table's columns). The SQL below has the shape of Grafana's, whose query
editor builds it in public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts;
the search-path subquery is the one it sends, token for token.

    python grafana_editor.py PORT USER PASSWORD_FILE TABLE

Prints one JSON object: {"version", "timescaledb", "schemas", "tables", "columns"}.
"""
import json
import sys

import psycopg

ON_SEARCH_PATH = """quote_ident(table_schema) IN (
    SELECT
      CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
    FROM
      generate_series(
        array_lower(string_to_array(current_setting('search_path'),','),1),
        array_upper(string_to_array(current_setting('search_path'),','),1)
      ) as i,
      string_to_array(current_setting('search_path'),',') s
    )"""

NOT_USER_SCHEMAS = "('information_schema', 'pg_catalog', 'pg_toast')"


def main(port, user, password_file, table):
    with open(password_file) as fh:
        password = fh.read().strip()
    with psycopg.connect(host="127.0.0.1", port=int(port), user=user, password=password,
                         dbname="lantern", application_name="Grafana") as conn:
        def column(sql, params=None):
            return [row[0] for row in conn.execute(sql, params).fetchall()]

        quoted = "'" + table.replace("'", "''") + "'"
        print(json.dumps({
            "version": column("SELECT current_setting('server_version_num')::int/100 AS version"),
            "timescaledb": column("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"),
            "schemas": column(
                f'SELECT schema_name AS "name" FROM information_schema.schemata '
                f"WHERE schema_name NOT IN {NOT_USER_SCHEMAS} ORDER BY schema_name"),
            "tables": column(
                f"SELECT CASE WHEN {ON_SEARCH_PATH} THEN quote_ident(table_name) "
                f"ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" "
                f"FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN {NOT_USER_SCHEMAS} "
                f"ORDER BY CASE WHEN {ON_SEARCH_PATH} THEN 0 ELSE 1 END, 1"),
            "columns": column(
                f'SELECT quote_ident(column_name) AS "column", data_type AS "type" '
                f"FROM information_schema.columns WHERE "
                f"CASE WHEN array_length(parse_ident({quoted}),1) = 2 "
                f"THEN quote_ident(table_schema) = (parse_ident({quoted}))[1] "
                f"AND quote_ident(table_name) = (parse_ident({quoted}))[2] "
                f"ELSE quote_ident(table_name) = {quoted} AND {ON_SEARCH_PATH} END"),
        }))


if __name__ == "__main__":
    main(*sys.argv[1:])
