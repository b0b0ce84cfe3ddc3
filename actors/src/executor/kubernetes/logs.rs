//! The logs of an ended job's Pods, streamed through `pods/log` into the run directory, one file
//! per Pod, when the step needs them (custom metrics, `save-path`) — before its end is reported,
//! so that metrics are read from them as from a local job's log.
//!
//! They are read with `timestamps=true`, as the original read them: every line starts with its
//! RFC 3339 time, which is what a `parse_log` script written for the original expects and what it
//! kept at `save-path`. `events.metrics` patterns see the lines without it
//! ([`smo_core::log_metrics::without_timestamp`]).

use std::path::{Path, PathBuf};

use actix::Recipient;
use futures::StreamExt as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use kube::{Resource as _, ResourceExt as _};
use smo_core::workflow::{Step, Workflow};

use crate::messages::{JobLog, JobObserved};

/// Annotation of an indexed Job's Pods with their completion index.
const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Whether the end of this job is reported only once its logs are in (see [`report`]).
pub(super) fn needs_logs(seen: &JobObserved, workflow: &Workflow) -> bool {
    seen.phase.is_terminal() && workflow.steps.get(seen.step).is_some_and(wants_logs)
}

/// Reports a job's phase; an ended job's logs are read first when the step needs them (custom
/// metrics come from them).
pub(super) async fn report(
    job: Job,
    seen: JobObserved,
    workflow: &Workflow,
    pods: &Api<Pod>,
    events: &Recipient<JobObserved>,
    log_dir: &Path,
) {
    let log = match workflow.steps.get(seen.step).filter(|_| needs_logs(&seen, workflow)) {
        Some(step) => save_logs(pods, job.meta().name.as_deref().unwrap_or_default(), step, &seen, log_dir)
            .await
            .map(|path| JobLog { path, timestamped: true }),
        None => None,
    };
    events.do_send(JobObserved { log, ..seen });
}

/// Whether a step's job logs are needed: for custom metrics or to keep them (`save-path`).
fn wants_logs(step: &Step) -> bool {
    step.events_script.is_some() || !step.log_metrics.is_empty() || step.properties.save_path.is_some()
}

/// Writes the logs of the Pods of Job `job` (label `job-name`, as the Job controller sets it)
/// to `<log_dir>/<step>-<jobid>-<attempt>-<n>.out`, and for `save-path` to
/// `<save-path>/logs/<step>-<jobid>-<n>.out` as the original did; returns the first Pod's log
/// (what custom metrics are read from, as the original read them). Logs are streamed to the files, never held whole.
async fn save_logs(pods: &Api<Pod>, job: &str, step: &Step, seen: &JobObserved, log_dir: &Path) -> Option<PathBuf> {
    let list = match pods.list(&ListParams::default().labels(&format!("job-name={job}"))).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(job, error = %e, "cannot list the Job's Pods to read their logs");
            return None;
        }
    };
    // Pod 0 first (the original parsed pod 0's log): by completion index where the Job is
    // indexed, then by name.
    let mut pods_in_order: Vec<(u32, String)> = list
        .items
        .iter()
        .filter_map(|p| {
            let index = p.annotations().get(COMPLETION_INDEX).and_then(|i| i.parse().ok()).unwrap_or(u32::MAX);
            Some((index, p.meta().name.clone()?))
        })
        .collect();
    pods_in_order.sort();
    let names: Vec<String> = pods_in_order.into_iter().map(|(_, name)| name).collect();
    let mut first = None;
    for (n, pod) in names.iter().enumerate() {
        let file = log_dir.join(format!("{}-{}-{}-{n}.out", step.name, seen.jobid, seen.attempt));
        match copy_log(pods, pod, &file).await {
            Ok(()) => {
                if let Some(dir) = &step.properties.save_path {
                    let kept = dir.join("logs").join(format!("{}-{}-{n}.out", step.name, seen.jobid));
                    let copied = match kept.parent() {
                        Some(parent) => {
                            tokio::fs::create_dir_all(parent).await.and(tokio::fs::copy(&file, &kept).await.map(|_| ()))
                        }
                        None => Ok(()),
                    };
                    if let Err(e) = copied {
                        tracing::warn!(log = %kept.display(), error = %e, "cannot keep the job's log at save-path");
                    }
                }
                first.get_or_insert(file);
            }
            Err(e) => tracing::warn!(pod, error = %e, "cannot read the Pod's log"),
        }
    }
    first
}

/// Streams the log of `pod` into `file`.
async fn copy_log(pods: &Api<Pod>, pod: &str, file: &Path) -> std::result::Result<(), String> {
    use futures::AsyncBufReadExt as _;
    use tokio::io::AsyncWriteExt as _;
    if let Some(parent) = file.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| e.to_string())?;
    }
    let params = LogParams { timestamps: true, ..LogParams::default() };
    let stream = pods.log_stream(pod, &params).await.map_err(|e| e.to_string())?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(file).await.map_err(|e| e.to_string())?);
    let mut lines = stream.lines();
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| e.to_string())?;
        out.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
        out.write_all(b"\n").await.map_err(|e| e.to_string())?;
    }
    out.flush().await.map_err(|e| e.to_string())
}
