//! What an ended job's Pods leave behind, read before its end is reported:
//!
//! * its custom metrics, which the step's first Pod computed itself and wrote in its
//!   termination message ([`smo_core::step_metrics`]): no user code runs here, no log is read
//!   for them;
//! * for `save-path`, the Pods' logs, streamed through `pods/log` (at most [`MAX_LOG_BYTES`]
//!   each) into the run directory, one file per Pod, read with `timestamps=true` as the original
//!   read them: every line starts with its RFC 3339 time. Under the operator, one copy, in the
//!   workflow's own directory, within the workflow's budget of kept bytes ([`LogPlaces::budget`]);
//!   the operator deletes the directory with the resource.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use kube::{Resource as _, ResourceExt as _};
use smo_core::jobs::STEP_CONTAINER;
use smo_core::step_metrics::Report;
use smo_core::workflow::{Step, Workflow};

use crate::messages::{JobLog, JobObserved};

/// Annotation of an indexed Job's Pods with their completion index.
const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The most of one Pod's log kept for `save-path`.
pub const MAX_LOG_BYTES: i64 = 16 * 1024 * 1024;

/// Where the logs of ended jobs go.
#[derive(Clone, Debug)]
pub struct LogPlaces {
    /// Every Pod's log (`<step>-<jobid>-<attempt>-<pod>.out`).
    pub dir: PathBuf,
    /// Where `save-path` directories are placed: None keeps each path as written (`smo run` on
    /// the user's machine, as the original's manager kept them in its own Pod); the operator
    /// confines them under the workflow's own data directory, so a resource never chooses
    /// where the operator writes.
    pub save_root: Option<PathBuf>,
    /// The most bytes of logs kept for the whole run (None: no limit), and those kept so far.
    pub budget: Option<(u64, Arc<AtomicU64>)>,
}

impl LogPlaces {
    /// Where the logs of `save-path` `dir` go.
    fn save_dir(&self, dir: &Path) -> PathBuf {
        match &self.save_root {
            None => dir.to_path_buf(),
            // Only the path's plain names: no root, no `..`, nothing that leaves the root.
            Some(root) => dir
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(name) => Some(name),
                    _ => None,
                })
                .fold(root.clone(), |path, name| path.join(name)),
        }
    }
}

/// Whether the end of this job is reported only once its Pods are read (see [`with_logs`]).
pub(crate) fn needs_logs(seen: &JobObserved, workflow: &Workflow) -> bool {
    seen.phase.is_terminal() && workflow.steps.get(seen.step).is_some_and(|s| has_metrics(s) || keeps_logs(s))
}

/// A job's phase as it is reported: for an ended job whose step has custom metrics, with the
/// metrics its first Pod reported, and for `save-path`, after its Pods' logs are kept.
pub(crate) async fn with_logs(
    job: Job,
    seen: JobObserved,
    workflow: &Workflow,
    pods: &Api<Pod>,
    places: &LogPlaces,
) -> JobObserved {
    let Some(step) = workflow.steps.get(seen.step).filter(|_| needs_logs(&seen, workflow)) else {
        return seen;
    };
    let name = job.meta().name.clone().unwrap_or_default();
    let in_order = pods_in_order(pods, &name).await;
    let metrics = has_metrics(step).then(|| reported_metrics(&in_order, step, &seen));
    let log = match keeps_logs(step) {
        true => save_logs(pods, &in_order, step, &seen, places).await.map(|path| JobLog { path, timestamped: true }),
        false => None,
    };
    JobObserved { log, metrics, ..seen }
}

fn has_metrics(step: &Step) -> bool {
    step.events_script.is_some() || !step.log_metrics.is_empty()
}

fn keeps_logs(step: &Step) -> bool {
    step.properties.save_path.is_some()
}

/// The Pods of Job `job` (label `job-name`, as the Job controller sets it), Pod 0 first (the
/// original parsed pod 0's log): by completion index where the Job is indexed, then by name.
async fn pods_in_order(pods: &Api<Pod>, job: &str) -> Vec<Pod> {
    let list = match pods.list(&ListParams::default().labels(&format!("job-name={job}"))).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(job, error = %e, "cannot list the Job's Pods");
            return Vec::new();
        }
    };
    let mut items: Vec<(u32, String, Pod)> = list
        .items
        .into_iter()
        .filter_map(|p| {
            let index = p.annotations().get(COMPLETION_INDEX).and_then(|i| i.parse().ok()).unwrap_or(u32::MAX);
            Some((index, p.meta().name.clone()?, p))
        })
        .collect();
    items.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    items.into_iter().map(|(_, _, p)| p).collect()
}

