//! Percentiles, defined in one place.
//!
//! inferload's percentiles are **nearest rank**: the p-th percentile of n
//! samples is the smallest sample with at least p·n samples at or below it
//! (the ⌈p·n⌉-th smallest, the first for p = 0). Every figure the console,
//! the JSON document, the reports, the history and the live dashboard show
//! comes from one of the first two functions here:
//!
//! - [`hdr`]: over an HDR histogram (the summary's and the dashboard's),
//!   exact to the histogram's 3 significant digits;
//! - [`nearest_rank`]: over exact samples (the charts' saved distributions).
//!
//! [`numpy_linear`] exists for one output only, deliberately: vLLM's result
//! file (`--save-result`) must hold what `vllm bench serve` would write,
//! and vLLM computes its percentiles with `np.percentile`, which
//! interpolates linearly between neighbouring samples. Its figures can
//! therefore differ from inferload's own by that interpolation (and by the
//! histogram's resolution); nothing else uses it.

use hdrhistogram::Histogram;

/// The nearest-rank `q`-quantile (`q` in 0–1) of a histogram's values, in
/// its unit; 0 for an empty histogram.
pub fn hdr(h: &Histogram<u64>, q: f64) -> u64 {
    h.value_at_quantile(q.clamp(0.0, 1.0))
}

/// The nearest-rank `q`-quantile (`q` in 0–1) of sorted samples: the
/// ⌈q·n⌉-th smallest (the smallest for q = 0); `None` without samples.
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let k = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
    Some(sorted[k - 1])
}

/// `np.percentile(sorted, p)` (`p` in 0–100) with NumPy's default linear
/// interpolation; 0 without samples, as vLLM reports. For vLLM's result
/// file only (see the module documentation).
pub fn numpy_linear(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let rank = p.clamp(0.0, 100.0) / 100.0 * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_takes_the_sample_at_the_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.0), Some(1.0));
        assert_eq!(nearest_rank(&v, 0.5), Some(5.0));
        assert_eq!(nearest_rank(&v, 0.51), Some(6.0));
        assert_eq!(nearest_rank(&v, 0.9), Some(9.0));
        assert_eq!(nearest_rank(&v, 0.99), Some(10.0));
        assert_eq!(nearest_rank(&v, 1.0), Some(10.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn the_histogram_agrees_with_the_exact_samples() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        for x in &v {
            h.record(*x as u64).unwrap();
        }
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = nearest_rank(&v, q).unwrap();
            let approx = hdr(&h, q) as f64;
            assert!((approx - exact).abs() <= exact * 1e-3, "q {q}: {approx} vs {exact}");
        }
        assert_eq!(hdr(&Histogram::<u64>::new(3).unwrap(), 0.5), 0);
    }

    #[test]
    fn numpy_interpolates_between_neighbours() {
        assert_eq!(numpy_linear(&[], 50.0), 0.0);
        assert_eq!(numpy_linear(&[3.0], 99.0), 3.0);
        assert_eq!(numpy_linear(&[1.0, 2.0], 50.0), 1.5);
        // np.percentile([1, 2, 3, 4], 99) = 3.97
        assert!((numpy_linear(&[1.0, 2.0, 3.0, 4.0], 99.0) - 3.97).abs() < 1e-12);
    }
}
