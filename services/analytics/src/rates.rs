//! Rates and change: crimes per 1,000 residents (residential burglary per 1,000 households)
//! for every place at every level of the force area, each month, with month-on-month,
//! year-on-year and rolling-12-month change and whether each change is statistically real.
//!
//! - Counts are dense: a place and month with no crime is a row with count 0 (a fall to zero
//!   is a change too).
//! - The force level counts every record of the force that was not placed outside its area,
//!   including those with no location; lower levels count the records placed in their LSOAs.
//! - A change is tested with the conditional exact test ([`crate::stats::change_p_value`]):
//!   `significant` is p < α. Each row is one test; across thousands of rows some will pass by
//!   chance at α = 0.05, which the docs say in plain words.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use lantern_disclosure::policy::PlaceLevel;

use crate::geography::{Geography, Population};
use crate::month::Month;
use crate::stats::change_p_value;
use crate::table::{AnalyticsTable, Columns};

pub const TABLE: &str = "analytics_rates_monthly";
pub const ALL_CRIME: &str = "All crime";
pub const RESIDENTIAL_BURGLARY: &str = "Residential burglary";
const ASB: &str = "Anti-social behaviour";

/// One group of `incidents_monthly`.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyCount {
    pub month: Month,
    pub lsoa_code: Option<Arc<str>>,
    /// Not placed outside the force area (placed inside it, or not placed at all).
    pub force_record: bool,
    pub crime_type: Option<String>,
    pub property_type: String,
    pub count: u64,
}

/// The series a crime counts towards: its crime type ("Unknown" if none), All crime (every
/// type but ASB) and Residential burglary (Burglary of a dwelling).
pub fn crime_series<'a>(crime_type: Option<&'a str>, property_type: &str) -> Vec<&'a str> {
    let crime_type = crime_type.unwrap_or("Unknown");
    let mut out = vec![crime_type];
    if crime_type != ASB {
        out.push(ALL_CRIME);
    }
    if crime_type == "Burglary" && property_type == "dwelling" {
        out.push(RESIDENTIAL_BURGLARY);
    }
    out
}

type SeriesKey = (PlaceLevel, Arc<str>, String);

pub fn rates(geo: &Geography, rows: &[MonthlyCount], alpha: f64) -> AnalyticsTable {
    let months: BTreeSet<Month> = rows.iter().map(|r| r.month).collect();
    let (Some(&first), Some(&last)) = (months.first(), months.last()) else {
        return finish(Vec::new(), alpha);
    };
    let span = (last.0 - first.0 + 1) as usize;
    let mut counts: HashMap<SeriesKey, Vec<u64>> = HashMap::new();
    let mut names: BTreeSet<String> = [ALL_CRIME, RESIDENTIAL_BURGLARY].map(String::from).into();
    for row in rows.iter().filter(|r| r.force_record) {
        let t = (row.month.0 - first.0) as usize;
        let places = geo.places_of(row.lsoa_code.as_deref(), &PlaceLevel::ALL);
        for series in crime_series(row.crime_type.as_deref(), &row.property_type) {
            names.insert(series.to_string());
            for (level, code) in places.iter().cloned() {
                counts
                    .entry((level, code, series.to_string()))
                    .or_insert_with(|| vec![0; span])[t] += row.count;
            }
        }
    }
    let mut out = Vec::new();
    let zeros = vec![0; span];
    for level in PlaceLevel::ALL.into_iter().rev() {
        for (code, population) in geo.populations(level) {
            for series in &names {
                let key = (level, code.clone(), series.clone());
                let series_counts = counts.get(&key).unwrap_or(&zeros);
                push_series(&mut out, &key, population, series_counts, first);
            }
        }
    }
    finish(out, alpha)
}

#[derive(Debug, Clone)]
struct Row {
    month: Month,
    level: PlaceLevel,
    code: Arc<str>,
    series: String,
    count: u64,
    households: bool,
    population: u64,
    previous: Option<u64>,
    year_ago: Option<u64>,
    rolling: Option<u64>,
    rolling_previous: Option<u64>,
}

fn push_series(
    out: &mut Vec<Row>,
    (level, code, series): &SeriesKey,
    population: Population,
    counts: &[u64],
    first: Month,
) {
    let households = series == RESIDENTIAL_BURGLARY;
    let window = |end: usize| (end >= 11).then(|| counts[end - 11..=end].iter().sum::<u64>());
    for (t, &count) in counts.iter().enumerate() {
        out.push(Row {
            month: Month(first.0 + t as i32),
            level: *level,
            code: code.clone(),
            series: series.clone(),
            count,
            households,
            population: match households {
                true => population.households,
                false => population.residents,
            },
            previous: t.checked_sub(1).map(|p| counts[p]),
            year_ago: t.checked_sub(12).map(|p| counts[p]),
            rolling: window(t),
            rolling_previous: t.checked_sub(12).and_then(window),
        });
    }
}

