//! Runs step jobs on Kubernetes: a ConfigMap and a `batch/v1` Job (or a JobSet / MiniCluster)
//! per step job, built by the core's builders, and one label-selected watch of the workflow's
//! Jobs that turns their status into [`JobObserved`].
//!
//! * Objects carry the workflow's labels (`managed-by`, workflow name, `app`, `jobid`, attempt),
//!   so two workflows in one namespace never see each other's Jobs, and a restarted `smo` finds
//!   every sequence again from the labels alone ([`Executor::existing`]).
//! * A repeat's Job is named after its attempt (`<step>-<jobid>-2`): the previous attempt's Job,
//!   still being deleted, can never be mistaken for it.
//! * Phases come from the Job's `Complete` / `Failed` conditions (the core's
//!   [`classify`](smo_core::classify)), so failed Jobs are seen as failed. The watch is kube's
//!   `watcher` with its default backoff: a dropped connection or a 410 Gone re-lists, and what a
//!   re-list repeats is dropped downstream by the JobWatcher.
//! * Creating an object that already exists is not an error (a restarted run re-submits); other
//!   API errors are retried with backoff a few times, then reported with the object and the
//!   reason (the sequence then fails and is replaced).
//!
//! * The logs of an ended Job's Pods are streamed through `pods/log` into the run directory, one
//!   file per Pod, when the step needs them (custom metrics, `save-path`), before its end is
//!   reported — so metrics are read from them as from a local job's log.
//!
//! * A Pod the infrastructure ended (evicted, preempted, its node lost; or a `DisruptionTarget`
//!   condition) does not fail the step: the failed Job is marked superseded (no watch or restore
//!   sees it again), the same Job is created under a new name (`…-i1`), and the old one is
//!   deleted — no failure is counted. A label-selected Pod watch remembers such Pods, since a
//!   kubelet may put a Pod's status back after the Job controller counted it.
//!
//! Not yet here (the Kubernetes executor issue goes on): JobSet / MiniCluster status and a client
//! request rate limit.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use futures::StreamExt as _;
use futures::future::LocalBoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams, PropagationPolicy,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt as _, watcher as watch};
use kube::{Client, Resource as _, ResourceExt as _};
use smo_core::classify::{self, ObservedJob};
use smo_core::fsm::JobPhase;
use smo_core::jobs::script::{self, ArtifactStore, ScriptContext};
use smo_core::jobs::{self, JobContext, SMO_BIN, Workload};
use smo_core::names::JobId;
use smo_core::workflow::{Step, Workflow};
use smo_core::{defaults, labels};

use super::{Executor, ExistingJob, StepJob};
use crate::messages::JobObserved;
use crate::{Error, Result};

/// How often an API call that failed for a reason other than the request itself is retried.
const RETRIES: u32 = 4;

/// Where and how step jobs run.
#[derive(Clone)]
pub struct KubernetesConfig {
    /// The cluster.
    pub client: Client,
    /// Namespace of every object.
    pub namespace: String,
    /// Artifact store the step scripts pull from and push to (a registry Pods reach).
    pub store: ArtifactStore,
    /// Image that delivers `smo` to step pods (an init container copies it in); without it the
    /// step image must have `smo` on its PATH.
    pub smo_image: Option<String>,
    /// Where the logs of ended jobs are written (`<step>-<jobid>-<attempt>-<pod>.out`), for
    /// custom metrics and `save-path`.
    pub log_dir: PathBuf,
}

/// Runs step jobs as Kubernetes objects.
pub struct KubernetesExecutor {
    config: Arc<KubernetesConfig>,
    workflow: Arc<Workflow>,
    /// The watches of the workflow's Jobs and Pods, stopped by [`Executor::shutdown`].
    watch: RefCell<Vec<tokio::task::JoinHandle<()>>>,
    /// Cleanups of failed sequences still under way: the run's end waits for them, so that a
    /// sequence failing just before the end leaves nothing behind either.
    cleanups: RefCell<Vec<tokio::task::JoinHandle<()>>>,
}

