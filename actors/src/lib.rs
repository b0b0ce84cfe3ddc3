//! The engine of `smo`, the state-machine operator.
//!
//! A *workflow* is an ordered list of job steps (A → B → C). `smo` runs many *job sequences*
//! concurrently, each a small state machine that submits one job per step, hands artifacts from
//! step to step through an OCI registry, and completes after the last step. A Manager keeps as
//! many sequences running as the node budget allows, replaces failed ones (up to a cap), and
//! reacts to metric rules (grow, shrink, repeat, finish).
//!
//! # Layout
//!
//! The crate has a pure core — no I/O, no actix, no kube client — and actors at the edge.
//!
//! ```text
//! pure core                                     actors (edge)
//! ---------                                     -------------
//! api        StateMachine CRD + status          Manager        one per workflow: slots, rules,
//! workflow   typed Workflow from a manifest                    completion, supervision
//!            or the original's files            StateMachine   one per sequence: owns an fsm::Sequence,
//! validate   problems with file + field path                   runs its effects on an executor
//! fsm        per-sequence state machine         JobWatcher     executor events -> JobObserved
//! slots      how many sequences may start       Registry       artifact store, readiness
//! rules      metric rules; rulebook evaluates
//! stats      streaming statistics
//! jobs       ConfigMap / Job / JobSet /
//!            MiniCluster builders, step script
//! classify   Kubernetes Job -> observed phase
//! ```
//!
//! Everything in the core is deterministic and unit-tested; actors only move typed messages
//! between the core and the outside world.

#![warn(missing_docs)]

pub mod api;
pub mod artifact;
pub mod classify;
pub mod defaults;
pub mod error;
pub mod executor;
pub mod fsm;
pub mod job_watcher;
pub mod jobs;
pub mod labels;
pub mod manager;
pub mod messages;
pub mod metrics;
pub mod names;
pub mod registry;
pub mod report;
pub mod rulebook;
pub mod rules;
pub mod slots;
pub mod state_machine;
pub mod stats;
pub mod times;
pub mod validate;
pub mod walltime;
pub mod workflow;

pub use error::{Error, Result};

#[cfg(test)]
mod actor_tests;
