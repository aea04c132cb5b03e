//! police.uk street-level CSV importer.
//!
//! Each data row of a `YYYY-MM-<force>-street.csv` becomes exactly one `incident` event (JSON),
//! keyed by its `incident_id`. The identity rules (see `services/ingest/README.md`) make every
//! published row count once *and* make a re-import of the same file byte-identical, so the
//! stream processor can de-duplicate on `event_id`:
//!
//! - crime row: `policeuk:{Month}:{Crime ID}:{n}`, `n` = 0-based occurrence of that Crime ID
//!   in that month, in file order (police.uk repeats a few Crime IDs within a month);
//! - row without a Crime ID (ASB): `policeuk:{Month}:asb:{h}:{n}`, `h` = first 16 hex chars of
//!   SHA-256 of the raw row (fields joined with `\x1f`), `n` = 0-based occurrence of that
//!   identical row in the file (police.uk publishes many identical ASB rows: different incidents
//!   snapped to the same map point).
//!
//! A bad row (wrong column count, bad `Month`, bad coordinates, unknown `Crime type`, ...) is
//! returned in [`PoliceUkImport::rejected`] with its line number and the reason; the rest of the
//! file still imports. Only an unreadable file or a wrong header is an [`IngestError`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::IngestError;
use crate::lines::LineTracker;
use crate::time::{MonthRange, month_range, parse_month, rfc3339};
use crate::{KeyedEvent, SCHEMA_VERSION};

/// The police.uk street-level header, in order.
pub const POLICE_UK_HEADER: [&str; 12] = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
];

/// The 14 police.uk crime categories (street-level `Crime type` values): the incident
/// schema's list, so the importer can never accept a type the processor would dead-letter.
pub use lantern_schemas::CRIME_TYPES as POLICE_UK_CRIME_TYPES;

/// Value of `source` in every event from this importer.
pub const SOURCE: &str = "police.uk";

/// Free-text fields (`Location`, `Last outcome category`) are cut to this many characters.
pub const TEXT_CAP_CHARS: usize = 200;

// Column indexes (0-based) into POLICE_UK_HEADER.
const COL_CRIME_ID: usize = 0;
const COL_MONTH: usize = 1;
const COL_LON: usize = 4;
const COL_LAT: usize = 5;
const COL_LOCATION: usize = 6;
const COL_LSOA: usize = 7;
const COL_CRIME_TYPE: usize = 9;
const COL_OUTCOME: usize = 10;

/// Result of importing one street-level CSV.
#[derive(Debug, Clone, Default)]
pub struct PoliceUkImport {
    /// One event per accepted row, in file order.
    pub events: Vec<KeyedEvent>,
    /// Data rows read (header excluded), accepted or rejected: `events.len() + rejected.len()`.
    pub rows: usize,
    /// Rows that could not be turned into an event, with why.
    pub rejected: Vec<RejectedRow>,
}

/// A data row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// 1-based line number in the file where the row starts (the header is line 1).
    pub line: u64,
    /// `{path}:{line}: column {n} ({name}): {problem}` (or without the column part when the
    /// problem is the row as a whole).
    pub reason: String,
}

/// Import a police.uk street-level CSV file.
pub fn read_police_uk(path: &Path) -> Result<PoliceUkImport, IngestError> {
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_police_uk_from_reader(BufReader::new(file), path)
}

/// Import police.uk street-level CSV from any reader; `origin` names it in messages.
pub fn read_police_uk_from_reader<R: Read>(
    reader: R,
    origin: &Path,
) -> Result<PoliceUkImport, IngestError> {
    // `flexible` so a short or long row is reported as a rejected row, not a reader error; the
    // csv crate's default terminator accepts CRLF (police.uk) as well as LF.
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineTracker::new(reader));
    let origin_str = origin.display().to_string();
    let mut record = csv::ByteRecord::new();

    if !read_record(&mut rdr, &mut record, origin)? {
        return Err(IngestError::BadHeader {
            path: origin.to_path_buf(),
            detail: "the file is empty".into(),
        });
    }
    check_header(&record).map_err(|detail| IngestError::BadHeader {
        path: origin.to_path_buf(),
        detail,
    })?;

    let mut out = PoliceUkImport::default();
    let mut state = ImportState::default();
    while read_record(&mut rdr, &mut record, origin)? {
        let line = record
            .position()
            .map_or(0, |p| rdr.get_ref().line_of(p.byte()));
        out.rows += 1;
        match state.convert(&record) {
            Ok(event) => out.events.push(event),
            Err(problem) => out.rejected.push(RejectedRow {
                line,
                reason: format!("{origin_str}:{line}: {problem}"),
            }),
        }
    }
    Ok(out)
}

