//! `lantern-ingest`: turns source data into keyed JSON events ready for Kafka.
//!
//! This crate is deliberately free of Kafka and of the other workspace crates: it produces
//! [`KeyedEvent`]s (a Kafka key plus a JSON payload) and the CLI does the producing.
//!
//! Map of the crate:
//! - [`policeuk`]: importer for police.uk street-level CSVs ([`read_police_uk`]); one
//!   `incident` event per published row, with a stable identity so a re-import is byte-identical.
//! - [`synthetic`]: seeded generators for `business-crime` and `cybercrime-report` events
//!   ([`synthetic_business_crime`], [`synthetic_cybercrime`]). Every event they emit carries
//!   `"source": "synthetic"`: they are invented data for demos and tests, never real reports.
//! - [`time`]: Europe/London calendar arithmetic shared by both (month ranges, RFC 3339 output).
//! - [`error`]: the crate's error type.
//! - `lines` (private): correct line numbers for CRLF CSV records.
//!
//! The identity and time decisions are documented in `services/ingest/README.md`.

pub mod error;
mod lines;
pub mod policeuk;
pub mod synthetic;
pub mod time;

pub use error::IngestError;
pub use policeuk::{
    POLICE_UK_CRIME_TYPES, POLICE_UK_HEADER, PoliceUkImport, RejectedRow, read_police_uk,
    read_police_uk_from_reader,
};
pub use synthetic::{synthetic_burglaries, synthetic_business_crime, synthetic_cybercrime};

/// One event ready to produce: the Kafka record key and the JSON-encoded value.
///
/// The key is the record identity (`incident_id` or `report_id`), so every version of one record
/// lands on the same partition and is seen in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedEvent {
    /// Kafka record key (UTF-8).
    pub key: String,
    /// Kafka record value: one JSON object, UTF-8, no trailing newline.
    pub payload: Vec<u8>,
}

/// Schema version written into every event this crate emits (`schema_version`).
pub const SCHEMA_VERSION: u32 = 1;
