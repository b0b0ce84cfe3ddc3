//! `StateMachine` → [`Workflow`], with the original operator's rendering rules.

use std::collections::BTreeMap;

use kube_core::{CustomResourceExt, Resource};
use serde_json::Value;

use super::{KeyStyle, Origin, RegistrySettings, Step, Workflow, checks};
use crate::api::{JobStep, StateMachine};
use crate::defaults;
use crate::validate::Problems;
use crate::validate::schema::{self, Mode};

/// The `openAPIV3Schema` of the generated CRD: what the API server checks, and what
/// [`schema::check`] checks offline.
pub fn manifest_schema() -> Value {
    let crd = StateMachine::crd();
    crd.spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null)
}

/// Checks and parses one `StateMachine` document. `file` names it in messages.
///
/// The StateMachine comes back whenever it could be read at all — even with problems, so that
/// the checks of meaning can still run and every problem is reported at once.
pub fn parse_manifest(mut doc: Value, file: &str) -> (Option<StateMachine>, Problems) {
    let mut problems = Problems::new();
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    let expected = format!("{}/{}", StateMachine::group(&()), StateMachine::version(&()));
    if api_version != expected {
        problems.error(file, "apiVersion", format!("is `{api_version}`; a StateMachine is `{expected}`"));
    }
    if doc.pointer("/metadata/name").and_then(Value::as_str).is_none_or(str::is_empty) {
        problems.error(file, "metadata.name", "is required (it names the workflow and labels its Jobs)");
    }
    if let Some(obj) = doc.as_object_mut() {
        // The API server fills these; a manifest on disk rarely has them.
        obj.remove("status");
    }
    // apiVersion, kind and metadata are the API server's business; spec is ours.
    let schema = manifest_schema();
    match (doc.get_mut("spec"), schema.pointer("/properties/spec")) {
        (Some(spec), Some(spec_schema)) => {
            schema::check(spec, spec_schema, file, "spec", Mode::Manifest, &mut problems)
        }
        (None, _) => problems.error(file, "spec", "is required (workflow, cluster and jobs)"),
        (Some(_), None) => problems.error(file, "spec", "internal error: the CRD has no spec schema"),
    }
    crate::validate::deserialize_checked(doc, file, "a StateMachine", problems)
}

impl Workflow {
    /// The workflow a `StateMachine` describes, or every problem that prevents it.
    ///
    /// `file` names the manifest in messages (a path, or `namespace/name` in the operator).
    /// Warnings come back with the workflow.
    pub fn from_state_machine(sm: &StateMachine, file: &str) -> Result<(Workflow, Problems), Problems> {
        let mut problems = Problems::new();
        let spec = &sm.spec;
        let name = sm.metadata.name.clone().unwrap_or_default();
        let namespace = sm.metadata.namespace.clone();
        let step_namespace = namespace.clone().unwrap_or_else(|| defaults::NAMESPACE.to_string());
        let subdomain =
            spec.manager.as_ref().map(|m| m.subdomain.clone()).unwrap_or_else(|| defaults::SUBDOMAIN.into());

        let steps: Vec<Step> = spec
            .jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let origin = Origin { file: file.to_string(), base: format!("spec.jobs[{i}]"), style: KeyStyle::Crd };
                step_from_crd(job, origin, &step_namespace, &subdomain, &mut problems)
            })
            .collect();

        let registry = match &spec.registry {
            Some(r) => RegistrySettings {
                host: r.host.as_ref().filter(|h| !h.is_empty()).map(|h| match r.port {
                    Some(p) if p != 0 => format!("{h}:{p}"),
                    _ => h.clone(),
                }),
                plain_http: r.plain_http.unwrap_or(true),
                filesystem: None,
            },
            None => RegistrySettings { host: None, plain_http: true, filesystem: None },
        };

        if let Some(r) =
            spec.registry.as_ref().filter(|r| r.replicas > 1 && r.host.as_deref().is_none_or(str::is_empty))
        {
            problems.warn(
                file,
                "spec.registry.replicas",
                format!(
                    "is {}, but replicas of the ephemeral registry would not share its artifacts (each keeps its own \
                     storage): smo runs 1",
                    r.replicas
                ),
            );
        }
        if spec.registry.as_ref().is_some_and(|r| r.plain_http.is_some()) {
            problems.warn(
                file,
                "spec.registry.plainHttp",
                "means what its name says in smo (true: plain HTTP); the original operator inverted it (true: HTTPS)",
            );
        }
        let completed = spec.workflow.completed.max(1) as u32;
        let workflow = Workflow {
            name,
            namespace,
            completed,
            // An empty prefix meant "the default" to the original (`prefix or "job_"`).
            prefix: spec
                .workflow
                .prefix
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| defaults::JOB_PREFIX.into()),
            max_size: spec.cluster.max_size.max(1) as u32,
            max_failures: spec
                .workflow
                .max_failures
                .map(|m| m.max(1) as u32)
                .unwrap_or_else(|| defaults::max_failures(completed)),
            rules: Vec::new(),
            steps,
            registry,
            workdir: None,
            suspended: spec.suspend,
            shutdown: spec.shutdown,
        };
        let rules = checks::rules(&spec.workflow.events, &workflow, file, "spec.workflow.events", &mut problems);
        let workflow = Workflow { rules, ..workflow };
        let paths = checks::Paths { prefix: "spec.workflow.prefix", steps: "spec.jobs", name: "metadata.name" };
        checks::workflow(&workflow, file, &paths, &mut problems);
        for step in &workflow.steps {
            if step.image.as_deref().is_none_or(str::is_empty) {
                problems.error(
                    file,
                    step.origin.path("image"),
                    "is required: every step of a StateMachine runs in a container",
                );
            }
        }
        if problems.has_errors() { Err(problems) } else { Ok((workflow, problems)) }
    }
}

