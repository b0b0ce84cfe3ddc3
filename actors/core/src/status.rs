//! A `StateMachine`'s `status`, from what its run's ledger knows ([`Snapshot`]), and what a
//! change of its spec does to the running workflow ([`spec_change`]).
//!
//! Status stays small whatever the number of sequences: counters, one entry per step and the
//! last few rule firings, never a list of sequences. Conditions follow Kubernetes' conventions so
//! that `kubectl wait --for=condition=Complete statemachine/NAME` works as it does for a Job:
//!
//! | condition | true when |
//! |---|---|
//! | `Ready` | the spec is valid and the workflow was accepted (false: `InvalidSpec`, with every problem; or what the run lacks, `RegistryUnavailable`, `APINotServed`, `StepDoesNotFit`, …, retried by itself) |
//! | `Progressing` | sequences are running or about to start |
//! | `Complete` | the wanted completions were reached, or a finish-workflow rule fired (present only then, as a Job's) |
//! | `Failed` | the failure cap was reached (`FailureCapReached`), the workflow was stopped (`Stopped`: `spec.shutdown`), or the spec is invalid (`InvalidSpec`) — present only then |
//! | `SpecApplied` | the latest spec is what runs; false names the fields a running workflow cannot change |
//!
//! A condition's `lastTransitionTime` changes only when its status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{Phase, ShutdownStrategy, StateMachineSpec, StateMachineStatus, StepStatus};
use crate::ledger::{Carried, CarriedStep, Counts, RunOutcome};
// Defined with the ledger that makes them (the ledger depends on nothing here).
pub use crate::ledger::{STATUS_FIRINGS, Snapshot, StepSnapshot};

/// A spec change the running workflow could not take, for the `SpecApplied` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unapplied {
    /// `PascalCase` reason.
    pub reason: &'static str,
    /// What was not applied and what to do instead.
    pub message: String,
}

/// What a spec change does to a running workflow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecChange {
    /// Fields the running workflow takes: `workflow.completed`, `workflow.maxFailures`,
    /// `workflow.events` (the rules, their state starting afresh), `cluster.maxSize`.
    pub applied: Vec<&'static str>,
    /// Fields it cannot take while it runs (the steps, the registry, the job id prefix, …).
    pub unapplied: Vec<&'static str>,
}

impl SpecChange {
    /// Whether the rules changed (their state starts afresh).
    pub fn rules_changed(&self) -> bool {
        self.applied.contains(&"spec.workflow.events")
    }

    /// The spec the workflow runs after the change: `new`'s applicable fields on `old`.
    pub fn running_spec(&self, old: &StateMachineSpec, new: &StateMachineSpec) -> StateMachineSpec {
        let mut spec = old.clone();
        spec.workflow.completed = new.workflow.completed;
        spec.workflow.max_failures = new.workflow.max_failures;
        spec.workflow.events = new.workflow.events.clone();
        spec.cluster.max_size = new.cluster.max_size;
        spec.suspend = new.suspend;
        spec.shutdown = new.shutdown;
        spec
    }

    /// The `SpecApplied` condition's failure, if any field was not applied.
    pub fn unapplied(&self) -> Option<Unapplied> {
        (!self.unapplied.is_empty()).then(|| Unapplied {
            reason: "ChangeNotApplicable",
            message: format!(
                "a running workflow keeps its {}; the change applies to a new StateMachine (delete and re-create this one to run it)",
                self.unapplied.join(", ")
            ),
        })
    }
}

