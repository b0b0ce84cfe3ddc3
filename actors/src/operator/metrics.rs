//! The operator's Prometheus metrics: one registry, owned by the operator, served at `/metrics`.
//!
//! Labels are bounded: namespace, workflow (a resource's name), step, outcome, request
//! category — never a job id. A deleted resource's series are removed.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `smo_sequences_total` | counter | namespace, workflow, event (`started`, `completed`, `failed`) |
//! | `smo_sequences_active` | gauge | namespace, workflow |
//! | `smo_jobs_active` | gauge | namespace, workflow, step |
//! | `smo_step_jobs_total` | counter | namespace, workflow, step, outcome (`succeeded`, `failed`) |
//! | `smo_step_duration_seconds` | histogram | namespace, workflow, step |
//! | `smo_transition_seconds` | histogram | namespace, workflow, step (of the job submitted) |
//! | `smo_rule_firings_total` | counter | namespace, workflow |
//! | `smo_status_writes_total` | counter | namespace, workflow |
//! | `smo_kube_api_requests_total` | counter | category (`read`, `watch`, `write`) |
//! | `smo_kube_api_errors_total` | counter | category (as above), class (`client`: 4xx, `server`: 5xx, `unanswered`) |
//! | `smo_watch_restarts_total` | counter | — |

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use smo_core::status::Snapshot;

use crate::executor::kubernetes::ApiRequests;
use crate::{Error, Result};

/// Buckets of step durations, in seconds: from a job that exits at once to a day.
const DURATION_BUCKETS: [f64; 14] =
    [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 86400.0];

/// Buckets of transition latencies, in seconds: from a millisecond to 10 s.
const TRANSITION_BUCKETS: [f64; 13] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

