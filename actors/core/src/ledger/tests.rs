use super::*;
use crate::api::ShutdownStrategy;
use crate::workflow::documents::from_manifest_text;

/// A workflow of steps `a` and `b`, 3 completions, 2 nodes of budget, with `rules` (YAML list
/// items under `events:`).
fn workflow(rules: &str) -> Arc<Workflow> {
    let text = format!(
        "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata: {{name: wf}}\nspec:\n  workflow:\n    completed: 3\n    maxFailures: 2\n{rules}  cluster: {{maxSize: 2}}\n  jobs:\n  - {{name: a, image: x, script: echo}}\n  - {{name: b, image: x, script: echo}}\n"
    );
    Arc::new(from_manifest_text(&text, "m.yaml").unwrap_or_else(|p| panic!("{p}")).0)
}

fn id(n: u32) -> JobId {
    JobId::new(format!("job_{n:09}"))
}

const FAILED: JobPhase = JobPhase::Failed { reason: String::new() };

#[test]
fn starts_as_many_as_the_budget_allows_and_succeeds_at_the_wanted_completions() {
    let mut ledger = Ledger::new(workflow(""));
    assert_eq!(ledger.decide().start, 2);
    for n in 0..3 {
        ledger.sequence_started(id(n));
        for step in 0..2 {
            ledger.job_observed(&id(n), step, 1, &JobPhase::Running);
            ledger.job_observed(&id(n), step, 1, &JobPhase::Succeeded);
            assert_eq!(
                ledger.job_ended(&id(n), step, &JobPhase::Succeeded, Some(1.0), &[]).0,
                Next::Continue { repeat: false, hold: false }
            );
        }
        assert_eq!(ledger.sequence_ended(&id(n), Supervision::Completed), None);
    }
    let outcome = ledger.conclude().expect("3/3 completed");
    assert_eq!(outcome, RunOutcome::Succeeded { reason: "3/3 sequences completed".into() });
    let report = ledger.report();
    assert_eq!((report.completed, report.failed, report.started), (3, 0, 3));
    assert_eq!(report.steps[1], StepCounts { runs: 3, succeeded: 3, failed: 0 });
    assert_eq!(ledger.counts().jobs_running, 0);
    assert_eq!(ledger.decide().start, 0, "nothing starts after the end");
}

#[test]
fn a_running_event_after_the_jobs_end_leaves_no_running_job_behind() {
    let mut ledger = Ledger::new(workflow(""));
    ledger.sequence_started(id(1));
    assert_eq!(ledger.job_observed(&id(1), 0, 1, &JobPhase::Running), Observation::RunningChanged);
    assert_eq!(ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded), Observation::RunningChanged);
    // A re-list delivers the old Running again, then a duplicate end.
    assert_eq!(ledger.job_observed(&id(1), 0, 1, &JobPhase::Running), Observation::Stale);
    assert_eq!(ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded), Observation::Stale);
    assert_eq!(ledger.counts().jobs_running, 0);
    // The next step's events still count.
    assert_eq!(ledger.job_observed(&id(1), 1, 1, &JobPhase::Running), Observation::RunningChanged);
    assert_eq!(ledger.counts().jobs_running, 1);
    // A sequence that ends takes its running jobs with it; later events of it are stale.
    ledger.sequence_ended(&id(1), Supervision::Failed { reason: "x".into() });
    assert_eq!(ledger.counts().jobs_running, 0);
    assert_eq!(ledger.job_observed(&id(1), 1, 1, &JobPhase::Running), Observation::Stale);
}

#[test]
fn the_failure_cap_ends_the_run_naming_the_last_failure_and_its_log() {
    let mut ledger = Ledger::new(workflow(""));
    for n in 0..2 {
        ledger.sequence_started(id(n));
        ledger.job_observed(&id(n), 0, 1, &FAILED);
        ledger.note_failed_log(&id(n), format!("/logs/{n}.out"));
        ledger.job_ended(&id(n), 0, &FAILED, None, &[]);
        ledger.sequence_ended(&id(n), Supervision::Failed { reason: "step a failed: exit code 1".into() });
    }
    let outcome = ledger.conclude().expect("cap reached, nothing running");
    let reason = outcome.reason();
    assert!(reason.contains("reaching workflow.maxFailures (2)"), "{reason}");
    assert!(reason.ends_with("last failure: job_000000001: step a failed: exit code 1 (log: /logs/1.out)"), "{reason}");
    assert_eq!(outcome.exit_code(), 1);
}

