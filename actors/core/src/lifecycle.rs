//! One `StateMachine` resource's run over its life, as the operator's Controller decides it:
//! when it starts, what an edit does, when a run that could not start (or stopped without
//! finishing) is tried again, and when it is over. The Controller carries the decisions out
//! (its setup task, its Manager, the resource's status); nothing here does anything.
//!
//! ```text
//!             valid                  Manager made            Succeeded / Failed / Stopped
//!  seen ──────────────▶ SettingUp ─────────────────▶ Running ─────────────────────────▶ Ended
//!   │ invalid            ▲   │ refused, interrupted   │ interrupted                      (edits
//!   ▼                    │   ▼                        ▼                                   not applied)
//!  Invalid ──valid edit──┴─ Waiting ◀─────────────────┘                                  ▲
//!                          (retried after 5 s, 10 s, … 300 s; an edit retries at once)   │
//!                             └──────────────── stopped (spec.shutdown) ─────────────────┘
//! ```
//!
//! * A resource whose status says its run ended (`Succeeded` / `Failed`, ready, of this very
//!   generation) is left alone when the operator starts: the run is not done twice.
//! * An edit while the run is being set up (its registry awaited, its images checked) starts
//!   the setup again with the new spec — unless the setup has already made its Manager
//!   (`committed`): then the change waits for the Manager, which takes it as any edit.
//! * An edit of a running workflow applies what a running workflow can take
//!   ([`status::spec_change`]) and says what it cannot; an invalid edit is refused and the run
//!   goes on with the spec it has; an edit after the end is not applied.
//! * A run that could not start, or whose Manager stopped without finishing, is never marked
//!   ended: it waits and is tried again, each wait in a row twice the last ([`RETRY_FIRST`] up
//!   to [`RETRY_MAX`]).
//! * A stop (`spec.shutdown`, `smo stop`) of a running workflow is its Manager's to carry out
//!   (an edit it takes, as `suspend`), and the run ends `Stopped`, never tried again. A run
//!   that has no Manager — waiting for what the cluster lacks, or whose setup or Manager
//!   stopped while it was being stopped — is not tried again either: it ends at once
//!   ([`OnEdit::Stopped`], [`AfterRun::Stopped`]). A setup makes no step job and a Manager
//!   deletes its running ones as it stops, so nothing of the run is left — except Jobs an
//!   operator that died left running while the next one still waits to set the run up: those
//!   are neither recorded nor deleted (they go with the resource). Removing `shutdown` after
//!   the end runs nothing again.

use std::time::Duration;

use crate::api::{Phase, ShutdownStrategy, StateMachineSpec, StateMachineStatus};
use crate::status::{self, Unapplied};
use crate::workflow::Workflow;

/// The first wait before a refused run is tried again; each refusal in a row doubles it.
pub const RETRY_FIRST: Duration = Duration::from_secs(5);

/// The longest wait before a refused run is tried again.
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// Where a resource's run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Its spec is invalid and nothing runs; a valid edit starts it.
    Invalid,
    /// Its run is being set up; no Manager yet.
    SettingUp,
    /// Its Manager runs.
    Running,
    /// It could not start, or stopped without finishing: it is tried again after a wait.
    Waiting,
    /// Its run ended: edits no longer apply.
    Ended,
}

/// A change a running workflow takes: the new workflow, and whether its rules changed (their
/// state then starts afresh).
#[derive(Clone, Debug, PartialEq)]
pub struct Reconfiguration {
    /// The workflow with the change.
    pub workflow: Workflow,
    /// `spec.workflow.events` changed.
    pub rules_changed: bool,
}

/// What to do with a resource seen for the first time.
#[derive(Clone, Debug, PartialEq)]
pub enum OnFirstSeen {
    /// Its spec is invalid: say so, run nothing.
    Invalid(Vec<String>),
    /// Its run ended before (an earlier operator saw it end): leave it.
    LeftEnded,
    /// Set its run up.
    Start,
}

