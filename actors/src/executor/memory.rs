//! An executor that runs nothing: every job ends at once with the phase a function picks.
//!
//! It drives the real Manager and StateMachine actors through whole workflows in microseconds,
//! for actor tests and the throughput benchmark.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::Recipient;
use futures::future::LocalBoxFuture;

use super::{Executor, ExistingJob, StepJob};
use crate::messages::JobObserved;
use smo_core::fsm::JobPhase;
use smo_core::names::JobId;

/// Decides how a job ends: `Ok(())` succeeds it, `Err(reason)` fails it, `None` rejects the
/// submission itself (as a broken API server would).
pub type Outcome = dyn Fn(&StepJob) -> Option<Result<(), String>>;

/// Finishes every submitted job immediately.
pub struct MemoryExecutor {
    events: Recipient<JobObserved>,
    outcome: Rc<Outcome>,
    submitted: AtomicU64,
    /// What [`Executor::existing`] reports (jobs "left by an earlier run").
    existing: Vec<ExistingJob>,
}

impl MemoryExecutor {
    /// An executor whose jobs all succeed.
    pub fn succeeding(events: Recipient<JobObserved>) -> MemoryExecutor {
        MemoryExecutor::new(events, Rc::new(|_: &StepJob| Some(Ok(()))))
    }

    /// An executor whose jobs end as `outcome` says.
    pub fn new(events: Recipient<JobObserved>, outcome: Rc<Outcome>) -> MemoryExecutor {
        MemoryExecutor { events, outcome, submitted: AtomicU64::new(0), existing: Vec::new() }
    }

    /// The same executor, reporting `jobs` as left by an earlier run (to test restores).
    pub fn with_existing(self, jobs: Vec<ExistingJob>) -> MemoryExecutor {
        MemoryExecutor { existing: jobs, ..self }
    }

    /// Jobs submitted so far.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Relaxed)
    }
}

impl Executor for MemoryExecutor {
    fn submit(&self, job: StepJob) -> LocalBoxFuture<'static, crate::Result<()>> {
        let decided = (self.outcome)(&job);
        let Some(result) = decided else {
            let message = format!("submission of step {} of {} rejected", job.step, job.jobid);
            return Box::pin(async move { Err(crate::Error::Refused(message)) });
        };
        self.submitted.fetch_add(1, Ordering::Relaxed);
        let phase = match result {
            Ok(()) => JobPhase::Succeeded,
            Err(reason) => JobPhase::Failed { reason },
        };
        self.events.do_send(JobObserved {
            jobid: job.jobid,
            step: job.step,
            attempt: job.attempt,
            phase,
            duration: Some(Duration::ZERO),
            log: None,
            metrics: None,
            waiting: None,
        });
        Box::pin(async { Ok(()) })
    }

    fn remove(&self, _: &JobId, _: usize, _: u32) -> LocalBoxFuture<'static, crate::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn cleanup(&self, _: &JobId) -> LocalBoxFuture<'static, crate::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn existing(&self) -> LocalBoxFuture<'static, crate::Result<Vec<ExistingJob>>> {
        let jobs = self.existing.clone();
        Box::pin(async move { Ok(jobs) })
    }

    fn shutdown(&self) -> LocalBoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
