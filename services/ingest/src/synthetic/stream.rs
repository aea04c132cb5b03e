//! An endless, seeded **synthetic** stream of all three event kinds, for volume: the benchmark
//! (`lantern bench`), load tests and `lantern gen`.
//!
//! The shape is copied from real data, the contents are not: each incident takes the place and
//! crime type of a police.uk row drawn at random (so the crime-type mix and the spread over
//! places are Lancashire's), then gets a synthetic id, time and version. Business-crime and
//! cybercrime reports are placed at the coordinates / LSOA of such a row. Every event says
//! `"source": "synthetic"` and every id starts with `syn-`.
//!
//! Besides new records the stream carries, at the rates of [`Mix`]:
//! - **revisions**: the next version of a recent record (reclassified; one in ten cancels it);
//! - **duplicates**: a recent event sent again byte for byte (a producer retry);
//! - **late** records: occurred one to six months before the stream's clock;
//! - **invalid** events: half not JSON at all, half JSON that breaks a rule (version 0).
//!
//! Event time advances evenly over `months` from `start` as the stream goes, the way a live feed
//! arrives. Memory is flat: only the last [`RECENT`] records of each kind are remembered (for
//! revisions and duplicates). [`Tally`] counts what was generated, so a consumer can check its
//! totals exactly: the live records of a kind are `new_records - cancelled`.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::business::{INCIDENT_TYPES, SECTORS};
use super::cyber::{CONTACT_CHANNELS, FRAUD_CODES, VICTIM_KINDS};
use super::{SOURCE, stream_rng, weighted};
use crate::SCHEMA_VERSION;

/// Records of each kind remembered for revisions and duplicates.
pub const RECENT: usize = 4096;

/// The three event kinds, named as their pipelines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Incidents,
    BusinessCrime,
    Cybercrime,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Incidents, Kind::BusinessCrime, Kind::Cybercrime];

    /// The pipeline (and NDJSON file stem) of this kind.
    pub fn pipeline(self) -> &'static str {
        match self {
            Kind::Incidents => "incidents",
            Kind::BusinessCrime => "business_crime",
            Kind::Cybercrime => "cybercrime",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Kind::Incidents => "syn-inc-",
            Kind::BusinessCrime => "syn-bcr-",
            Kind::Cybercrime => "syn-cyb-",
        }
    }
}

/// How often each kind of event occurs, as fractions of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    pub business_crime: f64,
    pub cybercrime: f64,
    pub revisions: f64,
    pub duplicates: f64,
    pub late: f64,
    pub invalid: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            business_crime: 0.06,
            cybercrime: 0.04,
            revisions: 0.10,
            duplicates: 0.01,
            late: 0.02,
            invalid: 0.005,
        }
    }
}

/// The real rows whose place and crime type the stream copies.
#[derive(Debug, Clone)]
pub struct Profile {
    rows: Vec<Shape>,
}

#[derive(Debug, Clone)]
struct Shape {
    crime_type: &'static str,
    lsoa_code: Option<String>,
    point: Option<(f64, f64)>,
}

/// The fields of an imported police.uk incident the profile keeps.
#[derive(Deserialize)]
struct ImportedIncident {
    crime_type: String,
    location: Option<ImportedLocation>,
}

#[derive(Deserialize)]
struct ImportedLocation {
    lat: Option<f64>,
    lon: Option<f64>,
    lsoa_code: Option<String>,
}

impl Profile {
    /// The profile of police.uk street-level CSVs (every importable row).
    pub fn from_police_uk(paths: &[std::path::PathBuf]) -> Result<Profile, crate::IngestError> {
        let mut rows = Vec::new();
        for path in paths {
            for event in crate::read_police_uk(path)?.events {
                let row: ImportedIncident = serde_json::from_slice(&event.payload)
                    .expect("the police.uk importer writes incidents with a crime type");
                let Some(&crime_type) = crate::policeuk::POLICE_UK_CRIME_TYPES
                    .iter()
                    .find(|t| **t == row.crime_type)
                else {
                    continue;
                };
                let location = row.location;
                rows.push(Shape {
                    crime_type,
                    lsoa_code: location.as_ref().and_then(|l| l.lsoa_code.clone()),
                    point: location.and_then(|l| Some((l.lat?, l.lon?))),
                });
            }
        }
        Ok(Profile { rows })
    }

