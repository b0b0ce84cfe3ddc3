//! The `StateMachine` custom resource (`state-machine.converged-computing.org/v1alpha1`).
//!
//! Every spec field of the original operator is here with the same JSON name and the same CRD
//! default, so existing manifests apply unchanged. Doc comments on fields become the descriptions
//! `kubectl explain statemachine.spec…` prints, so they are written for its readers. Unlike the
//! original, the resource has a real `status`, written by `smo operator`.
//!
//! Nothing here talks to a cluster; [`crate::workflow::Workflow::from_state_machine`] turns a
//! `StateMachine` into the workflow the engine runs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::defaults;

/// What to run: the steps, how many sequences must complete, the node budget and the rules.
// The kube derive repeats `type_` once per print column, which clippy mistakes for a typo.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "state-machine.converged-computing.org",
    version = "v1alpha1",
    kind = "StateMachine",
    plural = "statemachines",
    singular = "statemachine",
    shortname = "smo",
    namespaced,
    crates(kube_core = "::kube_core"),
    doc = "A workflow of ordered job steps, run as many concurrent job sequences within a node budget. See https://github.com/converged-computing/state-machine-operator",
    status = "StateMachineStatus",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Completed", type_ = "integer", json_path = ".status.completed"),
    printcolumn(name = "Wanted", type_ = "integer", json_path = ".spec.workflow.completed"),
    printcolumn(name = "Active", type_ = "integer", json_path = ".status.active"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct StateMachineSpec {
    /// OCI registry that carries artifacts from step to step. Without `host`, an ephemeral
    /// registry is deployed next to the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySpec>,

    /// Settings of the original's manager Deployment. `smo` runs the manager inside the operator,
    /// so only `subdomain` still has an effect; the other fields are accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<ManagerSpec>,

    /// How many sequences must complete, the job-id prefix, and the metric rules.
    pub workflow: WorkflowSpec,

    /// The node budget shared by all running sequences.
    pub cluster: ClusterSpec,

    /// The steps of every sequence, in order. A sequence runs the first step, then the next one
    /// after each success, and completes after the last.
    #[serde(default)]
    #[schemars(length(max = crate::limits::CEILING_ITEMS))]
    pub jobs: Vec<JobStep>,

    /// Suspend the workflow, as a Job's `suspend`: no new sequence and no new step job starts;
    /// step jobs already running finish and are recorded, and their sequences wait. `false`
    /// carries on. (`smo suspend NAME` / `smo resume NAME` set it.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// End the workflow before it is done: `Stop` or `Terminate` ([`ShutdownStrategy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<ShutdownStrategy>,
}

/// End the workflow before it is done, as Argo Workflows' `shutdown`: `Stop` starts no new
/// sequence and no new step job, lets the step jobs running finish and be recorded, then ends the
/// workflow (`Failed`, reason `Stopped`); `Terminate` deletes the running step jobs at once and
/// ends it the same way. Completed sequences are kept. Removed before the end, the workflow
/// carries on; once it has ended, removing it runs nothing again. (`smo stop NAME` sets `Stop`,
/// `smo stop NAME --now` sets `Terminate`.)
// The CRD's description of `spec.shutdown` is this one (schemars describes the field by its
// type's doc).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ShutdownStrategy {
    /// Nothing new starts; the step jobs running finish and are recorded; then the workflow
    /// ends.
    Stop,
    /// The step jobs running are deleted at once and the workflow ends.
    Terminate,
}

impl ShutdownStrategy {
    /// `Stop` or `Terminate`, as the spec spells it.
    pub fn name(self) -> &'static str {
        match self {
            ShutdownStrategy::Stop => "Stop",
            ShutdownStrategy::Terminate => "Terminate",
        }
    }
}

impl std::fmt::Display for ShutdownStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where artifacts live: an external registry, or an ephemeral one deployed with the workflow.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySpec {
    /// Host of an external registry (e.g. `registry.example.com`). Empty: deploy an ephemeral
    /// registry in the workflow's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,

    /// Name of the ephemeral registry's StatefulSet.
    #[serde(default = "registry_name")]
    pub name: String,

