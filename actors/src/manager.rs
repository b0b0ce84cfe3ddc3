//! The Manager actor: one per workflow run.
//!
//! It keeps as many sequences running as the node budget allows ([`crate::slots`]), starts a
//! StateMachine actor for each, records every finished job's metrics, evaluates the rules,
//! decides when the workflow is over, and supervises its children: a StateMachine that stops
//! without reporting how its sequence ended counts as a failed sequence and is replaced
//! ([`supervise`]).
//!
//! ```text
//! executor --JobObserved--> Manager --JobObserved--> StateMachine
//!                              ^  <--StepFinished (awaits StepDecision)--
//!                              |  <--SequenceProgress / SequenceStopped--
//! ```
//!
//! When the run ends the Manager stops the executor's jobs and the StateMachines and hands a
//! [`RunReport`] to whoever started it.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::oneshot;

use crate::executor::Executor;
use crate::fsm::{JobPhase, SequenceOutcome};
use crate::messages::{
    Forget, JobObserved, Progress, SequenceProgress, SequenceStopped, Shutdown, StepDecision, StepFinished, Stop,
};
use crate::names::JobId;
use crate::rulebook::{self, Firing, Phase, Rulebook};
use crate::slots::{self, SlotInput, Verdict};
use crate::state_machine::{ManagerLinks, NodeTable, StateMachine};
use crate::stats::Stats;
use crate::times::{self, Times};
use crate::workflow::Workflow;

/// Mailbox capacity: every sequence may have a question pending at once (the default of 16
/// would make thousands of StateMachines queue behind each other).
pub const MAILBOX: usize = 1 << 16;

/// Test hook type: called with every StateMachine the Manager starts.
#[cfg(test)]
pub(crate) type StartHook = Box<dyn Fn(&JobId, &Addr<StateMachine>)>;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The required completions were reached, or a finish-workflow rule fired.
    Succeeded {
        /// Why, in one line.
        reason: String,
    },
    /// The failure cap was reached.
    Failed {
        /// Why, in one line.
        reason: String,
    },
    /// The run was stopped from outside (Ctrl-C, a fatal error).
    Interrupted {
        /// Why, in one line.
        reason: String,
        /// The process exit code to use.
        exit_code: i32,
    },
}

impl RunOutcome {
    /// The process exit code: 0, 1, or the interruption's code.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunOutcome::Succeeded { .. } => 0,
            RunOutcome::Failed { .. } => 1,
            RunOutcome::Interrupted { exit_code, .. } => *exit_code,
        }
    }

    /// The one-line reason.
    pub fn reason(&self) -> &str {
        match self {
            RunOutcome::Succeeded { reason }
            | RunOutcome::Failed { reason }
            | RunOutcome::Interrupted { reason, .. } => reason,
        }
    }
}

/// Counters of one step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Jobs that ended (including repeats).
    pub runs: u32,
    /// Jobs that succeeded.
    pub succeeded: u32,
    /// Jobs that failed (including those counted as success by `always-succeed`).
    pub failed: u32,
}

/// Everything a finished run knows.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// How it ended.
    pub outcome: RunOutcome,
    /// Sequences completed.
    pub completed: u32,
    /// Sequences failed.
    pub failed: u32,
    /// Sequences started.
    pub started: u32,
    /// Per-step counters, in step order.
    pub steps: Vec<StepCounts>,
    /// Node count of every step at the end (after grow/shrink).
    pub nodes: Vec<u32>,
    /// Statistics of every step and key.
    pub stats: Stats,
    /// Every rule firing, in order.
    pub firings: Vec<Firing>,
    /// Timestamps for `workflow-times.json`.
    pub times: Times,
}

/// What a supervisor does when a child sequence ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Supervision {
    /// Count a completion.
    Completed,
    /// Count a failure; the slot frees up and a new sequence may take it.
    Failed {
        /// Why the sequence failed.
        reason: String,
    },
    /// Nothing to count: the run is already over.
    Ignore,
}

/// How the Manager treats a child's end: a reported outcome counts as reported; an actor that
/// stopped without a report counts as a failed sequence (its jobs are cleaned up and a new
/// sequence takes the slot). After the run ended nothing counts any more.
pub fn supervise(reported: Option<&SequenceOutcome>, stopped_reason: Option<&str>, run_over: bool) -> Supervision {
    if run_over {
        return Supervision::Ignore;
    }
    match (reported, stopped_reason) {
        (Some(SequenceOutcome::Completed), _) => Supervision::Completed,
        (Some(SequenceOutcome::Failed { reason, .. }), _) => Supervision::Failed { reason: reason.clone() },
        (None, Some(reason)) => Supervision::Failed { reason: reason.to_string() },
        (None, None) => Supervision::Ignore,
    }
}