/// A client for the cluster of the current kubeconfig (or the in-cluster service account), and
/// the namespace it names (`default` if none). Call inside the actor system.
pub async fn connect() -> Result<(Client, String)> {
    // Both rustls providers are linked in (kube's ring, and reqwest's); name one, or the client
    // panics at its first request.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::Config::infer()
        .await
        .map_err(|e| Error::Executor(format!("no cluster to run on: {e} (set KUBECONFIG or run inside a cluster)")))?;
    let namespace = config.default_namespace.clone();
    let client =
        Client::try_from(config).map_err(|e| Error::Executor(format!("cannot set up the cluster client: {e}")))?;
    Ok((client, namespace))
}

impl KubernetesExecutor {
    /// An executor for `workflow`, reporting to `events`; starts watching the workflow's Jobs
    /// (call inside the actor system).
    pub fn new(config: KubernetesConfig, workflow: Arc<Workflow>, events: Recipient<JobObserved>) -> Self {
        let config = Arc::new(config);
        let jobs: Api<Job> = Api::namespaced(config.client.clone(), &config.namespace);
        let selector = labels::live_job_selector(&workflow.name);
        let stream = watch(jobs.clone(), watcher::Config::default().labels(&selector)).default_backoff();
        let wf = workflow.clone();
        let pods: Api<Pod> = Api::namespaced(config.client.clone(), &config.namespace);
        let log_dir = config.log_dir.clone();
        // Pods lost to the infrastructure, by Job name, as the Pod watch saw them (a kubelet may
        // put a Pod back to Running after the Job controller counted it failed).
        let lost: Rc<RefCell<HashMap<String, String>>> = Rc::default();
        let pod_watch = watch_pods(pods.clone(), labels::workflow_selector(&workflow.name), lost.clone());
        let handle = actix::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event::Apply(job) | Event::InitApply(job)) => {
                        let Some(seen) = observed(&job, &wf) else { continue };
                        if matches!(seen.phase, JobPhase::Failed { .. }) {
                            let (jobs, pods, lost) = (jobs.clone(), pods.clone(), lost.clone());
                            let (events, wf, log_dir) = (events.clone(), wf.clone(), log_dir.clone());
                            actix::spawn(async move {
                                match lost_to_infrastructure(&job, &pods, &lost).await {
                                    Some(reason) => resubmit(&jobs, &job, &reason).await,
                                    None => report(job, seen, &wf, &pods, &events, &log_dir).await,
                                }
                            });
                            continue;
                        }
                        if needs_logs(&seen, &wf) {
                            let (pods, events, wf, log_dir) =
                                (pods.clone(), events.clone(), wf.clone(), log_dir.clone());
                            actix::spawn(async move { report(job, seen, &wf, &pods, &events, &log_dir).await });
                        } else {
                            events.do_send(seen);
                        }
                    }
                    Ok(Event::Delete(_) | Event::Init | Event::InitDone) => {}
                    Err(e) => tracing::warn!(error = %e, "the watch of Jobs failed; it restarts with backoff"),
                }
            }
        });
        KubernetesExecutor {
            config,
            workflow,
            watch: RefCell::new(vec![handle, pod_watch]),
            cleanups: RefCell::default(),
        }
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.config.client.clone(), &self.config.namespace)
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.config.client.clone(), &self.config.namespace)
    }

    /// Selector of every object of one sequence.
    fn sequence_selector(&self, jobid: &JobId) -> String {
        format!("{},{}={}", labels::workflow_selector(&self.workflow.name), labels::JOB_ID, jobid)
    }
}

/// A Job of the workflow as a [`JobObserved`] (None: not a step of this workflow).
fn observed(job: &Job, workflow: &Workflow) -> Option<JobObserved> {
    let ObservedJob { jobid, step, attempt, phase, duration, .. } = classify::classify(job)?;
    let step = workflow.step_index(&step)?;
    Some(JobObserved { jobid, step, attempt, phase, duration, log: None })
}

/// Pod `reason`s that mean the infrastructure, not the step, ended the Pod.
const INFRASTRUCTURE_REASONS: [&str; 6] =
    ["Evicted", "Preempting", "NodeLost", "Shutdown", "NodeShutdown", "UnexpectedAdmissionError"];

