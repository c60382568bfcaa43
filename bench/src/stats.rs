//! Order statistics over repeated runs: nearest-rank percentiles, so every figure reported is
//! one that was measured.

use std::time::Duration;

/// Nearest-rank percentile `p` (0–100) of `values` (any order); 0 when empty.
pub(crate) fn percentile(values: &[f64], p: usize) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// The median (nearest rank: the lower middle of an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    percentile(values, 50)
}

/// Milliseconds of a duration, as a float.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(median(&v), 3.0);
        assert_eq!(percentile(&v, 90), 5.0);
        assert_eq!(percentile(&v, 0), 1.0);
        assert_eq!(median(&[2.0, 1.0]), 1.0);
        assert_eq!(median(&[]), 0.0);
    }
}
