//! Pod and Job pieces shared by the batch Job and the JobSet builders.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource,
    EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath, ObjectFieldSelector, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecretKeySelector, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{FILE_ANNOTATION_PREFIX, JobContext, SMO_BIN_DIR, labels};
use crate::workflow::Step;
use crate::{defaults, pod_security};

/// Name of the volume holding the step's files (its ConfigMap, or its own annotations).
pub(crate) const CONFIG_VOLUME: &str = "entrypoint-mount";

/// Name of the emptyDir volume the `smo` binary is installed into.
pub(crate) const SMO_VOLUME: &str = "smo-bin";

/// Name of the init container that installs `smo`.
pub(crate) const SMO_INIT: &str = "smo-install";

/// Name of the container that runs the step.
pub(crate) const CONTAINER: &str = "step";

/// ConfigMap keys and the file names they are mounted as under [`defaults::CONFIG_MOUNT`].
pub(crate) const CONFIG_ITEMS: [(&str, &str); 4] = [
    ("entrypoint", "entrypoint.sh"),
    ("config", "config.json"),
    ("app-config", "app-config"),
    ("metrics", "metrics.json"),
];

/// The step's container command, split into words (`/bin/bash /workdir/entrypoint.sh` if unset).
pub(crate) fn argv(step: &Step) -> Vec<String> {
    match &step.command {
        Some(words) if !words.is_empty() => words.clone(),
        _ => defaults::COMMAND.iter().map(|w| w.to_string()).collect(),
    }
}

/// The step's walltime in whole seconds, rounded up (a deadline must not cut a job short).
pub(crate) fn deadline_seconds(step: &Step) -> Option<i64> {
    step.walltime.map(|d| {
        let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
        i64::try_from(secs).unwrap_or(i64::MAX)
    })
}

/// `n` as a Kubernetes int32 field, saturating.
pub(crate) fn int32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A step's environment for a local run, where there is no pod to read `from:` fields of: the
/// completion index of the one process is `0`, `metadata.name` is the job's name, and any
/// other `from:` value is left unset (`smo run` names them in a warning).
pub fn local_environment(environment: &BTreeMap<String, String>, job_name: &str) -> Vec<(String, String)> {
    environment
        .iter()
        .filter_map(|(key, value)| {
            let value = match field_ref(value) {
                None => value.clone(),
                Some(path) if path.contains("job-completion-index") => "0".into(),
                Some("metadata.name") => job_name.to_string(),
                Some(_) => return None,
            };
            Some((key.clone(), value))
        })
        .collect()
}

pub(crate) use crate::workflow::field_ref;

/// The step's environment as container env vars. Values are strings (the original passed
/// YAML numbers through and the API call failed); `from:<path>` becomes a downward-API
/// `fieldRef` (the original did this for JobSets only).
pub(crate) fn env(step: &Step) -> Vec<EnvVar> {
    step.environment
        .iter()
        .map(|(name, value)| match field_ref(value) {
            Some(path) => EnvVar {
                name: name.clone(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector { field_path: path.to_string(), ..Default::default() }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            None => EnvVar { name: name.clone(), value: Some(value.clone()), ..Default::default() },
        })
        .collect()
}

/// Resource amounts of one pod: `cpu` = cores per task (none for 0), and the GPU label if GPUs
/// are asked for.
pub(crate) fn resource_amounts(step: &Step) -> BTreeMap<String, Quantity> {
    let mut r = BTreeMap::new();
    if step.cores_per_task > 0 {
        r.insert("cpu".to_string(), Quantity(step.cores_per_task.to_string()));
    }
    if step.gpus > 0 {
        r.insert(step.gpu_label.clone(), Quantity(step.gpus.to_string()));
    }
    r
}

/// Requests = limits, as in the original (a step gets exactly what it asks for).
fn resources(step: &Step) -> ResourceRequirements {
    let amounts = resource_amounts(step);
    if amounts.is_empty() {
        return ResourceRequirements::default();
    }
    ResourceRequirements { requests: Some(amounts.clone()), limits: Some(amounts), ..Default::default() }
}

/// What differs between the pods of a batch Job and of a JobSet.
pub(crate) struct PodFlavour {
    /// Set the step's pod subdomain (a JobSet sets its own, named after the JobSet, and pod DNS
    /// names like `<name>-jobset-0-0.<name>` depend on it).
    pub subdomain: bool,
    /// Expose the step's `ports` property as container ports.
    pub ports: bool,
    /// Extra environment variables appended after the step's.
    pub extra_env: Vec<EnvVar>,
}

/// The pod template of one step job: labels, the step container, the ConfigMap volume and, with
/// an `smo` image, the init container that installs `smo`.
pub(crate) fn pod_template(ctx: &JobContext, flavour: PodFlavour) -> PodTemplateSpec {
    let step = ctx.step;
    let mut words = argv(step).into_iter();
    let command = words.next().map(|w| vec![w]);
    let args: Vec<String> = words.collect();

    let mut env = env(step);
    env.extend(flavour.extra_env);
    if let Some(secret) = ctx.registry_credentials {
        env.extend(registry_credentials(secret));
    }

    let mut mounts = vec![VolumeMount {
        name: CONFIG_VOLUME.into(),
        mount_path: defaults::CONFIG_MOUNT.into(),
        ..Default::default()
    }];
    let (files_volume, annotations) = files_volume(ctx);
    let mut volumes = vec![files_volume];
    let mut init_containers = None;
    if let Some(image) = ctx.smo_image {
        // The binary is copied from the smo image into a shared emptyDir before the step starts,
        // so the script needs neither internet access nor `smo` in the step's image.
        mounts.push(VolumeMount { name: SMO_VOLUME.into(), mount_path: SMO_BIN_DIR.into(), ..Default::default() });
        volumes.push(Volume {
            name: SMO_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
        init_containers = Some(vec![Container {
            name: SMO_INIT.into(),
            image: Some(image.to_string()),
            command: Some(vec!["smo".into(), "install".into(), SMO_BIN_DIR.into()]),
            volume_mounts: Some(vec![VolumeMount {
                name: SMO_VOLUME.into(),
                mount_path: SMO_BIN_DIR.into(),
                ..Default::default()
            }]),
            // smo's own container passes the restricted standard whatever the step asks for.
            security_context: Some(pod_security::own_container_context()),
            ..Default::default()
        }]);
    }

    let ports = (flavour.ports && !step.properties.ports.is_empty()).then(|| {
        step.properties
            .ports
            .iter()
            .map(|p| ContainerPort { container_port: i32::from(*p), ..Default::default() })
            .collect()
    });

    let container = Container {
        name: CONTAINER.into(),
        image: step.image.clone(),
        command,
        args: (!args.is_empty()).then_some(args),
        image_pull_policy: Some(step.pull_policy.clone()),
        working_dir: Some(step.workdir.clone()),
        env: (!env.is_empty()).then_some(env),
        resources: Some(resources(step)),
        ports,
        volume_mounts: Some(mounts),
        security_context: step.pod_security.container_context(),
        ..Default::default()
    };

    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(labels(ctx)), annotations, ..Default::default() }),
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            subdomain: if flavour.subdomain { step.subdomain.clone() } else { None },
            node_selector: (!step.properties.node_selector.is_empty()).then(|| step.properties.node_selector.clone()),
            init_containers,
            containers: vec![container],
            volumes: Some(volumes),
            // Steps talk to the registry, not to the Kubernetes API.
            automount_service_account_token: Some(false),
            security_context: step.pod_security.pod_context(),
            ..Default::default()
        }),
    }
}

