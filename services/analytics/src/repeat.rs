//! Repeat victimisation (People, Property): how much crime falls on the same victims,
//! addresses and businesses, and which of them were hit again within days — the addresses to
//! target-harden now.
//!
//! Over a window of `window_days` ending at the newest event time in the data (the data's own
//! "now": a replay of an old month gives the figures as they were), for each kind of entity
//! (victim reference, address reference, business reference), crime scope and place:
//!
//! - C = crimes against an entity of the kind, V = distinct entities, N = the population at
//!   risk (residents for victims, households for addresses; none for businesses);
//! - prevalence = 1000·V/N, incidence = 1000·C/N, concentration = C/V, repeat share = (C−V)/C;
//! - repeats within 7 / 28 / 365 days: crimes in the window whose previous crime against the
//!   same entity (in the same scope, at any time) was at most that many days earlier.
//!
//! Crimes without a reference of the kind are not linkable and are counted apart
//! (`crimes_without_reference`), so the coverage is visible.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lantern_disclosure::policy::PlaceLevel;

use crate::geography::{FORCE_AND_LAD, Geography};
use crate::month::DAY_US;
use crate::stats::ratio;
use crate::table::{AnalyticsTable, Columns};

pub const SUMMARY_TABLE: &str = "analytics_repeat_victimisation";
pub const LIVE_TABLE: &str = "analytics_repeat_live";
/// Repeat intervals reported, in days.
pub const WITHIN_DAYS: [i64; 3] = [7, 28, 365];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityKind {
    Victim,
    Address,
    Business,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Victim => "victim",
            EntityKind::Address => "address",
            EntityKind::Business => "business",
        }
    }
}

/// One crime against an entity (or against no linkable one).
#[derive(Debug, Clone)]
pub struct Victimisation {
    pub kind: EntityKind,
    pub entity: Option<String>,
    pub occurred_at_us: i64,
    /// The scopes it counts in, its own crime type first, e.g. `["Burglary", "All crime"]`.
    pub scopes: Vec<String>,
    pub lsoa_code: Option<String>,
}

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatParams {
    pub window_days: i64,
    pub live_days: i64,
}

#[derive(Default)]
struct Tally {
    crimes: u64,
    without_reference: u64,
    per_entity: HashMap<String, u64>,
    within: [u64; 3],
}

type GroupKey = (EntityKind, String, PlaceLevel, Arc<str>);

