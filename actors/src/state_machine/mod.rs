//! The StateMachine actor: one per job sequence.
//!
//! It owns one pure [`Sequence`] and carries out its effects on the executor. When a job of its
//! current step ends it asks the Manager first ([`StepFinished`] → [`StepDecision`]) — so that
//! the job's metrics are recorded and `repeat` rules can keep the sequence on its step — then
//! feeds the outcome to the state machine and reports what happened ([`SequenceProgress`]).
//! That exchange is atomic: no other message reaches the actor in between, so the state the
//! question was asked about is the state the answer is applied to.
//!
//! The answer also says how many nodes every step has now (grow and shrink rules change that),
//! and whether the run is ending: after a finish-workflow rule the sequence whose job fired it
//! applies the job's outcome and reports it, but submits nothing more; every other sequence
//! stops at once. A sequence that gets no answer (the Manager is gone) stops too.
//!
//! If the actor stops without having reported how its sequence ended, it says so
//! ([`SequenceStopped`]) and the Manager decides what that means (supervision).
//!
//! While the workflow is suspended or being stopped (`spec.shutdown: Stop`) the answer says
//! `hold`: the job is recorded, and the sequence's next submission waits for the Manager's
//! [`Release`] (the workflow resumed, the stop withdrawn) — or for ever, when the stopped run
//! ends.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use smo_core::fsm::{Effect, Sequence, SequenceOutcome};
use smo_core::ledger::Next;
use smo_core::names::JobId;
use smo_core::workflow::Workflow;

use crate::executor::{Executor, StepJob};
use crate::messages::{
    JobObserved, Release, SequenceProgress, SequenceStopped, StepDecision, StepFinished, Stop, TransitionTimed,
};

/// When the submissions among a sequence's effects are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Submissions {
    /// At once.
    Now,
    /// Once the workflow is resumed ([`Release`]).
    Held,
    /// Never: the run is ending.
    Never,
}

/// Where a StateMachine reports to.
#[derive(Clone)]
pub struct ManagerLinks {
    /// Asked after every job of the current step ends.
    pub finished: Recipient<StepFinished>,
    /// Told what the sequence did.
    pub progress: Recipient<SequenceProgress>,
    /// Told when the actor stops without a final report.
    pub stopped: Recipient<SequenceStopped>,
    /// Told how long each transition to a next step took, if anyone listens.
    pub transitions: Option<Recipient<TransitionTimed>>,
}

/// One job sequence.
pub struct StateMachine {
    fsm: Sequence,
    /// Effects of `start` or `restore`, carried out once the actor runs.
    initial: Vec<Effect>,
    workflow: Arc<Workflow>,
    executor: Rc<dyn Executor>,
    /// Nodes of every step as of the Manager's latest answer.
    nodes: Arc<[u32]>,
    links: ManagerLinks,
    /// The Manager has heard how this sequence ended (or asked it to stop).
    reported: bool,
    /// When the end of the current job was seen, until the next job is submitted.
    ended_seen: Option<Instant>,
    /// Submissions waiting for the workflow to be resumed.
    held: Vec<Effect>,
    /// The initial effects' submissions are held (restored while the workflow is suspended).
    hold_initial: bool,
    /// `sequence{jobid}`, inside the workflow's span.
    span: tracing::Span,
}

impl StateMachine {
    /// An actor for `fsm` that carries out `initial` (from [`Sequence::start`] or
    /// [`Sequence::restore`]) once it runs; `nodes` are the steps' current sizes.
    pub fn new(
        fsm: Sequence,
        initial: Vec<Effect>,
        workflow: Arc<Workflow>,
        executor: Rc<dyn Executor>,
        nodes: Arc<[u32]>,
        links: ManagerLinks,
    ) -> Self {
        // Created where the Manager starts it: inside the workflow's span.
        let span = tracing::info_span!("sequence", jobid = %fsm.id());
        StateMachine {
            fsm,
            initial,
            workflow,
            executor,
            nodes,
            links,
            reported: false,
            ended_seen: None,
            held: Vec::new(),
            hold_initial: false,
            span,
        }
    }

