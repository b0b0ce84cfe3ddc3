//! Label keys and values on every object `smo` creates.
//!
//! `app` and `jobid` are the original's labels (scripts and dashboards select on them). The
//! managed-by and workflow labels are `smo`'s own: the watcher selects on both, so two workflows in
//! one namespace never see each other's Jobs (the original listed every Job in the namespace).

/// Step name of a Job (original label).
pub const STEP: &str = "app";

/// Sequence id of a Job, e.g. `job_012345678` (original label).
pub const JOB_ID: &str = "jobid";

/// Set to `"1"` on Jobs of steps whose failures count as success (original label).
pub const ALWAYS_SUCCEED: &str = "always-succeed";

/// Standard managed-by label.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Value of [`MANAGED_BY`] on everything `smo` creates.
pub const MANAGER: &str = "state-machine-operator";

/// Name of the workflow (the `StateMachine`'s name, or the workflow file's) a Job belongs to.
pub const WORKFLOW: &str = "state-machine.converged-computing.org/workflow";

/// Attempt number of a step's Job: 1 for the first submission, +1 for every `repeat`. Lets a
/// late event of a replaced Job be told apart from its replacement.
pub const ATTEMPT: &str = "state-machine.converged-computing.org/attempt";

/// Label selector for everything one workflow created: `managed-by=…,workflow=<name>`.
pub fn workflow_selector(workflow: &str) -> String {
    format!("{MANAGED_BY}={MANAGER},{WORKFLOW}={workflow}")
}
