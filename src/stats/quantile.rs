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

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A percentile, 0 to 100 inclusive: what `--metric-percentiles 25,99.9`
/// lists and what an objective such as `itl_p99.9<50ms` names.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Percentile(f64);

/// A percentile that is not one: names the text and what is wrong.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PercentileError {
    #[error("no percentile given: list numbers from 0 to 100, e.g. 50,90,99")]
    Empty,
    #[error("`{0}` is not a number: a percentile is a number from 0 to 100, e.g. 99.9")]
    NotANumber(String),
    #[error("percentile `{0}` is outside 0..100")]
    OutOfRange(String),
}

impl Percentile {
    /// A percentile from 0 to 100 inclusive.
    pub fn new(p: f64) -> Result<Self, PercentileError> {
        if p.is_finite() && (0.0..=100.0).contains(&p) {
            Ok(Self(p))
        } else {
            Err(PercentileError::OutOfRange(format!("{p}")))
        }
    }

    /// `99.9`, `42`: a number from 0 to 100.
    pub fn parse(text: &str) -> Result<Self, PercentileError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(PercentileError::Empty);
        }
        let p: f64 = t.parse().map_err(|_| PercentileError::NotANumber(t.to_string()))?;
        Self::new(p).map_err(|_| PercentileError::OutOfRange(t.to_string()))
    }

    /// A comma-separated list (`25,50,90,99,99.9`), in the order given,
    /// repeats dropped; at least one.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PercentileError> {
        let mut out: Vec<Self> = Vec::new();
        for item in text.split(',') {
            let p = Self::parse(item)?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The percentile, 0 to 100.
    pub fn value(self) -> f64 {
        self.0
    }

    /// The same as a quantile, 0 to 1, rounded to 8 decimals so that
    /// 99.9 gives exactly the 0.999 the fixed p99.9 uses (99.9 / 100 is
    /// 0.9990000000000001 in floating point).
    pub fn quantile(self) -> f64 {
        (self.0 * 1e6).round() / 1e8
    }

    /// How vLLM writes it in labels and keys (`P99`, `p99.9_itl_ms`):
    /// Python's `str(int(p)) if int(p) == p else str(p)`, so an integral
    /// percentile loses its `.0` and any other prints as Python prints a
    /// float (shortest round-trip digits, `1e-05` below 0.0001).
    pub fn word(self) -> String {
        let p = self.0;
        if p.fract() == 0.0 {
            return format!("{}", p as u64);
        }
        if p < 1e-4 {
            // Python's repr switches to an exponent below 1e-4: `1e-05`, `2.5e-07`.
            let s = format!("{p:e}");
            let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            return format!("{mantissa}e{sign}{:02}", exp.abs());
        }
        format!("{p}")
    }
}

impl fmt::Display for Percentile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.word())
    }
}

impl TryFrom<f64> for Percentile {
    type Error = PercentileError;
    fn try_from(p: f64) -> Result<Self, Self::Error> {
        Self::new(p)
    }
}

impl From<Percentile> for f64 {
    fn from(p: Percentile) -> f64 {
        p.0
    }
}

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
    fn percentiles_parse_and_print_as_vllm_does() {
        let list = Percentile::parse_list("25, 50,90,99,99.9,50").unwrap();
        let words: Vec<String> = list.iter().map(|p| p.word()).collect();
        assert_eq!(words, ["25", "50", "90", "99", "99.9"], "repeats dropped, order kept");
        assert_eq!(Percentile::parse("0").unwrap().word(), "0");
        assert_eq!(Percentile::parse("100").unwrap().word(), "100");
        assert_eq!(Percentile::parse("99.0").unwrap().word(), "99");
        assert_eq!(Percentile::parse("0.5").unwrap().word(), "0.5");
        assert_eq!(Percentile::parse("99.99").unwrap().word(), "99.99");
        // Python: str(0.00001) == '1e-05'
        assert_eq!(Percentile::parse("0.00001").unwrap().word(), "1e-05");
        assert_eq!(Percentile::parse("99.9").unwrap().quantile(), 0.999);
    }

    #[test]
    fn bad_percentiles_say_what_is_wrong() {
        assert_eq!(Percentile::parse_list(""), Err(PercentileError::Empty));
        assert_eq!(Percentile::parse_list("50,,99"), Err(PercentileError::Empty));
        assert_eq!(
            Percentile::parse_list("50,abc"),
            Err(PercentileError::NotANumber("abc".into()))
        );
        let e = Percentile::parse_list("101").unwrap_err();
        assert_eq!(e.to_string(), "percentile `101` is outside 0..100");
        assert!(Percentile::parse("-1").is_err());
        assert!(Percentile::parse("nan").is_err());
        assert!(Percentile::parse("inf").is_err());
        assert!(serde_json::from_str::<Percentile>("120").is_err());
        assert_eq!(
            serde_json::to_string(&Percentile::parse("99.9").unwrap()).unwrap(),
            "99.9"
        );
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
