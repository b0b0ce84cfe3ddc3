//! The Manager actor: one per workflow run, a thin shell around the core's [`Ledger`].
//!
//! It tells the ledger what happened and carries out the answers: starts a StateMachine actor
//! per new sequence (as many as the ledger's slots allow), answers each finished job with what
//! its sequence does next, ends the run when the ledger says so, and supervises its children: a
//! StateMachine that stops without reporting how its sequence ended counts as a failed sequence
//! and is replaced ([`supervise`]).
//!
//! ```text
//! executor --JobObserved--> JobWatcher --JobObserved--> Manager --JobObserved--> StateMachine
//!                                                          ^  <--StepFinished (awaits StepDecision)--
//!                                                          |  <--SequenceProgress / SequenceStopped--
//! ```
//!
//! A restarted run ([`ManagerConfig::restore`]) first asks the executor which jobs exist and
//! rebuilds every sequence from them ([`Sequence::restore`]): ended sequences are counted as they
//! ended, live ones carry on from where their jobs are, and new job ids never repeat old ones.
//! When the run ends the Manager stops the executor's jobs and the StateMachines, flushes the
//! journal and hands a [`RunReport`] to whoever started it.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use smo_core::api::ShutdownStrategy;
use smo_core::fsm::{Effect, JobPhase, Sequence, SequenceOutcome};
use smo_core::ledger::{Carried, Ledger, Next, Observation, RunOutcome, RunReport, Supervision, supervise};
use smo_core::names::{JobId, JobIdSource};
use smo_core::times;
use smo_core::workflow::Workflow;
use tokio::sync::oneshot;

use crate::executor::{Executor, ExistingJob};
use crate::job_watcher::WatcherLink;
use crate::journal::{self, Journal};
use crate::messages::{
    Forget, JobObserved, Progress, Reconfigure, Release, SequenceProgress, SequenceStopped, Shutdown, StatusSnapshot,
    StepDecision, StepEnded, StepFinished, Stop, Suspend, TransitionTimed, WorkflowEvent,
};
use crate::state_machine::{ManagerLinks, StateMachine};

#[cfg(test)]
mod tests;

/// Mailbox capacity: every sequence may have a question pending at once (the default of 16
/// would make thousands of StateMachines queue behind each other).
pub const MAILBOX: usize = 1 << 16;

/// The most sequences one [`Manager::fill`] starts before it lets other messages in.
const FILL_BATCH: u32 = 64;

/// How often, at most, the Manager sends a [`StatusSnapshot`] while the run changes: status
/// writes stay about one per second per workflow however busy it is.
pub const STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Test hook type: called with every StateMachine the Manager starts.
#[cfg(test)]
pub(crate) type StartHook = Box<dyn Fn(&JobId, &Addr<StateMachine>)>;

/// Settings of a Manager beyond the workflow.
pub struct ManagerConfig {
    /// Runs the jobs.
    pub executor: Rc<dyn Executor>,
    /// Receives counters after every change (a progress bar), if any.
    pub progress: Option<Recipient<Progress>>,
    /// Chooses the job ids (a run directory keeps it, so a resumed run continues the ids).
    pub seed: u64,
    /// Receives the report when the run ends.
    pub done: oneshot::Sender<RunReport>,
    /// The run's JobWatcher: told when a sequence has ended, so that it can forget it, and
    /// stopped when the run ends.
    pub watcher: Option<WatcherLink>,
    /// Where timestamps go as they happen (None: not recorded).
    pub journal: Option<Journal>,
    /// Rebuild the run from the executor's existing jobs before starting anything new.
    pub restore: bool,
    /// What an earlier life of the run counted that its jobs may no longer show (the operator
    /// reads it from the resource's status), taken over once the jobs are restored.
    pub carried: Option<Carried>,
    /// Who hears how the run goes beyond the progress counters (the operator's StatusReporter).
    pub reporting: Option<Reporting>,
}

