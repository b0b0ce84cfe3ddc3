//! `smo operator`: `StateMachine` resources run in the cluster.
//!
//! One [`Controller`] actor watches the resources (all namespaces, or one) and keeps, per
//! resource, a Manager (the same actor `smo run` uses, with the Kubernetes executor) and a
//! [`StatusReporter`] that writes the resource's status and Events:
//!
//! ```text
//! watch(StateMachines) --Watched--> Controller --Reconfigure/Shutdown--> Manager (one per resource)
//!                                                      |  <--RunEnded--                   |  StatusSnapshot (≤ 1/s), WorkflowEvent
//!                                                      +--SpecSeen / Detach--> StatusReporter <+
//! ```
//!
//! * A resource appears: its spec is checked with the same messages as `smo validate`, within
//!   the operator's `--limit`s, by the watch's task on a blocking thread and given up after 5 s
//!   (`validate`): a spec made to be slow to check never holds up the Controller. Invalid:
//!   its status says so, field by field, and nothing runs until it is edited. Valid: its
//!   workflow runs — restored from the Jobs the cluster has, so an operator restarted mid-run
//!   carries on without starting a sequence over or running a step twice, and from its status
//!   and its kept timeline what the Jobs no longer show (failed sequences, whose Jobs are
//!   deleted; completed ones whose Jobs the cluster deleted, never run again; resized node
//!   counts; see [`smo_core::ledger::Carried`]). A resource whose
//!   status says it ended (for its current generation) is left alone.
//! * When a run starts, what an edit does, when it is tried again and when it is over are the
//!   core's [`Lifecycle`] to decide; the Controller carries its decisions out.
//! * Its artifacts go to `registry.host`, else the operator's `--registry`, else (when a step
//!   pulls or pushes) an ephemeral registry of its own, private to the workflow (a password in
//!   a Secret it owns, a NetworkPolicy), applied from the spec at every start of the run and
//!   waited for before any step is submitted, then kept answering while the run lasts: deleted
//!   (by a person, or by a garbage collector that took the resource for gone), it is applied
//!   again at the same address, with `RegistryUnavailable` and `RegistryRestored` Events
//!   ([`registry::kubernetes`]).
//! * A valid workflow that needs what the cluster lacks (an API a step uses, its registry) does
//!   not fail: its status is `Pending` with `Ready=False` naming what to install, and the
//!   Controller tries again by itself (`RetryRun`, 5 s doubling up to 5 min), or at once on an
//!   edit.
//! * Every object created for it carries an owner reference to it: deleting it deletes its
//!   Jobs, ConfigMaps and registry (the garbage collector), and the operator stops its Manager.
//! * Its spec changes: the running workflow takes new completions, node budget, failure cap,
//!   rules, `suspend` and `shutdown` (`smo stop`: its Manager ends the run stopped; a run with
//!   no Manager, waiting to be tried again, ends at once) ([`Reconfigure`]); a change it cannot take (the steps, the registry, …) is named in
//!   the `SpecApplied` condition, never silently ignored.

pub mod metrics;
mod reporter;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix::prelude::*;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt as _, watcher as watch};
use kube::{Client, ResourceExt as _};
use smo_core::api::ShutdownStrategy;
use smo_core::api::{RegistrySpec, StateMachine, StateMachineSpec, StateMachineStatus};
use smo_core::jobs::script::ArtifactStore;
use smo_core::ledger::{Carried, RunOutcome, RunReport};
use smo_core::lifecycle::{AfterRun, Lifecycle, OnEdit, OnFirstSeen, Reconfiguration, RunEnd};
use smo_core::limits::Limits;
use smo_core::names::stable_seed;
use smo_core::status;
use smo_core::workflow::Workflow;
use smo_core::workflow::documents::from_manifest_value;

use self::metrics::OperatorMetrics;
pub use self::reporter::{Detach, SpecSeen, StatusReporter};
use crate::executor::RunsOn;
use crate::executor::kubernetes::{self, FairShare, KubernetesConfig};
use crate::journal::Journal;
use crate::live::{Board, Feed};
use crate::manager::{Manager, ManagerConfig, Reporting};
use crate::messages::{Reconfigure, Shutdown};
use crate::registry;
use crate::{Error, Result};

/// The field manager and Event reporter name.
pub const CONTROLLER_NAME: &str = "smo-operator";

