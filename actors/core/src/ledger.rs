//! The run ledger: everything a workflow run counts, in one pure type.
//!
//! The Manager actor is a thin shell around a [`Ledger`]: it tells the ledger what happened
//! ([`Ledger::job_observed`], [`Ledger::job_ended`], [`Ledger::sequence_started`],
//! [`Ledger::sequence_ended`]) and carries out what the ledger answers (start sequences, repeat a
//! step, stop submitting, end the run). `smo run` prints the ledger's [`RunReport`]; the
//! operator's status writer reads the same ledger.
//!
//! Memory does not grow with the sequences a run has finished: per-sequence entries exist only
//! while a sequence is live, statistics keep a bounded sample ([`Stats`]), and rule firings are
//! kept as a tally per rule plus the last [`RECENT_FIRINGS`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::api::ShutdownStrategy;
use crate::fsm::{JobPhase, SequenceOutcome};
use crate::names::JobId;
use crate::rulebook::{Facts, Firing, RuleEffect, Rulebook, Scope};
use crate::slots::{self, SlotDecision, SlotInput, Verdict};
use crate::stats::{Model, Stats};
use crate::workflow::Workflow;

/// How many of the latest rule firings status shows.
pub const STATUS_FIRINGS: usize = 5;

/// What a run's ledger knows, for status (small: counters and one entry per step).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Sequence counters.
    pub counts: Counts,
    /// Sequences started (restored ones included).
    pub started: u32,
    /// Per step, in step order.
    pub steps: Vec<StepSnapshot>,
    /// Rule firings so far.
    pub fired: u32,
    /// The latest firings, newest last (at most [`STATUS_FIRINGS`]), as the log shows them.
    pub recent_firings: Vec<String>,
    /// How the run ended, once it has.
    pub outcome: Option<RunOutcome>,
    /// The workflow is suspended.
    pub suspended: bool,
    /// The workflow is being ended before it is done (`spec.shutdown`), until it has ended.
    pub shutdown: Option<ShutdownStrategy>,
    /// Why step Pods cannot start now, one line per waiting job (`step a (jobid): why`), at
    /// most [`STATUS_WAITING`].
    pub waiting: Vec<String>,
    /// The node budget now (`cluster.maxSize`, as edited).
    pub max_size: u32,
}

/// The most "cannot start" lines a [`Snapshot`] carries.
pub const STATUS_WAITING: usize = 3;

/// One step's counters and durations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepSnapshot {
    /// Step name.
    pub name: String,
    /// Jobs of the step running now.
    pub active: u32,
    /// Jobs that succeeded.
    pub succeeded: u32,
    /// Jobs that failed.
    pub failed: u32,
    /// Nodes the step's next job asks for.
    pub nodes: u32,
    /// Median duration of its ended jobs, in seconds.
    pub median_seconds: Option<f64>,
    /// 95th percentile of the durations of its ended jobs, in seconds, interpolated between
    /// the closest ranks as the median is (and as `smo run`'s summary and `smo report` say it).
    pub p95_seconds: Option<f64>,
    /// Longest duration of its ended jobs, in seconds.
    pub max_seconds: Option<f64>,
}

/// How many of the latest rule firings the ledger keeps (for status and the summary).
pub const RECENT_FIRINGS: usize = 16;

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
    /// The run was ended before it was done, as its workflow's `shutdown` asked (`smo stop`):
    /// it failed, and is not run again.
    Stopped {
        /// How it was ended.
        strategy: ShutdownStrategy,
        /// Why, in one line (the strategy and the counts).
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
            RunOutcome::Failed { .. } | RunOutcome::Stopped { .. } => 1,
            RunOutcome::Interrupted { exit_code, .. } => *exit_code,
        }
    }

    /// The one-line reason.
    pub fn reason(&self) -> &str {
        match self {
            RunOutcome::Succeeded { reason }
            | RunOutcome::Failed { reason }
            | RunOutcome::Stopped { reason, .. }
            | RunOutcome::Interrupted { reason, .. } => reason,
        }
    }

    /// `succeeded`, `failed`, `stopped` or `interrupted`.
    pub fn verb(&self) -> &'static str {
        match self {
            RunOutcome::Succeeded { .. } => "succeeded",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::Stopped { .. } => "stopped",
            RunOutcome::Interrupted { .. } => "interrupted",
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

/// How often a rule fired, and its latest firing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleTally {
    /// Times it fired.
    pub fired: u32,
    /// The latest firing.
    pub last: Option<Firing>,
}

