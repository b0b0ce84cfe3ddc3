//! `smo run WORKFLOW` / `smo run --resume RUN_DIR`: run a workflow to completion on this machine.
//!
//! Loads and validates the workflow, prepares the run directory — with `run.json`, which keeps
//! everything a resume needs: the workflow's text (and its job files'), the directories, the
//! artifact store and the job id seed — starts the actor system (Registry, Manager, JobWatcher,
//! local executor, progress display), waits for the end or a signal, then writes
//! `workflow-times.json` from the run's timestamp journal and prints the summary.
//!
//! `--resume` reads `run.json` back and starts the Manager in restore mode: it rebuilds every
//! sequence from the jobs the run directory records (see `smo_actors::executor::local`).
//!
//! Exit code: 0 when the workflow succeeded, 1 when it failed (with a one-line reason), 2 when it
//! could not start, 130 / 143 / 129 after Ctrl-C / SIGTERM / SIGHUP.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use actix::prelude::*;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use smo_actors::executor::RunsOn;
use smo_actors::executor::kubernetes::{self, ApiRequestCounts, KubernetesConfig, RequestLimits};
use smo_actors::executor::local::LocalConfig;
use smo_actors::journal::{self, Journal};
use smo_actors::live::{Board, LiveReporter};
use smo_actors::manager::{Manager, ManagerConfig, Reporting};
use smo_actors::messages::{EnsureStore, Shutdown, Suspend};
use smo_actors::registry::Registry;
use smo_actors::source;
use smo_core::jobs::script::ArtifactStore;
use smo_core::ledger::RunReport;
use smo_core::validate::Problems;
use smo_core::workflow::Workflow;
use smo_core::workflow::documents::{self, Sources};

use crate::cli::{ExecutorKind, RunArgs};
use crate::live::Live;
use crate::ui::ProgressDisplay;

/// Exit code when the run could not start (invalid workflow, unusable directories, no registry,
/// a step no node can hold).
const CANNOT_START: u8 = 2;

/// How long a registry may take to answer before the run gives up.
const REGISTRY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The run directory's record of a run: `<run-dir>/run.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RunRecord {
    /// The workflow as it was read when the run started.
    sources: Sources,
    /// Base of the jobs' working directories.
    workdir: PathBuf,
    /// Where artifacts go.
    store: StoreRecord,
    /// Seed of the job ids (a resume continues the same sequence of ids).
    seed: u64,
    /// `--max-failures`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_failures: Option<u32>,
    /// Where the steps run.
    #[serde(default = "local")]
    executor: ExecutorKind,
    /// Namespace of the step Jobs (kubernetes executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// Image delivering `smo` to step pods (kubernetes executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    smo_image: Option<String>,
}

fn local() -> ExecutorKind {
    ExecutorKind::Local
}

/// [`ArtifactStore`] as `run.json` keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoreRecord {
    /// No store: no step pulls or pushes.
    None,
    Directory(PathBuf),
    Registry {
        host: String,
        plain_http: bool,
    },
}

impl From<&StoreRecord> for ArtifactStore {
    fn from(r: &StoreRecord) -> ArtifactStore {
        match r {
            StoreRecord::None => ArtifactStore::None,
            StoreRecord::Directory(d) => ArtifactStore::Directory(d.clone()),
            StoreRecord::Registry { host, plain_http } => {
                ArtifactStore::Registry { host: host.clone(), plain_http: *plain_http }
            }
        }
    }
}

/// Where a run puts things.
struct Plan {
    run_dir: PathBuf,
    record: RunRecord,
    smo: PathBuf,
    resume: bool,
}