/// What the operator needs beyond the resources.
#[derive(Clone)]
pub struct OperatorConfig {
    /// The cluster.
    pub client: Client,
    /// The client's request rate, shared fairly by the workflows (each run talks to the cluster
    /// through a client of its own from it).
    pub share: Arc<FairShare>,
    /// Watch only these namespaces (empty: all).
    pub namespaces: Vec<String>,
    /// Image that delivers `smo` to step pods.
    pub smo_image: Option<String>,
    /// Registry for workflows whose `spec.registry.host` is empty (`HOST:PORT`, plain HTTP?).
    pub default_registry: Option<(String, bool)>,
    /// Image of a workflow's own registry when its `spec.registry.image` is unset.
    pub registry_image: String,
    /// The operator's own namespace: a workflow's registry admits the operator's Pods there.
    pub own_namespace: String,
    /// Times a step's Job is replaced after the infrastructure ended its Pod.
    pub infra_retries: u32,
    /// How long a step's Pod may be unable to start before its step fails (None: it waits).
    pub pending_timeout: Option<std::time::Duration>,
    /// What one workflow may ask for (`--limit`).
    pub limits: Limits,
    /// Where the logs of ended step jobs go (`<dir>/<namespace>/<name>/…`).
    pub data_dir: PathBuf,
    /// This operator's name in Events (`smo-operator`) and instance (its Pod's name).
    pub instance: String,
    /// The operator's metrics.
    pub metrics: Arc<OperatorMetrics>,
    /// Set once the first list of StateMachines has been handled and the runs it found have
    /// their Managers (or wait for what the cluster lacks).
    pub ready: Arc<AtomicBool>,
    /// The live page's board (`--ui-addr`), if a page is served.
    pub board: Option<Arc<Board>>,
}

/// The `StateMachine` API resource.
pub fn api_resource() -> ApiResource {
    ApiResource::erase::<StateMachine>(&())
}

/// Whether the cluster serves `StateMachine`s: an error naming what to install if not.
/// `namespace`: where to look (a namespaced install may list nowhere else); None: everywhere.
pub async fn check_crd(client: &Client, namespace: Option<&str>) -> Result<()> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &api_resource()),
        None => Api::all_with(client.clone(), &api_resource()),
    };
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(Error::ApiNotServed(
            "the cluster does not serve StateMachines (state-machine.converged-computing.org/v1alpha1): install the CRD with `kubectl apply -f dist/install.yaml` (or `smo crd | kubectl apply -f -`)".into(),
        )),
        Err(e) => Err(Error::kube("list StateMachines", e)),
    }
}

/// One event of a watch of StateMachines, from the namespace it covers (None: all).
struct Watched {
    scope: Option<String>,
    event: WatchedEvent,
}

/// What a watch of StateMachines saw.
enum WatchedEvent {
    /// A resource was created or changed (also every resource of a (re-)list), with its spec
    /// already validated by the stream ([`validate`]), never on the actor's thread.
    Applied(Box<(DynamicObject, Parsed)>),
    /// A resource was deleted.
    Deleted(Box<DynamicObject>),
    /// The watch (re-)lists its namespace: every resource follows, then [`Self::ListDone`].
    ListStarted,
    /// The (re-)list is complete: resources of its namespace it did not name were deleted
    /// meanwhile.
    ListDone,
    /// The watch failed; it restarts with backoff.
    Failed(watcher::Error),
}

/// The last validation of each resource by uid, with the generation it was of.
type Validated = HashMap<String, (Option<i64>, Parsed)>;

/// A resource's workflow and spec, or every problem (one line each, as `smo validate`).
type Parsed = std::result::Result<(Workflow, StateMachineSpec), Vec<String>>;

/// A resource's Manager has started (after the checks before its run).
#[derive(Message)]
#[rtype(result = "()")]
struct RunStarted {
    key: String,
    uid: String,
    manager: Addr<Manager>,
}

/// A resource's run ended (or could not start).
#[derive(Message)]
#[rtype(result = "()")]
struct RunEnded {
    key: String,
    uid: String,
    /// It never started (what it needs is missing: its status says what), or stopped without
    /// finishing; it is tried again after a while ([`smo_core::lifecycle::RETRY_FIRST`],
    /// doubling up to [`smo_core::lifecycle::RETRY_MAX`]), and at once on an edit.
    refused: bool,
}

/// Time to try a refused run again.
#[derive(Message)]
#[rtype(result = "()")]
struct RetryRun {
    key: String,
    uid: String,
    /// The token the [`Lifecycle`] scheduled it with (a later refusal or an edit supersedes
    /// it).
    token: u64,
}

/// What the operator keeps per resource.
struct Tracked {
    uid: String,
    /// Where its run is, and what the next event does to it.
    life: Lifecycle,
    manager: Option<Addr<Manager>>,
    reporter: Addr<StatusReporter>,
    /// The live page's feed of the resource (the reporter takes it off the board).
    live: Option<Feed>,
    /// The resource as last seen, and its spec validated (a refused run is tried again from
    /// them).
    object: DynamicObject,
    parsed: Parsed,
    /// What its status said of an earlier life of its run when first seen.
    carried: Carried,
    /// The task setting its run up (the registry awaited, the images checked), until its
    /// Manager starts: an edit meanwhile stops it and starts again with the new spec.
    starting: Option<Setup>,
}

