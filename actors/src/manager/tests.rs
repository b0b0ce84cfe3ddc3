//! Actor tests: the real Manager, StateMachine and JobWatcher actors driven by the in-memory
//! executor. No processes, no cluster.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use smo_core::api::ShutdownStrategy;
use smo_core::fsm::JobPhase;
use smo_core::ledger::{Carried, RunOutcome, RunReport};
use smo_core::names::JobId;
use smo_core::workflow::Workflow;
use smo_core::workflow::documents::from_manifest_text;

use crate::executor::memory::{MemoryExecutor, Outcome};
use crate::executor::{ExistingJob, StepJob};
use crate::job_watcher::JobWatcher;
use crate::journal::{self, Journal};
use crate::manager::{Manager, ManagerConfig};
use crate::messages::{JobObserved, Progress, Reconfigure};
use crate::state_machine::{Crash, StateMachine};

fn workflow(spec: &str) -> Arc<Workflow> {
    let text = format!(
        "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata:\n  name: test\nspec:\n{spec}"
    );
    let (wf, _) = from_manifest_text(&text, "test.yaml").unwrap_or_else(|p| panic!("{p}"));
    Arc::new(wf)
}

const CHAIN: &str = "
  workflow:
    completed: 4
  cluster:
    maxSize: 2
  jobs:
  - {name: a, image: x, registry: {push: a}, script: echo}
  - {name: b, image: x, registry: {pull: a, push: b}, script: echo}
  - {name: c, image: x, registry: {pull: b}, script: echo}
";

/// Runs `workflow` with a memory executor deciding each job's end; returns the report.
async fn run(workflow: Arc<Workflow>, outcome: Rc<Outcome>) -> RunReport {
    run_with(workflow, outcome, Vec::new(), None).await
}

/// [`run`], restoring from `existing` jobs when there are any, with an optional journal.
async fn run_with(
    workflow: Arc<Workflow>,
    outcome: Rc<Outcome>,
    existing: Vec<ExistingJob>,
    journal: Option<Journal>,
) -> RunReport {
    let (_, finished) = start(workflow, outcome, existing, journal, None);
    finished.await.expect("the manager reports")
}

/// Starts a Manager for `workflow` as [`run_with`] does, with what an earlier life of the run
/// counted (`carried`); its address and where its report comes.
fn start(
    workflow: Arc<Workflow>,
    outcome: Rc<Outcome>,
    existing: Vec<ExistingJob>,
    journal: Option<Journal>,
    carried: Option<Carried>,
) -> (Addr<Manager>, oneshot::Receiver<RunReport>) {
    let (done, finished) = oneshot::channel();
    let restore = !existing.is_empty();
    let manager = Manager::create(|ctx| {
        let watcher = JobWatcher::new(ctx.address().recipient()).start();
        let executor = MemoryExecutor::new(watcher.clone().recipient(), outcome).with_existing(existing);
        Manager::new(
            workflow,
            ManagerConfig {
                executor: Rc::new(executor),
                progress: None,
                seed: 1,
                done,
                watcher: Some(watcher.into()),
                journal,
                restore,
                carried,
                reporting: None,
            },
        )
    });
    (manager, finished)
}

fn always(result: Result<(), String>) -> Rc<Outcome> {
    Rc::new(move |_: &StepJob| Some(result.clone()))
}

#[actix::test]
async fn a_chain_completes_exactly_the_required_sequences() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("times.jsonl");
    let report = run_with(workflow(CHAIN), always(Ok(())), Vec::new(), Some(Journal::open(path.clone()))).await;
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    assert_eq!((report.completed, report.failed, report.started), (4, 0, 4));
    for (i, step) in report.steps.iter().enumerate() {
        assert_eq!((step.runs, step.succeeded, step.failed), (4, 4, 0), "step {i}");
    }
    assert_eq!(report.stats.value(smo_core::stats::Model::Count, "c", "success"), Some(4.0));
    let times = journal::read_times(&path).expect("journal");
    assert_eq!(times.spans().len(), 12, "every job has a span in the journal");
    let (start, end) = times.workflow_bounds();
    assert!(start.is_some() && end >= start, "{start:?} {end:?}");
}

