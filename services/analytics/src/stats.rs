//! The statistics behind the analytics: the conditional exact test for a change between two
//! counts, normal p-values, false-discovery-rate control and measures of concentration.

use std::f64::consts::{LN_2, SQRT_2};

/// Two-sided p-value of the conditional exact test for a change from `before` to `after`
/// (DOMAIN.md): if nothing changed, `after | before + after ~ Bin(before + after, ½)`.
///
/// The distribution is symmetric, so the two-sided p-value (the probability of every outcome
/// no more likely than the one seen, as R's `binom.test` and SciPy's `binomtest` define it) is
/// twice the smaller tail, capped at 1. No counts at all is no evidence: p = 1.
pub fn change_p_value(before: u64, after: u64) -> f64 {
    let n = before + after;
    let k = before.min(after);
    if n == 0 || 2 * k == n {
        return 1.0;
    }
    (2.0 * half_binomial_cdf(n, k)).min(1.0)
}

/// P(X ≤ k) for X ~ Bin(n, ½) and k < n/2, summed downwards from the largest term so that
/// large n (force-wide monthly counts in the tens of thousands) neither overflows nor
/// underflows.
fn half_binomial_cdf(n: u64, k: u64) -> f64 {
    let (nf, kf) = (n as f64, k as f64);
    let ln_top =
        libm::lgamma(nf + 1.0) - libm::lgamma(kf + 1.0) - libm::lgamma(nf - kf + 1.0) - nf * LN_2;
    // C(n, i-1) / C(n, i) = i / (n - i + 1): each term is a fraction of the one above it.
    let mut sum = 1.0;
    let mut term = 1.0;
    let mut i = k;
    while i > 0 {
        term *= i as f64 / (n - i + 1) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
        i -= 1;
    }
    (ln_top.exp() * sum).min(1.0)
}

/// Two-sided p-value of a standard normal z-score (`None` for an undefined score).
pub fn normal_two_sided_p(z: f64) -> f64 {
    libm::erfc(z.abs() / SQRT_2)
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the order given: a finding is a
/// discovery at false-discovery rate α when its q ≤ α.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut q = vec![1.0; n];
    let mut running_min: f64 = 1.0;
    for (rank, &i) in order.iter().enumerate().rev() {
        running_min = running_min.min(p[i] * n as f64 / (rank + 1) as f64);
        q[i] = running_min;
    }
    q
}

/// How concentrated counts are over a set of places (every place, including those with none).
#[derive(Debug, Clone, PartialEq)]
pub struct Concentration {
    pub places: usize,
    pub total: u64,
    /// Fewest places that together hold at least 25% / 50% of the total.
    pub places_for_25pct: usize,
    pub places_for_50pct: usize,
    /// Share of the total held by the top 5% of places (rounded up to whole places).
    pub top_5pct_share: f64,
    /// Gini coefficient over places (0: even; towards 1: all in one place).
    pub gini: f64,
}

pub fn concentration(counts: &[u64]) -> Concentration {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = sorted.iter().sum();
    let places_holding = |share: f64| {
        let mut running = 0u64;
        for (i, c) in sorted.iter().enumerate() {
            running += c;
            if running as f64 >= share * total as f64 {
                return i + 1;
            }
        }
        sorted.len()
    };
    let top = sorted.len().div_ceil(20);
    let top_sum: u64 = sorted[..top].iter().sum();
    Concentration {
        places: sorted.len(),
        total,
        places_for_25pct: if total == 0 { 0 } else { places_holding(0.25) },
        places_for_50pct: if total == 0 { 0 } else { places_holding(0.5) },
        top_5pct_share: ratio(top_sum as f64, total as f64),
        gini: gini(&sorted),
    }
}

/// Gini coefficient: G = 2 Σ i·x₍ᵢ₎ / (n Σ x) − (n + 1) / n, with x ascending and i from 1.
pub fn gini(counts: &[u64]) -> f64 {
    let mut ascending = counts.to_vec();
    ascending.sort_unstable();
    let n = ascending.len() as f64;
    let total: f64 = ascending.iter().map(|&c| c as f64).sum();
    if total == 0.0 {
        return 0.0;
    }
    let weighted: f64 = ascending
        .iter()
        .enumerate()
        .map(|(i, &c)| (i + 1) as f64 * c as f64)
        .sum();
    2.0 * weighted / (n * total) - (n + 1.0) / n
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_test_matches_hand_computed_binomial_tails() {
        // n = 13, k = 3: P(X ≤ 3) = (1 + 13 + 78 + 286) / 8192.
        assert!((change_p_value(3, 10) - 2.0 * 378.0 / 8192.0).abs() < 1e-15);
        assert!((change_p_value(10, 3) - 2.0 * 378.0 / 8192.0).abs() < 1e-15);
        assert_eq!(change_p_value(0, 0), 1.0);
        assert_eq!(change_p_value(5, 5), 1.0);
        // n = 1: P(X ≤ 0) = ½, doubled = 1.
        assert_eq!(change_p_value(0, 1), 1.0);
        // n = 2, k = 0: 2 · ¼.
        assert!((change_p_value(0, 2) - 0.5).abs() < 1e-15);
        // Large counts: 10,000 vs 10,400 is a real change (z ≈ 2.8, p ≈ 0.005).
        let p = change_p_value(10_000, 10_400);
        assert!(p > 0.004 && p < 0.006, "{p}");
        assert!(change_p_value(100_000, 0) >= 0.0);
    }

    #[test]
    fn bh_q_values_are_monotone_and_match_the_textbook_example() {
        let p = [0.01, 0.04, 0.03, 0.005];
        let q = benjamini_hochberg(&p);
        // Sorted: 0.005·4/1 = 0.02, 0.01·4/2 = 0.02, 0.03·4/3 = 0.04, 0.04·4/4 = 0.04.
        let expect = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in q.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    #[test]
    fn concentration_and_gini() {
        let c = concentration(&[0, 0, 0, 10]);
        assert_eq!((c.places_for_25pct, c.places_for_50pct), (1, 1));
        assert!((c.gini - 0.75).abs() < 1e-12);
        assert_eq!(c.top_5pct_share, 1.0);
        let even = concentration(&[5, 5, 5, 5]);
        assert_eq!(even.gini, 0.0);
        assert_eq!((even.places_for_25pct, even.places_for_50pct), (1, 2));
        assert!((normal_two_sided_p(1.959963984540054) - 0.05).abs() < 1e-12);
    }
}
