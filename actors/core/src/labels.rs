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

/// Set on a Job whose Pod was lost to the infrastructure (evicted, preempted, its node gone):
/// the Job is replaced by another and is no part of the workflow any more.
pub const SUPERSEDED: &str = "state-machine.converged-computing.org/superseded";

/// How many times a step job was resubmitted after infrastructure failures (absent: never).
pub const INFRA_RETRIES: &str = "state-machine.converged-computing.org/infra-retries";

/// Label selector for the live Jobs of one workflow: the workflow's, and not superseded.
pub fn live_job_selector(workflow: &str) -> String {
    format!("{},!{SUPERSEDED}", workflow_selector(workflow))
}

/// Label selector for everything one workflow created: `managed-by=…,workflow=<name>`.
pub fn workflow_selector(workflow: &str) -> String {
    format!("{MANAGED_BY}={MANAGER},{WORKFLOW}={workflow}")
}

/// Label selector for every object of one sequence of a workflow.
pub fn sequence_selector(workflow: &str, jobid: &str) -> String {
    format!("{},{JOB_ID}={jobid}", workflow_selector(workflow))
}

/// Label selector for every object of one step job (one attempt of one step of one sequence),
/// whatever its name: a Job replaced after an infrastructure failure included.
pub fn step_job_selector(workflow: &str, jobid: &str, step: &str, attempt: u32) -> String {
    format!("{},{STEP}={step},{ATTEMPT}={attempt}", sequence_selector(workflow, jobid))
}
