//! Lantern's versioned event contracts and their fast Rust decoder.
//!
//! The JSON Schema files next to this crate (`<kind>/v1.schema.json`) are the
//! contract shared with producers. This crate decodes the same contract for
//! the stream processor *without* a JSON Schema engine at run time: serde
//! checks the shape in one pass (`deny_unknown_fields`, typed fields), then a
//! hand-written `validate()` checks the constraints serde cannot (ranges,
//! patterns, lengths, cross-field rules). `tests/conformance.rs` runs every
//! example file through both the schema and this decoder and requires them to
//! agree, which is what lets the two be trusted as one contract.
//!
//! Map of the crate:
//! - [`Event`]: the trait the processor is generic over (`decode`, ids,
//!   event time); implemented by [`Incident`], [`BusinessCrime`],
//!   [`CybercrimeReport`].
//! - `incident`, `business_crime`, `cybercrime`: one module per event kind:
//!   the struct, its closed value lists, its `validate()`.
//! - `common`: types shared across kinds ([`Location`], [`Victim`],
//!   [`Flags`], statuses, [`VictimPlace`]) and the envelope checks.
//! - `time`: strict RFC 3339 parsing and [`OccurredAt`] (instant or range).
//! - `check`: one tiny function per schema keyword (length, range, the
//!   patterns hand-rolled without a regex engine).
//! - `de`: serde helpers that make serde agree with the schemas (reject
//!   `null` where not nullable, accept `2.0` as an integer).
//! - `error`: [`SchemaError`] and [`Stage`] (decode vs validate), with the
//!   failing field as a JSON pointer.
//! - [`schema_text`]: the schema files themselves, compiled in.
//!
//! Outside `src/`: `tests/conformance.rs` (schema vs decoder, examples and
//! mutations of them) and `benches/decode.rs` (decode throughput, run with
//! `cargo bench -p lantern-schemas`).

mod business_crime;
mod check;
mod common;
mod cybercrime;
mod de;
mod error;
mod incident;
mod time;

pub use chrono::{DateTime, Utc};

pub use business_crime::{BusinessCrime, INCIDENT_TYPES};
pub use common::{Flags, IncidentStatus, Location, ReportStatus, Victim, VictimKind, VictimPlace};
pub use cybercrime::{CONTACT_CHANNELS, CybercrimeReport};
pub use error::{SchemaError, Stage};
pub use incident::{ASB_CATEGORIES, CRIME_TYPES, Incident, PROPERTY_KINDS};
pub use time::OccurredAt;

/// One decodable event kind (one schema, one topic).
pub trait Event: Sized {
    /// `"incident"`, `"business-crime"` or `"cybercrime-report"`: the schema
    /// directory name and the key for [`schema_text`].
    const KIND: &'static str;

    /// Decode and validate one message. Every failure is a [`SchemaError`];
    /// this never panics on any input.
    fn decode(bytes: &[u8]) -> Result<Self, SchemaError>;

    /// Unique per event (lineage, de-duplication).
    fn event_id(&self) -> &str;

    /// Stable id of the record this event is a version of.
    fn record_id(&self) -> &str;

    /// Revision number of the record; later revisions are larger.
    fn version(&self) -> u64;

    /// Time used for windowing: `occurred_at`, or the start of its range.
    fn event_time(&self) -> DateTime<Utc>;

    /// When the event was reported (processing metadata; never used for windows).
    fn reported_at(&self) -> DateTime<Utc>;

    /// The producing system.
    fn source(&self) -> &str;

    /// Lifecycle status of this version, as in the schema (`"recorded"`, `"cancelled"`,
    /// `"withdrawn"`, ...).
    fn status(&self) -> &'static str;
}

/// Upper bound of `loss_value` (GBP). Far above any real loss; it keeps the aggregates' exact
/// `DECIMAL(18, 2)` sums from overflowing, so one absurd value cannot stall a pipeline.
pub const MAX_LOSS_GBP: f64 = 1e12;

/// Every event kind this crate knows, as used by [`Event::KIND`].
pub const KINDS: [&str; 3] = [Incident::KIND, BusinessCrime::KIND, CybercrimeReport::KIND];

/// The text of the current (v1) JSON Schema for `kind`, or `None` for an
/// unknown kind. Compiled in so a running service can publish exactly the
/// contract it enforces.
pub fn schema_text(kind: &str) -> Option<&'static str> {
    match kind {
        Incident::KIND => Some(include_str!("../incident/v1.schema.json")),
        BusinessCrime::KIND => Some(include_str!("../business-crime/v1.schema.json")),
        CybercrimeReport::KIND => Some(include_str!("../cybercrime-report/v1.schema.json")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_text_is_known_kinds_only() {
        for kind in KINDS {
            let text = schema_text(kind).expect("known kind");
            let schema: serde_json::Value = serde_json::from_str(text).expect("schema is JSON");
            let id = schema["$id"].as_str().expect("$id");
            assert_eq!(
                id,
                format!("https://lantern.invalid/schemas/{kind}/v1.schema.json")
            );
        }
        assert_eq!(schema_text("incidents"), None);
        assert_eq!(schema_text(""), None);
    }
}