/// Every metric of the operator.
pub struct OperatorMetrics {
    registry: Registry,
    sequences: IntCounterVec,
    sequences_active: IntGaugeVec,
    jobs_active: IntGaugeVec,
    step_jobs: IntCounterVec,
    step_duration: HistogramVec,
    transitions: HistogramVec,
    rule_firings: IntCounterVec,
    status_writes: IntCounterVec,
    api_requests: IntCounterVec,
    api_errors: IntCounterVec,
    api: Arc<ApiRequests>,
    watch_restarts: IntCounter,
    /// Bumped by the executors' watches.
    watch_restarts_seen: Arc<AtomicU64>,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> Result<T> {
    registry
        .register(Box::new(metric.clone()))
        .map_err(|source| Error::Metrics { action: "register a metric", source })?;
    Ok(metric)
}

fn metric_error(e: prometheus::Error) -> Error {
    Error::Metrics { action: "define a metric", source: e }
}

impl OperatorMetrics {
    /// The metrics, with the API request counts of the operator's client in `api`.
    pub fn new(api: Arc<ApiRequests>) -> Result<OperatorMetrics> {
        let registry = Registry::new();
        let wf = ["namespace", "workflow"];
        let step = ["namespace", "workflow", "step"];
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).map_err(metric_error).and_then(|m| register(&registry, m))
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).map_err(metric_error).and_then(|m| register(&registry, m))
        };
        let histogram = HistogramVec::new(
            HistogramOpts::new("smo_step_duration_seconds", "How long step jobs ran.")
                .buckets(DURATION_BUCKETS.to_vec()),
            &step,
        )
        .map_err(metric_error)?;
        let transitions = HistogramVec::new(
            HistogramOpts::new(
                "smo_transition_seconds",
                "From a step job's end seen to the next step's job submitted (log reading, rules, the create request).",
            )
            .buckets(TRANSITION_BUCKETS.to_vec()),
            &step,
        )
        .map_err(metric_error)?;
        let watch_restarts = IntCounter::new(
            "smo_watch_restarts_total",
            "Watches of step Jobs that listed again (410 Gone after an apiserver restart) or failed and resumed.",
        )
        .map_err(metric_error)?;
        let api_errors = IntCounterVec::new(
            Opts::new(
                "smo_kube_api_errors_total",
                "Kubernetes API requests answered with an error (class client: 4xx, server: 5xx) or not answered, by request category.",
            ),
            &["category", "class"],
        )
        .map_err(metric_error)?;
        Ok(OperatorMetrics {
            sequences: counter(
                "smo_sequences_total",
                "Sequences started, completed and failed.",
                &["namespace", "workflow", "event"],
            )?,
            sequences_active: gauge("smo_sequences_active", "Sequences running now.", &wf)?,
            jobs_active: gauge("smo_jobs_active", "Step jobs running now.", &step)?,
            step_jobs: counter(
                "smo_step_jobs_total",
                "Step jobs that ended, by outcome.",
                &["namespace", "workflow", "step", "outcome"],
            )?,
            step_duration: register(&registry, histogram)?,
            transitions: register(&registry, transitions)?,
            watch_restarts: register(&registry, watch_restarts)?,
            watch_restarts_seen: Arc::new(AtomicU64::new(0)),
            rule_firings: counter("smo_rule_firings_total", "Metric rules that fired.", &wf)?,
            status_writes: counter("smo_status_writes_total", "Writes of StateMachine status.", &wf)?,
            api_requests: counter(
                "smo_kube_api_requests_total",
                "Kubernetes API requests, by category.",
                &["category"],
            )?,
            api_errors: register(&registry, api_errors)?,
            registry,
            api,
        })
    }

    /// The handles of one workflow.
    pub fn workflow(self: &Arc<Self>, namespace: &str, name: &str) -> WorkflowMetrics {
        WorkflowMetrics {
            metrics: self.clone(),
            labels: [namespace.to_string(), name.to_string()],
            seen: Snapshot::default(),
        }
    }

    /// The counter the executors' watches bump when they restart.
    pub fn watch_restarts(&self) -> Arc<AtomicU64> {
        self.watch_restarts_seen.clone()
    }

    /// Everything in Prometheus' text format.
    pub fn render(&self) -> String {
        let restarts = self.watch_restarts_seen.load(Ordering::Relaxed);
        self.watch_restarts.inc_by(restarts.saturating_sub(self.watch_restarts.get()));
        for (category, total) in self.api.requests_by_category() {
            let c = self.api_requests.with_label_values(&[category]);
            c.inc_by(total.saturating_sub(c.get()));
        }
        for (category, class, total) in self.api.errors_by_category() {
            let c = self.api_errors.with_label_values(&[category, class]);
            c.inc_by(total.saturating_sub(c.get()));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            return format!("# cannot encode the metrics: {e}\n");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The metrics of one workflow, labelled once.
pub struct WorkflowMetrics {
    metrics: Arc<OperatorMetrics>,
    /// namespace, workflow.
    labels: [String; 2],
    /// Counters as of the last snapshot (counters grow by the difference).
    seen: Snapshot,
}

impl WorkflowMetrics {
    /// The workflow's labels (namespace, workflow), then `extra`.
    fn with<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        self.labels.iter().map(String::as_str).chain(extra.iter().copied()).collect()
    }

    /// Counters and gauges from the ledger's snapshot.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        let m = &self.metrics;
        let grow = |event: &str, now: u32, before: u32| {
            let labels = self.with(&[event]);
            m.sequences.with_label_values(&labels).inc_by(u64::from(now.saturating_sub(before)));
        };
        grow("started", snapshot.started, self.seen.started);
        grow("completed", snapshot.counts.completed, self.seen.counts.completed);
        grow("failed", snapshot.counts.failed, self.seen.counts.failed);
        let wf = self.with(&[]);
        m.sequences_active.with_label_values(&wf).set(i64::from(snapshot.counts.active));
        m.rule_firings.with_label_values(&wf).inc_by(u64::from(snapshot.fired.saturating_sub(self.seen.fired)));
        for step in &snapshot.steps {
            let labels = self.with(&[&step.name]);
            m.jobs_active.with_label_values(&labels).set(i64::from(step.active));
        }
        self.seen = snapshot.clone();
    }

    /// A step job ended.
    pub fn step_ended(&self, step: &str, succeeded: bool, seconds: Option<f64>) {
        let labels = self.with(&[step, if succeeded { "succeeded" } else { "failed" }]);
        self.metrics.step_jobs.with_label_values(&labels).inc();
        if let Some(s) = seconds {
            let labels = self.with(&[step]);
            self.metrics.step_duration.with_label_values(&labels).observe(s);
        }
    }

    /// A transition to a job of `step` took `seconds`.
    pub fn transition(&self, step: &str, seconds: f64) {
        let labels = self.with(&[step]);
        self.metrics.transitions.with_label_values(&labels).observe(seconds);
    }

    /// The status was written once more.
    pub fn status_written(&self) {
        let wf = self.with(&[]);
        self.metrics.status_writes.with_label_values(&wf).inc();
    }
}

impl Drop for WorkflowMetrics {
    /// A workflow no longer tracked leaves no series behind (its gauges would lie).
    fn drop(&mut self) {
        let m = &self.metrics;
        let wf = self.with(&[]);
        let _ = m.sequences_active.remove_label_values(&wf);
        let _ = m.rule_firings.remove_label_values(&wf);
        let _ = m.status_writes.remove_label_values(&wf);
        for event in ["started", "completed", "failed"] {
            let labels = self.with(&[event]);
            let _ = m.sequences.remove_label_values(&labels);
        }
        for step in &self.seen.steps {
            let labels = self.with(&[&step.name]);
            let _ = m.jobs_active.remove_label_values(&labels);
            let _ = m.step_duration.remove_label_values(&labels);
            let _ = m.transitions.remove_label_values(&labels);
            for outcome in ["succeeded", "failed"] {
                let labels = self.with(&[&step.name, outcome]);
                let _ = m.step_jobs.remove_label_values(&labels);
            }
        }
    }
}
