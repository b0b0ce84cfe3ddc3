//! The `flux-framework.org/v1alpha2` MiniCluster that runs a step with the `minicluster`
//! property (needs the Flux Operator).
//!
//! Field for field as the original's `submit_minicluster_job`: `size` = nodes, `maxSize` =
//! nodes + 100 (room to grow), `tasks` = cores per task, `jobLabels` = the step job's labels (the
//! operator's indexed Job carries them, so the watcher sees it like a batch Job), the headless
//! service named after the job id, and the ConfigMap mounted at `/workdir`. The Flux Operator's
//! container has no init containers and its `environment` is a plain name → text map, so the
//! `smo` image and `from:` field references are not available here: `smo` must be in the step's
//! image, and `from:` values are passed through as text.

use serde_json::{Map, Value, json};

use super::pod::{CONFIG_ITEMS, argv, deadline_seconds};
use super::{JobContext, MINICLUSTER_API_VERSION, labels};
use crate::defaults;

/// How far a MiniCluster may grow beyond its starting size (the original's `maxSize` margin).
pub const MAX_SIZE_MARGIN: u32 = 100;

/// The MiniCluster of one step job, named `<step>-<jobid>` in the step's namespace.
pub fn minicluster(ctx: &JobContext) -> Value {
    let step = ctx.step;
    let words = argv(step);
    // The Flux Operator takes the command as one line; quote the words so they survive it. Only
    // a NUL byte makes quoting fail, and Kubernetes strings cannot hold one anyway.
    let command = shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "));
    let items: Map<String, Value> =
        CONFIG_ITEMS.iter().map(|(key, path)| (key.to_string(), Value::String(path.to_string()))).collect();
    let mut resources = Map::new();
    if step.cores_per_task > 0 {
        resources.insert("cpu".into(), json!(step.cores_per_task));
    }
    if step.gpus > 0 {
        resources.insert(step.gpu_label.clone(), json!(step.gpus));
    }
    let resources = Value::Object(resources);

    let mut container = json!({
        "name": crate::jobs::STEP_CONTAINER,
        "image": step.image,
        "command": command,
        "workingDir": step.workdir,
        "pullAlways": step.pull_policy == "Always",
        "launcher": true,
        "volumes": {
            ctx.jobid.dashed(): {
                "configMapName": ctx.name(),
                "path": defaults::CONFIG_MOUNT,
                "items": items,
            },
        },
        "resources": {"limits": resources.clone(), "requests": resources},
    });
    if !step.environment.is_empty() {
        container["environment"] = json!(step.environment);
    }

    let mut spec = json!({
        "size": ctx.nodes,
        "maxSize": ctx.nodes.saturating_add(MAX_SIZE_MARGIN),
        // As the original: Flux runs one task per core of the pod.
        "tasks": step.cores_per_task.max(1),
        "jobLabels": labels(ctx),
        "network": {"headlessName": ctx.jobid.dashed()},
        "containers": [container],
    });
    if let Some(seconds) = deadline_seconds(step) {
        spec["deadlineSeconds"] = json!(seconds);
    }
    if !step.properties.node_selector.is_empty() {
        spec["pod"] = json!({"nodeSelector": step.properties.node_selector});
    }

    let mut metadata = json!({
        "name": ctx.name(),
        "namespace": step.namespace,
        "labels": labels(ctx),
    });
    if let Some(owner) = &ctx.owner {
        let mut reference = json!({
            "apiVersion": owner.api_version,
            "kind": owner.kind,
            "name": owner.name,
            "uid": owner.uid,
        });
        if let Some(controller) = owner.controller {
            reference["controller"] = json!(controller);
        }
        if let Some(block) = owner.block_owner_deletion {
            reference["blockOwnerDeletion"] = json!(block);
        }
        metadata["ownerReferences"] = json!([reference]);
    }
    json!({
        "apiVersion": MINICLUSTER_API_VERSION,
        "kind": "MiniCluster",
        "metadata": metadata,
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;
    use crate::jobs::test_support::{context, step, workflow};
    use crate::names::JobId;
    use crate::workflow::WorkloadKind;

    #[test]
    fn jobs_minicluster_fields_follow_the_original() {
        let mut s = step("lammps");
        s.properties.workload = WorkloadKind::MiniCluster;
        s.cores_per_task = 4;
        s.gpus = 1;
        s.walltime = Some(Duration::from_secs(1800));
        s.environment.insert("OMP_NUM_THREADS".into(), "4".into());
        s.properties.node_selector.insert("pool".into(), "hpc".into());
        s.pull_policy = "Always".into();
        s.command = Some(vec!["/bin/bash".into(), "/workdir/entry point.sh".into()]);
        let wf = workflow(vec![s]);
        let id = JobId::new("job_012345678");
        let owner = OwnerReference {
            api_version: "state-machine.converged-computing.org/v1alpha1".into(),
            kind: "StateMachine".into(),
            name: "state-machine".into(),
            uid: "abc".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        let ctx = JobContext { nodes: 3, owner: Some(owner), ..context(&wf, &id) };
        let v = minicluster(&ctx);
        let want_labels = serde_json::to_value(labels(&ctx)).expect("labels");

        assert_eq!(v["apiVersion"], "flux-framework.org/v1alpha2");
        assert_eq!(v["kind"], "MiniCluster");
        assert_eq!(v["metadata"]["name"], "lammps-job-012345678");
        assert_eq!(v["metadata"]["namespace"], "default");
        assert_eq!(v["metadata"]["labels"], want_labels);
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "abc");
        assert_eq!(v["metadata"]["ownerReferences"][0]["controller"], true);
        assert!(v["metadata"]["ownerReferences"][0].get("blockOwnerDeletion").is_none());
        let spec = &v["spec"];
        assert_eq!(spec["size"], 3);
        assert_eq!(spec["maxSize"], 103);
        assert_eq!(spec["tasks"], 4);
        assert_eq!(spec["jobLabels"], want_labels);
        assert_eq!(spec["network"]["headlessName"], "job-012345678");
        assert_eq!(spec["deadlineSeconds"], 1800);
        assert_eq!(spec["pod"]["nodeSelector"], json!({"pool": "hpc"}));
        let c = &spec["containers"][0];
        assert_eq!(c["name"], "step");
        assert_eq!(c["image"], "rockylinux:9");
        assert_eq!(c["command"], "/bin/bash '/workdir/entry point.sh'");
        assert_eq!(c["workingDir"], "/tmp/out");
        assert_eq!(c["pullAlways"], true);
        assert_eq!(c["launcher"], true);
        assert_eq!(c["environment"], json!({"OMP_NUM_THREADS": "4"}));
        assert_eq!(c["resources"]["limits"], json!({"cpu": 4, "nvidia.com/gpu": 1}));
        assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
        assert_eq!(
            c["volumes"]["job-012345678"],
            json!({
                "configMapName": "lammps-job-012345678",
                "path": "/workdir",
                "items": {"entrypoint": "entrypoint.sh", "config": "config.json", "app-config": "app-config", "metrics": "metrics.json"},
            })
        );
    }

    #[test]
    fn jobs_minicluster_defaults_leave_optional_fields_out() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let ctx = JobContext { nodes: 1, ..context(&wf, &id) };
        let v = minicluster(&ctx);
        for absent in ["deadlineSeconds", "pod"] {
            assert!(v["spec"].get(absent).is_none(), "{absent}");
        }
        assert!(v["metadata"].get("ownerReferences").is_none());
        let c = &v["spec"]["containers"][0];
        assert_eq!(c["command"], "/bin/bash /workdir/entrypoint.sh");
        assert_eq!(c["pullAlways"], false);
        assert!(c.get("environment").is_none());
        assert_eq!(c["resources"]["limits"], json!({"cpu": 1}));
    }
}