/// The counters shown while a run goes on (progress bar, status).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sequences that must complete.
    pub wanted: u32,
    /// Sequences completed.
    pub completed: u32,
    /// Sequences running.
    pub active: u32,
    /// Sequences failed.
    pub failed: u32,
    /// Jobs running now.
    pub jobs_running: u32,
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
    /// Sequences started (restored ones included).
    pub started: u32,
    /// Per-step counters, in step order.
    pub steps: Vec<StepCounts>,
    /// Node count of every step at the end (after grow/shrink).
    pub nodes: Vec<u32>,
    /// Statistics of every step and key.
    pub stats: Stats,
    /// Firings per rule, in rule order.
    pub rules: Vec<RuleTally>,
    /// The latest firings, oldest first (at most [`RECENT_FIRINGS`]).
    pub recent_firings: Vec<Firing>,
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

/// How a child's end counts: a reported outcome counts as reported; an actor that stopped
/// without a report counts as a failed sequence (its jobs are cleaned up and a new sequence takes
/// the slot). After the run ended nothing counts any more.
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

/// What the ledger made of a job's phase as observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The job is of a sequence that is not live, or it already ended (a re-list repeats old
    /// events): nothing changes and nothing is forwarded.
    Stale,
    /// Counted; the number of running jobs did not change.
    Recorded,
    /// Counted; the number of running jobs changed (tell the progress display).
    RunningChanged,
}

/// What the sequence whose job ended does next (the answer to its question).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Carry on; `repeat` when a repeat rule fired for the step.
    Continue {
        /// Run the step again instead of advancing (if it succeeded).
        repeat: bool,
        /// The workflow is suspended or stopping: record the job, but submit the sequence's
        /// next job only once it is resumed (or the stop withdrawn).
        hold: bool,
    },
    /// The run ends because of this job (a finish-workflow rule fired): apply the job's outcome
    /// and report it, so that the sequence is counted, but submit nothing more.
    Conclude,
    /// The run is over or ending because of another sequence: stop at once.
    Stop,
}

/// What an earlier life of a run counted that its executor can no longer show: a failed
/// sequence's jobs are deleted with it, rules' resizing lives only in the ledger, and the jobs
/// of completed sequences can be deleted by the cluster itself (a garbage collector that took
/// the resource for gone while the apiserver restarted, kubernetes#104342). The operator reads
/// it from the resource's status when it takes a run over after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Carried {
    /// Sequences completed.
    pub completed: u32,
    /// The job ids of sequences the kept timeline shows completed: one of them restored from
    /// what is left of its jobs is not run again ([`Times::completed_sequences`]).
    ///
    /// [`Times::completed_sequences`]: crate::times::Times::completed_sequences
    pub completed_sequences: std::collections::BTreeSet<String>,
    /// Sequences failed.
    pub failed: u32,
    /// Rule firings.
    pub fired: u32,
    /// The latest firings as status shows them, newest last.
    pub recent_firings: Vec<String>,
    /// Per step, by name.
    pub steps: Vec<CarriedStep>,
}

/// One step's part of [`Carried`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CarriedStep {
    /// Step name.
    pub name: String,
    /// Jobs that succeeded.
    pub succeeded: u32,
    /// Jobs that failed.
    pub failed: u32,
    /// Nodes its next job asks for (after grow/shrink); 0: unknown.
    pub nodes: u32,
}