    /// Holds the submissions of the initial effects until [`Release`] (the workflow is
    /// suspended).
    pub fn holding(self, hold: bool) -> Self {
        StateMachine { hold_initial: hold, ..self }
    }

    /// The sequence's id.
    pub fn id(&self) -> &JobId {
        self.fsm.id()
    }

    fn job(&self, step: usize, attempt: u32) -> StepJob {
        StepJob {
            workflow: self.workflow.clone(),
            jobid: self.fsm.id().clone(),
            step,
            attempt,
            nodes: self.nodes.get(step).copied().unwrap_or(1),
        }
    }

    /// Carries out effects in order, then reports what the sequence did; submissions are made
    /// as `submissions` says. Returns whether it reported anything.
    fn execute(&mut self, effects: Vec<Effect>, submissions: Submissions, ctx: &mut Context<Self>) -> bool {
        let mut applied = false;
        let mut finished: Option<SequenceOutcome> = None;
        for effect in effects {
            match effect {
                Effect::Submit { .. } | Effect::Replace { .. } if submissions == Submissions::Never => {}
                held @ (Effect::Submit { .. } | Effect::Replace { .. }) if submissions == Submissions::Held => {
                    // The wait is the suspension's, not a transition's.
                    self.ended_seen = None;
                    self.held.push(held);
                }
                Effect::Submit { step, attempt } => {
                    let submit = self.executor.submit(self.job(step, attempt));
                    let seen = self.ended_seen.take();
                    self.after_submission(submit, step, seen, ctx);
                }
                Effect::Replace { step, attempt } => {
                    let remove = self.executor.remove(self.fsm.id(), step, attempt.saturating_sub(1));
                    let submit = self.executor.submit(self.job(step, attempt));
                    let seen = self.ended_seen.take();
                    self.after_submission(
                        Box::pin(async move {
                            remove.await?;
                            submit.await
                        }),
                        step,
                        seen,
                        ctx,
                    );
                }
                Effect::StepFinished { .. } => applied = true,
                Effect::Cleanup => {
                    let cleanup = self.executor.cleanup(self.fsm.id());
                    let id = self.fsm.id().clone();
                    actix::spawn(async move {
                        if let Err(e) = cleanup.await {
                            tracing::warn!(jobid = %id, error = %e, "cleanup of a failed sequence failed");
                        }
                    });
                }
                Effect::Finished(outcome) => finished = Some(outcome),
            }
        }
        if !applied && finished.is_none() {
            return false;
        }
        let done = finished.is_some();
        self.links.progress.do_send(SequenceProgress { jobid: self.fsm.id().clone(), finished });
        if done {
            self.reported = true;
            ctx.stop();
        }
        true
    }

    /// Waits for a submission; a failed one fails the sequence (the Manager replaces it). When
    /// the end of the previous job was seen at `seen`, the transition's time is told.
    fn after_submission(
        &mut self,
        submission: futures::future::LocalBoxFuture<'static, crate::Result<()>>,
        step: usize,
        seen: Option<Instant>,
        ctx: &mut Context<Self>,
    ) {
        submission
            .into_actor(self)
            .map(move |result, act, ctx| {
                if let (Ok(()), Some(seen), Some(to)) = (&result, seen, &act.links.transitions) {
                    let step = act.workflow.steps.get(step).map(|s| s.name.clone()).unwrap_or_default();
                    to.do_send(TransitionTimed { step, latency: seen.elapsed() });
                }
                if let Err(e) = result {
                    let name = act.workflow.steps.get(step).map(|s| s.name.as_str()).unwrap_or("?");
                    tracing::warn!(jobid = %act.fsm.id(), step = name, error = %e, "submission failed");
                    let effects = act.fsm.abort(format!("submitting step {name} failed: {e}"));
                    act.execute(effects, Submissions::Now, ctx);
                }
            })
            .wait(ctx);
    }
}

