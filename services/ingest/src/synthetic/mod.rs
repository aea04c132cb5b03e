//! Seeded generators of **synthetic** business-crime and cybercrime reports.
//!
//! Nothing here is real: every event carries `"source": "synthetic"` and ids that start with
//! `syn-`. The generators exist so the pipeline can be demonstrated and tested on event kinds
//! for which no open data exists, with a realistic *shape* (heavy-tailed repeat victims,
//! weighted categories, log-normal losses, late reports, a few revisions and withdrawals).
//!
//! Determinism: the output depends only on (the *set* of places, the months, `per_month`,
//! `seed`). Each stream (the business population, each month's reports) gets its own
//! `StdRng` seeded from SHA-256 of `(kind, stream, seed)`, so generating months one at a time
//! gives the same events as generating them together. `StdRng`'s algorithm is only guaranteed
//! stable within one `rand` release; the lockfile pins it.
//!
//! - [`burglary`] holds [`synthetic_burglaries`] (incidents with repeat and near-repeat
//!   structure, and address and victim references);
//! - [`business`] holds [`synthetic_business_crime`];
//! - [`cyber`] holds [`synthetic_cybercrime`].
//! - [`stream`] holds [`StreamGenerator`], an endless mixed stream of all three kinds for volume
//!   (the benchmark), shaped by real police.uk rows.

pub mod burglary;
pub mod business;
pub mod cyber;
pub mod stream;

pub use burglary::synthetic_burglaries;
pub use business::synthetic_business_crime;
pub use cyber::synthetic_cybercrime;
pub use stream::StreamGenerator;

use chrono::{DateTime, Duration, NaiveDate};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::KeyedEvent;
use crate::time::{days_in_month, london_local};

/// Value of `source` in every synthetic event: the label that says "not real".
pub const SOURCE: &str = "synthetic";

/// An independent RNG for one named stream of one generator run.
pub(crate) fn stream_rng(kind: &str, stream: &str, seed: u64) -> StdRng {
    let digest = Sha256::digest(format!("lantern-synthetic\x1f{kind}\x1f{stream}\x1f{seed}"));
    StdRng::from_seed(digest.into())
}

/// Pick from `(item, weight)` pairs with probability proportional to weight.
pub(crate) fn weighted<'a, T>(rng: &mut StdRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| *w).sum();
    let mut x = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= *w;
    }
    &items[items.len() - 1].0
}

/// A standard normal draw (Box–Muller; avoids a `rand_distr` dependency).
pub(crate) fn std_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal with the given median and shape, clamped to `[lo, hi]`.
pub(crate) fn log_normal(rng: &mut StdRng, median: f64, sigma: f64, lo: f64, hi: f64) -> f64 {
    (median * (sigma * std_normal(rng)).exp()).clamp(lo, hi)
}

/// Round to pence so JSON shows at most two decimals.
pub(crate) fn pounds(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A local time inside `year`-`month` with the hour drawn from a 24-entry weight profile.
pub(crate) fn instant_in_month(
    rng: &mut StdRng,
    year: i32,
    month: u32,
    hour_weights: &[(u32, u32); 24],
) -> Option<DateTime<Tz>> {
    let days = days_in_month(year, month)?;
    let day = rng.random_range(1..=days);
    let hour = *weighted(rng, hour_weights);
    let minute = rng.random_range(0..60);
    let second = rng.random_range(0..60);
    let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    Some(london_local(naive))
}

/// `t` plus a log-normal delay (median and clamp in seconds), expressed in London time.
pub(crate) fn later(
    rng: &mut StdRng,
    t: &DateTime<Tz>,
    median_s: f64,
    sigma: f64,
    min_s: f64,
    max_s: f64,
) -> DateTime<Tz> {
    // The clamp keeps the value well inside i64.
    let secs = log_normal(rng, median_s, sigma, min_s, max_s).round() as i64;
    *t + Duration::seconds(secs)
}

/// Places de-duplicated by LSOA code and sorted, so input order does not change the output.
pub(crate) fn canonical_places(places: &[(String, f64, f64)]) -> Vec<(String, f64, f64)> {
    let mut v: Vec<(String, f64, f64)> = places
        .iter()
        .filter(|(code, lat, lon)| !code.is_empty() && lat.is_finite() && lon.is_finite())
        .cloned()
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// Sort events into report-time order (ties by key, then version), keeping each key's versions
/// in order: that is the order a live feed would have produced them.
pub(crate) fn sort_events(mut events: Vec<(DateTime<Tz>, u32, KeyedEvent)>) -> Vec<KeyedEvent> {
    events.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.2.key.cmp(&b.2.key))
            .then_with(|| a.1.cmp(&b.1))
    });
    events.into_iter().map(|(_, _, e)| e).collect()
}

/// Hour-of-day weights: (hour, weight).
pub(crate) const fn hours(w: [u32; 24]) -> [(u32, u32); 24] {
    let mut out = [(0u32, 0u32); 24];
    let mut i = 0;
    while i < 24 {
        out[i] = (i as u32, w[i]);
        i += 1;
    }
    out
}
