//! What one workflow may ask of the operator.
//!
//! A `StateMachine` is user input that the operator turns into work for every tenant, so every
//! count it sets is bounded twice:
//!
//! * by a **ceiling** in the CRD's schema (`maximum`, `maxItems`, `maxLength`): the apiserver
//!   refuses anything above it, and `smo validate` says so offline;
//! * by the operator's **limits** ([`Limits`], defaults below the ceilings), which an
//!   administrator raises up to the ceiling with `smo operator --limit KEY=N`. A resource above
//!   a limit is refused before it runs, with an error that names the field, the limit and the
//!   flag.
//!
//! `smo run` on one machine applies the ceilings only (its machine is the user's own), and
//! `smo validate` reports a count above a default limit as a warning.

use std::fmt;

use crate::workflow::Workflow;

/// The CRD's ceiling of `workflow.completed`.
pub const CEILING_COMPLETED: u32 = 1_000_000;
/// The CRD's ceiling of `workflow.maxFailures` (unset, it is five per required completion).
pub const CEILING_FAILURES: u32 = 5_000_000;
/// The CRD's ceiling of `cluster.maxSize`, of a step's `config.nodes` and of a rule's `maxSize`.
pub const CEILING_SIZE: u32 = 100_000;
/// The CRD's ceiling of the number of steps, of rules and of a step's `events.metrics`.
pub const CEILING_ITEMS: u32 = 256;
/// The CRD's ceiling of a step's script, in bytes.
pub const CEILING_SCRIPT_BYTES: u32 = 256 * 1024;

/// One bounded count: its `--limit` key, what it bounds, its default and its ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `workflow.completed`.
    Completed,
    /// `workflow.maxFailures`.
    MaxFailures,
    /// `cluster.maxSize`.
    MaxSize,
    /// A step's `config.nodes` (and a rule's `maxSize`, how far `grow` may take it).
    Nodes,
    /// The number of steps.
    Steps,
    /// The number of rules (`workflow.events`).
    Rules,
    /// A step's `events.metrics` patterns.
    Metrics,
}

impl Key {
    /// Every key, in the order `--help` lists them.
    pub const ALL: [Key; 7] =
        [Key::Completed, Key::MaxFailures, Key::MaxSize, Key::Nodes, Key::Steps, Key::Rules, Key::Metrics];

    /// The key as `--limit` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Key::Completed => "completed",
            Key::MaxFailures => "maxFailures",
            Key::MaxSize => "maxSize",
            Key::Nodes => "nodes",
            Key::Steps => "steps",
            Key::Rules => "rules",
            Key::Metrics => "metrics",
        }
    }

    /// The operator's default.
    pub fn default_value(self) -> u32 {
        match self {
            Key::Completed => 100_000,
            // Unset, maxFailures is five per required completion.
            Key::MaxFailures => 500_000,
            Key::MaxSize => 1_000,
            Key::Nodes => 1_000,
            Key::Steps => 64,
            Key::Rules => 64,
            Key::Metrics => 32,
        }
    }

    /// The CRD's ceiling: no limit may go above it.
    pub fn ceiling(self) -> u32 {
        match self {
            Key::Completed => CEILING_COMPLETED,
            Key::MaxFailures => CEILING_FAILURES,
            Key::MaxSize | Key::Nodes => CEILING_SIZE,
            Key::Steps | Key::Rules | Key::Metrics => CEILING_ITEMS,
        }
    }
}

/// The operator's limits (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    values: [u32; Key::ALL.len()],
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { values: Key::ALL.map(Key::default_value) }
    }
}

impl Limits {
    /// The limit of `key`.
    pub fn get(&self, key: Key) -> u32 {
        self.values[key as usize]
    }

