//! Runs step jobs as local processes: the original's bare-metal mode, without Flux.
//!
//! Each job gets
//! * a working directory `<workdir>/<jobid>/<step>` (the script's `$outpath`),
//! * its rendered script and `app-config` under `<run-dir>/jobs/<step>-<jobid>-<attempt>/`
//!   (outside the working directory, which artifacts are pulled into and pushed from), with
//!   `job.json` (which job it is), `pid` (its process group while it runs), `exit` (the script's
//!   exit status, written by the job itself as it ends) and `end.json` (how `smo` saw it end) —
//!   what a resumed run reads back ([`Executor::existing`]),
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
//!
//! An `smo` killed outright (SIGKILL, a power cut) cannot stop its steps itself. Each script
//! runs under `setpriv --pdeathsig TERM` (where util-linux's `setpriv` exists): when `smo` dies
//! the kernel signals the job's first process, which kills the job's process group — its jobs
//! die with it. A resumed run counts a job with `end.json` or `exit` as it ended: nothing that
//! finished runs twice (short of `smo` dying in the instant between a script's end and its
//! wrapper writing `exit`). A job with neither was cut off: if its process group still runs
//! (same pid, same start time — no `setpriv` here) it is killed, its directory and log are kept
//! aside as `<stem>.interrupted-N`, and its sequence runs that step again.
//!
//! File work is done with tokio's file API, so the actors' thread never waits on the disk.

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

use serde::{Deserialize, Serialize};
use smo_core::fsm::JobPhase;
use smo_core::jobs::script::{self, ArtifactStore, ScriptContext};
use smo_core::names::JobId;
use smo_core::workflow::Workflow;

use super::{Executor, ExistingJob, StepJob};
use crate::messages::{JobLog, JobObserved};
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
    /// `setpriv`, if this machine has it ([`find_setpriv`]): step scripts then run under
    /// `setpriv --pdeathsig TERM` (`JOB_WRAPPER`), so a job dies with an `smo` that is killed
    /// outright.
    pub setpriv: Option<PathBuf>,
}

/// The job's first process. It runs the script as its child (`wait` can be interrupted by a
/// trap, a foreground command could not), writes the script's exit status to the job's `exit`
/// file the moment it is known — so a resumed run knows the job ended even if `smo` died before
/// it could record that — and passes the status on.
///
/// Under `setpriv --pdeathsig TERM` the kernel sends it SIGTERM when `smo` dies, which
/// interrupts `wait`. What counts is whether the script is still running then, not when bash
/// gets round to the trap: a script still running is killed with the whole process group and
/// nothing is recorded (the job was cut off: it runs again); a script that has ended has its
/// own status recorded (bash keeps it for a second `wait`), then the group goes, with whatever
/// the script left behind.
const JOB_WRAPPER: &str = r#"trap 'stop=1' TERM
bash "$0" & child=$!
wait "$child"
if kill -0 "$child" 2>/dev/null; then kill -KILL 0; fi
wait "$child"; rc=$?
echo "$rc" > "$1"
[ -n "$stop" ] && kill -KILL 0
exit "$rc""#;

/// Where `setpriv` (util-linux) is, if on the `PATH`. Call before the actors start: it looks at
/// the file system.
pub fn find_setpriv() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("setpriv")).find(|p| p.is_file())
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
    /// The workflow run (to name the steps of jobs found after a restart).
    workflow: Arc<Workflow>,
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
    pub fn new(config: LocalConfig, workflow: Arc<Workflow>, events: Recipient<JobObserved>) -> LocalExecutor {
        let slots = Arc::new(Semaphore::new(config.max_nodes as usize));
        LocalExecutor {
            config: Rc::new(config),
            workflow,
            events,
            slots,
            running: Rc::default(),
            queued: Rc::default(),
        }
    }
}

/// `<step>-<jobid>-<attempt>`: the name of a job's script directory and log.
fn job_stem(step: &str, jobid: &JobId, attempt: u32) -> String {
    format!("{step}-{jobid}-{attempt}")
}

/// `job.json`: which job a job directory belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct JobRecord {
    jobid: JobId,
    step: String,
    attempt: u32,
}

/// `end.json`: how a job ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct EndRecord {
    succeeded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// When, seconds since the epoch.
    #[serde(default)]
    at: Option<f64>,
}

/// A file's modification time, seconds since the epoch.
async fn modified(path: &Path) -> Option<f64> {
    let time = tokio::fs::metadata(path).await.ok()?.modified().ok()?;
    time.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

async fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
    }
    tokio::fs::write(path, text).await.map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// Writes `text` to `path` so that a reader sees all of it or nothing (a crash mid-write