fn read_record<R: Read>(
    rdr: &mut csv::Reader<LineTracker<R>>,
    record: &mut csv::ByteRecord,
    origin: &Path,
) -> Result<bool, IngestError> {
    rdr.read_byte_record(record)
        .map_err(|source| IngestError::Csv {
            path: origin.to_path_buf(),
            line: source
                .position()
                .map_or(0, |p| rdr.get_ref().line_of(p.byte())),
            source,
        })
}

fn check_header(record: &csv::ByteRecord) -> Result<(), String> {
    if record.len() != POLICE_UK_HEADER.len() {
        return Err(format!(
            "expected {} columns, found {}",
            POLICE_UK_HEADER.len(),
            record.len()
        ));
    }
    for (i, (raw, want)) in record.iter().zip(POLICE_UK_HEADER).enumerate() {
        let got = String::from_utf8_lossy(raw);
        // Tolerate a UTF-8 byte-order mark and stray spaces; police.uk files have neither.
        let got = got.trim_start_matches('\u{feff}').trim();
        if got != want {
            return Err(format!(
                "column {}: expected `{want}`, found `{got}`",
                i + 1
            ));
        }
    }
    Ok(())
}

/// Per-file state: occurrence counters (for identity) and a cache of month ranges.
#[derive(Default)]
struct ImportState {
    /// Occurrences seen so far per identity prefix (`policeuk:{Month}:{Crime ID}` or
    /// `policeuk:{Month}:asb:{h}`). Keying by the prefix rather than the full row means even a
    /// collision of the truncated hash still yields distinct ids.
    seen: HashMap<String, u32>,
    months: HashMap<(i32, u32), (String, MonthRange)>,
}

/// A problem with one row: the message after `{path}:{line}: `.
type RowProblem = String;

fn column_problem(col: usize, problem: impl std::fmt::Display) -> RowProblem {
    format!("column {} ({}): {problem}", col + 1, POLICE_UK_HEADER[col])
}

impl ImportState {
    fn convert(&mut self, record: &csv::ByteRecord) -> Result<KeyedEvent, RowProblem> {
        if record.len() != POLICE_UK_HEADER.len() {
            return Err(format!(
                "expected {} columns, found {}",
                POLICE_UK_HEADER.len(),
                record.len()
            ));
        }
        let mut fields: Vec<&str> = Vec::with_capacity(record.len());
        for (i, raw) in record.iter().enumerate() {
            let s = std::str::from_utf8(raw).map_err(|_| column_problem(i, "not valid UTF-8"))?;
            fields.push(s);
        }

        let month_raw = fields[COL_MONTH].trim();
        let (year, month) = parse_month(month_raw).ok_or_else(|| {
            column_problem(COL_MONTH, format!("expected YYYY-MM, found {month_raw:?}"))
        })?;
        let (month_label, range) = match self.months.get(&(year, month)) {
            Some(m) => m.clone(),
            None => {
                let range = month_range(year, month).ok_or_else(|| {
                    column_problem(COL_MONTH, format!("no such month {month_raw:?}"))
                })?;
                let m = (format!("{year:04}-{month:02}"), range);
                self.months.insert((year, month), m.clone());
                m
            }
        };

        let crime_id = fields[COL_CRIME_ID].trim();
        if crime_id
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(column_problem(
                COL_CRIME_ID,
                format!("contains ':', whitespace or a control character: {crime_id:?}"),
            ));
        }
        let crime_type = fields[COL_CRIME_TYPE].trim();

        // Identity is assigned before the remaining checks, so a rejected row still uses up its
        // occurrence index: correcting that row later does not renumber its siblings.
        let prefix = identity_prefix(&month_label, crime_id, crime_type, record);
        let counter = self.seen.entry(prefix.clone()).or_insert(0);
        let n = *counter;
        *counter += 1;
        let incident_id = format!("{prefix}:{n}");

