//! Step Pods that cannot start, made visible: every few seconds the workflow's `Pending` Pods
//! are listed (a field selector: usually an empty answer), and one that the scheduler cannot
//! place, or whose image cannot be pulled, is reported with the scheduler's or the kubelet's own
//! words ([`JobObserved::waiting`]) — the Manager says it once per step and reason, in the log
//! and as a Warning Event. An image or container problem is reported at once; `Unschedulable`
//! after a minute (or half the patience, if shorter): on a busy cluster Pods wait for room a
//! little as a matter of course. With a patience (`--pending-timeout`), a Pod still unable to start
//! after it fails its step with that reason, and its Job is deleted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use smo_core::classify;
use smo_core::fsm::JobPhase;
use smo_core::workflow::Workflow;

use super::api::delete;
use crate::messages::JobObserved;

/// How often the `Pending` Pods are looked at.
const EVERY: Duration = Duration::from_secs(5);

/// How long a Pod may wait for room before that is reported.
const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(60);

/// Watches the workflow's `Pending` Pods (label `selector`) until aborted.
pub(super) fn watch(
    pods: Api<Pod>,
    jobs: Api<Job>,
    selector: String,
    workflow: Arc<Workflow>,
    events: Recipient<JobObserved>,
    patience: Option<Duration>,
) -> tokio::task::JoinHandle<()> {
    actix::spawn(async move {
        let params = ListParams::default().labels(&selector).fields("status.phase=Pending");
        // Per Pod: when it was first seen unable to start, and the reason last reported.
        let mut stuck: HashMap<String, (Instant, String)> = HashMap::new();
        let mut failed: HashSet<String> = HashSet::new();
        let grace = patience.map_or(UNSCHEDULABLE_GRACE, |p| UNSCHEDULABLE_GRACE.min(p / 2));
        loop {
            tokio::time::sleep(EVERY).await;
            let listed = match pods.list(&params).await {
                Ok(list) => list.items,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot list the workflow's Pending Pods");
                    continue;
                }
            };
            let now = Instant::now();
            let mut current = HashSet::new();
            for pod in &listed {
                let Some(why) = classify::pod_waiting_reason(pod) else { continue };
                let Some(key) = classify::step_job_key(pod.labels()) else { continue };
                let Some(step) = workflow.step_index(&key.step) else { continue };
                let name = pod.name_any();
                current.insert(name.clone());
                let seen = JobObserved {
                    jobid: key.jobid,
                    step,
                    attempt: key.attempt,
                    phase: JobPhase::Pending,
                    duration: None,
                    log: None,
                    metrics: None,
                    waiting: Some(why.clone()),
                };
                let (since, reported) = stuck.entry(name).or_insert((now, String::new()));
                let due = !why.starts_with("Unschedulable") || now.duration_since(*since) >= grace;
                if due && *reported != why {
                    reported.clone_from(&why);
                    events.do_send(seen.clone());
                }
                let Some(patience) = patience.filter(|p| now.duration_since(*since) >= *p) else { continue };
                let Some(job) = pod.labels().get("job-name").cloned() else { continue };
                if !failed.insert(job.clone()) {
                    continue;
                }
                let reason = format!("the step's Pod could not start within {}s: {why}", patience.as_secs());
                tracing::warn!(%job, %reason, "a step's Pod waited too long to start; the step fails");
                // Reported first: the Job's deletion that follows is then old news.
                events.do_send(JobObserved { phase: JobPhase::Failed { reason }, waiting: None, ..seen });
                if let Err(e) = delete(&jobs, &job, &format!("Job {job}")).await {
                    tracing::warn!(error = %e, "cannot delete the Job of a step that could not start");
                }
            }
            stuck.retain(|name, _| current.contains(name));
            // Kept a while after the Pods go, then forgotten: a bound on what is kept.
            if failed.len() > 4096 {
                failed.clear();
            }
        }
    })
}