/// leaves no half record).
async fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, text).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Start time of process `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`):
/// with the pid it identifies a process, even after the pid is reused.
async fn start_time(pid: i32) -> Option<u64> {
    let stat = tokio::fs::read_to_string(format!("/proc/{pid}/stat")).await.ok()?;
    // The command name (field 2) may hold spaces: count from the `)` that closes it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Everything one job needs, prepared before it waits for node slots.
struct Prepared {
    key: JobKey,
    job_dir: PathBuf,
    script: PathBuf,
    outpath: PathBuf,
    log: PathBuf,
    saved_log: Option<PathBuf>,
    environment: Vec<(String, String)>,
    walltime: Option<Duration>,
    nodes: u32,
}

/// Writes a job's directory: script, `app-config`, `job.json`.
async fn prepare(config: &LocalConfig, job: &StepJob) -> Result<Prepared> {
    let step = job.workflow.steps.get(job.step).ok_or(Error::NoSuchStep(job.step))?;
    let stem = job_stem(&step.name, &job.jobid, job.attempt);
    let outpath = config.workdir.join(job.jobid.as_str()).join(&step.name);
    tokio::fs::create_dir_all(&outpath).await.map_err(|e| Error::io(format!("create {}", outpath.display()), e))?;
    let job_dir = config.run_dir.join("jobs").join(&stem);
    let config_file = job_dir.join("app-config");
    write(&config_file, step.app_config.as_deref().unwrap_or("")).await?;
    let smo = config.smo.display().to_string();
    let outpath_text = outpath.display().to_string();
    let config_text = config_file.display().to_string();
    let store = config.store.for_step(step);
    let text = script::render(&ScriptContext {
        step,
        jobid: &job.jobid,
        nodes: job.nodes,
        store: &store,
        smo: &smo,
        outpath: &outpath_text,
        config_file: &config_text,
        // A local run reads its jobs' logs itself (log_reader): the machine is the user's.
        metrics_config: None,
    })?;
    let script = job_dir.join("entrypoint.sh");
    write(&script, &text).await?;
    let record = JobRecord { jobid: job.jobid.clone(), step: step.name.clone(), attempt: job.attempt };
    let record = serde_json::to_string(&record)
        .map_err(|source| smo_core::Error::Serialize { what: "job.json".into(), source })?;
    write(&job_dir.join("job.json"), &record).await?;
    let saved_log = step
        .properties
        .save_path
        .as_ref()
        .map(|dir| dir.join("logs").join(format!("{}-{}-0.out", step.name, job.jobid)));
    let logs = config.run_dir.join("logs");
    tokio::fs::create_dir_all(&logs).await.map_err(|e| Error::io(format!("create {}", logs.display()), e))?;
    Ok(Prepared {
        key: (job.jobid.clone(), job.step, job.attempt),
        job_dir,
        script,
        outpath,
        log: logs.join(format!("{stem}.out")),
        saved_log,
        environment: smo_core::jobs::local_environment(&step.environment, &stem),
        walltime: step.walltime,
        nodes: job.nodes.clamp(1, config.max_nodes.max(1)),
    })
}

/// Runs one prepared job to its end and returns its phase.
async fn run(prepared: &Prepared, setpriv: Option<&Path>, running: &Rc<RefCell<HashMap<JobKey, i32>>>) -> JobPhase {
    let log = match tokio::fs::File::create(&prepared.log).await {
        Ok(f) => f.into_std().await,
        Err(e) => return JobPhase::Failed { reason: format!("cannot create log {}: {e}", prepared.log.display()) },
    };
    let err_log = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return JobPhase::Failed { reason: format!("cannot share log {}: {e}", prepared.log.display()) },
    };
    let mut command = match setpriv {
        Some(setpriv) => {
            let mut c = tokio::process::Command::new(setpriv);
            c.args(["--pdeathsig", "TERM", "bash"]);
            c
        }
        None => tokio::process::Command::new("bash"),
    };
    command
        .args(["-c", JOB_WRAPPER])
        .arg(&prepared.script)
        .arg(prepared.job_dir.join("exit"))
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
        // Lets a resumed run recognise the process group if this `smo` dies without ending it.
        if let Some(started) = start_time(pid).await
            && let Err(e) = write_atomically(&prepared.job_dir.join("pid"), &format!("{pid} {started}\n")).await
        {
            tracing::warn!(job = %prepared.job_dir.display(), error = %e, "cannot record the job's process");
        }
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

/// Records how a job ended, for a resumed run.
async fn record_end(prepared: &Prepared, phase: &JobPhase) {
    let at = Some(crate::journal::now());
    let record = match phase {
        JobPhase::Failed { reason } => EndRecord { succeeded: false, reason: Some(reason.clone()), at },
        _ => EndRecord { succeeded: true, reason: None, at },
    };
    let text = serde_json::to_string(&record).unwrap_or_default();
    if let Err(e) = write_atomically(&prepared.job_dir.join("end.json"), &text).await {
        tracing::warn!(job = %prepared.job_dir.display(), error = %e, "cannot record how the job ended; a resumed run would run it again");
    }
}

/// Every job of a run directory (see [`Executor::existing`]); cut-off jobs are killed if they
/// still run and set aside.
async fn existing_jobs(run_dir: &Path, workflow: &Workflow) -> Result<Vec<ExistingJob>> {
    let jobs_dir = run_dir.join("jobs");
    let mut entries = match tokio::fs::read_dir(&jobs_dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("list {}", jobs_dir.display()), e)),
    };
    let mut found = Vec::new();
    while let Some(entry) =
        entries.next_entry().await.map_err(|e| Error::io(format!("list {}", jobs_dir.display()), e))?
    {
        let dir = entry.path();
        let Ok(text) = tokio::fs::read_to_string(dir.join("job.json")).await else { continue };
        let Ok(record) = serde_json::from_str::<JobRecord>(&text) else { continue };
        let stem = job_stem(&record.step, &record.jobid, record.attempt);
        // Set aside earlier (`<stem>.interrupted-N`), or not a job of this workflow.
        let Some(step) = workflow.step_index(&record.step).filter(|_| entry.file_name() == stem.as_str()) else {
            continue;
        };
        let end = match tokio::fs::read_to_string(dir.join("end.json")).await {
            Ok(text) => serde_json::from_str::<EndRecord>(&text).ok(),
            // smo died before it recorded the end; the job's own record of its exit status.
            Err(_) => {
                match tokio::fs::read_to_string(dir.join("exit")).await.ok().and_then(|t| t.trim().parse::<i32>().ok())
                {
                    Some(code) => Some(EndRecord {
                        succeeded: code == 0,
                        reason: (code != 0).then(|| format!("exit code {code}")),
                        at: modified(&dir.join("exit")).await,
                    }),
                    None => None,
                }
            }
        };
        match end {
            Some(end) => {
                let phase = if end.succeeded {
                    JobPhase::Succeeded
                } else {
                    JobPhase::Failed { reason: end.reason.unwrap_or_else(|| "failed".into()) }
                };
                found.push(ExistingJob {
                    jobid: record.jobid,
                    step,
                    attempt: record.attempt,
                    phase,
                    started_at: modified(&dir.join("pid")).await,
                    ended_at: end.at,
                });
            }
            None => set_aside(run_dir, &dir, &stem).await,
        }
    }
    found.sort_by(|a, b| (&a.jobid, a.step, a.attempt).cmp(&(&b.jobid, b.step, b.attempt)));
    Ok(found)
}

