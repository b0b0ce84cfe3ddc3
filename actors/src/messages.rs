//! Every message between actors: one documented struct each.
//!
//! | message | from → to | purpose |
//! |---|---|---|
//! | [`JobObserved`] | (local) executor → JobWatcher → Manager → StateMachine | a step job's phase as seen outside |
//! | [`StepFinished`] | StateMachine → Manager (awaits [`StepDecision`]) | a step job ended: record its metrics, say what the sequence does next |
//! | [`SequenceProgress`] | StateMachine → Manager | what the sequence did with it: step outcome, sequence outcome |
//! | [`SequenceStopped`] | StateMachine → Manager | the actor stopped without finishing (supervision) |
//! | [`Shutdown`] | anyone → Manager | stop the run (Ctrl-C, a fatal error) |
//! | [`Progress`] | Manager → progress display | counters after every change |
//! | [`Stop`] | Manager → StateMachine, JobWatcher | stop now, the workflow is over |
//! | [`Forget`] | Manager → JobWatcher | a sequence ended: drop what is remembered about it |
//! | [`Release`] | Manager → StateMachine | the workflow is resumed (or its stop withdrawn): submit the job held meanwhile |
//! | [`Suspend`] | `smo run`'s signals → Manager | suspend or resume the run |
//! | [`EnsureStore`] | `smo run` → Registry | the artifact store, ready to use |
//! | [`StatusSnapshot`] | Manager → StatusReporter | what the run's ledger knows, at most about once a second and at the end |
//! | [`StepEnded`] | Manager → StatusReporter | a step job ended (metrics: outcomes, durations) |
//! | [`TransitionTimed`] | StateMachine → StatusReporter | a job's end seen → the next step's job submitted, how long it took |
//! | [`WorkflowEvent`] | Manager → StatusReporter | something a person should see in `kubectl describe`: a sequence failed, a rule fired, the workflow ended |
//! | [`Reconfigure`] | operator → Manager | the resource's spec changed: new completions, budget, failure cap, rules, `suspend` or `shutdown` |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use smo_core::fsm::{JobPhase, SequenceOutcome};
use smo_core::jobs::script::ArtifactStore;
use smo_core::ledger::{Counts, Next};
use smo_core::names::JobId;
use smo_core::status::Snapshot;
use smo_core::workflow::Workflow;

/// A step job's phase as an executor saw it (a process exited, a Job's status changed).
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct JobObserved {
    /// The sequence.
    pub jobid: JobId,
    /// Index of the step.
    pub step: usize,
    /// Attempt of the step (1, then +1 per repeat).
    pub attempt: u32,
    /// The phase seen.
    pub phase: JobPhase,
    /// How long the job ran, once it ended.
    pub duration: Option<Duration>,
    /// The job's log, once it ended (a local job's custom metrics are parsed from it).
    pub log: Option<JobLog>,
    /// The custom metrics the job computed itself, once it ended (a Kubernetes step's Pod
    /// reports them: `smo_core::step_metrics`).
    pub metrics: Option<Vec<(String, f64)>>,
    /// Why the job's Pod cannot start, while it is `Pending` (the scheduler's or the kubelet's
    /// own words: unschedulable, an image that cannot be pulled, …).
    pub waiting: Option<String>,
}

/// Where an ended job's log is, and its form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLog {
    /// The file.
    pub path: PathBuf,
    /// Each line starts with an RFC 3339 timestamp and a space, as Kubernetes gives a log read
    /// with `timestamps=true` — the form the original handed to `parse_log` and kept at
    /// `save-path`. `events.metrics` patterns see the lines without it.
    pub timestamped: bool,
}

/// A step job of a sequence ended. The StateMachine waits for the answer before it moves on,
/// so `repeat` rules see this job's metrics and can still keep the sequence on its step.
#[derive(Message, Clone, Debug)]
#[rtype(result = "StepDecision")]
pub struct StepFinished {
    /// The sequence.
    pub jobid: JobId,
    /// Index of the step.
    pub step: usize,
    /// Attempt of the step.
    pub attempt: u32,
    /// `Succeeded` or `Failed`.
    pub phase: JobPhase,
    /// How long the job ran.
    pub duration: Option<Duration>,
    /// Custom metrics parsed from the job's log.
    pub metrics: Vec<(String, f64)>,
}