#[test]
fn finish_workflow_on_a_non_last_step_concludes_that_sequence_and_stops_the_others() {
    let rules = "    events:\n    - {metric: count.a.success, action: finish-workflow, when: '>= 1'}\n";
    let mut ledger = Ledger::new(workflow(rules));
    ledger.sequence_started(id(1));
    ledger.sequence_started(id(2));
    let (next, firings) = ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, Some(2.0), &[]);
    assert_eq!(next, Next::Conclude, "the asking sequence applies its job but submits nothing more");
    assert_eq!(firings.len(), 1);
    assert!(!ledger.accepting());
    assert_eq!(ledger.decide().start, 0);
    // Another sequence's job ending meanwhile is neither counted nor continued.
    assert_eq!(ledger.job_ended(&id(2), 0, &JobPhase::Succeeded, None, &[]).0, Next::Stop);
    assert_eq!(ledger.step_counts()[0].runs, 1);
    // The run ends once the concluding sequence has reported.
    assert_eq!(ledger.sequence_ended(&id(2), Supervision::Ignore), None);
    let outcome = ledger.sequence_ended(&id(1), Supervision::Ignore).expect("ends the run");
    assert!(outcome.reason().starts_with("rule finish-workflow: count.a.success"), "{}", outcome.reason());
}

#[test]
fn grow_changes_the_nodes_later_jobs_get_and_firings_are_tallied_within_a_bound() {
    let rules =
        "    events:\n    - {metric: count.a.success, action: grow, when: '>= 1', repetitions: 1000, maxSize: 2}\n";
    let mut ledger = Ledger::new(workflow(rules));
    for n in 0..(RECENT_FIRINGS as u32 + 5) {
        ledger.sequence_started(id(n));
        ledger.job_ended(&id(n), 0, &JobPhase::Succeeded, None, &[]);
        ledger.sequence_ended(&id(n), Supervision::Ignore);
    }
    assert_eq!(ledger.nodes(0), 2, "grown to the rule's maxSize, no further");
    let report = ledger.report();
    assert_eq!(report.rules[0].fired, 1, "a grow at its bound does not fire again");
    assert!(report.recent_firings.len() <= RECENT_FIRINGS);
}

#[test]
fn repeat_rules_answer_the_asking_sequence() {
    let rules = "    events:\n    - {metric: count.b.success, action: repeat, when: '== 1', repetitions: 1}\n";
    let mut ledger = Ledger::new(workflow(rules));
    ledger.sequence_started(id(1));
    let next = |ledger: &mut Ledger| ledger.job_ended(&id(1), 1, &JobPhase::Succeeded, None, &[]).0;
    assert_eq!(next(&mut ledger), Next::Continue { repeat: true, hold: false });
    assert_eq!(next(&mut ledger), Next::Continue { repeat: false, hold: false });
}

#[test]
fn restored_sequences_and_jobs_count_as_they_ended() {
    let mut ledger = Ledger::new(workflow(""));
    ledger.sequence_restored_ended(&SequenceOutcome::Completed);
    ledger.sequence_restored_ended(&SequenceOutcome::Failed { step: 0, reason: "x".into() });
    ledger.job_restored_ended(0, &JobPhase::Succeeded);
    ledger.job_restored_ended(0, &FAILED);
    let counts = ledger.counts();
    assert_eq!((counts.completed, counts.failed, counts.active), (1, 1, 0));
    assert_eq!(ledger.step_counts()[0], StepCounts { runs: 2, succeeded: 1, failed: 1 });
    // 2 still wanted, budget 2, one failure left before the cap.
    assert_eq!(ledger.decide().start, 2);
}

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

#[test]
fn the_snapshot_counts_running_jobs_per_step_and_durations() {
    let mut ledger = Ledger::new(workflow(""));
    ledger.sequence_started(id(1));
    ledger.sequence_started(id(2));
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Running);
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded);
    ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, Some(3.0), &[]);
    ledger.job_observed(&id(1), 1, 1, &JobPhase::Running);
    ledger.job_observed(&id(2), 0, 1, &JobPhase::Running);
    let s = ledger.snapshot();
    assert_eq!((s.counts.active, s.started), (2, 2));
    let per_step: Vec<(u32, u32, Option<f64>)> =
        s.steps.iter().map(|x| (x.active, x.succeeded, x.max_seconds)).collect();
    assert_eq!(per_step, vec![(1, 1, Some(3.0)), (1, 0, None)]);
    assert_eq!(s.outcome, None);
}

