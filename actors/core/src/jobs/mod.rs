//! Builders for what runs a step: the step script, its files (in the pod's annotations or a
//! ConfigMap), and the Job / JobSet /
//! MiniCluster objects.
//!
//! Everything here is pure: a [`JobContext`] in, Kubernetes objects out. The executor submits
//! them; nothing here talks to a cluster.
//!
//! Every object of one step job carries the same [`labels()`] (on the object, on the child Job
//! template and on the pods), so the watcher finds the Job whatever kind of workload made it, and
//! a restarted operator can rebuild the sequence from the labels alone.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::labels;
use crate::names::{self, JobId};
use crate::workflow::{Step, Workflow, WorkloadKind};

pub mod batch;
pub mod configmap;
pub mod jobset;
pub mod minicluster;
mod pod;
pub mod script;

pub use batch::batch_job;
pub use configmap::{FILE_ANNOTATION_PREFIX, config_map, files_in_pod, step_files};
pub use jobset::jobset;
// What one Pod of a step asks for, as every builder sets it: the fit check reads the same.
pub use minicluster::minicluster;
pub use pod::local_environment;
pub(crate) use pod::resource_amounts;

/// True if an environment value is `from:<field path>`: a pod field Kubernetes fills in (the
/// original's JobSet form, e.g. `from:metadata.annotations['batch.kubernetes.io/job-completion-index']`).
pub fn is_field_ref(value: &str) -> bool {
    crate::workflow::field_ref(value).is_some()
}

/// The container of a step Pod that runs the step's script (its log is the step's log, its
/// termination message the step's metrics report).
pub const STEP_CONTAINER: &str = "step";

/// Directory in a step pod where the `smo-install` init container puts the `smo` binary.
pub const SMO_BIN_DIR: &str = "/opt/smo/bin";

/// Path of the `smo` binary in a step pod when [`JobContext::smo_image`] is set; step scripts
/// call it for `smo artifact pull|push` (no download at job start).
pub const SMO_BIN: &str = "/opt/smo/bin/smo";

/// Everything a builder needs to make the objects of one step job.
#[derive(Clone, Debug)]
pub struct JobContext<'a> {
    /// The workflow the job belongs to (its name is the workflow label).
    pub workflow: &'a Workflow,
    /// The step the job runs.
    pub step: &'a Step,
    /// The sequence the job belongs to.
    pub jobid: &'a JobId,
    /// Attempt of this step in this sequence: 1, then +1 for every `repeat`.
    pub attempt: u32,
    /// Nodes of this job: the step's current size after grow or shrink.
    pub nodes: u32,
    /// Owner of every object (the `StateMachine`), so deleting it deletes them.
    pub owner: Option<OwnerReference>,
    /// Image holding the `smo` binary; when set, an init container copies it to [`SMO_BIN`].
    pub smo_image: Option<&'a str>,
    /// The step's files ([`step_files`]) when the pod carries them itself, as annotations a
    /// downward-API volume projects under [`crate::defaults::CONFIG_MOUNT`]; None: they are in the step
    /// job's ConfigMap ([`config_map`]). See [`files_in_pod`].
    pub files: Option<&'a BTreeMap<String, String>>,
    /// The Secret holding the credentials of the workflow's own registry
    /// ([`crate::registry::credentials_secret`]) when the step uses that registry: its Pod gets
    /// them as `SMO_REGISTRY_USERNAME` / `SMO_REGISTRY_PASSWORD`, which `smo artifact` reads.
    pub registry_credentials: Option<&'a str>,
}

/// Name of the objects of one step job: `<step>-<jobid>` dashed (the original's name) for a
/// first attempt, `<step>-<jobid>-<attempt>` for a repeat — so a repeat's Job is never mistaken
/// for the previous attempt's, which may still be being deleted.
pub fn object_name(step: &str, jobid: &JobId, attempt: u32) -> String {
    let name = names::job_name(step, jobid);
    if attempt > 1 { format!("{name}-{attempt}") } else { name }
}