/// A job cut off by the end of an earlier `smo`: kills what is left of it and renames its
/// directory and log to `<stem>.interrupted-N`.
async fn set_aside(run_dir: &Path, dir: &Path, stem: &str) {
    if let Ok(text) = tokio::fs::read_to_string(dir.join("pid")).await {
        let mut fields = text.split_whitespace().map(str::parse::<u64>);
        if let (Some(Ok(pid)), Some(Ok(started))) = (fields.next(), fields.next())
            && let Ok(pid) = i32::try_from(pid)
            && start_time(pid).await == Some(started)
        {
            tracing::info!(job = stem, pid, "killing what is left of a job cut off by an earlier smo");
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let mut n = 1;
    while tokio::fs::try_exists(dir.with_file_name(format!("{stem}.interrupted-{n}"))).await.unwrap_or(false) {
        n += 1;
    }
    let aside = format!("{stem}.interrupted-{n}");
    if let Err(e) = tokio::fs::rename(dir, dir.with_file_name(&aside)).await {
        tracing::warn!(job = stem, error = %e, "cannot set the cut-off job aside");
    }
    let log = run_dir.join("logs").join(format!("{stem}.out"));
    let _ = tokio::fs::rename(&log, run_dir.join("logs").join(format!("{aside}.out"))).await;
    tracing::info!(job = stem, "job was cut off by the end of an earlier smo; its step runs again");
}

impl Executor for LocalExecutor {
    fn metrics_from_logs(&self) -> bool {
        true
    }

    fn submit(&self, job: StepJob) -> LocalBoxFuture<'static, Result<()>> {
        let config = self.config.clone();
        let events = self.events.clone();
        let slots = self.slots.clone();
        let running = self.running.clone();
        let queued = self.queued.clone();
        Box::pin(async move {
            let prepared = prepare(&config, &job).await?;
            let setpriv = config.setpriv.clone();
            queued.borrow_mut().insert(prepared.key.clone());
            let observe = move |phase: JobPhase, duration: Option<Duration>, log: Option<JobLog>| JobObserved {
                jobid: job.jobid.clone(),
                step: job.step,
                attempt: job.attempt,
                phase,
                duration,
                log,
                metrics: None,
                waiting: None,
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
                let phase = run(&prepared, setpriv.as_deref(), &running).await;
                let duration = started.elapsed();
                record_end(&prepared, &phase).await;
                if let Some(saved) = &prepared.saved_log {
                    if let Some(parent) = saved.parent() {
                        let _ = tokio::fs::create_dir_all(parent).await;
                    }
                    if let Err(e) = tokio::fs::copy(&prepared.log, saved).await {
                        tracing::warn!(log = %saved.display(), error = %e, "cannot keep the job's log at save-path");
                    }
                }
                let log = JobLog { path: prepared.log.clone(), timestamped: false };
                events.do_send(observe(phase, Some(duration), Some(log)));
            });
            Ok(())
        })
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

    fn existing(&self) -> LocalBoxFuture<'static, Result<Vec<ExistingJob>>> {
        let (config, workflow) = (self.config.clone(), self.workflow.clone());
        Box::pin(async move { existing_jobs(&config.run_dir, &workflow).await })
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