/// What to do after an edit of a resource.
#[derive(Clone, Debug, PartialEq)]
pub enum OnEdit {
    /// Nothing changed that matters (a status write, the same generation).
    Nothing,
    /// Still invalid, nothing runs: say what is wrong.
    Invalid(Vec<String>),
    /// The run goes on with the spec it has; the new one is not applied, and why.
    NotApplied(Unapplied),
    /// Set the run up now with the new spec (it did not run; or it was being set up, and that
    /// setup is to be stopped first: `stop_setup`).
    Start {
        /// A setup under way is to be stopped.
        stop_setup: bool,
    },
    /// It was stopped (`spec.shutdown`) while no Manager ran it (it waited to be tried again):
    /// it has ended, stopped, and is not tried again.
    Stopped(ShutdownStrategy),
    /// The run takes the change: `now` for its Manager (None: it has none yet, and gets it
    /// once made); `unapplied`, what it could not take.
    Reconfigure {
        /// For the Manager now (boxed: a whole workflow).
        now: Option<Box<Reconfiguration>>,
        /// What the running workflow cannot take.
        unapplied: Option<Unapplied>,
    },
}

/// How a run (or its setup) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The workflow succeeded or failed.
    Finished,
    /// It could not start, or its Manager stopped without finishing.
    Interrupted,
}

/// What follows the end of a run (or of its setup).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRun {
    /// It is over: edits no longer apply.
    Over,
    /// It was stopped (`spec.shutdown`) before its Manager could end it: over, and its status
    /// is to say so.
    Stopped(ShutdownStrategy),
    /// It is tried again.
    Retry(Retry),
}

/// A retry to schedule: after `after`, call [`Lifecycle::retry`] with the `token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// How long to wait.
    pub after: Duration,
    /// Tells this retry from a later one.
    pub token: u64,
}

/// One resource's run over its life (see the module docs).
#[derive(Clone, Debug)]
pub struct Lifecycle {
    stage: Stage,
    /// `metadata.generation` last seen.
    generation: Option<i64>,
    /// The spec the workflow runs (changes it could not take left out), while it runs or ran.
    running_spec: Option<StateMachineSpec>,
    /// A change made before the run's Manager was made, for it once it is.
    pending: Option<Reconfiguration>,
    /// Refusals in a row (the next wait is longer); 0 once it runs or is edited.
    refusals: u32,
    /// The retry scheduled last, while it is still due.
    retry: Option<u64>,
    /// Retries scheduled so far (the next one's token).
    retries: u64,
}

impl Lifecycle {
    /// A resource seen for the first time, of `generation`, with its spec (or its problems)
    /// and the status an earlier operator wrote.
    pub fn first_seen(
        generation: Option<i64>,
        spec: Result<&StateMachineSpec, &[String]>,
        current: &StateMachineStatus,
    ) -> (Lifecycle, OnFirstSeen) {
        let mut life = Lifecycle {
            stage: Stage::Invalid,
            generation,
            running_spec: None,
            pending: None,
            refusals: 0,
            retry: None,
            retries: 0,
        };
        let spec = match spec {
            Err(problems) => return (life, OnFirstSeen::Invalid(problems.to_vec())),
            Ok(spec) => spec,
        };
        life.running_spec = Some(spec.clone());
        // Ended as an accepted run (not refused) of this very spec.
        let accepted = current.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        let ended = matches!(current.phase, Some(Phase::Succeeded | Phase::Failed))
            && current.observed_generation == generation
            && accepted;
        if ended {
            life.stage = Stage::Ended;
            return (life, OnFirstSeen::LeftEnded);
        }
        life.stage = Stage::SettingUp;
        (life, OnFirstSeen::Start)
    }

    /// Where the run is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Refusals in a row so far.
    pub fn refusals(&self) -> u32 {
        self.refusals
    }

