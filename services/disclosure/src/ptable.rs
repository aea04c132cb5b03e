//! The perturbation table of cell-key perturbation (the method of ONS's Census 2021 tables).
//!
//! A cell's *cell key* is the sum of its records' keys modulo N; the table maps (count, cell key)
//! to an adjustment, and the published value is count + adjustment. The file is CSV:
//!
//! ```text
//! count,cell_key_min,cell_key_max,adjustment
//! 1,0,25,9        a cell of 1 record with cell key 0..=25 is published as 10
//! 1,26,255,-1     ... and otherwise as 0 (not published)
//! ```
//!
//! Rows for each count 1..=M must cover 0..N-1 exactly once; counts above M use the rows of M.
//! [`PerturbationTable::check`] proves, for a threshold T, that no count can ever be published
//! as 1..T-1 and that every publishable value can come from at least two different counts (so
//! no published value, and no difference of two, pins a true count down).

use std::collections::BTreeMap;

use crate::DisclosureError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
struct Row {
    count: u64,
    cell_key_min: u32,
    cell_key_max: u32,
    adjustment: i64,
}

/// A parsed, checked perturbation table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerturbationTable {
    modulus: u32,
    /// count -> rows sorted by cell_key_min.
    rows: BTreeMap<u64, Vec<Row>>,
}

impl PerturbationTable {
    /// Parses `csv` for record keys modulo `modulus`, checking coverage of every count.
    pub fn parse(csv: &[u8], modulus: u32, origin: &str) -> Result<Self, DisclosureError> {
        let bad = |why: String| DisclosureError::Policy(format!("{origin}: {why}"));
        let mut rows: BTreeMap<u64, Vec<Row>> = BTreeMap::new();
        for (line, row) in csv::Reader::from_reader(csv)
            .deserialize::<Row>()
            .enumerate()
        {
            let row = row.map_err(|e| bad(format!("line {}: {e}", line + 2)))?;
            if row.count == 0 {
                return Err(bad(format!("line {}: count must be at least 1", line + 2)));
            }
            rows.entry(row.count).or_default().push(row);
        }
        let Some(&max) = rows.keys().last() else {
            return Err(bad("no rows".into()));
        };
        for count in 1..=max {
            let Some(ranges) = rows.get_mut(&count) else {
                return Err(bad(format!(
                    "no rows for count {count} (every count 1..={max} needs rows)"
                )));
            };
            ranges.sort_by_key(|r| r.cell_key_min);
            let mut next = 0u32;
            for r in ranges.iter() {
                if r.cell_key_min != next || r.cell_key_max < r.cell_key_min {
                    return Err(bad(format!(
                        "count {count}: cell keys must be covered once, in order, from 0; \
                         found {}..={} where {next} was expected",
                        r.cell_key_min, r.cell_key_max
                    )));
                }
                next = r.cell_key_max + 1;
            }
            if next != modulus {
                return Err(bad(format!(
                    "count {count}: cell keys cover 0..{next}, not 0..{modulus}"
                )));
            }
        }
        Ok(PerturbationTable { modulus, rows })
    }

    pub fn modulus(&self) -> u32 {
        self.modulus
    }

    fn max_count(&self) -> u64 {
        *self
            .rows
            .keys()
            .last()
            .expect("parse refuses an empty table")
    }

    /// The published value of a cell of `count` records (count >= 1) with `cell_key`.
    pub fn publish(&self, count: u64, cell_key: u32) -> u64 {
        let rows = &self.rows[&count.min(self.max_count())];
        let row = rows
            .iter()
            .find(|r| (r.cell_key_min..=r.cell_key_max).contains(&cell_key))
            .expect("parse checked that every cell key is covered");
        count.saturating_add_signed(row.adjustment)
    }

    /// Every value each count can be published as (counts 1..=max+1; above that the same
    /// adjustments shift with the count).
    fn outcomes(&self) -> BTreeMap<u64, Vec<u64>> {
        (1..=self.max_count() + 1)
            .map(|count| {
                let rows = &self.rows[&count.min(self.max_count())];
                (
                    count,
                    rows.iter()
                        .map(|r| count.saturating_add_signed(r.adjustment))
                        .collect(),
                )
            })
            .collect()
    }

    /// Proves the table safe for `threshold`: no count is ever published as 1..T-1, and each
    /// value it can publish below max+1 comes from at least two counts. Returns why not.
    pub fn check(&self, threshold: u64) -> Result<(), String> {
        let mut sources: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (count, values) in self.outcomes() {
            for value in values {
                if (1..threshold).contains(&value) {
                    return Err(format!(
                        "count {count} can be published as {value}, inside 1..{}",
                        threshold - 1
                    ));
                }
                sources.entry(value).or_default().push(count);
            }
        }
        // Zero is also what an empty cell shows, so it always has two sources.
        let top = self.max_count();
        for (value, counts) in &sources {
            let mut counts = counts.clone();
            counts.dedup();
            if *value > 0 && *value <= top && counts.len() < 2 {
                return Err(format!(
                    "published value {value} can only come from count {}: it would disclose it",
                    counts[0]
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &[u8] = include_bytes!("../../../pipelines/disclosure/ptable_t10.csv");

    #[test]
    fn the_default_table_is_safe_for_ten() {
        let table = PerturbationTable::parse(DEFAULT, 256, "ptable_t10.csv").unwrap();
        table.check(10).unwrap();
        assert!(
            table.check(12).is_err(),
            "T=12 must be refused: counts of 10 publish as 10"
        );
        for count in 1..200 {
            for key in 0..256 {
                let v = table.publish(count, key);
                assert!(v == 0 || v >= 10, "{count} with key {key} published as {v}");
                assert!(v.abs_diff(count) <= 9);
            }
        }
    }

    #[test]
    fn gaps_overlaps_and_missing_counts_are_refused() {
        let gap = b"count,cell_key_min,cell_key_max,adjustment\n1,0,9,-1\n1,11,255,9\n";
        let err = PerturbationTable::parse(gap, 256, "p.csv").unwrap_err();
        assert!(err.to_string().contains("count 1"), "{err}");
        let missing = b"count,cell_key_min,cell_key_max,adjustment\n2,0,255,-2\n";
        assert!(PerturbationTable::parse(missing, 256, "p.csv").is_err());
        let leaky = b"count,cell_key_min,cell_key_max,adjustment\n1,0,255,0\n";
        let table = PerturbationTable::parse(leaky, 256, "p.csv").unwrap();
        assert!(table.check(10).unwrap_err().contains("inside 1..9"));
    }
}