/// The task that sets a run up and then waits for its end, and whether it has gone past the
/// point where it may be stopped (its Manager is made: stopping it then would leave the Manager
/// running beside the next).
struct Setup {
    task: tokio::task::JoinHandle<()>,
    committed: Rc<std::cell::Cell<bool>>,
}

/// What starting a resource's run takes besides the resource.
struct RunRequest {
    /// `namespace/name`.
    key: String,
    workflow: Workflow,
    spec: StateMachineSpec,
    /// The resource's StatusReporter.
    reporter: Addr<StatusReporter>,
    /// What its status said of an earlier life of the run.
    carried: Carried,
    /// The live page's feed of the resource, if a page is served.
    live: Option<Feed>,
}

/// Watches `StateMachine`s and runs each one's workflow (see the module docs).
pub struct Controller {
    config: Arc<OperatorConfig>,
    tracked: HashMap<String, Tracked>,
    /// Resources named by the (re-)lists under way, by the namespace the watch covers (None:
    /// all).
    listed: HashMap<Option<String>, HashSet<String>>,
    /// The namespaces whose first list has been handled (None: all).
    listed_once: HashSet<Option<String>>,
    /// Runs being set up (registry, API checks) whose Manager has not started yet, by uid.
    starting: HashSet<String>,
    recorder: Recorder,
}

impl Controller {
    /// A controller; starting it starts the watch.
    pub fn new(config: OperatorConfig) -> Controller {
        let reporter = Reporter { controller: CONTROLLER_NAME.into(), instance: Some(config.instance.clone()) };
        let recorder = Recorder::new(config.client.clone(), reporter);
        Controller {
            config: Arc::new(config),
            tracked: HashMap::new(),
            listed: HashMap::new(),
            listed_once: HashSet::new(),
            starting: HashSet::new(),
            recorder,
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.config.client.clone(), namespace, &api_resource())
    }

    /// Starts tracking a resource seen for the first time (or again with a new uid).
    fn track(&mut self, key: String, object: DynamicObject, parsed: Parsed, ctx: &mut Context<Self>) {
        let uid = object.uid().unwrap_or_default();
        let generation = object.metadata.generation;
        let namespace = object.namespace().unwrap_or_default();
        let current: StateMachineStatus =
            object.data.get("status").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
        let reference = ObjectReference {
            api_version: Some(api_resource().api_version),
            kind: Some(api_resource().kind),
            name: object.metadata.name.clone(),
            namespace: Some(namespace.clone()),
            uid: Some(uid.clone()),
            ..ObjectReference::default()
        };
        let spec = match &parsed {
            Ok(_) => SpecSeen::Running { generation, unapplied: None },
            Err(problems) => SpecSeen::Invalid { generation, problems: problems.clone() },
        };
        let live = self.config.board.as_ref().map(|board| board.feed(Some(&namespace), &object.name_any()));
        let reporter = StatusReporter::new(
            self.api(&namespace),
            reference,
            self.recorder.clone(),
            current.clone(),
            spec,
            self.config.metrics.workflow(&namespace, &object.name_any()),
            live.clone(),
        )
        .start();
        let (life, first) =
            Lifecycle::first_seen(generation, parsed.as_ref().map(|(_, spec)| spec).map_err(Vec::as_slice), &current);
        let mut tracked = Tracked {
            uid: uid.clone(),
            life,
            manager: None,
            reporter,
            live,
            object: object.clone(),
            parsed: parsed.clone(),
            // Taken over after a restart: the status says what the Jobs may no longer.
            carried: status::carried(&current),
            starting: None,
        };
        match (first, parsed) {
            (OnFirstSeen::Invalid(problems), _) => {
                tracing::warn!(statemachine = %key, problems = problems.len(), "invalid StateMachine; its status names the problems");
            }
            (OnFirstSeen::LeftEnded, _) => {
                tracing::info!(statemachine = %key, phase = ?current.phase, "workflow ended before; left alone");
            }
            (OnFirstSeen::Start, Ok((workflow, spec))) => {
                let carried = tracked.carried.clone();
                let (reporter, live) = (tracked.reporter.clone(), tracked.live.clone());
                let run = RunRequest { key: key.clone(), workflow, spec, reporter, carried, live };
                tracked.starting = Some(self.start_run(&object, run, ctx));
            }
            (OnFirstSeen::Start, Err(_)) => {}
        }
        self.tracked.insert(key, tracked);
    }

