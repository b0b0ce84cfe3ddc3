//! Custom metrics from a finished job's log, by the step's `events.metrics` patterns.
//!
//! Each pattern is a regular expression (compiled once, when the workflow is validated) whose
//! first capture group is a number; its matches are reduced to one value (`last` by default).
//! The log is fed line by line, so a pattern matches within one line and memory does not grow
//! with the log: every reduction keeps a fixed-size accumulator.
//!
//! The original's `events.script` (`parse_log(log)` in Python) runs outside the core, in a
//! subprocess (`smo_actors::log_reader`).

use crate::workflow::{LogMetric, Reduce};

/// What a reduction needs to know of the matches seen so far.
#[derive(Clone, Copy, Debug, Default)]
struct Accumulator {
    count: u64,
    sum: f64,
    first: Option<f64>,
    last: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Accumulator {
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.first.get_or_insert(v);
        self.last = Some(v);
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
    }

    fn reduce(&self, reduce: Reduce) -> Option<f64> {
        match reduce {
            Reduce::Count => Some(self.count as f64),
            _ if self.count == 0 => None,
            Reduce::Last => self.last,
            Reduce::First => self.first,
            Reduce::Sum => Some(self.sum),
            Reduce::Min => self.min,
            Reduce::Max => self.max,
            Reduce::Mean => Some(self.sum / self.count as f64),
        }
    }
}

/// Reads a log one line at a time and reduces every pattern's matches.
#[derive(Debug)]
pub struct LogScanner<'a> {
    metrics: &'a [LogMetric],
    seen: Vec<Accumulator>,
}

impl<'a> LogScanner<'a> {
    /// A scanner for a step's `events.metrics`.
    pub fn new(metrics: &'a [LogMetric]) -> LogScanner<'a> {
        LogScanner { metrics, seen: vec![Accumulator::default(); metrics.len()] }
    }

    /// Feeds one line of the log (with or without its line break).
    pub fn line(&mut self, line: &str) {
        // `$` is the end of the line, not of its line break.
        let line = line.trim_end_matches(['\n', '\r']);
        for (metric, seen) in self.metrics.iter().zip(self.seen.iter_mut()) {
            for c in metric.pattern.regex().captures_iter(line) {
                let number = c.get(1).or_else(|| c.get(0)).and_then(|m| m.as_str().trim().parse::<f64>().ok());
                if let Some(v) = number.filter(|v| v.is_finite()) {
                    seen.add(v);
                }
            }
        }
    }

    /// The value of every metric that has one.
    pub fn finish(self) -> Vec<(String, f64)> {
        self.metrics
            .iter()
            .zip(self.seen)
            .filter_map(|(metric, seen)| seen.reduce(metric.reduce).map(|v| (metric.key.clone(), v)))
            .collect()
    }
}

/// `line` without the RFC 3339 timestamp and the space Kubernetes puts before each line of a
/// log read with `timestamps=true` (`2026-11-30T01:02:03.123456789Z text`), so that a pattern
/// matches a job's output the same way on Kubernetes as in a local run. A line that does not
/// start with such a timestamp is returned whole.
pub fn without_timestamp(line: &str) -> &str {
    let Some((stamp, rest)) = line.split_once(' ') else { return line };
    let b = stamp.as_bytes();
    // `YYYY-MM-DDTHH:MM:SS`, every byte checked (the log is the user's: any byte may be there),
    // then fractions and a zone: `Z` or an offset.
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    let shaped = b.len() >= 20
        && SHAPE.iter().zip(b).all(|(want, got)| if *want == b'd' { got.is_ascii_digit() } else { want == got })
        && (b.ends_with(b"Z") || b[19..].iter().any(|c| matches!(c, b'+' | b'-')));
    if shaped { rest } else { line }
}

/// The metrics of a whole log given as text (line by line, as [`LogScanner`]).
pub fn from_text(metrics: &[LogMetric], log: &str) -> Vec<(String, f64)> {
    let mut scanner = LogScanner::new(metrics);
    log.lines().for_each(|l| scanner.line(l));
    scanner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Pattern;

    fn metric(key: &str, pattern: &str, reduce: Reduce) -> LogMetric {
        LogMetric { key: key.into(), pattern: Pattern::new(pattern).expect("valid"), reduce }
    }

    #[test]
    fn patterns_reduce_their_matches() {
        let log = "Accuracy: 0.5\nloss 3\nAccuracy: 0.75\nAccuracy: 0.6\n";
        let cases = [
            (Reduce::Last, Some(0.6)),
            (Reduce::First, Some(0.5)),
            (Reduce::Max, Some(0.75)),
            (Reduce::Min, Some(0.5)),
            (Reduce::Count, Some(3.0)),
            (Reduce::Sum, Some(1.85)),
        ];
        for (reduce, want) in cases {
            let got = from_text(&[metric("accuracy", r"Accuracy: ([0-9.]+)", reduce)], log);
            let got = got.first().map(|(_, v)| *v);
            assert!(got.zip(want).is_some_and(|(g, w)| (g - w).abs() < 1e-12), "{reduce:?}: {got:?}");
        }
        let mean = from_text(&[metric("a", r"Accuracy: ([0-9.]+)", Reduce::Mean)], log);
        assert!((mean[0].1 - 1.85 / 3.0).abs() < 1e-12);
        assert!(from_text(&[metric("x", r"nothing (\d+)", Reduce::Last)], log).is_empty());
        assert_eq!(from_text(&[metric("x", r"nothing (\d+)", Reduce::Count)], log), vec![("x".into(), 0.0)]);
    }

    #[test]
    fn a_pattern_anchored_at_both_ends_matches_a_line_with_its_break() {
        let metrics = [metric("a", r"^accuracy: ([0-9.]+)$", Reduce::Last)];
        let mut scanner = LogScanner::new(&metrics);
        scanner.line("accuracy: 0.9\r\n");
        assert_eq!(scanner.finish(), vec![("a".into(), 0.9)]);
    }

    #[test]
    fn kubernetes_timestamps_are_taken_off_lines_and_nothing_else_is() {
        assert_eq!(without_timestamp("2026-11-30T01:02:03.123456789Z accuracy: 0.9"), "accuracy: 0.9");
        assert_eq!(without_timestamp("2026-11-30T01:02:03+01:00 x"), "x");
        assert_eq!(without_timestamp("2026-11-30T01:02:03.5Z "), "");
        // Not a time, and no panic on a character that straddles the shape's end.
        for kept in [
            "accuracy: 0.9",
            "2026-11-30 happened",
            "2026-11-30T01:02:03Zx",
            "",
            "epoch 1 T:",
            "2026-11-30T01:02:0é+x y",
            "2026-1é-30T01:02:03Z x",
        ] {
            assert_eq!(without_timestamp(kept), kept);
        }
    }

    #[test]
    fn a_line_fed_in_pieces_of_a_stream_gives_the_same_values() {
        let metrics = [metric("n", r"n=(\d+)", Reduce::Sum), metric("last", r"n=(\d+)", Reduce::Last)];
        let mut scanner = LogScanner::new(&metrics);
        for i in 0..10_000 {
            scanner.line(&format!("step {i} n={i}\n"));
        }
        assert_eq!(scanner.finish(), vec![("n".into(), 49_995_000.0), ("last".into(), 9_999.0)]);
    }
}