/// Which fields differ between the spec a workflow runs and a new one, and which of them the
/// running workflow can take.
pub fn spec_change(old: &StateMachineSpec, new: &StateMachineSpec) -> SpecChange {
    let mut change = SpecChange::default();
    let mut note = |differs: bool, field: &'static str, applicable: bool| {
        if differs {
            if applicable { change.applied.push(field) } else { change.unapplied.push(field) }
        }
    };
    note(old.workflow.completed != new.workflow.completed, "spec.workflow.completed", true);
    note(old.workflow.max_failures != new.workflow.max_failures, "spec.workflow.maxFailures", true);
    note(old.workflow.events != new.workflow.events, "spec.workflow.events", true);
    note(old.cluster.max_size != new.cluster.max_size, "spec.cluster.maxSize", true);
    note(old.suspend != new.suspend, "spec.suspend", true);
    note(old.shutdown != new.shutdown, "spec.shutdown", true);
    note(old.cluster.autoscale != new.cluster.autoscale, "spec.cluster.autoscale", false);
    note(old.workflow.prefix != new.workflow.prefix, "spec.workflow.prefix", false);
    note(old.jobs != new.jobs, "spec.jobs", false);
    note(old.registry != new.registry, "spec.registry", false);
    note(old.manager != new.manager, "spec.manager", false);
    change
}

/// The status of a workflow that runs or has ended.
pub fn of_run(
    snapshot: &Snapshot,
    generation: Option<i64>,
    unapplied: Option<&Unapplied>,
    previous: &StateMachineStatus,
    now: &Time,
) -> StateMachineStatus {
    let Counts { wanted, completed, active, failed, .. } = snapshot.counts;
    let progress = format!("{completed}/{wanted} sequences completed, {active} running, {failed} failed");
    let (phase, message) = match &snapshot.outcome {
        Some(RunOutcome::Succeeded { reason }) => (Phase::Succeeded, reason.clone()),
        Some(RunOutcome::Failed { reason } | RunOutcome::Stopped { reason, .. }) => (Phase::Failed, reason.clone()),
        // Being stopped: still running until its last step jobs have ended.
        Some(RunOutcome::Interrupted { .. }) | None if snapshot.shutdown.is_some() => {
            (Phase::Running, stopping(snapshot, &progress))
        }
        // An interrupted run is still running as far as the cluster is concerned: whoever
        // carries on will say how it ends.
        Some(RunOutcome::Interrupted { .. }) | None if snapshot.suspended => (
            Phase::Suspended,
            format!("suspended (spec.suspend): nothing new starts, the step jobs running finish; {progress}"),
        ),
        Some(RunOutcome::Interrupted { .. }) | None if snapshot.started == 0 => {
            (Phase::Pending, "waiting for node slots to start the first sequence".to_string())
        }
        Some(RunOutcome::Interrupted { .. }) | None => (Phase::Running, progress.clone()),
    };
    let stopped = matches!(snapshot.outcome, Some(RunOutcome::Stopped { .. }));
    let mut status = StateMachineStatus {
        phase: Some(phase),
        completed: to_i32(completed),
        active: to_i32(active),
        failed: to_i32(failed),
        steps: snapshot.steps.iter().map(step_status).collect(),
        recent_firings: snapshot.recent_firings.clone(),
        rule_firings: to_i32(snapshot.fired),
        conditions: previous.conditions.clone(),
        observed_generation: generation,
        start_time: previous.start_time.clone().or_else(|| (snapshot.started > 0).then(|| now.clone())),
        completion_time: None,
        message: Some(message.clone()),
    };
    // `Complete` and `Failed` are there only while true, as a Job's (an invalid spec made valid
    // loses its `Failed`).
    status.conditions.retain(|c| match c.type_.as_str() {
        "Complete" => phase == Phase::Succeeded,
        "Failed" => phase == Phase::Failed,
        _ => true,
    });
    if matches!(phase, Phase::Succeeded | Phase::Failed) {
        status.completion_time = previous.completion_time.clone().or_else(|| Some(now.clone()));
    }
    let set = |status: &mut StateMachineStatus, type_: &str, value: bool, reason: &str, message: &str| {
        set_condition(&mut status.conditions, type_, value, reason, message, generation, now);
    };
    set(&mut status, "Ready", true, "Accepted", "the spec is valid and the workflow runs");
    match phase {
        Phase::Suspended => set(&mut status, "Progressing", false, "Suspended", &progress),
        // Steps whose Pods cannot start are the first thing to say while it runs.
        Phase::Pending | Phase::Running if snapshot.shutdown.is_some() => {
            set(&mut status, "Progressing", true, "Stopping", &message);
        }
        Phase::Pending | Phase::Running if !snapshot.waiting.is_empty() => {
            let message = format!("cannot start yet: {}; {progress}", snapshot.waiting.join("; "));
            set(&mut status, "Progressing", true, "StepPending", &message);
        }
        Phase::Pending | Phase::Running => set(&mut status, "Progressing", true, "SequencesRunning", &progress),
        Phase::Succeeded => set(&mut status, "Progressing", false, "Succeeded", &progress),
        Phase::Failed if stopped => set(&mut status, "Progressing", false, "Stopped", &progress),
        Phase::Failed => set(&mut status, "Progressing", false, "Failed", &progress),
    }
    // `Suspended` is there while true, as a Job's.
    if phase == Phase::Suspended {
        set(&mut status, "Suspended", true, "SpecSuspend", &message);
    } else {
        status.conditions.retain(|c| c.type_ != "Suspended");
    }
    if phase == Phase::Succeeded {
        let reason = if message.contains("rule") { "FinishRuleFired" } else { "CompletionsReached" };
        set(&mut status, "Complete", true, reason, &message);
    }
    if phase == Phase::Failed {
        let reason = if stopped { "Stopped" } else { "FailureCapReached" };
        set(&mut status, "Failed", true, reason, &message);
    }
    match unapplied {
        Some(u) => set(&mut status, "SpecApplied", false, u.reason, &u.message),
        None => set(&mut status, "SpecApplied", true, "Applied", "the workflow runs the latest spec"),
    }
    status
}

