//! The original manager's input files: a workflow file and one job file per step.
//!
//! ```yaml
//! # state-machine-workflow.yaml            # jobs_0.yaml
//! workflow: {completed: 6, prefix: s_}     name: job_a
//! cluster: {max_size: 4}                   config: {nnodes: 1, cores_per_task: 1}
//! jobs:                                    registry: {push: job_a}
//! - config: jobs_0.yaml                    script: |
//! - config: jobs_1.yaml                      echo ${jobid} > ${jobid}-a.txt
//! ```
//!
//! Keys are snake_case as the original wrote them (`max_size`, `cores_per_task`,
//! `app-config`), except the rule keys (`minCompletions`, `maxSize`), which the original operator
//! rendered in camelCase. Job files written for the original sometimes use the `StateMachine`
//! spellings inside `config` (`nodes`, `coresPerTask`); the original silently ignored those and
//! used its defaults. `smo` accepts them as the aliases they were meant to be (see
//! [`CONFIG_ALIASES`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The workflow file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WorkflowFile {
    /// Completions, prefix and rules: the same keys as a `StateMachine`'s `spec.workflow`
    /// (the original operator rendered them unchanged).
    pub workflow: crate::api::WorkflowSpec,
    /// The node budget.
    pub cluster: ClusterSection,
    /// The steps, in order, each naming its job file.
    pub jobs: Vec<JobRef>,
    /// Artifact registry (the original set it from `--registry` / `--plain-http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<FileRegistry>,
    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// Accepted for compatibility; job files are looked up next to the workflow file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<String>,
    /// Base directory of the run (the original's `--workdir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Shared-filesystem artifact store (the original's `--filesystem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<Filesystem>,
}

/// `cluster:` of the workflow file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ClusterSection {
    /// Maximum nodes busy at once.
    #[schemars(range(min = 1))]
    pub max_size: i64,
    /// Accepted for compatibility; not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<bool>,
}

/// One entry of `jobs:`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct JobRef {
    /// Path of the job file, relative to the workflow file's directory (or the config dir).
    pub config: String,
    /// Accepted for compatibility; the job file's `name` is the step name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub events: Option<Value>,
}

/// `registry:` of the workflow file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct FileRegistry {
    /// Registry host (`host[:port]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Plain HTTP instead of HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_http: Option<bool>,
}

/// `logging:` of the workflow file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Logging {
    /// Accepted for compatibility; use `RUST_LOG`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<bool>,
}

/// `filesystem:` of the workflow file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Filesystem {
    /// Directory holding artifacts instead of a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A job (step) file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct JobFile {
    /// Step name.
    pub name: String,
    /// Resources and run-time settings (may be empty: `config: {}`).
    pub config: JobFileConfig,
    /// The script (without one the step only moves artifacts).
    #[serde(default)]
    pub script: String,
    /// Container image (needed on Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Namespace of the step's objects. Default `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Working directory. Default `/tmp/out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Switches (`always-succeed`, `save-path`, …); a mapping, or a JSON object in a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub properties: Option<Value>,
    /// Custom metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<JobFileEvents>,
    /// Artifact tags and registry override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<JobFileRegistry>,
    /// Text delivered as `/workdir/app-config`.
    #[serde(default, rename = "app-config", skip_serializing_if = "Option::is_none")]
    pub app_config: Option<String>,
    /// Environment of the step (values may be numbers; they become strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, Value>>,
}

/// `config:` of a job file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct JobFileConfig {
    /// Nodes per job (alias `nodes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub nnodes: Option<i64>,
    /// Cores per task (alias `coresPerTask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub cores_per_task: Option<i64>,
    /// GPUs per pod (alias `gpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ngpus: Option<i64>,
    /// Tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tasks: Option<i64>,
    /// `[[HH:]MM:]SS` or minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walltime: Option<Walltime>,
    /// GPU resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpulabel: Option<String>,
    /// Image pull policy (alias `pullPolicy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    /// Retry failed pods (alias `retryFailure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_failure: Option<bool>,
    /// Pod subdomain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// Container command: a string split like a shell would, or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Exclusive node allocation (Flux); accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
}

/// The `StateMachine` spellings a job file's `config` may use, and the key each stands for.
pub const CONFIG_ALIASES: &[(&str, &str)] = &[
    ("nodes", "nnodes"),
    ("coresPerTask", "cores_per_task"),
    ("gpus", "ngpus"),
    ("pullPolicy", "pull_policy"),
    ("retryFailure", "retry_failure"),
];

/// A walltime: `"0:45:00"`, or a number of minutes.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Walltime {
    /// Minutes.
    Minutes(f64),
    /// `[[HH:]MM:]SS`, a number of minutes as text, or `inf`.
    Text(String),
}

impl JsonSchema for Walltime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Walltime".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "x-kubernetes-int-or-string": true })
    }
}

/// A container command: one string or a list of words.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Command {
    /// Split like a shell would.
    Line(String),
    /// The original joined a list with spaces and split it again; `smo` does the same.
    Words(Vec<String>),
}

impl JsonSchema for Command {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Command".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }] })
    }
}

/// `events:` of a job file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct JobFileEvents {
    /// Python source defining `parse_log(log)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Regular-expression metrics (an `smo` addition, see the `StateMachine` field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<crate::api::LogMetricSpec>,
}

/// `registry:` of a job file.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct JobFileRegistry {
    /// Registry host for this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Plain HTTP for this step's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_http: Option<bool>,
    /// Tag to push after the script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<String>,
    /// Tag to pull before the script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<String>,
}

fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

fn any_value(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}
