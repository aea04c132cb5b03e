//! Facts: one enriched row per record (its latest version), the unit of state and of
//! aggregation. Each event kind has its fact type; they share the record metadata ([`Meta`]) and
//! place ([`PlaceCols`]) columns, written and read by the helpers in [`columns`].

pub mod business_crime;
pub mod columns;
pub mod cybercrime;
pub mod incident;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use lantern_enrich::Place;
use lantern_schemas::Event;

use crate::time::{MonthLabels, london_day};
use columns::{BatchReader, ColumnsBuilder};

/// A row of a facts table.
pub trait Fact: Clone + Send + Sync + Sized + 'static {
    /// The status that cancels a record (incidents: `cancelled`, "no-crimed" under the Home
    /// Office Counting Rules; reports: `withdrawn`). It is kept as a tombstone and not counted.
    const TOMBSTONE: &'static str;
    /// The only status that may follow a tombstone: the record recorded again (reinstated).
    const REINSTATES: &'static str;

    fn meta(&self) -> &Meta;
    fn is_tombstone(&self) -> bool {
        self.meta().status == Self::TOMBSTONE
    }
    fn record_id(&self) -> &Arc<str> {
        &self.meta().record_id
    }
    fn version(&self) -> u64 {
        self.meta().version
    }
    fn month(&self) -> &Arc<str> {
        &self.meta().month
    }
    /// The place columns, whose status says whether enrichment placed the record.
    fn place(&self) -> &PlaceCols;
    /// The classification enrichment could not resolve, if any: the `dimension` label of
    /// `lantern_stream_enrichment_misses_total` (its reason is `unknown`).
    fn classification_miss(&self) -> Option<&'static str> {
        None
    }
    /// Every enrichment miss of this fact, as indexes into [`MISSES`].
    fn misses(&self) -> impl Iterator<Item = usize> {
        let place = MISSES.iter().position(|&(dimension, reason)| {
            dimension == PLACE && reason == self.place().place_status
        });
        let class = self
            .classification_miss()
            .and_then(|d| MISSES.iter().position(|&(dimension, _)| dimension == d));
        place.into_iter().chain(class)
    }
    /// Arrow columns for `facts`; with no facts, an empty batch that still carries the schema.
    fn to_batch(facts: &[&Self]) -> Result<RecordBatch, ArrowError>;
    /// The inverse of [`Fact::to_batch`], used to restore state on start-up.
    fn from_batch(batch: &RecordBatch, months: &mut MonthLabels) -> Result<Vec<Self>, String>;

    fn schema() -> SchemaRef {
        Self::to_batch(&[])
            .expect("an empty facts batch always builds")
            .schema()
    }
}

/// Columns every fact has: identity, version, lifecycle status and event time.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub record_id: Arc<str>,
    pub version: u64,
    pub event_id: String,
    pub status: &'static str,
    pub source: String,
    /// Event time in microseconds since the epoch (UTC): the start of `occurred_at`.
    pub occurred_at_us: i64,
    /// Event-time day in Europe/London (days since 1970-01-01).
    pub day: i32,
    /// Event-time month in Europe/London, 'YYYY-MM'.
    pub month: Arc<str>,
    pub reported_at_us: i64,
}

impl Meta {
    /// The metadata of an event's record: identity, version, status and event-time windows.
    pub fn of<E: Event>(event: &E, months: &mut MonthLabels) -> Self {
        let occurred = event.event_time();
        Meta {
            record_id: Arc::from(event.record_id()),
            version: event.version(),
            event_id: event.event_id().to_string(),
            status: event.status(),
            source: event.source().to_string(),
            occurred_at_us: occurred.timestamp_micros(),
            day: london_day(occurred),
            month: months.month_of(occurred),
            reported_at_us: event.reported_at().timestamp_micros(),
        }
    }

    fn write(facts: &[&Meta], cols: &mut ColumnsBuilder) {
        cols.utf8(
            "record_id",
            false,
            facts.iter().map(|m| Some(&*m.record_id)),
        );
        cols.u64("version", facts.iter().map(|m| m.version));
        cols.utf8(
            "event_id",
            false,
            facts.iter().map(|m| Some(m.event_id.as_str())),
        );
        cols.utf8("status", false, facts.iter().map(|m| Some(m.status)));
        cols.utf8(
            "source",
            false,
            facts.iter().map(|m| Some(m.source.as_str())),
        );
        cols.timestamp_us("occurred_at", facts.iter().map(|m| m.occurred_at_us));
        cols.date32("day", facts.iter().map(|m| m.day));
        cols.utf8("month", false, facts.iter().map(|m| Some(&*m.month)));
        cols.timestamp_us("reported_at", facts.iter().map(|m| m.reported_at_us));
    }

