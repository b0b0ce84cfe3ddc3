//! Walltime syntax, as the original's `convert_walltime_to_seconds` read it.
//!
//! * a number, or a string holding one, is **minutes** (`30` → 1800 s);
//! * a string with `:` is `[[HH:]MM:]SS`, summed right to left in powers of 60 (`0:45:00` → 2700 s);
//! * an empty string or `inf` means no limit.
//!
//! Anything else is an error (the original raised `ValueError` at submission; `smo` reports it
//! at validation).

use std::time::Duration;

/// Longest walltime accepted: ten years, far beyond any job, far below every integer limit.
pub const MAX_SECONDS: f64 = 10.0 * 365.0 * 86_400.0;

/// Parses a walltime; `Ok(None)` means no limit.
pub fn parse(text: &str) -> Result<Option<Duration>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("inf") {
        return Ok(None);
    }
    if t.contains(':') {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 3 {
            return Err(format!("`{text}` has more than three `:`-separated parts; use [[HH:]MM:]SS"));
        }
        let mut seconds = 0f64;
        for (power, part) in parts.iter().rev().enumerate() {
            let value: f64 =
                part.trim().parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                    format!("`{text}`: `{part}` is not a non-negative number; use [[HH:]MM:]SS such as 0:45:00")
                })?;
            seconds += value * 60f64.powi(power as i32);
        }
        return positive(seconds, text);
    }
    match t.parse::<f64>() {
        Ok(minutes) if minutes.is_finite() && minutes >= 0.0 => positive(minutes * 60.0, text),
        _ => Err(format!("`{text}` is not a walltime; use [[HH:]MM:]SS such as 0:45:00, or a number of minutes")),
    }
}

/// A walltime given as a number: minutes.
pub fn from_minutes(minutes: f64) -> Result<Option<Duration>, String> {
    if minutes.is_finite() && minutes >= 0.0 {
        positive(minutes * 60.0, &minutes.to_string())
    } else {
        Err(format!("`{minutes}` is not a number of minutes"))
    }
}

fn positive(seconds: f64, text: &str) -> Result<Option<Duration>, String> {
    if seconds == 0.0 {
        // The original treated 0 as "no deadline" (activeDeadlineSeconds must be positive).
        return Ok(None);
    }
    if seconds < 1.0 {
        return Err(format!("`{text}` is shorter than one second"));
    }
    // Kubernetes takes activeDeadlineSeconds as an int64; anything near that is a typo anyway.
    if seconds > MAX_SECONDS {
        return Err(format!("`{text}` is longer than {MAX_SECONDS} seconds; use [[HH:]MM:]SS such as 0:45:00"));
    }
    Duration::try_from_secs_f64(seconds).map(Some).map_err(|_| format!("`{text}` is not a usable walltime"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walltime_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0:45:00", Some(2700)),
            ("1:00:00", Some(3600)),
            ("10:30", Some(630)),
            ("90", Some(5400)),
            ("0.5", Some(30)),
            ("", None),
            ("inf", None),
            ("0", None),
            ("00:00:05", Some(5)),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.map(|d| d.as_secs()), *want, "{text}");
        }
    }

    #[test]
    fn bad_walltimes_say_what_is_expected() {
        for bad in ["abc", "1:2:3:4", "1:x:00", "-5", "1h", "0:-1:00", "1e300", "99999999999999999999:00:00", "NaN"] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains(bad) || err.contains("not"), "{bad}: {err}");
        }
    }

    #[test]
    fn numbers_are_minutes() {
        assert_eq!(from_minutes(2.0), Ok(Some(Duration::from_secs(120))));
        assert!(from_minutes(-1.0).is_err());
        assert!(from_minutes(1e300).is_err(), "an absurd number is an error, not a panic");
    }
}