#[test]
fn a_reconfigured_ledger_takes_new_completions_and_budget_but_keeps_its_counts() {
    let mut ledger = Ledger::new(workflow(""));
    for n in 0..2 {
        ledger.sequence_started(id(n));
        ledger.sequence_ended(&id(n), Supervision::Completed);
    }
    assert_eq!(ledger.conclude(), None, "2/3");
    let mut fewer = (*workflow("")).clone();
    fewer.completed = 2;
    fewer.max_size = 5;
    ledger.reconfigure(&fewer, false);
    assert_eq!(ledger.counts().wanted, 2);
    assert_eq!(ledger.workflow().max_size, 5);
    assert_eq!(ledger.counts().completed, 2);
    assert_eq!(ledger.conclude(), Some(RunOutcome::Succeeded { reason: "2/2 sequences completed".into() }));
}

#[test]
fn new_rules_start_with_no_firings() {
    let rules = "    events:\n    - {metric: count.a.success, when: '>= 1', action: finish-workflow}\n";
    let mut ledger = Ledger::new(workflow(""));
    assert_eq!(ledger.workflow().rules.len(), 0);
    ledger.reconfigure(&workflow(rules), true);
    assert_eq!(ledger.workflow().rules.len(), 1);
    ledger.sequence_started(id(1));
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded);
    let (next, firings) = ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, None, &[]);
    assert_eq!((next, firings.len()), (Next::Conclude, 1));
    assert_eq!(ledger.snapshot().fired, 1);
}

#[test]
fn what_an_earlier_life_counted_is_carried_over_without_counting_twice() {
    let mut ledger = Ledger::new(workflow(""));
    // Restored from the jobs that are left: one sequence completed, one failed whose cleanup had
    // not finished.
    for step in 0..2 {
        ledger.job_restored_ended(step, &JobPhase::Succeeded);
    }
    ledger.sequence_restored_ended(&SequenceOutcome::Completed);
    ledger.job_restored_ended(0, &FAILED);
    ledger.sequence_restored_ended(&SequenceOutcome::Failed { step: 0, reason: "x".into() });
    // The status said: 1 failed (the same one), 2 jobs of `a` succeeded (one of them deleted with
    // a failed sequence), `b` resized to 2 nodes, 3 firings.
    let step = |name: &str, succeeded, failed, nodes| CarriedStep { name: name.into(), succeeded, failed, nodes };
    let earlier = Carried {
        completed: 1,
        failed: 1,
        fired: 3,
        recent_firings: vec!["rule #1 fired".into()],
        steps: vec![step("a", 2, 1, 1), step("b", 1, 0, 2), step("gone", 9, 9, 9)],
        ..Carried::default()
    };
    ledger.carry_over(&earlier);
    assert_eq!((ledger.counts().completed, ledger.counts().failed), (1, 1), "the failed sequence is counted once");
    assert_eq!(ledger.step_counts()[0], StepCounts { runs: 3, succeeded: 2, failed: 1 });
    assert_eq!(ledger.step_counts()[1], StepCounts { runs: 1, succeeded: 1, failed: 0 });
    assert_eq!(ledger.all_nodes(), &[1, 2]);
    assert_eq!(ledger.snapshot().fired, 3);
    assert_eq!(ledger.snapshot().recent_firings, vec!["rule #1 fired".to_string()]);

    // Completions whose jobs are all gone (the cluster's garbage collector deleted them) still
    // count: the run starts only what is still wanted.
    let mut ledger = Ledger::new(workflow(""));
    ledger.carry_over(&Carried { completed: 2, ..Carried::default() });
    assert_eq!((ledger.counts().completed, ledger.snapshot().started), (2, 2));
    assert_eq!(ledger.decide().start, 1, "3 wanted, 2 completed before the restart: one more starts");

    // Failures whose jobs are all gone still count towards the cap (maxFailures: 2).
    let mut ledger = Ledger::new(workflow(""));
    ledger.carry_over(&Carried { failed: 2, ..Carried::default() });
    assert_eq!(ledger.snapshot().started, 2);
    let outcome = ledger.conclude().expect("the cap was reached before the restart");
    assert!(outcome.reason().contains("maxFailures (2)"), "{}", outcome.reason());
    assert_eq!(ledger.decide().start, 0);
}