/// The message of a workflow being stopped (`spec.shutdown`), until it has ended.
fn stopping(snapshot: &Snapshot, progress: &str) -> String {
    match snapshot.shutdown {
        Some(ShutdownStrategy::Terminate) => {
            format!("terminating (spec.shutdown: Terminate): the step jobs running are deleted; {progress}")
        }
        _ => format!(
            "stopping (spec.shutdown: Stop): nothing new starts, the {} step jobs running finish; {progress}",
            snapshot.counts.jobs_running
        ),
    }
}

/// What a resource's status tells of its run that its Jobs may no longer show (see
/// [`Carried`]): an operator restarted mid-run goes on from it.
pub fn carried(status: &StateMachineStatus) -> Carried {
    let count = |v: i32| u32::try_from(v).unwrap_or(0);
    Carried {
        completed: count(status.completed),
        // Not in the status: the operator adds what the kept timeline says.
        completed_sequences: Default::default(),
        failed: count(status.failed),
        fired: count(status.rule_firings),
        recent_firings: status.recent_firings.clone(),
        steps: status
            .steps
            .iter()
            .map(|s| CarriedStep {
                name: s.name.clone(),
                succeeded: count(s.succeeded),
                failed: count(s.failed),
                nodes: count(s.nodes),
            })
            .collect(),
    }
}

/// The status of a resource whose spec is invalid: phase `Failed`, every problem in the `Ready`
/// condition's message (the same lines `smo validate` prints), nothing started.
pub fn of_invalid(
    problems: &[String],
    generation: Option<i64>,
    previous: &StateMachineStatus,
    now: &Time,
) -> StateMachineStatus {
    let count = problems.len();
    let summary = format!(
        "invalid spec ({count} problem{}); fix it and the workflow starts: {}",
        if count == 1 { "" } else { "s" },
        problems.first().map(String::as_str).unwrap_or("no detail")
    );
    let mut status = StateMachineStatus {
        phase: Some(Phase::Failed),
        conditions: previous.conditions.clone(),
        observed_generation: generation,
        message: Some(summary),
        ..StateMachineStatus::default()
    };
    let all = problems.join("\n");
    set_condition(&mut status.conditions, "Ready", false, "InvalidSpec", &all, generation, now);
    set_condition(&mut status.conditions, "Failed", true, "InvalidSpec", &all, generation, now);
    status.conditions.retain(|c| !matches!(c.type_.as_str(), "Progressing" | "Complete" | "SpecApplied"));
    status
}