    /// Checks what the run needs, then starts the resource's Manager (restoring from its Jobs).
    fn start_run(&mut self, object: &DynamicObject, run: RunRequest, ctx: &mut Context<Self>) -> Setup {
        let RunRequest { key, workflow, spec, reporter, carried, live } = run;
        let mut registry_spec = spec.registry.clone().unwrap_or_else(default_registry_spec);
        registry_spec.image.get_or_insert_with(|| self.config.registry_image.clone());
        let uid = object.uid().unwrap_or_default();
        self.starting.insert(uid.clone());
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let owner = OwnerReference {
            api_version: api_resource().api_version,
            kind: api_resource().kind,
            name: name.clone(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let config = self.config.clone();
        let controller = ctx.address();
        let generation = object.metadata.generation;
        tracing::info!(statemachine = %key, completions = workflow.completed, max_size = workflow.max_size, "starting the workflow");
        let committed = Rc::new(std::cell::Cell::new(false));
        let commit = committed.clone();
        let task = actix::spawn(async move {
            // Everything this run asks of the cluster waits for its own share of the rate.
            let client = config.share.client(&config.client);
            let refuse = |reason: &'static str, message: String| {
                tracing::warn!(statemachine = %key, reason, %message, "the workflow cannot start yet; trying again later");
                reporter.do_send(SpecSeen::Waiting { generation, reason, message });
                controller.do_send(RunEnded { key: key.clone(), uid: uid.clone(), refused: true });
            };
            let calling = workflow.steps_calling_smo(true);
            if config.smo_image.is_none() && !calling.is_empty() {
                let message = format!(
                    "step(s) {} call `smo` in their Pods (to pass artifacts or compute custom metrics), which they get \
                     from the operator's image: start the operator with --smo-image IMAGE (or SMO_IMAGE; \
                     dist/install.yaml sets it)",
                    calling.join(", ")
                );
                return refuse("SmoImageMissing", message);
            }
            // Before the registry: a run no node can ever hold needs no registry made for it.
            if let Some(refusal) = kubernetes::preflight::check_fit(&client, &workflow).await {
                return refuse(refusal.reason, refusal.message);
            }
            let own_registry = registry::kubernetes::OwnRegistry {
                client: client.clone(),
                namespace: namespace.clone(),
                workflow: name.clone(),
                spec: registry_spec,
                owner: owner.clone(),
                operator_namespace: config.own_namespace.clone(),
            };
            let (store, registry_credentials) = match store_of(&workflow, &config) {
                Some(store) => (store, None),
                None => {
                    let ensured = own_registry.ensure(None, REGISTRY_PATIENCE).await;
                    match ensured {
                        Ok(ready) => {
                            (ArtifactStore::Registry { host: ready.host, plain_http: true }, Some(ready.credentials))
                        }
                        Err(e) => return refuse("RegistryUnavailable", format!("spec.registry: {e}")),
                    }
                }
            };
            if let Err(e) = kubernetes::check_installed(&client, &workflow).await {
                return refuse("APINotServed", e.to_string());
            }
            match kubernetes::preflight::check_python(&client, &namespace, &workflow, &owner).await {
                Ok(None) => {}
                Ok(Some(refusal)) => return refuse(refusal.reason, refusal.message),
                Err(e) => return refuse("PreflightFailed", format!("cannot check the step images: {e}")),
            }
            // What the kept timeline shows completed counts, whatever is left of its Jobs.
            let mut carried = carried;
            if let Some(last) = workflow.steps.last() {
                match crate::journal::kept_times(client.clone(), &namespace, &name, &uid).await {
                    Ok(times) => {
                        let done = times.completed_sequences(&last.name);
                        carried.completed = carried.completed.max(u32::try_from(done.len()).unwrap_or(u32::MAX));
                        carried.completed_sequences = done;
                    }
                    Err(e) => {
                        tracing::warn!(statemachine = %key, error = %e, "cannot read the kept timeline; the run goes on from its Jobs and status")
                    }
                }
            }
            let kept_registry = match (&store, &registry_credentials) {
                (ArtifactStore::Registry { host, .. }, Some(_)) => Some(host.clone()),
                _ => None,
            };
            // The run's timeline, kept in ConfigMaps owned by the resource (`smo timeline`).
            let journal =
                Journal::in_config_maps(client.clone(), namespace.clone(), name.clone(), Some(owner.clone()), live);
            let executor_config = KubernetesConfig {
                client,
                namespace: namespace.clone(),
                store,
                registry_credentials,
                infra_retries: config.infra_retries,
                pending_timeout: config.pending_timeout,
                smo_image: config.smo_image.clone(),
                logs: kubernetes::LogPlaces {
                    dir: config.data_dir.join(&namespace).join(&name).join("logs"),
                    save_root: Some(config.data_dir.join(&namespace).join(&name).join("save-path")),
                    budget: Some((KEPT_LOGS_PER_WORKFLOW, Arc::default())),
                },
                owner: Some(owner),
                watch_restarts: Some(config.metrics.watch_restarts()),
            };
            let workflow = Arc::new(workflow);
            let (done, finished) = tokio::sync::oneshot::channel::<RunReport>();
            // From here on the run is its Manager's: an edit reconfigures it, never restarts it.
            commit.set(true);
            let manager = Manager::create(|mctx| {
                let (executor, watcher) =
                    RunsOn::Kubernetes(Box::new(executor_config)).wire(&workflow, mctx.address().recipient());
                Manager::new(
                    workflow,
                    ManagerConfig {
                        executor,
                        progress: None,
                        seed: stable_seed(&uid),
                        done,
                        watcher: Some(watcher),
                        journal: Some(journal),
                        restore: true,
                        carried: Some(carried),
                        reporting: Some(Reporting::to(&reporter)),
                    },
                )
            });
            controller.do_send(RunStarted { key: key.clone(), uid: uid.clone(), manager });
            // The workflow's own registry is kept answering while the run lasts.
            let finished = match kept_registry {
                Some(host) => {
                    let tell_to = reporter.clone();
                    let tell: registry::kubernetes::Tell = Box::new(move |warning, reason, note| {
                        tell_to.do_send(crate::messages::WorkflowEvent { warning, reason, note });
                    });
                    let keep = registry::kubernetes::keep(own_registry, host, tell);
                    tokio::select! {
                        report = finished => report,
                        never = keep => match never {},
                    }
                }
                None => finished.await,
            };
            // A run that stopped without finishing (it could not list its Jobs to resume, its
            // Manager stopped) is not over: it is tried again, visibly, never marked ended. (One
            // the Controller stopped itself is no longer tracked, and the retry is dropped.)
            let interrupted = match finished {
                Ok(report) => {
                    tracing::info!(statemachine = %key, outcome = report.outcome.verb(), reason = report.outcome.reason(), completed = report.completed, failed = report.failed, "workflow ended");
                    match report.outcome {
                        RunOutcome::Interrupted { reason, .. } => Some(reason),
                        RunOutcome::Succeeded { .. } | RunOutcome::Failed { .. } | RunOutcome::Stopped { .. } => None,
                    }
                }
                Err(_) => Some("its Manager stopped without a report".to_string()),
            };
            match interrupted {
                Some(reason) => refuse(
                    "RunInterrupted",
                    format!("the run stopped without finishing ({reason}); it is started again from its Jobs"),
                ),
                None => controller.do_send(RunEnded { key, uid, refused: false }),
            }
        });
        Setup { task, committed }
    }

    /// A tracked resource changed: a new spec for its run, or a first run for a spec made valid.
    fn update(&mut self, key: &str, object: DynamicObject, parsed: Parsed, ctx: &mut Context<Self>) {
        let generation = object.metadata.generation;
        let Some(tracked) = self.tracked.get_mut(key) else { return };
        tracked.object = object;
        tracked.parsed = parsed.clone();
        let committed = tracked.starting.as_ref().is_some_and(|setup| setup.committed.get());
        match tracked.life.edited(generation, parsed, committed) {
            OnEdit::Nothing => {}
            OnEdit::Invalid(problems) => tracked.reporter.do_send(SpecSeen::Invalid { generation, problems }),
            OnEdit::NotApplied(unapplied) => {
                tracked.reporter.do_send(SpecSeen::Running { generation, unapplied: Some(unapplied) });
            }
            OnEdit::Start { stop_setup } => {
                if stop_setup && let Some(setup) = tracked.starting.take() {
                    // Edited while its run was being set up (its registry awaited, its step
                    // images checked): set up again with the new spec now, not after that wait.
                    setup.task.abort();
                    tracing::info!(statemachine = %key, "spec changed while the run was being set up; starting again with it");
                    let uid = tracked.uid.clone();
                    self.starting.remove(&uid);
                }
                self.run_now(key, ctx);
            }
            OnEdit::Stopped(strategy) => {
                let reporter = tracked.reporter.clone();
                stopped_without_a_run(key, &reporter, generation, strategy);
            }
            OnEdit::Reconfigure { now, unapplied } => {
                tracing::info!(statemachine = %key, applied = now.is_some(), unapplied = ?unapplied.as_ref().map(|u| &u.message), "spec changed");
                if let (Some(change), Some(manager)) = (now, &tracked.manager) {
                    manager.do_send(reconfigure(*change));
                }
                tracked.reporter.do_send(SpecSeen::Running { generation, unapplied });
            }
        }
    }

    /// Sets the run of a tracked resource up from its latest object, whose spec its
    /// [`Lifecycle`] has just made the running one.
    fn run_now(&mut self, key: &str, ctx: &mut Context<Self>) {
        let Some(t) = self.tracked.get_mut(key) else { return };
        let Ok((workflow, spec)) = t.parsed.clone() else { return };
        t.reporter.do_send(SpecSeen::Running { generation: t.object.metadata.generation, unapplied: None });
        // What the status says now of the run's earlier life (a retried run may have counted
        // failures since the resource was first seen).
        let current: StateMachineStatus =
            t.object.data.get("status").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
        let carried = if current.observed_generation.is_some() { status::carried(&current) } else { t.carried.clone() };
        let (object, reporter, live) = (t.object.clone(), t.reporter.clone(), t.live.clone());
        let run = RunRequest { key: key.to_string(), workflow, spec, reporter, carried, live };
        let task = self.start_run(&object, run, ctx);
        if let Some(t) = self.tracked.get_mut(key) {
            t.starting = Some(task);
        }
    }

    /// Ready once the first list is handled and no run it found is still being set up: every
    /// workflow that should run has its Manager, or waits visibly for what the cluster lacks.
    fn check_ready(&self) {
        if self.listed_once.len() == self.scopes().len()
            && self.starting.is_empty()
            && !self.config.ready.swap(true, Ordering::Relaxed)
        {
            tracing::info!(workflows = self.tracked.len(), "StateMachines listed and their runs started; ready");
        }
    }

    /// What the watches cover: each namespace of `--namespace`, or all of them (None).
    fn scopes(&self) -> Vec<Option<String>> {
        if self.config.namespaces.is_empty() {
            vec![None]
        } else {
            self.config.namespaces.iter().cloned().map(Some).collect()
        }
    }

    /// Stops what runs for a resource that is gone.
    fn forget(&mut self, key: &str) {
        let Some(tracked) = self.tracked.remove(key) else { return };
        tracing::info!(statemachine = %key, "StateMachine deleted; its workflow stops (its objects go with it)");
        if let Some(setup) = tracked.starting.as_ref().filter(|setup| !setup.committed.get()) {
            setup.task.abort();
            self.starting.remove(&tracked.uid);
        }
        // What it kept in the operator's data directory goes too.
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let kept = self.config.data_dir.join(namespace).join(name);
        actix::spawn(async move {
            match tokio::fs::remove_dir_all(&kept).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(dir = %kept.display(), error = %e, "cannot delete the workflow's kept logs")
                }
                _ => {}
            }
        });
        tracked.reporter.do_send(Detach);
        if let Some(manager) = tracked.manager {
            manager.do_send(Shutdown { reason: format!("the StateMachine {key} was deleted"), exit_code: 0 });
        }
    }
}

