//! The per-sequence state machine: one job per step, in order, until the last step succeeds.
//!
//! A [`Sequence`] is pure: it is fed the observed phases of its jobs ([`Sequence::observe`]),
//! rule decisions ([`Sequence::request_repeat`]) and outside failures ([`Sequence::abort`]), and
//! answers with [`Effect`]s that the StateMachine actor carries out (submit a job, replace it,
//! clean up, report). It never performs I/O, so every path is unit-tested here.
//!
//! ```text
//!                     start(id, N)        (N = 0: Failed at once, Cleanup, Finished(Failed))
//!                          |
//!                          v  Submit{0,1}
//!   +-----------> Running{step, attempt} <-------------------------------------+
//!   |                 |   |   |   |                                           |
//!   +-----------------+   |   |   |  Succeeded*, repeat pending:              |
//!   Pending / Running,    |   |   +--- StepFinished, Replace{step, attempt+1} -+ (same step,
//!   stale or duplicate    |   |                                                   attempt+1)
//!   events: no effects    |   |  Succeeded*, no repeat, step < N-1:
//!                         |   +----- StepFinished, Submit{step+1, 1} --> Running{step+1, 1}
//!                         |
//!                         +-- Succeeded*, no repeat, step = N-1:
//!                         |     StepFinished, Finished(Completed) --------> Completed
//!                         |
//!                         +-- Failed (step not always-succeed):
//!                         |     StepFinished(Failed), Cleanup, Finished(Failed)
//!                         |                                      --------> Failed{step, reason}
//!                         +-- abort(reason):
//!                               Cleanup, Finished(Failed) --------------> Failed{step, reason}
//!
//!   Succeeded* = the job succeeded, or failed in an always-succeed step
//!                (StepFinished then says FailedButAlwaysSucceed).
//!   Completed and Failed are final: nothing changes them, nothing more is emitted.
//! ```
//!
//! Only an observation of the *current* `(step, attempt)` can change the state. Late events of
//! earlier steps or attempts, a second terminal event of the same job, and anything after the
//! sequence has ended are ignored, so every `(step, attempt)` yields exactly one
//! [`Effect::StepFinished`] and every sequence exactly one [`Effect::Finished`]. (The original
//! re-counted duplicate terminal events and marked the *next* step as succeeded, advancing it
//! before its job had run.)
//!
//! State can be rebuilt after a restart from the jobs that exist ([`Sequence::restore`]): the
//! cluster, not memory, is the source of truth.

use crate::names::JobId;

/// Observed phase of one step's job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// Created but not running yet (no active pod).
    Pending,
    /// At least one pod is active, including a job retrying after a pod failure.
    Running,
    /// The job finished successfully.
    Succeeded,
    /// The job failed for good (it will not retry any more).
    Failed {
        /// Why, as Kubernetes or the local executor reported it.
        reason: String,
    },
}

impl JobPhase {
    /// Whether the job has finished, one way or the other.
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobPhase::Succeeded | JobPhase::Failed { .. })
    }

    /// Orders phases of the same `(step, attempt)` by how far they got, so that restore prefers a
    /// terminal observation over a stale running one of the same job.
    fn progress(&self) -> u8 {
        match self {
            JobPhase::Pending => 0,
            JobPhase::Running => 1,
            JobPhase::Succeeded | JobPhase::Failed { .. } => 2,
        }
    }
}

/// Where a sequence is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SequenceState {
    /// The job of `step` (0-based), submission number `attempt` (1-based), is expected or running.
    Running {
        /// Index of the current step.
        step: usize,
        /// Attempt of the current step: 1 for the first submission, +1 for every repeat.
        attempt: u32,
    },
    /// The last step succeeded.
    Completed,
    /// The sequence failed at `step`.
    Failed {
        /// Index of the step that failed (or was running when the sequence was aborted).
        step: usize,
        /// Why it failed.
        reason: String,
    },
}