/// The metrics the first Pod's step container reported in its termination message (none, with
/// a warning, when it reported nothing readable).
fn reported_metrics(pods: &[Pod], step: &Step, seen: &JobObserved) -> Vec<(String, f64)> {
    let message = pods.first().and_then(|p| p.status.as_ref()).and_then(|s| {
        s.container_statuses
            .iter()
            .flatten()
            .find(|c| c.name == STEP_CONTAINER)
            .and_then(|c| c.state.as_ref()?.terminated.as_ref()?.message.clone().filter(|m| !m.trim().is_empty()))
    });
    let Some(message) = message else {
        tracing::warn!(step = %step.name, jobid = %seen.jobid, "the step's Pod reported no metrics (it ended before computing them?)");
        return Vec::new();
    };
    match Report::from_message(&message) {
        Ok(report) => {
            for w in &report.warnings {
                tracing::warn!(step = %step.name, jobid = %seen.jobid, warning = %w, "the step's metrics");
            }
            report.values()
        }
        Err(e) => {
            tracing::warn!(step = %step.name, jobid = %seen.jobid, error = %e, "the step's metrics");
            Vec::new()
        }
    }
}

/// Writes the logs of `in_order` (a Job's Pods) to `<log_dir>/<step>-<jobid>-<attempt>-<n>.out`
/// and to `<save-path>/logs/<step>-<jobid>-<n>.out` as the original did; returns the first Pod's
/// log. Logs are streamed to the files, never held whole.
async fn save_logs(
    pods: &Api<Pod>,
    in_order: &[Pod],
    step: &Step,
    seen: &JobObserved,
    places: &LogPlaces,
) -> Option<PathBuf> {
    let names: Vec<String> = in_order.iter().filter_map(|p| p.meta().name.clone()).collect();
    let mut first = None;
    for (n, pod) in names.iter().enumerate() {
        let kept = |dir: &Path| places.save_dir(dir).join("logs").join(format!("{}-{}-{n}.out", step.name, seen.jobid));
        // Under the operator, the one copy is the one in the workflow's own directory.
        let file = match (&places.save_root, &step.properties.save_path) {
            (Some(_), Some(dir)) => kept(dir),
            _ => places.dir.join(format!("{}-{}-{}-{n}.out", step.name, seen.jobid, seen.attempt)),
        };
        match copy_log(pods, pod, &file, places.budget.as_ref()).await {
            Ok(()) => {
                if let (None, Some(dir)) = (&places.save_root, &step.properties.save_path) {
                    let kept = kept(dir);
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

/// Streams the log of `pod` into `file`, within `budget` (the most bytes kept, and those kept so
/// far): a log that would go over it is cut, saying so on its last line.
async fn copy_log(
    pods: &Api<Pod>,
    pod: &str,
    file: &Path,
    budget: Option<&(u64, Arc<AtomicU64>)>,
) -> std::result::Result<(), String> {
    use futures::AsyncBufReadExt as _;
    use tokio::io::AsyncWriteExt as _;
    if let Some(parent) = file.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| e.to_string())?;
    }
    let params = LogParams { timestamps: true, limit_bytes: Some(MAX_LOG_BYTES), ..LogParams::default() };
    let stream = pods.log_stream(pod, &params).await.map_err(|e| e.to_string())?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(file).await.map_err(|e| e.to_string())?);
    let mut lines = stream.lines();
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| e.to_string())?;
        if let Some((most, kept)) = budget {
            let size = line.len() as u64 + 1;
            if kept.fetch_add(size, Ordering::Relaxed) + size > *most {
                kept.fetch_sub(size, Ordering::Relaxed);
                let note = format!(
                    "[smo: the rest of this log is not kept: the workflow's kept logs reached {} MiB]\n",
                    most >> 20
                );
                out.write_all(note.as_bytes()).await.map_err(|e| e.to_string())?;
                tracing::warn!(pod, limit_mib = most >> 20, "the workflow's kept logs are full; a log was cut");
                break;
            }
        }
        out.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
        out.write_all(b"\n").await.map_err(|e| e.to_string())?;
    }
    out.flush().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_keeps_save_path_under_the_workflows_own_directory() {
        let places =
            |root: Option<&str>| LogPlaces { dir: "/logs".into(), save_root: root.map(PathBuf::from), budget: None };
        let own = places(Some("/var/lib/smo/ns/wf/save-path"));
        assert_eq!(own.save_dir(Path::new("/opt")), Path::new("/var/lib/smo/ns/wf/save-path/opt"));
        assert_eq!(own.save_dir(Path::new("/../../etc/./x")), Path::new("/var/lib/smo/ns/wf/save-path/etc/x"));
        assert_eq!(own.save_dir(Path::new("..")), Path::new("/var/lib/smo/ns/wf/save-path"));
        // A run on the user's own machine keeps the path as written, as the original's manager.
        assert_eq!(places(None).save_dir(Path::new("/opt")), Path::new("/opt"));
    }
}
