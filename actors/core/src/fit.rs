//! Whether each step's Pod fits on some node of the cluster. A step whose Pod asks for more
//! than any node has would wait forever for the scheduler, so its run is refused at start,
//! with the numbers: `step a asks 6 CPUs per Pod; the largest node has 2 (node x)`.
//!
//! * What a Pod asks for is what the job builders put on the step's container
//!   ([`crate::jobs`]: `cpu` = cores per task, the GPU label = `gpus`), compared with the
//!   nodes' `status.allocatable` — every resource the step asks for (CPU, memory, extended
//!   resources such as `nvidia.com/gpu`; a node that does not list one has none of it).
//! * A step fits when one node has everything it asks for at once.
//! * Only schedulable nodes count (`spec.unschedulable` unset), and for a step with a
//!   `node-selector` only the nodes whose labels match it. Taints are not looked at: a
//!   toleration the cluster adds could admit a Pod there.
//! * Nothing is refused on a guess: when no node counts at all (none listed, none matches the
//!   step's selector), the step is not judged here — the scheduler's own report says why it
//!   waits — and an allocatable amount that cannot be read is taken as enough.
//! * Quantities are read exactly ([`Amount::parse`]): Kubernetes' decimal forms (`500m`, `2`,
//!   `1.5`, `1e9`, `8G`) and binary ones (`8Gi`), in billionths of the unit, the finest
//!   precision Kubernetes keeps (finer digits round up, as Kubernetes rounds them).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Node;

use crate::error::{Error, Result};
use crate::workflow::{Step, Workflow};

/// Billionths in one unit (a CPU, a byte, a GPU).
const NANO: u128 = 1_000_000_000;

/// A resource amount, exact, in billionths of its unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(u128);

impl Amount {
    /// `units` whole units.
    pub fn units(units: u64) -> Amount {
        Amount(u128::from(units) * NANO)
    }

