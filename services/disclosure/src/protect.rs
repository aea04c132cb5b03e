//! Applying a release policy to the records behind a table: cells, then the method (cell-key
//! perturbation, rounding or suppression), then dominance rules for money columns.
//!
//! The input is record-level on purpose: a cell key is a function of *which* records are in a
//! cell, and sensitive categories are decided per record, so an aggregate row is not enough.
//! Everything here is deterministic: the same records, policy and key give the same rows in the
//! same order, which is what makes a vintage reproducible byte for byte.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::DisclosureError;
use crate::key::SecretKey;
use crate::policy::{Method, PlaceLevel, Release, SensitiveCategory, ValuePolicy};

/// The places of a record at every level (`None`: not placed at that level).
pub type Places = [Option<Arc<str>>; 6];

/// Where `level` is in [`Places`]: its position in [`PlaceLevel::ALL`].
pub fn level_index(level: PlaceLevel) -> usize {
    level as usize
}

/// One live record of the source, as the policy needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub record_id: String,
    /// `YYYY-MM`.
    pub month: String,
    pub places: Places,
    /// Values of the release's `by` columns, in order (`unknown` when null).
    pub by: Vec<String>,
    pub sensitive: Option<SensitiveCategory>,
    /// The money value in pence, if the release has a value column and the record a value.
    pub value_pence: Option<i64>,
    /// Who the value belongs to, for dominance rules.
    pub contributor: Option<String>,
}

/// What a cell is: its period, place and categories, or a sensitive group's coarser cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellId {
    /// `None` for ordinary cells, which sort first.
    pub group: Option<SensitiveCategory>,
    pub period: String,
    /// `None`: records not placed at this level.
    pub place: Option<Arc<str>>,
    pub by: Vec<String>,
}

/// Whether a cell's count is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Published,
    /// Its count was in 1..T-1.
    Suppressed,
    /// Suppressed so that a suppressed neighbour cannot be recomputed from a total.
    SecondarySuppressed,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Published => "published",
            CellStatus::Suppressed => "suppressed",
            CellStatus::SecondarySuppressed => "secondary_suppressed",
        }
    }
}

/// Whether a cell's money total is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueStatus {
    Published,
    /// The count is not shown, so neither is the total.
    CountProtected,
    /// One or two contributors dominate the total (nk or p% rule).
    Dominated,
}

impl ValueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueStatus::Published => "published",
            ValueStatus::CountProtected => "count_protected",
            ValueStatus::Dominated => "dominated",
        }
    }
}

/// One row of a published table.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedRow {
    pub cell: CellId,
    pub count: Option<u64>,
    pub status: CellStatus,
    /// Rounded money total (GBP) and its status, for releases with a value column.
    pub value: Option<(Option<i64>, ValueStatus)>,
}

/// What the policy did, for the report next to each vintage (and the note to the DPO).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProtectionReport {
    /// Live records of the source on this release's basis, placed in the force area or unplaced.
    pub records: u64,
    /// Of which counted in a sensitive group at the coarser levels.
    pub records_in_sensitive_groups: u64,
    /// Non-empty cells before protection.
    pub cells: u64,
    /// Cells whose true count was in 1..T-1.
    pub small_cells: u64,
    /// Rows in the published table.
    pub rows_published: u64,
    /// Cell key: cells whose published count differs from the true one ...
    pub perturbed: u64,
    /// ... of which small cells published as 0 (so absent) ...
    pub small_cells_to_zero: u64,
    /// ... and small cells published as T.
    pub small_cells_to_threshold: u64,
    /// Rounding: cells whose count changed when rounded.
    pub rounded: u64,
    pub suppressed: u64,
    pub secondary_suppressed: u64,
    /// Money totals withheld by the nk or p% rule.
    pub values_dominated: u64,
}

/// The cell of a record under `release`.
fn cell_of(release: &Release, record: &Record) -> CellId {
    let policy = &release.policy;
    match (record.sensitive, &policy.sensitive) {
        (Some(category), Some(banding)) => CellId {
            group: Some(category),
            period: banding.time_level.period(&record.month),
            place: record.places[level_index(banding.place_level)].clone(),
            by: vec!["all".to_string(); policy.by.len()],
        },
        _ => CellId {
            group: None,
            period: policy.time_level.period(&record.month),
            place: record.places[level_index(policy.place_level)].clone(),
            by: record.by.clone(),
        },
    }
}

#[derive(Debug, Default)]
struct Cell {
    count: u64,
    key_sum: u64,
    value_pence: i64,
    contributions: BTreeMap<String, i64>,
}

