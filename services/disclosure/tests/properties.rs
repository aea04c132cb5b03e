//! Property tests of the release rules over random streams with revisions.
//!
//! A stream here is a sequence of versions of records (each re-placing, re-typing or cancelling
//! its record); a vintage is the latest version of every record after a prefix of the stream,
//! as the processor's facts hold it. Tables are the default policy's cell-key release at MSOA
//! level and its CSP-level twin, and the same data under rounding and suppression.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lantern_disclosure::SecretKey;
use lantern_disclosure::policy::{self, Method, PlaceLevel, Release};
use lantern_disclosure::protect::{CellId, CellStatus, PublishedRow, Record, level_index, protect};
use lantern_disclosure::ptable::PerturbationTable;
use proptest::prelude::*;

const POLICY: &[u8] = include_bytes!("../../../pipelines/disclosure/releases.toml");
const PTABLE: &[u8] = include_bytes!("../../../pipelines/disclosure/ptable_t10.csv");
const TYPES: [&str; 3] = ["Burglary", "Drugs", "Shoplifting"];
const MONTHS: [&str; 3] = ["2022-01", "2022-02", "2022-03"];

fn releases() -> Vec<Release> {
    policy::parse(POLICY, "releases.toml", |_| Ok(PTABLE.to_vec())).unwrap()
}

fn release(name: &str) -> Release {
    releases()
        .into_iter()
        .find(|r| r.policy.name == name)
        .unwrap()
}

fn key() -> SecretKey {
    SecretKey::from_text("property-test-key-0123456789abcdef0123456789", "test").unwrap()
}

/// One version of a record: (record, month, lsoa 0..8, crime type, cancelled).
type Version = (u8, usize, usize, usize, bool);

/// Eight LSOAs in four MSOAs in two local authorities (each its own CSP), one force.
fn places(lsoa: usize) -> [Option<Arc<str>>; 6] {
    let code = |s: String| Some(Arc::from(s.as_str()));
    [
        code(format!("L{lsoa}")),
        code(format!("M{}", lsoa / 2)),
        code(format!("W{}", lsoa / 2)),
        code(format!("A{}", lsoa / 4)),
        code(format!("C{}", lsoa / 4)),
        code("F".into()),
    ]
}

/// The facts after `stream`: the latest version of each record, cancelled ones left out.
fn facts(stream: &[Version]) -> Vec<Record> {
    let mut latest: BTreeMap<u8, Version> = BTreeMap::new();
    for v in stream {
        latest.insert(v.0, *v);
    }
    latest
        .values()
        .filter(|v| !v.4)
        .map(|&(id, month, lsoa, crime, _)| Record {
            record_id: format!("R{id}"),
            month: MONTHS[month].into(),
            places: places(lsoa),
            by: vec![TYPES[crime].into()],
            sensitive: None,
            value_pence: None,
            contributor: None,
        })
        .collect()
}

/// The record ids in each cell of `release` (what the published row stands for).
fn members(release: &Release, records: &[Record]) -> BTreeMap<CellId, BTreeSet<String>> {
    let mut out: BTreeMap<CellId, BTreeSet<String>> = BTreeMap::new();
    let level = policy_level(release);
    for r in records {
        let id = CellId {
            group: None,
            period: release.policy.time_level.period(&r.month),
            place: r.places[level].clone(),
            by: r.by.clone(),
        };
        out.entry(id).or_default().insert(r.record_id.clone());
    }
    out
}

fn policy_level(release: &Release) -> usize {
    level_index(release.policy.place_level)
}

fn stream() -> impl Strategy<Value = Vec<Version>> {
    proptest::collection::vec(
        (
            0u8..80,
            0usize..3,
            0usize..8,
            0usize..3,
            proptest::bool::weighted(0.08),
        ),
        40..500,
    )
}

