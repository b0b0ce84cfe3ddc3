//! Runs step jobs on Kubernetes: a `batch/v1` Job (or a JobSet / MiniCluster) per step job,
//! built by the core's builders, carrying the step's files in its pods' annotations (a ConfigMap
//! only where a pod cannot: see [`jobs::files_in_pod`]). The executor only submits, lists and
//! deletes; the run's [`JobWatcher`](crate::job_watcher::JobWatcher) watches the workflow's Jobs
//! and Pods and turns what it sees into [`JobObserved`], with the helpers below (`infra`, `logs`,
//! `pending`).
//!
//! * Objects carry the workflow's labels (`managed-by`, workflow name, `app`, `jobid`, attempt),
//!   so two workflows in one namespace never see each other's Jobs, and a restarted `smo` finds
//!   every sequence again from the labels alone ([`Executor::existing`]).
//! * A repeat's Job is named after its attempt (`<step>-<jobid>-2`): the previous attempt's Job,
//!   still being deleted, can never be mistaken for it.
//! * Phases come from the Job's `Complete` / `Failed` conditions (the core's
//!   [`smo_core::classify`]), so failed Jobs are seen as failed.
//! * JobSets and MiniClusters (`workloads`) are created as dynamic objects; their controllers'
//!   Jobs carry the same labels and are watched like any Job.
//! * API calls (`api`) are retried with backoff (an apiserver restart is waited out), else
//!   reported with the object and the reason (the sequence then fails and is replaced). The
//!   client (`client`) paces requests (`--kube-api-qps` / `--kube-api-burst`) and counts them.
//! * Logs of ended Jobs' Pods come through `pods/log` when a step needs them (`logs`).
//! * A Pod the infrastructure ended does not fail the step; the Job is replaced (`infra`), at
//!   most `--infra-retries` times.
//! * A step Pod that cannot start (unschedulable, its image not pulled) is reported with the
//!   scheduler's or the kubelet's reason, and fails its step after `--pending-timeout`
//!   (`pending`).
//! * A failed step's reason says what its Pod said, read before the Pod is deleted: the
//!   container that failed, its exit code and the last lines of its log (`infra::diagnose`).

pub(crate) mod api;
mod client;
pub(crate) mod infra;
pub(crate) mod logs;
pub(crate) mod pending;
pub mod preflight;
mod workloads;

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures::future::LocalBoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, ListParams};
use kube::{Client, ResourceExt as _};
use smo_core::classify::{self, ObservedJob, StepJobKey};
use smo_core::fsm::JobPhase;
use smo_core::jobs::script::ArtifactStore;
use smo_core::jobs::{self, JobContext, SMO_BIN, Workload};
use smo_core::labels;
use smo_core::names::JobId;
use smo_core::workflow::Workflow;

use self::api::{create, delete_all, with_retries};
pub use self::client::{ApiRequestCounts, ApiRequests, DEFAULT_BURST, DEFAULT_QPS, FairShare, RequestLimits, connect};
pub use self::logs::LogPlaces;
use self::workloads::CustomWorkload;
pub use self::workloads::check_installed;
use super::{Executor, ExistingJob, StepJob};
use crate::messages::JobObserved;
use crate::{Error, Result};

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
    /// The Secret with the credentials of the workflow's own registry, when [`Self::store`] is
    /// that registry (see [`smo_core::registry`]).
    pub registry_credentials: Option<String>,
    /// Where the logs of ended jobs go, for `save-path`.
    pub logs: LogPlaces,
    /// Owner of every object created (the operator's `StateMachine`: deleting it deletes them).
    pub owner: Option<OwnerReference>,
    /// How many times a step's Job is replaced after the infrastructure ended its Pod, before
    /// the step fails ([`classify::DEFAULT_INFRA_RETRIES`]).
    pub infra_retries: u32,
    /// How long a step's Pod may be unable to start (unschedulable, its image not pulled)
    /// before the step fails with that reason; None: it waits, reported once per reason.
    pub pending_timeout: Option<std::time::Duration>,
    /// Bumped whenever the watch of Jobs lists again or fails (the operator's metrics).
    pub watch_restarts: Option<Arc<AtomicU64>>,
}

/// Runs step jobs as Kubernetes objects.
pub struct KubernetesExecutor {
    config: Arc<KubernetesConfig>,
    workflow: Arc<Workflow>,
    /// The JobSet / MiniCluster kinds the workflow's steps use.
    custom: Vec<CustomWorkload>,
    /// Cleanups of failed sequences still under way: the run's end waits for them, so that a
    /// sequence failing just before the end leaves nothing behind either.
    cleanups: RefCell<Vec<tokio::task::JoinHandle<()>>>,
}