/// The recipients of what a run reports as it goes (the operator's status, Events, metrics).
#[derive(Clone)]
pub struct Reporting {
    /// What the ledger knows, coalesced ([`STATUS_INTERVAL`]), and once more at the end.
    pub status: Recipient<StatusSnapshot>,
    /// Sequence failures, rule firings and the end of the workflow.
    pub events: Recipient<WorkflowEvent>,
    /// Every step job's end, with its duration.
    pub steps: Recipient<StepEnded>,
    /// How long each transition to a next step took (the StateMachines tell it directly).
    pub transitions: Recipient<TransitionTimed>,
}

impl Reporting {
    /// Every report to the one actor `to` (the operator's StatusReporter, `smo run`'s
    /// LiveReporter).
    pub fn to<A>(to: &Addr<A>) -> Reporting
    where
        A: Actor<Context = Context<A>>
            + Handler<StatusSnapshot>
            + Handler<WorkflowEvent>
            + Handler<StepEnded>
            + Handler<TransitionTimed>,
    {
        Reporting {
            status: to.clone().recipient(),
            events: to.clone().recipient(),
            steps: to.clone().recipient(),
            transitions: to.clone().recipient(),
        }
    }
}

/// The workflow's manager.
pub struct Manager {
    ledger: Ledger,
    executor: Rc<dyn Executor>,
    progress: Option<Recipient<Progress>>,
    done: Option<oneshot::Sender<RunReport>>,
    watcher: Option<WatcherLink>,
    journal: Option<Journal>,
    ids: JobIdSource,
    seed: u64,
    restore: bool,
    carried: Option<Carried>,
    /// The ledger's node counts as handed to sequences (rebuilt only when a rule resizes a step).
    nodes: Arc<[u32]>,
    sequences: HashMap<JobId, Addr<StateMachine>>,
    reporting: Option<Reporting>,
    /// Something changed since the last [`StatusSnapshot`].
    status_due: bool,
    /// The run has ended and is shutting down.
    closing: bool,
    /// Why step Pods could not start, as reported so far (step, reason): each said once.
    waiting_noted: std::collections::HashSet<(usize, String)>,
    /// `workflow{name}`: every log line of the run (and of its sequences) is inside it.
    span: tracing::Span,
    /// Test hook: told about every StateMachine started.
    #[cfg(test)]
    pub(crate) on_start: Option<StartHook>,
}

impl Manager {
    /// A manager for `workflow`.
    pub fn new(workflow: Arc<Workflow>, config: ManagerConfig) -> Manager {
        let ledger = Ledger::new(workflow.clone());
        Manager {
            nodes: ledger.all_nodes().into(),
            ledger,
            ids: JobIdSource::new(&workflow.prefix, config.seed),
            seed: config.seed,
            restore: config.restore,
            carried: config.carried,
            executor: config.executor,
            progress: config.progress,
            done: Some(config.done),
            watcher: config.watcher,
            journal: config.journal,
            reporting: config.reporting,
            status_due: true,
            sequences: HashMap::new(),
            closing: false,
            waiting_noted: std::collections::HashSet::new(),
            span: tracing::info_span!("workflow", name = %workflow.name),
            #[cfg(test)]
            on_start: None,
        }
    }

    fn workflow(&self) -> Arc<Workflow> {
        self.ledger.workflow().clone()
    }

    fn links(&self, ctx: &Context<Self>) -> ManagerLinks {
        ManagerLinks {
            finished: ctx.address().recipient(),
            progress: ctx.address().recipient(),
            stopped: ctx.address().recipient(),
            transitions: self.reporting.as_ref().map(|r| r.transitions.clone()),
        }
    }

    fn mark(&self, key: String) {
        if let Some(j) = &self.journal {
            j.mark(key, journal::now());
        }
    }