    /// The LSOAs the profile's rows name, each once, in order.
    pub fn lsoa_codes(&self) -> std::collections::BTreeSet<&str> {
        self.rows
            .iter()
            .filter_map(|r| r.lsoa_code.as_deref())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One generated event: its kind, Kafka key and JSON payload.
#[derive(Debug, Clone)]
pub struct GeneratedEvent {
    pub kind: Kind,
    pub key: String,
    pub payload: Vec<u8>,
}

/// What was generated, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindTally {
    pub events: u64,
    /// Distinct records (first versions), late ones included.
    pub new_records: u64,
    pub late: u64,
    pub revisions: u64,
    /// Revisions that cancelled (incidents) or withdrew (reports) their record.
    pub cancelled: u64,
    pub duplicates: u64,
    pub invalid: u64,
}

impl KindTally {
    /// Records whose latest version counts in the aggregates.
    pub fn live(&self) -> u64 {
        self.new_records - self.cancelled
    }
}

/// What was generated, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub incidents: KindTally,
    pub business_crime: KindTally,
    pub cybercrime: KindTally,
}

impl Tally {
    pub fn of(&self, kind: Kind) -> &KindTally {
        match kind {
            Kind::Incidents => &self.incidents,
            Kind::BusinessCrime => &self.business_crime,
            Kind::Cybercrime => &self.cybercrime,
        }
    }

    fn of_mut(&mut self, kind: Kind) -> &mut KindTally {
        match kind {
            Kind::Incidents => &mut self.incidents,
            Kind::BusinessCrime => &mut self.business_crime,
            Kind::Cybercrime => &mut self.cybercrime,
        }
    }

    pub fn events(&self) -> u64 {
        Kind::ALL.iter().map(|k| self.of(*k).events).sum()
    }
}

/// A record the stream may revise or repeat.
#[derive(Debug, Clone)]
struct Recent {
    number: u64,
    version: u64,
    shape: usize,
    occurred: DateTime<Utc>,
    /// The latest version's payload, for duplicates.
    payload: Vec<u8>,
}

/// The generator: an iterator of exactly `total` events.
#[derive(Debug)]
pub struct StreamGenerator {
    profile: Profile,
    mix: Mix,
    rng: StdRng,
    start: DateTime<Utc>,
    span: Duration,
    total: u64,
    emitted: u64,
    next_number: u64,
    recent: [Vec<Recent>; 3],
    tally: Tally,
}

/// What the next event will be.
enum Draw {
    New { late: bool },
    Revision,
    Duplicate,
    Invalid,
}

impl StreamGenerator {
    /// `total` events whose event time runs over `months` months from `start` (a month start).
    pub fn new(
        profile: Profile,
        mix: Mix,
        seed: u64,
        start: NaiveDate,
        months: u32,
        total: u64,
    ) -> Self {
        assert!(!profile.is_empty(), "a profile needs at least one row");
        let start = start
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        StreamGenerator {
            profile,
            mix,
            rng: stream_rng("stream", "events", seed),
            start,
            span: Duration::days(i64::from(months.max(1)) * 365 / 12),
            total,
            emitted: 0,
            next_number: 0,
            recent: [Vec::new(), Vec::new(), Vec::new()],
            tally: Tally::default(),
        }
    }

    /// What has been generated so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The stream's clock: event time advances evenly with the count of events emitted.
    fn clock(&self) -> DateTime<Utc> {
        let fraction = self.emitted as f64 / self.total.max(1) as f64;
        self.start + Duration::seconds((self.span.num_seconds() as f64 * fraction) as i64)
    }

    fn draw_kind(&mut self) -> Kind {
        let x: f64 = self.rng.random();
        if x < self.mix.business_crime {
            Kind::BusinessCrime
        } else if x < self.mix.business_crime + self.mix.cybercrime {
            Kind::Cybercrime
        } else {
            Kind::Incidents
        }
    }

    fn draw(&mut self, kind: Kind) -> Draw {
        let m = self.mix;
        let x: f64 = self.rng.random();
        let has_recent = !self.recent[kind.index()].is_empty();
        if x < m.invalid {
            Draw::Invalid
        } else if has_recent && x < m.invalid + m.duplicates {
            Draw::Duplicate
        } else if has_recent && x < m.invalid + m.duplicates + m.revisions {
            Draw::Revision
        } else {
            Draw::New {
                late: x > 1.0 - m.late,
            }
        }
    }

    fn new_record(&mut self, kind: Kind, late: bool) -> GeneratedEvent {
        let number = self.next_number;
        self.next_number += 1;
        let clock = self.clock();
        let occurred = if late {
            let days_back = self.rng.random_range(30..=180);
            (clock - Duration::days(days_back)).max(self.start)
        } else {
            clock - Duration::minutes(self.rng.random_range(0..=720))
        };
        let shape = self.rng.random_range(0..self.profile.rows.len());
        let record = Recent {
            number,
            version: 1,
            shape,
            occurred,
            payload: Vec::new(),
        };
        let tally = self.tally.of_mut(kind);
        tally.new_records += 1;
        tally.late += u64::from(late);
        self.emit(kind, record, false)
    }

