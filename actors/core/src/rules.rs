//! Metric rules (`workflow.events`): parsing and the intended semantics.
//!
//! A rule reads `<model>.<step>.<key>` from [`crate::stats::Stats`] after a job of `<step>`
//! finishes and, when `when` holds, performs its action:
//!
//! | action | effect |
//! |---|---|
//! | `grow` | later jobs of the step get one more node, up to and including `maxSize` (default `cluster.maxSize`) |
//! | `shrink` | later jobs of the step get one node fewer, down to `minSize` (default 1) |
//! | `repeat` | the sequence runs the step again instead of advancing |
//! | `finish-workflow` | the workflow ends now, successfully |
//!
//! `when` is `<`, `<=`, `>`, `>=` or `==` followed by a number, or a bare number (equality);
//! without `when` the rule holds when the value is non-zero. `repetitions` caps the number of
//! firings, `backoff` skips that many evaluations after each firing, and `minCompletions` holds
//! the rule back until that many sequences have completed.
//!
//! The original had bugs here that `smo` does not reproduce (each has a test named after the
//! intended behaviour): equality and absent `when` never fired, a rule with `backoff` never fired,
//! `grow` stopped one short of `maxSize` and crashed without it, and checking a rule at load time
//! consumed one of its repetitions.

use std::fmt;
use std::str::FromStr;

use crate::api::{RuleSpec, When};
use crate::stats::Model;

/// A parsed rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The metric read.
    pub metric: MetricRef,
    /// What to do.
    pub action: Action,
    /// When to do it.
    pub when: Condition,
    /// Maximum firings (None: unlimited).
    pub repetitions: Option<u32>,
    /// Evaluations skipped after each firing.
    pub backoff: u32,
    /// Completed sequences needed before the rule may fire.
    pub min_completions: u32,
    /// Upper bound of `grow` (None: the cluster's `maxSize`).
    pub max_size: Option<u32>,
    /// Lower bound of `shrink`.
    pub min_size: u32,
}

/// `<model>.<step>.<key>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetricRef {
    /// Statistic.
    pub model: Model,
    /// Step name.
    pub step: String,
    /// Metric key (`success`, `failure`, `duration`, or a custom key).
    pub key: String,
}

impl fmt::Display for MetricRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.model, self.step, self.key)
    }
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// One more node for later jobs of the step.
    Grow,
    /// One node fewer for later jobs of the step.
    Shrink,
    /// Run the step again instead of advancing.
    Repeat,
    /// End the workflow successfully.
    FinishWorkflow,
}

impl Action {
    /// Every action with its name.
    pub const ALL: [(&'static str, Action); 4] = [
        ("grow", Action::Grow),
        ("shrink", Action::Shrink),
        ("repeat", Action::Repeat),
        ("finish-workflow", Action::FinishWorkflow),
    ];

    /// The action's name in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Action::Grow => "grow",
            Action::Shrink => "shrink",
            Action::Repeat => "repeat",
            Action::FinishWorkflow => "finish-workflow",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        Action::ALL.iter().find(|(n, _)| *n == s).map(|(_, a)| *a).ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown action `{s}`{}; allowed: {}",
                crate::validate::did_you_mean(s, names.iter().copied()),
                names.join(", ")
            )
        })
    }
}

/// A comparison operator of `when`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (or a bare number)
    Eq,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

/// When a rule holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition {
    /// No `when`: the value is non-zero.
    NonZero,
    /// `value <op> threshold`.
    Compare(Op, f64),
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::NonZero => f.write_str("!= 0"),
            Condition::Compare(op, t) => write!(f, "{} {t}", op.symbol()),
        }
    }
}

impl Condition {
    /// Parses `when`.
    pub fn parse(when: Option<&When>) -> Result<Condition, String> {
        let text = match when {
            None => return Ok(Condition::NonZero),
            Some(When::Number(n)) => return Ok(Condition::Compare(Op::Eq, *n)),
            Some(When::Text(t)) => t.trim(),
        };
        if text.is_empty() {
            return Ok(Condition::NonZero);
        }
        let (op, rest) = if let Some(r) = text.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = text.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = text.strip_prefix("==") {
            (Op::Eq, r)
        } else if let Some(r) = text.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = text.strip_prefix('>') {
            (Op::Gt, r)
        } else if let Some(r) = text.strip_prefix('=') {
            (Op::Eq, r)
        } else {
            (Op::Eq, text)
        };
        let threshold: f64 = rest.trim().parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            format!("`{text}` is not a condition; use <, <=, >, >= or == followed by a number (e.g. \">= 5\"), or a bare number")
        })?;
        Ok(Condition::Compare(op, threshold))
    }

    /// True if `value` satisfies the condition.
    pub fn holds(self, value: f64) -> bool {
        match self {
            Condition::NonZero => value != 0.0,
            Condition::Compare(Op::Lt, t) => value < t,
            Condition::Compare(Op::Le, t) => value <= t,
            Condition::Compare(Op::Gt, t) => value > t,
            Condition::Compare(Op::Ge, t) => value >= t,
            Condition::Compare(Op::Eq, t) => value == t,
        }
    }
}

