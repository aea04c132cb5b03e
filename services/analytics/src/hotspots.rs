//! Hotspots (Places): the top places by count and by harm, how concentrated crime is, and
//! Getis-Ord Gi* hot and cold spots over the force's LSOAs — all over the latest
//! `window_months` months of data.
//!
//! Gi* weights ([`GiWeights`]): a binary distance band on the LSOAs' population-weighted
//! centroids (ONS, 2011) projected to metres ([`crate::geo::Projection`]), or queen or rook
//! contiguity of their boundaries; the LSOA itself is always included. Two-sided normal p-values are corrected for the number of LSOAs tested
//! with Benjamini–Hochberg; a spot is hot or cold when its q ≤ `fdr`.

use std::collections::{BTreeMap, BTreeSet};

use lantern_disclosure::policy::PlaceLevel;

use crate::geo::Projection;
use crate::geography::Geography;
use crate::gistar::{distance_band, gi_star};
use crate::harm::{HarmWeights, round2};
use crate::inputs::IncidentRecord;
use crate::month::Month;
use crate::rates::{ALL_CRIME, MonthlyCount, crime_series};
use crate::stats::{benjamini_hochberg, concentration, normal_two_sided_p};
use crate::table::{AnalyticsTable, Columns};

pub const TOP_TABLE: &str = "analytics_hotspots_top";
pub const CONCENTRATION_TABLE: &str = "analytics_concentration";
pub const GI_STAR_TABLE: &str = "analytics_gi_star";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotspotParams {
    pub window_months: i32,
    pub top_n: usize,
    pub gi_star_distance_m: f64,
    /// Weights schemes to compute Gi* under (each gives its own rows).
    pub gi_star_weights: Vec<GiWeights>,
    pub fdr: f64,
}

/// The months analysed: the latest `window_months` up to the newest month in the data.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub first: Month,
    pub last: Month,
}

impl Window {
    pub fn ending_at_latest(months: impl Iterator<Item = Month>, length: i32) -> Option<Self> {
        let last = months.max()?;
        Some(Window {
            first: Month(last.0 - length + 1),
            last,
        })
    }

    pub fn contains(&self, m: Month) -> bool {
        m >= self.first && m <= self.last
    }

    pub fn label(&self) -> String {
        format!("{} to {}", self.first.label(), self.last.label())
    }
}

/// Counts per series per LSOA (in [`Geography`] order) within the window.
pub fn lsoa_counts(
    geo: &Geography,
    rows: &[MonthlyCount],
    window: Window,
) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r.force_record && window.contains(r.month))
    {
        let Some(i) = row.lsoa_code.as_deref().and_then(|c| geo.index_of(c)) else {
            continue;
        };
        for s in crime_series(row.crime_type.as_deref(), &row.property_type) {
            out.entry(s.to_string())
                .or_insert_with(|| vec![0; geo.lsoas.len()])[i] += row.count;
        }
    }
    out
}

/// Harm (CHI days) of All crime per LSOA within the window.
pub fn lsoa_harm(
    geo: &Geography,
    records: &[IncidentRecord],
    weights: &HarmWeights,
    window: Window,
) -> Vec<f64> {
    let mut harm = vec![0.0; geo.lsoas.len()];
    for r in records.iter().filter(|r| window.contains(r.month)) {
        if !crime_series(r.crime_type.as_deref(), &r.property_type).contains(&ALL_CRIME) {
            continue;
        }
        let (Some(i), Some(w)) = (
            r.lsoa_code.as_deref().and_then(|c| geo.index_of(c)),
            weights
                .weight(r.offence_code.as_deref(), r.crime_type.as_deref())
                .days(),
        ) else {
            continue;
        };
        harm[i] += w;
    }
    harm.into_iter().map(round2).collect()
}

