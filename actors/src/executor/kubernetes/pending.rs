//! Step Pods that cannot start, made visible: every few seconds the JobWatcher lists the
//! workflow's `Pending` Pods (a field selector: usually an empty answer), and one that the
//! scheduler cannot place, or whose image cannot be pulled, is reported with the scheduler's or
//! the kubelet's own words ([`JobObserved::waiting`]) — the Manager says it once per step and
//! reason, in the log and as a Warning Event. An image or container problem is reported at once;
//! `Unschedulable` after a minute (or half the patience, if shorter): on a busy cluster Pods wait
//! for room a little as a matter of course. With a patience (`--pending-timeout`), a Pod still
//! unable to start after it fails its step with that reason, and its Job is deleted.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt as _;
use kube::api::ListParams;
use smo_core::classify;
use smo_core::fsm::JobPhase;
use smo_core::workflow::Workflow;

use crate::messages::JobObserved;

/// How often the `Pending` Pods are looked at.
pub(crate) const EVERY: Duration = Duration::from_secs(5);

/// How long a Pod may wait for room before that is reported.
const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(60);

/// The list of the workflow's Pods that have not started (label `selector`).
pub(crate) fn pending_pods(selector: &str) -> ListParams {
    ListParams::default().labels(selector).fields("status.phase=Pending")
}

/// What to do about the Pods that cannot start.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PendingAction {
    /// Say why the step's Pod cannot start (a `Pending` phase with [`JobObserved::waiting`]).
    Report(JobObserved),
    /// The step's Pod waited longer than the patience: the step failed (`seen`), and its Job
    /// (`job`) is to be deleted.
    Fail { seen: JobObserved, job: String },
}

/// The Pods seen unable to start, across the periodic lists.
#[derive(Debug)]
pub(crate) struct PendingPods {
    /// Per Pod: when it was first seen unable to start, and the reason last reported.
    stuck: HashMap<String, (Instant, String)>,
    /// The Jobs already failed for waiting too long.
    failed: HashSet<String>,
    patience: Option<Duration>,
    grace: Duration,
}

impl PendingPods {
    /// Nothing seen yet; a step's Pod may wait `patience` (None: for ever, reported).
    pub(crate) fn new(patience: Option<Duration>) -> PendingPods {
        let grace = patience.map_or(UNSCHEDULABLE_GRACE, |p| UNSCHEDULABLE_GRACE.min(p / 2));
        PendingPods { stuck: HashMap::new(), failed: HashSet::new(), patience, grace }
    }

    /// What the `Pending` Pods `listed` at `now` call for.
    pub(crate) fn check(&mut self, listed: &[Pod], workflow: &Workflow, now: Instant) -> Vec<PendingAction> {
        let mut actions = Vec::new();
        let mut current = HashSet::new();
        for pod in listed {
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
            let (since, reported) = self.stuck.entry(name).or_insert((now, String::new()));
            let since = *since;
            let due = !why.starts_with("Unschedulable") || now.duration_since(since) >= self.grace;
            if due && *reported != why {
                reported.clone_from(&why);
                actions.push(PendingAction::Report(seen.clone()));
            }
            let Some(patience) = self.patience.filter(|p| now.duration_since(since) >= *p) else { continue };
            let Some(job) = pod.labels().get("job-name").cloned() else { continue };
            if !self.failed.insert(job.clone()) {
                continue;
            }
            let reason = format!("the step's Pod could not start within {}s: {why}", patience.as_secs());
            tracing::warn!(%job, %reason, "a step's Pod waited too long to start; the step fails");
            actions.push(PendingAction::Fail {
                seen: JobObserved { phase: JobPhase::Failed { reason }, waiting: None, ..seen },
                job,
            });
        }
        self.stuck.retain(|name, _| current.contains(name));
        // Kept a while after the Pods go, then forgotten: a bound on what is kept.
        if self.failed.len() > 4096 {
            self.failed.clear();
        }
        actions
    }
}