/// Settings of a Manager beyond the workflow.
pub struct ManagerConfig {
    /// Runs the jobs.
    pub executor: Rc<dyn Executor>,
    /// Receives counters after every change (a progress bar), if any.
    pub progress: Option<Recipient<Progress>>,
    /// Seed of the job id generator (None: from the OS).
    pub seed: Option<u64>,
    /// Receives the report when the run ends.
    pub done: oneshot::Sender<RunReport>,
    /// Told when a sequence has ended, so that it can forget it (the JobWatcher).
    pub forget: Option<Recipient<Forget>>,
}

/// The workflow's manager.
pub struct Manager {
    workflow: Arc<Workflow>,
    executor: Rc<dyn Executor>,
    progress: Option<Recipient<Progress>>,
    done: Option<oneshot::Sender<RunReport>>,
    forget: Option<Recipient<Forget>>,
    rng: StdRng,
    stats: Stats,
    rulebook: Rulebook,
    firings: Vec<Firing>,
    nodes: NodeTable,
    sequences: HashMap<JobId, Addr<StateMachine>>,
    /// Every id ever used, so that a new sequence never reuses one (its artifacts would mix).
    used_ids: HashSet<JobId>,
    /// Jobs running now (started and not ended).
    running: HashSet<(JobId, usize, u32)>,
    completed: u32,
    failed: u32,
    started: u32,
    steps: Vec<StepCounts>,
    times: Times,
    outcome: Option<RunOutcome>,
    /// A finish-workflow rule fired on a job of this sequence: the run ends as soon as that
    /// sequence has reported what it did with the job, so that it is counted too.
    finishing: Option<(JobId, RunOutcome)>,
    /// The most recent failure, for the message when the failure cap ends the run.
    last_failure: Option<String>,
    /// Log of the most recent failed job, to point the user at it.
    last_failed_log: Option<(JobId, std::path::PathBuf)>,
    /// Test hook: told about every StateMachine started.
    #[cfg(test)]
    pub(crate) on_start: Option<StartHook>,
}

impl Manager {
    /// A manager for `workflow`.
    pub fn new(workflow: Arc<Workflow>, config: ManagerConfig) -> Manager {
        let nodes: NodeTable = workflow.steps.iter().map(|s| Cell::new(s.nodes)).collect();
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Manager {
            rulebook: Rulebook::new(workflow.rules.clone()),
            steps: vec![StepCounts::default(); workflow.steps.len()],
            workflow,
            executor: config.executor,
            progress: config.progress,
            done: Some(config.done),
            forget: config.forget,
            rng,
            stats: Stats::new(),
            firings: Vec::new(),
            nodes,
            sequences: HashMap::new(),
            used_ids: HashSet::new(),
            running: HashSet::new(),
            completed: 0,
            failed: 0,
            started: 0,
            times: Times::default(),
            outcome: None,
            finishing: None,
            last_failure: None,
            last_failed_log: None,
            #[cfg(test)]
            on_start: None,
        }
    }

    fn slot_input(&self) -> SlotInput {
        SlotInput {
            completions_needed: self.workflow.completed,
            completed: self.completed,
            active: self.sequences.len() as u32,
            failed: self.failed,
            max_failures: self.workflow.max_failures,
            first_step_nodes: self.nodes.first().map(Cell::get).unwrap_or(1),
            max_size: self.workflow.max_size,
        }
    }

