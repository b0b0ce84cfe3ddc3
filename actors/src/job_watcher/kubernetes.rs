//! The JobWatcher's watches of a workflow in a cluster, as streams of its actor:
//!
//! * the workflow's live Jobs (label-selected; kube's `watcher` with its default backoff: a
//!   dropped connection resumes from the last resourceVersion, a 410 Gone re-lists, counted in
//!   the operator's `watch_restarts`). Each event goes through the core's [`JobIndex`]: a phase
//!   is passed on, an end once, a Job gone while it ran fails its step, "deleted outside smo";
//!   a name missing from a re-list is looked up, and reported only if it is gone.
//! * the workflow's failed Pods (a field selector: the apiserver sends nothing for the changes
//!   every healthy Pod goes through): those the infrastructure ended are remembered by Job
//!   name, since a kubelet may put a Pod's status back after the Job controller counted it.
//! * every few seconds, the Pods that cannot start (`executor::kubernetes::pending`).
//!
//! A failed Job is diagnosed before its end is told (`infra::diagnose`): the infrastructure's
//! loss is resubmitted (at most `--infra-retries` times, [`classify::infrastructure_retry`]),
//! a step's failure is told with what its Pod said. An ended Job whose step has custom metrics
//! or `save-path` is told once its Pods are read (`logs`). That work runs as the actor's
//! futures, and what it finds comes back to the actor, so every observation leaves through one
//! filter (`JobWatcher::forward`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix::prelude::*;
use futures::{FutureExt, StreamExt as _};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt as _, watcher as watch};
use kube::{Resource as _, ResourceExt as _};
use smo_core::classify;
use smo_core::fsm::JobPhase;
use smo_core::job_index::{JobIndex, Seen};
use smo_core::labels;
use smo_core::names::JobId;
use smo_core::workflow::Workflow;

use super::JobWatcher;
use crate::executor::kubernetes::api::{delete, with_retries};
use crate::executor::kubernetes::infra::{self, Diagnosis};
use crate::executor::kubernetes::pending::{self, PendingAction, PendingPods};
use crate::executor::kubernetes::{KubernetesConfig, LogPlaces, as_observed, logs};
use crate::messages::JobObserved;

/// What the JobWatcher keeps of a workflow's watches.
pub struct ClusterWatch {
    jobs: Api<Job>,
    pods: Api<Pod>,
    workflow: Arc<Workflow>,
    logs: LogPlaces,
    infra_retries: u32,
    /// The Jobs the watch has named.
    index: JobIndex,
    /// Jobs whose Pod the infrastructure ended, by Job name, as the Pod watch saw them.
    lost: HashMap<String, String>,
    pending: PendingPods,
    /// A list of the `Pending` Pods is under way (the next waits for it).
    pending_listing: bool,
    /// Lists of the Jobs so far (every one after the first is a restart of the watch).
    lists: u32,
    restarts: Option<Arc<AtomicU64>>,
}

/// One event of the watch of the workflow's Jobs.
pub struct JobEvent(Result<Event<Job>, watcher::Error>);

/// One event of the watch of the workflow's failed Pods.
pub struct PodEvent(Result<Event<Pod>, watcher::Error>);

impl ClusterWatch {
    /// Nothing watched yet, for `workflow` in `config`'s namespace.
    pub(super) fn new(config: &KubernetesConfig, workflow: Arc<Workflow>) -> ClusterWatch {
        ClusterWatch {
            jobs: Api::namespaced(config.client.clone(), &config.namespace),
            pods: Api::namespaced(config.client.clone(), &config.namespace),
            workflow,
            logs: config.logs.clone(),
            infra_retries: config.infra_retries,
            index: JobIndex::new(),
            lost: HashMap::new(),
            pending: PendingPods::new(config.pending_timeout),
            pending_listing: false,
            lists: 0,
            restarts: config.watch_restarts.clone(),
        }
    }

    /// The sequence ended: its Jobs are no longer followed.
    pub(super) fn forget(&mut self, jobid: &JobId) {
        self.index.forget(jobid);
    }