#[actix::test]
async fn an_always_failing_step_ends_at_the_failure_cap() {
    let wf = workflow(&CHAIN.replace("completed: 4", "completed: 4\n    maxFailures: 6"));
    let fail_b: Rc<Outcome> =
        Rc::new(|job: &StepJob| Some(if job.step == 1 { Err("exit code 1".into()) } else { Ok(()) }));
    let report = run(wf, fail_b).await;
    let RunOutcome::Failed { reason } = &report.outcome else { panic!("{:?}", report.outcome) };
    assert!(reason.contains("maxFailures (6)"), "{reason}");
    assert_eq!(report.completed, 0);
    assert!(report.failed >= 6);
    assert_eq!(report.steps[2].runs, 0, "step c never runs");
}

#[actix::test]
async fn a_finish_workflow_rule_ends_the_run_successfully() {
    let wf = workflow(&CHAIN.replace(
        "completed: 4",
        "completed: 10\n    events:\n    - {metric: count.b.failure, when: '>= 5', action: finish-workflow}",
    ));
    let fail_b: Rc<Outcome> =
        Rc::new(|job: &StepJob| Some(if job.step == 1 { Err("exit code 1".into()) } else { Ok(()) }));
    let report = run(wf, fail_b).await;
    let RunOutcome::Succeeded { reason } = &report.outcome else { panic!("{:?}", report.outcome) };
    assert!(reason.contains("count.b.failure"), "{reason}");
    assert_eq!(report.steps[1].failed, 5, "the rule fires on the fifth failure, no later");
    assert_eq!(report.rules[0].fired, 1);
}

#[actix::test]
async fn always_succeed_steps_advance_their_sequences() {
    let wf = workflow(
        "
  workflow:
    completed: 2
  cluster:
    maxSize: 2
  jobs:
  - {name: a, image: x, properties: {always-succeed: '1'}, script: exit 1}
  - {name: b, image: x, properties: {always-succeed: '1'}, script: exit 1}
",
    );
    let report = run(wf, always(Err("exit code 1".into()))).await;
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    assert_eq!((report.completed, report.failed), (2, 0));
    assert_eq!(report.steps[1].failed, 2, "the jobs failed and were counted as failures");
}

#[actix::test]
async fn rejected_submissions_fail_the_sequence_and_it_is_replaced() {
    let rejected = Rc::new(RefCell::new(0));
    let count = rejected.clone();
    let outcome: Rc<Outcome> = Rc::new(move |job: &StepJob| {
        // The first two submissions of step b are refused, as by an API server that is down.
        if job.step == 1 && *count.borrow() < 2 {
            *count.borrow_mut() += 1;
            return None;
        }
        Some(Ok(()))
    });
    let report = run(workflow(CHAIN), outcome).await;
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    assert_eq!((report.completed, report.failed, report.started), (4, 2, 6));
}

#[actix::test]
async fn grow_rules_resize_later_jobs_up_to_max_size() {
    let wf = workflow(&CHAIN.replace(
        "completed: 4",
        "completed: 4\n    events:\n    - {metric: count.b.success, action: grow, maxSize: 2}",
    ));
    let sizes = Rc::new(RefCell::new(Vec::new()));
    let seen = sizes.clone();
    let outcome: Rc<Outcome> = Rc::new(move |job: &StepJob| {
        if job.step == 1 {
            seen.borrow_mut().push(job.nodes);
        }
        Some(Ok(()))
    });
    let report = run(wf, outcome).await;
    assert_eq!(report.outcome.exit_code(), 0);
    assert_eq!(report.nodes, vec![1, 2, 1], "b grew once, to its maxSize");
    assert_eq!(sizes.borrow().last(), Some(&2), "later jobs of b ran on 2 nodes: {:?}", sizes.borrow());
    assert_eq!(report.rules[0].fired, 1, "at its bound the rule stops firing");
}

