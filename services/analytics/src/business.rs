//! Business crime and cybercrime: incidents per business and repeat businesses, loss totals;
//! cybercrime reports and losses per 1,000 residents.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lantern_disclosure::policy::PlaceLevel;

use crate::geography::{FORCE_AND_LAD, Geography};
use crate::harm::round2;
use crate::inputs::{BusinessRecord, CyberMonthly};
use crate::month::{DAY_US, Month};
use crate::table::{AnalyticsTable, Columns};

pub const BUSINESS_TABLE: &str = "analytics_business_crime";
pub const CYBER_TABLE: &str = "analytics_cyber_rates";
pub const ALL_SECTORS: &str = "All sectors";

/// Per place (force, LAD) × sector (and all sectors), over the `window_days` up to the newest
/// report: businesses reporting, incidents, incidents per business, businesses with ≥ 2 and ≥ 5
/// incidents, and the loss total.
pub fn business_crime(
    geo: &Geography,
    records: &[BusinessRecord],
    window_days: i64,
) -> AnalyticsTable {
    let as_of = records.iter().map(|r| r.occurred_at_us).max().unwrap_or(0);
    let from = as_of - window_days * DAY_US;
    #[derive(Default)]
    struct Tally {
        per_business: HashMap<String, u64>,
        loss: f64,
    }
    let mut groups: BTreeMap<(PlaceLevel, Arc<str>, String), Tally> = BTreeMap::new();
    for r in records.iter().filter(|r| r.occurred_at_us >= from) {
        for (level, code) in geo.places_of(r.lsoa_code.as_deref(), &FORCE_AND_LAD) {
            for sector in [ALL_SECTORS, r.sector.as_str()] {
                let t = groups
                    .entry((level, code.clone(), sector.to_string()))
                    .or_default();
                *t.per_business.entry(r.business_ref.clone()).or_default() += 1;
                t.loss += r.loss_value.unwrap_or(0.0);
            }
        }
    }
    let rows: Vec<_> = groups.iter().collect();
    let incidents = |t: &Tally| t.per_business.values().sum::<u64>();
    let at_least = |t: &Tally, n: u64| t.per_business.values().filter(|&&c| c >= n).count() as u64;
    let window = format!("{window_days} days to {}", crate::repeat::date_of(as_of));
    Columns::default()
        .text("window", rows.iter().map(|_| Some(window.as_str())))
        .text(
            "place_level",
            rows.iter().map(|((l, _, _), _)| Some(l.as_str())),
        )
        .text(
            "place_code",
            rows.iter().map(|((_, c, _), _)| Some(c.as_ref())),
        )
        .text("sector", rows.iter().map(|((_, _, s), _)| Some(s.as_str())))
        .count(
            "businesses",
            rows.iter().map(|(_, t)| Some(t.per_business.len() as u64)),
        )
        .count("incidents", rows.iter().map(|(_, t)| Some(incidents(t))))
        .real(
            "incidents_per_business",
            rows.iter()
                .map(|(_, t)| Some(incidents(t) as f64 / t.per_business.len().max(1) as f64)),
        )
        .count(
            "repeat_businesses_2plus",
            rows.iter().map(|(_, t)| Some(at_least(t, 2))),
        )
        .count(
            "repeat_businesses_5plus",
            rows.iter().map(|(_, t)| Some(at_least(t, 5))),
        )
        .real("loss_total", rows.iter().map(|(_, t)| Some(round2(t.loss))))
        .into_table(BUSINESS_TABLE, serde_json::json!({
            "window_days": window_days,
            "per": "business reference (premises are not counted separately: no premises register)",
            "losses": "sum of reported loss values (GBP); reports without one add 0",
        }))
}

/// Cybercrime reports and losses per 1,000 residents per month × place (force, LAD) × NFIB
/// group × victim kind. The force level counts every report not placed outside the force area,
/// including those placed only by postcode district.
pub fn cyber_rates(geo: &Geography, rows: &[CyberMonthly]) -> AnalyticsTable {
    // (month, level, place, NFIB group, victim kind) → (reports, loss).
    type CyberKey = (Month, PlaceLevel, Arc<str>, String, String);
    let mut groups: BTreeMap<CyberKey, (u64, f64)> = BTreeMap::new();
    for r in rows {
        for (level, code) in geo.places_of(r.lsoa_code.as_deref(), &FORCE_AND_LAD) {
            let key = (
                r.month,
                level,
                code,
                r.nfib_group.clone(),
                r.victim_kind.clone(),
            );
            let g = groups.entry(key).or_default();
            g.0 += r.reports;
            g.1 += r.loss_total;
        }
    }
    let populations = geo.populations_at(&FORCE_AND_LAD);
    let rows: Vec<_> = groups
        .iter()
        .map(|(k, v)| {
            (
                k,
                v,
                populations
                    .get(&(k.1, k.2.clone()))
                    .map_or(0, |p| p.residents),
            )
        })
        .collect();
    let per_1000 = |n: f64, pop: u64| (pop > 0).then(|| 1000.0 * n / pop as f64);
    Columns::default()
        .text("month", rows.iter().map(|(k, _, _)| Some(k.0.label())))
        .text(
            "place_level",
            rows.iter().map(|(k, _, _)| Some(k.1.as_str())),
        )
        .text(
            "place_code",
            rows.iter().map(|(k, _, _)| Some(k.2.as_ref())),
        )
        .text(
            "nfib_group",
            rows.iter().map(|(k, _, _)| Some(k.3.as_str())),
        )
        .text(
            "victim_kind",
            rows.iter().map(|(k, _, _)| Some(k.4.as_str())),
        )
        .count("reports", rows.iter().map(|(_, v, _)| Some(v.0)))
        .real("loss_total", rows.iter().map(|(_, v, _)| Some(round2(v.1))))
        .count("residents", rows.iter().map(|(_, _, p)| Some(*p)))
        .real(
            "reports_per_1000",
            rows.iter().map(|(_, v, p)| per_1000(v.0 as f64, *p)),
        )
        .real(
            "loss_per_1000_residents",
            rows.iter().map(|(_, v, p)| per_1000(v.1, *p)),
        )
        .into_table(
            CYBER_TABLE,
            serde_json::json!({
                "population": "Census 2011 usual residents",
            }),
        )
}
