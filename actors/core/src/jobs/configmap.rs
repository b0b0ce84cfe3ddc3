//! The ConfigMap of one step job: the script, a JSON description of the step, the app config.
//!
//! The original made one ConfigMap per sequence, named after the job id, and deleted and
//! recreated it for every step — so a step's pods could mount the next step's script. `smo` makes
//! one per step job, named like the Job, with the same labels and owner, so it is cleaned up
//! with the Job and never changes under a running pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};

use super::JobContext;
use super::pod::deadline_seconds;
use crate::workflow::{StepProperties, WorkloadKind};

/// The files of one step job, by key: `entrypoint` (the rendered `script`), `config` (the step
/// as JSON, see [`step_config`]), `app-config` (empty if the step has none) and `metrics` (its
/// [`crate::step_metrics::Config`]). The pod finds them as `/workdir/entrypoint.sh`,
/// `config.json`, `app-config` and `metrics.json`.
pub fn step_files(ctx: &JobContext, script: &str) -> BTreeMap<String, String> {
    // What `smo step-metrics` computes in the Pod (`{}` when the step has no custom metrics).
    let metrics = crate::step_metrics::Config::of(ctx.step)
        .and_then(|c| serde_json::to_string(&c).ok())
        .unwrap_or_else(|| "{}".into());
    BTreeMap::from([
        ("entrypoint".to_string(), script.to_string()),
        // `{:#}` pretty-prints a Value and cannot fail, unlike `to_string_pretty`.
        ("config".to_string(), format!("{:#}", step_config(ctx))),
        ("app-config".to_string(), ctx.step.app_config.clone().unwrap_or_default()),
        ("metrics".to_string(), metrics),
    ])
}

/// The ConfigMap of one step job, holding its [`step_files`].
pub fn config_map(ctx: &JobContext, files: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap { metadata: ctx.metadata(), data: Some(files), ..Default::default() }
}

/// Prefix of the pod annotations that carry a step's files (`…/entrypoint`, `…/config`,
/// `…/app-config`) when the pod carries them itself.
pub const FILE_ANNOTATION_PREFIX: &str = "state-machine.converged-computing.org/";

/// Room for the files in a pod's annotations: Kubernetes allows 256 KiB of annotations in all,
/// and the rest is left for what others add.
const ANNOTATION_ROOM: usize = 200 * 1024;

/// Whether a step pod can carry `files` itself (annotations projected by a downward-API volume,
/// as Argo Workflows hands its pods their template), which saves a ConfigMap — one write, and
/// one round trip before the Job can be created — per step job. Not for a MiniCluster (the Flux
/// Operator mounts ConfigMaps only), nor for files too large for annotations.
pub fn files_in_pod(ctx: &JobContext, files: &BTreeMap<String, String>) -> bool {
    let size: usize = files.iter().map(|(k, v)| FILE_ANNOTATION_PREFIX.len() + k.len() + v.len()).sum();
    ctx.step.properties.workload != WorkloadKind::MiniCluster && size <= ANNOTATION_ROOM
}

/// The step as this job runs it, for `/workdir/config.json`: name, job id, attempt, current
/// nodes, cores per task, GPUs, tasks, walltime in seconds, image, workdir, properties, registry
/// tags and environment.
pub fn step_config(ctx: &JobContext) -> Value {
    let step = ctx.step;
    json!({
        "name": step.name,
        "jobid": ctx.jobid.as_str(),
        "attempt": ctx.attempt,
        "nodes": ctx.nodes,
        "cores_per_task": step.cores_per_task,
        "gpus": step.gpus,
        "gpulabel": step.gpu_label,
        "tasks": step.tasks,
        "walltime": deadline_seconds(step),
        "image": step.image,
        "namespace": step.namespace,
        "workdir": step.workdir,
        "properties": properties(&step.properties),
        "registry": {"push": step.push, "pull": step.pull},
        "environment": step.environment,
    })
}

