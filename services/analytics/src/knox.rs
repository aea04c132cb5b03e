//! The Knox test for near repeats, as in Ratcliffe's Near Repeat Calculator: are pairs of
//! crimes that are close in space also close in time more often than chance?
//!
//! Pairs are binned by distance band × time band (half-open bands `[k·w, (k+1)·w)`). The
//! observed table is compared with R tables in which the times are randomly re-assigned to the
//! places (a permutation of the dates), which keeps both the spatial and the temporal pattern
//! and breaks only their interaction. Per cell: expected = mean of the simulated counts, Knox
//! ratio = observed / expected, p = (1 + #{simulated ≥ observed}) / (R + 1).
//!
//! Efficiency: a permutation changes times, never places, so the pairs close in space are found
//! once with a grid index (cell = the largest distance), then each permutation only re-bins
//! those pairs' time gaps: O(n + close pairs) per permutation instead of O(n²).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::geo::Grid;

/// `count` half-open bands of equal `width`, starting at 0.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Bands {
    pub width: f64,
    pub count: usize,
}

impl Bands {
    pub fn limit(&self) -> f64 {
        self.width * self.count as f64
    }

    /// The band holding `value`, if any.
    pub fn of(&self, value: f64) -> Option<usize> {
        let band = (value / self.width).floor();
        (band >= 0.0 && (band as usize) < self.count).then_some(band as usize)
    }

    /// `[lo, hi) unit` for band `k`: what the band holds, nothing more.
    pub fn label(&self, k: usize, unit: &str) -> String {
        let (lo, hi) = self.bounds(k);
        format!("[{lo}, {hi}) {unit}")
    }