        if !POLICE_UK_CRIME_TYPES.contains(&crime_type) {
            return Err(column_problem(
                COL_CRIME_TYPE,
                format!("unknown police.uk crime type {crime_type:?}"),
            ));
        }
        let lon = parse_coord(fields[COL_LON], COL_LON, 180.0)?;
        let lat = parse_coord(fields[COL_LAT], COL_LAT, 90.0)?;
        let (lat, lon) = match (lat, lon) {
            (Some(lat), Some(lon)) => (Some(lat), Some(lon)),
            (None, None) => (None, None),
            (Some(_), None) => {
                return Err(column_problem(COL_LON, "empty while Latitude is present"));
            }
            (None, Some(_)) => {
                return Err(column_problem(COL_LAT, "empty while Longitude is present"));
            }
        };
        let lsoa = non_empty(fields[COL_LSOA]);
        if let Some(code) = lsoa
            && !is_lsoa_code(code)
        {
            return Err(column_problem(
                COL_LSOA,
                format!("not an LSOA code (E01/W01 + 6 digits): {code:?}"),
            ));
        }

        // "No location" rows (no coordinates and no LSOA) carry no location object at all; the
        // `Location` text ("No Location") adds nothing once the place is absent.
        let location = if lat.is_none() && lsoa.is_none() {
            None
        } else {
            Some(Location {
                lat,
                lon,
                lsoa_code: lsoa,
                description: non_empty(fields[COL_LOCATION]).map(cap_text),
            })
        };

        let start = rfc3339(&range.start);
        let event = IncidentEvent {
            event_id: format!("{incident_id}:v1"),
            schema_version: SCHEMA_VERSION,
            source: SOURCE,
            occurred_at: OccurredRange {
                start: start.clone(),
                end: rfc3339(&range.end),
            },
            // police.uk has no report date: the month start stands in for it.
            reported_at: start,
            incident_id: incident_id.as_str(),
            version: 1,
            status: "recorded",
            crime_type,
            location,
            outcome: non_empty(fields[COL_OUTCOME]).map(cap_text),
        };
        let payload =
            serde_json::to_vec(&event).map_err(|e| format!("cannot encode event as JSON: {e}"))?;
        Ok(KeyedEvent {
            key: incident_id,
            payload,
        })
    }
}

/// `policeuk:{Month}:{Crime ID}` for crimes; `policeuk:{Month}:asb:{h}` for rows without a
/// Crime ID (`noid` instead of `asb` if such a row is not ASB, which police.uk does not publish
/// but which must not be dropped or confused with ASB).
fn identity_prefix(
    month_label: &str,
    crime_id: &str,
    crime_type: &str,
    record: &csv::ByteRecord,
) -> String {
    if crime_id.is_empty() {
        let label = if crime_type == "Anti-social behaviour" {
            "asb"
        } else {
            "noid"
        };
        format!("policeuk:{month_label}:{label}:{}", row_hash(record))
    } else {
        format!("policeuk:{month_label}:{crime_id}")
    }
}

/// First 16 hex chars of SHA-256 over the raw fields joined with U+001F (unit separator).
fn row_hash(record: &csv::ByteRecord) -> String {
    let mut h = Sha256::new();
    for (i, field) in record.iter().enumerate() {
        if i > 0 {
            h.update([0x1f]);
        }
        h.update(field);
    }
    let digest = h.finalize();
    hex::encode(&digest[..8])
}

/// `^[EW]01[0-9]{6}$`, the pattern the incident schema checks.
fn is_lsoa_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9
        && matches!(b[0], b'E' | b'W')
        && &b[1..3] == b"01"
        && b[3..].iter().all(u8::is_ascii_digit)
}

fn non_empty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

fn cap_text(s: &str) -> &str {
    match s.char_indices().nth(TEXT_CAP_CHARS) {
        Some((byte, _)) => &s[..byte],
        None => s,
    }
}

fn parse_coord(raw: &str, col: usize, limit: f64) -> Result<Option<f64>, RowProblem> {
    let Some(s) = non_empty(raw) else {
        return Ok(None);
    };
    let v: f64 = s
        .parse()
        .map_err(|_| column_problem(col, format!("not a number: {s:?}")))?;
    if !v.is_finite() || v.abs() > limit {
        return Err(column_problem(
            col,
            format!("{s:?} is outside -{limit}..={limit}"),
        ));
    }
    Ok(Some(v))
}

#[derive(Serialize)]
struct IncidentEvent<'a> {
    event_id: String,
    schema_version: u32,
    source: &'static str,
    occurred_at: OccurredRange,
    reported_at: String,
    incident_id: &'a str,
    version: u32,
    status: &'static str,
    crime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
}

#[derive(Serialize)]
struct OccurredRange {
    start: String,
    end: String,
}

#[derive(Serialize)]
struct Location<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lsoa_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}
