//! How many new sequences may start, and whether the workflow is done — as pure arithmetic.
//!
//! The original's `new_jobs` (inventory §3.5) sizes every sequence by its *first* step's node
//! count and keeps `max_size / nodes` sequences in flight, never more than still needed:
//!
//! ```text
//! jobs_needed   = completions_needed - completed                  (not below 0)
//! nodes_allowed = max(max_size / max(first_step_nodes, 1), 1)      (integer division)
//! jobs_allowed  = min(nodes_allowed, jobs_needed)
//! start         = min(jobs_needed, jobs_allowed - active)          (not below 0)
//! ```
//!
//! One difference: when the first step asks for more nodes than `max_size`, the original's
//! division gave 0 and no sequence ever started, so the workflow hung. `maxSize` only sizes how
//! many sequences start (it never refused a larger step), so here at least one sequence may run:
//! such a workflow runs one sequence at a time (validation warns about the step).
//!
//! The original replaced failed sequences without bound, so a step that always fails looped
//! forever. Here, once `failed >= max_failures` no new sequence starts (`capped`); the running
//! ones are left to finish, and when none is left the [`verdict`] is `Failed`, naming
//! `workflow.maxFailures`. Reaching the required completions wins over the cap.

/// The numbers [`decide`] and [`verdict`] work from, as the Manager counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotInput {
    /// Sequences that must complete (`workflow.completed`).
    pub completions_needed: u32,
    /// Sequences that have completed.
    pub completed: u32,
    /// Sequences started and not yet ended.
    pub active: u32,
    /// Sequences that have failed.
    pub failed: u32,
    /// Failures after which no new sequence starts (`workflow.maxFailures`); 0 counts as 1.
    pub max_failures: u32,
    /// Nodes of the first step, as grown or shrunk by rules; 0 counts as 1.
    pub first_step_nodes: u32,
    /// Node budget of the workflow (`cluster.maxSize`).
    pub max_size: u32,
}

/// How many sequences to start now, with the intermediate numbers for the progress log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotDecision {
    /// New sequences to start now.
    pub start: u32,
    /// Completions still missing.
    pub jobs_needed: u32,
    /// Sequences the node budget holds at once (at least 1, even for a first step larger than
    /// the budget).
    pub nodes_allowed: u32,
    /// Sequences allowed in flight: the smaller of `nodes_allowed` and `jobs_needed`.
    pub jobs_allowed: u32,
    /// True when the failure cap stopped new starts (`start` is then 0).
    pub capped: bool,
}

/// How many new sequences may start (see the module doc for the arithmetic).
pub fn decide(input: &SlotInput) -> SlotDecision {
    let jobs_needed = input.completions_needed.saturating_sub(input.completed);
    // A step of 0 nodes would divide by zero; validation forbids it, the guard keeps this total.
    // At least one: a first step larger than the budget must still run (one sequence at a
    // time), or the workflow would wait forever.
    let nodes_allowed = (input.max_size / input.first_step_nodes.max(1)).max(1);
    let jobs_allowed = nodes_allowed.min(jobs_needed);
    let capped = failure_cap_reached(input);
    let start = if capped { 0 } else { jobs_needed.min(jobs_allowed.saturating_sub(input.active)) };
    SlotDecision { start, jobs_needed, nodes_allowed, jobs_allowed, capped }
}

/// Where the workflow as a whole stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Sequences are still running or may still start.
    Running,
    /// The required number of sequences completed.
    Succeeded,
    /// The failure cap was reached and no sequence is left running.
    Failed {
        /// The numbers behind it, naming `workflow.maxFailures`.
        reason: String,
    },
}

/// Whether the workflow is done: `Succeeded` once `completed >= completions_needed` (even past
/// the failure cap); `Failed` once the cap is reached and no sequence is active any more (the
/// running ones may still complete the workflow); `Running` otherwise.
pub fn verdict(input: &SlotInput) -> Verdict {
    if input.completed >= input.completions_needed {
        Verdict::Succeeded
    } else if failure_cap_reached(input) && input.active == 0 {
        Verdict::Failed {
            reason: format!(
                "{} sequences failed, reaching workflow.maxFailures ({}); {} of {} required sequences completed",
                input.failed,
                effective_max_failures(input),
                input.completed,
                input.completions_needed
            ),
        }
    } else {
        Verdict::Running
    }
}

/// The cap in force: a cap of 0 would stop the workflow before its first sequence, so it is
/// read as 1 (stop at the first failure). The loaders never produce 0; this keeps the function
/// total.
fn effective_max_failures(input: &SlotInput) -> u32 {
    input.max_failures.max(1)
}