    /// Reads a Kubernetes quantity: a non-negative decimal number (`2`, `1.5`, `.5`) followed by
    /// a decimal suffix (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`), a binary one (`Ki`, `Mi`,
    /// `Gi`, `Ti`, `Pi`, `Ei`) or an exponent (`e3`, `E-2`). Digits finer than a billionth round
    /// up; an amount too large to hold (beyond about 3·10^29 units) is an error.
    pub fn parse(text: &str) -> Result<Amount> {
        let problem = |why: &'static str| Error::Quantity { text: text.to_string(), why };
        let unsigned = text.strip_prefix('+').unwrap_or(text);
        if unsigned.starts_with('-') {
            return Err(problem("a negative amount"));
        }
        let number_end = unsigned.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(problem("no number"));
        }
        if fraction.contains('.') {
            return Err(problem("more than one decimal point"));
        }
        // The number's digits as one integer, and the power of ten that scales it to units.
        let mut digits: u128 = 0;
        for c in whole.chars().chain(fraction.chars()) {
            let digit = u128::from(c.to_digit(10).unwrap_or(0));
            digits = digits.checked_mul(10).and_then(|d| d.checked_add(digit)).ok_or_else(|| problem("too large"))?;
        }
        let fraction_digits = i64::try_from(fraction.len()).map_err(|_| problem("too many digits"))?;
        let (factor, exponent) = suffix_scale(suffix).ok_or_else(|| problem("an unknown suffix"))?;
        let power = exponent - fraction_digits + 9;
        let scaled = digits.checked_mul(factor).ok_or_else(|| problem("too large"))?;
        if scaled == 0 {
            return Ok(Amount(0));
        }
        if power >= 0 {
            let ten =
                u32::try_from(power).ok().and_then(|p| 10u128.checked_pow(p)).ok_or_else(|| problem("too large"))?;
            return scaled.checked_mul(ten).map(Amount).ok_or_else(|| problem("too large"));
        }
        // Finer than a billionth: round up, as Kubernetes does.
        let ten = u32::try_from(-power).ok().and_then(|p| 10u128.checked_pow(p));
        Ok(Amount(ten.map_or(1, |ten| scaled.div_ceil(ten))))
    }

    /// The amount as a decimal number of units: `2`, `1.5`, `0.001`.
    fn decimal(self) -> String {
        let (whole, fraction) = (self.0 / NANO, self.0 % NANO);
        if fraction == 0 {
            return whole.to_string();
        }
        let digits = format!("{fraction:09}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }

    /// The amount in the largest binary unit (`Ki` … `Ei`) it holds at least one of, to one
    /// decimal when it is not whole: `8Gi`, `23.4Gi`, `512`.
    fn binary(self) -> String {
        let bytes = self.0.div_ceil(NANO);
        let units = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        let Some((power, unit)) = units.iter().enumerate().rev().find(|(i, _)| bytes >= 1u128 << (10 * (i + 1))) else {
            return bytes.to_string();
        };
        let size = 1u128 << (10 * (power + 1));
        if bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
        // Tenths, rounded down: the node's figure is never shown larger than it is.
        let tenths = bytes * 10 / size;
        format!("{}.{}{unit}", tenths / 10, tenths % 10)
    }

    /// How the amount of `resource` reads in a sentence: `6 CPUs`, `8Gi of memory`,
    /// `1 nvidia.com/gpu`; `with_unit` false leaves the unit out where the sentence has said it
    /// (`2`, `8Gi`).
    fn describe(self, resource: &str, with_unit: bool) -> String {
        match resource {
            "cpu" if !with_unit => self.decimal(),
            "cpu" if self == Amount::units(1) => "1 CPU".into(),
            "cpu" => format!("{} CPUs", self.decimal()),
            "memory" | "ephemeral-storage" if !with_unit => self.binary(),
            "memory" | "ephemeral-storage" => format!("{} of {resource}", self.binary()),
            _ if resource.starts_with("hugepages-") && !with_unit => self.binary(),
            _ if resource.starts_with("hugepages-") => format!("{} of {resource}", self.binary()),
            _ if !with_unit => self.decimal(),
            _ => format!("{} {resource}", self.decimal()),
        }
    }
}

/// The factor and power of ten of a quantity's suffix (`Ki` = 1024 × 10^0, `m` = 1 × 10^-3,
/// `e6` = 1 × 10^6); `None` for anything else.
fn suffix_scale(suffix: &str) -> Option<(u128, i64)> {
    let binary = |power: u32| Some((1u128 << (10 * power), 0));
    match suffix {
        "" => Some((1, 0)),
        "n" => Some((1, -9)),
        "u" => Some((1, -6)),
        "m" => Some((1, -3)),
        "k" => Some((1, 3)),
        "M" => Some((1, 6)),
        "G" => Some((1, 9)),
        "T" => Some((1, 12)),
        "P" => Some((1, 15)),
        "E" => Some((1, 18)),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some((1, exponent.parse().ok()?))
        }
    }
}

/// What one schedulable node offers Pods.
#[derive(Clone, Debug, PartialEq)]
pub struct Room {
    /// The node's name.
    pub name: String,
    /// Its labels (a step's `node-selector` must match them).
    pub labels: BTreeMap<String, String>,
    /// Its allocatable amounts; `None` for one that cannot be read (taken as enough).
    pub allocatable: BTreeMap<String, Option<Amount>>,
}

impl Room {
    /// What the node has of `resource` (none when it does not list it); `None`: unreadable.
    fn has(&self, resource: &str) -> Option<Amount> {
        self.allocatable.get(resource).copied().unwrap_or(Some(Amount(0)))
    }

    /// Whether the node has at least `amount` of `resource`.
    fn holds(&self, resource: &str, amount: Amount) -> bool {
        self.has(resource).is_none_or(|has| has >= amount)
    }
}