/// A resource stopped (`spec.shutdown`) while no Manager ran it (it waited for what the
/// cluster lacks, or its run stopped without finishing while being stopped): its status and
/// an Event say it has ended, stopped; it is not tried again.
fn stopped_without_a_run(
    key: &str,
    reporter: &Addr<StatusReporter>,
    generation: Option<i64>,
    strategy: ShutdownStrategy,
) {
    tracing::info!(statemachine = %key, %strategy, "workflow stopped (spec.shutdown) while no run of it was going on; not tried again");
    reporter.do_send(SpecSeen::Stopped { generation, strategy });
    let note = format!("stopped with strategy '{strategy}' (spec.shutdown) while it waited to start");
    reporter.do_send(crate::messages::WorkflowEvent { warning: true, reason: "Stopped", note });
}

/// A change for a running Manager, as the [`Lifecycle`] decided it.
fn reconfigure(change: Reconfiguration) -> Reconfigure {
    Reconfigure { workflow: Arc::new(change.workflow), rules_changed: change.rules_changed }
}

/// The most bytes of step logs kept for one workflow (`save-path`) in the operator's data
/// directory, whose volume `dist/install.yaml` limits to 2 GiB.
const KEPT_LOGS_PER_WORKFLOW: u64 = 64 << 20;

