//! The JobWatcher actor: what executors see becomes [`JobObserved`] for the Manager.
//!
//! Executors report every phase they notice; a watch can deliver the same terminal state more
//! than once (a re-list after a dropped connection, a status update after completion). The
//! watcher forwards each job's first terminal phase only, so nothing downstream counts twice.
//! The Kubernetes executor's watch streams feed the same actor with the same messages.

use std::collections::HashSet;

use actix::prelude::*;

use crate::messages::JobObserved;
use crate::names::JobId;

/// Deduplicates and forwards job observations.
pub struct JobWatcher {
    manager: Recipient<JobObserved>,
    ended: HashSet<(JobId, usize, u32)>,
    duplicates: u64,
}

impl JobWatcher {
    /// A watcher forwarding to `manager`.
    pub fn new(manager: Recipient<JobObserved>) -> JobWatcher {
        JobWatcher { manager, ended: HashSet::new(), duplicates: 0 }
    }

    /// Terminal observations dropped as repeats so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

impl Actor for JobWatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(usize::MAX);
    }
}

impl Handler<JobObserved> for JobWatcher {
    type Result = ();

    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) {
        if msg.phase.is_terminal() && !self.ended.insert((msg.jobid.clone(), msg.step, msg.attempt)) {
            self.duplicates += 1;
            tracing::debug!(jobid = %msg.jobid, step = msg.step, attempt = msg.attempt, "duplicate terminal event dropped");
            return;
        }
        self.manager.do_send(msg);
    }
}
