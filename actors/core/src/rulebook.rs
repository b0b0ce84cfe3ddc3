//! Evaluation of metric rules with the intended semantics (see [`crate::rules`]).
//!
//! The [`Rulebook`] owns the parsed rules and the state each carries between evaluations (firings
//! so far, evaluations left to skip). It only decides: the caller applies the returned
//! [`RuleEffect`]s (resizing later jobs of a step, repeating a step, finishing the workflow).

use std::fmt;

use crate::rules::{Action, Condition, MetricRef, Rule};
use crate::stats::Stats;

/// When, around a finished job, a rule is evaluated (not to be confused with a job's phase).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `repeat` rules: after the finished job's metrics are recorded but before its outcome is
    /// applied to its sequence, so that a firing can make the sequence run the step again.
    Sequence,
    /// `grow`, `shrink` and `finish-workflow` rules: after the outcome is applied.
    Workflow,
}

impl Scope {
    /// The phase in which rules with `action` are evaluated.
    pub fn of(action: Action) -> Scope {
        match action {
            Action::Repeat => Scope::Sequence,
            Action::Grow | Action::Shrink | Action::FinishWorkflow => Scope::Workflow,
        }
    }
}

/// What the workflow looks like when rules are evaluated.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    /// Sequences completed so far (for `minCompletions`).
    pub completions: u32,
    /// The cluster's `maxSize`: no step grows beyond it, whatever its rule says.
    pub cluster_max: u32,
    /// Current node count of a step (what `grow`/`shrink` start from).
    pub nodes: &'a dyn Fn(&str) -> u32,
}

/// What a firing asks the caller to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleEffect {
    /// Later jobs of `step` get `to` nodes instead of `from`.
    Resize {
        /// The step resized.
        step: String,
        /// Its node count before.
        from: u32,
        /// Its node count after.
        to: u32,
    },
    /// The sequence whose job just finished runs `step` again instead of advancing.
    Repeat {
        /// The step to run again.
        step: String,
    },
    /// The workflow ends now, successfully.
    FinishWorkflow,
}

/// A rule that fired, with what made it fire (for logs and events).
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    /// Index of the rule in [`Rulebook::rules`].
    pub rule: usize,
    /// The metric read.
    pub metric: MetricRef,
    /// The rule's action.
    pub action: Action,
    /// The rule's condition.
    pub condition: Condition,
    /// The metric's value that satisfied the condition.
    pub value: f64,
    /// What to do.
    pub effect: RuleEffect,
}

impl fmt::Display for Firing {
    /// `grow: mean.a.duration >= 30 (31.5), nodes 2 => 3`, like the original's log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {} ({})", self.action, self.metric, self.condition, self.value)?;
        match &self.effect {
            RuleEffect::Resize { from, to, .. } => write!(f, ", nodes {from} => {to}"),
            RuleEffect::Repeat { .. } | RuleEffect::FinishWorkflow => Ok(()),
        }
    }
}

/// Per-rule state carried between evaluations.
#[derive(Clone, Copy, Debug, Default)]
struct RuleState {
    /// Times the rule fired.
    fired: u32,
    /// Evaluations still to skip (set to `backoff` by each firing).
    skip: u32,
}

/// The rules of a workflow and their state.
#[derive(Clone, Debug)]
pub struct Rulebook {
    rules: Vec<Rule>,
    state: Vec<RuleState>,
}

impl Rulebook {
    /// A rulebook with nothing fired yet. Nothing is evaluated here: the original checked each
    /// rule at load time by running it, which consumed one of its repetitions.
    pub fn new(rules: Vec<Rule>) -> Rulebook {
        let state = vec![RuleState::default(); rules.len()];
        Rulebook { rules, state }
    }

