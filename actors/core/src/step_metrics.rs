//! Custom metrics computed in the step's own Pod, on Kubernetes.
//!
//! A step's `events.script` (`parse_log`) is user code: it must never run in the operator's
//! process, Pod or identity. On Kubernetes the step's Pod computes its metrics itself, with the
//! `smo` its init container delivered:
//!
//! 1. the script's output goes through `smo log-tee`, which passes every line on unchanged (the
//!    Pod's log stays what it was) and keeps a copy with each line's RFC 3339 time in front — the
//!    form the original's `parse_log` read through the API with `timestamps=true`;
//! 2. `smo step-metrics` reads that copy with the step's [`Config`] (`/workdir/metrics.json`):
//!    the `events.metrics` patterns (each line without its time) and `parse_log`, run by the step
//!    image's own `python3` with a time limit;
//! 3. it writes a [`Report`] to the container's termination message, which the executor reads
//!    from the Pod's status — no log is read by the operator for metrics.
//!
//! So `parse_log` runs with the step's namespace, identity (no ServiceAccount token) and image.
//! A local run (`smo run`) still reads its jobs' logs itself: there, the machine is the user's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::LogMetricSpec;
use crate::workflow::{Reduce, Step};

/// The largest termination message Kubernetes keeps (4096 bytes).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// What `smo step-metrics` computes for a step (`/workdir/metrics.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The step's `events.metrics`.
    #[serde(default)]
    pub metrics: Vec<LogMetricSpec>,
    /// The step's `events.script`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
}

impl Config {
    /// The metrics of `step`, or None when it has none.
    pub fn of(step: &Step) -> Option<Config> {
        if step.events_script.is_none() && step.log_metrics.is_empty() {
            return None;
        }
        let metrics = step
            .log_metrics
            .iter()
            .map(|m| LogMetricSpec {
                key: m.key.clone(),
                pattern: m.pattern.regex().as_str().to_string(),
                reduce: Reduce::ALL.iter().find(|(_, r)| *r == m.reduce).map(|(name, _)| name.to_string()),
            })
            .collect();
        Some(Config { metrics, script: step.events_script.clone() })
    }
}

/// What `smo step-metrics` found: the values, and why some are missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Metric key → value.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// What went wrong (a pattern that matched nothing, a failing `parse_log`, no `python3`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Report {
    /// The report as a termination message: JSON of at most [`MAX_MESSAGE_BYTES`]. Warnings
    /// are shortened, then dropped, before any value is.
    pub fn to_message(&self) -> String {
        let mut report = self.clone();
        for w in &mut report.warnings {
            if w.len() > 300 {
                let mut end = 300;
                while !w.is_char_boundary(end) {
                    end -= 1;
                }
                w.truncate(end);
                w.push('…');
            }
        }
        loop {
            let text = serde_json::to_string(&report).unwrap_or_else(|_| "{}".into());
            if text.len() <= MAX_MESSAGE_BYTES {
                return text;
            }
            if report.warnings.pop().is_none() && report.metrics.pop_last().is_none() {
                return "{}".into();
            }
        }
    }

    /// Reads a termination message written by [`Report::to_message`].
    pub fn from_message(text: &str) -> Result<Report, String> {
        serde_json::from_str(text).map_err(|e| format!("the step's metrics report cannot be read: {e}"))
    }

    /// The values, as metrics of the step.
    pub fn values(&self) -> Vec<(String, f64)> {
        self.metrics.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steps_metrics_travel_as_a_config_and_come_back_as_a_bounded_report() {
        let wf = crate::workflow::test_manifest(
            None,
            "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n  jobs:\n  - name: a\n    image: i\n    script: echo\n    events:\n      script: \"def parse_log(log):\\n    return {}\\n\"\n      metrics: [{key: loss, pattern: 'loss=([0-9.]+)', reduce: min}]\n  - {name: b, image: i, script: echo}\n",
        );
        let config = Config::of(&wf.steps[0]).expect("metrics");
        assert_eq!(config.metrics[0].pattern, "loss=([0-9.]+)");
        assert_eq!(config.metrics[0].reduce.as_deref(), Some("min"));
        assert!(config.script.as_deref().is_some_and(|s| s.contains("parse_log")));
        assert_eq!(Config::of(&wf.steps[1]), None);

        let report =
            Report { metrics: BTreeMap::from([("loss".into(), 0.25)]), warnings: vec!["w".repeat(10_000); 40] };
        let message = report.to_message();
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
        let back = Report::from_message(&message).expect("reads back");
        assert_eq!(back.values(), vec![("loss".to_string(), 0.25)]);
        assert!(Report::from_message("not json").is_err());
    }
}
