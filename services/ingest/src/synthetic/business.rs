//! Synthetic `business-crime` reports.
//!
//! Model (all invented, tuned to look like a Business Crime Reduction Partnership feed):
//! - a population of [`BUSINESS_COUNT`] businesses spread over up to [`BUSINESS_LSOAS`] LSOAs
//!   (town-centre style: a few LSOAs hold many premises), each with a sector and a heavy-tailed
//!   (Pareto) propensity to report, so a handful of repeat victims account for many reports;
//! - incident type weighted (shoplifting about 60 %, abuse/violence to staff about 15 %, ...);
//! - loss log-normal per type (shoplifting £5–£500, burglary larger, none for staff abuse);
//! - about 40 % reported to police, with a `LC-YYYYnnnnnn` reference;
//! - `occurred_at` inside the month in trading hours, `reported_at` minutes to days later;
//! - about 5 % get a version 2 `updated` (loss revised or later reported to police) and about
//!   1 % a version 2 `withdrawn`.

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::{
    SOURCE, canonical_places, hours, instant_in_month, later, log_normal, pounds, sort_events,
    stream_rng, weighted,
};
use crate::time::rfc3339;
use crate::{KeyedEvent, SCHEMA_VERSION};

/// Number of synthetic businesses.
pub const BUSINESS_COUNT: usize = 60;
/// Number of LSOAs the businesses are placed in (fewer if fewer places are given).
pub const BUSINESS_LSOAS: usize = 20;

pub(crate) const SECTORS: [(&str, u32); 7] = [
    ("convenience_store", 22),
    ("supermarket", 10),
    ("pharmacy", 7),
    ("licensed_premises", 10),
    ("fuel_station", 6),
    ("retail_non_food", 30),
    ("hospitality", 15),
];

pub(crate) const INCIDENT_TYPES: [(&str, u32); 7] = [
    ("shoplifting", 60),
    ("abuse_violence_staff", 15),
    ("criminal_damage", 8),
    ("burglary", 5),
    ("robbery", 3),
    ("fraud", 5),
    ("other", 4),
];

/// Shops: quiet overnight, busy from late morning to early evening.
const TRADING_HOURS: [(u32, u32); 24] = hours([
    1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 10, 10, 10, 10, 10, 10, 9, 8, 6, 4, 2, 1,
]);

struct Business {
    business_ref: String,
    sector: &'static str,
    lat: f64,
    lon: f64,
    lsoa_code: String,
    /// Relative chance of each report naming this business.
    weight: u32,
}

#[derive(Serialize, Clone)]
struct BusinessCrimeEvent<'a> {
    event_id: String,
    schema_version: u32,
    source: &'static str,
    occurred_at: String,
    reported_at: String,
    report_id: &'a str,
    version: u32,
    status: &'static str,
    business_ref: &'a str,
    sector: &'static str,
    premises: Premises<'a>,
    incident_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    loss_value: Option<f64>,
    reported_to_police: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    police_reference: Option<String>,
}

#[derive(Serialize, Clone)]
struct Premises<'a> {
    lat: f64,
    lon: f64,
    lsoa_code: &'a str,
}

/// Generate synthetic business-crime reports (`source = "synthetic"`).
///
/// `places` are `(lsoa_code, lat, lon)` of in-force LSOAs (e.g. population-weighted centroids);
/// `months` are `(year, month)`; `per_month` first-version reports are made for each month.
/// Key = `report_id` = `syn-bc-{seed}-{YYYYMM}-{n:05}`; event_id = `{report_id}:v{version}`.
/// Events come back in `reported_at` order, each report's versions in increasing order.
/// Returns nothing if `places` is empty.
pub fn synthetic_business_crime(
    places: &[(String, f64, f64)],
    months: &[(i32, u32)],
    per_month: usize,
    seed: u64,
) -> Vec<KeyedEvent> {
    let places = canonical_places(places);
    if places.is_empty() || per_month == 0 {
        return Vec::new();
    }
    let businesses = make_businesses(&places, seed);
    let business_weights: Vec<(usize, u32)> = businesses
        .iter()
        .enumerate()
        .map(|(i, b)| (i, b.weight))
        .collect();

    let mut out = Vec::new();
    for &(year, month) in months {
        let mut rng = stream_rng("business", &format!("{year:04}-{month:02}"), seed);
        for n in 0..per_month {
            let Some(occurred) = instant_in_month(&mut rng, year, month, &TRADING_HOURS) else {
                break; // invalid month: nothing to generate
            };
            let report_id = format!("syn-bc-{seed}-{year:04}{month:02}-{n:05}");
            let business = &businesses[*weighted(&mut rng, &business_weights)];
            out.extend(one_report(&mut rng, &report_id, business, &occurred));
        }
    }
    sort_events(out)
}

