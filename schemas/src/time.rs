//! RFC 3339 timestamps and `occurred_at` (an instant or a range).
//!
//! chrono's own serde impl is deliberately lenient (it takes a space for `T`,
//! offsets without a colon, ...). The contract says JSON Schema `date-time`,
//! so we parse by hand with exactly those rules: the same grammar the
//! conformance test's validator applies, and no slower than chrono's parser.
//! Every instant is normalised to UTC on decode; it is re-encoded as UTC
//! (`...Z`), so an offset such as `+01:00` (BST) is not preserved verbatim.

use std::fmt;

use chrono::{
    DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeDelta, Timelike, Utc,
};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When the offence happened: a known instant, or a window when the exact
/// time is unknown (e.g. a burglary discovered in the morning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OccurredAt {
    At(DateTime<Utc>),
    Range {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

impl OccurredAt {
    /// The time used for windowing: the instant, or the start of the range.
    /// The start is the only bound known to be no later than the offence.
    pub fn event_time(&self) -> DateTime<Utc> {
        match *self {
            OccurredAt::At(at) => at,
            OccurredAt::Range { start, .. } => start,
        }
    }
}

/// The earliest event time Lantern accepts: 1900-01-01T00:00:00Z. Nothing a
/// force records today happened before it; a year like 0001 is a typo.
pub const EARLIEST_EVENT_TIME: &str = "1900-01-01T00:00:00Z";

/// How far in the future an event time may be: one day, for clock skew between
/// a recording system and the broker. A year-10000 instant (valid RFC 3339 as
/// `9999-12-31T23:30:00-05:00`) is refused here rather than breaking every
/// month label and restart downstream.
pub const MAX_EVENT_TIME_AHEAD: TimeDelta = TimeDelta::days(1);

impl OccurredAt {
    /// Checks both bounds of the occurrence against
    /// [`EARLIEST_EVENT_TIME`] ≤ t ≤ `now` + [`MAX_EVENT_TIME_AHEAD`].
    pub(crate) fn check_plausible(&self, now: DateTime<Utc>) -> Result<(), (&'static str, String)> {
        let earliest = parse_rfc3339(EARLIEST_EVENT_TIME).expect("constant parses");
        let latest = now + MAX_EVENT_TIME_AHEAD;
        let (at, field) = match *self {
            OccurredAt::At(at) => ([at, at], ["", ""]),
            OccurredAt::Range { start, end } => ([start, end], ["/start", "/end"]),
        };
        for (t, field) in at.into_iter().zip(field) {
            if t < earliest || t > latest {
                return Err((
                    field,
                    format!(
                        "{} is outside the accepted event times {EARLIEST_EVENT_TIME} .. now + 1 day",
                        format_rfc3339(&t)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Parse an RFC 3339 `date-time` as JSON Schema's `format: date-time` does:
/// `YYYY-MM-DD` `T|t` `HH:MM:SS` `[.fraction]` `Z|z|±HH:MM`, real calendar
/// dates, and a leap second only at 23:59:60 UTC. Fractions beyond
/// nanoseconds are truncated.
pub(crate) fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    // Shortest form is "YYYY-MM-DDTHH:MM:SSZ".
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        i += 1;
        let first = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - first < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - first;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }

    let offset_secs: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if b.len() - i == 6 && b[i + 3] == b':' => {
            let oh = digits(&b[i + 1..i + 3])?;
            let om = digits(&b[i + 4..i + 6])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };

    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    // A leap second is parsed as :59 and the extra second re-added below,
    // after the offset is removed, because only 23:59 UTC may carry one.
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second.min(59), nanos)?;
    let utc = NaiveDateTime::new(date, time).checked_sub_signed(TimeDelta::seconds(offset_secs))?;
    let utc = if second == 60 {
        if utc.hour() != 23 || utc.minute() != 59 {
            return None;
        }
        NaiveDateTime::new(
            utc.date(),
            NaiveTime::from_hms_nano_opt(23, 59, 59, nanos + 1_000_000_000)?,
        )
    } else {
        utc
    };
    Some(utc.and_utc())
}

/// ASCII digits only (no sign, no whitespace) as a number.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Canonical encoding: UTC with `Z`, fraction only when non-zero.
pub(crate) fn format_rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `#[serde(with = "crate::time::rfc3339")]` for `DateTime<Utc>` fields.
pub(crate) mod rfc3339 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_str(DateTimeVisitor)
    }
}

struct DateTimeVisitor;

impl Visitor<'_> for DateTimeVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date-time with offset, e.g. 2024-03-01T22:15:00Z")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_rfc3339(v).ok_or_else(|| E::custom(format_args!("invalid RFC 3339 date-time `{v}`")))
    }
}

/// Wrapper so the range's bounds go through the strict parser.
struct Strict(DateTime<Utc>);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        rfc3339::deserialize(d).map(Strict)
    }
}

impl Serialize for OccurredAt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OccurredAt::At(at) => s.serialize_str(&format_rfc3339(at)),
            OccurredAt::Range { start, end } => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("start", &format_rfc3339(start))?;
                map.serialize_entry("end", &format_rfc3339(end))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OccurredAt {
    // Hand-written rather than `#[serde(untagged)]`: untagged buffers the
    // value and loses the precise error, and this runs for every message.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OccurredAtVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum RangeField {
    Start,
    End,
}

struct OccurredAtVisitor;