#[actix::test]
async fn repeat_rules_run_a_step_again_before_advancing() {
    // Repeat step a until it has succeeded twice in total: the first sequence runs a twice.
    let wf = workflow(&CHAIN.replace(
        "completed: 4",
        "completed: 1\n    events:\n    - {metric: count.a.success, when: '< 2', action: repeat}",
    ));
    let report = run(wf, always(Ok(()))).await;
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    assert_eq!(report.completed, 1);
    assert_eq!(report.steps[0].succeeded, 2, "a ran twice");
    assert_eq!(report.steps[1].succeeded, 1, "b once");
}

/// A probe that records what the Manager would see, to check the watcher's deduplication.
struct Probe(Rc<RefCell<Vec<JobObserved>>>);
impl Actor for Probe {
    type Context = Context<Self>;
}
impl Handler<JobObserved> for Probe {
    type Result = ();
    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) {
        self.0.borrow_mut().push(msg);
    }
}

#[actix::test]
async fn the_watcher_forwards_each_terminal_event_once() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let probe = Probe(seen.clone()).start();
    let watcher = JobWatcher::new(probe.recipient()).start();
    let event = |phase| JobObserved {
        jobid: smo_core::names::JobId::new("job_000000001"),
        step: 0,
        attempt: 1,
        phase,
        duration: None,
        log: None,
        metrics: None,
        waiting: None,
    };
    use smo_core::fsm::JobPhase::*;
    for phase in [Pending, Running, Succeeded, Succeeded, Running, Succeeded] {
        watcher.send(event(phase)).await.expect("delivered");
    }
    let phases: Vec<_> = seen.borrow().iter().map(|e| e.phase.clone()).collect();
    // The replayed `Running` after the end (a re-list does this) is not forwarded either: the
    // Manager would count a running job that never ends.
    assert_eq!(phases, vec![Pending, Running, Succeeded]);
    // Once the Manager says the sequence ended, nothing about it is kept.
    watcher
        .send(crate::messages::Forget { jobid: smo_core::names::JobId::new("job_000000001") })
        .await
        .expect("delivered");
    watcher.send(event(Succeeded)).await.expect("delivered");
    assert_eq!(seen.borrow().len(), 4);
}

/// Crashes the StateMachine actor of the first sequence it sees start a job of step b.
struct Saboteur {
    manager: Addr<Manager>,
    crashed: Rc<RefCell<bool>>,
    machines: Rc<RefCell<HashMap<smo_core::names::JobId, Addr<StateMachine>>>>,
}
impl Actor for Saboteur {
    type Context = Context<Self>;
}
impl Handler<JobObserved> for Saboteur {
    type Result = ();
    fn handle(&mut self, msg: JobObserved, _: &mut Self::Context) {
        if msg.step == 1
            && !*self.crashed.borrow()
            && let Some(machine) = self.machines.borrow().get(&msg.jobid)
        {
            *self.crashed.borrow_mut() = true;
            machine.do_send(Crash);
            // The crashed sequence's events are swallowed, like those of a dead process.
            return;
        }
        self.manager.do_send(msg);
    }
}

