//! The StatusReporter actor: one per `StateMachine`, the only writer of its `status` and its
//! Events.
//!
//! It turns what the Manager knows ([`StatusSnapshot`], already coalesced to about one a
//! second) and what the operator saw of the spec ([`SpecSeen`]) into the resource's status with
//! the core's [`status`] functions, and writes it only when it changed — one write at a time,
//! the latest status winning; a change of the per-step entries alone (a job started or ended, a
//! duration) waits up to 10 s for company. [`WorkflowEvent`]s become Kubernetes Events (`events.k8s.io/v1`,
//! which `kubectl describe` shows), and everything it hears feeds the workflow's metrics.

use std::time::{Duration, Instant};

use actix::prelude::*;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use smo_core::api::{ShutdownStrategy, StateMachineStatus};
use smo_core::status::{self, Snapshot, Unapplied};

use super::metrics::WorkflowMetrics;
use crate::executor::kubernetes::api::with_retries;
use crate::live::Feed;
use crate::messages::{StatusSnapshot, StepEnded, TransitionTimed, WorkflowEvent};

/// What the operator saw of the resource's spec.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub enum SpecSeen {
    /// The spec of `generation` runs, except what `unapplied` names.
    Running {
        /// `metadata.generation` of the spec seen.
        generation: Option<i64>,
        /// What the running workflow could not take, if anything.
        unapplied: Option<Unapplied>,
    },
    /// The spec of `generation` is valid but cannot run yet: the cluster lacks what `reason`
    /// names (`message` says what and how to fix it); the operator tries again by itself.
    Waiting {
        /// `metadata.generation` of the spec seen.
        generation: Option<i64>,
        /// The `Ready` condition's reason.
        reason: &'static str,
        /// What is missing, and what to do.
        message: String,
    },
    /// The spec of `generation` stopped the workflow (`spec.shutdown`) while no run of it was
    /// going on: it has ended, stopped.
    Stopped {
        /// `metadata.generation` of the spec seen.
        generation: Option<i64>,
        /// How it was stopped.
        strategy: ShutdownStrategy,
    },
    /// The spec of `generation` is invalid; nothing runs.
    Invalid {
        /// `metadata.generation` of the spec seen.
        generation: Option<i64>,
        /// Every problem, one line each, as `smo validate` prints them.
        problems: Vec<String>,
    },
}

/// Stop writing: the resource is gone (or another reporter took over).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Detach;

/// Writes one `StateMachine`'s status and Events.
pub struct StatusReporter {
    api: Api<DynamicObject>,
    name: String,
    reference: ObjectReference,
    recorder: Recorder,
    /// Status as last written (or as found on the resource).
    written: StateMachineStatus,
    spec: SpecSeen,
    snapshot: Option<Snapshot>,
    /// A write is under way; `dirty` says whether another must follow it.
    writing: bool,
    dirty: bool,
    /// When status was last written, and whether a write of per-step entries alone waits.
    last_write: Option<Instant>,
    deferred: bool,
    /// The workflow's metrics.
    metrics: WorkflowMetrics,
    /// The live page's copy of the status and Events, if a page is served.
    live: Option<Feed>,
}

impl StatusReporter {
    /// A reporter for the resource `reference` names, whose status is `current`.
    pub fn new(
        api: Api<DynamicObject>,
        reference: ObjectReference,
        recorder: Recorder,
        current: StateMachineStatus,
        spec: SpecSeen,
        metrics: WorkflowMetrics,
        live: Option<Feed>,
    ) -> StatusReporter {
        StatusReporter {
            api,
            name: reference.name.clone().unwrap_or_default(),
            reference,
            recorder,
            written: current,
            spec,
            snapshot: None,
            writing: false,
            dirty: false,
            last_write: None,
            deferred: false,
            metrics,
            live,
        }
    }

    /// Shows the status as it should be now on the live page.
    fn show(&self, wanted: Option<&StateMachineStatus>) {
        if let (Some(live), Some(wanted)) = (&self.live, wanted) {
            live.status(wanted, self.snapshot.as_ref());
        }
    }

    /// The status as it should be now (None: nothing to say yet).
    fn wanted(&self) -> Option<StateMachineStatus> {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        match &self.spec {
            SpecSeen::Invalid { generation, problems } => {
                Some(status::of_invalid(problems, *generation, &self.written, &now))
            }
            SpecSeen::Waiting { generation, reason, message } => {
                Some(status::of_waiting(reason, message, *generation, &self.written, &now))
            }
            SpecSeen::Stopped { generation, strategy } => {
                Some(status::of_stopped(*strategy, *generation, &self.written, &now))
            }
            SpecSeen::Running { generation, unapplied } => {
                let snapshot = self.snapshot.as_ref()?;
                Some(status::of_run(snapshot, *generation, unapplied.as_ref(), &self.written, &now))
            }
        }
    }

