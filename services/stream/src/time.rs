//! Event-time calendar windows. Windows are calendar days and months in Europe/London, because
//! that is how the force and its partners count ("crimes in May" means May in UK local time).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Europe::London;

/// Days since 1970-01-01, the Arrow `Date32` representation.
pub fn london_day(t: DateTime<Utc>) -> i32 {
    let local = t.with_timezone(&London).date_naive();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    (local - epoch).num_days() as i32
}

/// Interns 'YYYY-MM' month labels so millions of facts share a handful of strings.
#[derive(Debug, Default)]
pub struct MonthLabels(HashMap<(i32, u32), Arc<str>>);

impl MonthLabels {
    pub fn month_of(&mut self, t: DateTime<Utc>) -> Arc<str> {
        let local = t.with_timezone(&London);
        let key = (local.year(), local.month());
        Arc::clone(
            self.0
                .entry(key)
                .or_insert_with(|| Arc::from(format!("{:04}-{:02}", key.0, key.1))),
        )
    }

    /// Interns a stored 'YYYY-MM' label; anything else is an error (a corrupt label must not be
    /// silently filed under another month).
    pub fn intern(&mut self, label: &str) -> Result<Arc<str>, String> {
        let parsed = label
            .split_once('-')
            .filter(|(y, m)| y.len() == 4 && m.len() == 2)
            .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(_, m)| (1..=12).contains(m));
        let key = parsed.ok_or_else(|| format!("{label:?} is not a month like 2022-05"))?;
        Ok(Arc::clone(
            self.0.entry(key).or_insert_with(|| Arc::from(label)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_london_time() {
        let mut months = MonthLabels::default();
        // 23:30 UTC on 31 May 2022 is 00:30 BST on 1 June.
        let t: DateTime<Utc> = "2022-05-31T23:30:00Z".parse().unwrap();
        assert_eq!(&*months.month_of(t), "2022-06");
        assert_eq!(
            london_day(t),
            london_day("2022-06-01T12:00:00Z".parse().unwrap())
        );
        // In winter London is UTC.
        let t: DateTime<Utc> = "2022-12-31T23:30:00Z".parse().unwrap();
        assert_eq!(&*months.month_of(t), "2022-12");
    }

    #[test]
    fn stored_labels_are_checked() {
        let mut months = MonthLabels::default();
        assert_eq!(&*months.intern("2022-05").unwrap(), "2022-05");
        for bad in ["", "2022", "2022-13", "22-05", "2022-5", "abcd-ef"] {
            assert!(months.intern(bad).is_err(), "{bad}");
        }
    }
}
