//! Every default value of `smo`, in one place.
//!
//! The original applied defaults in three layers: the CRD's OpenAPI defaults (applied by the API
//! server, and only to nested objects that are present), the Go operator's in-memory defaults at
//! reconcile time, and the Python manager's defaults when it read the rendered files. The
//! constants below name which layer each one mirrors, so that a `StateMachine` and a workflow file
//! behave exactly as they did in the original.

/// Prefix of generated job ids (`job_012345678`) when `workflow.prefix` is not set (manager).
pub const JOB_PREFIX: &str = "job_";

/// Number of random digits after the prefix in a job id.
pub const JOB_ID_DIGITS: usize = 9;

/// Working directory of a step (`outpath`) when the step sets none (operator rendering).
pub const WORKDIR: &str = "/tmp/out";

/// Resource name used for GPU requests when `gpulabel` is not set (manager).
pub const GPU_LABEL: &str = "nvidia.com/gpu";

/// Container image pull policy (CRD default, manager default).
pub const PULL_POLICY: &str = "IfNotPresent";

/// Nodes of a step (CRD default and operator fallback).
pub const NODES: i32 = 1;

/// Cores per task of a step when `config` is present but `coresPerTask` is not (CRD default).
pub const CRD_CORES_PER_TASK: i32 = 3;

/// Cores per task when a `StateMachine` step has no `config` at all: the CRD default does not
/// apply to an absent object, and the operator then rendered 6 (Go fallback).
pub const CRD_CORES_PER_TASK_WITHOUT_CONFIG: i32 = 6;

/// Cores per task of a step in a workflow file that sets none (manager tracker default).
pub const FILE_CORES_PER_TASK: i32 = 1;

/// Architecture of a step (CRD default). Kept for compatibility; `smo` ships no per-arch download.
pub const ARCH: &str = "amd64";

/// Pod subdomain of workload Jobs (CRD default of `manager.subdomain`, manager default).
pub const SUBDOMAIN: &str = "r";

/// `backoffLimit` of a step's Job when `retryFailure` is true (otherwise 0).
pub const RETRY_BACKOFF_LIMIT: i32 = 6;

/// Lower bound of `shrink` when a rule sets no `minSize` (operator rendering, manager).
pub const RULE_MIN_SIZE: u32 = 1;

/// Name of the in-cluster registry StatefulSet (CRD default).
pub const REGISTRY_NAME: &str = "registry";

/// Image of the in-cluster registry (CRD default).
pub const REGISTRY_IMAGE: &str = "ghcr.io/oras-project/registry:latest";

/// The variables `smo artifact push|pull` read a registry's user name and password from (a step
/// Pod gets them from its workflow's registry Secret).
pub const REGISTRY_USERNAME_ENV: &str = "SMO_REGISTRY_USERNAME";
/// See [`REGISTRY_USERNAME_ENV`].
pub const REGISTRY_PASSWORD_ENV: &str = "SMO_REGISTRY_PASSWORD";

/// Replicas of the in-cluster registry and of the manager (CRD defaults).
pub const REPLICAS: i32 = 1;

/// `manager.coresPerNode` (CRD default; unused by the original and by `smo`).
pub const MANAGER_CORES_PER_NODE: i32 = 4;

/// Namespace of workload objects when a workflow file sets none (operator rendering).
pub const NAMESPACE: &str = "default";

/// Container command of a step when `config.command` is not set.
pub const COMMAND: &[&str] = &["/bin/bash", "/workdir/entrypoint.sh"];

/// Where a step's ConfigMap (entrypoint, config, app-config) is mounted in its pods.
pub const CONFIG_MOUNT: &str = "/workdir";

/// How many sequences may fail before `smo` stops replacing them, when the workflow does not say.
///
/// The original replaced failed sequences without bound, so a step that always fails looped
/// forever. `smo` stops starting new sequences after this many failures (five per required
/// completion, at least ten), lets the running ones finish, and ends the workflow as failed.
pub fn max_failures(completed: u32) -> u32 {
    completed.saturating_mul(5).max(10)
}
