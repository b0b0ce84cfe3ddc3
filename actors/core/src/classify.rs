//! What the engine observes of a Kubernetes `batch/v1` Job: whose it is, which step and attempt,
//! and how far it got.
//!
//! Phases come from the Job's conditions, which the Job controller sets once a Job is done for
//! good: `Failed=True` ⇒ failed, `Complete=True` ⇒ succeeded; otherwise an active pod ⇒ running,
//! else pending. The original looked at `completionTime`, which Kubernetes sets only on
//! successful Jobs, so failed Jobs were never seen as failed; and it called a Job with
//! `status.failed > 0` failed even while it was still retrying (or had succeeded after retries).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::fsm::JobPhase;
use crate::labels;
use crate::names::JobId;

/// One Job as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedJob {
    /// Sequence the Job belongs to (label `jobid`).
    pub jobid: JobId,
    /// Step the Job runs (label `app`).
    pub step: String,
    /// Attempt of the step (attempt label; 1 when absent or not a positive number).
    pub attempt: u32,
    /// How far the Job got.
    pub phase: JobPhase,
    /// Whether the step's failures count as success (label `always-succeed` = 1/true/yes).
    pub always_succeed: bool,
    /// How long the Job ran, once it has ended and Kubernetes recorded the times.
    pub duration: Option<Duration>,
}

/// Which step job an object's labels name: its sequence, step and attempt.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepJobKey {
    /// Sequence (label `jobid`).
    pub jobid: JobId,
    /// Step (label `app`).
    pub step: String,
    /// Attempt (attempt label; 1 when absent or not a positive number).
    pub attempt: u32,
}

/// The step job an object's labels name; None without a `jobid` or `app` label. Works for any
/// object of a step job (Job, JobSet, MiniCluster, ConfigMap).
pub fn step_job_key(labels: &BTreeMap<String, String>) -> Option<StepJobKey> {
    let non_empty = |key: &str| non_blank(labels.get(key).map(String::as_str));
    let jobid = JobId::new(non_empty(labels::JOB_ID)?);
    let step = non_empty(labels::STEP)?.to_owned();
    // Jobs created before attempts were labelled, or by hand, are first attempts.
    let attempt = non_empty(labels::ATTEMPT).and_then(|v| v.parse::<u32>().ok()).filter(|&a| a >= 1).unwrap_or(1);
    Some(StepJobKey { jobid, step, attempt })
}

/// Classifies a Job; None when it lacks the `jobid` or `app` label (not one of ours to track).
pub fn classify(job: &Job) -> Option<ObservedJob> {
    let labels = job.metadata.labels.as_ref()?;
    let StepJobKey { jobid, step, attempt } = step_job_key(labels)?;
    let always_succeed = non_blank(labels.get(labels::ALWAYS_SUCCEED).map(String::as_str))
        .is_some_and(|v| ["1", "true", "yes"].iter().any(|t| v.eq_ignore_ascii_case(t)));
    let (phase, duration) = phase_and_duration(job);
    Some(ObservedJob { jobid, step, attempt, phase, always_succeed, duration })
}

/// Why a step failed whose Job vanished while it ran.
pub const DELETED_OUTSIDE_SMO: &str = "DeletedOutsideSmo: the step's Job was deleted outside smo while it ran (kubectl \
     delete, a cleanup script, a quota controller); the step counts as failed";

/// What a Job that disappeared — a watch's delete, or missing from a re-list and not found —
/// means for its step. Nothing when nothing is lost: it had ended (its end was or will be seen),
/// or smo replaced it after an infrastructure failure (label [`labels::SUPERSEDED`]). Otherwise
/// the step ended as failed, with [`DELETED_OUTSIDE_SMO`]: counted, and the sequence replaced as
/// any failed one, so a run never waits for a Job that is gone.
pub fn vanished(job: &Job) -> Option<ObservedJob> {
    if job.metadata.labels.as_ref().is_some_and(|l| l.contains_key(labels::SUPERSEDED)) {
        return None;
    }
    let observed = classify(job)?;
    if observed.phase.is_terminal() {
        return None;
    }
    Some(ObservedJob { phase: JobPhase::Failed { reason: DELETED_OUTSIDE_SMO.into() }, duration: None, ..observed })
}