/// The schedulable nodes among `nodes`, with what they offer.
pub fn rooms(nodes: &[Node]) -> Vec<Room> {
    nodes
        .iter()
        .filter(|n| !n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false))
        .map(|n| Room {
            name: n.metadata.name.clone().unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            allocatable: n
                .status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .into_iter()
                .flatten()
                .map(|(resource, q)| (resource.clone(), Amount::parse(&q.0).ok()))
                .collect(),
        })
        .collect()
}

/// A step whose Pod no node can hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Misfit {
    /// The step.
    pub step: String,
    /// What one of its Pods asks for, by resource.
    pub asks: BTreeMap<String, Amount>,
    /// The nodes it may run on (its selector's), none of which has all of that.
    pub nodes: Vec<Room>,
    /// Whether the step has a `node-selector` (the nodes are those it matches).
    pub selected: bool,
}

impl fmt::Display for Misfit {
    /// `step a asks 6 CPUs per Pod; the largest node has 2 (node x)`, a clause per resource
    /// no node has enough of; or, when each is somewhere but not all on one node, the nodes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = if self.selected { "node matching its node-selector" } else { "node" };
        let over: Vec<(&String, &Amount)> =
            self.asks.iter().filter(|(r, a)| !self.nodes.iter().any(|n| n.holds(r, **a))).collect();
        if over.is_empty() {
            let asked: Vec<String> = self.asks.iter().map(|(r, a)| a.describe(r, true)).collect();
            write!(f, "step {} asks {} per Pod; no {node} has all of it at once (", self.step, asked.join(" and "))?;
            for (i, room) in self.nodes.iter().take(3).enumerate() {
                let has: Vec<String> = self
                    .asks
                    .keys()
                    .map(|r| room.has(r).map_or_else(|| format!("? {r}"), |a| a.describe(r, true)))
                    .collect();
                write!(f, "{}node {}: {}", if i > 0 { "; " } else { "" }, room.name, has.join(", "))?;
            }
            if self.nodes.len() > 3 {
                write!(f, "; {} more", self.nodes.len() - 3)?;
            }
            return write!(f, ")");
        }
        for (i, (resource, asked)) in over.iter().enumerate() {
            let head = if i == 0 { format!("step {} asks", self.step) } else { "; and".to_string() };
            write!(f, "{head} {}", asked.describe(resource, true))?;
            if i == 0 {
                write!(f, " per Pod")?;
            }
            // Every node here has a readable amount of it (an unreadable one would hold it).
            let largest = self.nodes.iter().filter_map(|n| n.has(resource).map(|a| (a, n))).max_by_key(|(a, _)| *a);
            match largest {
                Some((has, room)) if has > Amount(0) => {
                    write!(f, "; the largest {node} has {} (node {})", has.describe(resource, false), room.name)?
                }
                _ => write!(f, "; no {node} has any")?,
            }
        }
        Ok(())
    }
}

/// The steps of `workflow` whose Pod none of `rooms` can hold (see the module docs).
pub fn misfits(workflow: &Workflow, rooms: &[Room]) -> Vec<Misfit> {
    workflow.steps.iter().filter_map(|step| misfit(step, rooms)).collect()
}