/// How one step's job ended, as reported to the Manager for counting and rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// The job succeeded.
    Succeeded,
    /// The job failed, and so did the sequence.
    Failed {
        /// Why the job failed.
        reason: String,
    },
    /// The job failed, but its step is marked `always-succeed`, so the sequence carried on.
    FailedButAlwaysSucceed {
        /// Why the job failed.
        reason: String,
    },
}

/// How a sequence ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SequenceOutcome {
    /// Every step succeeded.
    Completed,
    /// The sequence failed at `step`.
    Failed {
        /// Index of the step that failed.
        step: usize,
        /// Why it failed.
        reason: String,
    },
}

/// What the owner of a [`Sequence`] must do next, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Create the job of `step`; `attempt` 1 is the first submission. Submission must be
    /// idempotent: after a restore the job may already exist.
    Submit {
        /// Index of the step to submit.
        step: usize,
        /// Attempt number, written to the job's attempt label.
        attempt: u32,
    },
    /// A repeat: delete the job of the previous attempt of `step`, then submit this `attempt`.
    Replace {
        /// Index of the step to run again.
        step: usize,
        /// The new attempt number (previous + 1).
        attempt: u32,
    },
    /// The job of `(step, attempt)` ended. Emitted exactly once per `(step, attempt)`; the Manager
    /// counts it and evaluates the step's rules on it.
    StepFinished {
        /// Index of the step whose job ended.
        step: usize,
        /// Attempt of that job.
        attempt: u32,
        /// How it ended.
        outcome: StepOutcome,
    },
    /// Delete every job object and ConfigMap of the sequence (on failure; the original's cleanup
    /// was a no-op, so failed jobs and their ConfigMaps piled up).
    Cleanup,
    /// The sequence has ended; emitted exactly once, always last.
    Finished(SequenceOutcome),
}

/// Why a sequence of a workflow without steps fails at once (validation forbids such workflows,
/// but the machine must not panic or pretend to complete if one slips through).
const NO_STEPS: &str = "the workflow has no steps";

/// One job sequence: its id, how many steps it has, where it is, and whether a repeat of the
/// current step was requested.
///
/// Deliberately small (no per-step data): thousands run at once, each inside its own actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    id: JobId,
    steps: usize,
    state: SequenceState,
    /// A `repeat` rule fired for the current step: on success, run it again instead of advancing.
    repeat: bool,
}

impl Sequence {
    /// A new sequence at step 0, attempt 1, with the effect that submits that first job.
    pub fn start(id: JobId, steps: usize) -> (Sequence, Vec<Effect>) {
        let mut sequence = Sequence { id, steps, state: SequenceState::Running { step: 0, attempt: 1 }, repeat: false };
        if steps == 0 {
            let effects = sequence.abort(NO_STEPS.into());
            return (sequence, effects);
        }
        (sequence, vec![Effect::Submit { step: 0, attempt: 1 }])
    }

    /// Feeds the observed `phase` of the job of `(step, attempt)`; `always_succeed` says whether
    /// that step's failures count as success. Returns what to do about it (often nothing).
    ///
    /// Anything but a terminal phase of the current `(step, attempt)` is ignored: pending and
    /// running jobs, late or duplicate events, out-of-range steps, and events after the end.
    pub fn observe(&mut self, step: usize, attempt: u32, phase: JobPhase, always_succeed: bool) -> Vec<Effect> {
        if step >= self.steps || self.current() != Some((step, attempt)) {
            return Vec::new();
        }
        match phase {
            JobPhase::Pending | JobPhase::Running => Vec::new(),
            JobPhase::Succeeded => self.step_succeeded(step, attempt, StepOutcome::Succeeded),
            // A failure of an always-succeed step is handled exactly like a success, including a
            // pending repeat: the step's failures are declared harmless, so the sequence carries
            // on (the original recorded the success but never advanced).
            JobPhase::Failed { reason } if always_succeed => {
                self.step_succeeded(step, attempt, StepOutcome::FailedButAlwaysSucceed { reason })
            }
            JobPhase::Failed { reason } => {
                self.repeat = false;
                self.state = SequenceState::Failed { step, reason: reason.clone() };
                vec![
                    Effect::StepFinished { step, attempt, outcome: StepOutcome::Failed { reason: reason.clone() } },
                    Effect::Cleanup,
                    Effect::Finished(SequenceOutcome::Failed { step, reason }),
                ]
            }
        }
    }

