//! `workflow-times.json`: the original's record of when things happened.
//!
//! ```json
//! {"times": {}, "timestamps": {"workflow_start": 1700000000.0,
//!   "job_012345678_step_a_start": …, "job_012345678_step_a_succeeded": …, "workflow_complete": …}}
//! ```
//!
//! Timestamps are seconds since the Unix epoch; the first value written for a key wins.
//! A step that runs again (a `repeat` rule) records its later attempts as
//! `<jobid>_<step>_attempt<N>_<event>` (see [`job_key`]), so every job has its span.
//! [`Times::spans`] reads them back into one span per job, splitting `<jobid>_<step>_<event>`
//! at the job id's nine digits (the original's analysis split at the last `_`, which broke step
//! names containing `_`).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Named durations and event timestamps of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Times {
    /// Durations in seconds of repeated operations, by name (the original's `@timed` calls).
    #[serde(default)]
    pub times: BTreeMap<String, Vec<f64>>,
    /// Seconds since the epoch, by event.
    #[serde(default)]
    pub timestamps: BTreeMap<String, f64>,
}

/// `<jobid>_<step>` for a step's first attempt (the original's key), and
/// `<jobid>_<step>_attempt<N>` for later ones; the event (`_start`, …) is appended to it.
pub fn job_key(jobid: &str, step: &str, attempt: u32) -> String {
    if attempt > 1 { format!("{jobid}_{step}_attempt{attempt}") } else { format!("{jobid}_{step}") }
}

/// A UTC calendar time: year, month, day, hour, minute, second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
}

impl Utc {
    /// The UTC calendar time of `t` (times before the epoch count as the epoch).
    pub fn of(t: SystemTime) -> Utc {
        let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let rem = (secs % 86_400) as u32;
        // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc { year, month, day, hour: rem / 3600, minute: rem % 3600 / 60, second: rem % 60 }
    }

    /// RFC 3339, e.g. `2026-11-25T09:30:00Z`.
    pub fn rfc3339(&self) -> String {
        let Utc { year, month, day, hour, minute, second } = *self;
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    }

    /// Compact, for file names: `20261125-093000`.
    pub fn compact(&self) -> String {
        let Utc { year, month, day, hour, minute, second } = *self;
        format!("{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}")
    }
}

/// How a job span ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanEnd {
    /// `<jobid>_<step>_succeeded`.
    Succeeded,
    /// `<jobid>_<step>_failed`.
    Failed,
    /// No end recorded (still running when the run ended).
    Open,
}

/// One job: a step of a sequence, from its first event to its end.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The sequence.
    pub jobid: String,
    /// The step.
    pub step: String,
    /// Attempt of the step (1, then 2, 3, … for repeats).
    pub attempt: u32,
    /// First event, seconds since the epoch.
    pub start: f64,
    /// End, seconds since the epoch (None if open).
    pub end: Option<f64>,
    /// How it ended.
    pub outcome: SpanEnd,
}

static EVENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.*?\d{9})_(.+?)(?:_attempt(\d+))?_(start|succeeded|failed)$").expect("valid regex")
});

impl Times {
    /// Records `key` at `t` unless it was recorded before.
    pub fn mark(&mut self, key: String, t: f64) {
        self.timestamps.entry(key).or_insert(t);
    }

    /// Adds one duration sample under `name`.
    pub fn add_duration(&mut self, name: &str, seconds: f64) {
        self.times.entry(name.to_string()).or_default().push((seconds * 1000.0).round() / 1000.0);
    }

    /// The JSON the original wrote.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// Reads a `workflow-times.json`.
    pub fn from_json(text: &str) -> Result<Times, String> {
        serde_json::from_str(text).map_err(|e| format!("not a workflow-times.json: {e}"))
    }