pub fn summary(geo: &Geography, crimes: &[Victimisation], params: RepeatParams) -> AnalyticsTable {
    let as_of = crimes.iter().map(|c| c.occurred_at_us).max().unwrap_or(0);
    let from = as_of - params.window_days * DAY_US;
    let gaps = gaps_to_previous(crimes);
    let mut groups: BTreeMap<GroupKey, Tally> = BTreeMap::new();
    for (i, crime) in crimes.iter().enumerate() {
        if crime.occurred_at_us < from || crime.occurred_at_us > as_of {
            continue;
        }
        let places = geo.places_of(crime.lsoa_code.as_deref(), &FORCE_AND_LAD);
        for (s, scope) in crime.scopes.iter().enumerate() {
            for (level, code) in &places {
                let tally = groups
                    .entry((crime.kind, scope.clone(), *level, code.clone()))
                    .or_default();
                let Some(entity) = &crime.entity else {
                    tally.without_reference += 1;
                    continue;
                };
                tally.crimes += 1;
                *tally.per_entity.entry(entity.clone()).or_default() += 1;
                if let Some(gap) = gaps[i][s] {
                    for (k, days) in WITHIN_DAYS.iter().enumerate() {
                        tally.within[k] += u64::from(gap <= days * DAY_US);
                    }
                }
            }
        }
    }
    let populations = geo.populations_at(&FORCE_AND_LAD);
    let rows: Vec<(&GroupKey, &Tally, Option<u64>)> = groups
        .iter()
        .map(|(key, tally)| {
            let population = populations
                .get(&(key.2, key.3.clone()))
                .and_then(|p| match key.0 {
                    EntityKind::Victim => Some(p.residents),
                    EntityKind::Address => Some(p.households),
                    EntityKind::Business => None,
                });
            (key, tally, population)
        })
        .collect();
    let crimes_of = |t: &Tally| t.crimes as f64;
    let entities = |t: &Tally| t.per_entity.len() as f64;
    let per_1000 = |n: f64, pop: Option<u64>| pop.filter(|&p| p > 0).map(|p| 1000.0 * n / p as f64);
    let window = format!("{} days to {}", params.window_days, date_of(as_of));
    let mut columns = Columns::default()
        .text("entity_kind", rows.iter().map(|r| Some(r.0.0.as_str())))
        .text("scope", rows.iter().map(|r| Some(r.0.1.as_str())))
        .text("place_level", rows.iter().map(|r| Some(r.0.2.as_str())))
        .text("place_code", rows.iter().map(|r| Some(r.0.3.as_ref())))
        .text("window", rows.iter().map(|_| Some(window.as_str())))
        .count("crimes", rows.iter().map(|r| Some(r.1.crimes)))
        .count(
            "crimes_without_reference",
            rows.iter().map(|r| Some(r.1.without_reference)),
        )
        .count(
            "victims",
            rows.iter().map(|r| Some(r.1.per_entity.len() as u64)),
        )
        .count(
            "repeat_victims",
            rows.iter()
                .map(|r| Some(r.1.per_entity.values().filter(|&&n| n >= 2).count() as u64)),
        )
        .count("population", rows.iter().map(|r| r.2))
        .real(
            "prevalence_per_1000",
            rows.iter().map(|r| per_1000(entities(r.1), r.2)),
        )
        .real(
            "incidence_per_1000",
            rows.iter().map(|r| per_1000(crimes_of(r.1), r.2)),
        )
        .real(
            "concentration",
            rows.iter()
                .map(|r| (r.1.crimes > 0).then(|| ratio(crimes_of(r.1), entities(r.1)))),
        )
        .real(
            "repeat_share",
            rows.iter().map(|r| {
                (r.1.crimes > 0).then(|| ratio(crimes_of(r.1) - entities(r.1), crimes_of(r.1)))
            }),
        );
    for (k, days) in WITHIN_DAYS.iter().enumerate() {
        columns = columns
            .count(
                &format!("repeats_within_{days}d"),
                rows.iter().map(|r| Some(r.1.within[k])),
            )
            .real(
                &format!("repeats_within_{days}d_share"),
                rows.iter()
                    .map(|r| (r.1.crimes > 0).then(|| ratio(r.1.within[k] as f64, crimes_of(r.1)))),
            );
    }
    columns.into_table(SUMMARY_TABLE, serde_json::json!({
            "window_days": params.window_days,
            "as_of": date_of(as_of),
            "within_days": WITHIN_DAYS,
            "population": "victims: usual residents; addresses: households (Census 2011); businesses: none",
        }))
}

/// For each crime and each of its scopes, the time since the previous crime against the same
/// entity in that scope (µs), if there was one.
fn gaps_to_previous(crimes: &[Victimisation]) -> Vec<Vec<Option<i64>>> {
    let mut order: Vec<usize> = (0..crimes.len()).collect();
    order.sort_by_key(|&i| (crimes[i].occurred_at_us, i));
    let mut last: HashMap<(EntityKind, &str, &str), i64> = HashMap::new();
    let mut gaps: Vec<Vec<Option<i64>>> =
        crimes.iter().map(|c| vec![None; c.scopes.len()]).collect();
    for i in order {
        let crime = &crimes[i];
        let Some(entity) = crime.entity.as_deref() else {
            continue;
        };
        for (s, scope) in crime.scopes.iter().enumerate() {
            let key = (crime.kind, entity, scope.as_str());
            if let Some(previous) = last.insert(key, crime.occurred_at_us) {
                gaps[i][s] = Some(crime.occurred_at_us - previous);
            }
        }
    }
    gaps
}