#[actix::test]
async fn a_crashed_sequence_actor_is_replaced_and_the_workflow_still_finishes() {
    let (done, finished) = oneshot::channel();
    let crashed = Rc::new(RefCell::new(false));
    let machines = Rc::new(RefCell::new(HashMap::new()));
    let (crashed_flag, registry) = (crashed.clone(), machines.clone());
    let progress = Rc::new(RefCell::new(Vec::new()));
    let progress_probe = ProgressProbe(progress.clone()).start();
    Manager::create(move |ctx| {
        let saboteur = Saboteur { manager: ctx.address(), crashed: crashed_flag, machines: registry.clone() }.start();
        let executor = MemoryExecutor::new(saboteur.recipient(), always(Ok(())));
        let mut manager = Manager::new(
            workflow(CHAIN),
            ManagerConfig {
                executor: Rc::new(executor),
                progress: Some(progress_probe.recipient()),
                seed: 3,
                done,
                watcher: None,
                journal: None,
                restore: false,
                carried: None,
                reporting: None,
            },
        );
        manager.on_start = Some(Box::new(move |id, addr| {
            registry.borrow_mut().insert(id.clone(), addr.clone());
        }));
        manager
    });
    let report = finished.await.expect("report");
    assert!(*crashed.borrow(), "the saboteur crashed one actor");
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    assert_eq!((report.completed, report.failed, report.started), (4, 1, 5));
    // The display saw the crash counted and nothing left running.
    let last = progress.borrow().last().copied().expect("progress was reported");
    assert_eq!((last.0.completed, last.0.failed, last.0.active, last.0.jobs_running), (4, 1, 0, 0));
    assert!(progress.borrow().iter().any(|p| p.0.failed == 1 && p.0.completed < 4), "the failure showed while running");
}

struct ProgressProbe(Rc<RefCell<Vec<Progress>>>);
impl Actor for ProgressProbe {
    type Context = Context<Self>;
}
impl Handler<Progress> for ProgressProbe {
    type Result = ();
    fn handle(&mut self, msg: Progress, _: &mut Self::Context) {
        self.0.borrow_mut().push(msg);
    }
}

#[actix::test]
async fn nothing_is_submitted_after_a_finish_workflow_rule_fires_on_a_non_last_step() {
    // The rule fires on the first success of step a (not the last step): that sequence must not
    // submit b, and no other sequence may submit anything either.
    let wf = workflow(&CHAIN.replace(
        "completed: 4",
        "completed: 4\n    events:\n    - {metric: count.a.success, when: '>= 1', action: finish-workflow}",
    ));
    let submitted = Rc::new(RefCell::new(Vec::new()));
    let log = submitted.clone();
    let outcome: Rc<Outcome> = Rc::new(move |job: &StepJob| {
        log.borrow_mut().push((job.jobid.clone(), job.step));
        Some(Ok(()))
    });
    let report = run(wf, outcome).await;
    let RunOutcome::Succeeded { reason } = &report.outcome else { panic!("{:?}", report.outcome) };
    assert!(reason.contains("count.a.success"), "{reason}");
    let submitted = submitted.borrow();
    assert!(submitted.iter().all(|(_, step)| *step == 0), "only step a was ever submitted: {submitted:?}");
    assert_eq!(report.steps[0].succeeded, 1, "the firing job is counted, later ones are not");
    assert_eq!(report.steps[1].runs, 0);
    assert_eq!(report.completed, 0);
}

