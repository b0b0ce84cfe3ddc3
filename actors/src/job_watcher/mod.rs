//! The JobWatcher actor: what executors see becomes [`JobObserved`] for the Manager.
//!
//! Executors report every phase they notice; a watch can deliver the same state more than once
//! (a re-list after a dropped connection, a status update after completion). The watcher
//! forwards each job's first terminal phase only, and nothing of a job after its end (a re-list
//! may replay its `Running`), so nothing downstream counts twice or sees a job run again.
//! A sequence's jobs end in order (step, then attempt), so remembering the last ended
//! `(step, attempt)` per sequence is enough, and the Manager's [`Forget`] drops it when the
//! sequence ends.
//! The Kubernetes executor's watch streams feed the same actor with the same messages.

use std::collections::HashMap;

use actix::prelude::*;

use crate::messages::{Forget, JobObserved};
use smo_core::names::JobId;

/// Mailbox capacity: every sequence may have a question pending at once (the default of 16
/// would make thousands of StateMachines queue behind each other).
pub const MAILBOX: usize = crate::manager::MAILBOX;

/// Deduplicates and forwards job observations.
pub struct JobWatcher {
    manager: Recipient<JobObserved>,
    /// Last ended `(step, attempt)` of every running sequence.
    ended: HashMap<JobId, (usize, u32)>,
    duplicates: u64,
}

impl JobWatcher {
    /// A watcher forwarding to `manager`.
    pub fn new(manager: Recipient<JobObserved>) -> JobWatcher {
        JobWatcher { manager, ended: HashMap::new(), duplicates: 0 }
    }

    /// Observations dropped as repeats or stale so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

impl Actor for JobWatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Handler<JobObserved> for JobWatcher {
    type Result = ();

    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) {
        let position = (msg.step, msg.attempt);
        // Jobs of a sequence end in order: anything at or before its last ended job is old news.
        if self.ended.get(&msg.jobid).is_some_and(|last| position <= *last) {
            self.duplicates += 1;
            tracing::debug!(jobid = %msg.jobid, step = msg.step, attempt = msg.attempt, phase = ?msg.phase, "repeated or stale event dropped");
            return;
        }
        if msg.phase.is_terminal() {
            self.ended.insert(msg.jobid.clone(), position);
        }
        self.manager.do_send(msg);
    }
}

impl Handler<Forget> for JobWatcher {
    type Result = ();

    fn handle(&mut self, msg: Forget, _: &mut Self::Context) {
        self.ended.remove(&msg.jobid);
    }
}
