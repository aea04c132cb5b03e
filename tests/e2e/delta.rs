//! Every table SQL clients read is a Delta Lake table that other tools read with no Lantern
//! code: DuckDB's delta extension and the `deltalake` package see the same totals as `lantern
//! sql`, after commits that add files and commits that replace them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const PRESTON: &str = "E01025232";
const BLACKBURN: &str = "E01012576";

/// (crime type, total) pairs as each Delta reader sees `table_dir`, and the Delta version.
fn delta_totals(table_dir: &Path, group: &str, measure: &str) -> Value {
    let python = std::env::var("E2E_DELTA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = repo_root().join("tests/e2e/python/read_delta.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(table_dir)
        .args([group, measure])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "read_delta.py failed (E2E_DELTA_PYTHON={python}; scripts/test.sh installs deltalake and \
         DuckDB's delta extension):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

/// (crime type, total) pairs as `lantern sql` answers.
fn lantern_totals(l: &Lantern, table: &str) -> Value {
    let rows = l.sql(&format!(
        "SELECT crime_type, SUM(incidents) AS total FROM {table} GROUP BY crime_type ORDER BY crime_type"
    ));
    Value::Array(
        rows.iter()
            .map(|r| serde_json::json!([r["crime_type"], r["total"].as_i64().unwrap()]))
            .collect(),
    )
}

fn table_dir(l: &Lantern, table: &str) -> PathBuf {
    l.config
        .parent()
        .unwrap()
        .join("data/incidents/tables")
        .join(table)
}

/// Asserts DuckDB and deltalake read `table`'s totals as `lantern sql` does; returns the Delta
/// version read.
pub(crate) fn assert_readers_agree(l: &Lantern, table: &str) -> u64 {
    let expected = lantern_totals(l, table);
    assert!(
        expected.as_array().is_some_and(|a| !a.is_empty()),
        "{expected}"
    );
    let seen = delta_totals(&table_dir(l, table), "crime_type", "incidents");
    assert_eq!(seen["duckdb"], expected, "DuckDB on {table}");
    assert_eq!(seen["deltalake"], expected, "deltalake on {table}");
    seen["version"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn duckdb_and_deltalake_read_what_lantern_sql_reads() {
    let l = Lantern::start();
    let types = ["Burglary", "Shoplifting", "Vehicle crime", "Drugs"];
    let first: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            let month = 1 + i % 3;
            incident(
                &format!("d-{i}"),
                1,
                "recorded",
                &format!("2024-0{month}-1{}T10:00:00Z", i % 9),
                types[i % types.len()],
                Some(if i % 2 == 0 { PRESTON } else { BLACKBURN }),
            )
        })
        .collect();
    l.produce(&l.topics.incidents, &first).await;
    l.drain();
    let first_version = assert_readers_agree(&l, "incidents_monthly");
    assert_readers_agree(&l, "incidents_daily");

    // Revisions rewrite months in several shards: their old files leave the Delta tables.
    let revised: Vec<(String, Vec<u8>)> = (0..40)
        .step_by(3)
        .map(|i| {
            incident(
                &format!("d-{i}"),
                2,
                if i % 2 == 0 {
                    "cancelled"
                } else {
                    "reclassified"
                },
                "2024-01-15T10:00:00Z",
                "Robbery",
                Some(PRESTON),
            )
        })
        .collect();
    l.produce(&l.topics.incidents, &revised).await;
    l.drain();
    let second_version = assert_readers_agree(&l, "incidents_monthly");
    assert!(
        second_version > first_version,
        "{first_version} -> {second_version}"
    );
    assert_readers_agree(&l, "incidents_daily");

    // Internal tables (per-record facts) are not published as Delta tables.
    let tables = l.config.parent().unwrap().join("data/incidents/tables");
    for entry in std::fs::read_dir(&tables).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let exposed = !l
            .sql(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_name = '{name}'"
            ))
            .is_empty();
        assert_eq!(
            dir.join("_delta_log").exists(),
            exposed,
            "{name}: a Delta log exactly when SQL clients may read the table"
        );
    }
}