/// Stands in for a Manager that goes away: it stops when told (`SequenceStopped`) and never
/// answers a question.
struct Gone;
impl Actor for Gone {
    type Context = Context<Self>;
}
impl Handler<crate::messages::StepFinished> for Gone {
    type Result = crate::messages::StepDecision;
    fn handle(&mut self, _: crate::messages::StepFinished, _: &mut Self::Context) -> Self::Result {
        panic!("a stopped actor is never asked");
    }
}
impl Handler<crate::messages::SequenceProgress> for Gone {
    type Result = ();
    fn handle(&mut self, _: crate::messages::SequenceProgress, _: &mut Self::Context) {}
}
impl Handler<crate::messages::SequenceStopped> for Gone {
    type Result = ();
    fn handle(&mut self, _: crate::messages::SequenceStopped, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[actix::test]
async fn a_sequence_without_an_answer_to_its_question_stops_instead_of_carrying_on() {
    let wf = workflow(CHAIN);
    let submitted = Rc::new(RefCell::new(Vec::new()));
    let log = submitted.clone();
    let outcome: Rc<Outcome> = Rc::new(move |job: &StepJob| {
        log.borrow_mut().push(job.step);
        Some(Ok(()))
    });
    // A sink for the executor's events: the test delivers the job's end itself.
    let sink = Probe(Rc::new(RefCell::new(Vec::new()))).start();
    let executor = Rc::new(MemoryExecutor::new(sink.recipient(), outcome));
    let manager = Gone.start();
    let links = crate::state_machine::ManagerLinks {
        finished: manager.clone().recipient(),
        progress: manager.clone().recipient(),
        stopped: manager.clone().recipient(),
        transitions: None,
    };
    let id = JobId::new("job_000000001");
    let (fsm, effects) = smo_core::fsm::Sequence::start(id.clone(), wf.steps.len());
    let machine = StateMachine::new(fsm, effects, wf, executor, Arc::from([1, 1, 1]), links).start();
    // The Manager goes away before the job of step a ends.
    manager
        .send(crate::messages::SequenceStopped { jobid: id.clone(), reason: String::new() })
        .await
        .expect("delivered");
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!manager.connected(), "the stand-in manager is gone");
    assert_eq!(*submitted.borrow(), vec![0], "step a was submitted");
    let ended = JobObserved {
        jobid: id,
        step: 0,
        attempt: 1,
        phase: JobPhase::Succeeded,
        duration: None,
        log: None,
        metrics: None,
        waiting: None,
    };
    let _ = machine.send(ended).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(*submitted.borrow(), vec![0], "nothing was submitted on a guess");
    assert!(!machine.connected(), "the sequence stopped");
}

/// A job the executor reports as existing (first attempt, no times known).
fn existing(id: &str, step: usize, phase: JobPhase) -> ExistingJob {
    ExistingJob { jobid: JobId::new(id), step, attempt: 1, phase, started_at: None, ended_at: None }
}

#[actix::test]
async fn a_restored_run_counts_what_ended_and_carries_on_where_sequences_were() {
    let failed = JobPhase::Failed { reason: "exit code 1".into() };
    let jobs = vec![
        // Completed before the restart: counted, nothing runs again.
        existing("job_000000011", 0, JobPhase::Succeeded),
        existing("job_000000011", 1, JobPhase::Succeeded),
        existing("job_000000011", 2, JobPhase::Succeeded),
        // Step a finished: carries on from b.
        existing("job_000000022", 0, JobPhase::Succeeded),
        // Failed at b: counted as failed, not resumed.
        existing("job_000000033", 0, JobPhase::Succeeded),
        existing("job_000000033", 1, failed),
    ];
    let submitted = Rc::new(RefCell::new(Vec::new()));
    let log = submitted.clone();
    let outcome: Rc<Outcome> = Rc::new(move |job: &StepJob| {
        log.borrow_mut().push((job.jobid.clone(), job.step));
        Some(Ok(()))
    });
    let report = run_with(workflow(CHAIN), outcome, jobs, None).await;
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    // 4 wanted: 1 completed before, 22 completes, 2 new ones.
    assert_eq!((report.completed, report.failed, report.started), (4, 1, 5));
    let submitted = submitted.borrow();
    let of = |id: &str| submitted.iter().filter(|(j, _)| j.as_str() == id).map(|(_, s)| *s).collect::<Vec<_>>();
    assert_eq!(of("job_000000011"), Vec::<usize>::new(), "a completed sequence runs nothing again");
    assert_eq!(of("job_000000022"), vec![1, 2], "carries on from step b");
    assert_eq!(of("job_000000033"), Vec::<usize>::new());
    let new: Vec<&JobId> = submitted.iter().map(|(j, _)| j).filter(|j| !j.as_str().ends_with("22")).collect();
    assert_eq!(new.len(), 6, "two new sequences of three steps: {submitted:?}");
    assert_eq!(report.steps[0].runs, 3 + 2, "restored jobs are counted with the new ones");
}

/// Completed sequences whose Jobs the cluster deleted (a garbage collector that took the
/// resource for gone): what is left of one (its first step's Job) is not taken up again when
/// the kept timeline has it completed, and the completions carried from the status count.
#[actix::test]
async fn a_completed_sequence_that_lost_its_jobs_is_not_run_again() {
    // 11 completed and lost its jobs of b and c; 22 completed and lost all its jobs; 33 is at b.
    let jobs =
        vec![existing("job_000000011", 0, JobPhase::Succeeded), existing("job_000000033", 0, JobPhase::Succeeded)];
    let carried = Carried {
        completed: 2,
        completed_sequences: ["job_000000011", "job_000000022"].into_iter().map(String::from).collect(),
        ..Carried::default()
    };
    let submitted = Rc::new(RefCell::new(Vec::new()));
    let log = submitted.clone();
    let outcome: Rc<Outcome> = Rc::new(move |job: &StepJob| {
        log.borrow_mut().push((job.jobid.clone(), job.step));
        Some(Ok(()))
    });
    let (_, finished) = start(workflow(CHAIN), outcome, jobs, None, Some(carried));
    let report = finished.await.expect("the manager reports");
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    // 4 wanted: 2 completed before, 33 completes, 1 new one.
    assert_eq!(report.completed, 4);
    let submitted = submitted.borrow();
    assert!(submitted.iter().all(|(j, _)| j.as_str() != "job_000000011"), "11 ran again: {submitted:?}");
    let of_33: Vec<usize> = submitted.iter().filter(|(j, _)| j.as_str() == "job_000000033").map(|(_, s)| *s).collect();
    assert_eq!(of_33, vec![1, 2], "33 carries on from step b");
    assert_eq!(submitted.len(), 2 + 3, "33's two steps and one new sequence: {submitted:?}");
}

/// `spec.suspend` (and `smo run`'s SIGUSR1): a workflow suspended from the start submits
/// nothing; resumed, it runs; suspended mid-run, the jobs already submitted end and nothing more
/// is submitted, and resumed again it completes exactly the sequences wanted.
#[actix::test]
async fn a_suspended_run_submits_nothing_until_it_is_resumed_and_then_completes_exactly() {
    let wf = workflow(&format!("  suspend: true{CHAIN}"));
    assert!(wf.suspended);
    let manager_of: Rc<RefCell<Option<Addr<Manager>>>> = Rc::default();
    let hook = manager_of.clone();
    let submissions = Rc::new(std::cell::Cell::new(0_u32));
    let counter = submissions.clone();
    // The third submission suspends the run again (mid-run).
    let outcome: Rc<Outcome> = Rc::new(move |_: &StepJob| {
        counter.set(counter.get() + 1);
        if counter.get() == 3
            && let Some(manager) = hook.borrow().as_ref()
        {
            manager.do_send(crate::messages::Suspend(true));
        }
        Some(Ok(()))
    });
    let (manager, mut finished) = start(wf, outcome, Vec::new(), None, None);
    *manager_of.borrow_mut() = Some(manager.clone());
    let settle = || actix::clock::sleep(std::time::Duration::from_millis(150));
    settle().await;
    assert_eq!(submissions.get(), 0, "suspended from the start: nothing submitted");
    assert!(finished.try_recv().is_err(), "and not over");
    manager.do_send(crate::messages::Suspend(false));
    settle().await;
    let held_at = submissions.get();
    assert!((3..12).contains(&held_at), "suspended again after the third submission: {held_at} submitted");
    settle().await;
    assert_eq!(submissions.get(), held_at, "nothing more submitted while suspended");
    assert!(finished.try_recv().is_err(), "a suspended run waits");
    manager.do_send(crate::messages::Suspend(false));
    let report = finished.await.expect("the manager reports");
    assert_eq!(report.outcome.exit_code(), 0, "{:?}", report.outcome);
    assert_eq!((report.completed, report.failed), (4, 0));
    assert_eq!(submissions.get(), 12, "4 sequences × 3 steps, each job once");
}

/// `spec.shutdown: Stop` (`smo stop`) mid-run: the jobs submitted end and are recorded, nothing
/// more is submitted, and the run ends Stopped (a failure, not an interruption to resume).
#[actix::test]
async fn a_stopped_run_submits_nothing_more_and_ends_stopped_once_its_jobs_have_ended() {
    let wf = workflow(CHAIN);
    let manager_of: Rc<RefCell<Option<Addr<Manager>>>> = Rc::default();
    let hook = manager_of.clone();
    let submissions = Rc::new(std::cell::Cell::new(0_u32));
    let counter = submissions.clone();
    let stopped = {
        let mut stopped = Workflow::clone(&wf);
        stopped.shutdown = Some(ShutdownStrategy::Stop);
        Arc::new(stopped)
    };
    // The third submission stops the run.
    let outcome: Rc<Outcome> = Rc::new(move |_: &StepJob| {
        counter.set(counter.get() + 1);
        if counter.get() == 3
            && let Some(manager) = hook.borrow().as_ref()
        {
            manager.do_send(Reconfigure { workflow: stopped.clone(), rules_changed: false });
        }
        Some(Ok(()))
    });
    let (manager, finished) = start(wf, outcome, Vec::new(), None, None);
    *manager_of.borrow_mut() = Some(manager);
    let report = finished.await.expect("the manager reports");
    let RunOutcome::Stopped { strategy: ShutdownStrategy::Stop, reason } = &report.outcome else {
        panic!("stopped, not {:?}", report.outcome)
    };
    assert!(reason.starts_with("stopped with strategy 'Stop' (spec.shutdown): "), "{reason}");
    let submitted = submissions.get();
    assert!((3..12).contains(&submitted), "stopped after the third submission: {submitted} submitted");
    let ran: u32 = report.steps.iter().map(|s| s.runs).sum();
    assert_eq!(ran, submitted, "every job submitted ended and was recorded");
    assert_eq!(report.outcome.exit_code(), 1);
}

/// A run restored while it is being stopped: a sequence whose next job was not submitted yet
/// holds it, and the run ends Stopped without submitting anything; `Terminate` ends a run with
/// a job still running at once.
#[actix::test]
async fn a_run_restored_while_stopping_submits_nothing_and_terminate_does_not_wait() {
    let submitted = Rc::new(std::cell::Cell::new(0_u32));
    let counter = submitted.clone();
    let counting: Rc<Outcome> = Rc::new(move |_: &StepJob| {
        counter.set(counter.get() + 1);
        Some(Ok(()))
    });
    let wf = workflow(&format!("  shutdown: Stop{CHAIN}"));
    assert_eq!(wf.shutdown, Some(ShutdownStrategy::Stop));
    let report = run_with(wf, counting.clone(), vec![existing("job_000000011", 0, JobPhase::Succeeded)], None).await;
    assert!(matches!(report.outcome, RunOutcome::Stopped { .. }), "{:?}", report.outcome);
    assert_eq!(submitted.get(), 0, "the held next job is never submitted");
    assert!(report.outcome.reason().contains("1 stopped before their end"), "{:?}", report.outcome);
    // A job still running when the run is terminated is not waited for.
    let wf = workflow(&format!("  shutdown: Terminate{CHAIN}"));
    let report = run_with(wf, counting, vec![existing("job_000000022", 1, JobPhase::Running)], None).await;
    assert!(
        matches!(report.outcome, RunOutcome::Stopped { strategy: ShutdownStrategy::Terminate, .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(submitted.get(), 0);
}
