//! Harm (Problems): the Cambridge Crime Harm Index, CHI = Σ crimes × weight, the weight being
//! the sentencing starting point in days of custody (reference data, never constants here).
//!
//! A record is weighted by its Home Office offence code when the code has a weight, else by its
//! police.uk crime type (police.uk rows have no offence code), else not at all: it is counted
//! in `crimes_missing_weight` and listed in the output's parameters — never silently zero.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lantern_disclosure::policy::PlaceLevel;
use lantern_pipelines::PipelineFiles;

use crate::AnalyticsError;
use crate::geography::Geography;
use crate::inputs::IncidentRecord;
use crate::month::Month;
use crate::rates::{ALL_CRIME, crime_series};
use crate::table::{AnalyticsTable, Columns};

pub const TABLE: &str = "analytics_harm_monthly";

/// Which weight a record got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weight {
    Offence(f64),
    CrimeType(f64),
    Missing,
}

impl Weight {
    pub fn days(self) -> Option<f64> {
        match self {
            Weight::Offence(w) | Weight::CrimeType(w) => Some(w),
            Weight::Missing => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HarmWeights {
    pub offence_file: String,
    pub crime_type_file: String,
    by_offence: HashMap<String, f64>,
    by_crime_type: HashMap<String, f64>,
}

impl HarmWeights {
    /// Loads `offence_code,…,weight_days,…` and `crime_type,weight_days,…` tables.
    pub fn load(
        files: &PipelineFiles,
        offence_file: &str,
        crime_type_file: &str,
    ) -> Result<Self, AnalyticsError> {
        Ok(HarmWeights {
            offence_file: offence_file.to_string(),
            crime_type_file: crime_type_file.to_string(),
            by_offence: read_weights(files, offence_file, "offence_code")?,
            by_crime_type: read_weights(files, crime_type_file, "crime_type")?,
        })
    }

    pub fn weight(&self, offence_code: Option<&str>, crime_type: Option<&str>) -> Weight {
        if let Some(w) = offence_code.and_then(|c| self.by_offence.get(c)) {
            return Weight::Offence(*w);
        }
        match crime_type.and_then(|t| self.by_crime_type.get(t)) {
            Some(w) => Weight::CrimeType(*w),
            None => Weight::Missing,
        }
    }
}

fn read_weights(
    files: &PipelineFiles,
    name: &str,
    key_column: &str,
) -> Result<HashMap<String, f64>, AnalyticsError> {
    let bytes = files
        .read(name)
        .map_err(|e| AnalyticsError::reference(name, e))?;
    let mut reader = csv::Reader::from_reader(bytes.as_ref());
    let headers = reader
        .headers()
        .map_err(|e| AnalyticsError::reference(name, e))?
        .clone();
    let column = |wanted: &str| {
        headers.iter().position(|h| h == wanted).ok_or_else(|| {
            AnalyticsError::reference(name, format!("no column {wanted} (header: {headers:?})"))
        })
    };
    let (key, weight) = (column(key_column)?, column("weight_days")?);
    let mut out = HashMap::new();
    for (line, row) in reader.records().enumerate() {
        let row = row.map_err(|e| AnalyticsError::reference(name, e))?;
        let value: f64 = row
            .get(weight)
            .and_then(|w| w.parse().ok())
            .filter(|w: &f64| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| {
                AnalyticsError::reference(
                    name,
                    format!("line {}: weight_days is not a number ≥ 0", line + 2),
                )
            })?;
        let code = row.get(key).unwrap_or_default().to_string();
        if out.insert(code.clone(), value).is_some() {
            return Err(AnalyticsError::reference(
                name,
                format!("{code} appears twice"),
            ));
        }
    }
    Ok(out)
}

#[derive(Default, Clone, Copy)]
struct Tally {
    crimes: u64,
    by_offence: u64,
    by_crime_type: u64,
    missing: u64,
    harm_days: f64,
}

type Key = (Month, PlaceLevel, Arc<str>, String);

/// Harm per month × place (force, CSP, LAD, ward, LSOA) × crime type and All crime (ASB
/// excluded: it is not a crime and has no sentence). Only places with crime have rows.
pub fn harm_monthly(
    geo: &Geography,
    records: &[IncidentRecord],
    weights: &HarmWeights,
) -> AnalyticsTable {
    let mut tallies: BTreeMap<Key, Tally> = BTreeMap::new();
    let mut missing: BTreeMap<String, u64> = BTreeMap::new();
    for r in records {
        let series = crime_series(r.crime_type.as_deref(), &r.property_type);
        if !series.contains(&ALL_CRIME) {
            continue;
        }
        let weight = weights.weight(r.offence_code.as_deref(), r.crime_type.as_deref());
        if weight == Weight::Missing {
            let what = match (&r.offence_code, &r.crime_type) {
                (Some(code), _) => format!("offence {code}"),
                (None, Some(t)) => format!("crime type {t}"),
                (None, None) => "no offence code or crime type".to_string(),
            };
            *missing.entry(what).or_default() += 1;
        }
        for (level, code) in geo.places_of(r.lsoa_code.as_deref(), &PlaceLevel::ALL) {
            for s in &series {
                let t = tallies
                    .entry((r.month, level, code.clone(), s.to_string()))
                    .or_default();
                t.crimes += 1;
                match weight {
                    Weight::Offence(w) => {
                        t.by_offence += 1;
                        t.harm_days += w;
                    }
                    Weight::CrimeType(w) => {
                        t.by_crime_type += 1;
                        t.harm_days += w;
                    }
                    Weight::Missing => t.missing += 1,
                }
            }
        }
    }
    let rows: Vec<(&Key, &Tally)> = tallies.iter().collect();
    Columns::default()
        .text("month", rows.iter().map(|(k, _)| Some(k.0.label())))
        .text("place_level", rows.iter().map(|(k, _)| Some(k.1.as_str())))
        .text("place_code", rows.iter().map(|(k, _)| Some(k.2.as_ref())))
        .text("crime_type", rows.iter().map(|(k, _)| Some(k.3.as_str())))
        .count("crimes", rows.iter().map(|(_, t)| Some(t.crimes)))
        .count(
            "weighted_by_offence_code",
            rows.iter().map(|(_, t)| Some(t.by_offence)),
        )
        .count(
            "weighted_by_crime_type",
            rows.iter().map(|(_, t)| Some(t.by_crime_type)),
        )
        .count(
            "crimes_missing_weight",
            rows.iter().map(|(_, t)| Some(t.missing)),
        )
        .real(
            "harm_days",
            rows.iter().map(|(_, t)| Some(round2(t.harm_days))),
        )
        .into_table(
            TABLE,
            serde_json::json!({
                "index": "Cambridge Crime Harm Index (sentencing starting point, days)",
                "offence_weights": weights.offence_file,
                "crime_type_weights": weights.crime_type_file,
                "records_missing_weight": missing,
            }),
        )
}

/// Harm adds many fractional weights: two decimals keep a replay's bytes identical whatever the
/// order of the additions.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offence_code_first_then_crime_type_then_missing() {
        let files = PipelineFiles::from_setting(None);
        let w = HarmWeights::load(
            &files,
            "reference/harm/chi_weights_v1.csv",
            "reference/harm/chi_crime_type_weights_v1.csv",
        )
        .unwrap();
        assert_eq!(
            w.weight(Some("1"), Some("Violence and sexual offences")),
            Weight::Offence(5475.0)
        );
        assert!(matches!(
            w.weight(None, Some("Burglary")),
            Weight::CrimeType(_)
        ));
        assert_eq!(
            w.weight(Some("ZZZ"), Some("Anti-social behaviour")),
            Weight::Missing
        );
    }
}
