//! Runs step jobs as local processes: the original's bare-metal mode, without Flux.
//!
//! Each job gets
//! * a working directory `<workdir>/<jobid>/<step>` (the script's `$outpath`),
//! * its rendered script and `app-config` under `<run-dir>/jobs/<step>-<jobid>-<attempt>/`
//!   (outside the working directory, which artifacts are pulled into and pushed from),
//! * a log of stdout and stderr at `<run-dir>/logs/<step>-<jobid>-<attempt>.out`, also copied to
//!   `<save-path>/logs/<step>-<jobid>-0.out` when the step sets `save-path` (the original's name),
//! * the step's environment, and its own process group, so that a walltime, a repeat, a cleanup
//!   or Ctrl-C stops the script together with everything it started.
//!
//! Concurrency honours the node budget: a job of `nodes: n` holds `n` of the workflow's
//! `maxSize` node slots while it runs, and waits (Pending) until that many are free.
//!
//! A job ends with its script: whatever the script left running in the background is killed
//! with it (as a pod's containers end with the pod), so no job outlives its slots. Every live
//! process group is also listed in a process-wide registry, [`kill_all`], which the binary
//! calls when it is terminated or panics, so that no step outlives `smo`.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Recipient;
use futures::future::LocalBoxFuture;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::Semaphore;

use super::{Executor, StepJob};
use crate::fsm::JobPhase;
use crate::jobs::script::{self, ArtifactStore, ScriptContext};
use crate::messages::JobObserved;
use crate::names::JobId;
use crate::{Error, Result};

/// Where a local run keeps things and how its scripts reach artifacts.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Run directory: scripts and logs.
    pub run_dir: PathBuf,
    /// Base of the jobs' working directories.
    pub workdir: PathBuf,
    /// Artifact store the scripts pull from and push to.
    pub store: ArtifactStore,
    /// Path of the `smo` binary the scripts call for artifacts.
    pub smo: PathBuf,
    /// Node budget (the workflow's `maxSize`).
    pub max_nodes: u32,
}

type JobKey = (JobId, usize, u32);

/// Process groups of every job running in this process, for [`kill_all`].
static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn track(pgid: i32, live: bool) {
    if let Ok(mut groups) = LIVE_GROUPS.lock() {
        if live {
            groups.insert(pgid);
        } else {
            groups.remove(&pgid);
        }
    }
}

/// Kills every step process group this process started and that still runs. For the signal
/// handlers and the panic hook of the binary: steps run in their own process groups, so they
/// would otherwise outlive an `smo` that is terminated.
pub fn kill_all() {
    let groups: Vec<i32> = LIVE_GROUPS.lock().map(|g| g.iter().copied().collect()).unwrap_or_default();
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Runs step scripts with bash.
pub struct LocalExecutor {
    config: Rc<LocalConfig>,
    events: Recipient<JobObserved>,
    slots: Arc<Semaphore>,
    /// Process group of every running job (its pid, as the job leads its own group).
    running: Rc<RefCell<HashMap<JobKey, i32>>>,
    /// Jobs submitted and waiting for node slots; a job removed from here before it gets its
    /// slots never starts (a repeat, a cleanup, or the end of the run took it back).
    queued: Rc<RefCell<HashSet<JobKey>>>,
}

impl LocalExecutor {
    /// An executor reporting to `events`.
    pub fn new(config: LocalConfig, events: Recipient<JobObserved>) -> LocalExecutor {
        let slots = Arc::new(Semaphore::new(config.max_nodes as usize));
        LocalExecutor { config: Rc::new(config), events, slots, running: Rc::default(), queued: Rc::default() }
    }
}

/// `<step>-<jobid>-<attempt>`: the name of a job's script directory and log.
fn job_stem(step: &str, jobid: &JobId, attempt: u32) -> String {
    format!("{step}-{jobid}-{attempt}")
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// Everything one job needs, prepared before it waits for node slots.
struct Prepared {
    key: JobKey,
    script: PathBuf,
    outpath: PathBuf,
    log: PathBuf,
    saved_log: Option<PathBuf>,
    environment: Vec<(String, String)>,
    walltime: Option<Duration>,
    nodes: u32,
}

impl LocalExecutor {
    fn prepare(&self, job: &StepJob) -> Result<Prepared> {
        let step = job
            .workflow
            .steps
            .get(job.step)
            .ok_or_else(|| Error::Executor(format!("step {} does not exist", job.step)))?;
        let c = &self.config;
        let stem = job_stem(&step.name, &job.jobid, job.attempt);
        let outpath = c.workdir.join(job.jobid.as_str()).join(&step.name);
        std::fs::create_dir_all(&outpath).map_err(|e| Error::io(format!("create {}", outpath.display()), e))?;
        let job_dir = c.run_dir.join("jobs").join(&stem);
        let config_file = job_dir.join("app-config");
        write(&config_file, step.app_config.as_deref().unwrap_or(""))?;
        let smo = c.smo.display().to_string();
        let outpath_text = outpath.display().to_string();
        let config_text = config_file.display().to_string();
        let store = c.store.for_step(step);
        let text = script::render(&ScriptContext {
            step,
            jobid: &job.jobid,
            nodes: job.nodes,
            store: &store,
            smo: &smo,
            outpath: &outpath_text,
            config_file: &config_text,
        })?;
        let script = job_dir.join("entrypoint.sh");
        write(&script, &text)?;
        let saved_log = step
            .properties
            .save_path
            .as_ref()
            .map(|dir| dir.join("logs").join(format!("{}-{}-0.out", step.name, job.jobid)));
        let logs = c.run_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| Error::io(format!("create {}", logs.display()), e))?;
        Ok(Prepared {
            key: (job.jobid.clone(), job.step, job.attempt),
            script,
            outpath,
            log: logs.join(format!("{stem}.out")),
            saved_log,
            environment: step.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            walltime: step.walltime,
            nodes: job.nodes.clamp(1, c.max_nodes.max(1)),
        })
    }
}

/// Runs one prepared job to its end and returns its phase.
async fn run(prepared: &Prepared, running: &Rc<RefCell<HashMap<JobKey, i32>>>) -> JobPhase {
    let log = match std::fs::File::create(&prepared.log) {
        Ok(f) => f,
        Err(e) => return JobPhase::Failed { reason: format!("cannot create log {}: {e}", prepared.log.display()) },
    };
    let err_log = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return JobPhase::Failed { reason: format!("cannot share log {}: {e}", prepared.log.display()) },
    };
    let mut command = tokio::process::Command::new("bash");
    command
        .arg(&prepared.script)
        .current_dir(&prepared.outpath)
        .envs(prepared.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err_log))
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return JobPhase::Failed { reason: format!("cannot start bash: {e}") },
    };
    let pid = child.id().map(|p| p as i32);
    if let Some(pid) = pid {
        running.borrow_mut().insert(prepared.key.clone(), pid);
        track(pid, true);
    }
    let status = match prepared.walltime {
        Some(limit) => tokio::time::timeout(limit, child.wait()).await.ok(),
        None => Some(child.wait().await),
    };
    // The job is over when its script is: end whatever it left behind (and on a walltime, the
    // script itself), so that nothing keeps running without holding its node slots.
    if let Some(pid) = pid {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        track(pid, false);
    }
    running.borrow_mut().remove(&prepared.key);
    let Some(status) = status else {
        let _ = child.wait().await;
        let limit = prepared.walltime.map(|w| w.as_secs()).unwrap_or(0);
        return JobPhase::Failed { reason: format!("walltime of {limit}s exceeded; the job was killed") };
    };
    match status {
        Ok(s) if s.success() => JobPhase::Succeeded,
        Ok(s) => match s.code() {
            Some(code) => JobPhase::Failed { reason: format!("exit code {code}") },
            None => JobPhase::Failed { reason: "killed by a signal".into() },
        },
        Err(e) => JobPhase::Failed { reason: format!("cannot wait for the job: {e}") },
    }
}