fn step_from_crd(job: &JobStep, origin: Origin, namespace: &str, subdomain: &str, problems: &mut Problems) -> Step {
    let file = origin.file.clone();
    // The CRD defaults apply only to a `config` that is present; without one the operator
    // rendered its Go fallbacks (nodes 1, coresPerTask 6).
    let (nodes, cores) = match &job.config {
        Some(c) => (c.nodes, c.cores_per_task),
        None => (defaults::NODES, defaults::CRD_CORES_PER_TASK_WITHOUT_CONFIG),
    };
    let config = job.config.clone().unwrap_or_default();
    let walltime = config.walltime.as_deref().and_then(|w| {
        crate::walltime::parse(w).map_err(|e| problems.error(&file, origin.path("config.walltime"), e)).ok().flatten()
    });
    let command = config
        .command
        .as_deref()
        .and_then(|c| checks::split_command(c, &file, &origin.path("config.command"), problems));
    let entries: BTreeMap<String, Value> =
        job.properties.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let properties = checks::properties(&entries, &file, &origin.path("properties"), problems);
    let registry = job.registry.clone().unwrap_or_default();
    Step {
        name: job.name.clone(),
        nodes: nodes.max(1) as u32,
        cores_per_task: cores.max(0) as u32,
        gpus: config.gpus.unwrap_or(0).max(0) as u32,
        tasks: config.tasks.map(|t| t.max(1) as u32),
        walltime,
        gpu_label: config.gpulabel.clone().filter(|g| !g.is_empty()).unwrap_or_else(|| defaults::GPU_LABEL.into()),
        pull_policy: if config.pull_policy.is_empty() {
            defaults::PULL_POLICY.into()
        } else {
            config.pull_policy.clone()
        },
        retry_failure: config.retry_failure.unwrap_or(false),
        subdomain: Some(subdomain.to_string()).filter(|s| !s.is_empty()),
        command,
        image: job.image.clone(),
        namespace: namespace.to_string(),
        workdir: job.workdir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| defaults::WORKDIR.into()),
        properties,
        events_script: job.events.as_ref().and_then(|e| e.script.clone()).filter(|s| !s.trim().is_empty()),
        log_metrics: checks::log_metrics(
            job.events.as_ref().map(|e| e.metrics.as_slice()).unwrap_or_default(),
            &file,
            &origin.path("events.metrics"),
            problems,
        ),
        push: registry.push.filter(|t| !t.is_empty()),
        pull: registry.pull.filter(|t| !t.is_empty()),
        registry_host: registry.host.filter(|h| !h.is_empty()),
        // The original never rendered a step's plainHttp; the workflow's setting applies.
        registry_plain_http: None,
        app_config: job.app_config.clone(),
        environment: job.environment.clone(),
        script: job.script.clone(),
        pod_security: job.pod_security.unwrap_or_default(),
        origin,
    }
}