    /// Starts as many sequences as the slots allow.
    fn fill(&mut self, ctx: &mut Context<Self>) {
        if self.outcome.is_some() {
            return;
        }
        let decision = slots::decide(&self.slot_input());
        if decision.start == 0 {
            return;
        }
        tracing::debug!(
            first_step = %self.workflow.steps.first().map(|s| s.name.as_str()).unwrap_or(""),
            completions = self.completed,
            needed = self.workflow.completed,
            jobs_needed = decision.jobs_needed,
            nodes_allowed = decision.nodes_allowed,
            jobs_allowed = decision.jobs_allowed,
            active = self.sequences.len(),
            starting = decision.start,
            "starting sequences"
        );
        let links = ManagerLinks {
            finished: ctx.address().recipient(),
            progress: ctx.address().recipient(),
            stopped: ctx.address().recipient(),
        };
        for _ in 0..decision.start {
            let id = loop {
                let id = JobId::generate(&self.workflow.prefix, &mut self.rng);
                if self.used_ids.insert(id.clone()) {
                    break id;
                }
            };
            let machine = StateMachine::new(
                id.clone(),
                self.workflow.clone(),
                self.executor.clone(),
                self.nodes.clone(),
                links.clone(),
            );
            self.started += 1;
            let addr = machine.start();
            #[cfg(test)]
            if let Some(hook) = &self.on_start {
                hook(&id, &addr);
            }
            self.sequences.insert(id, addr);
        }
        self.report_progress();
    }

    fn report_progress(&self) {
        if let Some(p) = &self.progress {
            p.do_send(Progress {
                wanted: self.workflow.completed,
                completed: self.completed,
                active: self.sequences.len() as u32,
                failed: self.failed,
                jobs_running: self.running.len() as u32,
            });
        }
    }

    fn step_name(&self, step: usize) -> &str {
        self.workflow.steps.get(step).map(|s| s.name.as_str()).unwrap_or("?")
    }

    fn evaluate(&mut self, step: usize, phase: Phase) -> Vec<Firing> {
        let name = self.step_name(step).to_string();
        let nodes = self.nodes.clone();
        let workflow = self.workflow.clone();
        let lookup = move |s: &str| workflow.step_index(s).and_then(|i| nodes.get(i)).map(Cell::get).unwrap_or(1);
        let context =
            rulebook::Context { completions: self.completed, cluster_max: self.workflow.max_size, nodes: &lookup };
        let firings = self.rulebook.evaluate(&name, phase, &self.stats, &context);
        for f in &firings {
            tracing::info!(rule = f.rule, "rule fired: {f}");
        }
        self.firings.extend(firings.iter().cloned());
        firings
    }

    /// Ends the run once: stops jobs and children, hands over the report.
    fn finish(&mut self, outcome: RunOutcome, ctx: &mut Context<Self>) {
        if self.outcome.is_some() {
            return;
        }
        tracing::info!(
            reason = outcome.reason(),
            "workflow {}",
            match outcome {
                RunOutcome::Succeeded { .. } => "succeeded",
                RunOutcome::Failed { .. } => "failed",
                RunOutcome::Interrupted { .. } => "interrupted",
            }
        );
        self.times.mark("workflow_complete".into(), times::now());
        self.outcome = Some(outcome.clone());
        for (_, addr) in self.sequences.drain() {
            addr.do_send(Stop);
        }
        self.report_progress();
        let shutdown = self.executor.shutdown();
        let report = RunReport {
            outcome,
            completed: self.completed,
            failed: self.failed,
            started: self.started,
            steps: self.steps.clone(),
            nodes: self.nodes.iter().map(Cell::get).collect(),
            stats: self.stats.clone(),
            firings: self.firings.clone(),
            times: self.times.clone(),
        };
        let done = self.done.take();
        shutdown
            .into_actor(self)
            .map(move |(), _, ctx| {
                if let Some(done) = done {
                    let _ = done.send(report);
                }
                ctx.stop();
            })
            .wait(ctx);
    }

    fn check_verdict(&mut self, ctx: &mut Context<Self>) {
        match slots::verdict(&self.slot_input()) {
            Verdict::Running => self.fill(ctx),
            Verdict::Succeeded => {
                let reason = format!("{}/{} sequences completed", self.completed, self.workflow.completed);
                self.finish(RunOutcome::Succeeded { reason }, ctx);
            }
            Verdict::Failed { reason } => {
                let reason = match &self.last_failure {
                    Some(last) => format!("{reason}; last failure: {last}"),
                    None => reason,
                };
                self.finish(RunOutcome::Failed { reason }, ctx)
            }
        }
    }