impl MetricRef {
    /// Parses `<model>.<step>.<key>` (the step is not checked against the workflow here).
    pub fn parse(metric: &str) -> Result<MetricRef, String> {
        let parts: Vec<&str> = metric.split('.').collect();
        let [model, step, key] = parts.as_slice() else {
            return Err(format!(
                "`{metric}` is not `<model>.<step>.<key>` (three parts separated by dots, e.g. `mean.job_a.duration`)"
            ));
        };
        let model: Model = model.parse()?;
        if step.is_empty() || key.is_empty() {
            return Err(format!("`{metric}` has an empty step or key; use `<model>.<step>.<key>`"));
        }
        Ok(MetricRef { model, step: step.to_string(), key: key.to_string() })
    }
}

/// A problem with one field of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The field (`metric`, `action`, `when`, …).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Rule {
    /// Parses a rule, reporting every bad field.
    pub fn parse(spec: &RuleSpec) -> Result<Rule, Vec<RuleError>> {
        let mut errors = Vec::new();
        let metric = MetricRef::parse(&spec.metric).map_err(|m| errors.push(RuleError { field: "metric", message: m }));
        let action = spec.action.parse::<Action>().map_err(|m| errors.push(RuleError { field: "action", message: m }));
        let when =
            Condition::parse(spec.when.as_ref()).map_err(|m| errors.push(RuleError { field: "when", message: m }));
        let mut non_negative = |field: &'static str, v: Option<i32>, min: i32| -> Option<u32> {
            match v {
                Some(v) if v < min => {
                    errors.push(RuleError { field, message: format!("must be at least {min}, found {v}") });
                    None
                }
                Some(v) => Some(v as u32),
                None => None,
            }
        };
        // `repetitions: 0` was how the original's files said "unset".
        let repetitions = non_negative("repetitions", spec.repetitions, 0).filter(|r| *r > 0);
        let backoff = non_negative("backoff", spec.backoff, 0).unwrap_or(0);
        let min_completions = non_negative("minCompletions", spec.min_completions, 0).unwrap_or(0);
        // The original's operator rendered `maxSize: 0` as null and `minSize: 0` as 1.
        let max_size = non_negative("maxSize", spec.max_size, 0).filter(|m| *m > 0);
        let min_size =
            non_negative("minSize", spec.min_size, 0).filter(|m| *m > 0).unwrap_or(crate::defaults::RULE_MIN_SIZE);
        if let Some(max) = max_size
            && max < min_size
        {
            errors.push(RuleError { field: "maxSize", message: format!("{max} is below minSize {min_size}") });
        }
        match (metric, action, when) {
            (Ok(metric), Ok(action), Ok(when)) if errors.is_empty() => {
                Ok(Rule { metric, action, when, repetitions, backoff, min_completions, max_size, min_size })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(metric: &str, action: &str, when: Option<When>) -> RuleSpec {
        RuleSpec { metric: metric.into(), action: action.into(), when, ..RuleSpec::default() }
    }

    #[test]
    fn conditions_table() {
        let cases: &[(Option<When>, f64, bool)] = &[
            (None, 0.0, false),
            (None, 2.0, true),
            (Some(When::Text("> 0".into())), 1.0, true),
            (Some(When::Text(">=5".into())), 5.0, true),
            (Some(When::Text("< 0.6".into())), 0.6, false),
            (Some(When::Text("<= 10".into())), 10.0, true),
            (Some(When::Text("== 3".into())), 3.0, true),
            (Some(When::Text("3".into())), 3.0, true),
            (Some(When::Number(3.0)), 3.0, true),
            (Some(When::Number(3.0)), 4.0, false),
        ];
        for (when, value, want) in cases {
            let c = Condition::parse(when.as_ref()).expect("parses");
            assert_eq!(c.holds(*value), *want, "{when:?} on {value}");
        }
    }

    #[test]
    fn equality_in_when_is_supported() {
        // The original rejected "== 3" at load time and never fired a numeric `when`.
        assert_eq!(Condition::parse(Some(&When::Text("== 3".into()))), Ok(Condition::Compare(Op::Eq, 3.0)));
    }

    #[test]
    fn bad_rules_report_each_field() {
        let errs = Rule::parse(&RuleSpec {
            metric: "avg.job_a".into(),
            action: "grwo".into(),
            when: Some(When::Text("about 5".into())),
            backoff: Some(-1),
            ..RuleSpec::default()
        })
        .expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["metric", "action", "when", "backoff"]);
        assert!(errs[1].message.contains("did you mean `grow`"), "{:?}", errs[1]);
    }

    #[test]
    fn unknown_model_lists_the_models() {
        let errs = Rule::parse(&spec("median.job_a.duration", "grow", None)).expect_err("bad model");
        assert!(errs[0].message.contains("count, mean, variance, iqr, min, max, mad"), "{errs:?}");
    }

    #[test]
    fn a_parsed_rule_keeps_its_bounds() {
        let r = Rule::parse(&RuleSpec {
            repetitions: Some(2),
            backoff: Some(3),
            max_size: Some(5),
            ..spec("mean.lammps.duration", "grow", Some(When::Text(">= 30".into())))
        })
        .expect("valid");
        assert_eq!((r.repetitions, r.backoff, r.max_size, r.min_size), (Some(2), 3, Some(5), 1));
        assert_eq!(r.metric.to_string(), "mean.lammps.duration");
    }
}