/// `step`'s misfit, if no room it may run on holds its Pod.
fn misfit(step: &Step, rooms: &[Room]) -> Option<Misfit> {
    // The builders write these amounts themselves (whole numbers), so they always read.
    let asks: BTreeMap<String, Amount> = crate::jobs::resource_amounts(step)
        .into_iter()
        .filter_map(|(resource, q)| Amount::parse(&q.0).ok().map(|a| (resource, a)))
        .filter(|(_, a)| *a > Amount(0))
        .collect();
    if asks.is_empty() {
        return None;
    }
    let selector = &step.properties.node_selector;
    let nodes: Vec<Room> =
        rooms.iter().filter(|r| selector.iter().all(|(k, v)| r.labels.get(k) == Some(v))).cloned().collect();
    let fits = |room: &Room| asks.iter().all(|(resource, amount)| room.holds(resource, *amount));
    if nodes.is_empty() || nodes.iter().any(fits) {
        return None;
    }
    Some(Misfit { step: step.name.clone(), asks, nodes, selected: !selector.is_empty() })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jobs::test_support::{step, workflow};

    fn parsed(text: &str) -> u128 {
        Amount::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).0
    }

    #[test]
    fn quantities_read_exactly_in_billionths() {
        let cases: [(&str, u128); 22] = [
            ("2", 2 * NANO),
            ("+2", 2 * NANO),
            ("500m", NANO / 2),
            ("1.5", 3 * NANO / 2),
            (".5", NANO / 2),
            ("1.", NANO),
            ("0", 0),
            ("100n", 100),
            ("250u", 250_000),
            ("8Gi", 8 * (1 << 30) * NANO),
            ("512Mi", 512 * (1 << 20) * NANO),
            ("24581384Ki", 24_581_384 * 1024 * NANO),
            ("1e9", NANO * NANO),
            ("1E3", 1000 * NANO),
            ("5e-3", 5 * NANO / 1000),
            ("2k", 2000 * NANO),
            ("1.5M", 1_500_000 * NANO),
            ("8G", 8 * NANO * NANO),
            ("267847642337", 267_847_642_337 * NANO),
            ("1Ei", (1u128 << 60) * NANO),
            // Finer than a billionth rounds up, as Kubernetes rounds.
            ("0.0000000001", 1),
            ("1e-12", 1),
        ];
        for (text, want) in cases {
            assert_eq!(parsed(text), want, "{text}");
        }
        assert_eq!(parsed("1500m"), parsed("1.5"));
        assert_eq!(parsed("1Ki"), parsed("1024"));
    }

    #[test]
    fn what_is_no_quantity_is_an_error_never_a_guess() {
        for text in ["", "-1", "m", ".", "1..5", "1.5.3", "2 Gi", "2gi", "1Ki5", "5e", "5e+", "1e99999", "1x", "0x10"] {
            let e = Amount::parse(text).expect_err(text);
            assert!(e.to_string().contains(&format!("`{text}`")), "{text}: {e}");
        }
        assert!(Amount::parse("1e40").is_err(), "too large to hold");
        assert!(Amount::parse(&"9".repeat(60)).is_err(), "too many digits to hold");
        assert_eq!(parsed("1e-99"), 1, "tiny but not zero");
    }

    #[test]
    fn amounts_read_as_a_person_writes_them() {
        let a = |t: &str| Amount::parse(t).expect(t);
        assert_eq!(a("6").describe("cpu", true), "6 CPUs");
        assert_eq!(a("1").describe("cpu", true), "1 CPU");
        assert_eq!(a("1900m").describe("cpu", false), "1.9");
        assert_eq!(a("8Gi").describe("memory", true), "8Gi of memory");
        assert_eq!(a("24581384Ki").describe("memory", false), "23.4Gi");
        assert_eq!(a("1000").describe("memory", false), "1000");
        assert_eq!(a("2").describe("nvidia.com/gpu", true), "2 nvidia.com/gpu");
    }

    fn node(name: &str, allocatable: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name}, "status": {"allocatable": allocatable}}))
            .expect("node")
    }

    fn asking(cores: u32, gpus: u32) -> Step {
        let mut s = step("a");
        s.cores_per_task = cores;
        s.gpus = gpus;
        s
    }

    #[test]
    fn a_step_asking_more_cpus_than_any_node_has_is_named_with_the_numbers() {
        let nodes = [node("small", json!({"cpu": "2", "memory": "8Gi"})), node("x", json!({"cpu": "4"}))];
        let wf = workflow(vec![asking(6, 0), asking(4, 0)]);
        let found = misfits(&wf, &rooms(&nodes));
        assert_eq!(found.len(), 1, "4 CPUs fit node x: {found:?}");
        assert_eq!(found[0].to_string(), "step a asks 6 CPUs per Pod; the largest node has 4 (node x)");
        let fractional = [node("vm", json!({"cpu": "1900m"}))];
        assert_eq!(
            misfits(&workflow(vec![asking(2, 0)]), &rooms(&fractional))[0].to_string(),
            "step a asks 2 CPUs per Pod; the largest node has 1.9 (node vm)"
        );
        assert!(misfits(&workflow(vec![asking(2, 0)]), &rooms(&nodes)).is_empty(), "exactly what a node has fits");
        assert!(misfits(&workflow(vec![asking(0, 0)]), &rooms(&nodes)).is_empty(), "no request: nothing to fit");
    }

    #[test]
    fn gpus_are_looked_for_on_one_node_with_the_cpus() {
        let gpu = crate::defaults::GPU_LABEL;
        let nodes = [node("big", json!({"cpu": "8"})), node("gpu", json!({"cpu": "2", gpu: "1"}))];
        let none = misfits(&workflow(vec![asking(1, 2)]), &rooms(&nodes[..1]));
        assert_eq!(none[0].to_string(), format!("step a asks 2 {gpu} per Pod; no node has any"));
        let two = misfits(&workflow(vec![asking(1, 2)]), &rooms(&nodes));
        assert_eq!(two[0].to_string(), format!("step a asks 2 {gpu} per Pod; the largest node has 1 (node gpu)"));
        let both = misfits(&workflow(vec![asking(9, 2)]), &rooms(&nodes));
        assert_eq!(
            both[0].to_string(),
            format!(
                "step a asks 9 CPUs per Pod; the largest node has 8 (node big); and 2 {gpu}; the largest node has 1 (node gpu)"
            )
        );
        // Each amount is on some node, never both on one.
        let apart = misfits(&workflow(vec![asking(4, 1)]), &rooms(&nodes));
        assert_eq!(
            apart[0].to_string(),
            format!(
                "step a asks 4 CPUs and 1 {gpu} per Pod; no node has all of it at once (node big: 8 CPUs, 0 {gpu}; node gpu: 2 CPUs, 1 {gpu})"
            )
        );
        assert!(misfits(&workflow(vec![asking(2, 1)]), &rooms(&nodes)).is_empty());
    }

    #[test]
    fn only_schedulable_nodes_the_selector_matches_count_and_nothing_is_refused_on_a_guess() {
        let mut cordoned = node("cordoned", json!({"cpu": "64"}));
        cordoned.spec = Some(k8s_openapi::api::core::v1::NodeSpec { unschedulable: Some(true), ..Default::default() });
        let mut labelled = node("c5", json!({"cpu": "2"}));
        labelled.metadata.labels = Some(BTreeMap::from([("node.kubernetes.io/instance-type".into(), "c5".into())]));
        let nodes = [cordoned, labelled, node("big", json!({"cpu": "16"}))];
        assert_eq!(rooms(&nodes).len(), 2, "a cordoned node takes no Pod");
        let mut picky = asking(4, 0);
        picky.properties.node_selector = BTreeMap::from([("node.kubernetes.io/instance-type".into(), "c5".into())]);
        let found = misfits(&workflow(vec![picky.clone(), asking(4, 0)]), &rooms(&nodes));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "step a asks 4 CPUs per Pod; the largest node matching its node-selector has 2 (node c5)"
        );
        // No node matches the selector, or none is listed: the scheduler says why, not this check.
        picky.properties.node_selector = BTreeMap::from([("zone".into(), "nowhere".into())]);
        assert!(misfits(&workflow(vec![picky]), &rooms(&nodes)).is_empty());
        assert!(misfits(&workflow(vec![asking(64, 0)]), &[]).is_empty());
        // An allocatable amount that cannot be read is taken as enough.
        let unreadable = [node("odd", json!({"cpu": "lots"}))];
        assert!(misfits(&workflow(vec![asking(64, 0)]), &rooms(&unreadable)).is_empty());
    }
}