    /// The resource changed to `generation`, with its workflow and spec or its problems;
    /// `committed`: a setup under way has made its Manager already.
    pub fn edited(
        &mut self,
        generation: Option<i64>,
        parsed: Result<(Workflow, StateMachineSpec), Vec<String>>,
        committed: bool,
    ) -> OnEdit {
        if self.generation == generation {
            return OnEdit::Nothing;
        }
        self.generation = generation;
        let (workflow, spec) = match parsed {
            Err(problems) if self.running_spec.is_none() => return OnEdit::Invalid(problems),
            Err(problems) => {
                let message = format!("the new spec is invalid and was not applied: {}", problems.join("; "));
                return OnEdit::NotApplied(Unapplied { reason: "InvalidSpec", message });
            }
            Ok(parsed) => parsed,
        };
        if let (None, Some(strategy)) = (&self.running_spec, spec.shutdown) {
            // Invalid or refused until now, and now stopped: it ends without ever running.
            self.stage = Stage::Ended;
            self.retry = None;
            self.running_spec = Some(spec);
            return OnEdit::Stopped(strategy);
        }
        let Some(running) = self.running_spec.clone() else {
            // Invalid or refused until now: it runs, and an edit retries at once.
            self.refusals = 0;
            self.begin(spec);
            return OnEdit::Start { stop_setup: false };
        };
        if self.stage == Stage::SettingUp && !committed {
            // Set up again with the new spec now, not after the wait under way.
            self.refusals = 0;
            self.pending = None;
            self.begin(spec);
            return OnEdit::Start { stop_setup: true };
        }
        if self.stage == Stage::Ended {
            return OnEdit::NotApplied(Unapplied {
                reason: "WorkflowEnded",
                message: "the workflow has ended; delete and re-create the StateMachine to run it again".into(),
            });
        }
        let change = status::spec_change(&running, &spec);
        let unapplied = change.unapplied();
        if change.applied.is_empty() {
            return OnEdit::Reconfigure { now: None, unapplied };
        }
        self.running_spec = Some(change.running_spec(&running, &spec));
        let reconfiguration = Reconfiguration { workflow, rules_changed: change.rules_changed() };
        if self.stage == Stage::Running {
            return OnEdit::Reconfigure { now: Some(Box::new(reconfiguration)), unapplied };
        }
        // Two edits before the run is up: the latest counts, rule changes of either.
        let rules_changed = reconfiguration.rules_changed || self.pending.as_ref().is_some_and(|p| p.rules_changed);
        self.pending = Some(Reconfiguration { rules_changed, ..reconfiguration });
        OnEdit::Reconfigure { now: None, unapplied }
    }

    /// The retry `token` is due: unless an edit or a later refusal superseded it, the run is
    /// set up again with `spec` (the resource's latest), and true is returned. The refusals in
    /// a row are kept: a next refusal waits longer.
    pub fn retry(&mut self, token: u64, spec: StateMachineSpec) -> bool {
        if !self.retry_due(token) {
            return false;
        }
        self.begin(spec);
        true
    }

    /// The run is set up from `spec`, which becomes the running one; a retry scheduled before
    /// is superseded.
    fn begin(&mut self, spec: StateMachineSpec) {
        self.stage = Stage::SettingUp;
        self.retry = None;
        self.running_spec = Some(spec);
    }

    /// The run's Manager is made: what was changed meanwhile is for it.
    pub fn run_started(&mut self) -> Option<Reconfiguration> {
        self.stage = Stage::Running;
        self.refusals = 0;
        self.pending.take()
    }

    /// The run (or its setup) ended: over for good, or to be tried again after the returned
    /// wait — unless it was being stopped (`spec.shutdown`), which a retry would only undo.
    pub fn run_ended(&mut self, end: RunEnd) -> AfterRun {
        self.pending = None;
        if end == RunEnd::Finished {
            self.stage = Stage::Ended;
            return AfterRun::Over;
        }
        // An edit's stop is in the running spec, whether the Manager had taken it or not.
        if let Some(strategy) = self.running_spec.as_ref().and_then(|spec| spec.shutdown) {
            self.stage = Stage::Ended;
            self.retry = None;
            return AfterRun::Stopped(strategy);
        }
        self.stage = Stage::Waiting;
        self.running_spec = None;
        let after = RETRY_FIRST.saturating_mul(1 << self.refusals.min(16)).min(RETRY_MAX);
        self.refusals += 1;
        let token = self.retries;
        self.retries += 1;
        self.retry = Some(token);
        AfterRun::Retry(Retry { after, token })
    }