    /// Port of the registry. An external host is used as `host:port` when set; the ephemeral
    /// registry listens on 5000 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub port: Option<i32>,

    /// Talk to the registry over plain HTTP instead of HTTPS. Defaults to true (the ephemeral
    /// registry has no TLS). Note: the original operator inverted this field (`true` meant
    /// HTTPS); `smo` uses the meaning its name says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_http: Option<bool>,

    /// Accepted for compatibility; unused.
    #[serde(default, rename = "TLSVerify", skip_serializing_if = "Option::is_none")]
    pub tls_verify: Option<bool>,

    /// Replicas of the ephemeral registry.
    #[serde(default = "replicas")]
    #[schemars(range(min = 1))]
    pub replicas: i32,

    /// Image of the ephemeral registry. Unset: the operator's `--registry-image` (the original's
    /// `ghcr.io/oras-project/registry:latest` unless the install names another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Instance type (`node.kubernetes.io/instance-type`) the ephemeral registry must run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,

    /// Image pull policy of the ephemeral registry.
    #[serde(default = "pull_policy")]
    pub pull_policy: String,

    /// smo: keep the ephemeral registry's artifacts on a PersistentVolumeClaim of this size
    /// (e.g. `1Gi`), so that they survive a restart of the registry. Unset: an `emptyDir`,
    /// gone with its Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,

    /// smo: StorageClass of that claim (unset: the cluster's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// Settings of the original's manager Deployment, kept so existing manifests apply unchanged.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagerSpec {
    /// Accepted for compatibility; `smo` runs the manager inside the operator.
    #[serde(default = "replicas")]
    pub replicas: i32,

    /// Pod subdomain of every step's pods.
    #[serde(default = "subdomain")]
    pub subdomain: String,

    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<i32>,

    /// Accepted for compatibility; unused.
    #[serde(default = "cores_per_node")]
    pub cores_per_node: i32,

    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,

    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Accepted for compatibility; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<String>,

    /// Accepted for compatibility; use `RUST_LOG` on the operator instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbose: Option<bool>,

    /// Accepted for compatibility; unused.
    #[serde(default = "pull_policy")]
    pub pull_policy: String,
}

/// How many sequences must complete, how job ids look, and the rules that react to metrics.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// Number of sequences that must finish their last step for the workflow to succeed.
    #[schemars(range(min = 1, max = crate::limits::CEILING_COMPLETED))]
    pub completed: i32,

    /// Prefix of generated job ids (`<prefix><9 digits>`). Job ids name OCI repositories, so the
    /// prefix must be lower case. Default `job_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,

    /// Metric rules evaluated after every finished job of the rule's step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::limits::CEILING_ITEMS))]
    pub events: Vec<RuleSpec>,

    /// How many sequences may fail before no new ones are started and the workflow ends as
    /// failed. Default: five per required completion, at least ten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = crate::limits::CEILING_FAILURES))]
    pub max_failures: Option<i32>,
}

/// A metric rule: when `<model>.<step>.<key>` satisfies `when`, perform `action`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// `<model>.<step>.<key>`. Models: count, mean, variance, iqr, min, max, mad. Keys:
    /// `success` and `failure` (count), `duration` (seconds), or a key the step's log parser emits.
    pub metric: String,

    /// grow (one more node for later jobs of the step), shrink (one fewer), repeat (run the step
    /// again instead of advancing), or finish-workflow (stop and report success).
    pub action: String,

    /// Condition on the metric's value: `< N`, `<= N`, `> N`, `>= N`, `== N`, or a bare number
    /// (equality). Unset: the value is non-zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,

    /// Number of evaluations to skip after each firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub backoff: Option<i32>,

    /// Maximum number of firings. Unset or 0: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub repetitions: Option<i32>,

    /// Only act once at least this many sequences have completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_completions: Option<i32>,

    /// Upper bound of `grow` (the step's nodes never exceed it). Unset or 0: `cluster.maxSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = crate::limits::CEILING_SIZE))]
    pub max_size: Option<i32>,

    /// Lower bound of `shrink`. Unset or 0: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = crate::limits::CEILING_SIZE))]
    pub min_size: Option<i32>,
}

