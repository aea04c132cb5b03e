//! Europe/London calendar helpers.
//!
//! police.uk publishes a month, not a date; the force works in UK civil time, so a month is the
//! range of instants from the first day 00:00 to the last day 23:59:59 *in Europe/London*, each
//! end carrying its own offset (+01:00 in BST, +00:00 in GMT). The offset comes from the tz
//! database (chrono-tz), not from a hand-written DST rule.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone};
use chrono_tz::Europe::London;
use chrono_tz::Tz;

/// First and last second of a calendar month in Europe/London.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthRange {
    /// First instant of the month (day 1, 00:00:00 local).
    pub start: DateTime<Tz>,
    /// Last whole second of the month (last day, 23:59:59 local).
    pub end: DateTime<Tz>,
}

/// Resolve a local wall-clock time in London to an instant.
///
/// Ambiguous times (the repeated hour in October) take the earlier instant; times in the
/// spring-forward gap (01:00–01:59 on the last Sunday of March) move one hour later, which is
/// what a clock reading would show.
pub fn london_local(naive: NaiveDateTime) -> DateTime<Tz> {
    match London.from_local_datetime(&naive).earliest() {
        Some(t) => t,
        None => London
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .unwrap_or_else(|| London.from_utc_datetime(&naive)),
    }
}

/// The Europe/London range of `year`-`month`, or `None` for an invalid month.
pub fn month_range(year: i32, month: u32) -> Option<MonthRange> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let start = london_local(first.and_hms_opt(0, 0, 0)?);
    // One second before the next month's start, re-expressed in London time, so the end gets
    // the offset in force at that instant (matters when a month ends on a transition day).
    let end =
        (london_local(next.and_hms_opt(0, 0, 0)?) - Duration::seconds(1)).with_timezone(&London);
    Some(MonthRange { start, end })
}

/// Number of days in a month (28..=31), or `None` for an invalid month.
pub fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    u32::try_from((next - first).num_days()).ok()
}

/// RFC 3339 with whole seconds and a numeric offset (`2022-09-01T00:00:00+01:00`), never `Z`.
pub fn rfc3339(t: &DateTime<Tz>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Parse a police.uk `Month` value (`YYYY-MM`, exactly) into `(year, month)`.
pub fn parse_month(s: &str) -> Option<(i32, u32)> {
    let b = s.as_bytes();
    if b.len() != 7 || b[4] != b'-' {
        return None;
    }
    if !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
        return None;
    }
    let year: i32 = s[..4].parse().ok()?;
    let month: u32 = s[5..].parse().ok()?;
    if !(1..=12).contains(&month) || year < 1900 {
        return None;
    }
    Some((year, month))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bst_and_gmt_months() {
        let r = month_range(2022, 9).unwrap();
        assert_eq!(rfc3339(&r.start), "2022-09-01T00:00:00+01:00");
        assert_eq!(rfc3339(&r.end), "2022-09-30T23:59:59+01:00");
        // October 2022 starts in BST and ends in GMT (clocks went back on the 30th).
        let r = month_range(2022, 10).unwrap();
        assert_eq!(rfc3339(&r.start), "2022-10-01T00:00:00+01:00");
        assert_eq!(rfc3339(&r.end), "2022-10-31T23:59:59+00:00");
        let r = month_range(2022, 12).unwrap();
        assert_eq!(rfc3339(&r.start), "2022-12-01T00:00:00+00:00");
        assert_eq!(rfc3339(&r.end), "2022-12-31T23:59:59+00:00");
        // March 2024: clocks went forward on Sunday the 31st, so the month ends in BST.
        let r = month_range(2024, 3).unwrap();
        assert_eq!(rfc3339(&r.start), "2024-03-01T00:00:00+00:00");
        assert_eq!(rfc3339(&r.end), "2024-03-31T23:59:59+01:00");
    }

    #[test]
    fn month_parsing_is_strict() {
        assert_eq!(parse_month("2022-09"), Some((2022, 9)));
        for bad in [
            "2022-9",
            "2022-13",
            "2022-00",
            "22-09",
            "2022/09",
            "2022-09-01",
            "",
            "abcd-ef",
        ] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }

    #[test]
    fn gap_times_move_forward() {
        let naive = NaiveDate::from_ymd_opt(2022, 3, 27)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        assert_eq!(rfc3339(&london_local(naive)), "2022-03-27T02:30:00+01:00");
        assert_eq!(days_in_month(2024, 2), Some(29));
    }
}