/// The run's bookkeeping (see the module docs).
#[derive(Debug)]
pub struct Ledger {
    workflow: Arc<Workflow>,
    nodes: Vec<u32>,
    steps: Vec<StepCounts>,
    completed: u32,
    failed: u32,
    started: u32,
    /// Per live sequence: its jobs running now, and the last `(step, attempt)` that ended.
    live: HashMap<JobId, Live>,
    jobs_running: u32,
    stats: Stats,
    rulebook: Rulebook,
    tallies: Vec<RuleTally>,
    /// Firings counted by an earlier life of the run, and its latest as status showed them
    /// ([`Ledger::carry_over`]).
    fired_before: u32,
    recent_before: Vec<String>,
    recent: VecDeque<Firing>,
    last_failure: Option<String>,
    /// Log of the most recent failed job, to point the user at it.
    last_failed_log: Option<(JobId, String)>,
    outcome: Option<RunOutcome>,
    /// A finish-workflow rule fired on a job of this sequence: the run ends once that sequence
    /// has reported what it did with the job.
    finishing: Option<(JobId, RunOutcome)>,
}

/// What the ledger knows of one live sequence.
#[derive(Debug, Default)]
struct Live {
    running: Vec<(usize, u32)>,
    ended: Option<(usize, u32)>,
    /// Why its current job's Pod cannot start (the step, the reason), until it starts or ends.
    waiting: Option<(usize, String)>,
    /// Whether its next job is held.
    hold: Hold,
}

/// Whether a live sequence's next job is held (the workflow is suspended or stopping). A
/// stopping workflow ends once every live sequence holds: none has a job submitted, running or
/// about to be submitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Hold {
    /// It has a job submitted or running (or submits one now).
    #[default]
    No,
    /// Its job ended and it was told to hold the next; until it says what it did with the job
    /// ([`Ledger::sequence_applied`]) it may yet finish (and be counted), so it is not idle.
    Told,
    /// Its next job waits: nothing of it runs.
    Holding,
}

impl Ledger {
    /// An empty ledger for `workflow`.
    pub fn new(workflow: Arc<Workflow>) -> Ledger {
        let rulebook = Rulebook::new(workflow.rules.clone());
        Ledger {
            nodes: workflow.steps.iter().map(|s| s.nodes).collect(),
            steps: vec![StepCounts::default(); workflow.steps.len()],
            tallies: vec![RuleTally::default(); workflow.rules.len()],
            rulebook,
            workflow,
            fired_before: 0,
            recent_before: Vec::new(),
            completed: 0,
            failed: 0,
            started: 0,
            live: HashMap::new(),
            jobs_running: 0,
            stats: Stats::new(),
            recent: VecDeque::new(),
            last_failure: None,
            last_failed_log: None,
            outcome: None,
            finishing: None,
        }
    }

    /// The workflow counted.
    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    /// The current node count of `step` (after grow/shrink).
    pub fn nodes(&self, step: usize) -> u32 {
        self.nodes.get(step).copied().unwrap_or(1)
    }

    /// The current node count of every step.
    pub fn all_nodes(&self) -> &[u32] {
        &self.nodes
    }

    /// Whether jobs still count: no outcome yet and no finish pending.
    pub fn accepting(&self) -> bool {
        self.outcome.is_none() && self.finishing.is_none()
    }

    /// The outcome, once the run has ended.
    pub fn outcome(&self) -> Option<&RunOutcome> {
        self.outcome.as_ref()
    }

    /// The progress counters.
    pub fn counts(&self) -> Counts {
        Counts {
            wanted: self.workflow.completed,
            completed: self.completed,
            active: self.live.len() as u32,
            failed: self.failed,
            jobs_running: self.jobs_running,
        }
    }

    /// Per-step counters.
    pub fn step_counts(&self) -> &[StepCounts] {
        &self.steps
    }

    /// Statistics of every step and key.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A sequence started (or was restored and is running).
    pub fn sequence_started(&mut self, jobid: JobId) {
        self.started += 1;
        self.live.entry(jobid).or_default();
    }

    /// A sequence that ended before a restart, found again: counted as it ended then.
    pub fn sequence_restored_ended(&mut self, outcome: &SequenceOutcome) {
        self.started += 1;
        match outcome {
            SequenceOutcome::Completed => self.completed += 1,
            SequenceOutcome::Failed { .. } => self.failed += 1,
        }
    }