    /// Starts as many sequences as the ledger's slots allow, at most [`FILL_BATCH`] at a time:
    /// the rest after the messages waiting meanwhile (other workflows' on the operator's
    /// thread, the probes), so that a large budget never holds the thread in one loop.
    fn fill(&mut self, ctx: &mut Context<Self>) {
        let mut decision = self.ledger.decide();
        if decision.start == 0 {
            return;
        }
        if decision.start > FILL_BATCH {
            decision.start = FILL_BATCH;
            ctx.run_later(std::time::Duration::ZERO, |manager, ctx| manager.fill(ctx));
        }
        tracing::debug!(
            jobs_needed = decision.jobs_needed,
            nodes_allowed = decision.nodes_allowed,
            jobs_allowed = decision.jobs_allowed,
            active = self.sequences.len(),
            starting = decision.start,
            "starting sequences"
        );
        let links = self.links(ctx);
        let workflow = self.workflow();
        for _ in 0..decision.start {
            let Some(id) = self.ids.next_id() else {
                let reason = "all 10^9 job ids of this prefix and seed are used; start a new run".to_string();
                self.close(RunOutcome::Failed { reason }, ctx);
                return;
            };
            let (fsm, effects) = Sequence::start(id, workflow.steps.len());
            self.adopt(fsm, effects, &links);
        }
        self.report_progress();
    }

    /// Starts a StateMachine actor for `fsm`, carrying out `effects` first, and counts its
    /// sequence as live.
    fn adopt(&mut self, fsm: Sequence, effects: Vec<Effect>, links: &ManagerLinks) {
        let id = fsm.id().clone();
        self.ledger.sequence_started(id.clone());
        // A sequence restored while the workflow is suspended or stopping waits to submit its
        // next job (a stopping run ends once every sequence waits).
        let hold = self.ledger.holding();
        if hold && effects.iter().any(|e| matches!(e, Effect::Submit { .. } | Effect::Replace { .. })) {
            self.ledger.sequence_holding(&id);
        }
        let machine =
            StateMachine::new(fsm, effects, self.workflow(), self.executor.clone(), self.nodes.clone(), links.clone())
                .holding(hold);
        let addr = machine.start();
        #[cfg(test)]
        if let Some(hook) = &self.on_start {
            hook(&id, &addr);
        }
        self.sequences.insert(id, addr);
    }

    fn report_progress(&mut self) {
        self.status_due = true;
        if let Some(p) = &self.progress {
            p.do_send(Progress(self.ledger.counts()));
        }
    }

    /// Sends the ledger's snapshot to the status recipient if something changed since the last.
    fn send_status(&mut self) {
        if let Some(reporting) = &self.reporting
            && self.status_due
        {
            self.status_due = false;
            reporting.status.do_send(StatusSnapshot(self.ledger.snapshot()));
        }
    }

    fn event(&self, warning: bool, reason: &'static str, note: String) {
        if let Some(reporting) = &self.reporting {
            reporting.events.do_send(WorkflowEvent { warning, reason, note });
        }
    }

    /// A step's Pod cannot start (`why`: the scheduler's or the kubelet's words): said at once,
    /// in the log and as a Warning Event, once per step and reason (a full cluster keeps many
    /// Pods unschedulable for the same reason).
    fn note_waiting(&mut self, step: usize, jobid: &JobId, why: &str) {
        // A bound on what is remembered; a reason said again after that is no harm.
        if self.waiting_noted.len() >= 1024 {
            self.waiting_noted.clear();
        }
        if !self.waiting_noted.insert((step, why.to_string())) {
            return;
        }
        let name = self.step_name(step);
        tracing::warn!(step = %name, %jobid, reason = %why, "a step's Pod cannot start yet");
        self.event(true, "StepPending", format!("step {name} ({jobid}) cannot start yet: {why}"));
    }

    /// After every change: end the run if the ledger says it is over, else start what may start.
    fn carry_on(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if let Some(outcome) = self.ledger.conclude() {
            return self.close(outcome, ctx);
        }
        if let Some(outcome) = self.ledger.outcome().cloned() {
            return self.close(outcome, ctx);
        }
        self.fill(ctx);
    }