impl KubernetesExecutor {
    /// An executor for `workflow`: it submits and deletes; the run's JobWatcher watches
    /// ([`JobWatcher::watching`](crate::job_watcher::JobWatcher::watching)).
    pub fn new(config: Arc<KubernetesConfig>, workflow: Arc<Workflow>) -> Self {
        KubernetesExecutor {
            config,
            custom: CustomWorkload::used_by(&workflow),
            workflow,
            cleanups: RefCell::default(),
        }
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.config.client.clone(), &self.config.namespace)
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.config.client.clone(), &self.config.namespace)
    }

    fn deleter(&self) -> Deleter {
        let client = &self.config.client;
        Deleter {
            jobs: self.jobs(),
            config_maps: self.config_maps(),
            custom: self
                .custom
                .iter()
                .map(|c| (c.api(client.clone(), &self.config.namespace), c.resource.plural.clone()))
                .collect(),
        }
    }

    /// The step jobs whose JobSet / MiniCluster exists, as their labels name them.
    fn custom_objects(&self) -> LocalBoxFuture<'static, Result<Vec<StepJobKey>>> {
        let selector = labels::workflow_selector(&self.workflow.name);
        let apis: Vec<Api<DynamicObject>> =
            self.custom.iter().map(|c| c.api(self.config.client.clone(), &self.config.namespace)).collect();
        Box::pin(async move {
            let params = ListParams::default().labels(&selector);
            let mut keys = Vec::new();
            for api in &apis {
                let list = with_retries(|| api.list(&params))
                    .await
                    .map_err(|e| Error::kube(format!("list the objects of `{selector}`"), e))?;
                keys.extend(list.items.iter().filter_map(|o| classify::step_job_key(o.labels())));
            }
            Ok(keys)
        })
    }
}

/// A Job of the workflow as a [`JobObserved`] (None: not a step of this workflow).
fn observed(job: &Job, workflow: &Workflow) -> Option<JobObserved> {
    as_observed(classify::classify(job)?, workflow)
}

/// What the core saw of a Job, as a [`JobObserved`] (None: not a step of this workflow).
pub(crate) fn as_observed(job: ObservedJob, workflow: &Workflow) -> Option<JobObserved> {
    let ObservedJob { jobid, step, attempt, phase, duration, .. } = job;
    let step = workflow.step_index(&step)?;
    Some(JobObserved { jobid, step, attempt, phase, duration, log: None, metrics: None, waiting: None })
}