    /// Whether the retry `token` is still due (not superseded by an edit or a later refusal).
    fn retry_due(&self, token: u64) -> bool {
        self.stage == Stage::Waiting && self.retry == Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::documents::from_manifest_value;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn parsed(completed: u32, max_size: u32, image: &str) -> (Workflow, StateMachineSpec) {
        let manifest = serde_json::json!({
            "apiVersion": "state-machine.converged-computing.org/v1alpha1",
            "kind": "StateMachine",
            "metadata": {"name": "chain"},
            "spec": {
                "workflow": {"completed": completed},
                "cluster": {"maxSize": max_size},
                "jobs": [{"name": "a", "image": image, "script": "echo a"}],
            },
        });
        let (workflow, _) = from_manifest_value(manifest.clone(), "chain").expect("a valid manifest");
        let spec = serde_json::from_value(manifest["spec"].clone()).expect("a spec");
        (workflow, spec)
    }

    /// The run was interrupted: its retry.
    fn retried(life: &mut Lifecycle) -> Retry {
        match life.run_ended(RunEnd::Interrupted) {
            AfterRun::Retry(retry) => retry,
            other => panic!("tried again, not {other:?}"),
        }
    }

    fn stopped(mut parsed: (Workflow, StateMachineSpec), strategy: ShutdownStrategy) -> (Workflow, StateMachineSpec) {
        parsed.0.shutdown = Some(strategy);
        parsed.1.shutdown = Some(strategy);
        parsed
    }

    fn started(completed: u32) -> Lifecycle {
        let (_, spec) = parsed(completed, 2, "busybox");
        let (life, first) = Lifecycle::first_seen(Some(1), Ok(&spec), &StateMachineStatus::default());
        assert_eq!(first, OnFirstSeen::Start);
        life
    }

    #[test]
    fn a_run_that_ended_before_is_left_alone_and_one_that_was_refused_runs() {
        let (_, spec) = parsed(4, 2, "busybox");
        let ready = |status: &str| Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: "Test".into(),
            message: String::new(),
            observed_generation: Some(3),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        };
        let ended = StateMachineStatus {
            phase: Some(Phase::Succeeded),
            observed_generation: Some(3),
            conditions: vec![ready("True")],
            ..StateMachineStatus::default()
        };
        assert_eq!(Lifecycle::first_seen(Some(3), Ok(&spec), &ended).1, OnFirstSeen::LeftEnded);
        // Of an older generation, or not accepted (refused): it runs.
        assert_eq!(Lifecycle::first_seen(Some(4), Ok(&spec), &ended).1, OnFirstSeen::Start);
        let refused = StateMachineStatus { conditions: vec![ready("False")], ..ended };
        assert_eq!(Lifecycle::first_seen(Some(3), Ok(&spec), &refused).1, OnFirstSeen::Start);
        let problems = vec!["spec.jobs: required".to_string()];
        let (life, first) = Lifecycle::first_seen(Some(1), Err(&problems), &StateMachineStatus::default());
        assert_eq!(first, OnFirstSeen::Invalid(problems));
        assert_eq!(life.stage(), Stage::Invalid);
    }

    #[test]
    fn an_invalid_resource_runs_once_an_edit_makes_it_valid() {
        let problems = vec!["bad".to_string()];
        let (mut life, _) = Lifecycle::first_seen(Some(1), Err(&problems), &StateMachineStatus::default());
        assert_eq!(
            life.edited(Some(2), Err(vec!["still bad".into()]), false),
            OnEdit::Invalid(vec!["still bad".into()])
        );
        assert_eq!(life.edited(Some(3), Ok(parsed(1, 1, "busybox")), false), OnEdit::Start { stop_setup: false });
        assert_eq!(life.stage(), Stage::SettingUp);
    }