/// How many times a step's Job may be replaced after the infrastructure ended its Pod, unless
/// told otherwise (`--infra-retries`).
pub const DEFAULT_INFRA_RETRIES: u32 = 3;

/// What to do with a step Job the infrastructure ended (`why`): `Ok(n)` replace it, as its
/// `n`-th replacement; `Err(reason)` it has been replaced `cap` times already, so the step
/// fails with the Pod's own reason — a Pod evicted for its own memory or disk use would
/// otherwise be replaced for ever, and never counted.
pub fn infrastructure_retry(job: &Job, why: &str, cap: u32) -> Result<u32, String> {
    let done = job
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::INFRA_RETRIES))
        .and_then(|r| r.parse::<u32>().ok())
        .unwrap_or(0);
    if done < cap {
        Ok(done + 1)
    } else {
        Err(format!(
            "{why} (the infrastructure ended the step's Pod {} times; replaced {done} times, at most {cap}: \
             --infra-retries)",
            done + 1
        ))
    }
}

/// The phase, and for ended Jobs how long they ran.
fn phase_and_duration(job: &Job) -> (JobPhase, Option<Duration>) {
    let Some(status) = job.status.as_ref() else {
        return (JobPhase::Pending, None);
    };
    let start = status.start_time.as_ref();
    let conditions = status.conditions.as_deref().unwrap_or_default();
    // Failed first: the two never coexist, but if they did a failure must not be hidden.
    if let Some(failed) = true_condition(conditions, "Failed") {
        let duration = elapsed(start, failed.last_transition_time.as_ref());
        return (JobPhase::Failed { reason: failure_reason(failed) }, duration);
    }
    if let Some(complete) = true_condition(conditions, "Complete") {
        // completionTime is set together with Complete; the condition's time is a fallback.
        let end = status.completion_time.as_ref().or(complete.last_transition_time.as_ref());
        return (JobPhase::Succeeded, elapsed(start, end));
    }
    // A Job whose pod failed but that is still within its backoffLimit has failed > 0 and an
    // active (replacement) pod, or none for a moment between pods; either way it is not done.
    if status.active.unwrap_or(0) > 0 { (JobPhase::Running, None) } else { (JobPhase::Pending, None) }
}

fn true_condition<'a>(conditions: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    conditions.iter().find(|c| c.type_ == type_ && c.status == "True")
}

/// `<reason>: <message>` of the Failed condition, with whichever parts are present.
fn failure_reason(condition: &JobCondition) -> String {
    match (non_blank(condition.reason.as_deref()), non_blank(condition.message.as_deref())) {
        (Some(reason), Some(message)) => format!("{reason}: {message}"),
        (Some(only), None) | (None, Some(only)) => only.to_owned(),
        (None, None) => "the Job failed (no reason given)".to_owned(),
    }
}

/// The container of a failed Pod that ended it, and how: the first init container, else the
/// first container, that terminated with a non-zero exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerFailure {
    /// The Pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// `container step exited with 1 (Error): <termination message>`.
    pub description: String,
}

/// Which container failed a Pod, and how ([`ContainerFailure`]); None when no container has
/// terminated with a non-zero exit code (the Pod failed for another reason, or not yet).
pub fn container_failure(pod: &Pod) -> Option<ContainerFailure> {
    let name = pod.metadata.name.as_ref()?;
    let status = pod.status.as_ref()?;
    let init = status.init_container_statuses.as_deref().unwrap_or_default();
    let main = status.container_statuses.as_deref().unwrap_or_default();
    init.iter().chain(main).find_map(|c: &ContainerStatus| {
        let state = terminated(c.state.as_ref()).or_else(|| terminated(c.last_state.as_ref()))?;
        if state.exit_code == 0 {
            return None;
        }
        let mut description = format!("container {} exited with {}", c.name, state.exit_code);
        if let Some(reason) = non_blank(state.reason.as_deref()) {
            description.push_str(&format!(" ({reason})"));
        }
        if let Some(message) = non_blank(state.message.as_deref()) {
            description.push_str(&format!(": {}", one_line(message)));
        }
        Some(ContainerFailure { pod: name.clone(), container: c.name.clone(), description })
    })
}