/// Top-N LSOAs and wards of All crime, by count and by harm.
pub fn top_places(
    geo: &Geography,
    counts: &[u64],
    harm: &[f64],
    window: Window,
    params: &HotspotParams,
) -> AnalyticsTable {
    struct Row {
        ranking: &'static str,
        level: PlaceLevel,
        rank: usize,
        code: String,
        value: f64,
        share: f64,
    }
    let mut rows = Vec::new();
    for (ranking, values) in [
        (
            "count",
            counts.iter().map(|&c| c as f64).collect::<Vec<_>>(),
        ),
        ("harm", harm.to_vec()),
    ] {
        for level in [PlaceLevel::Lsoa, PlaceLevel::Ward] {
            let mut by_place: BTreeMap<&str, f64> = BTreeMap::new();
            for (lsoa, v) in geo.lsoas.iter().zip(&values) {
                *by_place.entry(lsoa.code_at(level)).or_default() += v;
            }
            let total: f64 = by_place.values().sum();
            let mut ranked: Vec<(&str, f64)> =
                by_place.into_iter().filter(|(_, v)| *v > 0.0).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            for (rank, (code, value)) in ranked.into_iter().take(params.top_n).enumerate() {
                rows.push(Row {
                    ranking,
                    level,
                    rank: rank + 1,
                    code: code.to_string(),
                    value: round2(value),
                    share: value / total,
                });
            }
        }
    }
    let label = window.label();
    Columns::default()
        .text("window", rows.iter().map(|_| Some(label.as_str())))
        .text("ranking", rows.iter().map(|r| Some(r.ranking)))
        .text("place_level", rows.iter().map(|r| Some(r.level.as_str())))
        .count("rank", rows.iter().map(|r| Some(r.rank as u64)))
        .text("place_code", rows.iter().map(|r| Some(r.code.as_str())))
        .text("crime_type", rows.iter().map(|_| Some(ALL_CRIME)))
        .real("value", rows.iter().map(|r| Some(r.value)))
        .real("share_of_force", rows.iter().map(|r| Some(r.share)))
        .into_table(
            TOP_TABLE,
            serde_json::json!({ "window": label, "top_n": params.top_n,
            "value": "count: crimes (ASB excluded); harm: CHI days" }),
        )
}

/// Crime concentration over the force's LSOAs (every LSOA, with or without crime).
pub fn concentration_table(counts: &BTreeMap<String, Vec<u64>>, window: Window) -> AnalyticsTable {
    let rows: Vec<(&String, crate::stats::Concentration)> =
        counts.iter().map(|(s, c)| (s, concentration(c))).collect();
    let share = |m: usize, n: usize| Some(if n == 0 { 0.0 } else { m as f64 / n as f64 });
    let label = window.label();
    Columns::default()
        .text("window", rows.iter().map(|_| Some(label.as_str())))
        .text("crime_type", rows.iter().map(|(s, _)| Some(s.as_str())))
        .text("place_level", rows.iter().map(|_| Some("lsoa")))
        .count("places", rows.iter().map(|(_, c)| Some(c.places as u64)))
        .count("crimes", rows.iter().map(|(_, c)| Some(c.total)))
        .count(
            "places_holding_25pct",
            rows.iter().map(|(_, c)| Some(c.places_for_25pct as u64)),
        )
        .real(
            "share_of_places_holding_25pct",
            rows.iter()
                .map(|(_, c)| share(c.places_for_25pct, c.places)),
        )
        .count(
            "places_holding_50pct",
            rows.iter().map(|(_, c)| Some(c.places_for_50pct as u64)),
        )
        .real(
            "share_of_places_holding_50pct",
            rows.iter()
                .map(|(_, c)| share(c.places_for_50pct, c.places)),
        )
        .real(
            "share_of_crime_in_top_5pct_places",
            rows.iter().map(|(_, c)| Some(c.top_5pct_share)),
        )
        .real("gini", rows.iter().map(|(_, c)| Some(c.gini)))
        .into_table(
            CONCENTRATION_TABLE,
            serde_json::json!({ "window": label, "places": "every LSOA of the force area" }),
        )
}

/// The spatial weights of Gi*, each binary and with the LSOA itself included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiWeights {
    /// Population-weighted centroids within `gi_star_distance_m` (inclusive).
    DistanceBand,
    /// LSOAs whose boundaries share at least one point.
    Queen,
    /// LSOAs whose boundaries share at least one edge.
    Rook,
}