    /// Evaluates, in declaration order, every rule whose metric's step is `step` and whose action
    /// belongs to `phase`, after a job of `step` finished; returns the rules that fired.
    ///
    /// Per rule: skipped once `repetitions` firings happened; skipped without counting as an
    /// evaluation while fewer than `minCompletions` sequences completed; skipped while evaluations
    /// remain from the last firing's `backoff`; no firing if the metric has no value or `when`
    /// does not hold, nor if a `grow`/`shrink` is already at its bound (which neither consumes a
    /// repetition nor starts a backoff, so the rule acts again once the step moves off its bound).
    pub fn evaluate(&mut self, step: &str, phase: Scope, stats: &Stats, facts: &Facts) -> Vec<Firing> {
        let mut firings = Vec::new();
        for (index, (rule, state)) in self.rules.iter().zip(self.state.iter_mut()).enumerate() {
            if rule.metric.step != step || Scope::of(rule.action) != phase {
                continue;
            }
            if rule.repetitions.is_some_and(|n| state.fired >= n) || facts.completions < rule.min_completions {
                continue;
            }
            if state.skip > 0 {
                state.skip -= 1;
                continue;
            }
            let Some(value) = stats.value(rule.metric.model, step, &rule.metric.key) else { continue };
            if !rule.when.holds(value) {
                continue;
            }
            let Some(effect) = effect(rule, facts) else { continue };
            state.fired += 1;
            state.skip = rule.backoff;
            firings.push(Firing {
                rule: index,
                metric: rule.metric.clone(),
                action: rule.action,
                condition: rule.when,
                value,
                effect,
            });
        }
        firings
    }

    /// The rules, in declaration order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many times rule `rule` fired (0 for an index out of range), for the end-of-run summary.
    pub fn firings(&self, rule: usize) -> u32 {
        self.state.get(rule).map_or(0, |s| s.fired)
    }
}