/// The terminated state in `state`, if it is one.
fn terminated(state: Option<&ContainerState>) -> Option<&ContainerStateTerminated> {
    state?.terminated.as_ref()
}

/// Why a step job failed, in one line: the Job's reason, what the Pod's container said, and the
/// last lines of its log (`log_tail`, as `pods/log?tailLines=` returns it).
pub fn failure_detail(job_reason: &str, failure: Option<&ContainerFailure>, log_tail: Option<&str>) -> String {
    let mut detail = job_reason.to_owned();
    if let Some(f) = failure {
        detail.push_str(&format!("; pod {}: {}", f.pod, f.description));
    }
    if let Some(tail) = log_tail.map(one_line).filter(|t| !t.is_empty()) {
        detail.push_str(&format!("; its log ends: {tail}"));
    }
    detail
}

/// Non-blank lines of `text`, trimmed and joined with ` | `.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
}

/// `s` trimmed, unless that leaves nothing.
fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// `end − start`, or None if either is unknown or the clocks say the Job ended before it began.
fn elapsed(start: Option<&Time>, end: Option<&Time>) -> Option<Duration> {
    let (start, end) = (start?, end?);
    Duration::try_from(end.0.duration_since(start.0)).ok()
}

/// Why a Pod cannot start or become ready by waiting, in one line naming its image, or None
/// while it may still (scheduled and pulling, starting, running): an image that cannot be
/// pulled, a container that cannot be created or keeps crashing, a Pod that cannot be
/// scheduled.
pub fn pod_problem(pod: &Pod) -> Option<String> {
    let name = pod.metadata.name.as_deref().unwrap_or("the Pod");
    pod_waiting_reason(pod).map(|reason| format!("Pod {name}: {reason}"))
}

/// [`pod_problem`] without the Pod's name: the same for every Pod of one step, so it can be
/// said once for all of them.
pub fn pod_waiting_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let containers = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    for c in containers {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else { continue };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if STUCK_REASONS.contains(&reason) {
            let message = waiting.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            return Some(format!("{reason}{message} (image {})", c.image));
        }
    }
    let unschedulable = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
    unschedulable.map(|c| format!("Unschedulable: {}", c.message.as_deref().unwrap_or("no node fits it")))
}