/// How long an ephemeral registry may take to answer (its image may have to be pulled).
const REGISTRY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// `spec.registry` as the CRD defaults it when the manifest has none.
fn default_registry_spec() -> RegistrySpec {
    serde_json::from_value(serde_json::json!({})).unwrap_or_default()
}

/// `namespace/name` of a resource.
fn key_of(object: &DynamicObject) -> String {
    format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any())
}

/// How long validating one resource may take. Rendering templates is bounded by fuel; this
/// bounds the rest, so one resource can never hold up the others.
const VALIDATION_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// [`parse`] on a blocking thread, given up after [`VALIDATION_TIME_LIMIT`] (the resource is
/// then invalid, saying so).
async fn validate(object: &DynamicObject, limits: &Limits) -> Parsed {
    let (owned, limits) = (object.clone(), limits.clone());
    let work = tokio::task::spawn_blocking(move || parse(&owned, &limits));
    let label = format!("statemachine/{}", object.name_any());
    match tokio::time::timeout(VALIDATION_TIME_LIMIT, work).await {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(e)) => Err(vec![format!("{label}: validation failed: {e}")]),
        Err(_) => Err(vec![format!(
            "{label}: spec: validation took longer than {}s and was given up (make the step scripts' templates and \
             the metric patterns smaller)",
            VALIDATION_TIME_LIMIT.as_secs()
        )]),
    }
}