impl JobContext<'_> {
    /// Name of the job's objects (Job, JobSet or MiniCluster, and its ConfigMap), see
    /// [`object_name`].
    pub fn name(&self) -> String {
        object_name(&self.step.name, self.jobid, self.attempt)
    }

    /// Metadata shared by every top-level object of the job: name, namespace, labels, owner.
    fn metadata(&self) -> ObjectMeta {
        ObjectMeta {
            name: Some(self.name()),
            namespace: Some(self.step.namespace.clone()),
            labels: Some(labels(self)),
            owner_references: self.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }
}

/// Labels of every object of one step job: `app=<step>`, `jobid=<id>`, managed-by, the workflow
/// label, the attempt, and `always-succeed="1"` when the step's property is set.
pub fn labels(ctx: &JobContext) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (labels::STEP.to_string(), ctx.step.name.clone()),
        (labels::JOB_ID.to_string(), ctx.jobid.as_str().to_string()),
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::WORKFLOW.to_string(), ctx.workflow.name.clone()),
        (labels::ATTEMPT.to_string(), ctx.attempt.to_string()),
    ]);
    if ctx.step.properties.always_succeed {
        l.insert(labels::ALWAYS_SUCCEED.to_string(), "1".to_string());
    }
    l
}

/// API version of a JobSet.
pub const JOBSET_API_VERSION: &str = "jobset.x-k8s.io/v1alpha2";

/// API version of a Flux Operator MiniCluster.
pub const MINICLUSTER_API_VERSION: &str = "flux-framework.org/v1alpha2";

/// The object that runs one step job, of the kind the step's properties ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// A `batch/v1` Job (boxed: it is much larger than the other variants).
    Job(Box<Job>),
    /// A `jobset.x-k8s.io/v1alpha2` JobSet (no typed binding; submitted as a dynamic object).
    JobSet(serde_json::Value),
    /// A `flux-framework.org/v1alpha2` MiniCluster (submitted as a dynamic object).
    MiniCluster(serde_json::Value),
}

impl Workload {
    /// `apiVersion` of the object.
    pub fn api_version(&self) -> &'static str {
        match self {
            Workload::Job(_) => "batch/v1",
            Workload::JobSet(_) => JOBSET_API_VERSION,
            Workload::MiniCluster(_) => MINICLUSTER_API_VERSION,
        }
    }

    /// `kind` of the object.
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::Job(_) => "Job",
            Workload::JobSet(_) => "JobSet",
            Workload::MiniCluster(_) => "MiniCluster",
        }
    }
}

/// The workload of one step job: a batch Job, a JobSet or a MiniCluster, as chosen by the step's
/// `jobset` / `minicluster` property.
pub fn workload(ctx: &JobContext) -> crate::Result<Workload> {
    Ok(match ctx.step.properties.workload {
        WorkloadKind::Job => Workload::Job(Box::new(batch_job(ctx))),
        WorkloadKind::JobSet => Workload::JobSet(jobset(ctx)?),
        WorkloadKind::MiniCluster => Workload::MiniCluster(minicluster(ctx)),
    })
}

/// Everything one step job submits: its ConfigMap — None when the pod carries its files itself
/// (see [`files_in_pod`]) — and its workload, around the rendered script. The script pulls from
/// and pushes to `store` with the `smo` binary at `smo`.
pub fn step_job(
    ctx: &JobContext,
    store: &script::ArtifactStore,
    smo: &str,
) -> crate::Result<(Option<k8s_openapi::api::core::v1::ConfigMap>, Workload)> {
    let config_file = format!("{}/app-config", crate::defaults::CONFIG_MOUNT);
    let metrics_file = format!("{}/metrics.json", crate::defaults::CONFIG_MOUNT);
    let metrics = crate::step_metrics::Config::of(ctx.step);
    let text = script::render(&script::ScriptContext {
        step: ctx.step,
        jobid: ctx.jobid,
        nodes: ctx.nodes,
        store,
        smo,
        outpath: &ctx.step.workdir,
        config_file: &config_file,
        metrics_config: metrics.as_ref().map(|_| metrics_file.as_str()),
    })?;
    let files = step_files(ctx, &text);
    if files_in_pod(ctx, &files) {
        Ok((None, workload(&JobContext { files: Some(&files), ..ctx.clone() })?))
    } else {
        Ok((Some(config_map(ctx, files)), workload(ctx)?))
    }
}