/// A rule condition: a comparison string (`">= 5"`) or a bare number meaning equality.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum When {
    /// A bare number: the metric must equal it.
    Number(f64),
    /// A comparison such as `"<= 10"`.
    Text(String),
}

impl JsonSchema for When {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "When".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "x-kubernetes-int-or-string": true })
    }
}

/// The node budget.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Maximum nodes busy at once. Each running sequence holds as many as its first step asks
    /// for, so at most `maxSize / nodes` sequences run concurrently.
    #[schemars(range(min = 1, max = crate::limits::CEILING_SIZE))]
    pub max_size: i32,

    /// Accepted for compatibility; not implemented (as in the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<bool>,
}

/// One step of every sequence: a Kubernetes Job (or JobSet / MiniCluster) running `script`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStep {
    /// Step name: the `app` label of its Jobs and the `<step>` of metric rules.
    pub name: String,

    /// Resources and run-time settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<JobConfig>,

    /// Artifact tags to pull before and push after the script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<StepRegistry>,

    /// Custom metrics parsed from the step's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<StepEvents>,

    /// Environment variables of the step's container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,

    /// Accepted for compatibility; `smo` needs no per-architecture download.
    #[serde(default = "arch")]
    pub arch: String,

    /// Free-form text delivered to the job as `/workdir/app-config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_config: Option<String>,

    /// Switches: `always-succeed`, `save-path`, `node-selector`, `jobset`, `minicluster`, `ports`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,

    /// Container image of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// smo: how the step's Pods are confined. `baseline` (default): they pass the baseline Pod
    /// Security Standard, without privilege escalation and with the runtime's default seccomp
    /// profile; `restricted`: they pass the restricted standard (the image must run as a
    /// non-root user); `privileged`: nothing is set, for images that need setuid programs.
    /// Step Pods never mount a ServiceAccount token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<crate::pod_security::PodSecurity>,

    /// Accepted for compatibility; unused (as in the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,

    /// Working directory of the step (`$outpath`). Default `/tmp/out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,

    /// Shell script the step runs. It sees the variables `jobid`, `outpath`, `registry`,
    /// `pull_tag`, `push_tag`, `nodes`, `cores_per_task` and `tasks`, and is rendered as a Jinja
    /// template first (`{{ jobid }}`). Without one the step only moves artifacts.
    // No `default` in the schema: kube-apiserver 1.20 reads an empty-string default as null and
    // refuses the whole CRD.
    #[serde(default)]
    #[schemars(transform = no_default, length(max = crate::limits::CEILING_SCRIPT_BYTES))]
    pub script: String,
}

/// Resources and run-time settings of a step.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobConfig {
    /// Nodes (pods) per job. `grow` and `shrink` rules change it for later jobs.
    #[serde(default = "nodes")]
    #[schemars(range(min = 1, max = crate::limits::CEILING_SIZE))]
    pub nodes: i32,

    /// Tasks; the script sees it as `$tasks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tasks: Option<i32>,

    /// CPU cores requested (and limited to) per pod; 0 asks for none (a best-effort pod, as for
    /// steps that only wait or move files).
    #[serde(default = "cores_per_task")]
    #[schemars(range(min = 0))]
    pub cores_per_task: i32,

    /// GPUs requested per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub gpus: Option<i32>,

    /// Let Kubernetes retry failed pods (Job `backoffLimit: 6`) before the step fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_failure: Option<bool>,

    /// Maximum run time, `[[HH:]MM:]SS` (e.g. `0:45:00`) or a number of minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walltime: Option<String>,

    /// Image pull policy of the step's container.
    #[serde(default = "pull_policy")]
    pub pull_policy: String,

    /// Resource name of GPUs. Default `nvidia.com/gpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpulabel: Option<String>,

    /// Container command, split like a shell would. Default `/bin/bash /workdir/entrypoint.sh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// Artifact tags of a step. Artifacts are `<registry>/<jobid>:<tag>`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRegistry {
    /// Tag to push the working directory to after a successful script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<String>,

    /// Tag to pull into the working directory before the script; an earlier step must push it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<String>,

    /// Registry host for this step only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,

    /// Accepted for compatibility and ignored, as in the original: the workflow's
    /// `registry.plainHttp` applies to every step.
    #[serde(default = "plain_http")]
    pub plain_http: bool,
}