    #[test]
    fn a_status_write_is_no_edit() {
        let mut life = started(4);
        assert_eq!(life.edited(Some(1), Ok(parsed(9, 2, "busybox")), false), OnEdit::Nothing);
    }

    #[test]
    fn an_edit_during_setup_starts_it_again_unless_its_manager_is_made() {
        let mut life = started(4);
        assert_eq!(life.edited(Some(2), Ok(parsed(4, 2, "other")), false), OnEdit::Start { stop_setup: true });
        // Committed: the Manager takes the change once it is there, the latest of two edits
        // with the rule changes of either.
        let OnEdit::Reconfigure { now: None, unapplied: None } = life.edited(Some(3), Ok(parsed(5, 2, "other")), true)
        else {
            panic!("a change for the Manager to come")
        };
        life.edited(Some(4), Ok(parsed(6, 2, "other")), true);
        let pending = life.run_started().expect("the change, for the new Manager");
        assert_eq!(pending.workflow.completed, 6);
        assert_eq!(life.stage(), Stage::Running);
    }

    #[test]
    fn a_running_workflow_takes_what_it_can_and_says_what_it_cannot() {
        let mut life = started(4);
        life.run_started();
        let OnEdit::Reconfigure { now: Some(change), unapplied } =
            life.edited(Some(2), Ok(parsed(8, 2, "other")), true)
        else {
            panic!("a change for the running Manager")
        };
        assert_eq!(change.workflow.completed, 8);
        assert!(!change.rules_changed);
        let unapplied = unapplied.expect("the image change is not applicable");
        assert_eq!(unapplied.reason, "ChangeNotApplicable");
        assert!(unapplied.message.contains("spec.jobs"), "{}", unapplied.message);
        // Only an unapplicable change: nothing for the Manager.
        assert!(matches!(
            life.edited(Some(3), Ok(parsed(8, 2, "third")), true),
            OnEdit::Reconfigure { now: None, unapplied: Some(_) }
        ));
        // An invalid edit: the run goes on, the edit is refused.
        let OnEdit::NotApplied(refused) = life.edited(Some(4), Err(vec!["bad".into()]), true) else {
            panic!("an invalid edit is not applied")
        };
        assert_eq!(refused.reason, "InvalidSpec");
    }

    #[test]
    fn an_ended_workflow_takes_no_edit() {
        let mut life = started(4);
        life.run_started();
        assert_eq!(life.run_ended(RunEnd::Finished), AfterRun::Over);
        let OnEdit::NotApplied(refused) = life.edited(Some(2), Ok(parsed(8, 2, "busybox")), true) else {
            panic!("not applied")
        };
        assert_eq!(refused.reason, "WorkflowEnded");
    }