impl<'de> Visitor<'de> for OccurredAtVisitor {
    type Value = OccurredAt;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date-time string or an object {\"start\", \"end\"}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        DateTimeVisitor.visit_str(v).map(OccurredAt::At)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut start = None;
        let mut end = None;
        while let Some(key) = map.next_key::<RangeField>()? {
            match key {
                RangeField::Start => {
                    if start.is_some() {
                        return Err(de::Error::duplicate_field("start"));
                    }
                    start = Some(map.next_value::<Strict>()?.0);
                }
                RangeField::End => {
                    if end.is_some() {
                        return Err(de::Error::duplicate_field("end"));
                    }
                    end = Some(map.next_value::<Strict>()?.0);
                }
            }
        }
        let start = start.ok_or_else(|| de::Error::missing_field("start"))?;
        let end = end.ok_or_else(|| de::Error::missing_field("end"))?;
        // end >= start is a constraint, checked in validate(), not a shape error.
        Ok(OccurredAt::Range { start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid test date")
    }

    #[test]
    fn parses_z_and_offsets_to_utc() {
        assert_eq!(
            parse_rfc3339("2024-07-01T10:00:00Z"),
            Some(utc(2024, 7, 1, 10, 0, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-07-01t10:00:00z"),
            Some(utc(2024, 7, 1, 10, 0, 0))
        );
        // BST: 11:00 local is 10:00 UTC.
        assert_eq!(
            parse_rfc3339("2024-07-01T11:00:00+01:00"),
            Some(utc(2024, 7, 1, 10, 0, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-07-01T09:30:00-00:30"),
            Some(utc(2024, 7, 1, 10, 0, 0))
        );
    }

    #[test]
    fn fractions_are_scaled_and_truncated() {
        let t = parse_rfc3339("2024-07-01T10:00:00.5Z").expect("valid");
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        let t = parse_rfc3339("2024-07-01T10:00:00.1234567891234Z").expect("valid");
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!(parse_rfc3339("2024-07-01T10:00:00.Z"), None);
    }

    #[test]
    fn rejects_what_json_schema_date_time_rejects() {
        for bad in [
            "2024-07-01",
            "2024-07-01T10:00:00",       // no offset
            "2024-07-01 10:00:00Z",      // space separator
            "2024-07-01T10:00:00+0100",  // offset without colon
            "2024-07-01T10:00:00+24:00", // offset hour out of range
            "2024-02-30T10:00:00Z",      // not a date
            "2023-02-29T10:00:00Z",      // not a leap year
            "2024-07-01T24:00:00Z",
            "2024-07-01T10:60:00Z",
            "2024-07-01T10:00:60Z", // leap second not at 23:59 UTC
            "2024-07-01T10:00:00Zjunk",
            "+2024-07-01T10:00:00Z",
            "2024-07-01T10:00:00.12a+01:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad} should be rejected");
        }
    }

    #[test]
    fn leap_second_only_at_end_of_utc_day() {
        assert!(parse_rfc3339("2016-12-31T23:59:60Z").is_some());
        assert!(parse_rfc3339("2017-01-01T00:59:60+01:00").is_some());
        assert!(parse_rfc3339("2016-12-31T22:59:60Z").is_none());
    }

    #[test]
    fn feb_29_on_leap_year() {
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("1900-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn event_times_outside_1900_to_tomorrow_are_implausible() {
        let now = utc(2026, 11, 25, 12, 0, 0);
        let at = |t| OccurredAt::At(t).check_plausible(now);
        assert!(at(utc(1900, 1, 1, 0, 0, 0)).is_ok());
        assert!(at(utc(2026, 11, 26, 12, 0, 0)).is_ok());
        assert!(at(utc(1899, 12, 31, 23, 59, 59)).is_err());
        assert!(at(utc(2026, 11, 26, 12, 0, 1)).is_err());
        let year_10000 = parse_rfc3339("9999-12-31T23:30:00-05:00").unwrap();
        assert!(at(year_10000).unwrap_err().1.contains("10000"));
        let range = OccurredAt::Range {
            start: utc(2024, 1, 1, 0, 0, 0),
            end: utc(2030, 1, 1, 0, 0, 0),
        };
        assert_eq!(range.check_plausible(now).unwrap_err().0, "/end");
    }

    #[test]
    fn event_time_is_range_start() {
        let start = utc(2024, 3, 1, 22, 0, 0);
        let end = utc(2024, 3, 2, 7, 0, 0);
        assert_eq!(OccurredAt::Range { start, end }.event_time(), start);
        assert_eq!(OccurredAt::At(end).event_time(), end);
    }

    #[test]
    fn occurred_at_serde_shapes() {
        let at: OccurredAt = serde_json::from_str("\"2024-03-01T22:00:00+00:00\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&at).expect("ser"),
            "\"2024-03-01T22:00:00Z\""
        );
        let range: OccurredAt = serde_json::from_str(
            r#"{"end":"2024-03-02T07:00:00Z","start":"2024-03-01T22:00:00Z"}"#,
        )
        .expect("valid");
        assert_eq!(
            serde_json::to_string(&range).expect("ser"),
            r#"{"start":"2024-03-01T22:00:00Z","end":"2024-03-02T07:00:00Z"}"#
        );
    }

    #[test]
    fn occurred_at_rejects_bad_shapes() {
        for bad in [
            r#"{"start":"2024-03-01T22:00:00Z"}"#,
            r#"{"start":"2024-03-01T22:00:00Z","end":"2024-03-02T07:00:00Z","x":1}"#,
            r#"{"start":"2024-03-01T22:00:00Z","start":"2024-03-01T22:00:00Z","end":"2024-03-02T07:00:00Z"}"#,
            r#"1709330400"#,
            r#"null"#,
            r#"["2024-03-01T22:00:00Z"]"#,
        ] {
            assert!(
                serde_json::from_str::<OccurredAt>(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