fn make_businesses(places: &[(String, f64, f64)], seed: u64) -> Vec<Business> {
    let mut rng = stream_rng("business", "population", seed);
    // Choose the LSOAs: a partial Fisher–Yates shuffle of the (sorted) places.
    let mut idx: Vec<usize> = (0..places.len()).collect();
    let k = BUSINESS_LSOAS.min(places.len());
    for i in 0..k {
        let j = rng.random_range(i..idx.len());
        idx.swap(i, j);
    }
    // Town-centre concentration: LSOA rank r gets weight ~ 1/(r+1).
    let lsoa_weights: Vec<(usize, u32)> = idx[..k]
        .iter()
        .enumerate()
        .map(|(rank, &p)| (p, 1000 / (rank as u32 + 1)))
        .collect();

    (0..BUSINESS_COUNT)
        .map(|i| {
            let sector = *weighted(&mut rng, &SECTORS);
            let (code, lat, lon) = &places[*weighted(&mut rng, &lsoa_weights)];
            // Pareto(alpha = 1.3, capped at 30x) propensity: most businesses report rarely, a
            // few very often (the top one typically 10-25 % of reports, the top six 35-55 %).
            let u: f64 = 1.0 - rng.random::<f64>();
            let pareto = u.powf(-1.0 / 1.3).min(30.0);
            let sector_factor = match sector {
                "supermarket" => 2.5,
                "convenience_store" => 1.5,
                "retail_non_food" | "pharmacy" => 1.2,
                _ => 0.7,
            };
            Business {
                business_ref: format!("syn-biz-{seed}-{i:03}"),
                sector,
                lat: round6(lat + rng.random_range(-0.004..0.004)),
                lon: round6(lon + rng.random_range(-0.006..0.006)),
                lsoa_code: code.clone(),
                weight: ((pareto * sector_factor * 100.0).round() as u32).max(1),
            }
        })
        .collect()
}

fn one_report(
    rng: &mut StdRng,
    report_id: &str,
    b: &Business,
    occurred: &DateTime<Tz>,
) -> Vec<(DateTime<Tz>, u32, KeyedEvent)> {
    let incident_type = *weighted(rng, &INCIDENT_TYPES);
    let loss_value = loss_for(rng, incident_type);
    let p_police = match incident_type {
        "shoplifting" => 0.30,
        "abuse_violence_staff" => 0.45,
        "criminal_damage" => 0.50,
        "burglary" => 0.90,
        "robbery" => 0.95,
        "fraud" => 0.40,
        _ => 0.30,
    };
    let reported_to_police = rng.random_bool(p_police);
    let police_reference = reported_to_police.then(|| new_police_reference(rng, occurred));
    // Median two hours after the incident, from 5 minutes to 14 days.
    let reported = later(rng, occurred, 7_200.0, 1.5, 300.0, 14.0 * 86_400.0);

    let v1 = BusinessCrimeEvent {
        event_id: format!("{report_id}:v1"),
        schema_version: SCHEMA_VERSION,
        source: SOURCE,
        occurred_at: rfc3339(occurred),
        reported_at: rfc3339(&reported),
        report_id,
        version: 1,
        status: "reported",
        business_ref: &b.business_ref,
        sector: b.sector,
        premises: Premises {
            lat: b.lat,
            lon: b.lon,
            lsoa_code: &b.lsoa_code,
        },
        incident_type,
        loss_value,
        reported_to_police,
        police_reference,
    };
    let mut out = vec![(reported, 1, keyed(report_id, &v1))];

    let roll: f64 = rng.random();
    if roll < 0.06 {
        // Revision one hour to three weeks after the first report.
        let revised_at = later(
            rng,
            &reported,
            3.0 * 86_400.0,
            1.0,
            3_600.0,
            21.0 * 86_400.0,
        );
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.event_id = format!("{report_id}:v2");
        v2.reported_at = rfc3339(&revised_at);
        if roll < 0.01 {
            v2.status = "withdrawn";
        } else {
            v2.status = "updated";
            if let Some(loss) = v2.loss_value {
                v2.loss_value = Some(pounds((loss * rng.random_range(0.5..2.0)).max(1.0)));
            }
            if !v2.reported_to_police && rng.random_bool(0.5) {
                v2.reported_to_police = true;
                v2.police_reference = Some(new_police_reference(rng, occurred));
            }
        }
        out.push((revised_at, 2, keyed(report_id, &v2)));
    }
    out
}

fn loss_for(rng: &mut StdRng, incident_type: &str) -> Option<f64> {
    let v = match incident_type {
        "shoplifting" => log_normal(rng, 45.0, 1.0, 5.0, 500.0),
        "burglary" => log_normal(rng, 1_500.0, 1.0, 50.0, 50_000.0),
        "robbery" => log_normal(rng, 400.0, 1.0, 10.0, 20_000.0),
        "criminal_damage" => log_normal(rng, 250.0, 1.0, 20.0, 20_000.0),
        "fraud" => log_normal(rng, 200.0, 1.2, 10.0, 20_000.0),
        "other" if rng.random_bool(0.5) => log_normal(rng, 60.0, 1.0, 5.0, 2_000.0),
        _ => return None, // staff abuse has no loss value
    };
    Some(pounds(v))
}

fn new_police_reference(rng: &mut StdRng, occurred: &DateTime<Tz>) -> String {
    format!(
        "LC-{}{:06}",
        occurred.year(),
        rng.random_range(0..1_000_000)
    )
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn keyed(report_id: &str, event: &BusinessCrimeEvent<'_>) -> KeyedEvent {
    KeyedEvent {
        key: report_id.to_owned(),
        payload: serde_json::to_vec(event)
            .expect("a struct of strings, finite numbers and bools always serialises"),
    }
}