/// Seconds since the epoch of a Kubernetes time.
fn seconds(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> f64 {
    t.0.as_millisecond() as f64 / 1000.0
}

impl Executor for KubernetesExecutor {
    fn submit(&self, job: StepJob) -> LocalBoxFuture<'static, Result<()>> {
        let Some(step) = job.workflow.steps.get(job.step) else {
            let step = job.step;
            return Box::pin(async move { Err(Error::NoSuchStep(step)) });
        };
        let ctx = JobContext {
            workflow: &job.workflow,
            step,
            jobid: &job.jobid,
            attempt: job.attempt,
            nodes: job.nodes,
            owner: self.config.owner.clone(),
            smo_image: self.config.smo_image.as_deref(),
            files: None,
            // Only a step using the run's store uses the workflow's registry.
            registry_credentials: self.config.registry_credentials.as_deref().filter(|_| step.registry_host.is_none()),
        };
        let store = self.config.store.for_step(step);
        let smo = if self.config.smo_image.is_some() { SMO_BIN } else { "smo" };
        let built = jobs::step_job(&ctx, &store, smo);
        let (config_map, workload) = match built {
            Ok(b) => b,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        let name = ctx.name();
        let namespace = self.config.namespace.clone();
        let client = self.config.client.clone();
        let config_maps = self.config_maps();
        let custom = CustomWorkload::of(step.properties.workload);
        Box::pin(async move {
            if let Some(mut config_map) = config_map {
                config_map.metadata.namespace = Some(namespace.clone());
                create(&config_maps, &config_map, &format!("ConfigMap {namespace}/{name}")).await?;
            }
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
                    let Some(custom) = custom else {
                        return Err(Error::Defect(format!(
                            "{} was built as a custom workload its step is not",
                            what("object")
                        )));
                    };
                    let kind = custom.resource.kind.clone();
                    create(&custom.api(client, &namespace), &object, &what(&kind)).await
                }
            }
        })
    }

    fn remove(&self, jobid: &JobId, step: usize, attempt: u32) -> LocalBoxFuture<'static, Result<()>> {
        let Some(step) = self.workflow.steps.get(step) else { return Box::pin(async { Ok(()) }) };
        // By labels: the attempt's Job may have been replaced after an infrastructure failure.
        let selector = labels::step_job_selector(&self.workflow.name, jobid.as_str(), &step.name, attempt);
        let deleter = self.deleter();
        Box::pin(async move { deleter.delete_matching(&selector).await })
    }

    fn cleanup(&self, jobid: &JobId) -> LocalBoxFuture<'static, Result<()>> {
        let selector = labels::sequence_selector(&self.workflow.name, jobid.as_str());
        let deleter = self.deleter();
        let handle = actix::spawn(async move {
            if let Err(e) = deleter.delete_matching(&selector).await {
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
        let custom = self.custom_objects();
        Box::pin(async move {
            let params = ListParams::default().labels(&selector);
            let list = with_retries(|| jobs.list(&params))
                .await
                .map_err(|e| Error::kube(format!("list the Jobs of `{selector}`"), e))?;
            let mut found: Vec<ExistingJob> =
                list.items.iter().filter_map(|job| existing_job(job, &workflow)).collect();
            // A JobSet / MiniCluster whose controller has not made its Job yet is a pending step job.
            let with_job: HashSet<(JobId, usize, u32)> =
                found.iter().map(|j| (j.jobid.clone(), j.step, j.attempt)).collect();
            for key in custom.await? {
                let Some(step) = workflow.step_index(&key.step) else { continue };
                if !with_job.contains(&(key.jobid.clone(), step, key.attempt)) {
                    found.push(ExistingJob {
                        jobid: key.jobid,
                        step,
                        attempt: key.attempt,
                        phase: JobPhase::Pending,
                        started_at: None,
                        ended_at: None,
                    });
                }
            }
            found.sort_by(|a, b| (&a.jobid, a.step, a.attempt).cmp(&(&b.jobid, b.step, b.attempt)));
            found.dedup_by(|a, b| (&a.jobid, a.step, a.attempt) == (&b.jobid, b.step, b.attempt));
            Ok(found)
        })
    }

    fn shutdown(&self) -> LocalBoxFuture<'static, ()> {
        let existing = self.existing();
        let cleanups = std::mem::take(&mut *self.cleanups.borrow_mut());
        let (deleter, workflow) = (self.deleter(), self.workflow.clone());
        Box::pin(async move {
            for cleanup in cleanups {
                let _ = cleanup.await;
            }
            // Step jobs still running when the run ends are no part of it.
            let jobs = match existing.await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the workflow's step jobs to stop those still running");
                    return;
                }
            };
            for job in jobs.iter().filter(|j| matches!(j.phase, JobPhase::Pending | JobPhase::Running)) {
                let Some(step) = workflow.steps.get(job.step) else { continue };
                let selector = labels::step_job_selector(&workflow.name, job.jobid.as_str(), &step.name, job.attempt);
                if let Err(e) = deleter.delete_matching(&selector).await {
                    tracing::warn!(error = %e, "cannot stop a step job still running at the end of the run");
                }
            }
        })
    }
}

/// A Job of the workflow as the executor contract's [`ExistingJob`].
fn existing_job(job: &Job, workflow: &Workflow) -> Option<ExistingJob> {
    let seen = observed(job, workflow)?;
    let status = job.status.as_ref();
    let started_at = status.and_then(|s| s.start_time.as_ref()).map(seconds);
    let ended_at = match seen.phase {
        JobPhase::Succeeded | JobPhase::Failed { .. } => status.and_then(|s| {
            s.completion_time
                .as_ref()
                .map(seconds)
                .or_else(|| s.conditions.as_deref()?.iter().find_map(|c| c.last_transition_time.as_ref()).map(seconds))
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
}

/// Deletes every object of a step job or a sequence, whatever its kind.
struct Deleter {
    jobs: Api<Job>,
    config_maps: Api<ConfigMap>,
    /// The API of each custom workload kind the workflow uses, and its plural.
    custom: Vec<(Api<DynamicObject>, String)>,
}

impl Deleter {
    /// Deletes every object (JobSets, MiniClusters, Jobs, ConfigMaps) `selector` matches.
    async fn delete_matching(&self, selector: &str) -> Result<()> {
        for (api, plural) in &self.custom {
            delete_all(api, selector, plural).await?;
        }
        delete_all(&self.jobs, selector, "Jobs").await?;
        delete_all(&self.config_maps, selector, "ConfigMaps").await
    }
}