    /// Ends the run once: stops jobs and children, flushes the journal, hands over the report.
    fn close(&mut self, outcome: RunOutcome, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.ledger.end(outcome);
        let report = self.ledger.report();
        tracing::info!(reason = report.outcome.reason(), "workflow {}", report.outcome.verb());
        self.mark("workflow_complete".into());
        for (_, addr) in self.sequences.drain() {
            addr.do_send(Stop);
        }
        match &report.outcome {
            RunOutcome::Succeeded { reason } => self.event(false, "Succeeded", reason.clone()),
            RunOutcome::Failed { reason } => self.event(true, "Failed", reason.clone()),
            RunOutcome::Stopped { reason, .. } => self.event(true, "Stopped", reason.clone()),
            RunOutcome::Interrupted { .. } => {}
        }
        self.report_progress();
        self.send_status();
        // The watches end before the jobs still running are deleted: smo's own deletions are
        // no news to anyone.
        if let Some(w) = &self.watcher {
            w.stop.do_send(Stop);
        }
        let shutdown = self.executor.shutdown();
        let flushed = self.journal.as_ref().map(Journal::flush);
        let done = self.done.take();
        async move {
            shutdown.await;
            if let Some(flushed) = flushed {
                flushed.await;
            }
        }
        .into_actor(self)
        .map(move |(), _, ctx| {
            if let Some(done) = done {
                let _ = done.send(report);
            }
            ctx.stop();
        })
        .wait(ctx);
    }

    /// A child sequence has ended: off the books, forgotten by the watcher, counted; then the
    /// run ends or carries on.
    fn sequence_ended(&mut self, jobid: &JobId, supervision: Supervision, ctx: &mut Context<Self>) {
        self.sequences.remove(jobid);
        if let Some(w) = &self.watcher {
            w.forget.do_send(Forget { jobid: jobid.clone() });
        }
        if let Some(outcome) = self.ledger.sequence_ended(jobid, supervision) {
            return self.close(outcome, ctx);
        }
        self.report_progress();
        self.carry_on(ctx);
    }

    /// Removes what the executor has of a failed sequence, in the background.
    fn clean_up(&self, jobid: &JobId) {
        let cleanup = self.executor.cleanup(jobid);
        let id = jobid.clone();
        actix::spawn(async move {
            if let Err(e) = cleanup.await {
                tracing::warn!(jobid = %id, error = %e, "cleanup of a failed sequence failed");
            }
        });
    }

    fn step_name(&self, step: usize) -> String {
        self.ledger.workflow().steps.get(step).map(|s| s.name.clone()).unwrap_or_else(|| "?".into())
    }