/// The workflow and spec of a resource, or every problem (one line each, as `smo validate`).
fn parse(object: &DynamicObject, limits: &Limits) -> Parsed {
    let label = format!("statemachine/{}", object.name_any());
    let value = serde_json::to_value(object).map_err(|e| vec![format!("{label}: cannot read the resource: {e}")])?;
    let spec_value = value.get("spec").cloned().unwrap_or_default();
    match from_manifest_value(value, &label) {
        Ok((workflow, _warnings)) => {
            let over = limits.check(&workflow);
            if !over.is_empty() {
                return Err(over.into_iter().map(|(path, message)| format!("{label}: {path}: {message}")).collect());
            }
            let spec: StateMachineSpec =
                serde_json::from_value(spec_value).map_err(|e| vec![format!("{label}: spec: cannot be read: {e}")])?;
            Ok((workflow, spec))
        }
        Err(problems) => Err(problems.errors().map(ToString::to_string).collect()),
    }
}

/// Where the workflow's artifacts go: its registry, else the operator's default, else none
/// when no step pulls or pushes; `Ok(None)`: its own ephemeral registry.
fn store_of(workflow: &Workflow, config: &OperatorConfig) -> Option<ArtifactStore> {
    if let Some(host) = &workflow.registry.host {
        return Some(ArtifactStore::Registry { host: host.clone(), plain_http: workflow.registry.plain_http });
    }
    if let Some((host, plain_http)) = &config.default_registry {
        return Some(ArtifactStore::Registry { host: host.clone(), plain_http: *plain_http });
    }
    if workflow.steps.iter().all(|s| s.pull.is_none() && s.push.is_none()) {
        return Some(ArtifactStore::None);
    }
    None
}

impl Actor for Controller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // One watch per namespace of a namespaced install (its RBAC allows no more), one for
        // the whole cluster otherwise.
        for scope in self.scopes() {
            let api: Api<DynamicObject> = match &scope {
                Some(ns) => self.api(ns),
                None => Api::all_with(self.config.client.clone(), &api_resource()),
            };
            let limits = self.config.limits.clone();
            // The last validation of each resource (by uid), reused while its generation stays
            // (status writes change only the status).
            let validated: Rc<RefCell<Validated>> = Rc::default();
            let stream = watch(api, watcher::Config::default()).default_backoff().then(move |event| {
                let (scope, limits, validated) = (scope.clone(), limits.clone(), validated.clone());
                async move {
                    let event = match event {
                        Ok(Event::Apply(object) | Event::InitApply(object)) => {
                            let uid = object.uid().unwrap_or_default();
                            let generation = object.metadata.generation;
                            let known = validated.borrow().get(&uid).filter(|(seen, _)| *seen == generation).cloned();
                            let parsed = match known {
                                Some((_, parsed)) => parsed,
                                None => validate(&object, &limits).await,
                            };
                            validated.borrow_mut().insert(uid, (generation, parsed.clone()));
                            WatchedEvent::Applied(Box::new((object, parsed)))
                        }
                        Ok(Event::Delete(object)) => {
                            validated.borrow_mut().remove(&object.uid().unwrap_or_default());
                            WatchedEvent::Deleted(Box::new(object))
                        }
                        Ok(Event::Init) => WatchedEvent::ListStarted,
                        Ok(Event::InitDone) => WatchedEvent::ListDone,
                        Err(e) => WatchedEvent::Failed(e),
                    };
                    Watched { scope, event }
                }
            });
            ctx.add_stream(stream);
        }
    }
}