/// Why the infrastructure ended `pod`, if it did: an infrastructure reason, or a
/// `DisruptionTarget` condition (newer clusters).
fn infrastructure_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Failed")
        && let Some(reason) = status.reason.as_deref().filter(|r| INFRASTRUCTURE_REASONS.contains(r))
    {
        let message = status.message.as_deref().unwrap_or_default();
        return Some(format!("{reason}: {message}").trim_end_matches([':', ' ']).to_string());
    }
    let disruption =
        status.conditions.as_deref()?.iter().find(|c| c.type_ == "DisruptionTarget" && c.status == "True")?;
    Some(format!("DisruptionTarget: {}", disruption.reason.as_deref().unwrap_or("disrupted")))
}

/// Watches the workflow's Pods and remembers, by Job name, the Pods the infrastructure ended.
fn watch_pods(
    pods: Api<Pod>,
    selector: String,
    lost: Rc<RefCell<HashMap<String, String>>>,
) -> tokio::task::JoinHandle<()> {
    let stream = watch(pods, watcher::Config::default().labels(&selector)).default_backoff();
    actix::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(pod) | Event::InitApply(pod)) => {
                    let job = pod.labels().get("job-name").cloned();
                    if let (Some(job), Some(reason)) = (job, infrastructure_reason(&pod)) {
                        lost.borrow_mut().insert(job, reason);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the watch of Pods failed; it restarts with backoff"),
            }
        }
    })
}

/// Whether a failed Job failed because the infrastructure ended its Pod: as the Pod watch saw it
/// (given a moment to catch up with the Job watch), or as its Pods say now.
async fn lost_to_infrastructure(
    job: &Job,
    pods: &Api<Pod>,
    lost: &Rc<RefCell<HashMap<String, String>>>,
) -> Option<String> {
    let name = job.meta().name.clone()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(reason) = lost.borrow_mut().remove(&name) {
        return Some(reason);
    }
    let list = pods.list(&ListParams::default().labels(&format!("job-name={name}"))).await.ok()?;
    list.items.iter().find_map(infrastructure_reason)
}

/// Replaces a Job the infrastructure failed: marks it superseded (the watches and restores no
/// longer see it), creates the same Job under a new name, and deletes the old one. The
/// sequence never hears of the failure and no failure is counted.
async fn resubmit(jobs: &Api<Job>, old: &Job, reason: &str) {
    let Some(name) = old.meta().name.clone() else { return };
    let labels = old.labels().clone();
    let retries = labels.get(labels::INFRA_RETRIES).and_then(|r| r.parse::<u32>().ok()).unwrap_or(0) + 1;
    let base = name.rsplit_once("-i").filter(|(_, n)| n.parse::<u32>().is_ok()).map_or(name.as_str(), |(b, _)| b);
    let new_name = format!("{base}-i{retries}");
    tracing::warn!(job = %name, reason, replacement = %new_name, "the infrastructure ended the step's Pod; the step runs again, no failure counted");
    let mark = serde_json::json!({"metadata": {"labels": {labels::SUPERSEDED: "true"}}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&mark));
    if let Err(e) = with_retries(|| jobs.patch(&name, &params, &patch)).await {
        tracing::warn!(job = %name, error = %e, "cannot mark the Job superseded");
    }
    let mut job = Job { metadata: old.metadata.clone(), spec: old.spec.clone(), status: None };
    job.metadata = ObjectMeta {
        name: Some(new_name.clone()),
        namespace: old.metadata.namespace.clone(),
        labels: Some({
            let mut l = labels;
            l.insert(labels::INFRA_RETRIES.to_string(), retries.to_string());
            l
        }),
        owner_references: old.metadata.owner_references.clone(),
        ..ObjectMeta::default()
    };
    // What the Job controller added to the old Job is its own to add to the new one.
    if let Some(spec) = job.spec.as_mut() {
        spec.selector = None;
        if let Some(template_labels) = spec.template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            template_labels.remove("controller-uid");
            template_labels.remove("job-name");
        }
    }
    if let Err(e) = create(jobs, &job, &format!("Job {new_name}")).await {
        tracing::warn!(error = %e, "cannot resubmit the step after an infrastructure failure");
    }
    if let Err(e) = delete(jobs, &name, &format!("Job {name}")).await {
        tracing::warn!(error = %e, "cannot delete the superseded Job");
    }
}

