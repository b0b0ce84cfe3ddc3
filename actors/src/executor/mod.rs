//! Executors run step jobs. One trait, chosen when a run starts:
//!
//! * [`local::LocalExecutor`] runs each step's script with bash on this machine;
//! * [`memory::MemoryExecutor`] finishes jobs at once without running anything (tests and
//!   benchmarks of the engine itself);
//! * the Kubernetes executor (ConfigMap + Job / JobSet / MiniCluster) comes with `smo operator`.
//!
//! An executor reports what happens to the jobs it runs as [`JobObserved`] messages to the
//! recipient it was built with; it never talks to the Manager or a StateMachine directly.

use std::sync::Arc;

use futures::future::LocalBoxFuture;

use crate::names::JobId;
use crate::workflow::Workflow;

pub mod local;
pub mod memory;

#[allow(unused_imports)]
use crate::messages::JobObserved;

/// One step job to run.
#[derive(Clone, Debug)]
pub struct StepJob {
    /// The workflow (shared by all jobs).
    pub workflow: Arc<Workflow>,
    /// The sequence.
    pub jobid: JobId,
    /// Index of the step.
    pub step: usize,
    /// Attempt of the step (1, then +1 per repeat).
    pub attempt: u32,
    /// Nodes for this job (the step's size after grow/shrink).
    pub nodes: u32,
}

/// Runs step jobs and reports their phases as [`JobObserved`].
pub trait Executor {
    /// Starts a job. Returns once the job is accepted (queued or running), not when it ends.
    /// Submitting a job that already exists is not an error (restores re-submit).
    fn submit(&self, job: StepJob) -> LocalBoxFuture<'static, crate::Result<()>>;

    /// Removes one job (before a repeat submits its next attempt); stops it if it runs.
    fn remove(&self, jobid: &JobId, step: usize, attempt: u32) -> LocalBoxFuture<'static, crate::Result<()>>;

    /// Removes everything of a failed sequence: its running jobs and their objects.
    fn cleanup(&self, jobid: &JobId) -> LocalBoxFuture<'static, crate::Result<()>>;

    /// Stops every running job (the run is over or interrupted).
    fn shutdown(&self) -> LocalBoxFuture<'static, ()>;
}