/// The status of a resource whose valid workflow cannot start yet because the cluster lacks
/// something it needs (`reason`: `RegistryUnavailable`, `APINotServed`, `StepDoesNotFit`, …): phase `Pending` with
/// what the run had counted before kept, `Ready` false naming what is missing and how to fix it.
/// Not `Failed`: the operator tries again by itself, so installing what is missing is enough.
pub fn of_waiting(
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: &StateMachineStatus,
    now: &Time,
) -> StateMachineStatus {
    let mut status = StateMachineStatus {
        phase: Some(Phase::Pending),
        observed_generation: generation,
        message: Some(format!("waiting: {message}")),
        completion_time: None,
        ..previous.clone()
    };
    status.conditions.retain(|c| !matches!(c.type_.as_str(), "Complete" | "Failed"));
    set_condition(&mut status.conditions, "Ready", false, reason, message, generation, now);
    set_condition(&mut status.conditions, "Progressing", false, reason, message, generation, now);
    status
}

/// The status of a resource stopped (`spec.shutdown`) while no run of it was going on (it
/// waited for what the cluster lacks): phase `Failed`, reason `Stopped`, what an earlier life of
/// its run counted kept. `Ready` is true — the spec was valid and accepted — so that a
/// restarted operator leaves the ended workflow alone.
pub fn of_stopped(
    strategy: ShutdownStrategy,
    generation: Option<i64>,
    previous: &StateMachineStatus,
    now: &Time,
) -> StateMachineStatus {
    let completed = previous.completed;
    let message = format!(
        "stopped with strategy '{strategy}' (spec.shutdown) while it waited to start: {completed} sequences \
         completed, {} failed",
        previous.failed
    );
    let mut status = StateMachineStatus {
        phase: Some(Phase::Failed),
        active: 0,
        observed_generation: generation,
        message: Some(message.clone()),
        completion_time: previous.completion_time.clone().or_else(|| Some(now.clone())),
        ..previous.clone()
    };
    for step in &mut status.steps {
        step.active = 0;
    }
    status.conditions.retain(|c| !matches!(c.type_.as_str(), "Complete" | "Suspended"));
    let set = |status: &mut StateMachineStatus, type_: &str, value: bool, reason: &str, message: &str| {
        set_condition(&mut status.conditions, type_, value, reason, message, generation, now);
    };
    set(&mut status, "Ready", true, "Stopped", "the spec is valid; the workflow was stopped before it could start");
    set(&mut status, "Progressing", false, "Stopped", &message);
    set(&mut status, "Failed", true, "Stopped", &message);
    status
}

/// Sets condition `type_` in `conditions`, keeping its `lastTransitionTime` when its status does
/// not change.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if value { "True" } else { "False" }.to_string();
    let condition = Condition {
        type_: type_.to_string(),
        status: status.clone(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(old) if old.status == status => {
            *old = Condition { last_transition_time: old.last_transition_time.clone(), ..condition };
        }
        Some(old) => *old = condition,
        None => conditions.push(condition),
    }
}

