//! Near repeats: the Knox test ([`crate::knox`]) over the located records a run selects.
//!
//! police.uk points are snapped to anonymous map points (one per street segment or so, each
//! covering at least eight addresses), so on police.uk data the first distance band mostly
//! holds pairs at the *same* map point, and distances under ~100 m are not meaningful; and its
//! dates are month-only, so its time bands must be whole months. The default runs say so.

use serde::{Deserialize, Serialize};

use crate::geo::Projection;
use crate::inputs::IncidentRecord;
use crate::knox::{Bands, KnoxParams, knox};
use crate::table::{AnalyticsTable, Columns};

pub const TABLE: &str = "analytics_near_repeat";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Days,
    Months,
}

impl TimeUnit {
    fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Days => "days",
            TimeUnit::Months => "months",
        }
    }
}

/// One configured near-repeat analysis (`[[near_repeat]]` in `analytics.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearRepeatRun {
    pub name: String,
    pub crime_type: String,
    #[serde(default)]
    pub property_type: Option<String>,
    /// Only records from this source (`police.uk`, `synthetic`, …); all when absent.
    #[serde(default)]
    pub source: Option<String>,
    pub distance_band_m: f64,
    pub distance_bands: usize,
    pub time_unit: TimeUnit,
    pub time_band: f64,
    pub time_bands: usize,
    pub permutations: u32,
    pub seed: u64,
}

impl NearRepeatRun {
    pub fn check(&self) -> Result<(), String> {
        let at = |key: &str| format!("near_repeat {:?}: {key}", self.name);
        if !(self.distance_band_m > 0.0 && self.distance_band_m.is_finite()) {
            return Err(format!(
                "{} must be a positive number of metres",
                at("distance_band_m")
            ));
        }
        if !(self.time_band >= 1.0 && self.time_band.fract() == 0.0) {
            return Err(format!("{} must be a whole number ≥ 1", at("time_band")));
        }
        if !(1..=255).contains(&self.distance_bands) || !(1..=255).contains(&self.time_bands) {
            return Err(format!(
                "{} and time_bands must be 1..=255",
                at("distance_bands")
            ));
        }
        if self.permutations == 0 {
            return Err(format!(
                "{} must be at least 1 (999 is usual)",
                at("permutations")
            ));
        }
        Ok(())
    }

    fn selects(&self, r: &IncidentRecord) -> bool {
        r.crime_type.as_deref() == Some(self.crime_type.as_str())
            && self
                .property_type
                .as_ref()
                .is_none_or(|p| *p == r.property_type)
            && self.source.as_ref().is_none_or(|s| *s == r.source)
            && r.lat.is_some()
            && r.lon.is_some()
    }

    fn params(&self) -> KnoxParams {
        KnoxParams {
            distance: Bands {
                width: self.distance_band_m,
                count: self.distance_bands,
            },
            time: Bands {
                width: self.time_band,
                count: self.time_bands,
            },
            permutations: self.permutations,
            seed: self.seed,
        }
    }
}

/// Runs every configured analysis over `records`.
pub fn near_repeat(records: &[IncidentRecord], runs: &[NearRepeatRun]) -> AnalyticsTable {
    struct Row<'a> {
        run: &'a NearRepeatRun,
        events: usize,
        close_pairs: usize,
        cell: crate::knox::KnoxCell,
    }
    let mut rows = Vec::new();
    for run in runs {
        let selected: Vec<&IncidentRecord> = records.iter().filter(|r| run.selects(r)).collect();
        let projection = Projection::centred_on(selected.iter().filter_map(|r| r.lat));
        let points: Vec<(f64, f64)> = selected
            .iter()
            .map(|r| projection.xy(r.lat.unwrap_or_default(), r.lon.unwrap_or_default()))
            .collect();
        let times: Vec<i64> = selected
            .iter()
            .map(|r| match run.time_unit {
                TimeUnit::Days => r.day,
                TimeUnit::Months => i64::from(r.month.0),
            })
            .collect();
        let result = knox(&points, &times, &run.params());
        for cell in result.cells {
            rows.push(Row {
                run,
                events: result.events,
                close_pairs: result.close_pairs,
                cell,
            });
        }
    }
    let distance = |r: &Row| r.run.params().distance;
    let time = |r: &Row| r.run.params().time;
    Columns::default()
        .text("run", rows.iter().map(|r| Some(r.run.name.as_str())))
        .text(
            "crime_type",
            rows.iter().map(|r| Some(r.run.crime_type.as_str())),
        )
        .text("source", rows.iter().map(|r| r.run.source.as_deref()))
        .count("events", rows.iter().map(|r| Some(r.events as u64)))
        .count(
            "close_pairs",
            rows.iter().map(|r| Some(r.close_pairs as u64)),
        )
        .text(
            "distance_band",
            rows.iter()
                .map(|r| Some(distance(r).label(r.cell.distance_band, "m"))),
        )
        .real(
            "distance_from_m",
            rows.iter()
                .map(|r| Some(distance(r).bounds(r.cell.distance_band).0)),
        )
        .real(
            "distance_to_m",
            rows.iter()
                .map(|r| Some(distance(r).bounds(r.cell.distance_band).1)),
        )
        .text(
            "time_band",
            rows.iter()
                .map(|r| Some(time(r).label(r.cell.time_band, r.run.time_unit.as_str()))),
        )
        .real(
            "time_from",
            rows.iter()
                .map(|r| Some(time(r).bounds(r.cell.time_band).0)),
        )
        .real(
            "time_to",
            rows.iter()
                .map(|r| Some(time(r).bounds(r.cell.time_band).1)),
        )
        .text(
            "time_unit",
            rows.iter().map(|r| Some(r.run.time_unit.as_str())),
        )
        .count("observed_pairs", rows.iter().map(|r| Some(r.cell.observed)))
        .real("expected_pairs", rows.iter().map(|r| Some(r.cell.expected)))
        .real("knox_ratio", rows.iter().map(|r| r.cell.ratio()))
        .real(
            "p_value",
            rows.iter()
                .map(|r| Some(r.cell.p_value(r.run.permutations))),
        )
        .count(
            "permutations",
            rows.iter().map(|r| Some(u64::from(r.run.permutations))),
        )
        .count("seed", rows.iter().map(|r| Some(r.run.seed)))
        .into_table(TABLE, serde_json::json!({
            "method": "Knox test with date permutations (Ratcliffe); p = (1 + #{sim >= obs}) / (R + 1)",
            "bands": "half-open [from, to)",
            "runs": runs,
        }))
}
