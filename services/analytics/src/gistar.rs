//! Getis-Ord Gi* (Getis & Ord 1992; Ord & Getis 1995): is a place, together with its
//! neighbours, hotter (or colder) than the force area as a whole?
//!
//! With binary weights w_ij (1 for j within the distance band of i, i itself included — the
//! "star"), n places, values x, mean x̄ and s² = Σx²/n − x̄²:
//!
//! ```text
//! Gi* = (Σ_j w_ij x_j − x̄ W_i) / (s · √((n W_i − W_i²) / (n − 1))),   W_i = Σ_j w_ij
//! ```
//!
//! a z-score; it is undefined (`None`) when every place has the same value (s = 0) or when a
//! place's neighbourhood is the whole area (W_i = n). PySAL's `esda.G_Local(star=True,
//! transform="B")` computes the same statistic (its `Zs`); the test suite checks the two agree.

use crate::geo::Grid;

/// Binary distance-band weights, self included: for each point, the points at distance ≤
/// `threshold` metres (libpysal's `DistanceBand(binary=True)` uses ≤ too), sorted.
pub fn distance_band(points: &[(f64, f64)], threshold: f64) -> Vec<Vec<u32>> {
    let grid = Grid::new(points, threshold);
    points.iter().map(|&p| grid.within(p, threshold)).collect()
}

/// Gi* z-score of each place; `neighbours[i]` must include `i`.
pub fn gi_star(values: &[f64], neighbours: &[Vec<u32>]) -> Vec<Option<f64>> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let s = (values.iter().map(|x| x * x).sum::<f64>() / n - mean * mean)
        .max(0.0)
        .sqrt();
    neighbours
        .iter()
        .map(|hood| {
            let w = hood.len() as f64;
            let local: f64 = hood.iter().map(|&j| values[j as usize]).sum();
            let spread = s * ((n * w - w * w) / (n - 1.0)).sqrt();
            (spread > 0.0).then(|| (local - mean * w) / spread)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hot_cluster_scores_high_and_a_cold_one_low() {
        // A 10 × 10 grid of places 100 m apart; the 3 × 3 block in one corner is hot.
        let points: Vec<(f64, f64)> = (0..100)
            .map(|i| ((i % 10) as f64 * 100.0, (i / 10) as f64 * 100.0))
            .collect();
        let values: Vec<f64> = (0..100)
            .map(|i| if i % 10 < 3 && i / 10 < 3 { 20.0 } else { 2.0 })
            .collect();
        let weights = distance_band(&points, 150.0);
        assert_eq!(
            weights[11].len(),
            9,
            "queen-like neighbourhood of an inner place"
        );
        let z = gi_star(&values, &weights);
        assert!(z[11].unwrap() > 5.0, "{:?}", z[11]);
        assert!(z[88].unwrap() < 0.0, "{:?}", z[88]);
        assert_eq!(gi_star(&[1.0, 1.0], &[vec![0], vec![1]]), vec![None, None]);
    }
}