    /// A job that ended before a restart, found again: its step's counters include it.
    pub fn job_restored_ended(&mut self, step: usize, phase: &JobPhase) {
        self.count_job(step, phase);
    }

    /// Takes what an earlier life of the run counted (see [`Carried`]), once everything the
    /// executor still has was restored. Each counter becomes the larger of the two: what was
    /// counted before the restart and is still to be seen is not counted twice, and what the
    /// earlier life could not write down any more (it died within a status interval of it) is
    /// not lost while its jobs remain. Node counts resized by rules stay resized.
    pub fn carry_over(&mut self, earlier: &Carried) {
        if earlier.completed > self.completed {
            self.started += earlier.completed - self.completed;
            self.completed = earlier.completed;
        }
        if earlier.failed > self.failed {
            self.started += earlier.failed - self.failed;
            self.failed = earlier.failed;
        }
        self.fired_before = earlier.fired.saturating_sub(self.tallies.iter().map(|t| t.fired).sum());
        self.recent_before = earlier.recent_firings.clone();
        for carried in &earlier.steps {
            let Some(i) = self.workflow.step_index(&carried.name) else { continue };
            if let Some(c) = self.steps.get_mut(i) {
                c.succeeded = c.succeeded.max(carried.succeeded);
                c.failed = c.failed.max(carried.failed);
                c.runs = c.runs.max(c.succeeded + c.failed);
            }
            if carried.nodes > 0
                && carried.nodes <= self.workflow.max_size
                && let Some(n) = self.nodes.get_mut(i)
            {
                *n = carried.nodes;
            }
        }
    }

    /// A job's phase as observed. Events of sequences that are not live and non-terminal events
    /// of jobs that already ended are [`Observation::Stale`]: a watch re-list repeats old events,
    /// and counting them would leave a "running" job behind forever.
    pub fn job_observed(&mut self, jobid: &JobId, step: usize, attempt: u32, phase: &JobPhase) -> Observation {
        let Some(live) = self.live.get_mut(jobid) else {
            return Observation::Stale;
        };
        let position = (step, attempt);
        if live.ended.is_some_and(|ended| position <= ended) {
            return Observation::Stale;
        }
        if !matches!(phase, JobPhase::Pending) {
            live.waiting = None;
        }
        match phase {
            JobPhase::Pending => Observation::Recorded,
            JobPhase::Running if live.running.contains(&position) => Observation::Recorded,
            JobPhase::Running => {
                live.running.push(position);
                self.jobs_running += 1;
                Observation::RunningChanged
            }
            JobPhase::Succeeded | JobPhase::Failed { .. } => {
                live.ended = Some(position);
                let before = live.running.len();
                live.running.retain(|p| *p != position);
                let stopped = (before - live.running.len()) as u32;
                self.jobs_running -= stopped;
                if stopped > 0 { Observation::RunningChanged } else { Observation::Recorded }
            }
        }
    }

    /// A job of a live sequence cannot start yet (its Pod unschedulable, its image not pulled),
    /// `why` in the scheduler's or the kubelet's words: the status says so until the job starts
    /// or ends.
    pub fn job_waiting(&mut self, jobid: &JobId, step: usize, why: &str) {
        if let Some(live) = self.live.get_mut(jobid) {
            live.waiting = Some((step, why.to_string()));
        }
    }

    /// Where the log of a failed job is, for the failure message.
    pub fn note_failed_log(&mut self, jobid: &JobId, log: String) {
        self.last_failed_log = Some((jobid.clone(), log));
    }