    /// Rebuilds the run from the executor's jobs (see the module docs).
    fn restore_from(&mut self, existing: Vec<ExistingJob>, ctx: &mut Context<Self>) {
        let workflow = self.workflow();
        self.ids = JobIdSource::resume(&workflow.prefix, self.seed, existing.iter().map(|j| &j.jobid));
        let always_succeed: Vec<bool> = workflow.steps.iter().map(|s| s.properties.always_succeed).collect();
        let mut by_sequence: BTreeMap<JobId, Vec<(usize, u32, JobPhase)>> = BTreeMap::new();
        for job in existing {
            // The timeline keeps what the earlier run may not have written down before it died
            // (the journal keeps the first time of each key).
            if let Some(journal) = &self.journal {
                let key = times::job_key(job.jobid.as_str(), &self.step_name(job.step), job.attempt);
                if let Some(t) = job.started_at {
                    journal.mark(format!("{key}_start"), t);
                }
                match (&job.phase, job.ended_at) {
                    (JobPhase::Succeeded, Some(t)) => journal.mark(format!("{key}_succeeded"), t),
                    (JobPhase::Failed { .. }, Some(t)) => journal.mark(format!("{key}_failed"), t),
                    _ => {}
                }
            }
            by_sequence.entry(job.jobid).or_default().push((job.step, job.attempt, job.phase));
        }
        let links = self.links(ctx);
        let completed_before = self.carried.as_ref().map(|c| c.completed_sequences.clone()).unwrap_or_default();
        let (mut ended, mut live, mut gone) = (0, 0, 0);
        for (id, jobs) in by_sequence {
            for (step, _, phase) in jobs.iter().filter(|(_, _, p)| p.is_terminal()) {
                self.ledger.job_restored_ended(*step, phase);
            }
            let (fsm, effects) = Sequence::restore(id.clone(), workflow.steps.len(), &always_succeed, &jobs);
            let outcome = effects.iter().find_map(|e| match e {
                Effect::Finished(outcome) => Some(outcome.clone()),
                _ => None,
            });
            if let Some(outcome) = outcome {
                ended += 1;
                self.ledger.sequence_restored_ended(&outcome);
                if matches!(outcome, SequenceOutcome::Failed { .. }) {
                    self.clean_up(&id);
                }
                continue;
            }
            if completed_before.contains(id.as_str()) {
                // Its last step succeeded, the kept timeline says, but some of its Jobs are gone
                // (deleted outside smo, or by the cluster's garbage collector): it is counted
                // among the completed ones carried over, and never run again.
                gone += 1;
                tracing::warn!(jobid = %id, "a completed sequence lost some of its Jobs; it is not run again");
                continue;
            }
            live += 1;
            let running: Vec<(usize, u32)> =
                jobs.iter().filter(|(_, _, p)| *p == JobPhase::Running).map(|(s, a, _)| (*s, *a)).collect();
            self.adopt(fsm, effects, &links);
            for (step, attempt) in running {
                self.ledger.job_observed(&id, step, attempt, &JobPhase::Running);
            }
        }
        if let Some(carried) = self.carried.take() {
            self.ledger.carry_over(&carried);
            self.nodes = self.ledger.all_nodes().into();
        }
        let counts = self.ledger.counts();
        tracing::info!(
            ended,
            live,
            completed_without_jobs = gone,
            completed = counts.completed,
            failed = counts.failed,
            "run restored from the executor's jobs"
        );
        self.report_progress();
        self.carry_on(ctx);
    }
}

impl Actor for Manager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        // Thousands of StateMachines report here; the default mailbox of 16 would make
        // their sends wait on each other.
        ctx.set_mailbox_capacity(MAILBOX);
        if self.reporting.is_some() {
            ctx.run_interval(STATUS_INTERVAL, |act, _| act.send_status());
        }
        let workflow = self.workflow();
        tracing::info!(
            workflow = %workflow.name,
            completions = workflow.completed,
            max_size = workflow.max_size,
            steps = workflow.steps.len(),
            restore = self.restore,
            "workflow started"
        );
        if !self.restore {
            self.mark("workflow_start".into());
            return self.carry_on(ctx);
        }
        // Nothing else is handled until the run is rebuilt.
        self.executor
            .existing()
            .into_actor(self)
            .map(|found, act, ctx| match found {
                Ok(jobs) => act.restore_from(jobs, ctx),
                Err(e) => {
                    let reason = format!("cannot list the run's existing jobs to resume it: {e}");
                    act.close(RunOutcome::Interrupted { reason, exit_code: 2 }, ctx);
                }
            })
            .wait(ctx);
    }
}

impl Handler<JobObserved> for Manager {
    type Result = ();

    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        let accepting = self.ledger.accepting();
        let seen = self.ledger.job_observed(&msg.jobid, msg.step, msg.attempt, &msg.phase);
        if seen == Observation::Stale {
            tracing::debug!(jobid = %msg.jobid, step = msg.step, phase = ?msg.phase, "stale event of a job ignored");
            return;
        }
        // A job starts when it runs, not while it waits for node slots, and ends when the
        // executor sees it end (metrics parsed from its log afterwards are not part of it).
        // Once the run is ending, jobs still in flight are no part of it.
        if accepting {
            let key = times::job_key(msg.jobid.as_str(), &self.step_name(msg.step), msg.attempt);
            match msg.phase {
                JobPhase::Pending => {}
                JobPhase::Running => self.mark(format!("{key}_start")),
                JobPhase::Succeeded => self.mark(format!("{key}_succeeded")),
                JobPhase::Failed { .. } => self.mark(format!("{key}_failed")),
            }
        }
        if let (JobPhase::Pending, Some(why)) = (&msg.phase, &msg.waiting) {
            self.ledger.job_waiting(&msg.jobid, msg.step, why);
            self.status_due = true;
            self.note_waiting(msg.step, &msg.jobid, why);
        }
        if let (JobPhase::Failed { .. }, Some(log)) = (&msg.phase, &msg.log) {
            self.ledger.note_failed_log(&msg.jobid, log.path.display().to_string());
        }
        if seen == Observation::RunningChanged {
            self.report_progress();
        }
        if msg.phase.is_terminal()
            && let Some(addr) = self.sequences.get(&msg.jobid)
        {
            addr.do_send(msg);
        }
    }
}