    /// Writes the wanted status if it differs from what was written (transition times aside,
    /// which only change with a condition's status).
    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            self.dirty = true;
            return;
        }
        let Some(wanted) = self.wanted() else { return };
        self.show(Some(&wanted));
        if wanted == self.written {
            return;
        }
        // A job that starts or ends changes only its step's entry (counts, durations): written
        // with the next change that matters — a sequence started or ended, the phase, a
        // condition, a rule firing — or after STEPS_ONLY_INTERVAL. Status writes then follow
        // sequences, not jobs: about one per sequence (its end and the next one's start fall in
        // one coalesced snapshot), a fraction of the Jobs a multi-step workflow creates.
        if only_step_entries_differ(&wanted, &self.written)
            && self.last_write.is_some_and(|t| t.elapsed() < STEPS_ONLY_INTERVAL)
        {
            if !self.deferred {
                self.deferred = true;
                ctx.run_later(STEPS_ONLY_INTERVAL, |act, ctx| {
                    act.deferred = false;
                    act.write(ctx);
                });
            }
            return;
        }
        self.last_write = Some(Instant::now());
        self.writing = true;
        self.dirty = false;
        let (api, name) = (self.api.clone(), self.name.clone());
        let patch = serde_json::json!({ "status": wanted });
        self.metrics.status_written();
        // An apiserver that does not answer is waited out (as every other call of the operator).
        async move {
            let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
            with_retries(|| api.patch_status(&name, &params, &patch)).await
        }
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.writing = false;
                match result {
                    Ok(_) => act.written = wanted,
                    // The resource is gone: its deletion stops this reporter soon.
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => {
                        // Tried again even if nothing changes any more: the last status of a
                        // run (its end) must not be lost to a bad moment of the apiserver.
                        tracing::warn!(statemachine = %act.name, error = %e, "cannot write the status; trying again in {} s", WRITE_RETRY.as_secs());
                        ctx.run_later(WRITE_RETRY, |act, ctx| act.write(ctx));
                    }
                }
                if act.dirty {
                    act.write(ctx);
                }
            })
            .spawn(ctx);
    }
}

impl Actor for StatusReporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.write(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(live) = &self.live {
            live.remove();
        }
    }
}

impl Handler<StatusSnapshot> for StatusReporter {
    type Result = ();

    fn handle(&mut self, msg: StatusSnapshot, ctx: &mut Self::Context) {
        self.metrics.observe(&msg.0);
        self.snapshot = Some(msg.0);
        self.write(ctx);
    }
}

impl Handler<StepEnded> for StatusReporter {
    type Result = ();

    fn handle(&mut self, msg: StepEnded, _: &mut Self::Context) {
        self.metrics.step_ended(&msg.step, msg.succeeded, msg.duration.map(|d| d.as_secs_f64()));
    }
}

impl Handler<TransitionTimed> for StatusReporter {
    type Result = ();

    fn handle(&mut self, msg: TransitionTimed, _: &mut Self::Context) {
        self.metrics.transition(&msg.step, msg.latency.as_secs_f64());
    }
}

impl Handler<SpecSeen> for StatusReporter {
    type Result = ();

    fn handle(&mut self, msg: SpecSeen, ctx: &mut Self::Context) {
        self.spec = match (&self.spec, msg) {
            // Stopped stays stopped: a later edit is not applied (the workflow has ended), and
            // the snapshot of a run interrupted before the stop is no news.
            (SpecSeen::Stopped { strategy, .. }, SpecSeen::Running { generation, .. }) => {
                SpecSeen::Stopped { generation, strategy: *strategy }
            }
            (_, msg) => msg,
        };
        self.write(ctx);
    }
}

impl Handler<WorkflowEvent> for StatusReporter {
    type Result = ();

    fn handle(&mut self, msg: WorkflowEvent, ctx: &mut Self::Context) {
        if let Some(live) = &self.live {
            live.event(&msg);
        }
        let (recorder, reference, name) = (self.recorder.clone(), self.reference.clone(), self.name.clone());
        let event = Event {
            type_: if msg.warning { EventType::Warning } else { EventType::Normal },
            reason: msg.reason.to_string(),
            note: Some(truncate(&msg.note, 1000)),
            action: msg.reason.to_string(),
            secondary: None,
        };
        async move {
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::warn!(statemachine = %name, error = %e, "cannot publish an Event");
            }
        }
        .into_actor(self)
        .spawn(ctx);
    }
}

impl Handler<Detach> for StatusReporter {
    type Result = ();

    fn handle(&mut self, _: Detach, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// How long after a failed status write it is tried again.
const WRITE_RETRY: Duration = Duration::from_secs(10);

/// How long a change of the per-step entries alone may wait to be written.
const STEPS_ONLY_INTERVAL: Duration = Duration::from_secs(10);

/// Whether `a` and `b` differ only in their steps' entries (the same steps, other counts or
/// durations).
fn only_step_entries_differ(a: &StateMachineStatus, b: &StateMachineStatus) -> bool {
    let same_steps = a.steps.len() == b.steps.len() && a.steps.iter().zip(&b.steps).all(|(x, y)| x.name == y.name);
    same_steps && StateMachineStatus { steps: b.steps.clone(), ..a.clone() } == *b
}

/// `text` cut to at most `max` bytes at a character boundary (an Event's note is limited to 1 kB).
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub("…".len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use smo_core::api::StepStatus;

    use super::*;

    #[test]
    fn step_entries_alone_are_told_apart_from_changes_that_matter() {
        let step = |active, succeeded| StepStatus { name: "a".into(), active, succeeded, ..StepStatus::default() };
        let status = |steps: Vec<StepStatus>, completed| StateMachineStatus {
            steps,
            completed,
            ..StateMachineStatus::default()
        };
        let before = status(vec![step(0, 1)], 1);
        assert!(only_step_entries_differ(&status(vec![step(2, 1)], 1), &before), "a job started");
        assert!(only_step_entries_differ(&status(vec![step(0, 2)], 1), &before), "a job ended");
        assert!(!only_step_entries_differ(&status(vec![step(0, 2)], 2), &before), "a sequence completed");
        assert!(!only_step_entries_differ(&status(vec![], 1), &before), "other steps");
        let renamed = StepStatus { name: "b".into(), ..step(0, 1) };
        assert!(!only_step_entries_differ(&status(vec![renamed], 1), &before), "other steps");
    }
}