fn finish(rows: Vec<Row>, alpha: f64) -> AnalyticsTable {
    let per_1000 = |n: Option<u64>, r: &Row| {
        n.filter(|_| r.population > 0)
            .map(|n| 1000.0 * n as f64 / r.population as f64)
    };
    let change = |before: Option<u64>, r: &Row| before.map(|b| r.count as i64 - b as i64);
    let p = |before: Option<u64>, after: Option<u64>| Some(change_p_value(before?, after?));
    let significant = |p: Option<f64>| p.map(|p| p < alpha);
    let mom_p: Vec<Option<f64>> = rows.iter().map(|r| p(r.previous, Some(r.count))).collect();
    let yoy_p: Vec<Option<f64>> = rows.iter().map(|r| p(r.year_ago, Some(r.count))).collect();
    let roll_p: Vec<Option<f64>> = rows
        .iter()
        .map(|r| p(r.rolling_previous, r.rolling))
        .collect();
    Columns::default()
        .text("month", rows.iter().map(|r| Some(r.month.label())))
        .text("place_level", rows.iter().map(|r| Some(r.level.as_str())))
        .text("place_code", rows.iter().map(|r| Some(r.code.as_ref())))
        .text("crime_type", rows.iter().map(|r| Some(r.series.as_str())))
        .count("count", rows.iter().map(|r| Some(r.count)))
        .text(
            "denominator",
            rows.iter().map(|r| {
                Some(if r.households {
                    "households"
                } else {
                    "residents"
                })
            }),
        )
        .count("population", rows.iter().map(|r| Some(r.population)))
        .real(
            "rate_per_1000",
            rows.iter().map(|r| per_1000(Some(r.count), r)),
        )
        .count("previous_month_count", rows.iter().map(|r| r.previous))
        .signed("mom_change", rows.iter().map(|r| change(r.previous, r)))
        .real("mom_p_value", mom_p.iter().copied())
        .flag("mom_significant", mom_p.iter().map(|&p| significant(p)))
        .count("year_ago_count", rows.iter().map(|r| r.year_ago))
        .signed("yoy_change", rows.iter().map(|r| change(r.year_ago, r)))
        .real("yoy_p_value", yoy_p.iter().copied())
        .flag("yoy_significant", yoy_p.iter().map(|&p| significant(p)))
        .count("rolling_12m_count", rows.iter().map(|r| r.rolling))
        .real(
            "rolling_12m_rate_per_1000",
            rows.iter().map(|r| per_1000(r.rolling, r)),
        )
        .count(
            "previous_12m_count",
            rows.iter().map(|r| r.rolling_previous),
        )
        .real("rolling_12m_p_value", roll_p.iter().copied())
        .flag(
            "rolling_12m_significant",
            roll_p.iter().map(|&p| significant(p)),
        )
        .into_table(
            TABLE,
            serde_json::json!({
                "alpha": alpha,
                "test": "conditional exact binomial: x2 | x1+x2 ~ Bin(x1+x2, 1/2), two-sided",
                "population": "Census 2011 usual residents and households per LSOA (PHP01)",
            }),
        )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::geography::Lsoa;
    use arrow::array::AsArray;
    use arrow::datatypes::UInt64Type;

    pub fn geo() -> Geography {
        let lsoa = |code: &str, lad: &str, residents| Lsoa {
            code: Arc::from(code),
            codes: [code, "M1", "W1", lad, "C1", "F1"].map(Arc::from),
            lat: 53.7,
            lon: -2.7,
            population: Population {
                residents,
                households: residents / 2,
            },
        };
        Geography::from_lsoas("F1", vec![lsoa("L1", "A", 1000), lsoa("L2", "B", 3000)])
    }

    fn row(month: &str, lsoa: Option<&str>, crime: &str, count: u64) -> MonthlyCount {
        MonthlyCount {
            month: Month::parse(month).unwrap(),
            lsoa_code: lsoa.map(Arc::from),
            force_record: true,
            crime_type: Some(crime.to_string()),
            property_type: "dwelling".to_string(),
            count,
        }
    }

    #[test]
    fn dense_counts_rates_and_changes() {
        let rows = vec![
            row("2022-01", Some("L1"), "Burglary", 10),
            row("2022-03", Some("L1"), "Burglary", 2),
            row("2022-03", None, "Anti-social behaviour", 5),
        ];
        let t = rates(&geo(), &rows, 0.05);
        let b = &t.batch;
        let level = b.column_by_name("place_level").unwrap().as_string::<i32>();
        let code = b.column_by_name("place_code").unwrap().as_string::<i32>();
        let crime = b.column_by_name("crime_type").unwrap().as_string::<i32>();
        let month = b.column_by_name("month").unwrap().as_string::<i32>();
        let count = b
            .column_by_name("count")
            .unwrap()
            .as_primitive::<UInt64Type>();
        let find = |l: &str, c: &str, s: &str, m: &str| {
            (0..b.num_rows())
                .find(|&i| {
                    level.value(i) == l
                        && code.value(i) == c
                        && crime.value(i) == s
                        && month.value(i) == m
                })
                .unwrap_or_else(|| panic!("no row {l} {c} {s} {m}"))
        };
        // February is there with 0, and L2 with nothing at all.
        assert_eq!(count.value(find("lsoa", "L1", "Burglary", "2022-02")), 0);
        assert_eq!(count.value(find("lsoa", "L2", "Burglary", "2022-03")), 0);
        // ASB without a place counts at force level only, and not in All crime.
        assert_eq!(
            count.value(find("force", "F1", "Anti-social behaviour", "2022-03")),
            5
        );
        assert_eq!(count.value(find("force", "F1", ALL_CRIME, "2022-03")), 2);
        let i = find("lad", "A", RESIDENTIAL_BURGLARY, "2022-01");
        let rate = b
            .column_by_name("rate_per_1000")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        assert!(
            (rate.value(i) - 1000.0 * 10.0 / 500.0).abs() < 1e-12,
            "per 1,000 households"
        );
        let i = find("lsoa", "L1", "Burglary", "2022-02");
        let p = b
            .column_by_name("mom_p_value")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        assert!((p.value(i) - change_p_value(10, 0)).abs() < 1e-15);
        let yoy = b.column_by_name("year_ago_count").unwrap();
        assert!(yoy.is_null(i), "no year-ago month in a 3-month series");
        // 2 LSOAs + 1 MSOA + 1 ward + 2 LADs + 1 CSP + 1 force, × 4 series, × 3 months.
        assert_eq!(b.num_rows(), 8 * 4 * 3);
    }

    #[test]
    fn year_on_year_and_rolling_twelve_months() {
        // Burglaries in L1: month k of 2021-01..2022-12 (24 months) has k + 1 crimes.
        let rows: Vec<MonthlyCount> = (0..24)
            .map(|k| {
                let month = Month(2021 * 12 + k).label();
                row(&month, Some("L1"), "Burglary", k as u64 + 1)
            })
            .collect();
        let t = rates(&geo(), &rows, 0.05);
        let b = &t.batch;
        let text = |name: &str| b.column_by_name(name).unwrap().as_string::<i32>().clone();
        let (level, crime, month) = (text("place_level"), text("crime_type"), text("month"));
        let at = |m: &str| {
            (0..b.num_rows())
                .find(|&i| {
                    level.value(i) == "lsoa" && crime.value(i) == "Burglary" && month.value(i) == m
                })
                .unwrap()
        };
        let count = |name: &str, i: usize| {
            let c = b.column_by_name(name).unwrap();
            (!c.is_null(i)).then(|| c.as_primitive::<UInt64Type>().value(i))
        };
        let real = |name: &str, i: usize| {
            let c = b.column_by_name(name).unwrap();
            (!c.is_null(i)).then(|| c.as_primitive::<arrow::datatypes::Float64Type>().value(i))
        };
        // 2022-03 is month index 14: 15 crimes; a year before, 3.
        let i = at("2022-03");
        assert_eq!(count("year_ago_count", i), Some(3));
        assert_eq!(real("yoy_p_value", i), Some(change_p_value(3, 15)));
        // Rolling 12 months to 2022-03: months 3..=14 hold 4 + … + 15 = 114 crimes.
        assert_eq!(count("rolling_12m_count", i), Some(114));
        assert!((real("rolling_12m_rate_per_1000", i).unwrap() - 114.0).abs() < 1e-12);
        // The 12 before (months −9..=2) reach back before the data: not computed.
        assert_eq!(count("previous_12m_count", i), None);
        // 2022-12 (index 23): 13 + … + 24 = 222 against 1 + … + 12 = 78.
        let i = at("2022-12");
        assert_eq!(count("rolling_12m_count", i), Some(222));
        assert_eq!(count("previous_12m_count", i), Some(78));
        assert_eq!(
            real("rolling_12m_p_value", i),
            Some(change_p_value(78, 222))
        );
        let flag = b
            .column_by_name("rolling_12m_significant")
            .unwrap()
            .as_boolean()
            .value(i);
        assert!(flag, "78 to 222 is a real rise");
        // The first 11 months have no rolling window.
        assert_eq!(count("rolling_12m_count", at("2021-11")), None);
        assert_eq!(count("rolling_12m_count", at("2021-12")), Some(78));
    }
}