/// Container waiting reasons that waiting alone does not end: the kubelet keeps trying, but the
/// image, the spec or the program has to change first.
const STUCK_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn job(labels: Value, status: Value) -> Job {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": { "name": "job-a-job-000000042", "namespace": "default", "labels": labels },
            "spec": { "template": { "spec": { "containers": [] } } },
            "status": status,
        }))
        .expect("a valid Job")
    }

    fn ours(status: Value) -> Job {
        job(json!({ "app": "job_a", "jobid": "job_000000042" }), status)
    }

    fn observed(status: Value) -> ObservedJob {
        classify(&ours(status)).expect("labelled")
    }

    #[test]
    fn a_job_gone_while_it_ran_fails_its_step_and_nothing_else_does() {
        let running = ours(json!({"active": 1, "startTime": "2025-01-01T00:00:00Z"}));
        let gone = vanished(&running).expect("a running Job that vanished ends its step");
        assert_eq!(gone.phase, JobPhase::Failed { reason: DELETED_OUTSIDE_SMO.into() });
        assert_eq!((gone.jobid.as_str(), gone.step.as_str(), gone.attempt), ("job_000000042", "job_a", 1));
        assert!(vanished(&ours(json!({}))).is_some(), "a pending one too");
        // Ended: its end is what counts.
        let done = ours(json!({"conditions": [{"type": "Complete", "status": "True"}]}));
        assert_eq!(vanished(&done), None);
        let failed =
            ours(json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}));
        assert_eq!(vanished(&failed), None);
        // Replaced by smo after an infrastructure failure.
        let superseded =
            job(json!({"app": "job_a", "jobid": "job_000000042", (labels::SUPERSEDED): "true"}), json!({"active": 1}));
        assert_eq!(vanished(&superseded), None);
        // Not a step job at all.
        assert_eq!(vanished(&job(json!({"app": "x"}), json!({"active": 1}))), None);
    }

    #[test]
    fn a_step_lost_to_the_infrastructure_is_replaced_at_most_cap_times() {
        let first = ours(json!({}));
        assert_eq!(infrastructure_retry(&first, "Evicted", 3), Ok(1));
        let third = job(json!({"app": "job_a", "jobid": "job_000000042", (labels::INFRA_RETRIES): "2"}), json!({}));
        assert_eq!(infrastructure_retry(&third, "Evicted", 3), Ok(3));
        let fourth = job(json!({"app": "job_a", "jobid": "job_000000042", (labels::INFRA_RETRIES): "3"}), json!({}));
        let reason =
            infrastructure_retry(&fourth, "Evicted: The node was low on resource: memory.", 3).expect_err("no more");
        assert!(
            reason.starts_with(
                "Evicted: The node was low on resource: memory. (the infrastructure ended the step's Pod 4 times"
            ),
            "{reason}"
        );
        assert!(reason.contains("--infra-retries"), "{reason}");
        assert!(infrastructure_retry(&first, "Evicted", 0).is_err(), "0: never replaced");
    }

    const START: &str = "2025-01-01T00:00:00Z";

    #[test]
    fn labels_give_identity() {
        let o = observed(json!({}));
        assert_eq!(o.jobid, JobId::new("job_000000042"));
        assert_eq!(o.step, "job_a");
        assert_eq!(o.attempt, 1);
        assert!(!o.always_succeed);
        assert_eq!(o.phase, JobPhase::Pending);
        assert_eq!(o.duration, None);
    }

    #[test]
    fn jobs_without_jobid_or_step_labels_are_ignored() {
        let cases = [
            json!({ "app": "job_a" }),
            json!({ "jobid": "job_000000042" }),
            json!({ "app": "", "jobid": "job_000000042" }),
            json!({ "app": "job_a", "jobid": " " }),
            json!({}),
            json!(null),
        ];
        for labels in cases {
            assert_eq!(classify(&job(labels.clone(), json!({}))), None, "{labels}");
        }
    }

    #[test]
    fn attempt_label_parse() {
        // (label value, attempt); bad values mean 1.
        let cases: &[(Option<&str>, u32)] = &[
            (None, 1),
            (Some("1"), 1),
            (Some("2"), 2),
            (Some("17"), 17),
            (Some("0"), 1),
            (Some("-3"), 1),
            (Some("two"), 1),
            (Some(""), 1),
            (Some("99999999999"), 1),
        ];
        for &(value, attempt) in cases {
            let mut labels = json!({ "app": "job_a", "jobid": "job_000000042" });
            if let Some(v) = value {
                labels[labels::ATTEMPT] = json!(v);
            }
            let o = classify(&job(labels, json!({}))).expect("labelled");
            assert_eq!(o.attempt, attempt, "{value:?}");
        }
    }

    #[test]
    fn always_succeed_label_values() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some("1"), true),
            (Some("true"), true),
            (Some("True"), true),
            (Some("yes"), true),
            (Some("YES"), true),
            (Some("0"), false),
            (Some("false"), false),
            (Some("no"), false),
            (Some(""), false),
        ];
        for &(value, expected) in cases {
            let mut labels = json!({ "app": "job_a", "jobid": "job_000000042" });
            if let Some(v) = value {
                labels[labels::ALWAYS_SUCCEED] = json!(v);
            }
            assert_eq!(classify(&job(labels, json!({}))).expect("labelled").always_succeed, expected, "{value:?}");
        }
    }

    #[test]
    fn failed_job_is_detected_by_its_failed_condition() {
        // Original bug: it waited for completionTime, which a failed Job never gets.
        let o = observed(json!({
            "startTime": START,
            "failed": 1,
            "conditions": [
                { "type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                  "message": "Job has reached the specified backoff limit", "lastTransitionTime": "2025-01-01T00:00:40Z" },
                { "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                  "message": "Job has reached the specified backoff limit", "lastTransitionTime": "2025-01-01T00:00:42Z" },
            ],
        }));
        assert_eq!(
            o.phase,
            JobPhase::Failed { reason: "BackoffLimitExceeded: Job has reached the specified backoff limit".into() }
        );
        assert_eq!(o.duration, Some(Duration::from_secs(42)));
    }

    #[test]
    fn failure_reasons_use_whatever_the_condition_says() {
        let cases: &[(Value, &str)] = &[
            (json!({ "reason": "DeadlineExceeded" }), "DeadlineExceeded"),
            (
                json!({ "message": "Job was active longer than specified deadline" }),
                "Job was active longer than specified deadline",
            ),
            (json!({ "reason": " ", "message": "" }), "the Job failed (no reason given)"),
            (json!({}), "the Job failed (no reason given)"),
        ];
        for (extra, reason) in cases {
            let mut condition = json!({ "type": "Failed", "status": "True" });
            if let (Some(c), Some(e)) = (condition.as_object_mut(), extra.as_object()) {
                c.extend(e.clone());
            }
            let o = observed(json!({ "conditions": [condition] }));
            assert_eq!(o.phase, JobPhase::Failed { reason: (*reason).into() }, "{extra}");
            assert_eq!(o.duration, None, "no start time, no duration");
        }
    }

    #[test]
    fn job_retrying_after_a_pod_failure_is_still_running() {
        // Original bug: `failed > 0` was classified as failed while the Job was still retrying.
        let o = observed(json!({ "startTime": START, "active": 1, "failed": 2 }));
        assert_eq!(o.phase, JobPhase::Running);
        assert_eq!(o.duration, None);
        // Between a failed pod and its replacement nothing is active: still not failed.
        assert_eq!(observed(json!({ "startTime": START, "active": 0, "failed": 1 })).phase, JobPhase::Pending);
    }

    #[test]
    fn job_that_succeeded_after_retries_is_a_success() {
        let o = observed(json!({
            "startTime": START,
            "completionTime": "2025-01-01T00:01:05Z",
            "succeeded": 1,
            "failed": 3,
            "conditions": [
                { "type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2025-01-01T00:01:05Z" },
                { "type": "Complete", "status": "True", "lastTransitionTime": "2025-01-01T00:01:05Z" },
            ],
        }));
        assert_eq!(o.phase, JobPhase::Succeeded);
        assert_eq!(o.duration, Some(Duration::from_secs(65)));
    }

    #[test]
    fn phases_from_status() {
        // (status, phase); conditions only count when True.
        let cases: Vec<(Value, JobPhase)> = vec![
            (json!(null), JobPhase::Pending),
            (json!({}), JobPhase::Pending),
            (json!({ "active": 0 }), JobPhase::Pending),
            (json!({ "active": 1, "startTime": START }), JobPhase::Running),
            (json!({ "active": 3 }), JobPhase::Running),
            (json!({ "active": 1, "ready": 1 }), JobPhase::Running),
            (json!({ "conditions": [{ "type": "Complete", "status": "True" }] }), JobPhase::Succeeded),
            (json!({ "active": 1, "conditions": [{ "type": "Complete", "status": "False" }] }), JobPhase::Running),
            (json!({ "active": 1, "conditions": [{ "type": "Failed", "status": "Unknown" }] }), JobPhase::Running),
            (json!({ "conditions": [{ "type": "Suspended", "status": "True" }] }), JobPhase::Pending),
            // A completionTime alone is not a verdict; the condition is.
            (json!({ "active": 1, "completionTime": START }), JobPhase::Running),
            (
                json!({ "conditions": [
                    { "type": "Complete", "status": "True" },
                    { "type": "Failed", "status": "True", "reason": "R" },
                ] }),
                JobPhase::Failed { reason: "R".into() },
            ),
        ];
        for (status, phase) in cases {
            assert_eq!(observed(status.clone()).phase, phase, "{status}");
        }
    }

    #[test]
    fn durations() {
        // (status, duration)
        let complete = |t: &str| json!([{ "type": "Complete", "status": "True", "lastTransitionTime": t }]);
        let cases: Vec<(Value, Option<Duration>)> = vec![
            (
                json!({ "startTime": START, "completionTime": "2025-01-01T00:00:10Z", "conditions": complete("2025-01-01T00:00:11Z") }),
                Some(Duration::from_secs(10)),
            ),
            // No completionTime: the Complete condition's time stands in.
            (
                json!({ "startTime": START, "conditions": complete("2025-01-01T00:00:11Z") }),
                Some(Duration::from_secs(11)),
            ),
            (json!({ "completionTime": "2025-01-01T00:00:10Z", "conditions": complete(START) }), None),
            (json!({ "startTime": START, "conditions": [{ "type": "Complete", "status": "True" }] }), None),
            // Clock skew: ended before it started.
            (
                json!({ "startTime": "2025-01-01T00:00:10Z", "completionTime": START, "conditions": complete(START) }),
                None,
            ),
            (
                json!({ "startTime": START, "completionTime": "2025-01-01T00:00:00.5Z", "conditions": complete(START) }),
                Some(Duration::from_millis(500)),
            ),
            // Running jobs have no duration yet.
            (json!({ "startTime": START, "active": 1 }), None),
        ];
        for (status, duration) in cases {
            assert_eq!(observed(status.clone()).duration, duration, "{status}");
        }
    }

    fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({ "metadata": { "name": "job-c-job-1-x" }, "status": status })).expect("a Pod")
    }

    fn container(name: &str, terminated: Value) -> Value {
        json!({ "name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "terminated": terminated } })
    }

    #[test]
    fn the_container_that_failed_a_pod_is_named_with_its_exit_code_and_reason() {
        let ok = json!({ "exitCode": 0, "reason": "Completed" });
        let cases: Vec<(Value, Option<&str>)> = vec![
            (
                json!({ "initContainerStatuses": [container("smo-install", ok.clone())],
                        "containerStatuses": [container("step", json!({ "exitCode": 1, "reason": "Error" }))] }),
                Some("container step exited with 1 (Error)"),
            ),
            (
                json!({ "containerStatuses": [container("step", json!({ "exitCode": 137, "reason": "OOMKilled",
                        "message": "killed\n  out of memory " }))] }),
                Some("container step exited with 137 (OOMKilled): killed | out of memory"),
            ),
            // An init container that failed is the one named: the step never ran.
            (
                json!({ "initContainerStatuses": [container("smo-install", json!({ "exitCode": 2 }))],
                        "containerStatuses": [] }),
                Some("container smo-install exited with 2"),
            ),
            (json!({ "containerStatuses": [container("step", ok)] }), None),
            (json!({ "phase": "Failed", "reason": "Evicted" }), None),
        ];
        for (status, expected) in cases {
            let failure = container_failure(&pod(status.clone()));
            assert_eq!(failure.as_ref().map(|f| f.description.as_str()), expected, "{status}");
            if let Some(f) = failure {
                assert_eq!(f.pod, "job-c-job-1-x");
            }
        }
    }

    #[test]
    fn a_failure_detail_is_one_line_with_the_job_reason_the_container_and_the_log_tail() {
        let failure = ContainerFailure {
            pod: "p".into(),
            container: "step".into(),
            description: "container step exited with 1 (Error)".into(),
        };
        assert_eq!(
            failure_detail("BackoffLimitExceeded", Some(&failure), Some("pulling\n\n  smo: cannot push x  \n")),
            "BackoffLimitExceeded; pod p: container step exited with 1 (Error); its log ends: pulling | smo: cannot push x"
        );
        assert_eq!(failure_detail("DeadlineExceeded", None, Some(" \n")), "DeadlineExceeded");
    }
}