/// The Manager's answer to [`StepFinished`]: what the sequence does next, and the node count of
/// every step as of now (grow and shrink rules change them; the sequence submits with these).
/// A sequence that gets no answer (the Manager is gone) stops.
#[derive(MessageResponse, Clone, Debug, PartialEq, Eq)]
pub struct StepDecision {
    /// Carry on (maybe repeating the step), conclude, or stop.
    pub next: Next,
    /// Current nodes of every step, in step order.
    pub nodes: Arc<[u32]>,
}

/// A sequence applied a job's end (or a failed submission): it carries on (`finished` is
/// None) or has ended.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct SequenceProgress {
    /// The sequence.
    pub jobid: JobId,
    /// How the sequence ended, if it did.
    pub finished: Option<SequenceOutcome>,
}

/// A StateMachine actor stopped without reporting how its sequence ended.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct SequenceStopped {
    /// The sequence.
    pub jobid: JobId,
    /// Why, as far as the actor knows.
    pub reason: String,
}

/// Stop the run: running jobs are stopped, what is known is written, the run ends with `reason`.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Shutdown {
    /// Why (shown to the user).
    pub reason: String,
    /// Process exit code for the run (e.g. 130 after Ctrl-C).
    pub exit_code: i32,
}

/// The workflow is resumed (or its stop withdrawn): a StateMachine submits the job it held
/// meanwhile.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Release;

/// Suspend (`true`) or resume (`false`) a run, as `spec.suspend` does (`smo run`'s SIGUSR1 and
/// SIGUSR2).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Suspend(pub bool);

/// Stop a StateMachine or the JobWatcher now (the workflow is over); it reports nothing more.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Stop;

/// Counters of a run, sent to the progress display after every change.
#[derive(Message, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Progress(pub Counts);

/// A sequence has ended: whatever is remembered about it can go (keeps memory proportional to
/// the running sequences, not to every sequence ever run).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Forget {
    /// The sequence.
    pub jobid: JobId,
}

/// Ask the Registry for the run's artifact store, ready to use.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "crate::Result<ArtifactStore>")]
pub struct EnsureStore;

/// What a run's ledger knows now, for the resource's status. The Manager sends it at most once
/// per [`STATUS_INTERVAL`](crate::manager::STATUS_INTERVAL) while things change, and once more
/// when the run ends.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct StatusSnapshot(pub Snapshot);

/// A step job ended and was counted.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct StepEnded {
    /// The step's name.
    pub step: String,
    /// It succeeded (else failed).
    pub succeeded: bool,
    /// How long it ran, if known.
    pub duration: Option<Duration>,
}

/// How long a sequence took from seeing a job end to having the next step's job submitted
/// (the executor's call returned): log reading, rule evaluation and the create request.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub struct TransitionTimed {
    /// The step whose job was submitted.
    pub step: String,
    /// From the end seen to the submission done.
    pub latency: Duration,
}

/// Something a person watching the workflow should see (a Kubernetes Event): never one per
/// successful job, which would flood the namespace.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct WorkflowEvent {
    /// A warning (`Warning`) rather than information (`Normal`).
    pub warning: bool,
    /// `PascalCase` reason: `SequenceFailed`, `RuleFired`, `Succeeded`, `Failed`.
    pub reason: &'static str,
    /// One line saying what happened.
    pub note: String,
}

/// The resource's spec changed: the running workflow takes the new wanted completions, node
/// budget, failure cap, suspension and shutdown from `workflow`, and its rules when
/// `rules_changed`.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Reconfigure {
    /// The workflow of the new spec (its steps are those the run already has).
    pub workflow: Arc<Workflow>,
    /// The rules changed (their state starts afresh).
    pub rules_changed: bool,
}