    /// A `repeat` rule fired: when the current job succeeds, run the same step again (a new
    /// attempt) instead of advancing. Returns false, and changes nothing, if the sequence has
    /// already ended. Requesting twice before the job ends still repeats once.
    pub fn request_repeat(&mut self) -> bool {
        if self.is_terminal() {
            return false;
        }
        self.repeat = true;
        true
    }

    /// Fails the sequence for a reason outside its jobs (a submission error, a crashed actor):
    /// cleans up and finishes. Does nothing if the sequence has already ended.
    pub fn abort(&mut self, reason: String) -> Vec<Effect> {
        let SequenceState::Running { step, .. } = self.state else {
            return Vec::new();
        };
        self.repeat = false;
        self.state = SequenceState::Failed { step, reason: reason.clone() };
        vec![Effect::Cleanup, Effect::Finished(SequenceOutcome::Failed { step, reason })]
    }

    /// Rebuilds a sequence after a restart from the jobs that exist for it: `observed` holds
    /// `(step, attempt, phase)` of each, `always_succeed[step]` whether that step's failures
    /// count as success (missing entries: false).
    ///
    /// The job with the highest `(step, attempt)` decides: pending or running ⇒ wait for it (no
    /// effects, nothing is re-submitted); succeeded ⇒ submit the next step or complete; failed ⇒
    /// clean up and fail. No jobs ⇒ like [`Sequence::start`]. A repeat requested before the
    /// restart is not remembered (rules fire again on new results). Out-of-range steps are
    /// ignored. `StepFinished` is not emitted for jobs that ended before the restart: they were
    /// reported (or are counted from the cluster) already.
    pub fn restore(
        id: JobId,
        steps: usize,
        always_succeed: &[bool],
        observed: &[(usize, u32, JobPhase)],
    ) -> (Sequence, Vec<Effect>) {
        let latest = observed
            .iter()
            .filter(|(step, _, _)| *step < steps)
            .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| a.2.progress().cmp(&b.2.progress())));
        let Some((step, attempt, phase)) = latest else {
            return Sequence::start(id, steps);
        };
        let (step, attempt) = (*step, *attempt);
        let mut sequence = Sequence { id, steps, state: SequenceState::Running { step, attempt }, repeat: false };
        let effects = match phase {
            JobPhase::Pending | JobPhase::Running => Vec::new(),
            JobPhase::Failed { reason } if !always_succeed.get(step).copied().unwrap_or(false) => {
                sequence.state = SequenceState::Failed { step, reason: reason.clone() };
                vec![Effect::Cleanup, Effect::Finished(SequenceOutcome::Failed { step, reason: reason.clone() })]
            }
            JobPhase::Succeeded | JobPhase::Failed { .. } => sequence.advance(step),
        };
        (sequence, effects)
    }

    /// The sequence's job id.
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// Where the sequence is.
    pub fn state(&self) -> &SequenceState {
        &self.state
    }

    /// Number of steps of the workflow.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The current `(step, attempt)` while running; None once ended.
    pub fn current(&self) -> Option<(usize, u32)> {
        match self.state {
            SequenceState::Running { step, attempt } => Some((step, attempt)),
            SequenceState::Completed | SequenceState::Failed { .. } => None,
        }
    }

    /// Whether a repeat of the current step has been requested and not yet carried out.
    pub fn repeat_pending(&self) -> bool {
        self.repeat
    }

    /// Whether the sequence has completed or failed.
    pub fn is_terminal(&self) -> bool {
        !matches!(self.state, SequenceState::Running { .. })
    }

    /// The current job counts as a success: repeat it if asked, else move on.
    fn step_succeeded(&mut self, step: usize, attempt: u32, outcome: StepOutcome) -> Vec<Effect> {
        let mut effects = vec![Effect::StepFinished { step, attempt, outcome }];
        if self.repeat {
            self.repeat = false;
            let attempt = attempt.saturating_add(1);
            self.state = SequenceState::Running { step, attempt };
            effects.push(Effect::Replace { step, attempt });
        } else {
            effects.extend(self.advance(step));
        }
        effects
    }

    /// `step` is done: submit the next one, or complete after the last.
    fn advance(&mut self, step: usize) -> Vec<Effect> {
        let next = step + 1;
        if next < self.steps {
            self.state = SequenceState::Running { step: next, attempt: 1 };
            vec![Effect::Submit { step: next, attempt: 1 }]
        } else {
            self.state = SequenceState::Completed;
            vec![Effect::Finished(SequenceOutcome::Completed)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> JobId {
        JobId::new("job_000000042")
    }

    fn failed(reason: &str) -> JobPhase {
        JobPhase::Failed { reason: reason.into() }
    }

    fn finished(step: usize, attempt: u32, outcome: StepOutcome) -> Effect {
        Effect::StepFinished { step, attempt, outcome }
    }

    fn seq_failed(step: usize, reason: &str) -> Effect {
        Effect::Finished(SequenceOutcome::Failed { step, reason: reason.into() })
    }

    /// Runs a sequence of three steps to the given `(step, attempt)` by succeeding each step.
    fn running_at(step: usize) -> Sequence {
        let (mut s, _) = Sequence::start(id(), 3);
        for done in 0..step {
            s.observe(done, 1, JobPhase::Succeeded, false);
        }
        assert_eq!(s.current(), Some((step, 1)));
        s
    }

    #[test]
    fn start_submits_the_first_step() {
        let (s, effects) = Sequence::start(id(), 3);
        assert_eq!(effects, vec![Effect::Submit { step: 0, attempt: 1 }]);
        assert_eq!(s.state(), &SequenceState::Running { step: 0, attempt: 1 });
        assert_eq!(s.id(), &id());
        assert_eq!(s.steps(), 3);
        assert!(!s.is_terminal());
        assert!(!s.repeat_pending());
    }

    #[test]
    fn a_workflow_without_steps_fails_at_once_instead_of_panicking() {
        let (s, effects) = Sequence::start(id(), 0);
        assert_eq!(effects, vec![Effect::Cleanup, seq_failed(0, NO_STEPS)]);
        assert!(s.is_terminal());
    }

    #[test]
    fn successful_steps_run_in_order_and_complete() {
        let (mut s, _) = Sequence::start(id(), 3);
        assert_eq!(
            s.observe(0, 1, JobPhase::Succeeded, false),
            vec![finished(0, 1, StepOutcome::Succeeded), Effect::Submit { step: 1, attempt: 1 }]
        );
        assert_eq!(
            s.observe(1, 1, JobPhase::Succeeded, false),
            vec![finished(1, 1, StepOutcome::Succeeded), Effect::Submit { step: 2, attempt: 1 }]
        );
        assert_eq!(
            s.observe(2, 1, JobPhase::Succeeded, false),
            vec![finished(2, 1, StepOutcome::Succeeded), Effect::Finished(SequenceOutcome::Completed)]
        );
        assert_eq!(s.state(), &SequenceState::Completed);
        assert!(s.is_terminal());
        assert_eq!(s.current(), None);
    }

    #[test]
    fn single_step_sequence_completes_on_its_first_success() {
        let (mut s, _) = Sequence::start(id(), 1);
        assert_eq!(
            s.observe(0, 1, JobPhase::Succeeded, false),
            vec![finished(0, 1, StepOutcome::Succeeded), Effect::Finished(SequenceOutcome::Completed)]
        );
    }

    #[test]
    fn pending_and_running_observations_change_nothing() {
        for phase in [JobPhase::Pending, JobPhase::Running] {
            let mut s = running_at(1);
            let before = s.clone();
            assert_eq!(s.observe(1, 1, phase.clone(), false), vec![], "{phase:?}");
            assert_eq!(s.observe(1, 1, phase.clone(), true), vec![], "{phase:?}");
            assert_eq!(s, before, "{phase:?}");
        }
    }

    #[test]
    fn duplicate_terminal_event_is_counted_once() {
        // Original bug: a second terminal event of step 0 was counted again and marked the
        // *current* step (1) as succeeded, advancing it before its job ran.
        let (mut s, _) = Sequence::start(id(), 3);
        let first = s.observe(0, 1, JobPhase::Succeeded, false);
        assert_eq!(first.iter().filter(|e| matches!(e, Effect::StepFinished { .. })).count(), 1);
        let after_first = s.clone();
        for phase in [JobPhase::Succeeded, failed("late"), JobPhase::Running, JobPhase::Pending] {
            assert_eq!(s.observe(0, 1, phase.clone(), false), vec![], "{phase:?}");
            assert_eq!(s.observe(0, 1, phase, true), vec![]);
        }
        assert_eq!(s, after_first);
        assert_eq!(s.current(), Some((1, 1)));
    }

    #[test]
    fn only_the_current_step_and_attempt_are_observed() {
        // (step, attempt, why it is not current) for a sequence at step 1 attempt 2.
        let cases: &[(usize, u32, &str)] = &[
            (0, 1, "earlier step"),
            (1, 1, "earlier attempt (the replaced job)"),
            (1, 3, "future attempt"),
            (2, 1, "later step"),
            (2, 2, "later step, same attempt"),
            (3, 1, "out of range"),
            (usize::MAX, u32::MAX, "far out of range"),
        ];
        let (mut base, _) = Sequence::start(id(), 3);
        base.observe(0, 1, JobPhase::Succeeded, false);
        assert!(base.request_repeat());
        base.observe(1, 1, JobPhase::Succeeded, false);
        assert_eq!(base.current(), Some((1, 2)));
        for &(step, attempt, why) in cases {
            for phase in [JobPhase::Succeeded, failed("x")] {
                for always in [false, true] {
                    let mut s = base.clone();
                    assert_eq!(s.observe(step, attempt, phase.clone(), always), vec![], "{why}");
                    assert_eq!(s, base, "{why}");
                }
            }
        }
    }

    #[test]
    fn failed_step_fails_sequence_and_cleans_up() {
        // Original bug: cleanup was a no-op, so failed sequences left their Jobs and ConfigMaps.
        let mut s = running_at(1);
        assert_eq!(
            s.observe(1, 1, failed("BackoffLimitExceeded"), false),
            vec![
                finished(1, 1, StepOutcome::Failed { reason: "BackoffLimitExceeded".into() }),
                Effect::Cleanup,
                seq_failed(1, "BackoffLimitExceeded"),
            ]
        );
        assert_eq!(s.state(), &SequenceState::Failed { step: 1, reason: "BackoffLimitExceeded".into() });
        assert!(s.is_terminal());
    }

    #[test]
    fn always_succeed_advances_the_sequence() {
        // Original bug: a failed always-succeed job was marked succeeded but never advanced.
        let mut s = running_at(1);
        assert_eq!(
            s.observe(1, 1, failed("oops"), true),
            vec![
                finished(1, 1, StepOutcome::FailedButAlwaysSucceed { reason: "oops".into() }),
                Effect::Submit { step: 2, attempt: 1 },
            ]
        );
        assert_eq!(
            s.observe(2, 1, failed("again"), true),
            vec![
                finished(2, 1, StepOutcome::FailedButAlwaysSucceed { reason: "again".into() }),
                Effect::Finished(SequenceOutcome::Completed),
            ]
        );
        assert_eq!(s.state(), &SequenceState::Completed);
    }

    #[test]
    fn always_succeed_does_not_change_a_success() {
        let mut s = running_at(0);
        assert_eq!(
            s.observe(0, 1, JobPhase::Succeeded, true),
            vec![finished(0, 1, StepOutcome::Succeeded), Effect::Submit { step: 1, attempt: 1 }]
        );
    }

    #[test]
    fn repeat_then_success_replaces_the_job_with_a_new_attempt() {
        let mut s = running_at(1);
        assert!(s.request_repeat());
        assert!(s.repeat_pending());
        assert_eq!(
            s.observe(1, 1, JobPhase::Succeeded, false),
            vec![finished(1, 1, StepOutcome::Succeeded), Effect::Replace { step: 1, attempt: 2 }]
        );
        assert_eq!(s.state(), &SequenceState::Running { step: 1, attempt: 2 });
        assert!(!s.repeat_pending(), "the flag clears once the repeat is carried out");
        // Without a new request, the next success advances.
        assert_eq!(
            s.observe(1, 2, JobPhase::Succeeded, false),
            vec![finished(1, 2, StepOutcome::Succeeded), Effect::Submit { step: 2, attempt: 1 }]
        );
    }

    #[test]
    fn repeat_requested_twice_repeats_once() {
        let mut s = running_at(0);
        assert!(s.request_repeat());
        assert!(s.request_repeat());
        assert_eq!(s.observe(0, 1, JobPhase::Succeeded, false)[1], Effect::Replace { step: 0, attempt: 2 });
        assert_eq!(s.observe(0, 2, JobPhase::Succeeded, false)[1], Effect::Submit { step: 1, attempt: 1 });
    }

    #[test]
    fn repeat_of_the_last_step_delays_completion() {
        let mut s = running_at(2);
        s.request_repeat();
        assert_eq!(s.observe(2, 1, JobPhase::Succeeded, false)[1], Effect::Replace { step: 2, attempt: 2 });
        assert_eq!(
            s.observe(2, 2, JobPhase::Succeeded, false),
            vec![finished(2, 2, StepOutcome::Succeeded), Effect::Finished(SequenceOutcome::Completed)]
        );
    }

    #[test]
    fn repeat_then_failure_is_a_normal_failure() {
        let mut s = running_at(1);
        s.request_repeat();
        assert_eq!(
            s.observe(1, 1, failed("boom"), false),
            vec![finished(1, 1, StepOutcome::Failed { reason: "boom".into() }), Effect::Cleanup, seq_failed(1, "boom")]
        );
        assert!(!s.repeat_pending());
    }

    #[test]
    fn repeat_then_always_succeed_failure_repeats_like_a_success() {
        let mut s = running_at(1);
        s.request_repeat();
        assert_eq!(
            s.observe(1, 1, failed("meh"), true),
            vec![
                finished(1, 1, StepOutcome::FailedButAlwaysSucceed { reason: "meh".into() }),
                Effect::Replace { step: 1, attempt: 2 },
            ]
        );
    }

    #[test]
    fn repeat_is_refused_after_the_end() {
        let (mut done, _) = Sequence::start(id(), 1);
        done.observe(0, 1, JobPhase::Succeeded, false);
        let mut broken = running_at(0);
        broken.abort("x".into());
        for s in [&mut done, &mut broken] {
            let before = s.clone();
            assert!(!s.request_repeat());
            assert_eq!(*s, before);
        }
    }

    #[test]
    fn abort_fails_a_running_sequence_once() {
        let mut s = running_at(2);
        s.request_repeat();
        assert_eq!(s.abort("submission refused".into()), vec![Effect::Cleanup, seq_failed(2, "submission refused")]);
        assert_eq!(s.state(), &SequenceState::Failed { step: 2, reason: "submission refused".into() });
        assert!(!s.repeat_pending());
        assert_eq!(s.abort("again".into()), vec![], "Finished is emitted once");
    }

    #[test]
    fn nothing_happens_after_the_end() {
        let (mut completed, _) = Sequence::start(id(), 1);
        completed.observe(0, 1, JobPhase::Succeeded, false);
        let mut failed_seq = running_at(0);
        failed_seq.observe(0, 1, failed("x"), false);
        for s in [&mut completed, &mut failed_seq] {
            let before = s.clone();
            assert_eq!(s.abort("late".into()), vec![]);
            for phase in [JobPhase::Pending, JobPhase::Running, JobPhase::Succeeded, failed("y")] {
                for (step, attempt) in [(0, 1), (0, 2), (1, 1)] {
                    assert_eq!(s.observe(step, attempt, phase.clone(), true), vec![]);
                    assert_eq!(s.observe(step, attempt, phase.clone(), false), vec![]);
                }
            }
            assert_eq!(*s, before);
        }
    }

    #[test]
    fn each_step_and_attempt_finishes_exactly_once_under_event_storms() {
        // Feed every event many times over, in order and replayed: the effects must be the
        // clean run's, StepFinished once per (step, attempt), Finished once.
        let (mut s, mut effects) = Sequence::start(id(), 3);
        s.request_repeat();
        let script = [(0, 1), (0, 2), (1, 1), (2, 1)];
        for (i, &(step, attempt)) in script.iter().enumerate() {
            for _ in 0..3 {
                effects.extend(s.observe(step, attempt, JobPhase::Running, false));
                effects.extend(s.observe(step, attempt, JobPhase::Succeeded, false));
                for &(old_step, old_attempt) in &script[..i] {
                    effects.extend(s.observe(old_step, old_attempt, JobPhase::Succeeded, false));
                    effects.extend(s.observe(old_step, old_attempt, failed("late"), false));
                }
            }
        }
        let step_finished: Vec<(usize, u32)> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::StepFinished { step, attempt, .. } => Some((*step, *attempt)),
                _ => None,
            })
            .collect();
        assert_eq!(step_finished, script);
        assert_eq!(effects.iter().filter(|e| matches!(e, Effect::Finished(_))).count(), 1);
        assert_eq!(effects.last(), Some(&Effect::Finished(SequenceOutcome::Completed)));
    }

    #[test]
    fn restore_resubmits_nothing_that_exists() {
        // Original bug: restored machines stayed at `start` and re-submitted step 1 (Conflict).
        let always = [false, true, false];
        // (observed jobs, expected state, expected effects)
        type Case = (Vec<(usize, u32, JobPhase)>, SequenceState, Vec<Effect>);
        let cases: Vec<Case> = vec![
            (vec![], SequenceState::Running { step: 0, attempt: 1 }, vec![Effect::Submit { step: 0, attempt: 1 }]),
            (vec![(0, 1, JobPhase::Pending)], SequenceState::Running { step: 0, attempt: 1 }, vec![]),
            (
                vec![(0, 1, JobPhase::Succeeded), (1, 1, JobPhase::Running)],
                SequenceState::Running { step: 1, attempt: 1 },
                vec![],
            ),
            (
                vec![(1, 3, JobPhase::Running), (0, 1, JobPhase::Succeeded)],
                SequenceState::Running { step: 1, attempt: 3 },
                vec![],
            ),
            (
                vec![(0, 1, JobPhase::Succeeded)],
                SequenceState::Running { step: 1, attempt: 1 },
                vec![Effect::Submit { step: 1, attempt: 1 }],
            ),
            (
                vec![(0, 1, JobPhase::Succeeded), (1, 2, failed("x"))],
                SequenceState::Running { step: 2, attempt: 1 },
                vec![Effect::Submit { step: 2, attempt: 1 }],
            ),
            (
                vec![(0, 1, JobPhase::Succeeded), (1, 1, JobPhase::Succeeded), (2, 1, JobPhase::Succeeded)],
                SequenceState::Completed,
                vec![Effect::Finished(SequenceOutcome::Completed)],
            ),
            (
                vec![(2, 1, failed("BackoffLimitExceeded")), (1, 1, JobPhase::Succeeded)],
                SequenceState::Failed { step: 2, reason: "BackoffLimitExceeded".into() },
                vec![Effect::Cleanup, seq_failed(2, "BackoffLimitExceeded")],
            ),
            (
                vec![(0, 1, failed("no"))],
                SequenceState::Failed { step: 0, reason: "no".into() },
                vec![Effect::Cleanup, seq_failed(0, "no")],
            ),
            // Out-of-range steps are ignored.
            (
                vec![(7, 1, JobPhase::Succeeded)],
                SequenceState::Running { step: 0, attempt: 1 },
                vec![Effect::Submit { step: 0, attempt: 1 }],
            ),
            (
                vec![(0, 1, JobPhase::Running), (3, 1, failed("x"))],
                SequenceState::Running { step: 0, attempt: 1 },
                vec![],
            ),
            // A stale running observation of the same job loses to its terminal one.
            (
                vec![(0, 1, JobPhase::Succeeded), (0, 1, JobPhase::Running)],
                SequenceState::Running { step: 1, attempt: 1 },
                vec![Effect::Submit { step: 1, attempt: 1 }],
            ),
        ];
        for (observed, state, effects) in cases {
            let (s, got) = Sequence::restore(id(), 3, &always, &observed);
            assert_eq!(s.state(), &state, "{observed:?}");
            assert_eq!(got, effects, "{observed:?}");
            assert!(
                !got.iter().any(|e| matches!(e, Effect::Submit { step, attempt } | Effect::Replace { step, attempt }
                    if observed.iter().any(|(s, a, _)| s == step && a == attempt))),
                "re-submitted an existing job: {observed:?}"
            );
        }
    }

    #[test]
    fn restore_with_missing_always_succeed_entries_treats_failure_as_failure() {
        let (s, effects) = Sequence::restore(id(), 3, &[], &[(1, 1, failed("x"))]);
        assert_eq!(effects, vec![Effect::Cleanup, seq_failed(1, "x")]);
        assert!(s.is_terminal());
    }

    #[test]
    fn restored_sequence_continues_from_the_job_that_exists() {
        let (mut s, effects) =
            Sequence::restore(id(), 3, &[false; 3], &[(0, 1, JobPhase::Succeeded), (1, 2, JobPhase::Running)]);
        assert!(effects.is_empty());
        assert_eq!(s.observe(1, 1, JobPhase::Succeeded, false), vec![], "the replaced attempt is stale");
        assert_eq!(
            s.observe(1, 2, JobPhase::Succeeded, false),
            vec![finished(1, 2, StepOutcome::Succeeded), Effect::Submit { step: 2, attempt: 1 }]
        );
    }

    #[test]
    fn restore_of_a_workflow_without_steps_fails() {
        let (s, effects) = Sequence::restore(id(), 0, &[], &[(0, 1, JobPhase::Running)]);
        assert!(s.is_terminal());
        assert_eq!(effects, vec![Effect::Cleanup, seq_failed(0, NO_STEPS)]);
    }

    #[test]
    fn attempt_numbers_saturate_instead_of_overflowing() {
        let (mut s, _) = Sequence::restore(id(), 1, &[], &[(0, u32::MAX, JobPhase::Running)]);
        s.request_repeat();
        assert_eq!(
            s.observe(0, u32::MAX, JobPhase::Succeeded, false)[1],
            Effect::Replace { step: 0, attempt: u32::MAX }
        );
    }

    #[test]
    fn sequence_is_small() {
        // A benchmark runs 1,000 sequences at once within 2 KiB each, actor included; the machine
        // itself must stay a small fraction of that (no per-step data). 72 bytes on 64-bit
        // targets, plus the id's and a failure reason's heap bytes.
        let size = std::mem::size_of::<Sequence>();
        assert!(size <= 80, "size_of::<Sequence>() = {size}");
    }
}