impl StreamHandler<Watched> for Controller {
    fn handle(&mut self, Watched { scope, event }: Watched, ctx: &mut Self::Context) {
        match event {
            WatchedEvent::Applied(applied) => {
                let (object, parsed) = *applied;
                self.applied(object, parsed, ctx);
            }
            WatchedEvent::Deleted(object) => self.deleted(&object),
            WatchedEvent::ListStarted => {
                self.listed.insert(scope, HashSet::new());
            }
            WatchedEvent::ListDone => self.list_done(scope),
            WatchedEvent::Failed(e) => {
                tracing::warn!(error = %e, namespace = scope.as_deref().unwrap_or("(all)"), "the watch of StateMachines failed; it restarts with backoff")
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // kube's watcher never ends; were it to, the operator would no longer see its resources.
        tracing::error!("a watch of StateMachines ended");
    }
}

impl Controller {
    /// A resource was created or changed.
    fn applied(&mut self, object: DynamicObject, parsed: Parsed, ctx: &mut Context<Self>) {
        let key = key_of(&object);
        let namespace = object.namespace();
        for (scope, listed) in &mut self.listed {
            if scope.is_none() || *scope == namespace {
                listed.insert(key.clone());
            }
        }
        if object.metadata.deletion_timestamp.is_some() {
            return self.forget(&key);
        }
        let uid = object.uid().unwrap_or_default();
        match self.tracked.get(&key) {
            Some(t) if t.uid == uid => self.update(&key, object, parsed, ctx),
            Some(_) => {
                // Deleted and created again under the same name while the watch was away.
                self.forget(&key);
                self.track(key, object, parsed, ctx);
            }
            None => self.track(key, object, parsed, ctx),
        }
    }

    /// A resource was deleted.
    fn deleted(&mut self, object: &DynamicObject) {
        let key = key_of(object);
        if self.tracked.get(&key).is_some_and(|t| Some(&t.uid) == object.uid().as_ref()) {
            self.forget(&key);
        }
    }

    /// A watch's (re-)list of `scope` is complete.
    fn list_done(&mut self, scope: Option<String>) {
        let Some(listed) = self.listed.remove(&scope) else { return };
        // Only what this watch covers: another namespace's resources are another watch's.
        let covered = |key: &str| scope.as_ref().is_none_or(|ns| key.split_once('/').is_some_and(|(n, _)| n == ns));
        let gone: Vec<String> = self.tracked.keys().filter(|k| covered(k) && !listed.contains(*k)).cloned().collect();
        for key in gone {
            self.forget(&key);
        }
        self.listed_once.insert(scope);
        self.check_ready();
    }
}

impl Handler<RunStarted> for Controller {
    type Result = ();

    fn handle(&mut self, msg: RunStarted, _: &mut Self::Context) {
        self.starting.remove(&msg.uid);
        self.check_ready();
        match self.tracked.get_mut(&msg.key) {
            Some(t) if t.uid == msg.uid => {
                // Set up: the task now only waits for the run's end, and is never stopped.
                t.starting = None;
                if let Some(change) = t.life.run_started() {
                    msg.manager.do_send(reconfigure(change));
                }
                t.manager = Some(msg.manager);
            }
            // Deleted while its run was being set up.
            _ => msg.manager.do_send(Shutdown { reason: "the StateMachine was deleted".into(), exit_code: 0 }),
        }
    }
}

impl Handler<RunEnded> for Controller {
    type Result = ();

    fn handle(&mut self, msg: RunEnded, ctx: &mut Self::Context) {
        self.starting.remove(&msg.uid);
        self.check_ready();
        if let Some(t) = self.tracked.get_mut(&msg.key)
            && t.uid == msg.uid
        {
            t.manager = None;
            t.starting = None;
            let end = if msg.refused { RunEnd::Interrupted } else { RunEnd::Finished };
            match t.life.run_ended(end) {
                AfterRun::Over => {}
                AfterRun::Stopped(strategy) => {
                    stopped_without_a_run(&msg.key, &t.reporter, t.object.metadata.generation, strategy);
                }
                AfterRun::Retry(retry) => {
                    ctx.notify_later(RetryRun { key: msg.key, uid: msg.uid, token: retry.token }, retry.after);
                }
            }
        }
    }
}

impl Handler<RetryRun> for Controller {
    type Result = ();

    fn handle(&mut self, msg: RetryRun, ctx: &mut Self::Context) {
        let Some(t) = self.tracked.get_mut(&msg.key) else { return };
        // Superseded: deleted and created again, edited into a run, or refused again since.
        let Ok((_, spec)) = &t.parsed else { return };
        if t.uid != msg.uid || !t.life.retry(msg.token, spec.clone()) {
            return;
        }
        tracing::info!(statemachine = %msg.key, attempt = t.life.refusals() + 1, "trying the workflow again");
        self.run_now(&msg.key, ctx);
    }
}
