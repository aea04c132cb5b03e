//! Synthetic residential burglaries with the repeat and near-repeat structure the literature
//! reports, so that repeat-victimisation and near-repeat analytics have something real-shaped
//! to find (police.uk rows carry no victim or address reference, and month-only dates).
//!
//! Model (SYNTHETIC; the parameters are chosen to match the published *shape*, not any force):
//! - [`ADDRESSES_PER_LSOA`] households per LSOA, each with an address reference and a victim
//!   reference, scattered up to 250 m around the LSOA's population-weighted centroid;
//! - LSOAs differ in risk (Pareto weights), so burglary concentrates in some places, as it does;
//! - `per_month` *initial* burglaries a month at addresses drawn by LSOA risk, at night-heavy
//!   hours;
//! - each initial burglary is followed, with probability [`P_REPEAT`], by a **repeat** at the
//!   same address: half within 28 days (exponential, mean 7 days) and half later within a year.
//!   Repeats come soonest after the first (Polvi et al. 1991: about half of repeats within a
//!   month; Farrell & Pease 1993);
//! - and, with probability [`P_NEAR_REPEAT`], by a **near repeat** at one of the other
//!   addresses within 200 m, within 14 days (Bowers & Johnson 2004; Townsley et al. 2003: risk
//!   is raised within about 200 m for about two weeks);
//! - follow-ups do not spawn follow-ups of their own, and ones falling after the last month are
//!   dropped;
//! - every event is a version-1 `recorded` incident (offence 28E, Burglary, dwelling, victim a
//!   person) with a day-and-minute `occurred_at` and `source = "synthetic"`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone};
use chrono_tz::Tz;
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::{
    SOURCE, canonical_places, hours, instant_in_month, later, sort_events, stream_rng, weighted,
};
use crate::time::rfc3339;
use crate::{KeyedEvent, SCHEMA_VERSION};

pub const ADDRESSES_PER_LSOA: usize = 200;
pub const P_REPEAT: f64 = 0.12;
pub const P_NEAR_REPEAT: f64 = 0.20;
const NEAR_REPEAT_RADIUS_M: f64 = 200.0;
const SCATTER_M: f64 = 250.0;
const METRES_PER_DEGREE: f64 = 111_195.0;

/// Burglaries peak in the evening and at night.
const BURGLARY_HOURS: [(u32, u32); 24] = hours([
    6, 5, 4, 3, 2, 2, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 6, 7, 9, 10, 10, 9, 8, 7,
]);

struct Address {
    reference: String,
    victim: String,
    lsoa_code: String,
    lat: f64,
    lon: f64,
}

/// Seeded synthetic residential burglaries over `months` in `places` (`(lsoa, lat, lon)`).
pub fn synthetic_burglaries(
    places: &[(String, f64, f64)],
    months: &[(i32, u32)],
    per_month: usize,
    seed: u64,
) -> Vec<KeyedEvent> {
    let places = canonical_places(places);
    if places.is_empty() || months.is_empty() || per_month == 0 {
        return Vec::new();
    }
    let mut rng = stream_rng("burglary", "addresses", seed);
    let addresses = addresses(&mut rng, &places, seed);
    let risk: Vec<(usize, u32)> = (0..places.len())
        .map(|p| (p, pareto_weight(&mut rng)))
        .collect();
    let neighbours = NearbyAddresses::new(&addresses);
    let end = months
        .iter()
        .filter_map(|&(y, m)| month_end(y, m))
        .max()
        .expect("months are valid");

    let mut events = Vec::new();
    for &(year, month) in months {
        let mut rng = stream_rng("burglary", &format!("{year:04}-{month:02}"), seed);
        for n in 0..per_month {
            let place = *weighted(&mut rng, &risk);
            let home = place * ADDRESSES_PER_LSOA + rng.random_range(0..ADDRESSES_PER_LSOA);
            let Some(at) = instant_in_month(&mut rng, year, month, &BURGLARY_HOURS) else {
                continue;
            };
            let id = format!("syn-bur-{seed}-{year:04}{month:02}-{n:05}");
            events.push(event(&mut rng, &id, &addresses[home], &at));
            if rng.random_bool(P_REPEAT) {
                let days = if rng.random_bool(0.5) {
                    (-7.0 * (1.0 - rng.random::<f64>()).ln()).min(27.9)
                } else {
                    rng.random_range(28.0..365.0)
                };
                let repeat_at = at + Duration::seconds((days * 86_400.0) as i64);
                if repeat_at <= end {
                    events.push(event(
                        &mut rng,
                        &format!("{id}-r"),
                        &addresses[home],
                        &repeat_at,
                    ));
                }
            }
            if rng.random_bool(P_NEAR_REPEAT) {
                let nearby = neighbours.of(home);
                if !nearby.is_empty() {
                    let next_door = nearby[rng.random_range(0..nearby.len())];
                    let near_at = at + Duration::seconds(rng.random_range(3_600..14 * 86_400));
                    if near_at <= end {
                        let address = &addresses[next_door];
                        events.push(event(&mut rng, &format!("{id}-n"), address, &near_at));
                    }
                }
            }
        }
    }
    sort_events(events)
}