    /// A job of a live sequence ended and its metrics were read: counts it, records its
    /// statistics, evaluates the rules and says what the sequence does next. Once the run is
    /// over or ending nothing is counted and the answer is [`Next::Stop`]. Returns the firings
    /// too, for logs and events.
    pub fn job_ended(
        &mut self,
        jobid: &JobId,
        step: usize,
        phase: &JobPhase,
        duration: Option<f64>,
        metrics: &[(String, f64)],
    ) -> (Next, Vec<Firing>) {
        if !self.accepting() {
            return (Next::Stop, Vec::new());
        }
        self.count_job(step, phase);
        let name = self.step_name(step).to_string();
        let key = match phase {
            JobPhase::Succeeded => "success",
            _ => "failure",
        };
        self.stats.increment(&name, key);
        if let Some(d) = duration {
            self.stats.record(&name, "duration", d);
        }
        for (metric, value) in metrics {
            self.stats.record(&name, metric, *value);
        }
        let mut firings = self.evaluate(&name, Scope::Sequence);
        let repeat = firings.iter().any(|f| matches!(f.effect, RuleEffect::Repeat { .. }));
        // Workflow rules act on the metric the moment it crosses its threshold: evaluated here,
        // no other job's end can slip in between.
        for firing in self.evaluate(&name, Scope::Workflow) {
            let finish = matches!(firing.effect, RuleEffect::FinishWorkflow);
            if let RuleEffect::Resize { step, to, .. } = &firing.effect
                && let Some(i) = self.workflow.step_index(step)
                && let Some(n) = self.nodes.get_mut(i)
            {
                *n = *to;
            }
            let reason = format!("rule {firing} fired");
            firings.push(firing);
            if finish {
                let outcome = RunOutcome::Succeeded { reason };
                if self.live.contains_key(jobid) {
                    self.finishing = Some((jobid.clone(), outcome));
                    return (Next::Conclude, firings);
                }
                self.outcome = Some(outcome);
                return (Next::Stop, firings);
            }
        }
        let hold = self.holding();
        if hold && let Some(live) = self.live.get_mut(jobid) {
            live.hold = Hold::Told;
        }
        (Next::Continue { repeat, hold }, firings)
    }

    /// Whether the workflow holds its sequences' next jobs: suspended, or being stopped.
    pub fn holding(&self) -> bool {
        self.workflow.suspended || self.workflow.shutdown.is_some()
    }

    /// A live sequence applied its job's end and carries on (it did not finish): told to hold,
    /// its next job now waits.
    pub fn sequence_applied(&mut self, jobid: &JobId) {
        if let Some(live) = self.live.get_mut(jobid)
            && live.hold == Hold::Told
        {
            live.hold = Hold::Holding;
        }
    }

    /// A sequence restored while the workflow holds, whose next job waits (nothing of it runs).
    pub fn sequence_holding(&mut self, jobid: &JobId) {
        if let Some(live) = self.live.get_mut(jobid) {
            live.hold = Hold::Holding;
        }
    }

    /// A live sequence ended as `supervision` says. Returns the outcome of the run if this ends
    /// it (the sequence that concluded a finish-workflow rule has reported).
    pub fn sequence_ended(&mut self, jobid: &JobId, supervision: Supervision) -> Option<RunOutcome> {
        let live = self.live.remove(jobid)?;
        self.jobs_running -= live.running.len() as u32;
        match supervision {
            Supervision::Completed => self.completed += 1,
            Supervision::Failed { reason } => {
                self.failed += 1;
                let log = match &self.last_failed_log {
                    Some((id, log)) if id == jobid => format!(" (log: {log})"),
                    _ => String::new(),
                };
                self.last_failure = Some(format!("{jobid}: {reason}{log}"));
            }
            Supervision::Ignore => {}
        }
        if self.finishing.as_ref().is_some_and(|(id, _)| id == jobid) {
            let (_, outcome) = self.finishing.take()?;
            return self.end(outcome);
        }
        None
    }

    /// Whether `jobid` is the sequence whose job fired a finish-workflow rule (the run ends when
    /// it has reported).
    pub fn is_concluding(&self, jobid: &JobId) -> bool {
        self.finishing.as_ref().is_some_and(|(id, _)| id == jobid)
    }

    /// Whether `jobid` is a live sequence.
    pub fn is_live(&self, jobid: &JobId) -> bool {
        self.live.contains_key(jobid)
    }

