//! The `batch/v1` Job that runs a step (the default workload).
//!
//! As the original's `generate_batch_job`, with these fixes: labels are set on the Job itself,
//! not left to API defaulting; environment values are always strings and `from:` values become
//! field references; the deadline applies to the whole Job; the ConfigMap is the job's own.

use k8s_openapi::api::batch::v1::Job;

use super::JobContext;
use super::pod::{PodFlavour, job_spec, pod_template};

/// The batch Job of one step job, named `<step>-<jobid>` in the step's namespace.
pub fn batch_job(ctx: &JobContext) -> Job {
    let template = pod_template(ctx, PodFlavour { subdomain: true, ports: false, extra_env: Vec::new() });
    Job { metadata: ctx.metadata(), spec: Some(job_spec(ctx, template)), status: None }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use serde_json::json;

    use super::*;
    use crate::jobs::test_support::{context as ctx, step, workflow};
    use crate::jobs::{SMO_BIN, SMO_BIN_DIR, labels};
    use crate::names::JobId;
    use crate::workflow::Step;

    fn build(s: Step) -> Job {
        let wf = workflow(vec![s]);
        let id = JobId::new("job_012345678");
        batch_job(&ctx(&wf, &id))
    }

    fn pod(job: &Job) -> &PodSpec {
        job.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod spec")
    }

    fn container(job: &Job) -> &Container {
        &pod(job).containers[0]
    }

    #[test]
    fn jobs_batch_job_for_the_ci_example_step() {
        let job = build(step("job_a"));
        let got = serde_json::to_value(&job).expect("serialise");
        let labels = json!({
            "app": "job_a",
            "jobid": "job_012345678",
            "app.kubernetes.io/managed-by": "state-machine-operator",
            "state-machine.converged-computing.org/workflow": "state-machine",
            "state-machine.converged-computing.org/attempt": "1",
        });
        let want = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "job-a-job-012345678", "namespace": "default", "labels": labels},
            "spec": {
                "parallelism": 1,
                "completions": 1,
                "suspend": false,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "subdomain": "r",
                        "automountServiceAccountToken": false,
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": crate::jobs::STEP_CONTAINER,
                            "image": "rockylinux:9",
                            "command": ["/bin/bash"],
                            "args": ["/workdir/entrypoint.sh"],
                            "imagePullPolicy": "IfNotPresent",
                            "workingDir": "/tmp/out",
                            "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
                            "volumeMounts": [{"name": "entrypoint-mount", "mountPath": "/workdir"}],
                            "securityContext": {"allowPrivilegeEscalation": false},
                        }],
                        "volumes": [{
                            "name": "entrypoint-mount",
                            "configMap": {
                                "name": "job-a-job-012345678",
                                "items": [
                                    {"key": "entrypoint", "path": "entrypoint.sh"},
                                    {"key": "config", "path": "config.json"},
                                    {"key": "app-config", "path": "app-config"},
                                    {"key": "metrics", "path": "metrics.json"},
                                ],
                            },
                        }],
                    },
                },
            },
        });
        assert_eq!(got, want, "{}", serde_json::to_string_pretty(&got).unwrap_or_default());
    }

    #[test]
    fn jobs_batch_labels_on_job_and_pod_template_intended_not_defaulting() {
        let mut s = step("job_a");
        s.properties.always_succeed = true;
        let job = build(s);
        let on_job = job.metadata.labels.clone().expect("job labels");
        let on_pod = job.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.clone());
        assert_eq!(Some(&on_job), on_pod.as_ref());
        assert_eq!(on_job["always-succeed"], "1");
        assert_eq!(on_job["app"], "job_a");
    }

    #[test]
    fn jobs_batch_env_values_are_strings_and_from_becomes_field_ref() {
        let mut s = step("job_a");
        s.environment.insert("COUNT".into(), "3".into());
        s.environment.insert("NAME".into(), "it's".into());
        s.environment
            .insert("INDEX".into(), "from:metadata.annotations['batch.kubernetes.io/job-completion-index']".into());
        s.environment.insert("POD".into(), "from: metadata.name".into());
        let job = build(s);
        let env = serde_json::to_value(container(&job).env.as_ref().expect("env")).expect("serialise");
        assert_eq!(
            env,
            json!([
                {"name": "COUNT", "value": "3"},
                {"name": "INDEX", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
                {"name": "NAME", "value": "it's"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ])
        );
    }

    #[test]
    fn jobs_batch_deadline_from_walltime_rounds_up() {
        let mut s = step("job_a");
        s.walltime = Some(Duration::from_secs(2700));
        let spec = build(s.clone()).spec.expect("spec");
        assert_eq!(spec.active_deadline_seconds, Some(2700));
        s.walltime = Some(Duration::from_millis(30_500));
        assert_eq!(build(s).spec.expect("spec").active_deadline_seconds, Some(31));
        assert_eq!(build(step("job_a")).spec.expect("spec").active_deadline_seconds, None);
    }

    #[test]
    fn jobs_batch_retry_failure_sets_backoff_limit() {
        let mut s = step("job_a");
        assert_eq!(build(s.clone()).spec.expect("spec").backoff_limit, Some(0));
        s.retry_failure = true;
        assert_eq!(build(s).spec.expect("spec").backoff_limit, Some(6));
    }

    #[test]
    fn jobs_batch_a_step_of_a_private_registry_gets_its_credentials_by_reference() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let job = batch_job(&JobContext { registry_credentials: Some("wf-registry-auth"), ..ctx(&wf, &id) });
        let env = serde_json::to_value(container(&job).env.as_ref().expect("env")).expect("serialise");
        // The kubelet fills them in: the Job itself carries no password.
        assert_eq!(
            env,
            json!([
                {"name": "SMO_REGISTRY_USERNAME", "valueFrom": {"secretKeyRef": {"name": "wf-registry-auth", "key": "username"}}},
                {"name": "SMO_REGISTRY_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "wf-registry-auth", "key": "password"}}},
            ])
        );
        assert!(container(&batch_job(&ctx(&wf, &id))).env.is_none(), "no registry of its own, no credentials");
    }

    #[test]
    fn jobs_batch_parallelism_and_completions_follow_current_nodes() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let spec = batch_job(&JobContext { nodes: 4, ..ctx(&wf, &id) }).spec.expect("spec");
        assert_eq!((spec.parallelism, spec.completions), (Some(4), Some(4)));
    }

    #[test]
    fn jobs_batch_custom_command_is_split_into_command_and_args() {
        let mut s = step("job_a");
        s.command = Some(vec!["python3".into(), "/workdir/run.py".into(), "--steps".into(), "10".into()]);
        let job = build(s);
        let c = container(&job);
        assert_eq!(c.command, Some(vec!["python3".to_string()]));
        assert_eq!(c.args, Some(vec!["/workdir/run.py".to_string(), "--steps".into(), "10".into()]));

        let mut s = step("job_a");
        s.command = Some(vec!["/entry".into()]);
        let job = build(s);
        assert_eq!(container(&job).command, Some(vec!["/entry".to_string()]));
        assert_eq!(container(&job).args, None);
    }

    #[test]
    fn jobs_batch_gpu_resources_use_the_custom_label() {
        let mut s = step("job_a");
        s.gpus = 2;
        s.cores_per_task = 8;
        s.gpu_label = "amd.com/gpu".into();
        let job = build(s);
        let r = container(&job).resources.clone().expect("resources");
        let want = [("amd.com/gpu".to_string(), Quantity("2".into())), ("cpu".to_string(), Quantity("8".into()))]
            .into_iter()
            .collect();
        assert_eq!(r.requests.as_ref(), Some(&want));
        assert_eq!(r.limits.as_ref(), Some(&want));
    }

    #[test]
    fn jobs_batch_pod_carries_its_files_as_annotations_projected_under_workdir() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let files = crate::jobs::step_files(&ctx(&wf, &id), "echo hi\n");
        let job = batch_job(&JobContext { files: Some(&files), ..ctx(&wf, &id) });
        let template = &job.spec.as_ref().expect("spec").template;
        let annotations = template.metadata.as_ref().and_then(|m| m.annotations.clone()).expect("annotations");
        assert_eq!(annotations["state-machine.converged-computing.org/entrypoint"], "echo hi\n");
        assert!(annotations["state-machine.converged-computing.org/config"].contains("\"jobid\": \"job_012345678\""));
        let volume = &pod(&job).volumes.as_ref().expect("volumes")[0];
        assert!(volume.config_map.is_none(), "no ConfigMap");
        let items = volume.downward_api.as_ref().and_then(|d| d.items.clone()).expect("downward API items");
        let projected: Vec<(String, String)> = items
            .iter()
            .map(|i| (i.path.clone(), i.field_ref.as_ref().map(|f| f.field_path.clone()).unwrap_or_default()))
            .collect();
        assert_eq!(
            projected,
            [
                ("entrypoint.sh", "metadata.annotations['state-machine.converged-computing.org/entrypoint']"),
                ("config.json", "metadata.annotations['state-machine.converged-computing.org/config']"),
                ("app-config", "metadata.annotations['state-machine.converged-computing.org/app-config']"),
                ("metrics.json", "metadata.annotations['state-machine.converged-computing.org/metrics']"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let mount = &container(&job).volume_mounts.as_ref().expect("mounts")[0];
        assert_eq!((mount.name.as_str(), mount.mount_path.as_str()), (volume.name.as_str(), "/workdir"));
        // Without files in the pod, the step job's ConfigMap is mounted as before.
        let plain = batch_job(&ctx(&wf, &id));
        assert_eq!(
            pod(&plain).volumes.as_ref().expect("volumes")[0].config_map.as_ref().map(|c| c.name.clone()),
            Some(plain.metadata.name.clone().expect("name"))
        );
    }

    #[test]
    fn jobs_batch_zero_cores_ask_for_no_cpu() {
        let mut s = step("job_a");
        s.cores_per_task = 0;
        assert_eq!(container(&build(s.clone())).resources, Some(ResourceRequirements::default()), "a best-effort pod");
        s.gpus = 1;
        let r = container(&build(s)).resources.clone().expect("resources");
        let want = [("nvidia.com/gpu".to_string(), Quantity("1".into()))].into_iter().collect();
        assert_eq!(r.requests.as_ref(), Some(&want), "GPUs without CPUs");
    }

    #[test]
    fn jobs_batch_node_selector_from_properties() {
        let mut s = step("job_a");
        s.properties.node_selector.insert("node.kubernetes.io/instance-type".into(), "c7a.4xlarge".into());
        let job = build(s);
        assert_eq!(
            pod(&job).node_selector.as_ref().expect("selector")["node.kubernetes.io/instance-type"],
            "c7a.4xlarge"
        );
        assert_eq!(pod(&build(step("job_a"))).node_selector, None);
    }

    #[test]
    fn jobs_batch_owner_reference_is_set_when_given() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let owner = OwnerReference {
            api_version: "state-machine.converged-computing.org/v1alpha1".into(),
            kind: "StateMachine".into(),
            name: "state-machine".into(),
            uid: "1234".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let job = batch_job(&JobContext { owner: Some(owner.clone()), ..ctx(&wf, &id) });
        assert_eq!(job.metadata.owner_references, Some(vec![owner]));
        assert_eq!(batch_job(&ctx(&wf, &id)).metadata.owner_references, None);
    }

    #[test]
    fn step_pods_pass_the_pod_security_standard_their_profile_names_and_mount_no_token() {
        use crate::pod_security::{Level, PodSecurity, violations};
        use crate::workflow::Step;
        for (profile, level) in [(PodSecurity::Baseline, Level::Baseline), (PodSecurity::Restricted, Level::Restricted)]
        {
            let wf = workflow(vec![Step { pod_security: profile, ..step("job_a") }]);
            let id = JobId::new("job_012345678");
            let job = batch_job(&JobContext { smo_image: Some("smo:dev"), ..ctx(&wf, &id) });
            let p = pod(&job);
            assert_eq!(violations(p, level), Vec::<String>::new(), "{profile:?}");
            assert_eq!(p.automount_service_account_token, Some(false));
            // smo's init container passes restricted beside any step.
            assert!(!violations(p, Level::Restricted).iter().any(|v| v.contains("smo-install")), "{profile:?}");
        }
        // By default the step's image may run as root, so the Pod is baseline, not restricted.
        let wf = workflow(vec![step("job_a")]);
        let p = pod(&batch_job(&ctx(&wf, &JobId::new("job_012345678")))).clone();
        assert!(violations(&p, Level::Restricted).iter().any(|v| v.contains("runAsNonRoot")));
        let wf = workflow(vec![Step { pod_security: PodSecurity::Privileged, ..step("job_a") }]);
        let p = pod(&batch_job(&ctx(&wf, &JobId::new("job_012345678")))).clone();
        assert_eq!((p.security_context, p.containers[0].security_context.clone()), (None, None));
    }

    #[test]
    fn jobs_batch_smo_image_adds_init_container_and_bin_volume() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let job = batch_job(&JobContext { smo_image: Some("ghcr.io/example/smo:0.1.0"), ..ctx(&wf, &id) });
        let p = pod(&job);
        let init = p.init_containers.as_ref().expect("init containers");
        assert_eq!(init.len(), 1);
        assert_eq!(init[0].name, "smo-install");
        assert_eq!(init[0].image.as_deref(), Some("ghcr.io/example/smo:0.1.0"));
        assert_eq!(init[0].command, Some(vec!["smo".to_string(), "install".into(), SMO_BIN_DIR.into()]));
        let mounted = |c: &Container| {
            c.volume_mounts.iter().flatten().any(|m| m.name == "smo-bin" && m.mount_path == SMO_BIN_DIR)
        };
        assert!(mounted(&init[0]));
        assert!(mounted(&p.containers[0]));
        assert!(p.volumes.iter().flatten().any(|v| v.name == "smo-bin" && v.empty_dir.is_some()));
        assert!(SMO_BIN.starts_with(SMO_BIN_DIR));

        let plain = batch_job(&ctx(&wf, &id));
        assert_eq!(pod(&plain).init_containers, None);
        assert_eq!(pod(&plain).volumes.as_ref().map(Vec::len), Some(1));
        assert_eq!(plain.metadata.labels, Some(labels(&ctx(&wf, &id))));
    }
}
