//! `smo run WORKFLOW`: run a workflow to completion on this machine.
//!
//! Loads and validates the workflow, prepares the run directory, starts the actor system
//! (Manager, JobWatcher, local executor, progress display), waits for the end or Ctrl-C, then
//! writes `workflow-times.json` and prints the summary. Exit code: 0 when the workflow
//! succeeded, 1 when it failed (with a one-line reason), 2 when it could not start, 130 after
//! Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use indicatif::ProgressBar;
use smo_actors::executor::local::{LocalConfig, LocalExecutor};
use smo_actors::job_watcher::JobWatcher;
use smo_actors::jobs::script::ArtifactStore;
use smo_actors::manager::{Manager, ManagerConfig, RunReport};
use smo_actors::messages::Shutdown;
use smo_actors::registry::{EnsureStore, Registry};
use smo_actors::workflow::{Workflow, load};

use crate::cli::RunArgs;
use crate::ui::ProgressDisplay;

/// Exit code when the run could not start (invalid workflow, unusable directories, no registry).
const CANNOT_START: u8 = 2;

/// How long a registry may take to answer before the run gives up.
const REGISTRY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the workflow; see the module docs for the exit codes.
pub fn run(args: &RunArgs, bar: Option<ProgressBar>) -> ExitCode {
    let (mut workflow, warnings) = match load::load(&args.workflow, args.config_dir.as_deref()) {
        Ok(loaded) => loaded,
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!("smo run: cannot run {}: see the problems above", args.workflow.display());
            return ExitCode::from(CANNOT_START);
        }
    };
    for w in warnings.warnings() {
        eprintln!("{w}");
    }
    if let Some(m) = args.max_failures {
        workflow.max_failures = m;
    }
    let plan = match Plan::new(args, &workflow) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("smo run: {e}");
            return ExitCode::from(CANNOT_START);
        }
    };
    tracing::info!(run_dir = %plan.run_dir.display(), artifacts = %plan.store.location(), "run directory ready");
    let workflow = Arc::new(workflow);
    let report = execute(workflow.clone(), &plan, args.seed, bar.clone());
    // The display actor may not get to run again once the system returns: clear the bar here,
    // before the summary is printed.
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smo run: {e}");
            return ExitCode::from(CANNOT_START);
        }
    };
    let times_path = plan.run_dir.join("workflow-times.json");
    if let Err(e) = std::fs::write(&times_path, report.times.to_json()) {
        eprintln!("smo run: cannot write {}: {e}", times_path.display());
    }
    println!("{}", smo_actors::report::run_summary(&report, &workflow));
    eprintln!("times: {}", times_path.display());
    let code = report.outcome.exit_code();
    if code != 0 {
        eprintln!("smo run: {}", report.outcome.reason());
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Where a run puts things.
struct Plan {
    run_dir: PathBuf,
    workdir: PathBuf,
    store: ArtifactStore,
    smo: PathBuf,
}

impl Plan {
    fn new(args: &RunArgs, workflow: &Workflow) -> Result<Plan, String> {
        let run_dir = match &args.run_dir {
            Some(d) => d.clone(),
            None => PathBuf::from("smo-runs").join(format!("{}-{}", workflow.name, timestamp())),
        };
        let run_dir = absolute(&run_dir)?;
        let workdir = absolute(
            &args.workdir.clone().or_else(|| workflow.workdir.clone()).unwrap_or_else(|| run_dir.join("work")),
        )?;
        let store = if let Some(host) = &args.registry {
            ArtifactStore::Registry { host: host.clone(), plain_http: args.plain_http }
        } else if let Some(dir) = &args.artifacts {
            ArtifactStore::Directory(absolute(dir)?)
        } else if let Some(host) = &workflow.registry.host {
            ArtifactStore::Registry { host: host.clone(), plain_http: workflow.registry.plain_http }
        } else if let Some(dir) = &workflow.registry.filesystem {
            ArtifactStore::Directory(absolute(dir)?)
        } else {
            ArtifactStore::Directory(run_dir.join("artifacts"))
        };
        for dir in [&run_dir, &workdir] {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let smo = std::env::current_exe().map_err(|e| format!("cannot find the smo executable: {e}"))?;
        Ok(Plan { run_dir, workdir, store, smo })
    }
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))
}

/// `YYYYmmdd-HHMMSS` in UTC, for run directory names.
fn timestamp() -> String {
    smo_actors::times::Utc::of(std::time::SystemTime::now()).compact()
}

/// Starts the actors and waits for the run to end.
fn execute(
    workflow: Arc<Workflow>,
    plan: &Plan,
    seed: Option<u64>,
    bar: Option<ProgressBar>,
) -> Result<RunReport, String> {
    let system = actix::System::new();
    let config = LocalConfig {
        run_dir: plan.run_dir.clone(),
        workdir: plan.workdir.clone(),
        store: plan.store.clone(),
        smo: plan.smo.clone(),
        max_nodes: workflow.max_size,
    };
    let store = plan.store.clone();
    system.block_on(async move {
        // The artifact store must be usable before the first step pushes to it.
        Registry::new(store, REGISTRY_PATIENCE)
            .start()
            .send(EnsureStore)
            .await
            .map_err(|e| format!("the registry actor failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let (done, finished) = tokio::sync::oneshot::channel();
        let display = ProgressDisplay::new(bar).start();
        let manager = Manager::create(|ctx| {
            let watcher = JobWatcher::new(ctx.address().recipient()).start();
            let executor = LocalExecutor::new(config, watcher.clone().recipient());
            Manager::new(
                workflow,
                ManagerConfig {
                    executor: Rc::new(executor),
                    progress: Some(display.clone().recipient()),
                    seed,
                    done,
                    forget: Some(watcher.recipient()),
                },
            )
        });
        actix::spawn(forward_signals(manager.clone()));
        finished.await.map_err(|_| "the workflow manager stopped without a report".to_string())
    })
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
    let (name, code) = tokio::select! {
        _ = tokio::signal::ctrl_c() => ("Ctrl-C", 130),
        _ = term.recv() => ("SIGTERM", 143),
        _ = hup.recv() => ("SIGHUP", 129),
    };
    eprintln!();
    manager.do_send(Shutdown { reason: format!("interrupted ({name}); running steps were stopped"), exit_code: code });
}
