//! The edge of `smo`'s engine: actors that carry out what the pure core ([`smo_core`]) decides.
//!
//! The core decides everything and does nothing; this crate does the doing — runs step jobs,
//! moves artifacts, reads workflow files and job logs, writes the run's records — and talks only
//! in typed messages ([`messages`]). Nothing here blocks the actors' thread: file and process
//! work goes through tokio.
//!
//! # Actors and messages
//!
//! ```text
//!                         ┌──────────── Registry (EnsureStore → the artifact store, ready) ───────────────┐
//!                         │                                                                                │
//!  watch(Jobs, failed Pods) ──▶ JobWatcher ──JobObserved──▶ Manager ──JobObserved──▶ StateMachine ────────┘
//!  list(Pending Pods)           one filter: repeats,        ▲  │  ◀──StepFinished── (awaits StepDecision)
//!  executor (local, memory)     stale events                │  │  ◀──SequenceProgress / SequenceStopped
//!    ──JobObserved──▶           ◀──Forget / Stop──          │  └──Progress──▶ progress display
//!  executor ◀──────────── submit / remove / cleanup / existing ┴── StateMachine, Manager (restore)
//! ```
//!
//! Under Kubernetes the JobWatcher owns the watches (actix streams of kube's `watcher`), and
//! what each Job event means is the core's [`JobIndex`](smo_core::job_index::JobIndex) to
//! decide; the executor only submits, lists and deletes. [`RunsOn::wire`](executor::RunsOn::wire)
//! makes an executor and its JobWatcher, for `smo run` and `smo operator` alike.
//!
//! `smo run --ui` gives the Manager a LiveReporter as its reporting recipients: it turns the same
//! reports into the status the operator would write, onto the live page's board.
//!
//! In `smo operator` the same Manager runs once per `StateMachine` resource, and reports to a
//! StatusReporter instead of a progress display:
//!
//! ```text
//!  watch(StateMachines) ──Watched──▶ Controller ──Reconfigure / Shutdown──▶ Manager (one per resource)
//!                              │                                    │ ──StatusSnapshot (≤ 1/s), WorkflowEvent, StepEnded──▶ StatusReporter
//!                              └──SpecSeen / Detach──▶ StatusReporter ◀──TransitionTimed── StateMachine
//!                                                      (status, Events, metrics)
//!                                                             │ the status and Events, as written
//!  Journal (marks) ──────────────────────────────────────▶ live::Board ──▶ the live page (`--ui-addr`)
//! ```
//!
//! | message | from → to | purpose |
//! |---|---|---|
//! | [`JobObserved`](messages::JobObserved) | (local) executor → JobWatcher → Manager → StateMachine | a step job's phase as seen outside |
//! | [`StepFinished`](messages::StepFinished) | StateMachine → Manager, answered by [`StepDecision`](messages::StepDecision) | a job ended: record it, evaluate rules, say what the sequence does next (with the step sizes) |
//! | [`SequenceProgress`](messages::SequenceProgress) | StateMachine → Manager | what the sequence did: step outcome, sequence outcome |
//! | [`SequenceStopped`](messages::SequenceStopped) | StateMachine → Manager | the actor stopped without finishing (supervision) |
//! | [`Shutdown`](messages::Shutdown) | anyone → Manager | stop the run (Ctrl-C, a fatal error) |
//! | [`Suspend`](messages::Suspend) | `smo run`'s signals → Manager | suspend (SIGUSR1) or resume (SIGUSR2) the run; `spec.suspend` arrives as a [`Reconfigure`](messages::Reconfigure) |
//! | [`Release`](messages::Release) | Manager → StateMachine | the workflow is resumed (or its stop withdrawn): submit the job held meanwhile |
//! | [`Progress`](messages::Progress) | Manager → progress display | counters after every change |
//! | [`Stop`](messages::Stop) | Manager → StateMachine, JobWatcher | stop now, the workflow is over (the watches end before the run's remaining jobs are deleted) |
//! | [`Forget`](messages::Forget) | Manager → JobWatcher | a sequence ended: drop what is remembered about it |
//! | [`EnsureStore`](messages::EnsureStore) | `smo run` → Registry | the artifact store, ready to use |
//! | [`StatusSnapshot`](messages::StatusSnapshot) | Manager → StatusReporter | what the ledger knows, at most about once a second and at the end |
//! | [`WorkflowEvent`](messages::WorkflowEvent) | Manager → StatusReporter | a sequence failed, a rule fired, the workflow ended (Kubernetes Events) |
//! | [`StepEnded`](messages::StepEnded) | Manager → StatusReporter | a step job ended, with its duration (metrics) |
//! | [`TransitionTimed`](messages::TransitionTimed) | StateMachine → StatusReporter | a job's end seen → the next job submitted (metrics) |
//! | [`Reconfigure`](messages::Reconfigure) | Controller → Manager | the resource's spec changed: completions, budget, failure cap, rules, `suspend`, `shutdown` (`smo stop`: the run holds its sequences' next jobs and ends stopped) |
//! | `SpecSeen`, `Detach` ([`operator`]) | Controller → StatusReporter | the spec the workflow runs (or its problems); the resource is gone |
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | [`manager`] | the Manager actor: one per workflow run, a thin shell around the core's [`Ledger`](smo_core::ledger::Ledger); restores a run from the executor's jobs |
//! | [`state_machine`] | the StateMachine actor: one per sequence, owns a [`Sequence`](smo_core::fsm::Sequence) |
//! | [`job_watcher`] | the JobWatcher actor: every observation through one filter (repeats, stale events); [`job_watcher::kubernetes`]: the workflow's Job and failed-Pod watches as its streams, the Pods that cannot start, failed Jobs diagnosed |
//! | [`registry`] | the Registry actor: the run's artifact store, created or probed until it answers; a StateMachine's ephemeral registry, private to it ([`registry::kubernetes`]) |
//! | [`messages`] | every message between actors |
//! | [`operator`] | `smo operator`: the Controller (one Manager and one StatusReporter per `StateMachine`), status, Events, [`operator::metrics`] |
//! | [`executor`] | the executor contract and [`RunsOn::wire`](executor::RunsOn::wire); [`executor::local`] (bash processes), [`executor::kubernetes`] (a Job / JobSet / MiniCluster per step, submitted and deleted; paced and counted requests, a fair share per workflow; the helpers the JobWatcher uses: infrastructure failures, Pods that cannot start, logs; before a run, every step's Pod fits some node and the step image checks), [`executor::memory`] (tests, benchmark) |
//! | [`artifact`] | ORAS-compatible artifact push/pull: OCI registry or OCI image layout directory |
//! | [`inspect`] | what `smo get` / `describe` / `logs` / `timeline` read (StateMachines, their changes, Events, step Pods and their logs, the kept timeline) and `smo suspend` / `resume` / `stop` write, with the user's own credentials |
//! | [`source`] | reads workflow files and the job files they name (the one place the core's input is read) |
//! | [`log_reader`] | custom metrics from a local job's log file, and the original's `parse_log` scripts (also run by `smo step-metrics` in a step's Pod) |
//! | [`journal`] | the run's timestamps, streamed to the run directory as they happen (under the operator, to the workflow's timeline ConfigMaps) |
//! | [`live`] | the live page's [`Board`](live::Board): per run its status, timeline marks, slot samples and latest Events, fed by the journal and the StatusReporter (under `smo run --ui`, a [`LiveReporter`](live::LiveReporter) in its place) |
//! | [`error`] | this crate's error enum |

#![warn(missing_docs)]

pub mod artifact;
pub mod error;
pub mod executor;
pub mod inspect;
pub mod job_watcher;
pub mod journal;
pub mod live;
pub mod log_reader;
pub mod manager;
pub mod messages;
pub mod operator;
pub mod registry;
pub mod source;
pub mod state_machine;

pub use error::{Error, Result};