/// Custom metrics of a step.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepEvents {
    /// Python source defining `parse_log(log) -> dict[str, number]`, run with python3 on each
    /// finished job's log; every returned key becomes a metric of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::limits::CEILING_SCRIPT_BYTES))]
    pub script: Option<String>,

    /// Metrics read from each finished job's log without Python: a regular expression whose
    /// first capture group is a number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::limits::CEILING_ITEMS))]
    pub metrics: Vec<LogMetricSpec>,
}

/// A metric read from a job's log with a regular expression.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogMetricSpec {
    /// Metric key, used in rules as `<model>.<step>.<key>`.
    pub key: String,
    /// Regular expression; its first capture group (or the whole match) is the number.
    #[schemars(length(max = 1024))]
    pub pattern: String,
    /// How several matches become one value: last (default), first, sum, min, max, mean, count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce: Option<String>,
}

/// Observed state of a `StateMachine`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateMachineStatus {
    /// Pending, Running, Succeeded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// Sequences that finished their last step.
    #[serde(default)]
    pub completed: i32,

    /// Sequences running now.
    #[serde(default)]
    pub active: i32,

    /// Sequences that failed (and were replaced, up to `workflow.maxFailures`).
    #[serde(default)]
    pub failed: i32,

    /// Counters per step, in step order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepStatus>,

    /// Times a metric rule fired.
    #[serde(default)]
    pub rule_firings: i32,

    /// The latest rule firings, newest last (at most 5), e.g.
    /// `grow: mean.a.duration >= 30 (31.5), nodes 2 => 3`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_firings: Vec<String>,

    /// Standard conditions: `Ready`, `Progressing`, `Complete`, `Failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// When the first sequence started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// When the workflow succeeded or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,

    /// Why the workflow is in its phase, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Phase of a workflow.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Accepted, nothing submitted yet.
    Pending,
    /// Sequences are running.
    Running,
    /// `spec.suspend`: nothing new starts; the step jobs running finish.
    Suspended,
    /// The required completions were reached, or a finish-workflow rule fired.
    Succeeded,
    /// The failure cap was reached, the spec is invalid, or the workflow was stopped
    /// (`spec.shutdown`).
    Failed,
}

/// Counters of one step.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    /// Step name.
    pub name: String,
    /// Jobs of this step running now.
    #[serde(default)]
    pub active: i32,
    /// Jobs of this step that succeeded (or failed with `always-succeed`).
    #[serde(default)]
    pub succeeded: i32,
    /// Jobs of this step that failed.
    #[serde(default)]
    pub failed: i32,
    /// Nodes the next job of this step will ask for (after grow/shrink).
    #[serde(default)]
    pub nodes: i32,
    /// Median duration of the step's ended jobs, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_seconds: Option<f64>,
    /// 95th percentile of the durations of the step's ended jobs, in seconds (interpolated
    /// between the closest ranks, as `medianSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_seconds: Option<f64>,
    /// Longest duration of the step's ended jobs, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<f64>,
}

/// Drops the `default` schemars derives from `#[serde(default)]`.
fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

fn registry_name() -> String {
    defaults::REGISTRY_NAME.into()
}
fn replicas() -> i32 {
    defaults::REPLICAS
}
fn pull_policy() -> String {
    defaults::PULL_POLICY.into()
}
fn subdomain() -> String {
    defaults::SUBDOMAIN.into()
}
fn cores_per_node() -> i32 {
    defaults::MANAGER_CORES_PER_NODE
}
fn arch() -> String {
    defaults::ARCH.into()
}
fn nodes() -> i32 {
    defaults::NODES
}
fn cores_per_task() -> i32 {
    defaults::CRD_CORES_PER_TASK
}
fn plain_http() -> bool {
    true
}
