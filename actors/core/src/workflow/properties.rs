//! Step `properties`: the original's free-form switches, parsed into types.
//!
//! | property | meaning |
//! |---|---|
//! | `always-succeed` | a failed job of the step counts as a success and the sequence advances |
//! | `save-path` | keep every job's log under `<save-path>/logs/<step>-<jobid>-<i>.out` |
//! | `node-selector` | pod `nodeSelector`: a mapping, `key: value`, `k=v,k2=v2`, or a JSON object |
//! | `jobset` | submit the step as a JobSet |
//! | `minicluster` | submit the step as a Flux Operator MiniCluster |
//! | `ports` | container ports of a JobSet step, comma separated |
//!
//! Switches accept `true`/`yes`/`on`/`1` and `false`/`no`/`off`/`0` in any case, as text or as
//! YAML booleans and numbers. (The original accepted different spellings for different switches;
//! `yes` only worked because PyYAML turned it into a boolean.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// Parsed step properties.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepProperties {
    /// Pod node selector.
    pub node_selector: BTreeMap<String, String>,
    /// Directory under which job logs are kept.
    pub save_path: Option<PathBuf>,
    /// A failed job counts as success.
    pub always_succeed: bool,
    /// What kind of object runs the step on Kubernetes.
    pub workload: WorkloadKind,
    /// Container ports (JobSet steps).
    pub ports: Vec<u16>,
    /// Properties `smo` does not know, passed through as text.
    pub other: BTreeMap<String, String>,
}

/// The Kubernetes object that runs a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkloadKind {
    /// A `batch/v1` Job (default).
    #[default]
    Job,
    /// A `jobset.x-k8s.io/v1alpha2` JobSet.
    JobSet,
    /// A `flux-framework.org/v1alpha2` MiniCluster.
    MiniCluster,
}

/// A problem with one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyIssue {
    /// The property key.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// True for a warning (the step still runs), false for an error.
    pub warning: bool,
}

/// Known property keys, for "did you mean" messages.
pub const KNOWN: &[&str] = &["always-succeed", "save-path", "node-selector", "jobset", "minicluster", "ports"];

/// Parses a switch value.
pub fn truthy(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Ok(true),
            Some(0.0) => Ok(false),
            _ => Err(format!("`{n}` is not a switch value; use true or false")),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" | "" => Ok(false),
            _ => Err(format!("`{s}` is not a switch value; use true or false")),
        },
        Value::Null => Ok(false),
        other => Err(format!("{} is not a switch value; use true or false", kind(other))),
    }
}

/// Text of a scalar the way a user wrote it (`1` → "1", `true` → "true").
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Parses a node selector given as a mapping, `key: value`, `k=v,k2=v2` or a JSON object.
pub fn node_selector(value: &Value) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let text = scalar_text(v).ok_or_else(|| format!("value of `{k}` must be text"))?;
                out.insert(k.clone(), text);
            }
        }
        Value::String(s) => {
            let s = s.trim();
            if s.starts_with('{') {
                let parsed: Value =
                    serde_json::from_str(s).map_err(|e| format!("`{s}` looks like JSON but does not parse: {e}"))?;
                return node_selector(&parsed);
            }
            for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .or_else(|| pair.split_once(": "))
                    .or_else(|| pair.split_once(':'))
                    .ok_or_else(|| format!("`{pair}` is not `key=value` (or `key: value`)"))?;
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        other => return Err(format!("{} is not a node selector; use a mapping or `key=value`", kind(other))),
    }
    Ok(out)
}