    /// Evaluates grow / shrink / finish-workflow rules after a job of `step` ended.
    fn apply_workflow_rules(&mut self, step: usize, jobid: &JobId, ctx: &mut Context<Self>) {
        for firing in self.evaluate(step, Phase::Workflow) {
            match firing.effect {
                rulebook::Effect::Resize { step, to, .. } => {
                    if let Some(cell) = self.workflow.step_index(&step).and_then(|i| self.nodes.get(i)) {
                        cell.set(to);
                    }
                }
                rulebook::Effect::FinishWorkflow => {
                    let outcome = RunOutcome::Succeeded { reason: format!("rule {firing} fired") };
                    if self.sequences.contains_key(jobid) {
                        // Let the asking sequence apply and report this job first.
                        self.finishing = Some((jobid.clone(), outcome));
                    } else {
                        self.finish(outcome, ctx);
                    }
                    return;
                }
                rulebook::Effect::Repeat { .. } => {}
            }
        }
    }

    fn forget(&self, jobid: &JobId) {
        if let Some(f) = &self.forget {
            f.do_send(Forget { jobid: jobid.clone() });
        }
    }

    fn count(&mut self, supervision: Supervision, jobid: &JobId) {
        match supervision {
            Supervision::Completed => self.completed += 1,
            Supervision::Failed { reason } => {
                self.failed += 1;
                tracing::info!(%jobid, %reason, "sequence failed");
                let log = match &self.last_failed_log {
                    Some((id, log)) if id == jobid => format!(" (log: {})", log.display()),
                    _ => String::new(),
                };
                self.last_failure = Some(format!("{jobid}: {reason}{log}"));
            }
            Supervision::Ignore => {}
        }
    }
}

impl Actor for Manager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Thousands of StateMachines report here; the default mailbox of 16 would make
        // their sends wait on each other.
        ctx.set_mailbox_capacity(MAILBOX);
        self.times.mark("workflow_start".into(), times::now());
        tracing::info!(
            workflow = %self.workflow.name,
            completions = self.workflow.completed,
            max_size = self.workflow.max_size,
            steps = self.workflow.steps.len(),
            "workflow started"
        );
        self.check_verdict(ctx);
    }
}

impl Handler<JobObserved> for Manager {
    type Result = ();

    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) {
        let key = (msg.jobid.clone(), msg.step, msg.attempt);
        let now = times::now();
        let step = self.step_name(msg.step).to_string();
        // A job starts when it runs, not while it waits for node slots, and ends when the
        // executor sees it end (metrics parsed from its log afterwards are not part of it).
        // Once the run is ending, jobs still in flight are no part of it (they are not counted).
        if self.outcome.is_none() && self.finishing.is_none() {
            let key = times::job_key(msg.jobid.as_str(), &step, msg.attempt);
            match msg.phase {
                JobPhase::Pending => {}
                JobPhase::Running => self.times.mark(format!("{key}_start"), now),
                JobPhase::Succeeded => self.times.mark(format!("{key}_succeeded"), now),
                JobPhase::Failed { .. } => self.times.mark(format!("{key}_failed"), now),
            }
        }
        if let (JobPhase::Failed { .. }, Some(log)) = (&msg.phase, &msg.log) {
            self.last_failed_log = Some((msg.jobid.clone(), log.clone()));
        }
        let changed = match &msg.phase {
            JobPhase::Pending => false,
            JobPhase::Running => self.running.insert(key),
            JobPhase::Succeeded | JobPhase::Failed { .. } => self.running.remove(&key),
        };
        if changed {
            self.report_progress();
        }
        match self.sequences.get(&msg.jobid) {
            Some(addr) if msg.phase.is_terminal() => addr.do_send(msg),
            Some(_) => {}
            None => tracing::debug!(jobid = %msg.jobid, step, "event of a sequence that is no longer tracked"),
        }
    }
}

impl Handler<StepFinished> for Manager {
    type Result = StepDecision;

    fn handle(&mut self, msg: StepFinished, ctx: &mut Self::Context) -> StepDecision {
        if self.outcome.is_some() || self.finishing.is_some() {
            return StepDecision { repeat: false, stop: true };
        }
        let step = self.step_name(msg.step).to_string();
        // Job counters belong to the job's end, whatever the sequence then does with it.
        if let Some(c) = self.steps.get_mut(msg.step) {
            c.runs += 1;
            match msg.phase {
                JobPhase::Succeeded => c.succeeded += 1,
                _ => c.failed += 1,
            }
        }
        let key = match msg.phase {
            JobPhase::Succeeded => "success",
            _ => "failure",
        };
        self.stats.increment(&step, key);
        if let Some(d) = msg.duration {
            self.stats.record(&step, "duration", d.as_secs_f64());
        }
        for (metric, value) in &msg.metrics {
            self.stats.record(&step, metric, *value);
        }

        let repeat = self
            .evaluate(msg.step, Phase::Sequence)
            .iter()
            .any(|f| matches!(f.effect, rulebook::Effect::Repeat { .. }));
        // Workflow rules act on the metric the moment it crosses its threshold: evaluated here,
        // no other job's end can slip in between (the StateMachine reports its progress later).
        self.apply_workflow_rules(msg.step, &msg.jobid, ctx);
        StepDecision { repeat, stop: false }
    }
}