/// The live list: entities hit again within `live_days`, the latest time within the last
/// `live_days` of the data. Analyst-only (the output's kind decides who may read it).
pub fn live(geo: &Geography, crimes: &[Victimisation], params: RepeatParams) -> AnalyticsTable {
    let as_of = crimes.iter().map(|c| c.occurred_at_us).max().unwrap_or(0);
    let live = params.live_days * DAY_US;
    let mut by_entity: BTreeMap<(EntityKind, &str), Vec<&Victimisation>> = BTreeMap::new();
    for crime in crimes {
        if let Some(entity) = crime.entity.as_deref() {
            by_entity
                .entry((crime.kind, entity))
                .or_default()
                .push(crime);
        }
    }
    struct Live<'a> {
        kind: EntityKind,
        entity: &'a str,
        last: &'a Victimisation,
        previous_at: i64,
        crimes_in_year: u64,
    }
    let mut rows = Vec::new();
    for ((kind, entity), mut list) in by_entity {
        list.sort_by_key(|c| c.occurred_at_us);
        let [.., previous, last] = list.as_slice() else {
            continue;
        };
        if as_of - last.occurred_at_us <= live
            && last.occurred_at_us - previous.occurred_at_us <= live
        {
            let year_ago = as_of - 365 * DAY_US;
            rows.push(Live {
                kind,
                entity,
                last,
                previous_at: previous.occurred_at_us,
                crimes_in_year: list.iter().filter(|c| c.occurred_at_us >= year_ago).count() as u64,
            });
        }
    }
    rows.sort_by_key(|r| (std::cmp::Reverse(r.last.occurred_at_us), r.kind, r.entity));
    let lad = |r: &Live| {
        r.last
            .lsoa_code
            .as_deref()
            .and_then(|c| geo.lsoa(c))
            .map(|l| l.code_at(PlaceLevel::Lad).to_string())
    };
    Columns::default()
        .text("entity_kind", rows.iter().map(|r| Some(r.kind.as_str())))
        .text("reference", rows.iter().map(|r| Some(r.entity)))
        .text(
            "lsoa_code",
            rows.iter().map(|r| r.last.lsoa_code.as_deref()),
        )
        .text("lad_code", rows.iter().map(lad))
        .text(
            "last_crime",
            rows.iter()
                .map(|r| r.last.scopes.first().map(String::as_str)),
        )
        .text(
            "previous_at",
            rows.iter().map(|r| Some(timestamp_of(r.previous_at))),
        )
        .text(
            "last_at",
            rows.iter()
                .map(|r| Some(timestamp_of(r.last.occurred_at_us))),
        )
        .real(
            "days_between",
            rows.iter()
                .map(|r| Some((r.last.occurred_at_us - r.previous_at) as f64 / DAY_US as f64)),
        )
        .count(
            "crimes_last_365d",
            rows.iter().map(|r| Some(r.crimes_in_year)),
        )
        .text("as_of", rows.iter().map(|_| Some(timestamp_of(as_of))))
        .into_table(LIVE_TABLE, serde_json::json!({
            "live_days": params.live_days,
            "as_of": timestamp_of(as_of),
            "rule": "latest crime within live_days of as_of, and within live_days of the one before",
        }))
}

fn timestamp_of(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub(crate) fn date_of(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, UInt64Type};

    fn crime(entity: Option<&str>, day: i64) -> Victimisation {
        Victimisation {
            kind: EntityKind::Address,
            entity: entity.map(String::from),
            occurred_at_us: day * DAY_US,
            scopes: vec!["Burglary".into(), "All crime".into()],
            lsoa_code: Some("L1".into()),
        }
    }

    #[test]
    fn prevalence_incidence_concentration_and_repeats() {
        let geo = crate::rates::tests::geo();
        // Address a: days 0, 5, 40; b: day 10; c: day 100; one unlinkable crime.
        let crimes = vec![
            crime(Some("a"), 0),
            crime(Some("a"), 5),
            crime(Some("a"), 40),
            crime(Some("b"), 10),
            crime(Some("c"), 100),
            crime(None, 50),
        ];
        let params = RepeatParams {
            window_days: 365,
            live_days: 28,
        };
        let t = summary(&geo, &crimes, params);
        let b = &t.batch;
        let scope = b.column_by_name("scope").unwrap().as_string::<i32>();
        let level = b.column_by_name("place_level").unwrap().as_string::<i32>();
        let i = (0..b.num_rows())
            .find(|&i| scope.value(i) == "Burglary" && level.value(i) == "force")
            .unwrap();
        let count = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<UInt64Type>()
                .value(i)
        };
        let real = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(i)
        };
        assert_eq!(
            (count("crimes"), count("victims"), count("repeat_victims")),
            (5, 3, 1)
        );
        assert_eq!(count("crimes_without_reference"), 1);
        assert!((real("concentration") - 5.0 / 3.0).abs() < 1e-12);
        assert!((real("repeat_share") - 2.0 / 5.0).abs() < 1e-12);
        // Households of the force: 500 + 1500.
        assert!((real("prevalence_per_1000") - 1000.0 * 3.0 / 2000.0).abs() < 1e-12);
        assert!((real("incidence_per_1000") - 1000.0 * 5.0 / 2000.0).abs() < 1e-12);
        assert_eq!(
            (
                count("repeats_within_7d"),
                count("repeats_within_28d"),
                count("repeats_within_365d")
            ),
            (1, 1, 2)
        );

        // Live: as of day 100, nobody was hit twice in the last 28 days...
        assert_eq!(live(&geo, &crimes, params).batch.num_rows(), 0);
        // ...until c is hit again on day 110.
        let mut more = crimes.clone();
        more.push(crime(Some("c"), 110));
        let l = live(&geo, &more, params).batch;
        assert_eq!(l.num_rows(), 1);
        assert_eq!(
            l.column_by_name("reference")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "c"
        );
    }
}