/// Runs the workflow; see the module docs for the exit codes.
pub fn run(args: &RunArgs, bar: Option<ProgressBar>) -> ExitCode {
    let prepared = match &args.resume {
        Some(dir) => resume_plan(dir, args),
        None => new_plan(args),
    };
    let (workflow, plan) = match prepared {
        Ok(p) => p,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(CANNOT_START);
        }
    };
    if plan.record.executor == ExecutorKind::Local {
        for warning in workflow.local_run_warnings() {
            eprintln!("smo run: warning: {warning}");
        }
    }
    tracing::info!(run_dir = %plan.run_dir.display(), resume = plan.resume, "run directory ready");
    let workflow = Arc::new(workflow);
    let cluster = ClusterSettings {
        limits: RequestLimits { qps: args.kube_api_qps, burst: args.kube_api_burst },
        infra_retries: args.infra_retries,
        pending_timeout: args.pending_timeout.map(std::time::Duration::from_secs),
    };
    let report = execute(workflow.clone(), &plan, cluster, bar.clone(), args.ui);
    // The display actor may not get to run again once the system returns: clear the bar here,
    // before the summary is printed.
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let (report, api_requests) = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smo run: {e}");
            return ExitCode::from(CANNOT_START);
        }
    };
    let times_path = plan.run_dir.join("workflow-times.json");
    let written = journal::read_times(&plan.run_dir.join("times.jsonl"))
        .map_err(|e| e.to_string())
        .and_then(|times| std::fs::write(&times_path, times.to_json()).map_err(|e| e.to_string()));
    if let Err(e) = written {
        eprintln!("smo run: cannot write {}: {e}", times_path.display());
    }
    println!("{}", crate::report::run_summary(&report, &workflow));
    if let Some(counts) = api_requests {
        let path = plan.run_dir.join("api-requests.json");
        let written = serde_json::to_string_pretty(&counts)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(&path, text).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("smo run: cannot write {}: {e}", path.display());
        }
        let jobs: u64 = report.steps.iter().map(|s| u64::from(s.runs)).sum();
        println!("{}", crate::report::api_summary(&counts, jobs));
    }
    eprintln!("times: {}", times_path.display());
    let code = report.outcome.exit_code();
    if code != 0 {
        eprintln!("smo run: {}", report.outcome.reason());
        if code > 128 {
            eprintln!("smo run: to finish this run later: smo run --resume {}", plan.run_dir.display());
        }
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Problems of a workflow that cannot run, then the line saying so.
fn cannot_run(problems: &Problems, what: &Path) -> String {
    format!("{problems}\nsmo run: cannot run {}: see the problems above", what.display())
}

/// Loads the workflow and lays out a new run directory, `run.json` included.
fn new_plan(args: &RunArgs) -> Result<(Workflow, Plan), String> {
    let path = args.workflow.as_deref().ok_or("smo run: give a WORKFLOW file, or --resume RUN_DIR")?;
    let sources = source::read(path, args.config_dir.as_deref()).map_err(|p| cannot_run(&p, path))?;
    let (mut workflow, warnings) = documents::load(&sources).map_err(|p| cannot_run(&p, path))?;
    for w in warnings.warnings() {
        eprintln!("{w}");
    }
    if let Some(m) = args.max_failures {
        workflow.max_failures = m;
    }
    let run_dir = match &args.run_dir {
        Some(d) => d.clone(),
        None => PathBuf::from("smo-runs").join(format!("{}-{}", workflow.name, timestamp())),
    };
    let run_dir = absolute(&run_dir)?;
    if run_dir.join("run.json").exists() {
        return Err(format!(
            "smo run: {} already holds a run; finish it with `smo run --resume {0}` or choose another --run-dir",
            run_dir.display()
        ));
    }
    let workdir =
        absolute(&args.workdir.clone().or_else(|| workflow.workdir.clone()).unwrap_or_else(|| run_dir.join("work")))?;
    let store = if let Some(host) = &args.registry {
        StoreRecord::Registry { host: host.clone(), plain_http: args.plain_http }
    } else if let Some(dir) = &args.artifacts {
        StoreRecord::Directory(absolute(dir)?)
    } else if let Some(host) = &workflow.registry.host {
        StoreRecord::Registry { host: host.clone(), plain_http: workflow.registry.plain_http }
    } else if let Some(dir) = &workflow.registry.filesystem {
        StoreRecord::Directory(absolute(dir)?)
    } else {
        StoreRecord::Directory(run_dir.join("artifacts"))
    };
    let uses_artifacts = workflow.steps.iter().any(|s| s.pull.is_some() || s.push.is_some());
    let store = match store {
        // Pods cannot reach a directory of this machine; without artifacts none is needed.
        StoreRecord::Directory(_) if args.executor == ExecutorKind::Kubernetes && !uses_artifacts => StoreRecord::None,
        other => other,
    };
    if args.executor == ExecutorKind::Kubernetes && matches!(store, StoreRecord::Directory(_)) {
        return Err(format!(
            "smo run: the kubernetes executor needs an OCI registry its Pods reach for the artifacts: pass --registry HOST:PORT (and --plain-http for plain HTTP), or set registry.host in {}",
            path.display()
        ));
    }
    if args.executor == ExecutorKind::Kubernetes && args.smo_image.is_none() {
        let calling = workflow.steps_calling_smo(!matches!(store, StoreRecord::None));
        if !calling.is_empty() {
            return Err(format!(
                "smo run: step(s) {} call `smo` in their Pods (to pass artifacts or compute custom metrics), which \
                 they get from an image: pass --smo-image IMAGE (or set SMO_IMAGE), e.g. the image `make image` \
                 builds; on the project's cluster `eval \"$(make -s cluster-env)\"` sets it",
                calling.join(", ")
            ));
        }
    }
    // A kubernetes run started again finds its sequences' Jobs and continues their ids, which
    // needs the same id permutation: by default the seed comes from the namespace and workflow.
    let seed = args.seed.unwrap_or_else(|| match args.executor {
        ExecutorKind::Local => random_seed(),
        ExecutorKind::Kubernetes => smo_core::names::stable_seed(&format!("{:?}/{}", args.namespace, workflow.name)),
    });
    let record = RunRecord {
        sources,
        workdir,
        store,
        seed,
        max_failures: args.max_failures,
        executor: args.executor,
        namespace: args.namespace.clone(),
        smo_image: args.smo_image.clone(),
    };
    for dir in [&run_dir, &record.workdir] {
        std::fs::create_dir_all(dir).map_err(|e| format!("smo run: cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&record).map_err(|e| format!("smo run: cannot record the run: {e}"))?;
    let record_path = run_dir.join("run.json");
    std::fs::write(&record_path, text).map_err(|e| format!("smo run: cannot write {}: {e}", record_path.display()))?;
    Ok((workflow, Plan { run_dir, record, smo: current_exe()?, resume: false }))
}

/// The workflow a run directory's `run.json` recorded, and where its steps ran (`local` or
/// `kubernetes`), for the inspection verbs.
pub(crate) fn recorded(dir: &Path) -> Result<(Workflow, &'static str), String> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let record: RunRecord = serde_json::from_str(&text).map_err(|e| format!("{} is damaged: {e}", path.display()))?;
    let (mut workflow, _) = documents::load(&record.sources).map_err(|p| {
        format!("{p}\n{}: the workflow it recorded no longer reads: see the problems above", path.display())
    })?;
    if let Some(m) = record.max_failures {
        workflow.max_failures = m;
    }
    let executor = match record.executor {
        ExecutorKind::Local => "local",
        ExecutorKind::Kubernetes => "kubernetes",
    };
    Ok((workflow, executor))
}

/// Reads `run.json` of `dir` back: the same workflow, directories, store and ids.
fn resume_plan(dir: &Path, args: &RunArgs) -> Result<(Workflow, Plan), String> {
    let run_dir = absolute(dir)?;
    let record_path = run_dir.join("run.json");
    let text = std::fs::read_to_string(&record_path).map_err(|e| {
        format!(
            "smo run: cannot resume {}: no readable run.json there ({e}); is it a run directory?",
            run_dir.display()
        )
    })?;
    let mut record: RunRecord = serde_json::from_str(&text).map_err(|e| {
        format!("smo run: cannot resume {}: {} is damaged: {e}", run_dir.display(), record_path.display())
    })?;
    if args.max_failures.is_some() {
        record.max_failures = args.max_failures;
    }
    let (mut workflow, _) =
        documents::load(&record.sources).map_err(|p| cannot_run(&p, Path::new(&record.sources.main.label)))?;
    if let Some(m) = record.max_failures {
        workflow.max_failures = m;
    }
    Ok((workflow, Plan { run_dir, record, smo: current_exe()?, resume: true }))
}

fn current_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("smo run: cannot find the smo executable: {e}"))
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("smo run: cannot resolve {}: {e}", path.display()))
}

/// `YYYYmmdd-HHMMSS` in UTC, for run directory names.
fn timestamp() -> String {
    smo_core::times::Utc::of(std::time::SystemTime::now()).compact()
}

/// A seed from std's per-process random keys.
fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// How the Kubernetes executor treats the cluster (flags of this run, not of the workflow).
struct ClusterSettings {
    limits: RequestLimits,
    infra_retries: u32,
    pending_timeout: Option<std::time::Duration>,
}

/// Starts the actors (and the live page on `ui`) and waits for the run to end.
fn execute(
    workflow: Arc<Workflow>,
    plan: &Plan,
    settings: ClusterSettings,
    bar: Option<ProgressBar>,
    ui: Option<std::net::SocketAddr>,
) -> Result<(RunReport, Option<ApiRequestCounts>), String> {
    let system = actix::System::new();
    // The live page's feed; a resumed run's page starts with what its journal holds (read
    // here, before the actors' thread runs).
    let live = ui.map(|addr| {
        let board = Board::new();
        let feed = board.feed(None, &workflow.name);
        if let Ok(earlier) = journal::read_times(&plan.run_dir.join("times.jsonl")) {
            feed.mark_all(earlier);
        }
        (addr, Live::new(board, "local", None), feed)
    });
    let record = plan.record.clone();
    let store = ArtifactStore::from(&record.store);
    let local = LocalConfig {
        run_dir: plan.run_dir.clone(),
        workdir: record.workdir.clone(),
        store: store.clone(),
        smo: plan.smo.clone(),
        max_nodes: workflow.max_size,
        setpriv: smo_actors::executor::local::find_setpriv(),
    };
    // A kubernetes run always starts from what the cluster has: the same command run again
    // carries on with the sequences whose Jobs exist.
    let restore = plan.resume || record.executor == ExecutorKind::Kubernetes;
    let journal_path = plan.run_dir.join("times.jsonl");
    system.block_on(async move {
        // The artifact store must be usable before the first step pushes to it.
        Registry::new(store.clone(), REGISTRY_PATIENCE)
            .start()
            .send(EnsureStore)
            .await
            .map_err(|e| format!("the registry actor failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let cluster = match record.executor {
            ExecutorKind::Local => None,
            ExecutorKind::Kubernetes => {
                let (client, default_namespace, requests) =
                    kubernetes::connect(settings.limits).await.map_err(|e| e.to_string())?;
                kubernetes::check_installed(&client, &workflow).await.map_err(|e| e.to_string())?;
                if let Some(refusal) = kubernetes::preflight::check_fit(&client, &workflow).await {
                    return Err(refusal.message);
                }
                let namespace = record.namespace.clone().unwrap_or(default_namespace);
                let logs = kubernetes::LogPlaces { dir: local.run_dir.join("logs"), save_root: None, budget: None };
                Some((
                    KubernetesConfig {
                        client,
                        namespace,
                        store,
                        // `smo run` uses a registry it is given, never one of its own.
                        registry_credentials: None,
                        infra_retries: settings.infra_retries,
                        pending_timeout: settings.pending_timeout,
                        smo_image: record.smo_image.clone(),
                        logs,
                        owner: None,
                        watch_restarts: None,
                    },
                    requests,
                ))
            }
        };
        let requests = cluster.as_ref().map(|(_, requests)| requests.clone());
        let cluster = cluster.map(|(config, _)| config);
        let workflow = match &cluster {
            Some(c) => Arc::new(in_namespace(&workflow, &c.namespace)),
            None => workflow,
        };
        let (done, finished) = tokio::sync::oneshot::channel();
        let display = ProgressDisplay::new(bar).start();
        let mut journal = Journal::open(journal_path);
        let mut reporting = None;
        let serving = live.is_some();
        if let Some((addr, page, feed)) = live {
            crate::live::serve(addr, page).await.map_err(|e| format!("cannot serve --ui {addr}: {e}"))?;
            eprintln!("smo run: the live page is at http://{addr}/");
            journal = journal.showing(Some(feed.clone()));
            reporting = Some(Reporting::to(&LiveReporter::new(feed).start()));
        }
        let runs_on = match cluster {
            Some(config) => RunsOn::Kubernetes(Box::new(config)),
            None => RunsOn::Local(local),
        };
        let manager = Manager::create(|ctx| {
            let (executor, watcher) = runs_on.wire(&workflow, ctx.address().recipient());
            Manager::new(
                workflow,
                ManagerConfig {
                    executor,
                    progress: Some(display.clone().recipient()),
                    seed: record.seed,
                    done,
                    watcher: Some(watcher),
                    journal: Some(journal),
                    restore,
                    carried: None,
                    reporting,
                },
            )
        });
        actix::spawn(forward_signals(manager.clone()));
        let report = finished.await.map_err(|_| "the workflow manager stopped without a report".to_string())?;
        if serving {
            // Open pages get the run's last status (sent at its end) before the page goes.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        Ok((report, requests.map(|r| r.counts())))
    })
}

/// The workflow with every step in `namespace` (the objects of a kubernetes run all live there).
fn in_namespace(workflow: &Workflow, namespace: &str) -> Workflow {
    let mut workflow = workflow.clone();
    workflow.namespace = Some(namespace.to_string());
    for step in &mut workflow.steps {
        step.namespace = namespace.to_string();
    }
    workflow
}

/// Turns Ctrl-C, SIGTERM and SIGHUP into a [`Shutdown`] of the run: running steps are stopped,
/// what is known is written, and the exit code is 128 + the signal (130, 143, 129).
async fn forward_signals(manager: Addr<Manager>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        tracing::warn!("cannot listen for SIGTERM/SIGHUP; only Ctrl-C stops the run cleanly");
        if tokio::signal::ctrl_c().await.is_ok() {
            manager.do_send(Shutdown {
                reason: "interrupted (Ctrl-C); running steps were stopped".into(),
                exit_code: 130,
            });
        }
        return;
    };
    // SIGUSR1 suspends the run (nothing new starts, the jobs running finish), SIGUSR2 resumes
    // it, as `spec.suspend` does for the operator.
    let (mut usr1, mut usr2) = (signal(SignalKind::user_defined1()).ok(), signal(SignalKind::user_defined2()).ok());
    let (name, code) = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break ("Ctrl-C", 130),
            _ = term.recv() => break ("SIGTERM", 143),
            _ = hup.recv() => break ("SIGHUP", 129),
            Some(()) = async { usr1.as_mut()?.recv().await } => manager.do_send(Suspend(true)),
            Some(()) = async { usr2.as_mut()?.recv().await } => manager.do_send(Suspend(false)),
        }
    };
    eprintln!();
    manager.do_send(Shutdown { reason: format!("interrupted ({name}); running steps were stopped"), exit_code: code });
}