/// The effect of a rule whose condition holds, or `None` if a resize is at its bound.
fn effect(rule: &Rule, facts: &Facts) -> Option<RuleEffect> {
    let step = &rule.metric.step;
    let resize = |to: u32, from: u32| (to != from).then(|| RuleEffect::Resize { step: step.clone(), from, to });
    match rule.action {
        Action::Grow => {
            // Grow reaches maxSize inclusive, and never beyond the cluster (the original stopped
            // one short and crashed without maxSize). `to > from` also keeps a step that is
            // already above its bound from "growing" downwards.
            let from = (facts.nodes)(step);
            let bound = rule.max_size.unwrap_or(facts.cluster_max).min(facts.cluster_max);
            let to = from.saturating_add(1).min(bound);
            if to > from { resize(to, from) } else { None }
        }
        Action::Shrink => {
            let from = (facts.nodes)(step);
            let to = from.saturating_sub(1).max(rule.min_size);
            if to < from { resize(to, from) } else { None }
        }
        Action::Repeat => Some(RuleEffect::Repeat { step: step.clone() }),
        Action::FinishWorkflow => Some(RuleEffect::FinishWorkflow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{RuleSpec, When};

    /// A rule from its manifest fields; `when` is text, as in YAML (`None`: absent).
    fn rule(metric: &str, action: &str, when: Option<&str>) -> RuleSpec {
        RuleSpec {
            metric: metric.into(),
            action: action.into(),
            when: when.map(|w| When::Text(w.into())),
            ..RuleSpec::default()
        }
    }

    fn book(specs: &[RuleSpec]) -> Rulebook {
        let rules = specs.iter().map(|s| Rule::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))).collect();
        Rulebook::new(rules)
    }

    /// `step` "a" with `n` durations of `value` (and as many successes).
    fn stats(value: f64, n: usize) -> Stats {
        let mut s = Stats::new();
        for _ in 0..n {
            s.increment("a", "success");
            s.record("a", "duration", value);
        }
        s
    }

    fn eval(
        book: &mut Rulebook,
        phase: Scope,
        stats: &Stats,
        completions: u32,
        nodes: u32,
        cluster_max: u32,
    ) -> Vec<Firing> {
        let nodes = move |_: &str| nodes;
        book.evaluate("a", phase, stats, &Facts { completions, cluster_max, nodes: &nodes })
    }

    /// Whether each of `times` successive workflow-phase evaluations fired.
    fn pattern(book: &mut Rulebook, stats: &Stats, times: usize) -> Vec<bool> {
        (0..times).map(|_| !eval(book, Scope::Workflow, stats, 0, 1, 10).is_empty()).collect()
    }

    #[test]
    fn inequality_fires_with_the_value_and_effect() {
        let mut b = book(&[rule("mean.a.duration", "grow", Some(">= 30"))]);
        let f = eval(&mut b, Scope::Workflow, &stats(31.5, 2), 0, 2, 10);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].rule, f[0].action, f[0].value), (0, Action::Grow, 31.5));
        assert_eq!(f[0].effect, RuleEffect::Resize { step: "a".into(), from: 2, to: 3 });
        assert_eq!(f[0].to_string(), "grow: mean.a.duration >= 30 (31.5), nodes 2 => 3");
        assert!(eval(&mut b, Scope::Workflow, &stats(29.0, 2), 0, 2, 10).is_empty());
        assert_eq!(b.firings(0), 1);
    }

    #[test]
    fn rule_with_backoff_fires_then_skips_evaluations() {
        // The original never fired a rule with `backoff` set.
        let mut b = book(&[RuleSpec { backoff: Some(2), ..rule("count.a.success", "finish-workflow", Some("> 0")) }]);
        assert_eq!(pattern(&mut b, &stats(1.0, 1), 7), [true, false, false, true, false, false, true]);
        let mut b = book(&[RuleSpec { backoff: Some(0), ..rule("count.a.success", "finish-workflow", Some("> 0")) }]);
        assert_eq!(pattern(&mut b, &stats(1.0, 1), 3), [true, true, true], "backoff 0 skips nothing");
    }

    #[test]
    fn backoff_counts_evaluations_whose_condition_fails() {
        let mut b = book(&[RuleSpec { backoff: Some(1), ..rule("mean.a.duration", "finish-workflow", Some("> 5")) }]);
        let (high, low) = (stats(10.0, 1), stats(1.0, 1));
        assert!(!eval(&mut b, Scope::Workflow, &high, 0, 1, 10).is_empty());
        assert!(eval(&mut b, Scope::Workflow, &high, 0, 1, 10).is_empty(), "skipped");
        assert!(eval(&mut b, Scope::Workflow, &low, 0, 1, 10).is_empty(), "evaluated, does not hold");
        assert!(!eval(&mut b, Scope::Workflow, &high, 0, 1, 10).is_empty());
    }

    #[test]
    fn equality_when_fires() {
        // The original never fired `== N` (rejected at load) nor a numeric `when`.
        for when in [Some(When::Text("== 3".into())), Some(When::Text("3".into())), Some(When::Number(3.0))] {
            let mut b = book(&[RuleSpec { when: when.clone(), ..rule("count.a.success", "finish-workflow", None) }]);
            assert!(eval(&mut b, Scope::Workflow, &stats(1.0, 2), 0, 1, 10).is_empty(), "{when:?} on 2");
            let f = eval(&mut b, Scope::Workflow, &stats(1.0, 3), 0, 1, 10);
            assert_eq!(f.iter().map(|f| &f.effect).collect::<Vec<_>>(), [&RuleEffect::FinishWorkflow], "{when:?} on 3");
        }
    }

    #[test]
    fn absent_when_fires_on_non_zero_value() {
        // The original never fired a rule without `when`.
        let mut b = book(&[rule("min.a.duration", "finish-workflow", None)]);
        assert!(eval(&mut b, Scope::Workflow, &stats(0.0, 1), 0, 1, 10).is_empty(), "zero");
        assert_eq!(eval(&mut b, Scope::Workflow, &stats(-2.0, 1), 0, 1, 10).len(), 1, "negative is non-zero");
        assert!(eval(&mut b, Scope::Workflow, &Stats::new(), 0, 1, 10).is_empty(), "no value");
    }

    #[test]
    fn grow_reaches_max_size_inclusive() {
        // The original stopped at maxSize - 1.
        let mut b = book(&[RuleSpec { max_size: Some(3), ..rule("count.a.success", "grow", Some("> 0")) }]);
        let s = stats(1.0, 1);
        let f = eval(&mut b, Scope::Workflow, &s, 0, 2, 10);
        assert_eq!(f[0].effect, RuleEffect::Resize { step: "a".into(), from: 2, to: 3 });
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 3, 10).is_empty(), "at maxSize");
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 5, 10).is_empty(), "above maxSize: never shrinks");
        assert_eq!(b.firings(0), 1);
    }

    #[test]
    fn grow_without_max_size_is_bounded_by_the_cluster() {
        // The original crashed (None + 1) without maxSize.
        let mut b = book(&[rule("count.a.success", "grow", Some("> 0"))]);
        let s = stats(1.0, 1);
        let f = eval(&mut b, Scope::Workflow, &s, 0, 3, 4);
        assert_eq!(f[0].effect, RuleEffect::Resize { step: "a".into(), from: 3, to: 4 });
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 4, 4).is_empty());
        // A maxSize above the cluster's is capped by the cluster too.
        let mut b = book(&[RuleSpec { max_size: Some(8), ..rule("count.a.success", "grow", Some("> 0")) }]);
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 4, 4).is_empty());
    }

    #[test]
    fn resize_at_its_bound_consumes_no_repetition_nor_backoff() {
        let mut b = book(&[RuleSpec {
            repetitions: Some(1),
            backoff: Some(3),
            max_size: Some(2),
            ..rule("count.a.success", "grow", Some("> 0"))
        }]);
        let s = stats(1.0, 1);
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 2, 10).is_empty());
        assert_eq!(b.firings(0), 0);
        assert_eq!(eval(&mut b, Scope::Workflow, &s, 0, 1, 10).len(), 1, "fires at once when off its bound");
    }

    #[test]
    fn shrink_stops_at_min_size() {
        let mut b = book(&[RuleSpec { min_size: Some(2), ..rule("count.a.success", "shrink", Some("> 0")) }]);
        let s = stats(1.0, 1);
        let f = eval(&mut b, Scope::Workflow, &s, 0, 3, 10);
        assert_eq!(f[0].effect, RuleEffect::Resize { step: "a".into(), from: 3, to: 2 });
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 2, 10).is_empty());
        // Without minSize the floor is one node.
        let mut b = book(&[rule("count.a.success", "shrink", Some("> 0"))]);
        assert_eq!(
            eval(&mut b, Scope::Workflow, &s, 0, 2, 10)[0].effect,
            RuleEffect::Resize { step: "a".into(), from: 2, to: 1 }
        );
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 1, 10).is_empty());
    }

    #[test]
    fn loading_rules_consumes_no_repetition() {
        // The original ran each rule once with value 10 at load time.
        let mut b =
            book(&[RuleSpec { repetitions: Some(1), ..rule("mean.a.duration", "finish-workflow", Some("> 5")) }]);
        assert_eq!(b.firings(0), 0);
        assert_eq!(eval(&mut b, Scope::Workflow, &stats(10.0, 1), 0, 1, 10).len(), 1);
    }

    #[test]
    fn repetitions_cap_the_firings() {
        let mut b =
            book(&[RuleSpec { repetitions: Some(2), ..rule("count.a.success", "finish-workflow", Some("> 0")) }]);
        assert_eq!(pattern(&mut b, &stats(1.0, 1), 4), [true, true, false, false]);
        assert_eq!(b.firings(0), 2);
        // `repetitions: 0` is unset (unlimited), as in the original's files.
        let mut b =
            book(&[RuleSpec { repetitions: Some(0), ..rule("count.a.success", "finish-workflow", Some("> 0")) }]);
        assert_eq!(pattern(&mut b, &stats(1.0, 1), 4), [true; 4]);
    }

    #[test]
    fn min_completions_holds_the_rule_back_without_counting_evaluations() {
        let mut b = book(&[RuleSpec {
            min_completions: Some(3),
            backoff: Some(1),
            ..rule("count.a.success", "finish-workflow", Some("> 0"))
        }]);
        let s = stats(1.0, 1);
        for completions in 0..3 {
            assert!(eval(&mut b, Scope::Workflow, &s, completions, 1, 10).is_empty(), "{completions} completions");
        }
        let fired: Vec<bool> = (0..3).map(|_| !eval(&mut b, Scope::Workflow, &s, 3, 1, 10).is_empty()).collect();
        assert_eq!(fired, [true, false, true]);
        // Held back again (completions never decrease in practice): the backoff is not consumed.
        assert!(eval(&mut b, Scope::Workflow, &s, 0, 1, 10).is_empty());
        assert!(eval(&mut b, Scope::Workflow, &s, 3, 1, 10).is_empty(), "the skip is still pending");
    }

    #[test]
    fn phases_select_their_actions() {
        let mut b = book(&[
            rule("count.a.success", "repeat", Some("> 0")),
            rule("count.a.success", "grow", Some("> 0")),
            rule("count.a.success", "shrink", Some("> 0")),
            rule("count.a.success", "finish-workflow", Some("> 0")),
        ]);
        let s = stats(1.0, 1);
        let seq = eval(&mut b, Scope::Sequence, &s, 0, 2, 10);
        assert_eq!(
            seq.iter().map(|f| (f.rule, f.effect.clone())).collect::<Vec<_>>(),
            [(0, RuleEffect::Repeat { step: "a".into() })]
        );
        let wf = eval(&mut b, Scope::Workflow, &s, 0, 2, 10);
        assert_eq!(wf.iter().map(|f| f.rule).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((b.firings(0), b.firings(1), b.firings(2), b.firings(3)), (1, 1, 1, 1));
    }

    #[test]
    fn rules_of_other_steps_are_untouched() {
        let mut b = book(&[RuleSpec { backoff: Some(1), ..rule("count.b.success", "finish-workflow", Some(">= 0")) }]);
        let mut s = stats(1.0, 1);
        s.increment("b", "success");
        for _ in 0..3 {
            assert!(eval(&mut b, Scope::Workflow, &s, 0, 1, 10).is_empty(), "a job of `a` finished");
        }
        let nodes = |_: &str| 1;
        let facts = Facts { completions: 0, cluster_max: 10, nodes: &nodes };
        assert_eq!(b.evaluate("b", Scope::Workflow, &s, &facts).len(), 1, "no backoff was consumed by `a`");
    }

    #[test]
    fn several_rules_on_one_step_fire_in_declaration_order() {
        let mut b = book(&[
            rule("max.a.duration", "finish-workflow", Some("> 100")),
            rule("mean.a.duration", "shrink", Some("< 10")),
            rule("count.a.success", "grow", Some(">= 1")),
        ]);
        let f = eval(&mut b, Scope::Workflow, &stats(5.0, 1), 0, 2, 10);
        assert_eq!(f.iter().map(|f| f.rule).collect::<Vec<_>>(), [1, 2]);
        // Each rule computes its effect from the node count the caller reports: applying them in
        // order is the caller's business.
        assert_eq!(f[0].effect, RuleEffect::Resize { step: "a".into(), from: 2, to: 1 });
        assert_eq!(f[1].effect, RuleEffect::Resize { step: "a".into(), from: 2, to: 3 });
        assert_eq!(b.rules().len(), 3);
        assert_eq!(b.firings(99), 0);
    }
}