/// Protects `records` under `release`. Cell-key releases need the key.
pub fn protect(
    release: &Release,
    records: &[Record],
    key: Option<&SecretKey>,
) -> Result<(Vec<PublishedRow>, ProtectionReport), DisclosureError> {
    let policy = &release.policy;
    let modulus = match &policy.method {
        Method::CellKey { modulus, .. } => Some(*modulus),
        _ => None,
    };
    let key = match (modulus, key) {
        (Some(_), None) => {
            return Err(DisclosureError::Key(format!(
                "release {} uses cell-key perturbation, which needs the disclosure key \
                 (disclosure.key_file or {})",
                policy.name,
                crate::key::KEY_ENV
            )));
        }
        (_, key) => key,
    };
    let mut report = ProtectionReport::default();
    let mut cells: BTreeMap<CellId, Cell> = BTreeMap::new();
    for record in records {
        report.records += 1;
        let id = cell_of(release, record);
        report.records_in_sensitive_groups += u64::from(id.group.is_some());
        let cell = cells.entry(id).or_default();
        cell.count += 1;
        if let (Some(modulus), Some(key)) = (modulus, key) {
            cell.key_sum += u64::from(key.record_key(&record.record_id, modulus));
        }
        if let Some(pence) = record.value_pence {
            cell.value_pence += pence;
            let who = record.contributor.clone().unwrap_or_default();
            *cell.contributions.entry(who).or_default() += pence;
        }
    }
    let threshold = policy.threshold;
    report.cells = cells.len() as u64;
    report.small_cells = cells.values().filter(|c| c.count < threshold).count() as u64;

    let mut rows = Vec::with_capacity(cells.len());
    for (id, cell) in &cells {
        let (count, status) = match &policy.method {
            Method::CellKey { .. } => {
                let (_, _, table) = release.ptable.as_ref().expect("loaded with the policy");
                let modulus = u64::from(table.modulus());
                let published = table.publish(cell.count, (cell.key_sum % modulus) as u32);
                if published != cell.count {
                    report.perturbed += 1;
                }
                if cell.count < threshold {
                    match published {
                        0 => report.small_cells_to_zero += 1,
                        _ => report.small_cells_to_threshold += 1,
                    }
                }
                if published == 0 {
                    continue; // Absent, like a cell with no records.
                }
                (Some(published), CellStatus::Published)
            }
            Method::Rounding { base } if cell.count >= threshold => {
                let rounded = (cell.count + base / 2) / base * base;
                report.rounded += u64::from(rounded != cell.count);
                (Some(rounded), CellStatus::Published)
            }
            Method::Rounding { .. } | Method::Suppression if cell.count < threshold => {
                (None, CellStatus::Suppressed)
            }
            Method::Rounding { .. } | Method::Suppression => {
                (Some(cell.count), CellStatus::Published)
            }
        };
        rows.push(PublishedRow {
            cell: id.clone(),
            count,
            status,
            value: None,
        });
    }
    if policy.method == Method::Suppression {
        secondary_suppression(&mut rows, &cells);
    }
    if let Some(value) = &policy.value {
        for row in &mut rows {
            row.value = Some(value_of(value, &cells[&row.cell], row, threshold));
        }
    }
    for row in &rows {
        match row.status {
            CellStatus::Published => {}
            CellStatus::Suppressed => report.suppressed += 1,
            CellStatus::SecondarySuppressed => report.secondary_suppressed += 1,
        }
        if let Some((_, ValueStatus::Dominated)) = row.value {
            report.values_dominated += 1;
        }
    }
    report.rows_published = rows.len() as u64;
    Ok((rows, report))
}

/// A cell's money total under the dominance rules, rounded.
fn value_of(
    policy: &ValuePolicy,
    cell: &Cell,
    row: &PublishedRow,
    threshold: u64,
) -> (Option<i64>, ValueStatus) {
    if row.status != CellStatus::Published || cell.count < threshold {
        return (None, ValueStatus::CountProtected);
    }
    if dominated(policy, cell) {
        return (None, ValueStatus::Dominated);
    }
    let step = policy.round_to as i64 * 100;
    let rounded = (cell.value_pence + step / 2).div_euclid(step) * policy.round_to as i64;
    (Some(rounded), ValueStatus::Published)
}

/// The nk rule (the n largest contributions exceed k% of the total) or the p% rule (the rest,
/// less the second largest, is under p% of the largest: the second largest contributor could
/// estimate the largest to within p%).
fn dominated(policy: &ValuePolicy, cell: &Cell) -> bool {
    let mut shares: Vec<i64> = cell
        .contributions
        .values()
        .map(|v| v.max(&0))
        .copied()
        .collect();
    shares.sort_unstable_by(|a, b| b.cmp(a));
    let total: i64 = shares.iter().sum();
    if total == 0 {
        return false;
    }
    let top_n: i64 = shares.iter().take(policy.nk_n).sum();
    let nk = top_n as f64 > policy.nk_k / 100.0 * total as f64;
    let largest = shares[0] as f64;
    let second = shares.get(1).copied().unwrap_or(0);
    let p = ((total - shares[0] - second) as f64) < policy.p_percent / 100.0 * largest;
    nk || p
}

/// Makes every line of the table (cells that differ in one dimension only: period, place or
/// one category) hold either no suppressed cell or at least two, so no suppressed count is the
/// line's total minus the others. Suppresses the smallest other cell until that holds.
fn secondary_suppression(rows: &mut [PublishedRow], cells: &BTreeMap<CellId, Cell>) {
    let dimensions = 2 + rows.first().map_or(0, |r| r.cell.by.len());
    loop {
        let mut changed = false;
        for dimension in 0..dimensions {
            let mut lines: BTreeMap<CellId, Vec<usize>> = BTreeMap::new();
            for (i, row) in rows.iter().enumerate() {
                let mut line = row.cell.clone();
                match dimension {
                    0 => line.period.clear(),
                    1 => line.place = None,
                    d => line.by[d - 2].clear(),
                }
                lines.entry(line).or_default().push(i);
            }
            for members in lines.values() {
                let hidden = members
                    .iter()
                    .filter(|&&i| rows[i].status != CellStatus::Published)
                    .count();
                if hidden != 1 {
                    continue;
                }
                let smallest = members
                    .iter()
                    .copied()
                    .filter(|&i| rows[i].status == CellStatus::Published)
                    .min_by_key(|&i| (cells[&rows[i].cell].count, rows[i].cell.clone()));
                if let Some(i) = smallest {
                    rows[i].status = CellStatus::SecondarySuppressed;
                    rows[i].count = None;
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
    }
}