impl GiWeights {
    pub fn as_str(self) -> &'static str {
        match self {
            GiWeights::DistanceBand => "distance_band",
            GiWeights::Queen => "queen",
            GiWeights::Rook => "rook",
        }
    }

    /// Each LSOA's neighbours (itself included), in [`Geography`] order.
    fn neighbours(self, geo: &Geography, params: &HotspotParams) -> Vec<Vec<u32>> {
        let contiguity = |rook: bool| {
            geo.contiguity(rook)
                .iter()
                .enumerate()
                .map(|(i, touching)| {
                    let mut hood: Vec<u32> = touching.iter().copied().chain([i as u32]).collect();
                    hood.sort_unstable();
                    hood
                })
                .collect()
        };
        match self {
            GiWeights::DistanceBand => {
                let projection = Projection::centred_on(geo.lsoas.iter().map(|l| l.lat));
                let points: Vec<(f64, f64)> = geo
                    .lsoas
                    .iter()
                    .map(|l| projection.xy(l.lat, l.lon))
                    .collect();
                distance_band(&points, params.gi_star_distance_m)
            }
            GiWeights::Queen => contiguity(false),
            GiWeights::Rook => contiguity(true),
        }
    }

    fn describe(self, params: &HotspotParams) -> String {
        match self {
            GiWeights::DistanceBand => format!(
                "binary distance band: LSOA population-weighted centroids within {} m \
                 (inclusive, equirectangular projection at the mean centroid latitude, Earth \
                 radius 6371008.8 m), self included",
                params.gi_star_distance_m
            ),
            GiWeights::Queen => {
                "binary queen contiguity: LSOA boundaries sharing a point, self included".into()
            }
            GiWeights::Rook => {
                "binary rook contiguity: LSOA boundaries sharing an edge, self included".into()
            }
        }
    }
}

/// Gi* for every series with any crime in the window, under each configured weights scheme.
pub fn gi_star_table(
    geo: &Geography,
    counts: &BTreeMap<String, Vec<u64>>,
    window: Window,
    params: &HotspotParams,
) -> AnalyticsTable {
    struct Row<'a> {
        weights: GiWeights,
        series: &'a str,
        lsoa: usize,
        count: u64,
        neighbours: usize,
        z: Option<f64>,
        p: Option<f64>,
        q: Option<f64>,
    }
    let mut rows = Vec::new();
    let active: BTreeSet<&String> = counts
        .iter()
        .filter(|(_, c)| c.iter().any(|&n| n > 0))
        .map(|(s, _)| s)
        .collect();
    for &scheme in &params.gi_star_weights {
        let weights = scheme.neighbours(geo, params);
        for series in &active {
            let values: Vec<f64> = counts[*series].iter().map(|&c| c as f64).collect();
            let z = gi_star(&values, &weights);
            let p: Vec<Option<f64>> = z.iter().map(|z| z.map(normal_two_sided_p)).collect();
            let tested: Vec<f64> = p.iter().flatten().copied().collect();
            let mut q_tested = benjamini_hochberg(&tested).into_iter();
            for (i, &count) in counts[*series].iter().enumerate() {
                rows.push(Row {
                    weights: scheme,
                    series,
                    lsoa: i,
                    count,
                    neighbours: weights[i].len(),
                    z: z[i],
                    p: p[i],
                    q: p[i].and_then(|_| q_tested.next()),
                });
            }
        }
    }
    let class = |r: &Row| match (r.z, r.q) {
        (Some(z), Some(q)) if q <= params.fdr && z > 0.0 => "hot spot",
        (Some(z), Some(q)) if q <= params.fdr && z < 0.0 => "cold spot",
        (Some(_), Some(_)) => "not significant",
        _ => "undefined",
    };
    let label = window.label();
    let weights: BTreeMap<&str, String> = params
        .gi_star_weights
        .iter()
        .map(|w| (w.as_str(), w.describe(params)))
        .collect();
    Columns::default()
        .text("window", rows.iter().map(|_| Some(label.as_str())))
        .text("weights", rows.iter().map(|r| Some(r.weights.as_str())))
        .text("crime_type", rows.iter().map(|r| Some(r.series)))
        .text(
            "lsoa_code",
            rows.iter().map(|r| Some(geo.lsoas[r.lsoa].code.as_ref())),
        )
        .count("count", rows.iter().map(|r| Some(r.count)))
        .count("neighbours", rows.iter().map(|r| Some(r.neighbours as u64)))
        .real("gi_star_z", rows.iter().map(|r| r.z))
        .real("p_value", rows.iter().map(|r| r.p))
        .real("q_value", rows.iter().map(|r| r.q))
        .text("spot", rows.iter().map(|r| Some(class(r))))
        .into_table(GI_STAR_TABLE, serde_json::json!({
            "window": label,
            "weights": weights,
            "p_value": "two-sided, standard normal",
            "correction": "Benjamini-Hochberg over the LSOAs of each crime type and weights scheme",
            "fdr": params.fdr,
        }))
}