#[test]
fn a_job_whose_pod_cannot_start_is_in_the_snapshot_until_it_starts_or_its_sequence_ends() {
    let mut ledger = Ledger::new(workflow(""));
    for n in 1..=2 {
        ledger.sequence_started(id(n));
        ledger.job_observed(&id(n), 0, 1, &JobPhase::Pending);
        ledger.job_waiting(&id(n), 0, "Unschedulable: 0/1 nodes are available");
    }
    // An unknown sequence's report is no news.
    ledger.job_waiting(&id(9), 0, "ErrImagePull");
    assert_eq!(
        ledger.snapshot().waiting,
        vec![
            "step a (job_000000001): Unschedulable: 0/1 nodes are available".to_string(),
            "step a (job_000000002): Unschedulable: 0/1 nodes are available".to_string(),
        ]
    );
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Running);
    ledger.sequence_ended(&id(2), Supervision::Failed { reason: "x".into() });
    assert!(ledger.snapshot().waiting.is_empty());
}

#[test]
fn a_suspended_workflow_starts_nothing_and_holds_its_sequences_next_jobs_until_resumed() {
    let mut ledger = Ledger::new(workflow(""));
    ledger.sequence_started(id(1));
    let mut suspended = Workflow::clone(ledger.workflow());
    suspended.suspended = true;
    ledger.reconfigure(&suspended, false);
    assert_eq!(ledger.decide().start, 0, "no new sequence while suspended");
    assert!(ledger.snapshot().suspended);
    // The running job's end is recorded; the sequence's next job waits.
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Running);
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded);
    let (next, _) = ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, Some(1.0), &[]);
    assert_eq!(next, Next::Continue { repeat: false, hold: true });
    assert_eq!(ledger.report().steps[0].succeeded, 1);
    suspended.suspended = false;
    ledger.reconfigure(&suspended, false);
    assert_eq!(ledger.decide().start, 1, "resumed: the budget of 2 has room for one more");
    assert!(!ledger.snapshot().suspended);
}

/// The ledger of a run of 3 wanted completions with sequences 1 and 2 running step `a`, then
/// told to stop with `strategy`.
fn stopping(strategy: ShutdownStrategy) -> (Ledger, Workflow) {
    let mut ledger = Ledger::new(workflow(""));
    for n in 1..=2 {
        ledger.sequence_started(id(n));
        ledger.job_observed(&id(n), 0, 1, &JobPhase::Running);
    }
    let mut stopped = Workflow::clone(ledger.workflow());
    stopped.shutdown = Some(strategy);
    ledger.reconfigure(&stopped, false);
    (ledger, stopped)
}

#[test]
fn a_stopped_workflow_starts_nothing_records_its_running_jobs_and_ends_once_none_runs() {
    let (mut ledger, _) = stopping(ShutdownStrategy::Stop);
    assert_eq!(ledger.decide().start, 0, "no new sequence while stopping");
    assert_eq!(ledger.snapshot().shutdown, Some(ShutdownStrategy::Stop));
    assert_eq!(ledger.conclude(), None, "two step jobs still run");
    // Sequence 1's job ends: recorded, its next job held.
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded);
    let (next, _) = ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, Some(2.0), &[]);
    assert_eq!(next, Next::Continue { repeat: false, hold: true });
    assert_eq!(ledger.report().steps[0].succeeded, 1);
    // Until it has said what it did with the job, it may still finish: the run waits.
    assert_eq!(ledger.conclude(), None);
    ledger.sequence_applied(&id(1));
    assert_eq!(ledger.conclude(), None, "sequence 2's job still runs");
    // Sequence 2's job fails: the sequence fails (counted), and nothing runs any more.
    ledger.job_observed(&id(2), 0, 1, &FAILED);
    ledger.job_ended(&id(2), 0, &FAILED, Some(1.0), &[]);
    assert_eq!(ledger.sequence_ended(&id(2), Supervision::Failed { reason: "x".into() }), None);
    let outcome = ledger.conclude().expect("stopped: nothing runs");
    let RunOutcome::Stopped { strategy: ShutdownStrategy::Stop, reason } = &outcome else {
        panic!("stopped, not {outcome:?}")
    };
    assert_eq!(
        reason,
        "stopped with strategy 'Stop' (spec.shutdown): 0/3 sequences completed, 1 failed, 1 stopped before their end"
    );
    assert_eq!((outcome.exit_code(), outcome.verb()), (1, "stopped"));
    assert_eq!(ledger.snapshot().shutdown, None, "ended: no longer stopping");
    assert_eq!(ledger.report().failed, 1);
}

