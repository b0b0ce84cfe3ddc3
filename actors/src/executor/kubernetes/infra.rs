//! Infrastructure failures are not application failures.
//!
//! A Pod the infrastructure ended (evicted, preempted, its node lost; or a `DisruptionTarget`
//! condition) does not fail the step: the failed Job is marked superseded (no watch or restore
//! sees it again), the same Job is created under a new name (`…-i1`), and the old one is
//! deleted — no failure is counted, up to `--infra-retries` times (then the step fails with the
//! Pod's reason: [`classify::infrastructure_retry`]). The JobWatcher's watch of failed Pods
//! remembers such Pods ([`infrastructure_reason`]), since a kubelet may put a Pod's status back
//! after the Job controller counted it; a failed Job's Pods are also read when it fails
//! ([`diagnose`]).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use kube::{Resource as _, ResourceExt as _};
use smo_core::{classify, labels};

use super::api::{create, delete, with_retries};

/// Pod `reason`s that mean the infrastructure, not the step, ended the Pod.
const INFRASTRUCTURE_REASONS: [&str; 6] =
    ["Evicted", "Preempting", "NodeLost", "Shutdown", "NodeShutdown", "UnexpectedAdmissionError"];

/// Why the infrastructure ended `pod`, if it did: an infrastructure reason, or a
/// `DisruptionTarget` condition (newer clusters).
pub(crate) fn infrastructure_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Failed")
        && let Some(reason) = status.reason.as_deref().filter(|r| INFRASTRUCTURE_REASONS.contains(r))
    {
        let message = status.message.as_deref().unwrap_or_default();
        return Some(format!("{reason}: {message}").trim_end_matches([':', ' ']).to_string());
    }
    let disruption =
        status.conditions.as_deref()?.iter().find(|c| c.type_ == "DisruptionTarget" && c.status == "True")?;
    Some(format!("DisruptionTarget: {}", disruption.reason.as_deref().unwrap_or("disrupted")))
}

/// What a failed Job's Pods say about its failure.
pub(crate) enum Diagnosis {
    /// The infrastructure ended its Pod (the reason): the step runs again, nothing is counted.
    Infrastructure(String),
    /// The step failed; `detail` says how, in one line, when the Pods still tell (the failed
    /// container, its exit code, the end of its log).
    Step { detail: Option<String> },
}

/// Lines of a failed container's log kept in the failure's reason.
const LOG_TAIL_LINES: i64 = 5;

/// Whether a failed Job failed because the infrastructure ended its Pod, as its Pods say now
/// (the caller has asked the Pod watch first), and if not, how the step failed: read now, since
/// a failed sequence's Pods are deleted with its Jobs.
pub(crate) async fn diagnose(job: &Job, job_reason: &str, pods: &Api<Pod>) -> Diagnosis {
    let Some(name) = job.meta().name.clone() else { return Diagnosis::Step { detail: None } };
    let list = match pods.list(&ListParams::default().labels(&format!("job-name={name}"))).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(job = %name, error = %e, "cannot list the failed Job's Pods");
            return Diagnosis::Step { detail: None };
        }
    };
    if let Some(reason) = list.items.iter().find_map(infrastructure_reason) {
        return Diagnosis::Infrastructure(reason);
    }
    let Some(failure) = list.items.iter().find_map(classify::container_failure) else {
        return Diagnosis::Step { detail: None };
    };
    let params = LogParams {
        container: Some(failure.container.clone()),
        tail_lines: Some(LOG_TAIL_LINES),
        limit_bytes: Some(2048),
        ..LogParams::default()
    };
    let tail = match pods.logs(&failure.pod, &params).await {
        Ok(tail) => Some(tail),
        Err(e) => {
            tracing::debug!(pod = %failure.pod, error = %e, "cannot read the failed container's log");
            None
        }
    };
    Diagnosis::Step { detail: Some(classify::failure_detail(job_reason, Some(&failure), tail.as_deref())) }
}

/// Replaces a Job the infrastructure failed: marks it superseded (the watches and restores no
/// longer see it), creates the same Job under a new name, and deletes the old one. The
/// sequence never hears of the failure and no failure is counted.
pub(crate) async fn resubmit(jobs: &Api<Job>, old: &Job, reason: &str, retries: u32) {
    let Some(name) = old.meta().name.clone() else { return };
    let labels = old.labels().clone();
    let base = name.rsplit_once("-i").filter(|(_, n)| n.parse::<u32>().is_ok()).map_or(name.as_str(), |(b, _)| b);
    let new_name = format!("{base}-i{retries}");
    tracing::warn!(job = %name, reason, replacement = %new_name, "the infrastructure ended the step's Pod; the step runs again, no failure counted");
    let mark = serde_json::json!({"metadata": {"labels": {labels::SUPERSEDED: "true"}}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&mark));
    if let Err(e) = with_retries(|| jobs.patch(&name, &params, &patch)).await {
        tracing::warn!(job = %name, error = %e, "cannot mark the Job superseded");
    }
    let mut job = Job { metadata: old.metadata.clone(), spec: old.spec.clone(), status: None };
    job.metadata = ObjectMeta {
        name: Some(new_name.clone()),
        namespace: old.metadata.namespace.clone(),
        labels: Some({
            let mut l = labels;
            l.insert(labels::INFRA_RETRIES.to_string(), retries.to_string());
            l
        }),
        owner_references: old.metadata.owner_references.clone(),
        ..ObjectMeta::default()
    };
    // What the Job controller added to the old Job is its own to add to the new one.
    if let Some(spec) = job.spec.as_mut() {
        spec.selector = None;
        if let Some(template_labels) = spec.template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            template_labels.remove("controller-uid");
            template_labels.remove("job-name");
        }
    }
    if let Err(e) = create(jobs, &job, &format!("Job {new_name}")).await {
        tracing::warn!(error = %e, "cannot resubmit the step after an infrastructure failure");
    }
    if let Err(e) = delete(jobs, &name, &format!("Job {name}")).await {
        tracing::warn!(error = %e, "cannot delete the superseded Job");
    }
}