    #[test]
    fn an_interrupted_run_is_retried_with_a_growing_wait_and_never_ended() {
        let mut life = started(4);
        let waits: Vec<u64> = (0..8)
            .map(|_| {
                let retry = retried(&mut life);
                assert!(life.retry(retry.token, parsed(4, 2, "busybox").1), "the retry is due");
                retry.after.as_secs()
            })
            .collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 80, 160, 300, 300]);
        // Once it runs, the count starts afresh.
        life.run_started();
        assert_eq!(retried(&mut life).after.as_secs(), 5);
    }

    #[test]
    fn an_edit_supersedes_a_scheduled_retry_and_retries_at_once() {
        let mut life = started(4);
        let retry = retried(&mut life);
        let again = retried(&mut life);
        assert!(!life.retry(retry.token, parsed(4, 2, "busybox").1), "superseded by the later refusal");
        assert_eq!(life.refusals(), 2);
        assert_eq!(life.edited(Some(2), Ok(parsed(4, 2, "other")), false), OnEdit::Start { stop_setup: false });
        assert!(!life.retry(again.token, parsed(4, 2, "busybox").1), "superseded by the edit");
        assert_eq!(life.refusals(), 0);
    }

    #[test]
    fn a_stop_of_a_running_workflow_is_its_managers_and_the_stopped_run_is_over_for_good() {
        let mut life = started(4);
        life.run_started();
        let OnEdit::Reconfigure { now: Some(change), unapplied: None } =
            life.edited(Some(2), Ok(stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Stop)), true)
        else {
            panic!("the stop is for the running Manager")
        };
        assert_eq!(change.workflow.shutdown, Some(ShutdownStrategy::Stop));
        // Escalated to Terminate: the Manager takes that too.
        let OnEdit::Reconfigure { now: Some(change), .. } =
            life.edited(Some(3), Ok(stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Terminate)), true)
        else {
            panic!("the escalation is for the running Manager")
        };
        assert_eq!(change.workflow.shutdown, Some(ShutdownStrategy::Terminate));
        // The Manager ends the run (Stopped is a finished run): not retried, and removing
        // `shutdown` afterwards runs nothing again.
        assert_eq!(life.run_ended(RunEnd::Finished), AfterRun::Over);
        assert_eq!(life.stage(), Stage::Ended);
        let OnEdit::NotApplied(refused) = life.edited(Some(4), Ok(parsed(4, 2, "busybox")), true) else {
            panic!("not applied after the end")
        };
        assert_eq!(refused.reason, "WorkflowEnded");
    }

    #[test]
    fn removing_a_stop_before_the_end_carries_on() {
        let mut life = started(4);
        life.run_started();
        life.edited(Some(2), Ok(stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Stop)), true);
        let OnEdit::Reconfigure { now: Some(change), .. } = life.edited(Some(3), Ok(parsed(4, 2, "busybox")), true)
        else {
            panic!("the withdrawal is for the running Manager")
        };
        assert_eq!(change.workflow.shutdown, None);
        // Interrupted afterwards, it is tried again as any run.
        assert_eq!(retried(&mut life).after.as_secs(), 5);
    }

    #[test]
    fn a_waiting_run_that_is_stopped_ends_at_once_and_is_not_tried_again() {
        let mut life = started(4);
        let retry = retried(&mut life);
        assert_eq!(
            life.edited(Some(2), Ok(stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Stop)), false),
            OnEdit::Stopped(ShutdownStrategy::Stop)
        );
        assert_eq!(life.stage(), Stage::Ended);
        assert!(!life.retry(retry.token, parsed(4, 2, "busybox").1), "the scheduled retry is dropped");
        let OnEdit::NotApplied(refused) = life.edited(Some(3), Ok(parsed(4, 2, "busybox")), false) else {
            panic!("not applied after the end")
        };
        assert_eq!(refused.reason, "WorkflowEnded");
    }

    #[test]
    fn a_run_interrupted_while_it_is_being_stopped_is_not_tried_again() {
        // Stopped while its Manager runs, which then stops without finishing.
        let mut life = started(4);
        life.run_started();
        life.edited(Some(2), Ok(stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Terminate)), true);
        assert_eq!(life.run_ended(RunEnd::Interrupted), AfterRun::Stopped(ShutdownStrategy::Terminate));
        assert_eq!(life.stage(), Stage::Ended);
        // Stopped while being set up (an edit restarts the setup with the stop), then refused.
        let mut life = started(4);
        let edit = life.edited(Some(2), Ok(stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Stop)), false);
        assert_eq!(edit, OnEdit::Start { stop_setup: true });
        assert_eq!(life.run_ended(RunEnd::Interrupted), AfterRun::Stopped(ShutdownStrategy::Stop));
        // Created stopped and refused (or its setup committed and the stop pending): the same.
        let (_, spec) = stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Stop);
        let (mut life, first) = Lifecycle::first_seen(Some(1), Ok(&spec), &StateMachineStatus::default());
        assert_eq!(first, OnFirstSeen::Start, "its Manager ends it from its Jobs");
        assert_eq!(life.run_ended(RunEnd::Interrupted), AfterRun::Stopped(ShutdownStrategy::Stop));
        let mut life = started(4);
        life.edited(Some(2), Ok(stopped(parsed(4, 2, "busybox"), ShutdownStrategy::Stop)), true);
        assert_eq!(life.run_ended(RunEnd::Interrupted), AfterRun::Stopped(ShutdownStrategy::Stop));
    }
}
