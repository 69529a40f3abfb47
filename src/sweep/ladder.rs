//! Ladders of load levels: `1,2,5,10`, geometric `1..256x2`, arithmetic
//! `10..50+10`.

/// Parses a ladder of concurrency levels (positive integers, increasing).
pub fn parse_concurrency(s: &str) -> Result<Vec<usize>, String> {
    let values = parse(s)?;
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if v < 1.0 || v.fract() != 0.0 || v > 1_000_000.0 {
            return Err(format!("`{s}`: concurrency levels are whole numbers from 1 (got {v})"));
        }
        out.push(v as usize);
    }
    check_increasing(s, &out)?;
    Ok(out)
}

/// Parses a ladder of request rates (positive, increasing).
pub fn parse_rates(s: &str) -> Result<Vec<f64>, String> {
    let values = parse(s)?;
    if let Some(v) = values.iter().find(|v| !(**v > 0.0 && v.is_finite())) {
        return Err(format!("`{s}`: rates must be finite numbers above 0 (got {v})"));
    }
    check_increasing(s, &values)?;
    Ok(values)
}

fn check_increasing<T: PartialOrd + std::fmt::Debug>(s: &str, v: &[T]) -> Result<(), String> {
    if v.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("`{s}`: levels must increase"));
    }
    Ok(())
}

/// At most this many levels, so a typo cannot start an endless sweep.
const MAX_LEVELS: usize = 200;

fn parse(s: &str) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once("..") {
            None => out.push(num(s, part)?),
            Some((start, rest)) => {
                let start = num(s, start)?;
                let (end, step) = if let Some((end, f)) = rest.split_once('x') {
                    (num(s, end)?, Step::Times(num(s, f)?))
                } else if let Some((end, d)) = rest.split_once('+') {
                    (num(s, end)?, Step::Plus(num(s, d)?))
                } else {
                    (num(s, rest)?, Step::Plus(1.0))
                };
                let mut v = start;
                match step {
                    Step::Times(f) if f <= 1.0 => return Err(format!("`{s}`: the factor after x must be above 1")),
                    Step::Plus(d) if d <= 0.0 => return Err(format!("`{s}`: the step after + must be above 0")),
                    _ => {}
                }
                if start <= 0.0 || end < start {
                    return Err(format!("`{s}`: a range runs from a positive start up to its end"));
                }
                // Small tolerance so 0.1-steps reach their end despite rounding.
                while v <= end * (1.0 + 1e-9) {
                    out.push((v * 1e6).round() / 1e6);
                    if out.len() > MAX_LEVELS {
                        return Err(format!("`{s}` has more than {MAX_LEVELS} levels"));
                    }
                    v = match step {
                        Step::Times(f) => v * f,
                        Step::Plus(d) => v + d,
                    };
                }
            }
        }
    }
    if out.is_empty() {
        return Err(format!("`{s}` has no levels"));
    }
    if out.len() > MAX_LEVELS {
        return Err(format!("`{s}` has more than {MAX_LEVELS} levels"));
    }
    Ok(out)
}

enum Step {
    Times(f64),
    Plus(f64),
}

fn num(whole: &str, part: &str) -> Result<f64, String> {
    part.trim()
        .parse::<f64>()
        .map_err(|_| format!("`{whole}`: `{part}` is not a number (write e.g. 1,2,5,10 or 1..256x2)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_ranges_and_geometric_forms() {
        assert_eq!(
            parse_concurrency("1,2,5,10,20,50,100").unwrap(),
            vec![1, 2, 5, 10, 20, 50, 100]
        );
        assert_eq!(
            parse_concurrency("1..256x2").unwrap(),
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256]
        );
        assert_eq!(parse_concurrency("10..40+10").unwrap(), vec![10, 20, 30, 40]);
        assert_eq!(parse_concurrency("1..3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_rates("0.5,1..4x2").unwrap(), vec![0.5, 1.0, 2.0, 4.0]);
        assert_eq!(parse_rates("0.1..0.3+0.1").unwrap(), vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn bad_ladders_say_why() {
        assert!(parse_concurrency("5,2").unwrap_err().contains("increase"));
        assert!(parse_concurrency("1.5").unwrap_err().contains("whole numbers"));
        assert!(parse_concurrency("1..10x1").unwrap_err().contains("factor"));
        assert!(parse_concurrency("a,b").unwrap_err().contains("not a number"));
        assert!(parse_concurrency("1..100000").unwrap_err().contains("more than"));
        assert!(parse_rates("0,1").unwrap_err().contains("above 0"));
        assert!(parse_concurrency("").unwrap_err().contains("no levels"));
    }
}