    fn revision(&mut self, kind: Kind) -> GeneratedEvent {
        let recent = &mut self.recent[kind.index()];
        let at = self.rng.random_range(0..recent.len());
        let mut record = recent.swap_remove(at);
        record.version += 1;
        // Reclassified: the place and crime type (or report details) are drawn again.
        let shape = self.rng.random_range(0..self.profile.rows.len());
        record.shape = shape;
        let cancel = self.rng.random_ratio(1, 10);
        let tally = self.tally.of_mut(kind);
        tally.revisions += 1;
        tally.cancelled += u64::from(cancel);
        self.emit(kind, record, cancel)
    }

    fn duplicate(&mut self, kind: Kind) -> GeneratedEvent {
        let recent = &self.recent[kind.index()];
        let record = &recent[self.rng.random_range(0..recent.len())];
        self.tally.of_mut(kind).duplicates += 1;
        GeneratedEvent {
            kind,
            key: record_id(kind, record.number),
            payload: record.payload.clone(),
        }
    }

    fn invalid(&mut self, kind: Kind) -> GeneratedEvent {
        let number = self.next_number;
        self.next_number += 1;
        self.tally.of_mut(kind).invalid += 1;
        let key = record_id(kind, number);
        let payload = if self.rng.random_bool(0.5) {
            // Cut short, as a producer that crashed mid-write would leave it.
            format!("{{\"event_id\":\"{key}:1\",\"schema_version\":1,\"source\":\"synth")
                .into_bytes()
        } else {
            let record = Recent {
                number,
                version: 0,
                shape: 0,
                occurred: self.clock(),
                payload: Vec::new(),
            };
            self.payload(kind, &record, false)
        };
        GeneratedEvent { kind, key, payload }
    }

    /// Encodes `record` at its version, remembers it (unless cancelled) and returns the event.
    fn emit(&mut self, kind: Kind, mut record: Recent, cancel: bool) -> GeneratedEvent {
        let payload = self.payload(kind, &record, cancel);
        let key = record_id(kind, record.number);
        if !cancel {
            record.payload = payload.clone();
            let recent = &mut self.recent[kind.index()];
            if recent.len() == RECENT {
                let at = self.rng.random_range(0..RECENT);
                recent[at] = record;
            } else {
                recent.push(record);
            }
        }
        GeneratedEvent { kind, key, payload }
    }

    fn payload(&mut self, kind: Kind, record: &Recent, cancel: bool) -> Vec<u8> {
        let id = record_id(kind, record.number);
        let shape = &self.profile.rows[record.shape];
        let reported = self.clock().max(record.occurred);
        let mut json = String::with_capacity(400);
        let _ = write!(
            json,
            "{{\"event_id\":\"{id}:{v}\",\"schema_version\":{SCHEMA_VERSION},\"source\":\"{SOURCE}\",\
             \"occurred_at\":\"{o}\",\"reported_at\":\"{r}\",\"version\":{v},",
            v = record.version,
            o = record.occurred.format("%Y-%m-%dT%H:%M:%SZ"),
            r = reported.format("%Y-%m-%dT%H:%M:%SZ"),
        );
        match kind {
            Kind::Incidents => {
                let status = if cancel { "cancelled" } else { "recorded" };
                let _ = write!(
                    json,
                    "\"incident_id\":\"{id}\",\"status\":\"{status}\",\"crime_type\":\"{}\",\"location\":{{",
                    shape.crime_type
                );
                place(&mut json, shape, true);
                json.push_str("}}");
            }
            Kind::BusinessCrime => {
                let status = report_status(cancel, record.version);
                let sector = *weighted(&mut self.rng, &SECTORS);
                let incident_type = *weighted(&mut self.rng, &INCIDENT_TYPES);
                let loss = self.rng.random_range(0..50_000) as f64 / 100.0;
                let business = record.number % 5_000;
                let _ = write!(
                    json,
                    "\"report_id\":\"{id}\",\"status\":\"{status}\",\"business_ref\":\"syn-biz-{business}\",\
                     \"sector\":\"{sector}\",\"incident_type\":\"{incident_type}\",\"loss_value\":{loss},\
                     \"reported_to_police\":{},\"premises\":{{",
                    self.rng.random_bool(0.6)
                );
                place(&mut json, shape, true);
                json.push_str("}}");
            }
            Kind::Cybercrime => {
                let status = report_status(cancel, record.version);
                let code = *weighted(&mut self.rng, &FRAUD_CODES);
                let victim = *weighted(&mut self.rng, &VICTIM_KINDS);
                let channel = *weighted(&mut self.rng, &CONTACT_CHANNELS);
                let loss = self.rng.random_range(0..200_000) as f64 / 100.0;
                let _ = write!(
                    json,
                    "\"report_id\":\"{id}\",\"status\":\"{status}\",\"fraud_code\":\"{code}\",\
                     \"victim_kind\":\"{victim}\",\"contact_channel\":\"{channel}\",\"loss_value\":{loss},\
                     \"victim_place\":{{"
                );
                // A victim's place is never a point: the LSOA only.
                place(&mut json, shape, false);
                json.push_str("}}");
            }
        }
        json.into_bytes()
    }
}

