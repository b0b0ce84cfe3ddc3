//! The pure core of `smo`, the state-machine operator.
//!
//! A *workflow* is an ordered list of job steps (A → B → C). `smo` runs many *job sequences*
//! concurrently, each a small state machine that submits one job per step, hands artifacts from
//! step to step, and completes after the last step. This crate decides everything about that
//! and does nothing: no I/O, no actix, no tokio, no kube client, no files, no processes. Its
//! dependency list is the boundary (the compiler refuses anything else) and `tests/purity.rs`
//! refuses std's file, process and network APIs. The actors of `smo-actors` carry out what it
//! decides.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | [`api`] | the `StateMachine` CRD: spec (every field of the original) and status |
//! | [`workflow`] | the typed [`Workflow`](workflow::Workflow) from either input form, parsed from text |
//! | [`validate`] | problems with file + field path; the schema-driven structural check |
//! | [`limits`] | what one workflow may ask of the operator: the CRD's ceilings and the operator's `--limit`s |
//! | [`defaults`] | every default of the original, with the layer it mirrors |
//! | [`names`] | job ids (a never-repeating source), object names and their syntax rules |
//! | [`labels`] | the labels every object of a workflow carries |
//! | [`pod_security`] | how step Pods are confined; a Pod checked against the Pod Security Standards |
//! | [`preflight`] | checks of a workflow's step images before its run (`python3` for `events.script`) |
//! | [`fit`] | whether each step's Pod fits on some node (its requests against the nodes' allocatable); Kubernetes quantities read exactly |
//! | [`registry`] | the ephemeral registry of a `StateMachine` without `registry.host`: StatefulSet and Service |
//! | [`walltime`] | `walltime` syntax (`HH:MM:SS`, seconds) |
//! | [`template`] | step scripts as Jinja templates (bash's `${#` kept as bash) |
//! | [`fsm`] | one sequence's state machine: observed job phases in, effects out |
//! | [`slots`] | how many sequences may start; when the run is over |
//! | [`rules`] | metric rules: `<model>.<step>.<key>`, conditions, actions |
//! | [`rulebook`] | evaluates the rules against the statistics |
//! | [`stats`] | streaming statistics per step and key, bounded memory |
//! | [`lifecycle`] | one `StateMachine` resource's run over its life: start, edits, retries with backoff, end (the operator's Controller carries it out) |
//! | [`status`] | a `StateMachine`'s status and conditions from the run's ledger; what a spec change does to a running workflow |
//! | [`ledger`] | the run's bookkeeping: counters, statistics, firings, verdict, report |
//! | [`log_metrics`] | custom metrics from a job's log, line by line |
//! | [`step_metrics`] | custom metrics computed in a step's own Pod: its config, its report (the termination message) |
//! | [`timeline`] | where the operator keeps a workflow's timeline: ConfigMap chunks of journal lines, bounded |
//! | [`times`] | `workflow-times.json`, the original's record of when things happened |
//! | [`jobs`] | the step script, its files (pod annotations or a ConfigMap), and the Job / JobSet / MiniCluster builders |
//! | [`classify`] | a Kubernetes Job's status → the phase the state machine reads |
//! | [`job_index`] | what a watch of the workflow's Jobs told so far; what each event means (repeats, ends, vanished Jobs) |
//! | [`error`] | the core's error enum |

#![warn(missing_docs)]

pub mod api;
pub mod classify;
pub mod defaults;
pub mod error;
pub mod fit;
pub mod fsm;
pub mod job_index;
pub mod jobs;
pub mod labels;
pub mod ledger;
pub mod lifecycle;
pub mod limits;
pub mod log_metrics;
pub mod names;
pub mod pod_security;
pub mod preflight;
pub mod registry;
pub mod rulebook;
pub mod rules;
pub mod slots;
pub mod stats;
pub mod status;
pub mod step_metrics;
pub mod template;
pub mod timeline;
pub mod times;
pub mod validate;
pub mod walltime;
pub mod workflow;

pub use error::{Error, Result};