/// Shared fixtures for the builder tests: the original's CI example step and workflow.
#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;

    use crate::workflow::{KeyStyle, Origin, RegistrySettings, Step, StepProperties, Workflow};

    /// A step like the CI example's `job_a`: 1 node, 1 core, `rockylinux:9`, every default.
    pub fn step(name: &str) -> Step {
        Step {
            name: name.into(),
            nodes: 1,
            cores_per_task: 1,
            gpus: 0,
            tasks: None,
            walltime: None,
            gpu_label: crate::defaults::GPU_LABEL.into(),
            pull_policy: crate::defaults::PULL_POLICY.into(),
            retry_failure: false,
            subdomain: Some(crate::defaults::SUBDOMAIN.into()),
            command: None,
            image: Some("rockylinux:9".into()),
            namespace: "default".into(),
            workdir: crate::defaults::WORKDIR.into(),
            properties: StepProperties::default(),
            events_script: None,
            log_metrics: Vec::new(),
            push: None,
            pull: None,
            registry_host: None,
            registry_plain_http: None,
            app_config: None,
            environment: BTreeMap::new(),
            script: "sleep 20\necho \"${jobid}\" > ${jobid}-a.txt\n".into(),
            pod_security: Default::default(),
            origin: Origin { file: "state-machine.yaml".into(), base: "spec.jobs[0]".into(), style: KeyStyle::Crd },
        }
    }

    /// A context for the first attempt of the workflow's first step, on the step's own nodes,
    /// without owner or smo image; tests change what they need with `..context(…)`.
    pub fn context<'a>(wf: &'a Workflow, id: &'a crate::names::JobId) -> super::JobContext<'a> {
        super::JobContext {
            workflow: wf,
            step: &wf.steps[0],
            jobid: id,
            attempt: 1,
            nodes: wf.steps[0].nodes,
            owner: None,
            smo_image: None,
            files: None,
            registry_credentials: None,
        }
    }

    /// A workflow named `state-machine` holding `steps`.
    pub fn workflow(steps: Vec<Step>) -> Workflow {
        Workflow {
            name: "state-machine".into(),
            namespace: Some("default".into()),
            completed: 4,
            prefix: crate::defaults::JOB_PREFIX.into(),
            max_size: 6,
            max_failures: 20,
            rules: Vec::new(),
            steps,
            registry: RegistrySettings::default(),
            workdir: None,
            suspended: false,
            shutdown: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{step, workflow};
    use super::*;

    fn ctx<'a>(wf: &'a Workflow, id: &'a JobId) -> JobContext<'a> {
        JobContext {
            workflow: wf,
            step: &wf.steps[0],
            jobid: id,
            attempt: 1,
            nodes: 1,
            owner: None,
            smo_image: None,
            files: None,
            registry_credentials: None,
        }
    }

    #[test]
    fn jobs_labels_carry_step_id_workflow_and_attempt() {
        let wf = workflow(vec![step("job_a")]);
        let id = JobId::new("job_012345678");
        let l = labels(&JobContext { attempt: 3, ..ctx(&wf, &id) });
        assert_eq!(l["app"], "job_a");
        assert_eq!(l["jobid"], "job_012345678");
        assert_eq!(l[labels::MANAGED_BY], labels::MANAGER);
        assert_eq!(l[labels::WORKFLOW], "state-machine");
        assert_eq!(l[labels::ATTEMPT], "3");
        assert!(!l.contains_key(labels::ALWAYS_SUCCEED));
        for (k, v) in &l {
            assert!(names::check_label_value(v).is_ok(), "{k}={v}");
        }

        let mut s = step("job_a");
        s.properties.always_succeed = true;
        let wf = workflow(vec![s]);
        assert_eq!(labels(&ctx(&wf, &id))[labels::ALWAYS_SUCCEED], "1");
    }

    #[test]
    fn jobs_workload_follows_the_step_property() {
        let id = JobId::new("job_012345678");
        let mut s = step("job_a");
        let wf = workflow(vec![s.clone()]);
        let w = workload(&ctx(&wf, &id)).expect("workload");
        assert!(matches!(w, Workload::Job(_)));
        assert_eq!((w.api_version(), w.kind()), ("batch/v1", "Job"));

        s.properties.workload = WorkloadKind::JobSet;
        let wf = workflow(vec![s.clone()]);
        let w = workload(&ctx(&wf, &id)).expect("workload");
        match &w {
            Workload::JobSet(v) => assert_eq!(v["kind"], "JobSet"),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.api_version(), JOBSET_API_VERSION);

        s.properties.workload = WorkloadKind::MiniCluster;
        let wf = workflow(vec![s]);
        let w = workload(&ctx(&wf, &id)).expect("workload");
        match &w {
            Workload::MiniCluster(v) => assert_eq!(v["kind"], "MiniCluster"),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.kind(), "MiniCluster");
    }

    #[test]
    fn jobs_names_fit_kubernetes_limits_for_typical_ids() {
        let id = JobId::new("structure_000000042");
        for name in ["job_a", "job_b", "job_c", "lammps", "train-model", "analysis_step_long"] {
            let wf = workflow(vec![step(name)]);
            let c = ctx(&wf, &id);
            let n = c.name();
            assert!(names::check_dns_label(&n).is_ok(), "{n}: {:?}", names::check_dns_label(&n));
            // JobSet pods are `<name>-jobset-0-<i>`: still a DNS label (their hostname).
            assert!(names::check_dns_label(&format!("{n}-jobset-0-0")).is_ok(), "{n}");
            // Job pods are `<name>-<5 random>`.
            assert!(n.len() + 6 <= names::MAX_LABEL, "{n}");
        }
        assert_eq!(SMO_BIN, format!("{SMO_BIN_DIR}/smo"));
    }

    #[test]
    fn a_repeat_is_named_after_its_attempt() {
        let id = JobId::new("job_012345678");
        assert_eq!(object_name("job_a", &id, 1), "job-a-job-012345678");
        assert_eq!(object_name("job_a", &id, 2), "job-a-job-012345678-2");
    }

    #[test]
    fn a_step_job_carries_its_files_in_its_pod_unless_the_workload_cannot() {
        let id = JobId::new("job_012345678");
        let wf = workflow(vec![step("job_a")]);
        let (config_map, workload) = step_job(&ctx(&wf, &id), &script::ArtifactStore::None, "smo").expect("builds");
        assert!(config_map.is_none());
        let Workload::Job(job) = workload else { panic!("a batch Job") };
        let annotations = job.spec.and_then(|s| s.template.metadata).and_then(|m| m.annotations).unwrap_or_default();
        let script = annotations.get(&format!("{FILE_ANNOTATION_PREFIX}entrypoint")).expect("the script");
        assert!(script.contains("${jobid}-a.txt"), "the rendered script: {script}");

        let mut mini = step("job_a");
        mini.properties.workload = WorkloadKind::MiniCluster;
        let wf = workflow(vec![mini]);
        let (config_map, workload) = step_job(&ctx(&wf, &id), &script::ArtifactStore::None, "smo").expect("builds");
        let data = config_map.expect("a ConfigMap for the Flux Operator").data.unwrap_or_default();
        assert!(data.get("entrypoint").is_some_and(|s| s.contains("-a.txt")));
        assert_eq!(workload.kind(), "MiniCluster");
    }
}