/// A report's status: withdrawn when cancelled, else reported at version 1 and updated after.
fn report_status(cancel: bool, version: u64) -> &'static str {
    match (cancel, version) {
        (true, _) => "withdrawn",
        (false, 1) => "reported",
        (false, _) => "updated",
    }
}

/// Writes the members of a location object: the LSOA, and the point when `point` is allowed.
fn place(json: &mut String, shape: &Shape, point: bool) {
    let mut members = Vec::with_capacity(3);
    if let Some(code) = &shape.lsoa_code {
        members.push(format!("\"lsoa_code\":\"{code}\""));
    }
    if point && let Some((lat, lon)) = shape.point {
        members.push(format!("\"lat\":{lat},\"lon\":{lon}"));
    }
    json.push_str(&members.join(","));
}

/// The record id (and Kafka key) of record `number` of `kind`.
pub fn record_id(kind: Kind, number: u64) -> String {
    format!("{}{number:010}", kind.id_prefix())
}

impl Iterator for StreamGenerator {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        if self.emitted >= self.total {
            return None;
        }
        let kind = self.draw_kind();
        let event = match self.draw(kind) {
            Draw::New { late } => self.new_record(kind, late),
            Draw::Revision => self.revision(kind),
            Draw::Duplicate => self.duplicate(kind),
            Draw::Invalid => self.invalid(kind),
        };
        self.tally.of_mut(kind).events += 1;
        self.emitted += 1;
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lantern_schemas::{BusinessCrime, CybercrimeReport, Event, Incident};

    fn profile() -> Profile {
        let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/sample/policeuk/2022-09-lancashire-street.csv");
        Profile::from_police_uk(&[sample]).unwrap()
    }

    fn generator(seed: u64, total: u64) -> StreamGenerator {
        let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
        StreamGenerator::new(profile(), Mix::default(), seed, start, 24, total)
    }

    fn decodes(event: &GeneratedEvent) -> bool {
        let bytes = &event.payload;
        match event.kind {
            Kind::Incidents => Incident::decode(bytes).is_ok(),
            Kind::BusinessCrime => BusinessCrime::decode(bytes).is_ok(),
            Kind::Cybercrime => CybercrimeReport::decode(bytes).is_ok(),
        }
    }

    #[test]
    fn same_seed_same_stream_and_the_tally_adds_up() {
        let a: Vec<_> = generator(7, 20_000).map(|e| e.payload).collect();
        let b: Vec<_> = generator(7, 20_000).map(|e| e.payload).collect();
        assert_eq!(a, b);
        let c: Vec<_> = generator(8, 20_000).map(|e| e.payload).collect();
        assert_ne!(a, c);

        let mut g = generator(7, 20_000);
        let events: Vec<_> = g.by_ref().collect();
        let tally = *g.tally();
        assert_eq!(tally.events(), 20_000);
        let invalid = events.iter().filter(|e| !decodes(e)).count() as u64;
        let expected: u64 = Kind::ALL.iter().map(|k| tally.of(*k).invalid).sum();
        assert_eq!(
            invalid, expected,
            "exactly the invalid events fail to decode"
        );
        let t = tally.incidents;
        let share = |n: u64| n as f64 / t.events as f64;
        assert!((0.08..0.12).contains(&share(t.revisions)), "{t:?}");
        assert!((0.005..0.02).contains(&share(t.duplicates)), "{t:?}");
        assert!((0.01..0.03).contains(&share(t.late)), "{t:?}");
        assert!((0.002..0.01).contains(&share(t.invalid)), "{t:?}");
        assert!(tally.business_crime.events > 800 && tally.cybercrime.events > 500);
    }

    #[test]
    fn versions_of_a_record_share_its_key_and_rise_by_one() {
        let mut latest: std::collections::HashMap<String, u64> = Default::default();
        for event in generator(3, 20_000).filter(decodes) {
            let value: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
            let id = value
                .get("incident_id")
                .or_else(|| value.get("report_id"))
                .and_then(|v| v.as_str())
                .unwrap();
            assert_eq!(id, event.key);
            let version = value["version"].as_u64().unwrap();
            let held = latest.entry(event.key.clone()).or_insert(0);
            // A duplicate repeats the held version; anything else is the next one.
            assert!(
                version == *held || version == *held + 1,
                "{id}: {version} after {held}"
            );
            *held = version;
        }
    }
}