/// Parses `properties` entries. Unknown keys are kept and warned about; bad values are errors.
pub fn parse(entries: &BTreeMap<String, Value>) -> (StepProperties, Vec<PropertyIssue>) {
    let mut props = StepProperties::default();
    let mut issues = Vec::new();
    let mut error = |key: &str, message: String| {
        issues.push(PropertyIssue { key: key.to_string(), message, warning: false });
    };
    let mut jobset = false;
    let mut minicluster = false;
    let mut unknown = Vec::new();
    for (key, value) in entries {
        match key.as_str() {
            "always-succeed" => match truthy(value) {
                Ok(b) => props.always_succeed = b,
                Err(e) => error(key, e),
            },
            "jobset" => match truthy(value) {
                Ok(b) => jobset = b,
                Err(e) => error(key, e),
            },
            "minicluster" => match truthy(value) {
                Ok(b) => minicluster = b,
                Err(e) => error(key, e),
            },
            "save-path" => match scalar_text(value) {
                Some(p) if !p.trim().is_empty() => props.save_path = Some(PathBuf::from(p.trim())),
                Some(_) => {}
                None => error(key, "must be a directory path".into()),
            },
            "node-selector" => match node_selector(value) {
                Ok(sel) => props.node_selector = sel,
                Err(e) => error(key, e),
            },
            "ports" => {
                let text = scalar_text(value).unwrap_or_default();
                for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match part.parse::<u16>() {
                        Ok(p) if p > 0 => props.ports.push(p),
                        _ => error(
                            key,
                            format!(
                                "`{part}` is not a port number (1-65535); use a comma-separated list such as `3389,8080`"
                            ),
                        ),
                    }
                }
            }
            _ => {
                props.other.insert(key.clone(), scalar_text(value).unwrap_or_else(|| value.to_string()));
                unknown.push(key.clone());
            }
        }
    }
    for key in unknown {
        let hint = crate::validate::did_you_mean(&key, KNOWN.iter().copied());
        issues.push(PropertyIssue {
            key: key.clone(),
            message: format!("unknown property, passed through unused{hint} (known: {})", KNOWN.join(", ")),
            warning: true,
        });
    }
    props.workload = match (jobset, minicluster) {
        (true, true) => {
            issues.push(PropertyIssue {
                key: "jobset".into(),
                message: "`jobset` and `minicluster` are both set; a step runs as one kind of object".into(),
                warning: false,
            });
            WorkloadKind::Job
        }
        (true, false) => WorkloadKind::JobSet,
        (false, true) => WorkloadKind::MiniCluster,
        (false, false) => WorkloadKind::Job,
    };
    (props, issues)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).expect("object")
    }

    #[test]
    fn switches_accept_every_spelling_the_original_saw() {
        for yes in [json!(true), json!("yes"), json!("1"), json!(1), json!("True"), json!("on")] {
            assert_eq!(truthy(&yes), Ok(true), "{yes}");
        }
        for no in [json!(false), json!("no"), json!("0"), json!(0), json!("False")] {
            assert_eq!(truthy(&no), Ok(false), "{no}");
        }
        assert!(truthy(&json!("maybe")).is_err());
    }

    #[test]
    fn properties_are_typed() {
        let (p, issues) = parse(&entries(json!({
            "always-succeed": "1", "save-path": "/opt", "jobset": "yes", "ports": "3389, 8080",
            "node-selector": "node.kubernetes.io/instance-type: c7a.4xlarge"
        })));
        assert!(issues.is_empty(), "{issues:?}");
        assert!(p.always_succeed);
        assert_eq!(p.save_path, Some(PathBuf::from("/opt")));
        assert_eq!(p.workload, WorkloadKind::JobSet);
        assert_eq!(p.ports, vec![3389, 8080]);
        assert_eq!(p.node_selector.get("node.kubernetes.io/instance-type").map(String::as_str), Some("c7a.4xlarge"));
    }

    #[test]
    fn node_selector_forms() {
        assert_eq!(node_selector(&json!("a=b,c=d")).expect("pairs").len(), 2);
        assert_eq!(node_selector(&json!("{\"a\": \"b\"}")).expect("json")["a"], "b");
        assert_eq!(node_selector(&json!({"a": 1})).expect("map")["a"], "1");
        assert!(node_selector(&json!("nonsense")).is_err());
    }

    #[test]
    fn bad_and_unknown_properties_are_reported() {
        let (_, issues) =
            parse(&entries(json!({"ports": "x", "always-sucead": "1", "jobset": true, "minicluster": true})));
        assert!(issues.iter().any(|i| i.key == "ports" && !i.warning));
        assert!(issues.iter().any(|i| i.key == "always-sucead" && i.warning && i.message.contains("always-succeed")));
        assert!(issues.iter().any(|i| i.key == "jobset" && !i.warning));
    }
}