impl Actor for StateMachine {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        let effects = std::mem::take(&mut self.initial);
        let submissions = if self.hold_initial { Submissions::Held } else { Submissions::Now };
        self.execute(effects, submissions, ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if !self.reported {
            self.links.stopped.do_send(SequenceStopped {
                jobid: self.fsm.id().clone(),
                reason: "its actor stopped before the sequence ended".into(),
            });
        }
    }
}

impl Handler<JobObserved> for StateMachine {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) -> Self::Result {
        let span = self.span.clone();
        let _entered = span.enter();
        // Only the end of the current job matters; the state machine would ignore the rest anyway,
        // and asking the Manager about them would count them twice.
        if !msg.phase.is_terminal() || self.fsm.current() != Some((msg.step, msg.attempt)) {
            return AtomicResponse::new(Box::pin(fut::ready(())));
        }
        let seen = Instant::now();
        let always_succeed = self.workflow.steps.get(msg.step).is_some_and(|s| s.properties.always_succeed);
        let extract = match msg.metrics.clone() {
            // Computed in the job's own Pod.
            Some(reported) => Box::pin(async move { reported }),
            // A local job's log, on this machine; never user code here for any other executor.
            None if self.executor.metrics_from_logs() => {
                crate::log_reader::extract(self.workflow.clone(), msg.step, msg.log.clone())
            }
            None => Box::pin(async { Vec::new() }),
        };
        let ask = self.links.finished.clone();
        let JobObserved { jobid, step, attempt, phase, duration, .. } = msg;
        let question = StepFinished { jobid, step, attempt, phase: phase.clone(), duration, metrics: Vec::new() };
        let exchange = async move {
            let metrics = extract.await;
            ask.send(StepFinished { metrics, ..question }).await.ok()
        };
        AtomicResponse::new(Box::pin(exchange.into_actor(self).map(move |decision: Option<StepDecision>, act, ctx| {
            let Some(StepDecision { next, nodes }) = decision else {
                // No answer: the Manager is gone, and nothing may be submitted on a guess.
                tracing::warn!(jobid = %act.fsm.id(), "no answer from the manager; the sequence stops");
                act.reported = true;
                ctx.stop();
                return;
            };
            act.nodes = nodes;
            match next {
                Next::Stop => {
                    // The workflow is over: nothing more may be submitted for this sequence.
                    act.reported = true;
                    ctx.stop();
                }
                Next::Conclude => {
                    // This job ended the workflow: apply and report it, submit nothing, stop.
                    let effects = act.fsm.observe(step, attempt, phase, always_succeed);
                    if !act.execute(effects, Submissions::Never, ctx) {
                        act.links.progress.do_send(SequenceProgress { jobid: act.fsm.id().clone(), finished: None });
                    }
                    act.reported = true;
                    ctx.stop();
                }
                Next::Continue { repeat, hold } => {
                    if repeat {
                        act.fsm.request_repeat();
                    }
                    act.ended_seen = Some(seen);
                    let effects = act.fsm.observe(step, attempt, phase, always_succeed);
                    let submissions = if hold { Submissions::Held } else { Submissions::Now };
                    act.execute(effects, submissions, ctx);
                }
            }
        })))
    }
}

impl Handler<Release> for StateMachine {
    type Result = ();

    fn handle(&mut self, _: Release, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            tracing::debug!(jobid = %self.fsm.id(), "the workflow is resumed; the sequence's next job is submitted");
            self.execute(held, Submissions::Now, ctx);
        }
    }
}

impl Handler<Stop> for StateMachine {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        self.reported = true;
        ctx.stop();
    }
}

/// Test-only: stop the actor abruptly, as a crash would, without reporting anything.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

#[cfg(test)]
impl Handler<Crash> for StateMachine {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        ctx.stop();
    }
}