fn step_status(s: &StepSnapshot) -> StepStatus {
    StepStatus {
        name: s.name.clone(),
        active: to_i32(s.active),
        succeeded: to_i32(s.succeeded),
        failed: to_i32(s.failed),
        nodes: to_i32(s.nodes),
        median_seconds: s.median_seconds.map(round3),
        p95_seconds: s.p95_seconds.map(round3),
        max_seconds: s.max_seconds.map(round3),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClusterSpec, JobStep, WorkflowSpec};

    fn time(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH))
    }

    fn snapshot(completed: u32, active: u32, failed: u32, outcome: Option<RunOutcome>) -> Snapshot {
        Snapshot {
            counts: Counts { wanted: 4, completed, active, failed, jobs_running: active },
            started: completed + active + failed,
            steps: vec![StepSnapshot {
                name: "a".into(),
                active,
                succeeded: completed,
                failed,
                nodes: 1,
                median_seconds: Some(1.23456),
                p95_seconds: Some(1.98765),
                max_seconds: Some(2.0),
            }],
            fired: 0,
            recent_firings: Vec::new(),
            suspended: false,
            shutdown: None,
            waiting: Vec::new(),
            outcome,
            max_size: 2,
        }
    }

    fn condition<'a>(s: &'a StateMachineStatus, type_: &str) -> Option<&'a Condition> {
        s.conditions.iter().find(|c| c.type_ == type_)
    }

    #[test]
    fn a_run_that_has_not_started_a_sequence_is_pending() {
        let s = of_run(&snapshot(0, 0, 0, None), Some(1), None, &StateMachineStatus::default(), &time(10));
        assert_eq!(s.phase, Some(Phase::Pending));
        assert_eq!(s.start_time, None);
        assert_eq!(condition(&s, "Progressing").map(|c| c.status.as_str()), Some("True"));
    }

    #[test]
    fn a_running_workflow_counts_and_keeps_its_start_time() {
        let first = of_run(&snapshot(1, 2, 0, None), Some(1), None, &StateMachineStatus::default(), &time(10));
        assert_eq!(first.phase, Some(Phase::Running));
        assert_eq!((first.completed, first.active, first.failed), (1, 2, 0));
        assert_eq!(first.start_time, Some(time(10)));
        assert_eq!(first.steps[0].median_seconds, Some(1.235));
        assert_eq!(first.observed_generation, Some(1));
        let second = of_run(&snapshot(2, 2, 0, None), Some(1), None, &first, &time(20));
        assert_eq!(second.start_time, Some(time(10)));
        assert!(condition(&second, "Complete").is_none(), "no Complete condition before the end");
        // The same condition status keeps its transition time; the message follows the counts.
        let progressing = condition(&second, "Progressing").expect("Progressing");
        assert_eq!(progressing.last_transition_time, time(10));
        assert_eq!(progressing.message, "2/4 sequences completed, 2 running, 0 failed");
    }

    #[test]
    fn a_step_whose_pod_cannot_start_is_named_in_progressing_until_it_starts() {
        let mut waiting = snapshot(1, 1, 0, None);
        waiting.waiting = vec!["step a (x1): Unschedulable: 0/1 nodes are available: 1 Insufficient cpu".into()];
        let s = of_run(&waiting, Some(1), None, &StateMachineStatus::default(), &time(10));
        let progressing = condition(&s, "Progressing").expect("Progressing");
        assert_eq!((progressing.status.as_str(), progressing.reason.as_str()), ("True", "StepPending"));
        assert!(
            progressing.message.contains("cannot start yet: step a (x1): Unschedulable"),
            "{}",
            progressing.message
        );
        let started = of_run(&snapshot(1, 1, 0, None), Some(1), None, &s, &time(20));
        let progressing = condition(&started, "Progressing").expect("Progressing");
        assert_eq!(progressing.reason, "SequencesRunning");
    }

    #[test]
    fn a_suspended_workflow_says_so_in_its_phase_and_a_condition_until_resumed() {
        let mut suspended = snapshot(1, 1, 0, None);
        suspended.suspended = true;
        let s = of_run(&suspended, Some(2), None, &StateMachineStatus::default(), &time(10));
        assert_eq!(s.phase, Some(Phase::Suspended));
        let condition_of =
            |s: &StateMachineStatus, type_: &str| condition(s, type_).map(|c| (c.status.clone(), c.reason.clone()));
        assert_eq!(condition_of(&s, "Suspended"), Some(("True".into(), "SpecSuspend".into())));
        assert_eq!(condition_of(&s, "Progressing"), Some(("False".into(), "Suspended".into())));
        let resumed = of_run(&snapshot(1, 1, 0, None), Some(3), None, &s, &time(20));
        assert_eq!(resumed.phase, Some(Phase::Running));
        assert!(condition(&resumed, "Suspended").is_none(), "there only while true");
        assert_eq!(condition_of(&resumed, "Progressing"), Some(("True".into(), "SequencesRunning".into())));
    }

    #[test]
    fn success_sets_complete_so_kubectl_wait_returns() {
        let running = of_run(&snapshot(3, 1, 0, None), Some(2), None, &StateMachineStatus::default(), &time(10));
        let outcome = RunOutcome::Succeeded { reason: "4/4 sequences completed".into() };
        let done = of_run(&snapshot(4, 0, 0, Some(outcome)), Some(2), None, &running, &time(30));
        assert_eq!(done.phase, Some(Phase::Succeeded));
        assert_eq!(done.completion_time, Some(time(30)));
        let complete = condition(&done, "Complete").expect("Complete");
        assert_eq!((complete.status.as_str(), complete.reason.as_str()), ("True", "CompletionsReached"));
        let progressing = condition(&done, "Progressing").expect("Progressing");
        assert_eq!((progressing.status.as_str(), progressing.last_transition_time.clone()), ("False", time(30)));
        assert!(condition(&done, "Failed").is_none());
    }

    #[test]
    fn the_failure_cap_sets_failed_with_the_reason() {
        let outcome = RunOutcome::Failed { reason: "4 sequences failed (cap 4); last failure: x".into() };
        let s = of_run(&snapshot(0, 0, 4, Some(outcome)), Some(1), None, &StateMachineStatus::default(), &time(5));
        assert_eq!(s.phase, Some(Phase::Failed));
        let failed = condition(&s, "Failed").expect("Failed");
        assert_eq!(failed.reason, "FailureCapReached");
        assert!(failed.message.contains("last failure: x"), "{}", failed.message);
    }

    #[test]
    fn a_stopping_workflow_runs_until_its_jobs_end_then_fails_with_reason_stopped() {
        let mut stopping = snapshot(1, 2, 0, None);
        stopping.shutdown = Some(ShutdownStrategy::Stop);
        let s = of_run(&stopping, Some(2), None, &StateMachineStatus::default(), &time(10));
        assert_eq!(s.phase, Some(Phase::Running));
        let message = s.message.clone().unwrap_or_default();
        assert!(
            message.starts_with("stopping (spec.shutdown: Stop): nothing new starts, the 2 step jobs"),
            "{message}"
        );
        let progressing = condition(&s, "Progressing").expect("Progressing");
        assert_eq!((progressing.status.as_str(), progressing.reason.as_str()), ("True", "Stopping"));
        assert!(condition(&s, "Failed").is_none(), "not failed before the end");
        let reason = "stopped with strategy 'Stop' (spec.shutdown): 1/4 sequences completed, 0 failed, 2 stopped before \
                      their end";
        let outcome = RunOutcome::Stopped { strategy: ShutdownStrategy::Stop, reason: reason.into() };
        let mut ended = snapshot(1, 2, 0, Some(outcome));
        ended.shutdown = None;
        let done = of_run(&ended, Some(2), None, &s, &time(20));
        assert_eq!(done.phase, Some(Phase::Failed));
        assert_eq!(done.message.as_deref(), Some(reason));
        assert_eq!(done.completion_time, Some(time(20)));
        let failed = condition(&done, "Failed").expect("Failed");
        assert_eq!((failed.status.as_str(), failed.reason.as_str()), ("True", "Stopped"));
        assert_eq!(condition(&done, "Progressing").map(|c| c.reason.as_str()), Some("Stopped"));
        assert!(condition(&done, "Complete").is_none());
    }

    #[test]
    fn a_workflow_stopped_while_it_waited_to_start_fails_stopped_and_keeps_its_counts() {
        let before = StateMachineStatus { completed: 2, failed: 1, ..StateMachineStatus::default() };
        let waiting = of_waiting("RegistryUnavailable", "no registry", Some(3), &before, &time(10));
        let s = of_stopped(ShutdownStrategy::Terminate, Some(4), &waiting, &time(20));
        assert_eq!(s.phase, Some(Phase::Failed));
        assert_eq!((s.completed, s.failed, s.observed_generation), (2, 1, Some(4)));
        let message = s.message.clone().unwrap_or_default();
        assert!(message.starts_with("stopped with strategy 'Terminate'"), "{message}");
        let reason_of = |type_: &str| condition(&s, type_).map(|c| (c.status.clone(), c.reason.clone()));
        assert_eq!(reason_of("Failed"), Some(("True".into(), "Stopped".into())));
        assert_eq!(reason_of("Progressing"), Some(("False".into(), "Stopped".into())));
        // Accepted: an operator that starts again leaves it ended.
        assert_eq!(reason_of("Ready"), Some(("True".into(), "Stopped".into())));
        let (_, first) = crate::lifecycle::Lifecycle::first_seen(Some(4), Ok(&StateMachineSpec::default()), &s);
        assert_eq!(first, crate::lifecycle::OnFirstSeen::LeftEnded);
    }

    #[test]
    fn a_stop_and_its_withdrawal_apply_to_a_running_workflow() {
        let old = StateMachineSpec::default();
        let new = StateMachineSpec { shutdown: Some(ShutdownStrategy::Stop), ..StateMachineSpec::default() };
        let change = spec_change(&old, &new);
        assert_eq!(change.applied, vec!["spec.shutdown"]);
        assert!(change.unapplied.is_empty());
        assert_eq!(change.running_spec(&old, &new).shutdown, Some(ShutdownStrategy::Stop));
        assert_eq!(spec_change(&new, &old).applied, vec!["spec.shutdown"]);
    }

    #[test]
    fn a_run_waiting_for_the_cluster_is_pending_and_keeps_its_counts() {
        let invalid = of_invalid(&["bad".into()], Some(1), &StateMachineStatus::default(), &time(1));
        let previous = StateMachineStatus { completed: 2, failed: 1, ..invalid };
        let s = of_waiting("APINotServed", "install the Flux Operator", Some(2), &previous, &time(2));
        assert_eq!(s.phase, Some(Phase::Pending));
        assert_eq!((s.completed, s.failed), (2, 1));
        let ready = condition(&s, "Ready").expect("Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "APINotServed"));
        assert!(
            condition(&s, "Failed").is_none(),
            "waiting is not failing: kubectl wait --for=condition=Failed must not return"
        );
        assert_eq!(s.message.as_deref(), Some("waiting: install the Flux Operator"));
    }

    #[test]
    fn an_invalid_spec_names_every_problem_and_a_valid_one_clears_them() {
        let problems = vec!["sm: spec.jobs[0].image: is required".to_string(), "sm: spec.cluster.maxSize: x".into()];
        let bad = of_invalid(&problems, Some(1), &StateMachineStatus::default(), &time(1));
        assert_eq!(bad.phase, Some(Phase::Failed));
        let ready = condition(&bad, "Ready").expect("Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "InvalidSpec"));
        assert_eq!(ready.message, problems.join("\n"));
        assert!(bad.message.as_deref().is_some_and(|m| m.contains("2 problems")), "{:?}", bad.message);
        let good = of_run(&snapshot(0, 1, 0, None), Some(2), None, &bad, &time(2));
        assert_eq!(condition(&good, "Ready").map(|c| c.status.as_str()), Some("True"));
        assert!(condition(&good, "Failed").is_none(), "no Failed condition left over: {:?}", good.conditions);
    }

    #[test]
    fn only_the_counts_and_rules_of_a_running_workflow_change() {
        let old = StateMachineSpec {
            workflow: WorkflowSpec { completed: 4, ..WorkflowSpec::default() },
            cluster: ClusterSpec { max_size: 2, ..ClusterSpec::default() },
            jobs: vec![JobStep { name: "a".into(), ..JobStep::default() }],
            ..StateMachineSpec::default()
        };
        let mut new = old.clone();
        new.workflow.completed = 8;
        new.cluster.max_size = 4;
        let change = spec_change(&old, &new);
        assert_eq!(change.applied, vec!["spec.workflow.completed", "spec.cluster.maxSize"]);
        assert_eq!(change.unapplied(), None);
        new.jobs[0].name = "b".into();
        let change = spec_change(&old, &new);
        assert_eq!(change.unapplied, vec!["spec.jobs"]);
        let note = change.unapplied().expect("not applicable");
        assert!(note.message.contains("spec.jobs"), "{}", note.message);
        assert!(!change.rules_changed());
        // What runs keeps its steps and takes the new counts; the steps stay reported.
        let running = change.running_spec(&old, &new);
        assert_eq!((running.workflow.completed, running.cluster.max_size), (8, 4));
        assert_eq!(running.jobs, old.jobs);
        assert_eq!(spec_change(&running, &new).unapplied, vec!["spec.jobs"]);
    }
}