    pub fn bounds(&self, k: usize) -> (f64, f64) {
        (self.width * k as f64, self.width * (k + 1) as f64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnoxParams {
    /// Metres.
    pub distance: Bands,
    /// In the time unit of the events' times (days or months).
    pub time: Bands,
    pub permutations: u32,
    pub seed: u64,
}

/// One cell of the Knox table.
#[derive(Debug, Clone, PartialEq)]
pub struct KnoxCell {
    pub distance_band: usize,
    pub time_band: usize,
    pub observed: u64,
    /// Mean count over the permutations.
    pub expected: f64,
    /// #{permutations with a count ≥ observed}.
    pub simulated_at_least_observed: u32,
}

impl KnoxCell {
    /// Observed / expected (`None` when no permutation put a pair in the cell).
    pub fn ratio(&self) -> Option<f64> {
        (self.expected > 0.0).then(|| self.observed as f64 / self.expected)
    }

    pub fn p_value(&self, permutations: u32) -> f64 {
        (1.0 + self.simulated_at_least_observed as f64) / (permutations as f64 + 1.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KnoxResult {
    pub events: usize,
    /// Pairs closer than the last distance band's upper bound.
    pub close_pairs: usize,
    /// Row-major: distance band, then time band.
    pub cells: Vec<KnoxCell>,
}

/// Runs the test on points (metres, projected) with integer times.
pub fn knox(points: &[(f64, f64)], times: &[i64], params: &KnoxParams) -> KnoxResult {
    assert_eq!(points.len(), times.len());
    let (points, times) = in_spatial_order(points, times, params.distance.limit());
    let close = close_pairs(&points, &params.distance);
    let observed = count_table(&close, &times, params);
    let simulated = simulate(&close, &times, params);
    let cells = observed
        .iter()
        .enumerate()
        .map(|(cell, &obs)| KnoxCell {
            distance_band: cell / params.time.count,
            time_band: cell % params.time.count,
            observed: obs,
            expected: simulated.sums[cell] as f64 / params.permutations.max(1) as f64,
            simulated_at_least_observed: simulated.at_least[cell],
        })
        .collect();
    KnoxResult {
        events: points.len(),
        close_pairs: close.len(),
        cells,
    }
}

/// The events sorted by grid cell (cells of side `cell`, row by row): the two events of a close
/// pair are then near each other in memory too, which keeps the permutation loop in cache
/// (measured on 100,000 burglaries: docs/analytics.md). The permutations are drawn over this
/// order, so a result depends on (events, seed), not on the order they were given in.
pub fn in_spatial_order(
    points: &[(f64, f64)],
    times: &[i64],
    cell: f64,
) -> (Vec<(f64, f64)>, Vec<i64>) {
    let mut order: Vec<usize> = (0..points.len()).collect();
    let key = |i: usize| {
        let (x, y) = points[i];
        (
            (y / cell).floor() as i64,
            (x / cell).floor() as i64,
            x.to_bits(),
            y.to_bits(),
            times[i],
        )
    };
    order.sort_by_key(|&i| key(i));
    (
        order.iter().map(|&i| points[i]).collect(),
        order.iter().map(|&i| times[i]).collect(),
    )
}

/// A pair of events close in space, with its distance band.
type ClosePair = (u32, u32, u8);

fn close_pairs(points: &[(f64, f64)], distance: &Bands) -> Vec<ClosePair> {
    assert!(
        distance.count <= u8::MAX as usize,
        "at most 255 distance bands"
    );
    let mut pairs = Vec::new();
    Grid::new(points, distance.limit()).for_each_pair_within(distance.limit(), |i, j, d| {
        if let Some(band) = distance.of(d) {
            pairs.push((i, j, band as u8));
        }
    });
    pairs
}

/// The Knox table of `pairs` under `times`, row-major.
fn count_table(pairs: &[ClosePair], times: &[i64], params: &KnoxParams) -> Vec<u64> {
    let columns = params.time.count;
    let mut table = vec![0u64; params.distance.count * columns];
    for &(i, j, d) in pairs {
        let gap = (times[i as usize] - times[j as usize]).abs() as f64;
        if let Some(t) = params.time.of(gap) {
            table[d as usize * columns + t] += 1;
        }
    }
    table
}

struct Simulated {
    sums: Vec<u64>,
    at_least: Vec<u32>,
}

/// Permutation `r`'s order of the times: its own RNG stream, so the result depends only on
/// (seed, r) and not on how permutations are shared between threads.
pub fn permuted_times(times: &[i64], seed: u64, r: u32) -> Vec<i64> {
    let mut rng =
        StdRng::seed_from_u64(seed ^ (u64::from(r) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut shuffled = times.to_vec();
    shuffled.shuffle(&mut rng);
    shuffled
}

/// Permutations counted per pass over the close pairs. The pairs (hundreds of MB for 100,000
/// burglaries) are streamed from memory once per block instead of once per permutation, and a
/// pair's times for the whole block sit in one cache line each.
const BLOCK: usize = 16;

fn simulate(pairs: &[ClosePair], times: &[i64], params: &KnoxParams) -> Simulated {
    let observed = count_table(pairs, times, params);
    let gaps = GapBands::new(&params.time);
    let blocks: Vec<u32> = (0..params.permutations).step_by(BLOCK).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let partials: Vec<Simulated> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (observed, gaps, blocks) = (&observed, &gaps, &blocks);
                scope.spawn(move || {
                    let mut part = Simulated::empty(observed.len());
                    for &first in blocks.iter().skip(thread).step_by(threads) {
                        let last = (first + BLOCK as u32).min(params.permutations);
                        let tables = count_block(pairs, times, params, gaps, first..last);
                        for table in tables {
                            part.add(&table, observed);
                        }
                    }
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("Knox worker panicked"))
            .collect()
    });
    let mut total = Simulated::empty(observed.len());
    for part in partials {
        for cell in 0..observed.len() {
            total.sums[cell] += part.sums[cell];
            total.at_least[cell] += part.at_least[cell];
        }
    }
    total
}

impl Simulated {
    fn empty(cells: usize) -> Self {
        Simulated {
            sums: vec![0; cells],
            at_least: vec![0; cells],
        }
    }

    fn add(&mut self, table: &[u64], observed: &[u64]) {
        for (cell, &count) in table.iter().enumerate() {
            self.sums[cell] += count;
            self.at_least[cell] += u32::from(count >= observed[cell]);
        }
    }
}

/// The time band of each whole-unit gap below the last band's limit (a lookup instead of a
/// division in the innermost loop).
struct GapBands {
    band_of_gap: Vec<u8>,
}

impl GapBands {
    fn new(time: &Bands) -> Self {
        let limit = time.limit().ceil().max(0.0) as usize;
        let band_of_gap = (0..limit)
            .map(|gap| time.of(gap as f64).map_or(u8::MAX, |b| b as u8))
            .collect();
        GapBands { band_of_gap }
    }

    fn of(&self, gap: u32) -> Option<usize> {
        match self.band_of_gap.get(gap as usize) {
            Some(&band) if band != u8::MAX => Some(band as usize),
            _ => None,
        }
    }
}

/// The Knox tables of permutations `range` (at most [`BLOCK`]), in one pass over the pairs.
fn count_block(
    pairs: &[ClosePair],
    times: &[i64],
    params: &KnoxParams,
    gaps: &GapBands,
    range: std::ops::Range<u32>,
) -> Vec<Vec<u64>> {
    let width = range.len();
    let base = times.iter().copied().min().unwrap_or(0);
    // Times relative to the earliest, interleaved: event i's times under the block's
    // permutations are interleaved[i * BLOCK .. i * BLOCK + width].
    let mut interleaved = vec![0i32; times.len() * BLOCK];
    for (p, r) in range.enumerate() {
        for (i, t) in permuted_times(times, params.seed, r)
            .into_iter()
            .enumerate()
        {
            interleaved[i * BLOCK + p] =
                i32::try_from(t - base).expect("event times span more than 2^31 units");
        }
    }
    let columns = params.time.count;
    let cells = params.distance.count * columns;
    let mut tables = vec![0u64; width * cells];
    // Most pairs are far apart in time: the branch skips them, cheaper than counting them in a
    // "beyond" column (measured: 118 s against 183 s for 100,000 burglaries).
    for &(i, j, d) in pairs {
        let a = &interleaved[i as usize * BLOCK..][..BLOCK];
        let b = &interleaved[j as usize * BLOCK..][..BLOCK];
        let row = d as usize * columns;
        for p in 0..width {
            if let Some(t) = gaps.of(a[p].abs_diff(b[p])) {
                tables[p * cells + row + t] += 1;
            }
        }
    }
    tables.chunks(cells).map(<[u64]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::distance;

    fn params() -> KnoxParams {
        KnoxParams {
            distance: Bands {
                width: 100.0,
                count: 5,
            },
            time: Bands {
                width: 7.0,
                count: 4,
            },
            permutations: 99,
            seed: 7,
        }
    }

    /// Every pair compared, with nothing shared with the fast path but the band rules.
    fn brute_force_table(points: &[(f64, f64)], times: &[i64], p: &KnoxParams) -> Vec<u64> {
        let mut table = vec![0u64; p.distance.count * p.time.count];
        for i in 0..points.len() {
            for j in i + 1..points.len() {
                let d = distance(points[i], points[j]);
                let t = (times[i] - times[j]).abs() as f64;
                let (Some(db), Some(tb)) = (p.distance.of(d), p.time.of(t)) else {
                    continue;
                };
                table[db * p.time.count + tb] += 1;
            }
        }
        table
    }

    fn sample() -> (Vec<(f64, f64)>, Vec<i64>) {
        let mut rng = StdRng::seed_from_u64(1);
        use rand::Rng;
        let points: Vec<(f64, f64)> = (0..400)
            .map(|_| (rng.random_range(0.0..2000.0), rng.random_range(0.0..2000.0)))
            .collect();
        let times: Vec<i64> = (0..400).map(|_| rng.random_range(0..120)).collect();
        (points, times)
    }

    #[test]
    fn knox_table_equals_a_brute_force_pair_count() {
        let (points, times) = sample();
        let p = params();
        let result = knox(&points, &times, &p);
        let observed: Vec<u64> = result.cells.iter().map(|c| c.observed).collect();
        assert_eq!(observed, brute_force_table(&points, &times, &p));
        assert!(
            observed.iter().sum::<u64>() > 50,
            "the sample is too sparse to test"
        );

        // The simulated side, recomputed by brute force from the same permutations (drawn over
        // the events in the order the test puts them in).
        let (points, times) = in_spatial_order(&points, &times, p.distance.limit());
        let mut sums = vec![0u64; observed.len()];
        let mut at_least = vec![0u32; observed.len()];
        for r in 0..p.permutations {
            let table = brute_force_table(&points, &permuted_times(&times, p.seed, r), &p);
            for cell in 0..table.len() {
                sums[cell] += table[cell];
                at_least[cell] += u32::from(table[cell] >= observed[cell]);
            }
        }
        for (cell, c) in result.cells.iter().enumerate() {
            assert_eq!(c.simulated_at_least_observed, at_least[cell]);
            assert!((c.expected - sums[cell] as f64 / 99.0).abs() < 1e-12);
            let p_value = c.p_value(99);
            assert!((p_value - (1.0 + at_least[cell] as f64) / 100.0).abs() < 1e-15);
        }
    }

    #[test]
    fn planted_near_repeats_are_found() {
        let (mut points, mut times) = sample();
        // 40 burglaries each followed by one next door (20 m) two days later.
        for k in 0..40 {
            let (x, y) = points[k];
            points.push((x + 20.0, y));
            times.push(times[k] + 2);
        }
        let result = knox(&points, &times, &params());
        let first = &result.cells[0];
        assert!(first.observed >= 40);
        assert!(first.ratio().unwrap() > 1.2, "{first:?}");
        assert!(first.p_value(99) <= 0.02, "{first:?}");
    }

    #[test]
    fn bands_are_half_open_and_labelled_as_such() {
        let b = Bands {
            width: 100.0,
            count: 5,
        };
        assert_eq!(b.of(0.0), Some(0));
        assert_eq!(b.of(99.999), Some(0));
        assert_eq!(b.of(100.0), Some(1));
        assert_eq!(b.of(500.0), None);
        assert_eq!(b.label(1, "m"), "[100, 200) m");
    }
}