    /// How many sequences to start now (none once the run is over or ending).
    pub fn decide(&self) -> SlotDecision {
        // Suspended or stopping: no new sequence starts (those running wait at their next step).
        if !self.accepting() || self.holding() {
            return SlotDecision::default();
        }
        slots::decide(&self.slot_input())
    }

    /// Whether the counts end the run: the required completions reached, the failure cap with
    /// nothing left running, or a stop (`shutdown`) — `Terminate` at once, `Stop` once no
    /// sequence has a job submitted or running. Ends it if so and returns the outcome.
    pub fn conclude(&mut self) -> Option<RunOutcome> {
        if !self.accepting() {
            return None;
        }
        match slots::verdict(&self.slot_input()) {
            Verdict::Running => {
                let strategy = self.workflow.shutdown?;
                let busy = self.live.values().filter(|l| l.hold != Hold::Holding).count();
                if strategy == ShutdownStrategy::Stop && busy > 0 {
                    return None;
                }
                let Counts { wanted, completed, failed, .. } = self.counts();
                let stopped = self.live.len();
                let reason = format!(
                    "stopped with strategy '{strategy}' (spec.shutdown): {completed}/{wanted} sequences completed, \
                     {failed} failed, {stopped} stopped before their end"
                );
                self.end(RunOutcome::Stopped { strategy, reason })
            }
            Verdict::Succeeded => {
                let reason = format!("{}/{} sequences completed", self.completed, self.workflow.completed);
                self.end(RunOutcome::Succeeded { reason })
            }
            Verdict::Failed { reason } => {
                let reason = match &self.last_failure {
                    Some(last) => format!("{reason}; last failure: {last}"),
                    None => reason,
                };
                self.end(RunOutcome::Failed { reason })
            }
        }
    }

    /// Ends the run with `outcome` unless it has ended already; returns it if it did end now.
    pub fn end(&mut self, outcome: RunOutcome) -> Option<RunOutcome> {
        if self.outcome.is_some() {
            return None;
        }
        self.finishing = None;
        self.outcome = Some(outcome.clone());
        Some(outcome)
    }

    /// The report of the run (its outcome: as ended, or `Interrupted` if it has not).
    pub fn report(&self) -> RunReport {
        let outcome = self
            .outcome
            .clone()
            .unwrap_or(RunOutcome::Interrupted { reason: "the run has not ended".into(), exit_code: 1 });
        RunReport {
            outcome,
            completed: self.completed,
            failed: self.failed,
            started: self.started,
            steps: self.steps.clone(),
            nodes: self.nodes.clone(),
            stats: self.stats.clone(),
            rules: self.tallies.clone(),
            recent_firings: self.recent.iter().cloned().collect(),
        }
    }

