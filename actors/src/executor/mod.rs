//! Executors run step jobs. One trait, chosen when a run starts:
//!
//! * [`local::LocalExecutor`] runs each step's script with bash on this machine;
//! * [`memory::MemoryExecutor`] finishes jobs at once without running anything (tests and
//!   benchmarks of the engine itself);
//! * [`kubernetes::KubernetesExecutor`] creates a Job (or JobSet / MiniCluster) per step job and
//!   watches the workflow's Jobs.
//!
//! A restarted run rebuilds its state from what the executor still has ([`Executor::existing`]):
//! the Manager restores every sequence from its jobs instead of starting over.
//!
//! What happens to the jobs reaches the Manager through the run's JobWatcher only: a local or
//! in-memory executor reports its jobs' ends to it as [`JobObserved`] messages; a cluster's Jobs
//! are watched by the JobWatcher itself, the Kubernetes executor only submits and deletes.
//! [`RunsOn::wire`] makes the pair for a run.

use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor as _, Recipient};
use futures::future::LocalBoxFuture;

use smo_core::fsm::JobPhase;
use smo_core::names::JobId;
use smo_core::workflow::Workflow;

pub mod kubernetes;
pub mod local;
pub mod memory;

use crate::job_watcher::{JobWatcher, WatcherLink};
use crate::messages::JobObserved;

/// Where a run's jobs run, and so how they are watched.
pub enum RunsOn {
    /// Processes on this machine ([`local::LocalExecutor`]), which report their own ends.
    Local(local::LocalConfig),
    /// A cluster ([`kubernetes::KubernetesExecutor`]), watched by the JobWatcher.
    Kubernetes(Box<kubernetes::KubernetesConfig>),
}

impl RunsOn {
    /// The executor and the JobWatcher of a run of `workflow` whose Manager is `manager` —
    /// made here, in one place, for `smo run` and `smo operator` alike (call inside the
    /// Manager's `create`).
    pub fn wire(self, workflow: &Arc<Workflow>, manager: Recipient<JobObserved>) -> (Rc<dyn Executor>, WatcherLink) {
        match self {
            RunsOn::Local(config) => {
                let watcher = JobWatcher::new(manager).start();
                let executor = local::LocalExecutor::new(config, workflow.clone(), watcher.clone().recipient());
                (Rc::new(executor), watcher.into())
            }
            RunsOn::Kubernetes(config) => {
                let watcher = JobWatcher::watching(manager, &config, workflow.clone()).start();
                let executor = kubernetes::KubernetesExecutor::new(Arc::new(*config), workflow.clone());
                (Rc::new(executor), watcher.into())
            }
        }
    }
}

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

/// A job an executor has (or had) for the run, as found after a restart.
#[derive(Clone, Debug, PartialEq)]
pub struct ExistingJob {
    /// The sequence.
    pub jobid: JobId,
    /// Index of the step.
    pub step: usize,
    /// Attempt of the step.
    pub attempt: u32,
    /// Its phase now.
    pub phase: JobPhase,
    /// When it started running, seconds since the epoch, if known (the restored run's timeline
    /// gets it even if the earlier `smo` died before writing it down).
    pub started_at: Option<f64>,
    /// When it ended, if it did and that is known.
    pub ended_at: Option<f64>,
}

/// Runs step jobs and reports their phases as [`JobObserved`].
pub trait Executor {
    /// Whether the custom metrics of a job reported without them are computed in this process
    /// from the job's log (`events.metrics` patterns, `parse_log` with `python3`). Only where the
    /// job itself ran on this machine (the local executor); anywhere else a job computes its own
    /// metrics where it ran, and no user code runs in smo's process, whatever an observation
    /// carries.
    fn metrics_from_logs(&self) -> bool {
        false
    }

    /// Starts a job. Returns once the job is accepted (queued or running), not when it ends.
    /// Submitting a job that already exists is not an error (restores re-submit).
    fn submit(&self, job: StepJob) -> LocalBoxFuture<'static, crate::Result<()>>;

    /// Removes one job (before a repeat submits its next attempt); stops it if it runs.
    fn remove(&self, jobid: &JobId, step: usize, attempt: u32) -> LocalBoxFuture<'static, crate::Result<()>>;

    /// Removes everything of a failed sequence: its running jobs and their objects.
    fn cleanup(&self, jobid: &JobId) -> LocalBoxFuture<'static, crate::Result<()>>;

    /// Every job of this run the executor still has, with its phase — what a restarted run is
    /// rebuilt from. A job that was cut off (its process died with an earlier `smo`) is not
    /// listed: its sequence runs that step again.
    fn existing(&self) -> LocalBoxFuture<'static, crate::Result<Vec<ExistingJob>>>;

    /// Stops every running job (the run is over or interrupted).
    fn shutdown(&self) -> LocalBoxFuture<'static, ()>;
}