impl Handler<SequenceProgress> for Manager {
    type Result = ();

    fn handle(&mut self, msg: SequenceProgress, ctx: &mut Self::Context) {
        if let Some(finished) = &msg.finished {
            self.sequences.remove(&msg.jobid);
            self.forget(&msg.jobid);
            // Name the step in the reason: it ends up in the run's failure message.
            let finished = match finished {
                SequenceOutcome::Failed { step, reason } => SequenceOutcome::Failed {
                    step: *step,
                    reason: format!("step {} failed: {reason}", self.step_name(*step)),
                },
                other => other.clone(),
            };
            let supervision = supervise(Some(&finished), None, self.outcome.is_some());
            self.count(supervision, &msg.jobid);
        }
        if self.outcome.is_some() {
            return;
        }
        if self.finishing.as_ref().is_some_and(|(id, _)| *id == msg.jobid) {
            if let Some((_, outcome)) = self.finishing.take() {
                self.finish(outcome, ctx);
            }
            return;
        }
        self.report_progress();
        self.check_verdict(ctx);
    }
}

impl Handler<SequenceStopped> for Manager {
    type Result = ();

    fn handle(&mut self, msg: SequenceStopped, ctx: &mut Self::Context) {
        // Only a child still on the books stopped unexpectedly; one that reported is gone already.
        if self.sequences.remove(&msg.jobid).is_none() {
            return;
        }
        self.forget(&msg.jobid);
        tracing::warn!(jobid = %msg.jobid, reason = %msg.reason, "sequence actor stopped; cleaning up and replacing it");
        let cleanup = self.executor.cleanup(&msg.jobid);
        actix::spawn(async move {
            let _ = cleanup.await;
        });
        let supervision = supervise(None, Some(&msg.reason), self.outcome.is_some());
        self.count(supervision, &msg.jobid);
        if self.finishing.as_ref().is_some_and(|(id, _)| *id == msg.jobid) {
            if let Some((_, outcome)) = self.finishing.take() {
                self.finish(outcome, ctx);
            }
            return;
        }
        self.check_verdict(ctx);
    }
}

impl Handler<Shutdown> for Manager {
    type Result = ();

    fn handle(&mut self, msg: Shutdown, ctx: &mut Self::Context) {
        self.finish(RunOutcome::Interrupted { reason: msg.reason, exit_code: msg.exit_code }, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_table() {
        let failed = SequenceOutcome::Failed { step: 1, reason: "exit code 1".into() };
        let cases: &[(Option<&SequenceOutcome>, Option<&str>, bool, Supervision)] = &[
            (Some(&SequenceOutcome::Completed), None, false, Supervision::Completed),
            (Some(&failed), None, false, Supervision::Failed { reason: "exit code 1".into() }),
            (None, Some("crashed"), false, Supervision::Failed { reason: "crashed".into() }),
            // A report wins over a stop notice: the sequence did end as reported.
            (Some(&SequenceOutcome::Completed), Some("stopped"), false, Supervision::Completed),
            (None, None, false, Supervision::Ignore),
            // After the run ended nothing is counted any more.
            (Some(&SequenceOutcome::Completed), None, true, Supervision::Ignore),
            (None, Some("crashed"), true, Supervision::Ignore),
        ];
        for (reported, stopped, over, want) in cases {
            assert_eq!(&supervise(*reported, *stopped, *over), want, "{reported:?} {stopped:?} {over}");
        }
    }

    #[test]
    fn exit_codes_follow_the_outcome() {
        assert_eq!(RunOutcome::Succeeded { reason: String::new() }.exit_code(), 0);
        assert_eq!(RunOutcome::Failed { reason: String::new() }.exit_code(), 1);
        assert_eq!(RunOutcome::Interrupted { reason: String::new(), exit_code: 130 }.exit_code(), 130);
    }
}