/// Whether the end of this job is reported only once its logs are in (see [`report`]).
fn needs_logs(seen: &JobObserved, workflow: &Workflow) -> bool {
    seen.phase.is_terminal() && workflow.steps.get(seen.step).is_some_and(wants_logs)
}

/// Reports a job's phase; an ended job's logs are read first when the step needs them (custom
/// metrics come from them).
async fn report(
    job: Job,
    seen: JobObserved,
    workflow: &Workflow,
    pods: &Api<Pod>,
    events: &Recipient<JobObserved>,
    log_dir: &Path,
) {
    let log = match workflow.steps.get(seen.step).filter(|_| needs_logs(&seen, workflow)) {
        Some(step) => save_logs(pods, job.meta().name.as_deref().unwrap_or_default(), step, &seen, log_dir).await,
        None => None,
    };
    events.do_send(JobObserved { log, ..seen });
}

/// Whether a step's job logs are needed: for custom metrics or to keep them (`save-path`).
fn wants_logs(step: &Step) -> bool {
    step.events_script.is_some() || !step.log_metrics.is_empty() || step.properties.save_path.is_some()
}

/// Writes the logs of the Pods of Job `job` (label `job-name`, as the Job controller sets it)
/// to `<log_dir>/<step>-<jobid>-<attempt>-<n>.out`, and for `save-path` to
/// `<save-path>/logs/<step>-<jobid>-<n>.out` as the original did; returns the first Pod's log
/// (what custom metrics are read from). Logs are streamed to the files, never held whole.
async fn save_logs(pods: &Api<Pod>, job: &str, step: &Step, seen: &JobObserved, log_dir: &Path) -> Option<PathBuf> {
    let list = match pods.list(&ListParams::default().labels(&format!("job-name={job}"))).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(job, error = %e, "cannot list the Job's Pods to read their logs");
            return None;
        }
    };
    let mut names: Vec<String> = list.items.iter().filter_map(|p| p.meta().name.clone()).collect();
    names.sort();
    let mut first = None;
    for (n, pod) in names.iter().enumerate() {
        let file = log_dir.join(format!("{}-{}-{}-{n}.out", step.name, seen.jobid, seen.attempt));
        match copy_log(pods, pod, &file).await {
            Ok(()) => {
                if let Some(dir) = &step.properties.save_path {
                    let kept = dir.join("logs").join(format!("{}-{}-{n}.out", step.name, seen.jobid));
                    let copied = match kept.parent() {
                        Some(parent) => {
                            tokio::fs::create_dir_all(parent).await.and(tokio::fs::copy(&file, &kept).await.map(|_| ()))
                        }
                        None => Ok(()),
                    };
                    if let Err(e) = copied {
                        tracing::warn!(log = %kept.display(), error = %e, "cannot keep the job's log at save-path");
                    }
                }
                first.get_or_insert(file);
            }
            Err(e) => tracing::warn!(pod, error = %e, "cannot read the Pod's log"),
        }
    }
    first
}

/// Streams the log of `pod` into `file`.
async fn copy_log(pods: &Api<Pod>, pod: &str, file: &Path) -> std::result::Result<(), String> {
    use futures::AsyncBufReadExt as _;
    use tokio::io::AsyncWriteExt as _;
    if let Some(parent) = file.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| e.to_string())?;
    }
    let stream = pods.log_stream(pod, &LogParams::default()).await.map_err(|e| e.to_string())?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(file).await.map_err(|e| e.to_string())?);
    let mut lines = stream.lines();
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| e.to_string())?;
        out.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
        out.write_all(b"\n").await.map_err(|e| e.to_string())?;
    }
    out.flush().await.map_err(|e| e.to_string())
}

/// Seconds since the epoch of a Kubernetes time.
fn seconds(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> f64 {
    t.0.as_millisecond() as f64 / 1000.0
}

/// Whether an API error is about the request itself (retrying cannot help).
fn is_final(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 429)
}