fn failure_cap_reached(input: &SlotInput) -> bool {
    input.failed >= effective_max_failures(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(completions_needed: u32, max_size: u32, first_step_nodes: u32) -> SlotInput {
        SlotInput { completions_needed, max_size, first_step_nodes, max_failures: 10, ..SlotInput::default() }
    }

    /// True if `active` sequences whose first step has `nodes` nodes fit `max_size`; a step
    /// larger than the budget fits alone.
    fn within_budget(active: u32, nodes: u32, max_size: u32) -> bool {
        let nodes = nodes.max(1);
        if nodes > max_size { active <= 1 } else { active * nodes <= max_size }
    }

    /// What a simulated run did.
    #[derive(Debug)]
    struct Run {
        started: u32,
        max_active: u32,
        verdict: Verdict,
    }

    /// Feeds decisions back as the Manager does: after every ended sequence, decide again and
    /// start that many; the oldest active sequence ends next, succeeding if `succeeds(n)` for the
    /// n-th sequence started (0-based).
    fn simulate(mut s: SlotInput, succeeds: impl Fn(u32) -> bool) -> Run {
        let mut started = 0;
        let mut max_active = 0;
        // Sequences end in start order, one per round, so the round is the index of the next to end.
        for next_to_end in 0..10_000 {
            let d = decide(&s);
            started += d.start;
            s.active += d.start;
            max_active = max_active.max(s.active);
            assert!(within_budget(s.active, s.first_step_nodes, s.max_size), "over the node budget: {s:?}");
            match verdict(&s) {
                Verdict::Running => {}
                verdict => return Run { started, max_active, verdict },
            }
            assert!(s.active > 0, "stalled: {s:?}");
            s.active -= 1;
            if succeeds(next_to_end) {
                s.completed += 1;
            } else {
                s.failed += 1;
            }
        }
        panic!("the simulation did not end: {s:?}");
    }

    #[test]
    fn arithmetic_matches_the_original() {
        // (needed, completed, active, nodes, max_size) => (start, jobs_needed, nodes_allowed, jobs_allowed)
        type Given = (u32, u32, u32, u32, u32);
        type Expected = (u32, u32, u32, u32);
        let cases: &[(Given, Expected)] = &[
            ((4, 0, 0, 1, 6), (4, 4, 6, 4)),
            ((4, 0, 3, 1, 6), (1, 4, 6, 4)),
            ((4, 1, 3, 1, 6), (0, 3, 6, 3)),
            ((10, 0, 0, 2, 6), (3, 10, 3, 3)),
            ((10, 0, 2, 2, 6), (1, 10, 3, 3)),
            ((10, 0, 5, 2, 6), (0, 10, 3, 3)), // a shrink left more active than allowed
            ((10, 0, 0, 4, 4), (1, 10, 1, 1)),
            ((10, 0, 0, 5, 4), (1, 10, 1, 1)), // a step larger than the budget runs alone
            ((10, 0, 1, 5, 4), (0, 10, 1, 1)), // … and only one at a time
            ((4, 4, 0, 1, 6), (0, 0, 6, 0)),
            ((4, 6, 0, 1, 6), (0, 0, 6, 0)), // more completed than needed: saturates
            ((0, 0, 0, 1, 6), (0, 0, 6, 0)),
            ((3, 0, 0, 1, 7), (3, 3, 7, 3)),
        ];
        for &((needed, completed, active, nodes, max_size), (start, jobs_needed, nodes_allowed, jobs_allowed)) in cases
        {
            let i = SlotInput { completed, active, ..input(needed, max_size, nodes) };
            assert_eq!(
                decide(&i),
                SlotDecision { start, jobs_needed, nodes_allowed, jobs_allowed, capped: false },
                "{i:?}"
            );
        }
    }

    #[test]
    fn e2e_scenario_starts_exactly_four_sequences() {
        // spec/examples/state-machine.yaml: completed 4, maxSize 6, 1-node steps ⇒ 4 sequences.
        let run = simulate(input(4, 6, 1), |_| true);
        assert_eq!(run.started, 4);
        assert_eq!(run.verdict, Verdict::Succeeded);
    }

    #[test]
    fn first_step_filling_the_budget_runs_one_sequence_at_a_time() {
        let run = simulate(input(5, 4, 4), |_| true);
        assert_eq!(run.max_active, 1);
        assert_eq!(run.started, 5);
        assert_eq!(run.verdict, Verdict::Succeeded);
    }

    #[test]
    fn never_over_submits() {
        for needed in 0..6 {
            for completed in 0..7 {
                for active in 0..8 {
                    for nodes in 0..5 {
                        for max_size in 0..9 {
                            let i = SlotInput { completed, active, ..input(needed, max_size, nodes) };
                            let d = decide(&i);
                            assert!(d.start <= d.jobs_needed, "{i:?} {d:?}");
                            assert!(
                                completed + active + d.start <= needed.max(completed + active),
                                "more than needed: {i:?} {d:?}"
                            );
                            if d.start > 0 {
                                assert!(active + d.start <= d.jobs_allowed, "{i:?} {d:?}");
                                assert!(within_budget(active + d.start, nodes, max_size), "over budget: {i:?} {d:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn first_step_larger_than_the_budget_still_runs_one_sequence_at_a_time() {
        // The original computed 0 sequences allowed here and never started one (a hang).
        let d = decide(&input(3, 2, 5));
        assert_eq!((d.nodes_allowed, d.jobs_allowed, d.start), (1, 1, 1));
        let run = simulate(input(3, 2, 5), |_| true);
        assert_eq!(run.max_active, 1);
        assert_eq!(run.started, 3);
        assert_eq!(run.verdict, Verdict::Succeeded);
    }

    #[test]
    fn zero_nodes_are_guarded() {
        let d = decide(&input(4, 6, 0));
        assert_eq!(d.nodes_allowed, 6);
        assert_eq!(d.start, 4);
    }

    #[test]
    fn extreme_numbers_do_not_overflow() {
        let i = SlotInput {
            completions_needed: u32::MAX,
            completed: 0,
            active: u32::MAX,
            failed: 0,
            max_failures: u32::MAX,
            first_step_nodes: 1,
            max_size: u32::MAX,
        };
        assert_eq!(decide(&i).start, 0);
        assert_eq!(decide(&SlotInput { active: 0, ..i }).start, u32::MAX);
        assert_eq!(verdict(&i), Verdict::Running);
    }

    #[test]
    fn always_failing_sequences_stop_at_the_failure_cap() {
        // Original bug: failed sequences were replaced forever.
        let s = SlotInput { max_failures: 10, ..input(4, 6, 1) };
        let run = simulate(s, |_| false);
        // Starts stop at the 10th failure; the 3 still running when it happens finish (and fail).
        assert_eq!(run.started, 13);
        let Verdict::Failed { reason } = run.verdict else {
            panic!("expected a failure, got {:?}", run.verdict);
        };
        assert!(reason.contains("workflow.maxFailures (10)"), "{reason}");
        assert!(reason.contains("13 sequences failed"), "{reason}");
        assert!(reason.contains("0 of 4"), "{reason}");
    }

    #[test]
    fn cap_lets_active_ones_finish() {
        let capped = SlotInput { failed: 10, active: 3, completed: 1, ..input(4, 6, 1) };
        let d = decide(&capped);
        assert!(d.capped);
        assert_eq!(d.start, 0);
        assert_eq!(verdict(&capped), Verdict::Running, "running sequences may still complete the workflow");
        // They complete: success wins over the cap.
        assert_eq!(verdict(&SlotInput { active: 0, completed: 4, ..capped }), Verdict::Succeeded);
        // They fail: now the workflow has failed.
        assert!(matches!(verdict(&SlotInput { active: 0, failed: 13, ..capped }), Verdict::Failed { .. }));
    }

    #[test]
    fn failures_below_the_cap_are_replaced() {
        // Every other sequence fails; 4 successes need 8 starts, 4 failures stay under the cap.
        let run = simulate(input(4, 1, 1), |n| n % 2 == 1);
        assert_eq!(run.started, 8);
        assert_eq!(run.verdict, Verdict::Succeeded);
    }

    #[test]
    fn verdicts() {
        // (completed, active, failed, max_failures) with 4 needed => verdict is Running / Succeeded / Failed
        type Given = (u32, u32, u32, u32);
        let cases: &[(Given, &str)] = &[
            ((0, 0, 0, 10), "running"),
            ((3, 1, 0, 10), "running"),
            ((4, 0, 0, 10), "succeeded"),
            ((5, 2, 0, 10), "succeeded"),
            ((4, 0, 12, 10), "succeeded"),
            ((2, 0, 9, 10), "running"),
            ((2, 1, 10, 10), "running"),
            ((2, 0, 10, 10), "failed"),
            ((0, 0, 1, 0), "failed"), // a cap of 0 counts as 1
            ((0, 0, 0, 0), "running"),
        ];
        for &((completed, active, failed, max_failures), expected) in cases {
            let i = SlotInput { completed, active, failed, max_failures, ..input(4, 6, 1) };
            let got = match verdict(&i) {
                Verdict::Running => "running",
                Verdict::Succeeded => "succeeded",
                Verdict::Failed { .. } => "failed",
            };
            assert_eq!(got, expected, "{i:?}");
        }
    }

    #[test]
    fn zero_failure_cap_stops_at_the_first_failure() {
        let i = SlotInput { max_failures: 0, ..input(4, 6, 1) };
        assert_eq!(decide(&i).start, 4, "a cap of 0 must not prevent the first sequences");
        assert!(decide(&SlotInput { failed: 1, ..i }).capped);
        let Verdict::Failed { reason } = verdict(&SlotInput { failed: 1, ..i }) else {
            panic!("expected a failure");
        };
        assert!(reason.contains("workflow.maxFailures (1)"), "{reason}");
    }

    #[test]
    fn no_completions_needed_is_an_immediate_success() {
        let i = input(0, 6, 1);
        assert_eq!(decide(&i).start, 0);
        assert_eq!(verdict(&i), Verdict::Succeeded);
    }
}