/// Properties under their original keys, only those that are set.
fn properties(p: &StepProperties) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in &p.other {
        out.insert(k.clone(), Value::String(v.clone()));
    }
    if p.always_succeed {
        out.insert("always-succeed".into(), Value::Bool(true));
    }
    if let Some(path) = &p.save_path {
        out.insert("save-path".into(), Value::String(path.display().to_string()));
    }
    if !p.node_selector.is_empty() {
        out.insert("node-selector".into(), json!(p.node_selector));
    }
    match p.workload {
        WorkloadKind::Job => {}
        WorkloadKind::JobSet => {
            out.insert("jobset".into(), Value::Bool(true));
        }
        WorkloadKind::MiniCluster => {
            out.insert("minicluster".into(), Value::Bool(true));
        }
    }
    if !p.ports.is_empty() {
        out.insert("ports".into(), json!(p.ports));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::jobs::labels;
    use crate::jobs::test_support::{context, step, workflow};
    use crate::names::JobId;

    #[test]
    fn files_travel_in_the_pod_unless_a_minicluster_or_too_large() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let files = step_files(&context(&wf, &id), "echo hi\n");
        assert!(files_in_pod(&context(&wf, &id), &files));
        let big = step_files(&context(&wf, &id), &"x".repeat(300 * 1024));
        assert!(!files_in_pod(&context(&wf, &id), &big), "too large for annotations");
        let mut s = step("job_a");
        s.properties.workload = WorkloadKind::MiniCluster;
        let mini = workflow(vec![s]);
        assert!(!files_in_pod(&context(&mini, &id), &files), "the Flux Operator mounts ConfigMaps only");
    }

    #[test]
    fn jobs_config_map_is_per_step_job_with_script_config_and_app_config() {
        let mut s = step("job_b");
        s.pull = Some("job_a".into());
        s.push = Some("job_b".into());
        s.walltime = Some(Duration::from_secs(90));
        s.tasks = Some(2);
        s.app_config = Some("key: value\n".into());
        s.environment.insert("A".into(), "1".into());
        s.properties.always_succeed = true;
        s.properties.ports = vec![8080];
        s.properties.workload = WorkloadKind::JobSet;
        s.properties.other.insert("custom".into(), "x".into());
        let wf = workflow(vec![s]);
        let id = JobId::new("job_012345678");
        let ctx = JobContext { attempt: 2, nodes: 3, ..context(&wf, &id) };
        let cm = config_map(&ctx, step_files(&ctx, "#!/bin/bash\necho hi\n"));
        // A repeat's objects carry the attempt: the first attempt's may still be being deleted.
        assert_eq!(cm.metadata.name.as_deref(), Some("job-b-job-012345678-2"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(cm.metadata.labels, Some(labels(&ctx)));
        let data = cm.data.expect("data");
        assert_eq!(data["entrypoint"], "#!/bin/bash\necho hi\n");
        assert_eq!(data["app-config"], "key: value\n");
        let config: Value = serde_json::from_str(&data["config"]).expect("config is JSON");
        assert_eq!(
            config,
            json!({
                "name": "job_b", "jobid": "job_012345678", "attempt": 2, "nodes": 3, "cores_per_task": 1,
                "gpus": 0, "gpulabel": "nvidia.com/gpu", "tasks": 2, "walltime": 90, "image": "rockylinux:9",
                "namespace": "default", "workdir": "/tmp/out",
                "properties": {"always-succeed": true, "jobset": true, "ports": [8080], "custom": "x"},
                "registry": {"push": "job_b", "pull": "job_a"},
                "environment": {"A": "1"},
            })
        );
    }

    #[test]
    fn jobs_config_map_without_app_config_still_has_the_key() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let ctx = JobContext { nodes: 1, ..context(&wf, &id) };
        let data = config_map(&ctx, step_files(&ctx, "")).data.expect("data");
        // The pod's volume lists all four keys; a missing one would fail the mount.
        assert_eq!(data.keys().collect::<Vec<_>>(), ["app-config", "config", "entrypoint", "metrics"]);
        assert_eq!(data["app-config"], "");
        assert_eq!(data["metrics"], "{}", "no custom metrics");
    }
}
