//! Real data in: police.uk CSV rows, each counted exactly once, idempotent on re-import.

use std::collections::BTreeMap;

use crate::support::*;

/// (month, LSOA code or "", crime type) -> rows, straight from the CSV.
fn csv_counts(path: &std::path::Path) -> BTreeMap<(String, String, String), i64> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let mut counts = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        let key = (row[1].to_string(), row[7].to_string(), row[9].to_string());
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn sql_counts(l: &Lantern) -> BTreeMap<(String, String, String), i64> {
    l.sql(
        "SELECT month, COALESCE(lsoa_code, '') AS lsoa, crime_type, SUM(incidents) AS n
         FROM incidents_monthly GROUP BY 1, 2, 3",
    )
    .into_iter()
    .map(|r| {
        (
            (
                r["month"].as_str().unwrap().to_string(),
                r["lsoa"].as_str().unwrap().to_string(),
                r["crime_type"].as_str().unwrap().to_string(),
            ),
            r["n"].as_i64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn every_csv_row_counts_once_and_reimport_changes_nothing() {
    let l = Lantern::start();
    let file = repo_root().join("data/sample/policeuk/2022-10-lancashire-street.csv");
    let expected = csv_counts(&file);
    let rows: i64 = expected.values().sum();
    let no_location: i64 = expected
        .iter()
        .filter(|((_, lsoa, _), _)| lsoa.is_empty())
        .map(|(_, n)| n)
        .sum();
    assert!(
        rows > 15_000 && no_location > 100,
        "sample looks wrong: {rows} rows, {no_location} unplaced"
    );

    l.ok(&["import", "police-uk", file.to_str().unwrap()]);
    l.drain();
    assert_eq!(
        sql_counts(&l),
        expected,
        "month x LSOA x crime type totals differ from the CSV"
    );
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly"),
        rows
    );
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly WHERE place_status = 'no_location'"),
        no_location
    );
    // LSOAs outside Lancashire are kept and marked, never dropped.
    assert!(
        l.count(
            "SELECT SUM(incidents) FROM incidents_monthly WHERE place_status = 'outside_force'"
        ) > 0
    );
    assert_eq!(
        l.count("SELECT SUM(incidents) FROM incidents_monthly WHERE in_force_area AND force_area_code <> 'E23000003'"),
        0
    );

    // Importing the same file again publishes the same events: nothing changes.
    l.ok(&["import", "police-uk", file.to_str().unwrap()]);
    l.drain();
    assert_eq!(sql_counts(&l), expected, "re-import changed the counts");
    assert_eq!(l.count("SELECT SUM(incidents) FROM incidents_daily"), rows);
}