    /// What status shows of the run now: counters, one entry per step, the latest firings.
    /// Costs one pass over the live sequences (callers ask about once a second).
    pub fn snapshot(&self) -> Snapshot {
        let mut active = vec![0_u32; self.workflow.steps.len()];
        for live in self.live.values() {
            for (step, _) in &live.running {
                if let Some(a) = active.get_mut(*step) {
                    *a += 1;
                }
            }
        }
        let steps = self
            .workflow
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let counts = self.steps.get(i).cloned().unwrap_or_default();
                StepSnapshot {
                    name: step.name.clone(),
                    active: active.get(i).copied().unwrap_or(0),
                    succeeded: counts.succeeded,
                    failed: counts.failed,
                    nodes: self.nodes(i),
                    median_seconds: self.stats.quantile(&step.name, "duration", 0.5),
                    p95_seconds: self.stats.quantile(&step.name, "duration", 0.95),
                    max_seconds: self.stats.value(Model::Max, &step.name, "duration"),
                }
            })
            .collect();
        let recent: Vec<String> =
            self.recent_before.iter().cloned().chain(self.recent.iter().map(ToString::to_string)).collect();
        let skip = recent.len().saturating_sub(STATUS_FIRINGS);
        Snapshot {
            counts: self.counts(),
            started: self.started,
            steps,
            fired: self.fired_before + self.tallies.iter().map(|t| t.fired).sum::<u32>(),
            recent_firings: recent.into_iter().skip(skip).collect(),
            outcome: self.outcome.clone(),
            suspended: self.workflow.suspended,
            shutdown: self.workflow.shutdown.filter(|_| self.outcome.is_none()),
            waiting: self.waiting(),
            max_size: self.workflow.max_size,
        }
    }

    /// Why step Pods cannot start now ([`Snapshot::waiting`]), by job id for a stable order.
    fn waiting(&self) -> Vec<String> {
        let mut waiting: Vec<(&JobId, usize, &str)> = self
            .live
            .iter()
            .filter_map(|(jobid, live)| live.waiting.as_ref().map(|(step, why)| (jobid, *step, why.as_str())))
            .collect();
        waiting.sort_unstable();
        waiting
            .into_iter()
            .take(STATUS_WAITING)
            .map(|(jobid, step, why)| {
                let name = self.workflow.steps.get(step).map_or("?", |s| s.name.as_str());
                format!("step {name} ({jobid}): {why}")
            })
            .collect()
    }

    /// Takes the settings a running workflow can change from `new` (the same workflow, its
    /// spec edited): wanted completions, node budget, failure cap, suspension, shutdown and,
    /// when `rules_changed`, the rules — whose state (repetitions, backoff, tallies) then
    /// starts afresh. Node counts that rules have resized stay. The caller then asks
    /// [`Ledger::conclude`] and [`Ledger::decide`] again: fewer wanted completions may end the
    /// run, a shutdown may end it, more completions may start sequences. Once neither
    /// suspended nor stopping, no sequence holds (the caller releases them).
    pub fn reconfigure(&mut self, new: &Workflow, rules_changed: bool) {
        let mut workflow = (*self.workflow).clone();
        workflow.completed = new.completed;
        workflow.max_size = new.max_size;
        workflow.max_failures = new.max_failures;
        workflow.suspended = new.suspended;
        workflow.shutdown = new.shutdown;
        if rules_changed {
            workflow.rules = new.rules.clone();
            self.rulebook = Rulebook::new(workflow.rules.clone());
            self.tallies = vec![RuleTally::default(); workflow.rules.len()];
        }
        self.workflow = Arc::new(workflow);
        if !self.holding() {
            for live in self.live.values_mut() {
                live.hold = Hold::No;
            }
        }
    }

    fn step_name(&self, step: usize) -> &str {
        self.workflow.steps.get(step).map(|s| s.name.as_str()).unwrap_or("?")
    }

    fn count_job(&mut self, step: usize, phase: &JobPhase) {
        if let Some(c) = self.steps.get_mut(step) {
            c.runs += 1;
            match phase {
                JobPhase::Succeeded => c.succeeded += 1,
                _ => c.failed += 1,
            }
        }
    }

    fn slot_input(&self) -> SlotInput {
        SlotInput {
            completions_needed: self.workflow.completed,
            completed: self.completed,
            active: self.live.len() as u32,
            failed: self.failed,
            max_failures: self.workflow.max_failures,
            first_step_nodes: self.nodes.first().copied().unwrap_or(1),
            max_size: self.workflow.max_size,
        }
    }

    fn evaluate(&mut self, step: &str, scope: Scope) -> Vec<Firing> {
        let (nodes, workflow) = (&self.nodes, &self.workflow);
        let lookup = |s: &str| workflow.step_index(s).and_then(|i| nodes.get(i)).copied().unwrap_or(1);
        let facts = Facts { completions: self.completed, cluster_max: self.workflow.max_size, nodes: &lookup };
        let firings = self.rulebook.evaluate(step, scope, &self.stats, &facts);
        for f in &firings {
            if let Some(t) = self.tallies.get_mut(f.rule) {
                t.fired += 1;
                t.last = Some(f.clone());
            }
            if self.recent.len() == RECENT_FIRINGS {
                self.recent.pop_front();
            }
            self.recent.push_back(f.clone());
        }
        firings
    }
}

#[cfg(test)]
mod tests;