/// Counts a published value can come from, by the (public) perturbation table.
fn preimages(table: &PerturbationTable, threshold: u64, published: Option<u64>) -> BTreeSet<u64> {
    match published {
        None => (0..threshold).collect(),
        Some(p) => (1..p + 10)
            .filter(|&c| (0..table.modulus()).any(|k| table.publish(c, k) == p))
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// No method ever shows a count in 1..T-1.
    #[test]
    fn no_published_count_is_below_the_threshold(stream in stream(), cut in 0.0f64..1.0) {
        let prefix = &stream[..(stream.len() as f64 * cut) as usize];
        for records in [facts(prefix), facts(&stream)] {
            for mut release in releases().into_iter().filter(|r| r.pipeline.name == "incidents") {
                release.policy.sensitive = None;
                for method in [
                    release.policy.method.clone(),
                    Method::Rounding { base: 5 },
                    Method::Suppression,
                ] {
                    let mut release = release.clone();
                    release.policy.method = method;
                    let (rows, _) = protect(&release, &records, Some(&key())).unwrap();
                    for row in rows {
                        if let Some(count) = row.count {
                            prop_assert!(count >= release.policy.threshold, "{row:?}");
                        }
                    }
                }
            }
        }
    }

    /// Cell-key values depend on the set of records only: the same records give the same value
    /// in every table, geography and vintage; and no difference of two published cells whose
    /// records differ by 1..T-1 pins that difference down.
    #[test]
    fn cell_keys_agree_everywhere_and_differences_stay_ambiguous(
        stream in stream(),
        cut in 0.0f64..1.0,
    ) {
        let msoa = release("partner_incidents_msoa_monthly");
        let mut lsoa = msoa.clone();
        lsoa.policy.place_level = PlaceLevel::Lsoa;
        let csp = release("partner_incidents_csp_monthly");
        let (_, _, table) = msoa.ptable.clone().unwrap();
        let threshold = msoa.policy.threshold;
        let prefix = &stream[..(stream.len() as f64 * cut) as usize];

        // Every published cell as (its records, its published value or None when absent).
        let mut cells: Vec<(BTreeSet<String>, Option<u64>)> = Vec::new();
        for records in [facts(prefix), facts(&stream)] {
            for release in [&lsoa, &msoa, &csp] {
                let (rows, _) = protect(release, &records, Some(&key())).unwrap();
                let shown: BTreeMap<&CellId, &PublishedRow> =
                    rows.iter().map(|r| (&r.cell, r)).collect();
                for (id, set) in members(release, &records) {
                    let published = shown.get(&id).and_then(|r| r.count);
                    cells.push((set, published));
                }
            }
        }
        let mut by_set: BTreeMap<&BTreeSet<String>, Option<u64>> = BTreeMap::new();
        for (set, published) in &cells {
            let first = by_set.entry(set).or_insert(*published);
            prop_assert_eq!(*first, *published, "same records, different values: {:?}", set);
        }
        for (small, p_small) in &cells {
            for (big, p_big) in &cells {
                let diff = big.len().saturating_sub(small.len()) as u64;
                if !(1..threshold).contains(&diff) || !small.is_subset(big) {
                    continue;
                }
                let feasible: BTreeSet<i64> = preimages(&table, threshold, *p_big)
                    .iter()
                    .flat_map(|b| {
                        preimages(&table, threshold, *p_small)
                            .into_iter()
                            .map(move |s| *b as i64 - s as i64)
                    })
                    .collect();
                prop_assert!(feasible.contains(&(diff as i64)));
                prop_assert!(
                    feasible.len() >= 2,
                    "published {:?} and {:?} pin a difference of {} records", p_big, p_small, diff
                );
            }
        }
    }

    /// Suppression leaves no line (cells differing in one dimension) with exactly one hidden
    /// cell, so no suppressed count is a total minus the rest.
    #[test]
    fn secondary_suppression_leaves_no_lone_hidden_cell(stream in stream()) {
        let mut release = release("partner_incidents_msoa_monthly");
        release.policy.method = Method::Suppression;
        release.policy.sensitive = None;
        let (rows, _) = protect(&release, &facts(&stream), None).unwrap();
        for dimension in 0..3 {
            // (cells, hidden cells) per line.
            let mut lines: BTreeMap<CellId, (usize, usize)> = BTreeMap::new();
            for row in &rows {
                let mut line = row.cell.clone();
                match dimension {
                    0 => line.period.clear(),
                    1 => line.place = None,
                    _ => line.by[0].clear(),
                }
                let entry = lines.entry(line).or_default();
                entry.0 += 1;
                entry.1 += usize::from(row.status != CellStatus::Published);
            }
            // A line of one cell has nothing to hide it behind: its total is the cell. That is
            // why tables whose margins are published elsewhere use cell keys (docs/disclosure.md).
            prop_assert!(
                lines.values().all(|(cells, hidden)| *cells == 1 || *hidden != 1),
                "{lines:?}"
            );
        }
    }
}
