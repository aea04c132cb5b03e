//! Synthetic `cybercrime-report` events (Action Fraud / NFIB style).
//!
//! Model (all invented):
//! - NFIB fraud code weighted, online shopping (NFIB3A) and banking/cards (NFIB5A) most common;
//!   about 2 % carry codes that are *not* in the NFIB list (`NFIB90Z`, `NFIB77Q`) so downstream
//!   unknown-code handling is exercised (they must be counted under their own code);
//! - victim mostly a person; victim place is an LSOA for about 70 % of reports and only a
//!   Lancashire postcode district for the rest;
//! - loss often present, log-normal with a code-specific median;
//! - contact channel weighted;
//! - `reported_at` hours to weeks after `occurred_at` (frauds are often noticed late);
//! - about 5 % get a version 2 `updated` (loss revised or first stated) and about 1 % a
//!   version 2 `withdrawn`.

use chrono::DateTime;
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

/// Fraud / computer-misuse codes with weights. The last two are deliberately not NFIB codes.
pub const FRAUD_CODES: [(&str, u32); 12] = [
    ("NFIB3A", 30),  // online shopping and auctions
    ("NFIB5A", 20),  // cheque, plastic card and online bank accounts
    ("NFIB1H", 11),  // other advance fee frauds
    ("NFIB52C", 10), // hacking: social media and email
    ("NFIB52B", 8),  // hacking: personal
    ("NFIB50A", 7),  // computer virus / malware / spyware
    ("NFIB2A", 7),   // share sale or boiler room (investment) fraud
    ("NFIB52A", 2),  // hacking: server
    ("NFIB52E", 2),  // hacking: extortion
    ("NFIB51A", 1),  // denial of service
    ("NFIB90Z", 1),  // not a real code: exercises unknown-code handling
    ("NFIB77Q", 1),  // not a real code: exercises unknown-code handling
];

pub(crate) const VICTIM_KINDS: [(&str, u32); 3] =
    [("person", 85), ("business", 12), ("organisation", 3)];

/// Values match the `contact_channel` enum of `schemas/cybercrime-report/v1.schema.json`.
pub(crate) const CONTACT_CHANNELS: [(&str, u32); 9] = [
    ("website", 24),
    ("online_marketplace", 14),
    ("social_media", 15),
    ("email", 13),
    ("phone", 16),
    ("text_message", 11),
    ("in_person", 4),
    ("letter", 3),
    ("other", 4),
];

/// Lancashire postcode districts (Preston, Blackburn, Blackpool, Lancaster and around).
const POSTCODE_DISTRICTS: [&str; 36] = [
    "PR1", "PR2", "PR3", "PR4", "PR5", "PR6", "PR7", "PR8", "PR9", "PR25", "PR26", "BB1", "BB2",
    "BB3", "BB4", "BB5", "BB6", "BB7", "BB8", "BB9", "BB10", "BB11", "BB12", "BB18", "FY1", "FY2",
    "FY3", "FY4", "FY5", "FY6", "FY7", "FY8", "LA1", "LA2", "LA3", "LA5",
];

/// Online fraud happens around the clock, peaking in the evening.
const ONLINE_HOURS: [(u32, u32); 24] = hours([
    2, 1, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 8, 8, 8, 8, 8, 9, 10, 11, 11, 10, 7, 4,
]);

#[derive(Serialize, Clone)]
struct CyberEvent<'a> {
    event_id: String,
    schema_version: u32,
    source: &'static str,
    occurred_at: String,
    reported_at: String,
    report_id: &'a str,
    version: u32,
    status: &'static str,
    fraud_code: &'static str,
    victim_kind: &'static str,
    victim_place: VictimPlace<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loss_value: Option<f64>,
    contact_channel: &'static str,
}

#[derive(Serialize, Clone)]
struct VictimPlace<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    lsoa_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postcode_district: Option<&'static str>,
}