impl Handler<StepFinished> for Manager {
    type Result = StepDecision;

    fn handle(&mut self, msg: StepFinished, ctx: &mut Self::Context) -> StepDecision {
        let span = self.span.clone();
        let _entered = span.enter();
        let duration = msg.duration.map(|d| d.as_secs_f64());
        let counted = self.ledger.accepting();
        let (next, firings) = self.ledger.job_ended(&msg.jobid, msg.step, &msg.phase, duration, &msg.metrics);
        if let Some(reporting) = &self.reporting
            && counted
        {
            let succeeded = msg.phase == JobPhase::Succeeded;
            reporting.steps.do_send(StepEnded { step: self.step_name(msg.step), succeeded, duration: msg.duration });
        }
        for f in &firings {
            tracing::info!(rule = f.rule, "rule fired: {f}");
            self.event(false, "RuleFired", f.to_string());
        }
        if *self.nodes != *self.ledger.all_nodes() {
            self.nodes = self.ledger.all_nodes().into();
        }
        // A finish-workflow rule fired on behalf of a sequence no longer live ends the run now.
        if next == Next::Stop && self.ledger.outcome().is_some() {
            self.carry_on(ctx);
        }
        StepDecision { next, nodes: self.nodes.clone() }
    }
}

impl Handler<SequenceProgress> for Manager {
    type Result = ();

    fn handle(&mut self, msg: SequenceProgress, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        let run_over = self.ledger.outcome().is_some();
        let supervision = match &msg.finished {
            // Name the step in the reason: it ends up in the run's failure message.
            Some(SequenceOutcome::Failed { step, reason }) => supervise(
                Some(&SequenceOutcome::Failed {
                    step: *step,
                    reason: format!("step {} failed: {reason}", self.step_name(*step)),
                }),
                None,
                run_over,
            ),
            Some(finished) => supervise(Some(finished), None, run_over),
            // The sequence that concluded a finish-workflow rule has applied its job and stops
            // without submitting more: it has ended as far as this run is concerned.
            None if self.ledger.is_concluding(&msg.jobid) => supervise(None, None, run_over),
            None => {
                // Told to hold (suspended, stopping): its next job now waits, and a stopping
                // run may have nothing running any more.
                self.ledger.sequence_applied(&msg.jobid);
                self.report_progress();
                if self.ledger.workflow().shutdown.is_some() {
                    self.carry_on(ctx);
                }
                return;
            }
        };
        if let Supervision::Failed { reason } = &supervision {
            tracing::info!(jobid = %msg.jobid, %reason, "sequence failed");
            self.event(true, "SequenceFailed", format!("{}: {reason}", msg.jobid));
        }
        self.sequence_ended(&msg.jobid, supervision, ctx);
    }
}

impl Handler<SequenceStopped> for Manager {
    type Result = ();

    fn handle(&mut self, msg: SequenceStopped, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        // Only a child still on the books stopped unexpectedly; one that reported is gone already.
        if !self.sequences.contains_key(&msg.jobid) {
            return;
        }
        tracing::warn!(jobid = %msg.jobid, reason = %msg.reason, "sequence actor stopped; cleaning up and replacing it");
        self.event(true, "SequenceFailed", format!("{}: {}", msg.jobid, msg.reason));
        self.clean_up(&msg.jobid);
        let supervision = supervise(None, Some(&msg.reason), self.ledger.outcome().is_some());
        self.sequence_ended(&msg.jobid, supervision, ctx);
    }
}

