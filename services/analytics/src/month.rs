//! Calendar months as consecutive integers, so series can be indexed and differenced; and the
//! length of a day in the facts' microsecond timestamps.

/// Microseconds in a day (event times are UTC microseconds).
pub const DAY_US: i64 = 86_400_000_000;

/// Months since year 0: `year · 12 + (month − 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(pub i32);

impl Month {
    /// Parses `YYYY-MM` (the `month` column of every table).
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let (year, month): (i32, i32) = (year.parse().ok()?, month.parse().ok()?);
        (1..=12)
            .contains(&month)
            .then_some(Month(year * 12 + month - 1))
    }

    pub fn label(self) -> String {
        format!(
            "{:04}-{:02}",
            self.0.div_euclid(12),
            self.0.rem_euclid(12) + 1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = Month::parse("2022-12").unwrap();
        assert_eq!(Month(m.0 + 1).label(), "2023-01");
        assert_eq!(m.label(), "2022-12");
        assert_eq!(Month::parse("2022-13"), None);
    }
}