    /// The defaults with `spec` applied: `KEY=N[,KEY=N…]` (the `--limit` flag; may be given
    /// several times). Each N must be at least 1 and at most the key's ceiling.
    pub fn parse<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Limits, String> {
        let mut limits = Limits::default();
        for part in specs.into_iter().flat_map(|s| s.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
            let names = || Key::ALL.map(Key::name).join(", ");
            let (name, value) =
                part.split_once('=').ok_or_else(|| format!("`{part}` is not KEY=N (keys: {})", names()))?;
            let key = Key::ALL
                .into_iter()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| format!("unknown limit `{}` (keys: {})", name.trim(), names()))?;
            let n: u32 =
                value.trim().parse().map_err(|_| format!("`{part}`: {} is not a whole number", value.trim()))?;
            if n == 0 || n > key.ceiling() {
                return Err(format!(
                    "`{part}`: {} must be between 1 and {} (the CRD's ceiling)",
                    key.name(),
                    key.ceiling()
                ));
            }
            limits.values[key as usize] = n;
        }
        Ok(limits)
    }

    /// Every count of `workflow` (from a `StateMachine`) above these limits: `(field path,
    /// message)`, the message naming the value, the limit and the flag that raises it.
    pub fn check(&self, workflow: &Workflow) -> Vec<(String, String)> {
        let mut over = Vec::new();
        let mut check = |path: String, key: Key, value: u64| {
            let limit = self.get(key);
            if value > u64::from(limit) {
                over.push((path, Excess { key, value, limit }.to_string()));
            }
        };
        check("spec.workflow.completed".into(), Key::Completed, workflow.completed.into());
        check("spec.workflow.maxFailures".into(), Key::MaxFailures, workflow.max_failures.into());
        check("spec.cluster.maxSize".into(), Key::MaxSize, workflow.max_size.into());
        check("spec.jobs".into(), Key::Steps, workflow.steps.len() as u64);
        check("spec.workflow.events".into(), Key::Rules, workflow.rules.len() as u64);
        for step in &workflow.steps {
            check(step.origin.path("config.nodes"), Key::Nodes, step.nodes.into());
            check(step.origin.path("events.metrics"), Key::Metrics, step.log_metrics.len() as u64);
        }
        over
    }
}

/// A count above its limit, as the error says it.
struct Excess {
    key: Key,
    value: u64,
    limit: u32,
}

impl fmt::Display for Excess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Excess { key, value, limit } = self;
        write!(
            f,
            "{value} is above this operator's limit of {limit} (an administrator raises it with `smo operator --limit {}=N`, up to {})",
            key.name(),
            key.ceiling()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(spec: &str) -> Workflow {
        crate::workflow::test_manifest(None, spec)
    }

    #[test]
    fn counts_above_a_limit_name_the_field_the_limit_and_the_flag() {
        let wf = manifest(
            "  workflow: {completed: 500000, maxFailures: 10}\n  cluster: {maxSize: 2}\n  jobs:\n  - {name: a, image: i, script: echo, config: {nodes: 2000}}\n",
        );
        let over = Limits::default().check(&wf);
        let paths: Vec<&str> = over.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["spec.workflow.completed", "spec.jobs[0].config.nodes"], "{over:?}");
        assert_eq!(
            over[0].1,
            "500000 is above this operator's limit of 100000 (an administrator raises it with `smo operator --limit completed=N`, up to 1000000)"
        );
        let raised = Limits::parse(["completed=600000", "nodes=5000"]).expect("within the ceilings");
        assert!(raised.check(&wf).is_empty());
    }

    #[test]
    fn limits_parse_with_their_keys_and_stay_under_the_ceilings() {
        let l = Limits::parse(["maxSize=50, steps=3", "rules=1"]).expect("parses");
        assert_eq!((l.get(Key::MaxSize), l.get(Key::Steps), l.get(Key::Rules)), (50, 3, 1));
        assert_eq!(l.get(Key::Completed), Key::Completed.default_value());
        assert!(Limits::parse(["completed=2000000"]).expect_err("above").contains("between 1 and 1000000"));
        assert!(Limits::parse(["size=3"]).expect_err("unknown").contains("unknown limit `size`"));
        assert!(Limits::parse(["nodes"]).expect_err("no value").contains("is not KEY=N"));
        assert!(Limits::parse(["nodes=0"]).is_err());
        for key in Key::ALL {
            assert!(key.default_value() <= key.ceiling(), "{key:?}");
        }
    }
}