impl Handler<Shutdown> for Manager {
    type Result = ();

    fn handle(&mut self, msg: Shutdown, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        self.close(RunOutcome::Interrupted { reason: msg.reason, exit_code: msg.exit_code }, ctx);
    }
}

impl Manager {
    /// After a change of the workflow's `suspended` and `shutdown` (they were `before`): said in
    /// the log and as Events, and once neither holds them, the sequences submit the jobs they
    /// held.
    fn holding_changed(&mut self, before: &Workflow) {
        self.shutdown_changed(before.shutdown);
        self.suspension_changed(before.suspended);
        if (before.suspended || before.shutdown.is_some()) && !self.ledger.holding() {
            for addr in self.sequences.values() {
                addr.do_send(Release);
            }
        }
    }

    /// After a change of the workflow's `shutdown` (it was `was`): said in the log and as an
    /// Event (its end is said when it ends).
    fn shutdown_changed(&mut self, was: Option<ShutdownStrategy>) {
        let now = self.ledger.workflow().shutdown;
        if now == was {
            return;
        }
        let running = self.ledger.counts().jobs_running;
        match now {
            Some(ShutdownStrategy::Stop) => {
                tracing::info!(
                    jobs_running = running,
                    "workflow stopping: nothing new starts; the step jobs running finish"
                );
                let note =
                    format!("stopping (spec.shutdown: Stop): nothing new starts; {running} step jobs running finish");
                self.event(false, "Stopping", note);
            }
            Some(ShutdownStrategy::Terminate) => {
                tracing::info!(jobs_running = running, "workflow terminating: the step jobs running are deleted");
                let note = format!("terminating (spec.shutdown: Terminate): {running} step jobs running are deleted");
                self.event(false, "Stopping", note);
            }
            None => {
                tracing::info!("stop withdrawn: the workflow carries on");
                self.event(
                    false,
                    "StopWithdrawn",
                    "spec.shutdown removed before the end: the workflow carries on".into(),
                );
            }
        }
        self.status_due = true;
    }

    /// After a change of the workflow's `suspended` (it was `was`): said in the log and as an
    /// Event.
    fn suspension_changed(&mut self, was: bool) {
        let now = self.ledger.workflow().suspended;
        if now == was {
            return;
        }
        if now {
            let running = self.ledger.counts().jobs_running;
            tracing::info!(
                jobs_running = running,
                "workflow suspended: nothing new starts; the step jobs running finish"
            );
            self.event(
                false,
                "Suspended",
                format!("suspended: nothing new starts; {running} step jobs running finish"),
            );
        } else {
            tracing::info!("workflow resumed");
            self.event(false, "Resumed", "resumed: the sequences carry on".into());
        }
        self.status_due = true;
    }
}

impl Handler<Suspend> for Manager {
    type Result = ();

    fn handle(&mut self, msg: Suspend, ctx: &mut Self::Context) {
        // The same as an edit of `spec.suspend` alone.
        let mut workflow = Workflow::clone(self.ledger.workflow());
        workflow.suspended = msg.0;
        self.handle(Reconfigure { workflow: Arc::new(workflow), rules_changed: false }, ctx);
    }
}

impl Handler<Reconfigure> for Manager {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, ctx: &mut Self::Context) {
        let span = self.span.clone();
        let _entered = span.enter();
        if self.closing {
            return;
        }
        let before = self.ledger.counts();
        let was = self.ledger.workflow().clone();
        self.ledger.reconfigure(&msg.workflow, msg.rules_changed);
        self.holding_changed(&was);
        let w = self.ledger.workflow();
        tracing::info!(
            completions = w.completed,
            max_size = w.max_size,
            max_failures = w.max_failures,
            rules = w.rules.len(),
            rules_changed = msg.rules_changed,
            wanted_before = before.wanted,
            "workflow reconfigured"
        );
        self.report_progress();
        self.carry_on(ctx);
    }
}