/// Runs `call` until it succeeds, fails for good, or [`RETRIES`] retries with exponential
/// backoff (0.2 s, 0.4 s, …) have failed.
async fn with_retries<T, F, Fut>(mut call: F) -> std::result::Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        match call().await {
            Err(e) if !is_final(&e) && tries < RETRIES => {
                tracing::debug!(error = %e, "API call failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Creates `object` unless it exists already.
async fn create<K>(api: &Api<K>, object: &K, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = PostParams::default();
    match with_retries(|| api.create(&params, object)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        Err(e) => Err(Error::Executor(format!("cannot create {what}: {e}"))),
    }
}

/// Deletes `name` unless it is gone already; its Pods go too (in the background).
async fn delete<K>(api: &Api<K>, name: &str, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
    match with_retries(|| api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(Error::Executor(format!("cannot delete {what}: {e}"))),
    }
}

/// Deletes every object `selector` matches (Pods of Jobs in the background).
async fn delete_all<K>(api: &Api<K>, selector: &str, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
    let list = ListParams::default().labels(selector);
    with_retries(|| api.delete_collection(&params, &list))
        .await
        .map(|_| ())
        .map_err(|e| Error::Executor(format!("cannot delete the {what} of `{selector}`: {e}")))
}

impl Executor for KubernetesExecutor {
    fn submit(&self, job: StepJob) -> LocalBoxFuture<'static, Result<()>> {
        let Some(step) = job.workflow.steps.get(job.step) else {
            let message = format!("step {} does not exist", job.step);
            return Box::pin(async move { Err(Error::Executor(message)) });
        };
        let ctx = JobContext {
            workflow: &job.workflow,
            step,
            jobid: &job.jobid,
            attempt: job.attempt,
            nodes: job.nodes,
            owner: None,
            smo_image: self.config.smo_image.as_deref(),
        };
        let store = self.config.store.for_step(step);
        let smo = if self.config.smo_image.is_some() { SMO_BIN } else { "smo" };
        let config_file = format!("{}/app-config", defaults::CONFIG_MOUNT);
        let built = script::render(&ScriptContext {
            step,
            jobid: &job.jobid,
            nodes: job.nodes,
            store: &store,
            smo,
            outpath: &step.workdir,
            config_file: &config_file,
        })
        .and_then(|text| Ok((jobs::config_map(&ctx, &text), jobs::workload(&ctx)?)));
        let (mut config_map, workload) = match built {
            Ok(b) => b,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        let name = ctx.name();
        let namespace = self.config.namespace.clone();
        config_map.metadata.namespace = Some(namespace.clone());
        let client = self.config.client.clone();
        let config_maps = self.config_maps();
        Box::pin(async move {
            create(&config_maps, &config_map, &format!("ConfigMap {namespace}/{name}")).await?;
            let what = |kind: &str| format!("{kind} {namespace}/{name}");
            match workload {
                Workload::Job(mut object) => {
                    object.metadata.namespace = Some(namespace.clone());
                    create(&Api::<Job>::namespaced(client, &namespace), &object, &what("Job")).await
                }
                Workload::JobSet(value) | Workload::MiniCluster(value) => {
                    let mut object: DynamicObject = serde_json::from_value(value)
                        .map_err(|e| smo_core::Error::Serialize { what: what("object"), source: e })?;
                    object.metadata.namespace = Some(namespace.clone());
                    let types = object.types.clone().unwrap_or_default();
                    let (group, version) = types.api_version.split_once('/').unwrap_or(("", &types.api_version));
                    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &types.kind));
                    let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &resource);
                    create(&api, &object, &what(&types.kind)).await
                }
            }
        })
    }

    fn remove(&self, jobid: &JobId, step: usize, attempt: u32) -> LocalBoxFuture<'static, Result<()>> {
        let Some(step) = self.workflow.steps.get(step) else { return Box::pin(async { Ok(()) }) };
        // By labels: the attempt's Job may have been replaced after an infrastructure failure.
        let selector = format!(
            "{},{}={},{}={},{}={attempt}",
            labels::workflow_selector(&self.workflow.name),
            labels::JOB_ID,
            jobid,
            labels::STEP,
            step.name,
            labels::ATTEMPT
        );
        let (jobs, config_maps) = (self.jobs(), self.config_maps());
        Box::pin(async move {
            delete_all(&jobs, &selector, "Jobs").await?;
            delete_all(&config_maps, &selector, "ConfigMaps").await
        })
    }

    fn cleanup(&self, jobid: &JobId) -> LocalBoxFuture<'static, Result<()>> {
        let selector = self.sequence_selector(jobid);
        let (jobs, config_maps) = (self.jobs(), self.config_maps());
        let handle = actix::spawn(async move {
            let deleted = async {
                delete_all(&jobs, &selector, "Jobs").await?;
                delete_all(&config_maps, &selector, "ConfigMaps").await
            };
            if let Err(e) = deleted.await {
                tracing::warn!(error = %e, "cleanup of a failed sequence failed");
            }
        });
        let mut cleanups = self.cleanups.borrow_mut();
        cleanups.retain(|h| !h.is_finished());
        cleanups.push(handle);
        Box::pin(async { Ok(()) })
    }

    fn existing(&self) -> LocalBoxFuture<'static, Result<Vec<ExistingJob>>> {
        let (jobs, workflow) = (self.jobs(), self.workflow.clone());
        let selector = labels::live_job_selector(&workflow.name);
        Box::pin(async move {
            let params = ListParams::default().labels(&selector);
            let list = with_retries(|| jobs.list(&params))
                .await
                .map_err(|e| Error::Executor(format!("cannot list the Jobs of `{selector}`: {e}")))?;
            let mut found: Vec<ExistingJob> = list
                .items
                .iter()
                .filter_map(|job| {
                    let seen = observed(job, &workflow)?;
                    let status = job.status.as_ref();
                    let started_at = status.and_then(|s| s.start_time.as_ref()).map(seconds);
                    let ended_at = match seen.phase {
                        JobPhase::Succeeded | JobPhase::Failed { .. } => status.and_then(|s| {
                            s.completion_time.as_ref().map(seconds).or_else(|| {
                                s.conditions
                                    .as_deref()?
                                    .iter()
                                    .find_map(|c| c.last_transition_time.as_ref())
                                    .map(seconds)
                            })
                        }),
                        JobPhase::Pending | JobPhase::Running => None,
                    };
                    Some(ExistingJob {
                        jobid: seen.jobid,
                        step: seen.step,
                        attempt: seen.attempt,
                        phase: seen.phase,
                        started_at,
                        ended_at,
                    })
                })
                .collect();
            found.sort_by(|a, b| (&a.jobid, a.step, a.attempt).cmp(&(&b.jobid, b.step, b.attempt)));
            Ok(found)
        })
    }

    fn shutdown(&self) -> LocalBoxFuture<'static, ()> {
        for watch in self.watch.borrow_mut().drain(..) {
            watch.abort();
        }
        // Jobs still running when the run ends are no part of it.
        let (jobs, config_maps, workflow) = (self.jobs(), self.config_maps(), self.workflow.clone());
        let selector = labels::workflow_selector(&workflow.name);
        let cleanups = std::mem::take(&mut *self.cleanups.borrow_mut());
        Box::pin(async move {
            for cleanup in cleanups {
                let _ = cleanup.await;
            }
            let list = match jobs.list(&ListParams::default().labels(&selector)).await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the workflow's Jobs to stop those still running");
                    return;
                }
            };
            for job in &list.items {
                let unfinished =
                    observed(job, &workflow).is_some_and(|o| matches!(o.phase, JobPhase::Pending | JobPhase::Running));
                let Some(name) = job.meta().name.clone().filter(|_| unfinished) else { continue };
                for result in [
                    delete(&jobs, &name, &format!("Job {name}")).await,
                    delete(&config_maps, &name, &format!("ConfigMap {name}")).await,
                ] {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "cannot stop a Job still running at the end of the run");
                    }
                }
            }
        })
    }
}