    /// One span per job, ordered by start.
    pub fn spans(&self) -> Vec<Span> {
        let mut spans: BTreeMap<(String, String, u32), Span> = BTreeMap::new();
        for (key, t) in &self.timestamps {
            let Some(c) = EVENT.captures(key) else { continue };
            let (jobid, step) = (c[1].to_string(), c[2].to_string());
            let attempt: u32 = c.get(3).and_then(|a| a.as_str().parse().ok()).unwrap_or(1);
            let event = c.get(4).map(|e| e.as_str()).unwrap_or_default();
            let span = spans.entry((jobid.clone(), step.clone(), attempt)).or_insert(Span {
                jobid,
                step,
                attempt,
                start: f64::NAN,
                end: None,
                outcome: SpanEnd::Open,
            });
            match event {
                "start" => span.start = *t,
                "succeeded" => {
                    span.end = Some(*t);
                    span.outcome = SpanEnd::Succeeded;
                }
                _ => {
                    span.end = Some(*t);
                    span.outcome = SpanEnd::Failed;
                }
            }
        }
        let mut out: Vec<Span> = spans
            .into_values()
            .map(|mut s| {
                if s.start.is_nan() {
                    s.start = s.end.unwrap_or(0.0);
                }
                s
            })
            .collect();
        out.sort_by(|a, b| a.start.total_cmp(&b.start).then_with(|| a.jobid.cmp(&b.jobid)));
        out
    }

    /// The sequences whose step `last` (the workflow's last step) succeeded: completed, whatever
    /// the cluster still shows of their jobs.
    pub fn completed_sequences(&self, last: &str) -> std::collections::BTreeSet<String> {
        self.timestamps
            .keys()
            .filter_map(|key| EVENT.captures(key))
            .filter(|c| &c[2] == last && c.get(4).is_some_and(|e| e.as_str() == "succeeded"))
            .map(|c| c[1].to_string())
            .collect()
    }

    /// `workflow_start` and `workflow_complete`, if recorded.
    pub fn workflow_bounds(&self) -> (Option<f64>, Option<f64>) {
        (self.timestamps.get("workflow_start").copied(), self.timestamps.get("workflow_complete").copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_calendar_dates() {
        let at = |s: u64| Utc::of(UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000).rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_102_444_799).rfc3339(), "2099-12-31T23:59:59Z");
        assert_eq!(at(1_700_000_000).compact(), "20231114-221320");
    }

    #[test]
    fn the_sequences_whose_last_step_succeeded_are_completed() {
        let mut t = Times::default();
        for key in [
            "job_000000001_a_succeeded",
            "job_000000001_c_succeeded",
            "job_000000002_c_attempt2_succeeded",
            "job_000000003_c_failed",
            "job_000000004_c_start",
            "my_prefix_000000005_c_succeeded",
            "workflow_complete",
        ] {
            t.mark(key.into(), 1.0);
        }
        let done: Vec<String> = t.completed_sequences("c").into_iter().collect();
        assert_eq!(done, ["job_000000001", "job_000000002", "my_prefix_000000005"]);
        assert!(t.completed_sequences("b").is_empty());
    }

    #[test]
    fn first_write_wins_and_json_round_trips() {
        let mut t = Times::default();
        t.mark("workflow_start".into(), 1.0);
        t.mark("workflow_start".into(), 2.0);
        t.add_duration("submit", 0.12345);
        let back = Times::from_json(&t.to_json()).expect("parses");
        assert_eq!(back.timestamps["workflow_start"], 1.0);
        assert_eq!(back.times["submit"], vec![0.123]);
    }

    #[test]
    fn spans_split_at_the_job_id_not_the_last_underscore() {
        let mut t = Times::default();
        t.mark("job_000000001_job_a_start".into(), 10.0);
        t.mark("job_000000001_job_a_succeeded".into(), 12.0);
        t.mark("structure_123456789_create_sim_start".into(), 11.0);
        t.mark("structure_123456789_create_sim_failed".into(), 15.0);
        t.mark("job_000000002_job_b_start".into(), 13.0);
        t.mark(format!("{}_start", job_key("job_000000001", "job_a", 2)), 12.5);
        t.mark(format!("{}_succeeded", job_key("job_000000001", "job_a", 2)), 14.0);
        let spans = t.spans();
        assert_eq!(spans.len(), 4);
        let again = spans.iter().find(|s| s.attempt == 2).expect("the repeat has its own span");
        assert_eq!((again.step.as_str(), again.start, again.end), ("job_a", 12.5, Some(14.0)));
        let spans: Vec<_> = spans.into_iter().filter(|s| s.attempt == 1).collect();
        assert_eq!(
            (spans[0].jobid.as_str(), spans[0].step.as_str(), spans[0].outcome),
            ("job_000000001", "job_a", SpanEnd::Succeeded)
        );
        assert_eq!(
            (spans[1].step.as_str(), spans[1].outcome, spans[1].end),
            ("create_sim", SpanEnd::Failed, Some(15.0))
        );
        assert_eq!((spans[2].step.as_str(), spans[2].outcome), ("job_b", SpanEnd::Open));
    }
}
