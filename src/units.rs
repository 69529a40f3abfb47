//! Parsers for the values users type on the command line: durations
//! (`200ms`, `2s`, `1m`, `1m30s`) and request rates (`20`, `0.5`, `inf`).
//!
//! They are used as clap `value_parser`s, so a bad value is reported by clap
//! with the flag's name and exits with the usage status.

use std::time::Duration;

/// Parses `200ms`, `2s`, `1.5s`, `1m`, `1m30s`. A bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return secs_to_duration(secs).ok_or_else(|| format!("`{s}` is not a valid duration"));
    }
    // humantime does not take fractions ("1.5s"); handle a single fractional
    // number + unit here and leave compound forms ("1m30s") to humantime.
    if let Some(pos) = t.find(|c: char| c.is_ascii_alphabetic()) {
        let (num, unit) = t.split_at(pos);
        if num.contains('.') {
            let v: f64 = num.parse().map_err(|_| format!("`{s}` is not a valid duration"))?;
            let secs = match unit {
                "us" | "µs" => v / 1e6,
                "ms" => v / 1e3,
                "s" | "sec" => v,
                "m" | "min" => v * 60.0,
                "h" => v * 3600.0,
                _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
            };
            return secs_to_duration(secs).ok_or_else(|| format!("`{s}` is not a valid duration"));
        }
    }
    humantime::parse_duration(t).map_err(|e| format!("`{s}` is not a valid duration ({e}); use e.g. 200ms, 2s, 1m"))
}

fn secs_to_duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// A request rate in requests per second; `inf` sends everything at once.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity") {
        return Ok(f64::INFINITY);
    }
    match t.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` is not a rate: give requests per second > 0, or `inf`")),
    }
}

/// A fraction in [0, 1]; `5%` is accepted too.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a fraction (use e.g. 0.05 or 5%)"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` must be between 0 and 1"))
    }
}

/// Formats a duration the way it is typed: `250ms`, `2s`, `1.5s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1000.0 {
        format!("{}ms", trim_float(ms))
    } else {
        format!("{}s", trim_float(ms / 1e3))
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A closed set of named values a user picks by name (`--api openai-chat`,
/// `api = "tgi"` in a scenario file).
///
/// The types live with the code that uses them and know nothing of the
/// command line; `cli` builds clap's possible values from [`Choice::ALL`],
/// and scenario files read them with [`de_choice`], so a name is spelled
/// the same everywhere and the list of names in an error is always complete.
pub trait Choice: Sized + Copy + 'static {
    /// Every value, in the order help texts list them.
    const ALL: &'static [Self];
    /// The name users type.
    fn name(self) -> &'static str;
    /// One line of help for the value.
    fn help(self) -> &'static str;
    /// The value named `s` (ASCII case ignored).
    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name().eq_ignore_ascii_case(s.trim()))
    }
    /// `a, b, c`: every name, for error messages.
    fn names() -> String {
        Self::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
    }
}

/// Deserializes a [`Choice`] from its name; the error lists every name.
pub fn de_choice<'de, D: serde::Deserializer<'de>, T: Choice>(d: D) -> Result<Option<T>, D::Error> {
    use serde::Deserialize;
    let s = String::deserialize(d)?;
    T::parse(&s)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not one of {}", T::names())))
}

/// Serializes a [`Choice`] as its name.
pub fn ser_choice<S: serde::Serializer, T: Choice>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.name()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_form_users_type() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5parsecs").is_err());
    }

    #[test]
    fn rates_accept_inf_and_reject_zero() {
        assert_eq!(parse_rate("inf"), Ok(f64::INFINITY));
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-3").is_err());
        assert!(parse_rate("lots").is_err());
    }

    #[test]
    fn fractions_and_percentages() {
        assert_eq!(parse_fraction("0.1"), Ok(0.1));
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert!(parse_fraction("1.5").is_err());
    }

    #[test]
    fn durations_format_back() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