    fn read(
        r: &BatchReader,
        row: usize,
        statuses: &[&'static str],
        months: &mut MonthLabels,
    ) -> Result<Meta, String> {
        let status = r.str("status", row)?.unwrap_or_default();
        let status = statuses
            .iter()
            .copied()
            .find(|s| *s == status)
            .ok_or_else(|| format!("unknown status {status:?}"))?;
        Ok(Meta {
            record_id: Arc::from(r.str("record_id", row)?.unwrap_or_default()),
            version: r.u64("version", row)?,
            event_id: r.str("event_id", row)?.unwrap_or_default().to_string(),
            status,
            source: r.str("source", row)?.unwrap_or_default().to_string(),
            occurred_at_us: r.timestamp_us("occurred_at", row)?,
            day: r.date32("day", row)?,
            month: months.intern(r.str("month", row)?.unwrap_or_default())?,
            reported_at_us: r.timestamp_us("reported_at", row)?,
        })
    }
}

/// Where a record was placed, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceCols {
    pub lsoa_code: Option<Arc<str>>,
    pub msoa_code: Option<Arc<str>>,
    pub ward_code: Option<Arc<str>>,
    pub lad_code: Option<Arc<str>>,
    pub csp_code: Option<Arc<str>>,
    pub force_area_code: Option<Arc<str>>,
    pub in_force_area: bool,
    pub place_status: &'static str,
    pub place_method: &'static str,
}

/// The `dimension` label of a place miss.
const PLACE: &str = "place";

/// What enrichment can fail to resolve, as the (`dimension`, `reason`) labels of
/// `lantern_stream_enrichment_misses_total` (docs/metrics.md). A miss never drops a record: it
/// is counted under its status, and the metric shows how many records that is.
pub const MISSES: [(&str, &str); 6] = [
    (PLACE, "no_location"),
    (PLACE, "unknown_lsoa"),
    (PLACE, "unplaced"),
    (PLACE, "postcode_district_only"),
    ("property_type", "unknown"),
    ("nfib_group", "unknown"),
];

const PLACE_STATUSES: [&str; 6] = [
    "in_force",
    "outside_force",
    "no_location",
    "unknown_lsoa",
    "unplaced",
    "postcode_district_only",
];
const PLACE_METHODS: [&str; 4] = ["lsoa_code", "point_in_polygon", "nearest_centroid", "none"];

impl From<Place> for PlaceCols {
    fn from(p: Place) -> Self {
        PlaceCols {
            lsoa_code: p.lsoa_code,
            msoa_code: p.msoa_code,
            ward_code: p.ward_code,
            lad_code: p.lad_code,
            csp_code: p.csp_code,
            force_area_code: p.force_area_code,
            in_force_area: p.in_force_area,
            place_status: p.status.as_str(),
            place_method: p.method.as_str(),
        }
    }
}

impl PlaceCols {
    fn write(facts: &[&PlaceCols], cols: &mut ColumnsBuilder) {
        cols.utf8(
            "lsoa_code",
            true,
            facts.iter().map(|p| p.lsoa_code.as_deref()),
        );
        cols.utf8(
            "msoa_code",
            true,
            facts.iter().map(|p| p.msoa_code.as_deref()),
        );
        cols.utf8(
            "ward_code",
            true,
            facts.iter().map(|p| p.ward_code.as_deref()),
        );
        cols.utf8(
            "lad_code",
            true,
            facts.iter().map(|p| p.lad_code.as_deref()),
        );
        cols.utf8(
            "csp_code",
            true,
            facts.iter().map(|p| p.csp_code.as_deref()),
        );
        cols.utf8(
            "force_area_code",
            true,
            facts.iter().map(|p| p.force_area_code.as_deref()),
        );
        cols.bool("in_force_area", facts.iter().map(|p| p.in_force_area));
        cols.utf8(
            "place_status",
            false,
            facts.iter().map(|p| Some(p.place_status)),
        );
        cols.utf8(
            "place_method",
            false,
            facts.iter().map(|p| Some(p.place_method)),
        );
    }

    fn read(r: &BatchReader, row: usize) -> Result<PlaceCols, String> {
        let pick = |name: &str, known: &[&'static str]| -> Result<&'static str, String> {
            let value = r.str(name, row)?.unwrap_or_default();
            known
                .iter()
                .copied()
                .find(|k| *k == value)
                .ok_or_else(|| format!("unknown {name} {value:?}"))
        };
        Ok(PlaceCols {
            lsoa_code: r.arc("lsoa_code", row)?,
            msoa_code: r.arc("msoa_code", row)?,
            ward_code: r.arc("ward_code", row)?,
            lad_code: r.arc("lad_code", row)?,
            csp_code: r.arc("csp_code", row)?,
            force_area_code: r.arc("force_area_code", row)?,
            in_force_area: r.bool("in_force_area", row)?,
            place_status: pick("place_status", &PLACE_STATUSES)?,
            place_method: pick("place_method", &PLACE_METHODS)?,
        })
    }
}