/// The variables `smo artifact` reads the registry's credentials from, filled in by the kubelet
/// from the Secret `secret` (so the operator never reads it).
fn registry_credentials(secret: &str) -> [EnvVar; 2] {
    let from_key = |name: &str, key: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: secret.into(), key: key.into(), optional: None }),
            ..Default::default()
        }),
        ..Default::default()
    };
    [
        from_key(defaults::REGISTRY_USERNAME_ENV, crate::registry::USERNAME_KEY),
        from_key(defaults::REGISTRY_PASSWORD_ENV, crate::registry::PASSWORD_KEY),
    ]
}

/// The volume with the step's files (see [`JobContext::files`]): a downward-API volume over the
/// pod's own annotations, which it returns; or the step job's ConfigMap.
fn files_volume(ctx: &JobContext) -> (Volume, Option<BTreeMap<String, String>>) {
    let Some(files) = ctx.files else {
        let items = CONFIG_ITEMS
            .iter()
            .map(|(key, path)| KeyToPath { key: key.to_string(), path: path.to_string(), ..Default::default() })
            .collect();
        let source = ConfigMapVolumeSource { name: ctx.name(), items: Some(items), ..Default::default() };
        return (Volume { name: CONFIG_VOLUME.into(), config_map: Some(source), ..Default::default() }, None);
    };
    let annotation = |key: &str| format!("{FILE_ANNOTATION_PREFIX}{key}");
    let items = CONFIG_ITEMS
        .iter()
        .map(|(key, path)| DownwardAPIVolumeFile {
            path: path.to_string(),
            field_ref: Some(ObjectFieldSelector {
                field_path: format!("metadata.annotations['{}']", annotation(key)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let source = DownwardAPIVolumeSource { items: Some(items), ..Default::default() };
    let annotations = files.iter().map(|(key, content)| (annotation(key), content.clone())).collect();
    (Volume { name: CONFIG_VOLUME.into(), downward_api: Some(source), ..Default::default() }, Some(annotations))
}

/// The Job spec of one step job around `template`: `parallelism = completions = nodes`,
/// `backoffLimit` 6 with `retry_failure` (else 0), `activeDeadlineSeconds` from the walltime.
pub(crate) fn job_spec(ctx: &JobContext, template: PodTemplateSpec) -> JobSpec {
    let step = ctx.step;
    JobSpec {
        parallelism: Some(int32(ctx.nodes)),
        completions: Some(int32(ctx.nodes)),
        suspend: Some(false),
        backoff_limit: Some(if step.retry_failure { defaults::RETRY_BACKOFF_LIMIT } else { 0 }),
        active_deadline_seconds: deadline_seconds(step),
        template,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_runs_fill_from_values_they_can_and_leave_out_the_rest() {
        let env: BTreeMap<String, String> = [
            ("RANK", "from:metadata.annotations['batch.kubernetes.io/job-completion-index']"),
            ("POD", "from: metadata.name"),
            ("NODE", "from:spec.nodeName"),
            ("EPOCHS", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let got = local_environment(&env, "train-job-000000001");
        let want: Vec<(String, String)> = [("EPOCHS", "3"), ("POD", "train-job-000000001"), ("RANK", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