impl Executor for LocalExecutor {
    fn submit(&self, job: StepJob) -> LocalBoxFuture<'static, Result<()>> {
        let prepared = match self.prepare(&job) {
            Ok(p) => p,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let events = self.events.clone();
        let slots = self.slots.clone();
        let running = self.running.clone();
        let queued = self.queued.clone();
        queued.borrow_mut().insert(prepared.key.clone());
        let observe = move |phase: JobPhase, duration: Option<Duration>, log: Option<PathBuf>| JobObserved {
            jobid: job.jobid.clone(),
            step: job.step,
            attempt: job.attempt,
            phase,
            duration,
            log,
        };
        events.do_send(observe(JobPhase::Pending, None, None));
        actix::spawn(async move {
            let permit = slots.acquire_many_owned(prepared.nodes).await;
            // Taken back while it waited (repeat, cleanup, end of the run): it never starts.
            if !queued.borrow_mut().remove(&prepared.key) {
                return;
            }
            let Ok(_permit) = permit else {
                return;
            };
            events.do_send(observe(JobPhase::Running, None, None));
            let started = Instant::now();
            let phase = run(&prepared, &running).await;
            let duration = started.elapsed();
            if let Some(saved) = &prepared.saved_log {
                if let Some(parent) = saved.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                if let Err(e) = std::fs::copy(&prepared.log, saved) {
                    tracing::warn!(log = %saved.display(), error = %e, "cannot keep the job's log at save-path");
                }
            }
            events.do_send(observe(phase, Some(duration), Some(prepared.log.clone())));
        });
        Box::pin(async { Ok(()) })
    }

    fn remove(&self, jobid: &JobId, step: usize, attempt: u32) -> LocalBoxFuture<'static, Result<()>> {
        let key = (jobid.clone(), step, attempt);
        self.queued.borrow_mut().remove(&key);
        if let Some(pid) = self.running.borrow().get(&key) {
            let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        Box::pin(async { Ok(()) })
    }

    fn cleanup(&self, jobid: &JobId) -> LocalBoxFuture<'static, Result<()>> {
        self.queued.borrow_mut().retain(|(id, _, _)| id != jobid);
        for ((id, _, _), pid) in self.running.borrow().iter() {
            if id == jobid {
                let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        Box::pin(async { Ok(()) })
    }

    fn shutdown(&self) -> LocalBoxFuture<'static, ()> {
        // Waiting jobs must not start once the run is over.
        self.queued.borrow_mut().clear();
        self.slots.close();
        for pid in self.running.borrow().values() {
            let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        Box::pin(async {})
    }
}