fn addresses(rng: &mut StdRng, places: &[(String, f64, f64)], seed: u64) -> Vec<Address> {
    let mut out = Vec::with_capacity(places.len() * ADDRESSES_PER_LSOA);
    for (lsoa_code, lat, lon) in places {
        for _ in 0..ADDRESSES_PER_LSOA {
            let n = out.len();
            let north = rng.random_range(-SCATTER_M..SCATTER_M) / METRES_PER_DEGREE;
            let east = rng.random_range(-SCATTER_M..SCATTER_M)
                / (METRES_PER_DEGREE * lat.to_radians().cos());
            out.push(Address {
                reference: format!("syn-addr-{seed}-{n:06}"),
                victim: format!("syn-vic-{seed}-{n:06}"),
                lsoa_code: lsoa_code.clone(),
                lat: round6(lat + north),
                lon: round6(lon + east),
            });
        }
    }
    out
}

/// A heavy-tailed risk weight (Pareto, α = 1.5, scaled to integers).
fn pareto_weight(rng: &mut StdRng) -> u32 {
    let u: f64 = 1.0 - rng.random::<f64>();
    (10.0 * u.powf(-1.0 / 1.5)).min(1_000.0) as u32
}

/// For each address, the other addresses within [`NEAR_REPEAT_RADIUS_M`] (a grid of that size).
struct NearbyAddresses {
    metres: Vec<(f64, f64)>,
    cells: HashMap<(i64, i64), Vec<usize>>,
}

impl NearbyAddresses {
    fn new(addresses: &[Address]) -> Self {
        let metres: Vec<(f64, f64)> = addresses
            .iter()
            .map(|a| {
                (
                    a.lon * METRES_PER_DEGREE * a.lat.to_radians().cos(),
                    a.lat * METRES_PER_DEGREE,
                )
            })
            .collect();
        let mut cells: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        for (i, &p) in metres.iter().enumerate() {
            cells.entry(cell(p)).or_default().push(i);
        }
        NearbyAddresses { metres, cells }
    }

    fn of(&self, i: usize) -> Vec<usize> {
        let p = self.metres[i];
        let (cx, cy) = cell(p);
        let mut out = Vec::new();
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &j in self.cells.get(&(cx + dx, cy + dy)).into_iter().flatten() {
                    let q = self.metres[j];
                    let d = ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
                    if j != i && d < NEAR_REPEAT_RADIUS_M {
                        out.push(j);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }
}

fn cell((x, y): (f64, f64)) -> (i64, i64) {
    (
        (x / NEAR_REPEAT_RADIUS_M).floor() as i64,
        (y / NEAR_REPEAT_RADIUS_M).floor() as i64,
    )
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn month_end(year: i32, month: u32) -> Option<DateTime<Tz>> {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono_tz::Europe::London
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .earliest()
        .map(|t| t - Duration::seconds(1))
}

#[derive(Serialize)]
struct BurglaryEvent<'a> {
    event_id: String,
    schema_version: u32,
    source: &'static str,
    occurred_at: String,
    reported_at: String,
    incident_id: &'a str,
    version: u32,
    status: &'static str,
    offence_code: &'static str,
    crime_type: &'static str,
    premises_type: &'static str,
    property: &'static str,
    location: Location<'a>,
    victim: Victim<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    lat: f64,
    lon: f64,
    lsoa_code: &'a str,
    address_reference: &'a str,
}

#[derive(Serialize)]
struct Victim<'a> {
    kind: &'static str,
    reference: &'a str,
}

fn event(
    rng: &mut StdRng,
    id: &str,
    address: &Address,
    at: &DateTime<Tz>,
) -> (DateTime<Tz>, u32, KeyedEvent) {
    // Reported minutes to a day later (median 40 minutes): burglary is found and reported fast.
    let reported = later(rng, at, 2_400.0, 1.2, 120.0, 86_400.0);
    let e = BurglaryEvent {
        event_id: format!("{id}:v1"),
        schema_version: SCHEMA_VERSION,
        source: SOURCE,
        occurred_at: rfc3339(at),
        reported_at: rfc3339(&reported),
        incident_id: id,
        version: 1,
        status: "recorded",
        offence_code: "28E",
        crime_type: "Burglary",
        premises_type: "dwelling",
        property: "dwelling",
        location: Location {
            lat: address.lat,
            lon: address.lon,
            lsoa_code: &address.lsoa_code,
            address_reference: &address.reference,
        },
        victim: Victim {
            kind: "person",
            reference: &address.victim,
        },
    };
    let payload = serde_json::to_vec(&e).expect("strings and finite numbers always serialise");
    (
        reported,
        1,
        KeyedEvent {
            key: id.to_owned(),
            payload,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lantern_schemas::{Event, Incident};

    fn places() -> Vec<(String, f64, f64)> {
        (0..30)
            .map(|i| (format!("E0100{i:04}"), 53.7 + i as f64 * 0.002, -2.7))
            .collect()
    }

    #[test]
    fn every_event_validates_and_repeats_are_there() {
        let events = synthetic_burglaries(&places(), &[(2024, 1), (2024, 2)], 200, 9);
        assert!(events.len() > 400, "{}", events.len());
        let mut by_address: HashMap<String, usize> = HashMap::new();
        for e in &events {
            let incident = <Incident as Event>::decode(&e.payload)
                .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&e.payload)));
            let address = incident.location.unwrap().address_reference.unwrap();
            *by_address.entry(address).or_default() += 1;
        }
        assert!(events.iter().any(|e| e.key.ends_with("-r")));
        assert!(events.iter().any(|e| e.key.ends_with("-n")));
        assert!(by_address.values().any(|&n| n >= 2));
        // Same seed, same events.
        let again = synthetic_burglaries(&places(), &[(2024, 1), (2024, 2)], 200, 9);
        assert_eq!(events, again);
    }
}