/// Generate synthetic cybercrime reports (`source = "synthetic"`).
///
/// Key = `report_id` = `syn-cy-{seed}-{YYYYMM}-{n:05}`; event_id = `{report_id}:v{version}`.
/// Events come back in `reported_at` order, each report's versions in increasing order.
/// Returns nothing if `places` is empty.
pub fn synthetic_cybercrime(
    places: &[(String, f64, f64)],
    months: &[(i32, u32)],
    per_month: usize,
    seed: u64,
) -> Vec<KeyedEvent> {
    let places = canonical_places(places);
    if places.is_empty() || per_month == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &(year, month) in months {
        let mut rng = stream_rng("cyber", &format!("{year:04}-{month:02}"), seed);
        for n in 0..per_month {
            let Some(occurred) = instant_in_month(&mut rng, year, month, &ONLINE_HOURS) else {
                break; // invalid month: nothing to generate
            };
            let report_id = format!("syn-cy-{seed}-{year:04}{month:02}-{n:05}");
            out.extend(one_report(&mut rng, &report_id, &places, &occurred));
        }
    }
    sort_events(out)
}

fn one_report(
    rng: &mut StdRng,
    report_id: &str,
    places: &[(String, f64, f64)],
    occurred: &DateTime<Tz>,
) -> Vec<(DateTime<Tz>, u32, KeyedEvent)> {
    let fraud_code = *weighted(rng, &FRAUD_CODES);
    let victim_kind = *weighted(rng, &VICTIM_KINDS);
    let victim_place = if rng.random_bool(0.7) {
        VictimPlace {
            lsoa_code: Some(&places[rng.random_range(0..places.len())].0),
            postcode_district: None,
        }
    } else {
        VictimPlace {
            lsoa_code: None,
            postcode_district: Some(
                POSTCODE_DISTRICTS[rng.random_range(0..POSTCODE_DISTRICTS.len())],
            ),
        }
    };
    let loss_value = loss_for(rng, fraud_code);
    let contact_channel = *weighted(rng, &CONTACT_CHANNELS);
    // Median two days after the incident, from 10 minutes to 120 days.
    let reported = later(rng, occurred, 2.0 * 86_400.0, 1.5, 600.0, 120.0 * 86_400.0);

    let v1 = CyberEvent {
        event_id: format!("{report_id}:v1"),
        schema_version: SCHEMA_VERSION,
        source: SOURCE,
        occurred_at: rfc3339(occurred),
        reported_at: rfc3339(&reported),
        report_id,
        version: 1,
        status: "reported",
        fraud_code,
        victim_kind,
        victim_place,
        loss_value,
        contact_channel,
    };
    let mut out = vec![(reported, 1, keyed(report_id, &v1))];

    let roll: f64 = rng.random();
    if roll < 0.06 {
        let revised_at = later(
            rng,
            &reported,
            7.0 * 86_400.0,
            1.0,
            3_600.0,
            60.0 * 86_400.0,
        );
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.event_id = format!("{report_id}:v2");
        v2.reported_at = rfc3339(&revised_at);
        if roll < 0.01 {
            v2.status = "withdrawn";
        } else {
            v2.status = "updated";
            v2.loss_value = Some(match v2.loss_value {
                Some(loss) => pounds((loss * rng.random_range(0.5..3.0)).max(1.0)),
                None => pounds(log_normal(rng, 150.0, 1.2, 1.0, 50_000.0)),
            });
        }
        out.push((revised_at, 2, keyed(report_id, &v2)));
    }
    out
}

fn loss_for(rng: &mut StdRng, code: &str) -> Option<f64> {
    let (p_present, median, sigma) = match code {
        "NFIB3A" => (0.85, 120.0, 1.1),
        "NFIB5A" => (0.85, 600.0, 1.3),
        "NFIB1H" => (0.80, 1_500.0, 1.3),
        "NFIB2A" => (0.90, 12_000.0, 1.3),
        "NFIB50A" => (0.30, 100.0, 1.0),
        code if code.starts_with("NFIB5") => (0.40, 300.0, 1.2), // 51x/52x computer misuse
        _ => (0.50, 200.0, 1.2),
    };
    rng.random_bool(p_present)
        .then(|| pounds(log_normal(rng, median, sigma, 1.0, 1_000_000.0)))
}

fn keyed(report_id: &str, event: &CyberEvent<'_>) -> KeyedEvent {
    KeyedEvent {
        key: report_id.to_owned(),
        payload: serde_json::to_vec(event)
            .expect("a struct of strings, finite numbers and bools always serialises"),
    }
}