    fn restarted(&self) {
        if let Some(r) = &self.restarts {
            r.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl JobWatcher {
    /// Starts the watches (called once the actor runs).
    pub(super) fn start_watches(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = &self.cluster else { return };
        let name = &cluster.workflow.name;
        let config = watcher::Config::default().labels(&labels::live_job_selector(name));
        ctx.add_stream(watch(cluster.jobs.clone(), config).default_backoff().map(JobEvent));
        let failed = watcher::Config::default().labels(&labels::workflow_selector(name)).fields("status.phase=Failed");
        ctx.add_stream(watch(cluster.pods.clone(), failed).default_backoff().map(PodEvent));
        ctx.run_interval(pending::EVERY, |watcher, ctx| watcher.look_at_pending_pods(ctx));
    }

    /// Tells `seen` of `job`, once its Pods are read when its step needs that.
    fn tell(&mut self, job: Job, seen: JobObserved, ctx: &mut Context<Self>) {
        let Some(cluster) = &self.cluster else { return };
        if !logs::needs_logs(&seen, &cluster.workflow) {
            return self.forward(seen);
        }
        let (workflow, pods, places) = (cluster.workflow.clone(), cluster.pods.clone(), cluster.logs.clone());
        let read = async move { logs::with_logs(job, seen, &workflow, &pods, &places).await };
        ctx.spawn(read.into_actor(self).map(|seen, watcher, _| watcher.forward(seen)));
    }

    /// A Job failed: the infrastructure's loss is resubmitted (within the cap), a step's
    /// failure told with what its Pod said.
    fn diagnose(&mut self, job: Job, seen: JobObserved, ctx: &mut Context<Self>) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let JobPhase::Failed { reason } = &seen.phase else { return };
        let reason = reason.clone();
        let name = job.name_any();
        // The Pod watch saw the loss already (a kubelet may have put the Pod's status back
        // since); otherwise the Pods say it now.
        let diagnosis = match cluster.lost.remove(&name) {
            Some(why) => FutureExt::boxed_local(futures::future::ready(Diagnosis::Infrastructure(why))),
            None => {
                let (job, pods, reason) = (job.clone(), cluster.pods.clone(), reason.clone());
                FutureExt::boxed_local(async move { infra::diagnose(&job, &reason, &pods).await })
            }
        };
        ctx.spawn(diagnosis.into_actor(self).map(move |diagnosis, watcher, ctx| {
            let Some(cluster) = &watcher.cluster else { return };
            let phase = match diagnosis {
                Diagnosis::Infrastructure(why) => {
                    match classify::infrastructure_retry(&job, &why, cluster.infra_retries) {
                        Ok(n) => {
                            let jobs = cluster.jobs.clone();
                            actix::spawn(async move { infra::resubmit(&jobs, &job, &why, n).await });
                            return;
                        }
                        Err(reason) => JobPhase::Failed { reason },
                    }
                }
                Diagnosis::Step { detail } => JobPhase::Failed { reason: detail.unwrap_or(reason) },
            };
            watcher.tell(job, JobObserved { phase, ..seen }, ctx);
        }));
    }

    /// Reports a step whose Job vanished while it ran.
    fn vanished(&mut self, name: &str, seen: Seen) {
        let Some(cluster) = &self.cluster else { return };
        let Seen::Vanished(gone) = seen else { return };
        let Some(seen) = as_observed(gone, &cluster.workflow) else { return };
        tracing::warn!(job = %name, jobid = %seen.jobid, step = seen.step, "the step's Job was deleted outside smo while it ran; the step counts as failed");
        self.forward(seen);
    }

    /// Lists the Pods that cannot start (unless a list is under way) and acts on what they say.
    fn look_at_pending_pods(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = self.cluster.as_mut().filter(|c| !c.pending_listing) else { return };
        cluster.pending_listing = true;
        let pods = cluster.pods.clone();
        let params = pending::pending_pods(&labels::workflow_selector(&cluster.workflow.name));
        let list = async move { pods.list(&params).await };
        ctx.spawn(list.into_actor(self).map(|listed, watcher, _| {
            let Some(cluster) = watcher.cluster.as_mut() else { return };
            cluster.pending_listing = false;
            let listed = match listed {
                Ok(list) => list.items,
                Err(e) => return tracing::debug!(error = %e, "cannot list the workflow's Pending Pods"),
            };
            let actions = cluster.pending.check(&listed, &cluster.workflow, Instant::now());
            for action in actions {
                match action {
                    PendingAction::Report(seen) => watcher.forward(seen),
                    PendingAction::Fail { seen, job } => {
                        let Some(cluster) = watcher.cluster.as_mut() else { return };
                        // Told first, and its Job's deletion that follows is smo's own.
                        cluster.index.ended_by_smo(&job);
                        let jobs = cluster.jobs.clone();
                        watcher.forward(seen);
                        actix::spawn(async move {
                            if let Err(e) = delete(&jobs, &job, &format!("Job {job}")).await {
                                tracing::warn!(error = %e, "cannot delete the Job of a step that could not start");
                            }
                        });
                    }
                }
            }
        }));
    }
}

impl StreamHandler<JobEvent> for JobWatcher {
    fn handle(&mut self, JobEvent(event): JobEvent, ctx: &mut Self::Context) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        match event {
            Ok(Event::Apply(job) | Event::InitApply(job)) => {
                let seen = cluster.index.applied(&job);
                let workflow = cluster.workflow.clone();
                match seen {
                    None => {}
                    Some(Seen::Phase(observed)) => {
                        if observed.phase == JobPhase::Succeeded {
                            // A Pod the kubelet put back after it was seen lost: nothing to keep.
                            cluster.lost.remove(&job.name_any());
                        }
                        if let Some(seen) = as_observed(observed, &workflow) {
                            self.tell(job, seen, ctx);
                        }
                    }
                    Some(Seen::Failed(observed)) => {
                        if let Some(seen) = as_observed(observed, &workflow) {
                            self.diagnose(job, seen, ctx);
                        }
                    }
                    Some(vanished @ Seen::Vanished(_)) => self.vanished(&job.name_any(), vanished),
                }
            }
            Ok(Event::Delete(job)) => {
                let name = job.name_any();
                cluster.lost.remove(&name);
                if let Some(seen) = cluster.index.deleted(&job) {
                    self.vanished(&name, seen);
                }
            }
            Ok(Event::Init) => {
                cluster.index.list_started();
                cluster.lists += 1;
                if cluster.lists > 1 {
                    // The watch could not resume (410 Gone: its resourceVersion is older than
                    // the apiserver keeps); the re-list repeats every Job, and the index drops
                    // what it has seen.
                    tracing::info!(lists = cluster.lists, "the watch of Jobs re-lists the workflow's Jobs");
                    cluster.restarted();
                }
            }
            Ok(Event::InitDone) => {
                // Missing from the list: deleted, or relabelled out of it (superseded after an
                // infrastructure failure); only a Job that is gone counts.
                let (missing, jobs) = (cluster.index.missing(), cluster.jobs.clone());
                for name in missing {
                    let jobs = jobs.clone();
                    let lookup = async move { (with_retries(|| jobs.get_opt(&name)).await, name) };
                    ctx.spawn(lookup.into_actor(self).map(|(found, name), watcher, _| match found {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            if let Some(seen) = watcher.cluster.as_mut().and_then(|c| c.index.gone(&name)) {
                                watcher.vanished(&name, seen);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(job = %name, error = %e, "cannot tell whether a Job missing from the re-list is gone")
                        }
                    }));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the watch of Jobs failed; it restarts with backoff");
                cluster.restarted();
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // kube's watcher never ends; were it to, the Pod watch and the pending look go on.
        tracing::error!("the watch of Jobs ended");
    }
}

impl StreamHandler<PodEvent> for JobWatcher {
    fn handle(&mut self, PodEvent(event): PodEvent, _: &mut Self::Context) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => {
                let job = pod.meta().labels.as_ref().and_then(|l| l.get("job-name")).cloned();
                if let (Some(job), Some(reason)) = (job, infra::infrastructure_reason(&pod)) {
                    cluster.lost.insert(job, reason);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the watch of Pods failed; it restarts with backoff"),
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        tracing::error!("the watch of failed Pods ended");
    }
}
