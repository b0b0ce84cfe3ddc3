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
//!                 ┌──────────── Registry (EnsureStore → the artifact store, ready) ────────────┐
//!                 │                                                                             │
//!  executor ──JobObserved──▶ JobWatcher ──JobObserved──▶ Manager ──JobObserved──▶ StateMachine ─┘
//!  (local, memory,           drops repeats               ▲  │  ◀──StepFinished── (awaits StepDecision)
//!   kubernetes)              ◀──Forget──                 │  │  ◀──SequenceProgress / SequenceStopped
//!     ▲                                                  │  └──Progress──▶ progress display
//!     └──────────── submit / remove / cleanup / existing ┴── StateMachine, Manager (restore)
//! ```
//!
//! In `smo operator` the same Manager runs once per `StateMachine` resource, and reports to a
//! StatusReporter instead of a progress display:
//!
//! ```text
//!  watch(StateMachines) ──▶ Controller ──Reconfigure / Shutdown──▶ Manager (one per resource)
//!                              │                                    │ ──StatusSnapshot (≤ 1/s), WorkflowEvent, StepEnded──▶ StatusReporter
//!                              └──SpecSeen / Detach──▶ StatusReporter ◀──TransitionTimed── StateMachine
//!                                                      (status, Events, metrics)
//! ```
//!
//! | message | from → to | purpose |
//! |---|---|---|
//! | [`JobObserved`](messages::JobObserved) | executor → JobWatcher → Manager → StateMachine | a step job's phase as seen outside |
//! | [`StepFinished`](messages::StepFinished) | StateMachine → Manager, answered by [`StepDecision`](messages::StepDecision) | a job ended: record it, evaluate rules, say what the sequence does next (with the step sizes) |
//! | [`SequenceProgress`](messages::SequenceProgress) | StateMachine → Manager | what the sequence did: step outcome, sequence outcome |
//! | [`SequenceStopped`](messages::SequenceStopped) | StateMachine → Manager | the actor stopped without finishing (supervision) |
//! | [`Shutdown`](messages::Shutdown) | anyone → Manager | stop the run (Ctrl-C, a fatal error) |
//! | [`Progress`](messages::Progress) | Manager → progress display | counters after every change |
//! | [`Stop`](messages::Stop) | Manager → StateMachine | stop now, the workflow is over |
//! | [`Forget`](messages::Forget) | Manager → JobWatcher | a sequence ended: drop what is remembered about it |
//! | [`EnsureStore`](messages::EnsureStore) | `smo run` → Registry | the artifact store, ready to use |
//! | [`StatusSnapshot`](messages::StatusSnapshot) | Manager → StatusReporter | what the ledger knows, at most about once a second and at the end |
//! | [`WorkflowEvent`](messages::WorkflowEvent) | Manager → StatusReporter | a sequence failed, a rule fired, the workflow ended (Kubernetes Events) |
//! | [`StepEnded`](messages::StepEnded) | Manager → StatusReporter | a step job ended, with its duration (metrics) |
//! | [`TransitionTimed`](messages::TransitionTimed) | StateMachine → StatusReporter | a job's end seen → the next job submitted (metrics) |
//! | [`Reconfigure`](messages::Reconfigure) | Controller → Manager | the resource's spec changed: completions, budget, failure cap, rules |
//! | `SpecSeen`, `Detach` ([`operator`]) | Controller → StatusReporter | the spec the workflow runs (or its problems); the resource is gone |
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | [`manager`] | the Manager actor: one per workflow run, a thin shell around the core's [`Ledger`](smo_core::ledger::Ledger); restores a run from the executor's jobs |
//! | [`state_machine`] | the StateMachine actor: one per sequence, owns a [`Sequence`](smo_core::fsm::Sequence) |
//! | [`job_watcher`] | the JobWatcher actor: drops repeated and stale job events |
//! | [`registry`] | the Registry actor: the run's artifact store, created or probed until it answers; a StateMachine's ephemeral registry, private to it ([`registry::kubernetes`]) |
//! | [`messages`] | every message between actors |
//! | [`operator`] | `smo operator`: the Controller (one Manager and one StatusReporter per `StateMachine`), status, Events, [`operator::metrics`] |
//! | [`executor`] | the executor contract; [`executor::local`] (bash processes), [`executor::kubernetes`] (a Job / JobSet / MiniCluster per step, a label-selected watch; paced and counted requests, a fair share per workflow; vanished Jobs and step Pods that cannot start reported; before a run, every step's Pod fits some node and the step image checks), [`executor::memory`] (tests, benchmark) |
//! | [`artifact`] | ORAS-compatible artifact push/pull: OCI registry or OCI image layout directory |
//! | [`source`] | reads workflow files and the job files they name (the one place the core's input is read) |
//! | [`log_reader`] | custom metrics from a local job's log file, and the original's `parse_log` scripts (also run by `smo step-metrics` in a step's Pod) |
//! | [`journal`] | the run's timestamps, streamed to the run directory as they happen |
//! | [`error`] | this crate's error enum |

#![warn(missing_docs)]

pub mod artifact;
pub mod error;
pub mod executor;
pub mod job_watcher;
pub mod journal;
pub mod log_reader;
pub mod manager;
pub mod messages;
pub mod operator;
pub mod registry;
pub mod source;
pub mod state_machine;

pub use error::{Error, Result};