#[test]
fn a_sequence_that_completes_while_the_workflow_stops_is_counted() {
    let (mut ledger, _) = stopping(ShutdownStrategy::Stop);
    // Sequence 1 is on its last step: its job ends and the sequence completes.
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded);
    ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, Some(1.0), &[]);
    ledger.sequence_applied(&id(1));
    ledger.job_observed(&id(2), 0, 1, &JobPhase::Succeeded);
    ledger.job_ended(&id(2), 0, &JobPhase::Succeeded, Some(1.0), &[]);
    // Sequence 2 has been told to hold but has not reported yet: no end.
    assert_eq!(ledger.conclude(), None);
    ledger.sequence_ended(&id(2), Supervision::Completed);
    let outcome = ledger.conclude().expect("nothing runs");
    assert!(outcome.reason().contains("1/3 sequences completed, 0 failed, 1 stopped"), "{outcome:?}");
}

#[test]
fn a_terminated_workflow_ends_at_once_and_a_withdrawn_stop_carries_on() {
    let (mut ledger, mut stopped) = stopping(ShutdownStrategy::Terminate);
    let outcome = ledger.conclude().expect("Terminate ends at once");
    assert!(matches!(outcome, RunOutcome::Stopped { strategy: ShutdownStrategy::Terminate, .. }), "{outcome:?}");
    assert!(outcome.reason().contains("0/3 sequences completed, 0 failed, 2 stopped"), "{outcome:?}");
    // Withdrawn before the end: the sequences held carry on, new ones start.
    let (mut ledger, _) = stopping(ShutdownStrategy::Stop);
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded);
    ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, Some(1.0), &[]);
    ledger.sequence_applied(&id(1));
    stopped.shutdown = None;
    ledger.reconfigure(&stopped, false);
    assert!(!ledger.holding());
    assert_eq!(ledger.conclude(), None);
    let (next, _) = ledger.job_ended(&id(2), 0, &JobPhase::Succeeded, Some(1.0), &[]);
    assert_eq!(next, Next::Continue { repeat: false, hold: false });
    // Stopped again: sequence 1, no longer held, counts as busy until it holds again.
    stopped.shutdown = Some(ShutdownStrategy::Stop);
    ledger.reconfigure(&stopped, false);
    assert_eq!(ledger.conclude(), None);
}

#[test]
fn a_stop_does_not_undo_reaching_the_wanted_completions() {
    let (mut ledger, _) = stopping(ShutdownStrategy::Stop);
    let mut fewer = Workflow::clone(ledger.workflow());
    fewer.completed = 1;
    ledger.reconfigure(&fewer, false);
    ledger.job_observed(&id(1), 0, 1, &JobPhase::Succeeded);
    ledger.job_ended(&id(1), 0, &JobPhase::Succeeded, Some(1.0), &[]);
    ledger.sequence_ended(&id(1), Supervision::Completed);
    assert_eq!(ledger.conclude(), Some(RunOutcome::Succeeded { reason: "1/1 sequences completed".into() }));
}

#[test]
fn a_sequence_restored_while_stopping_with_its_next_job_held_is_idle() {
    let mut ledger = Ledger::new(workflow(""));
    let mut stopped = Workflow::clone(ledger.workflow());
    stopped.shutdown = Some(ShutdownStrategy::Stop);
    ledger.reconfigure(&stopped, false);
    ledger.sequence_started(id(1));
    assert_eq!(ledger.conclude(), None, "a restored sequence waits for its job by default");
    ledger.sequence_holding(&id(1));
    assert!(ledger.conclude().is_some(), "its next job waits: nothing runs");
}

#[test]
fn the_snapshot_gives_each_steps_p95_as_the_summary_does() {
    let mut ledger = Ledger::new(workflow(""));
    for (n, seconds) in (1..=20).enumerate() {
        let n = n as u32;
        ledger.sequence_started(id(n));
        ledger.job_observed(&id(n), 0, 1, &JobPhase::Succeeded);
        ledger.job_ended(&id(n), 0, &JobPhase::Succeeded, Some(f64::from(seconds)), &[]);
    }
    let a = &ledger.snapshot().steps[0];
    // 20 jobs of 1..=20 s: position 0.95 × 19 = 18.05 between the 19th and 20th durations.
    let p95 = a.p95_seconds.expect("a p95");
    assert!((p95 - 19.05).abs() < 1e-9, "{p95}");
    assert_eq!((a.median_seconds, a.max_seconds), (Some(10.5), Some(20.0)));
    assert_eq!(ledger.snapshot().steps[1].p95_seconds, None, "no job of b ended");
}
