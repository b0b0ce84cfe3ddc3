//! The JobWatcher actor: the one place where what happens to the run's jobs becomes
//! [`JobObserved`] for the Manager.
//!
//! * Under Kubernetes it owns the workflow's watches ([`kubernetes`]): the Jobs and the failed
//!   Pods as actix streams (kube's `watcher` with its backoff), and a periodic look at the Pods
//!   that cannot start. What each Job event means — a phase, an end, a repeat, a Job gone while
//!   it ran — is the core's [`JobIndex`](smo_core::job_index::JobIndex) to decide.
//! * A local or in-memory executor reports its processes' ends itself, as [`JobObserved`]
//!   messages to this actor.
//!
//! Either way, everything passes one filter before the Manager hears it: a job's first terminal
//! phase only, and nothing of a job after its end (a re-list may replay its `Running`), so
//! nothing downstream counts twice or sees a job run again. A sequence's jobs end in order
//! (step, then attempt), so remembering the last ended `(step, attempt)` per sequence is
//! enough; the Manager's [`Forget`] drops it when the sequence ends, and its [`Stop`] ends the
//! watches before the run's remaining jobs are deleted (smo's own deletions are no news).

pub mod kubernetes;

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use smo_core::names::JobId;
use smo_core::workflow::Workflow;

use crate::executor::kubernetes::KubernetesConfig;
use crate::messages::{Forget, JobObserved, Stop};

/// Mailbox capacity: every sequence may have a question pending at once (the default of 16
/// would make thousands of StateMachines queue behind each other).
pub const MAILBOX: usize = crate::manager::MAILBOX;

/// Watches a run's jobs and tells the Manager what happens to them, once each.
pub struct JobWatcher {
    manager: Recipient<JobObserved>,
    /// Last ended `(step, attempt)` of every running sequence.
    ended: HashMap<JobId, (usize, u32)>,
    duplicates: u64,
    /// The workflow's watches, when its jobs run on Kubernetes.
    cluster: Option<kubernetes::ClusterWatch>,
}

/// How the Manager reaches its JobWatcher.
#[derive(Clone)]
pub struct WatcherLink {
    /// A sequence ended: forget it.
    pub forget: Recipient<Forget>,
    /// The run is over: stop watching.
    pub stop: Recipient<Stop>,
}

impl From<Addr<JobWatcher>> for WatcherLink {
    fn from(addr: Addr<JobWatcher>) -> WatcherLink {
        WatcherLink { forget: addr.clone().recipient(), stop: addr.recipient() }
    }
}

impl JobWatcher {
    /// A watcher of jobs whose executor reports them (local, in memory), forwarding to
    /// `manager`.
    pub fn new(manager: Recipient<JobObserved>) -> JobWatcher {
        JobWatcher { manager, ended: HashMap::new(), duplicates: 0, cluster: None }
    }

    /// A watcher of `workflow`'s Jobs and Pods in the cluster and namespace of `config`,
    /// forwarding to `manager`; it watches once started.
    pub fn watching(manager: Recipient<JobObserved>, config: &KubernetesConfig, workflow: Arc<Workflow>) -> JobWatcher {
        JobWatcher { cluster: Some(kubernetes::ClusterWatch::new(config, workflow)), ..JobWatcher::new(manager) }
    }

    /// Observations dropped as repeats or stale so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Passes `msg` on to the Manager unless it is a repeat or stale (see the module docs).
    fn forward(&mut self, msg: JobObserved) {
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

impl Actor for JobWatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.start_watches(ctx);
    }
}

impl Handler<JobObserved> for JobWatcher {
    type Result = ();

    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) {
        self.forward(msg);
    }
}

impl Handler<Forget> for JobWatcher {
    type Result = ();

    fn handle(&mut self, msg: Forget, _: &mut Self::Context) {
        self.ended.remove(&msg.jobid);
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.forget(&msg.jobid);
        }
    }
}

impl Handler<Stop> for JobWatcher {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
