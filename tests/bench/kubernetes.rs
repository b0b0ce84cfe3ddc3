//! The Kubernetes benchmark: `smo run --executor kubernetes` against the floor, on the project's
//! cluster, in one run (`make bench-kubernetes`; the cluster must be up).
//!
//! The workload (../shared/bench/floor/README.md): N sequences of 3 steps (`job_a → job_b →
//! job_c`), at most M active at once, every step one Job whose container exits 0 at once; a
//! finished sequence is replaced until N have finished.
//!
//! * **The floor** is the trivial orchestrator, written here as the reference `floor.py` is: one
//!   `LIST …&limit=1` for a resourceVersion, one label-selected WATCH of Jobs (a 410 Gone gets one
//!   fresh LIST), and on a Job's first `Complete`/`Failed` one POST of the next Job, on a few
//!   concurrent connections. Nothing else.
//! * **smo** runs the same workload from a StateMachine manifest (`coresPerTask: 0`: no CPU
//!   request, as the floor's pods; the step script is `true`), as a user would run it. Its API
//!   requests are its own count (`api-requests.json` of the run).
//! * **An observer** (its own watch of the namespace's Jobs, outside both) times every
//!   transition the same way for both: from a step's Job first seen `Complete` to the next step's
//!   Job first seen at all.
//!
//! Each orchestrator gets a fresh namespace, deleted (and waited for) before the next starts.
//!
//! * **The operator** (`--only operator`, or `--with-operator`): `smo operator` runs the same
//!   workload split into `--resources K` StateMachines (default 20) of N/K sequences, at most
//!   M/K active each, applied at once; its requests (status writes included) come from its own
//!   `/metrics`.
//!
//! * **The floor with smo's pods** (`--with-smo-pods`): the floor's algorithm submitting the Jobs
//!   smo builds (its script, and its step files projected from the pod's annotations): what
//!   smo's pods cost the node, apart from how smo orchestrates.
//!
//! Usage: `cargo bench --bench kubernetes -- [--sizes 200x100,1000x200]
//! [--only floor|floor-with-smo-pods|smo|operator] [--with-operator] [--with-smo-pods] [--resources K]
//! [--raise-controller-manager]`. With `--raise-controller-manager` the controller-manager is
//! restarted with `--kube-api-qps=200 --kube-api-burst=300` (v1.20 has no `--concurrent-job-syncs`) for the
//! run and restored after it (tests/cluster/restart.sh).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt as _};
use serde_json::json;
use smo_core::jobs::script::ArtifactStore;
use smo_core::jobs::{self, JobContext};
use smo_core::names::JobId;
use smo_core::workflow::Workflow;
use smo_core::workflow::documents::{Source, Sources};

const STEPS: [&str; 3] = ["job_a", "job_b", "job_c"];
const IMAGE: &str = "docker.io/library/debian:12-slim";
/// Concurrent POSTs of the floor (floor.py's `--creators`).
const CREATORS: usize = 4;
const RAISED_FLAGS: [&str; 2] = ["--kube-api-qps=200", "--kube-api-burst=300"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets` runs this target too, without `--bench`: check the arithmetic
    // only; the measurement needs the cluster and an hour.
    if !args.iter().any(|a| a == "--bench") {
        let values = sorted(vec![5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!((quantile(&values, 0.5), quantile(&values, 0.99), quantile(&values, 0.0)), (3.0, 5.0, 1.0));
        assert!(quantile(&[], 0.5).is_nan());
        println!("kubernetes benchmark: arithmetic checked; measure with `make bench-kubernetes`");
        return;
    }
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let sizes: Vec<(usize, usize)> = value("--sizes")
        .unwrap_or_else(|| "200x100,1000x200".into())
        .split(',')
        .filter_map(|s| {
            let (n, m) = s.split_once('x')?;
            Some((n.parse().ok()?, m.parse().ok()?))
        })
        .collect();
    let only = value("--only");
    let with_operator = args.iter().any(|a| a == "--with-operator") || only.as_deref() == Some("operator");
    let with_smo_pods = args.iter().any(|a| a == "--with-smo-pods") || only.as_deref() == Some("floor-with-smo-pods");
    let resources: usize = value("--resources").and_then(|r| r.parse().ok()).unwrap_or(20);
    let raise = args.iter().any(|a| a == "--raise-controller-manager");
    if sizes.is_empty() {
        eprintln!("--sizes: give NxM[,NxM…], e.g. 200x100");
        std::process::exit(2);
    }
    if raise {
        restart_controller_manager(&RAISED_FLAGS);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let results = runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::try_default().await.expect("a cluster client (eval \"$(make -s cluster-env)\")");
        let mut results = Vec::new();
        for &(n, m) in &sizes {
            for who in ["floor", "floor-with-smo-pods", "smo", "operator"] {
                if only.as_deref().is_some_and(|o| o != who)
                    || (who == "operator" && !with_operator)
                    || (who == "floor-with-smo-pods" && !with_smo_pods)
                {
                    continue;
                }
                let result = measure(&client, who, n, m, resources).await;
                println!("{}", serde_json::to_string(&result).unwrap_or_default());
                results.push(result);
            }
        }
        results
    });
    if raise {
        restart_controller_manager(&[]);
    }
    let controller_manager = if raise { RAISED_FLAGS.join(" ") } else { "defaults (QPS 20, burst 30)".into() };
    println!("\ncontroller-manager: {controller_manager}");
    println!(
        "| N × 3, M | who | wall (s) | ratio | transition p50 / p99 / max (ms) | reads | watches | writes | writes per step job | status writes (per resource per s) | smo CPU (s) | smo peak RSS (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        let floor = results.iter().find(|f| f.who == "floor" && f.n == r.n && f.m == r.m);
        let ratio = floor.map_or("-".into(), |f| format!("{:.2}", r.wall_s / f.wall_s));
        let (cpu, rss) = match (r.run.cpu_s, r.run.peak_rss_mib) {
            (Some(c), Some(m)) => (format!("{c:.1}"), format!("{m:.0}")),
            _ => ("-".into(), "-".into()),
        };
        let status = match r.run.status_writes {
            Some(w) => format!("{w} ({:.2})", w as f64 / resources as f64 / r.wall_s),
            None => "-".into(),
        };
        println!(
            "| {} × 3, {} | {} | {:.1} | {ratio} | {:.1} / {:.1} / {:.1} | {} | {} | {} | {:.2} | {status} | {cpu} | {rss} |",
            r.n,
            r.m,
            r.who,
            r.wall_s,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.run.reads,
            r.run.watches,
            r.run.writes,
            r.run.writes as f64 / (3 * r.n) as f64
        );
    }
}

#[derive(Debug, serde::Serialize)]
struct Measured {
    who: &'static str,
    n: usize,
    m: usize,
    wall_s: f64,
    transitions: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// How long the cluster took to run a Job (first seen → first seen Complete).
    job_p50_ms: f64,
    job_p99_ms: f64,
    /// Jobs in flight on average over the run.
    in_flight: f64,
    /// Share of the machine's CPU time busy during the run (all processes: the cluster too).
    cpu_busy: f64,
    /// The orchestrator's own counts.
    #[serde(flatten)]
    run: Run,
}

/// Runs one orchestrator on the workload in a fresh namespace, observed, and deletes it.
async fn measure(client: &Client, who: &'static str, n: usize, m: usize, resources: usize) -> Measured {
    let ns = format!("bench-{who}-{n}x{m}");
    wait_for_a_clean_node().await;
    create_namespace(client, &ns).await;
    let observer = Observer::start(client.clone(), &ns);
    eprintln!("[bench] {who}: {n} × 3, max {m}, namespace {ns}");
    let cpu_before = machine_cpu();
    let components_before = component_cpu();
    let run = match who {
        "floor" => floor(client.clone(), &ns, n, m, None).await,
        "floor-with-smo-pods" => floor(client.clone(), &ns, n, m, Some(Rc::new(workload_workflow(n, m)))).await,
        "operator" => operator(client.clone(), &ns, n, m, resources).await,
        _ => smo(&ns, n, m).await,
    };
    let cpu_busy = match (cpu_before, machine_cpu()) {
        (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
            (busy1 - busy0) as f64 / (total1 - total0) as f64
        }
        _ => f64::NAN,
    };
    let spent = spent_cpu(&components_before, &component_cpu());
    eprintln!("[bench] {who}: CPU seconds by component: {spent}");
    let observer = observer.stop();
    let lifetimes = sorted(observer.lifetimes());
    // Little's law: Jobs in flight on average = the time they spent in flight / the wall time.
    let in_flight = lifetimes.iter().sum::<f64>() / 1000.0 / run.wall.as_secs_f64();
    eprintln!(
        "[bench] {who}: Job first seen → Complete p50 {:.0} / p99 {:.0} ms; {in_flight:.1} Jobs in flight on average; machine CPU {:.0} % busy",
        quantile(&lifetimes, 0.5),
        quantile(&lifetimes, 0.99),
        cpu_busy * 100.0
    );
    let latencies = sorted(observer.transitions());
    let at = |q: f64| quantile(&latencies, q);
    let (decide, create) = observer.split_transitions();
    let (decide, create) = (sorted(decide), sorted(create));
    if !decide.is_empty() {
        eprintln!(
            "[bench] {who}: Job complete → next ConfigMap p50 {:.1} / p99 {:.1} / max {:.1} ms; ConfigMap → Job p50 {:.1} / p99 {:.1} / max {:.1} ms",
            quantile(&decide, 0.5),
            quantile(&decide, 0.99),
            decide.last().copied().unwrap_or(f64::NAN),
            quantile(&create, 0.5),
            quantile(&create, 0.99),
            create.last().copied().unwrap_or(f64::NAN),
        );
    }
    let measured = Measured {
        who,
        n,
        m,
        wall_s: run.wall.as_secs_f64(),
        transitions: latencies.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        job_p50_ms: quantile(&lifetimes, 0.5),
        job_p99_ms: quantile(&lifetimes, 0.99),
        in_flight,
        cpu_busy,
        run,
    };
    eprintln!("[bench] {who}: {:.1} s; deleting namespace {ns}", measured.wall_s);
    delete_namespace(client, &ns).await;
    measured
}

/// The node's containerd socket (tests/cluster/up.sh).
const CONTAINERD_SOCKET: &str = "/run/smo-k8s/containerd.sock";

/// Containers the node's containerd holds (running or exited), if `ctr` can say.
fn node_containers() -> Option<usize> {
    let out = Command::new("ctr")
        .args(["--address", CONTAINERD_SOCKET, "-n", "k8s.io", "containers", "ls", "-q"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).lines().count())
}

/// Waits until the kubelet has removed the containers of the Pods of earlier runs (their
/// namespace is gone, but removing thousands of containers takes the node minutes of CPU): a
/// run must not pay for the clean-up of the one before it.
async fn wait_for_a_clean_node() {
    /// Containers of anything else the cluster runs.
    const SETTLED: usize = 20;
    let started = Instant::now();
    let mut last = None;
    while let Some(count) = node_containers() {
        if count <= SETTLED {
            if started.elapsed() > Duration::from_secs(1) {
                eprintln!(
                    "[bench] the node removed earlier runs' containers in {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
            return;
        }
        if started.elapsed() > Duration::from_secs(1200) {
            eprintln!("[bench] the node still holds {count} containers after 20 min; going on");
            return;
        }
        if last != Some(count) {
            eprintln!("[bench] waiting for the node to remove {count} containers of earlier runs");
            last = Some(count);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    eprintln!("[bench] cannot count the node's containers (ctr on {CONTAINERD_SOCKET}); not waiting for a clean node");
}

/// CPU seconds used so far by each of the cluster's processes (as `tests/cluster/up.sh` records
/// them in `pids` beside the kubeconfig), by the Pods (the `kubepods` cgroup), and by the whole
/// machine (`machine`: busy time of all CPUs).
fn component_cpu() -> Vec<(String, f64)> {
    // Clock ticks per second: 100 on Linux (USER_HZ), whatever the kernel's HZ.
    const TICKS: f64 = 100.0;
    let mut out = Vec::new();
    let state = std::env::var("KUBECONFIG").ok().and_then(|k| Path::new(&k).parent().map(Path::to_path_buf));
    let pids = state.and_then(|dir| std::fs::read_to_string(dir.join("pids")).ok()).unwrap_or_default();
    for line in pids.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(pid)) = (words.next(), words.next()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Fields after the `(comm)`: utime and stime are the 12th and 13th.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
        out.push((name.to_string(), (ticks(11) + ticks(12)) / TICKS));
    }
    if let Ok(ns) = std::fs::read_to_string("/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage") {
        out.push(("pods".into(), ns.trim().parse::<f64>().unwrap_or(0.0) / 1e9));
    }
    if let Some((busy, _)) = machine_cpu() {
        out.push(("machine".into(), busy as f64 / TICKS));
    }
    out
}

/// `name X.X, …` for what each component used between two [`component_cpu`] readings, with
/// `other` (shims, runc, CNI plugins, the benchmark, smo…) as the machine's rest.
fn spent_cpu(before: &[(String, f64)], after: &[(String, f64)]) -> String {
    let mut parts = Vec::new();
    let (mut named, mut machine) = (0.0, None);
    for (name, end) in after {
        let Some((_, start)) = before.iter().find(|(n, _)| n == name) else { continue };
        let used = end - start;
        if name == "machine" {
            machine = Some(used);
        } else {
            named += used;
            parts.push(format!("{name} {used:.1}"));
        }
    }
    if let Some(total) = machine {
        parts.push(format!("other {:.1}", total - named));
        parts.push(format!("machine {total:.1}"));
    }
    parts.join(", ")
}

/// The machine's (busy, total) CPU time in clock ticks, from the first line of /proc/stat.
fn machine_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    let total: u64 = ticks.iter().sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// The `q` quantile of sorted `values` (nearest rank).
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let i = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
    values[i]
}

/// What one orchestrator run took.
#[derive(Debug, serde::Serialize)]
struct Run {
    /// As `wall_s` in [`Measured`].
    #[serde(skip)]
    wall: Duration,
    reads: u64,
    watches: u64,
    writes: u64,
    cpu_s: Option<f64>,
    peak_rss_mib: Option<f64>,
    status_writes: Option<u64>,
}

async fn create_namespace(client: &Client, ns: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(ns).await.ok().flatten().is_some() {
        eprintln!("[bench] namespace {ns} is left from an earlier run: deleting it first");
        delete_namespace(client, ns).await;
    }
    let body: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).expect("a Namespace");
    namespaces.create(&PostParams::default(), &body).await.unwrap_or_else(|e| panic!("create namespace {ns}: {e}"));
    // Pods are refused until the namespace has its default ServiceAccount.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    while accounts.get_opt("default").await.ok().flatten().is_none() {
        assert!(Instant::now() < deadline, "namespace {ns} got no default ServiceAccount");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn delete_namespace(client: &Client, ns: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let started = Instant::now();
    let _ = namespaces.delete(ns, &DeleteParams::default()).await;
    while namespaces.get_opt(ns).await.ok().flatten().is_some() {
        if started.elapsed() > Duration::from_secs(900) {
            eprintln!("[bench] namespace {ns} still there after 15 min; going on");
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("[bench] namespace {ns} deleted in {:.0} s", started.elapsed().as_secs_f64());
}

/// The floor's Job for one step of one sequence (floor.py's `job_body`).
fn floor_job(jobid: &str, step: &str) -> Job {
    let labels = json!({"app": step, "jobid": jobid});
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": format!("{}-{jobid}", step.replace('_', "-")), "labels": labels},
        "spec": {
            "parallelism": 1, "completions": 1, "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "step", "image": IMAGE, "command": ["/bin/true"]}]},
            },
        },
    }))
    .expect("a Job")
}

/// The Job smo submits for `step` of sequence `jobid` of `workflow` (the executor's way: the
/// rendered script and the step's files in the pod's annotations, projected at `/workdir`).
fn smo_job(workflow: &Workflow, jobid: &str, step: &str) -> Job {
    let step = workflow.step(step).expect("a step of the workload");
    let jobid = JobId::new(jobid);
    let ctx = JobContext {
        workflow,
        step,
        jobid: &jobid,
        attempt: 1,
        nodes: 1,
        owner: None,
        smo_image: None,
        files: None,
        registry_credentials: None,
    };
    let (_, workload) = jobs::step_job(&ctx, &ArtifactStore::None, "smo").expect("the workload's Job builds");
    match workload {
        jobs::Workload::Job(mut job) => {
            // The namespace is the request's.
            job.metadata.namespace = None;
            *job
        }
        _ => unreachable!("the workload's steps are batch Jobs"),
    }
}

/// The workload as smo reads it from its manifest.
fn workload_workflow(n: usize, m: usize) -> Workflow {
    let sources = Sources {
        main: Source { label: "bench".into(), text: workload_manifest(n, m) },
        name: "bench".into(),
        job_files: Default::default(),
    };
    smo_core::workflow::documents::load(&sources).expect("the workload's manifest is valid").0
}

/// The floor (see the module docs and floor.py); with `smo_pods`, it submits the Jobs smo
/// builds for that workflow instead of its own minimal ones (same algorithm, smo's pods).
async fn floor(client: Client, ns: &str, n: usize, m: usize, smo_pods: Option<Rc<Workflow>>) -> Run {
    let started = Instant::now();
    let jobs: Api<Job> = Api::namespaced(client, ns);
    let writes = Rc::new(std::cell::Cell::new(0_u64));
    let creators = Rc::new(tokio::sync::Semaphore::new(CREATORS));
    let local = tokio::task::LocalSet::new();
    let create = |jobid: String, step: &'static str| {
        let (jobs, writes, creators) = (jobs.clone(), writes.clone(), creators.clone());
        let body = match &smo_pods {
            Some(workflow) => smo_job(workflow, &jobid, step),
            None => floor_job(&jobid, step),
        };
        local.spawn_local(async move {
            let _permit = creators.acquire().await;
            writes.set(writes.get() + 1);
            if let Err(e) = jobs.create(&PostParams::default(), &body).await {
                eprintln!("[floor] create {jobid}/{step}: {e}");
            }
        });
    };
    let mut step_of: HashMap<String, usize> = HashMap::new();
    let mut handled: HashSet<String> = HashSet::new();
    let (mut launched, mut finished, mut reads, mut watches) = (0_usize, 0_usize, 0_u64, 0_u64);
    let start_sequence = |step_of: &mut HashMap<String, usize>, launched: &mut usize| {
        let jobid = format!("s{:05}", *launched);
        *launched += 1;
        step_of.insert(jobid.clone(), 0);
        create(jobid, STEPS[0]);
    };
    for _ in 0..m.min(n) {
        start_sequence(&mut step_of, &mut launched);
    }
    let list = ListParams::default().labels("jobid").limit(1);
    let watch_loop = async {
        reads += 1;
        let mut rv = jobs.list_metadata(&list).await.expect("LIST jobs").metadata.resource_version.unwrap_or_default();
        while finished < n {
            watches += 1;
            let params = WatchParams::default().labels("jobid");
            let mut stream = match jobs.watch(&params, &rv).await {
                Ok(s) => s.boxed(),
                Err(e) => {
                    eprintln!("[floor] watch: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let mut gone = false;
            while let Some(event) = stream.try_next().await.unwrap_or(None) {
                let job = match event {
                    WatchEvent::Modified(job) => job,
                    WatchEvent::Added(job) | WatchEvent::Deleted(job) => {
                        rv = job.resource_version().unwrap_or(rv);
                        continue;
                    }
                    WatchEvent::Bookmark(b) => {
                        rv = b.metadata.resource_version;
                        continue;
                    }
                    WatchEvent::Error(_) => {
                        gone = true;
                        break;
                    }
                };
                rv = job.resource_version().unwrap_or(rv);
                let name = job.name_any();
                if handled.contains(&name) {
                    continue;
                }
                let terminal = job.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| {
                    cs.iter()
                        .find(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))
                        .map(|c| c.type_.clone())
                });
                let Some(terminal) = terminal else { continue };
                handled.insert(name);
                let labels = job.labels();
                let (Some(jobid), Some(step)) = (labels.get("jobid").cloned(), labels.get("app").cloned()) else {
                    continue;
                };
                let Some(&k) = step_of.get(&jobid) else { continue };
                if STEPS[k] != step {
                    continue;
                }
                if terminal == "Complete" && k + 1 < STEPS.len() {
                    step_of.insert(jobid.clone(), k + 1);
                    create(jobid, STEPS[k + 1]);
                    continue;
                }
                step_of.remove(&jobid);
                finished += 1;
                if launched < n {
                    start_sequence(&mut step_of, &mut launched);
                }
                if finished >= n {
                    break;
                }
            }
            if gone {
                reads += 1;
                rv = jobs.list_metadata(&list).await.expect("LIST jobs").metadata.resource_version.unwrap_or_default();
            }
        }
    };
    local.run_until(watch_loop).await;
    let wall = started.elapsed();
    local.await;
    Run { wall, reads, watches, writes: writes.get(), cpu_s: None, peak_rss_mib: None, status_writes: None }
}

/// `smo run --executor kubernetes` on the workload, as a user runs it; CPU and peak RSS sampled
/// from /proc while it runs.
async fn smo(ns: &str, n: usize, m: usize) -> Run {
    let dir = std::env::temp_dir().join(format!("smo-bench-{ns}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    let manifest = dir.join("state-machine.yaml");
    std::fs::write(&manifest, workload_manifest(n, m)).expect("write the manifest");
    let run_dir = dir.join("run");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_smo"))
        .arg("run")
        .arg(&manifest)
        .args(["--executor", "kubernetes", "--namespace", ns, "--no-progress", "--run-dir"])
        // No step hands artifacts on: no registry.
        .env_remove("SMO_REGISTRY")
        .arg(&run_dir)
        .stdout(std::fs::File::create(dir.join("stdout")).expect("stdout file"))
        .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"))
        .spawn()
        .expect("start smo");
    let (sample, sampler) = sample_process(child.id().unwrap_or_default());
    let status = child.wait().await.expect("smo ends");
    let wall = started.elapsed();
    sampler.abort();
    let summary = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
    assert!(
        status.success(),
        "smo failed:\n{summary}\n{}",
        std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
    );
    assert!(summary.contains(&format!("sequences: {n} completed, 0 failed")), "{summary}");
    let counts: serde_json::Value = read_json(&run_dir.join("api-requests.json"));
    let count = |k: &str| counts[k].as_u64().unwrap_or(0);
    let (cpu, rss) = *sample.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Run {
        wall,
        reads: count("reads"),
        watches: count("watches"),
        writes: count("writes"),
        cpu_s: Some(cpu),
        peak_rss_mib: Some(rss),
        status_writes: None,
    }
}

/// The workload as a StateMachine manifest.
fn workload_manifest(n: usize, m: usize) -> String {
    let jobs = workload_jobs();
    format!(
        "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata:\n  name: bench\nspec:\n  workflow: {{completed: {n}}}\n  cluster: {{maxSize: {m}}}\n  jobs:\n{jobs}"
    )
}

/// The steps of the workload as a StateMachine's `jobs:` (no CPU request, `true` as the script).
fn workload_jobs() -> String {
    STEPS
        .iter()
        .map(|s| format!("  - name: {s}\n    image: {IMAGE}\n    config: {{coresPerTask: 0}}\n    script: \"true\"\n"))
        .collect()
}

/// Samples CPU and peak RSS of `pid` every 500 ms until aborted.
fn sample_process(pid: u32) -> (Arc<Mutex<(f64, f64)>>, tokio::task::JoinHandle<()>) {
    let sample = Arc::new(Mutex::new((0.0_f64, 0.0_f64)));
    let sampler = {
        let sample = sample.clone();
        tokio::spawn(async move {
            loop {
                if let Some((cpu, rss)) = proc_sample(pid) {
                    let mut s = sample.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    *s = (cpu, s.1.max(rss));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    (sample, sampler)
}

/// GET `path` of `host` over plain HTTP/1.0; the body.
async fn http_get(host: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.lines().next().is_some_and(|status| status.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

/// The sum of every sample of metric `name` with `label` (`key="value"`, or "" for all).
fn metric_sum(scrape: &str, name: &str, label: &str) -> u64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// `smo operator` on the workload split into `k` StateMachines applied at once (see the module
/// docs); its own `/metrics` counts its requests and status writes.
async fn operator(client: Client, ns: &str, n: usize, m: usize, k: usize) -> Run {
    let dir = std::env::temp_dir().join(format!("smo-bench-{ns}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    let crd = Command::new(env!("CARGO_BIN_EXE_smo")).arg("crd").output().expect("smo crd");
    std::fs::write(dir.join("crd.yaml"), &crd.stdout).expect("write the CRD");
    let applied = Command::new("kubectl").arg("apply").arg("-f").arg(dir.join("crd.yaml")).output().expect("kubectl");
    assert!(applied.status.success(), "cannot install the CRD: {}", String::from_utf8_lossy(&applied.stderr));
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port");
    let host = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_smo"))
        .args(["operator", "--namespace", ns, "--metrics-addr", &host, "--data-dir"])
        .arg(dir.join("data"))
        .env_remove("SMO_REGISTRY")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"))
        .spawn()
        .expect("start smo operator");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(&host, "/readyz").await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the operator is not ready: {}",
            std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (sample, sampler) = sample_process(child.id().unwrap_or_default());
    let api = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        ns,
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "state-machine.converged-computing.org",
            "v1alpha1",
            "StateMachine",
        )),
    );
    let started = Instant::now();
    let (per, active) = (n / k, (m / k).max(1));
    for i in 0..k {
        let text = format!(
            "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata:\n  name: bench-{i:02}\nspec:\n  workflow: {{completed: {per}, prefix: b{i:02}_}}\n  cluster: {{maxSize: {active}}}\n  jobs:\n{}",
            workload_jobs()
        );
        let object: kube::api::DynamicObject = serde_saphyr::from_str(&text).expect("a StateMachine");
        api.create(&PostParams::default(), &object).await.unwrap_or_else(|e| panic!("create bench-{i:02}: {e}"));
    }
    loop {
        let list = api.list(&ListParams::default()).await.expect("list StateMachines");
        let phases: Vec<String> =
            list.items.iter().map(|o| o.data["status"]["phase"].as_str().unwrap_or("-").to_string()).collect();
        assert!(!phases.iter().any(|p| p == "Failed"), "a StateMachine failed: {phases:?}");
        if phases.len() == k && phases.iter().all(|p| p == "Succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let wall = started.elapsed();
    let scrape = http_get(&host, "/metrics").await.unwrap_or_default();
    sampler.abort();
    let (cpu, rss) = *sample.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = child.kill().await;
    let completed = metric_sum(&scrape, "smo_sequences_total", "event=\"completed\"");
    assert_eq!(completed as usize, per * k, "completed sequences by the metrics: {scrape}");
    Run {
        wall,
        reads: metric_sum(&scrape, "smo_kube_api_requests_total", "category=\"read\""),
        watches: metric_sum(&scrape, "smo_kube_api_requests_total", "category=\"watch\""),
        writes: metric_sum(&scrape, "smo_kube_api_requests_total", "category=\"write\""),
        cpu_s: Some(cpu),
        peak_rss_mib: Some(rss),
        status_writes: Some(metric_sum(&scrape, "smo_status_writes_total", "")),
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// CPU seconds (user + system) and peak RSS (MiB) of process `pid`, from /proc.
fn proc_sample(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15 (1-based).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / 100.0, hwm_kib / 1024.0))
}

/// A watch of every Job of a namespace, outside the orchestrator, noting when each Job was first
/// seen and first seen done; and of ConfigMaps labelled with a `jobid`, noting when each was
/// first seen (smo creates one before each Job: this splits its transitions in two).
struct Observer {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    config_maps: Arc<Mutex<HashMap<(String, String), Instant>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Seen {
    jobid: String,
    step: String,
    added: Option<Instant>,
    complete: Option<Instant>,
}

impl Observer {
    fn start(client: Client, ns: &str) -> Observer {
        let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
        let config_maps: Arc<Mutex<HashMap<(String, String), Instant>>> = Arc::default();
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let record_maps = config_maps.clone();
        let map_task = tokio::spawn(async move {
            let mut stream = watcher(maps, watcher::Config::default().labels("jobid")).boxed();
            while let Some(event) = stream.next().await {
                let now = Instant::now();
                if let Ok(watcher::Event::Apply(map) | watcher::Event::InitApply(map)) = event {
                    let key = |k: &str| map.labels().get(k).cloned().unwrap_or_default();
                    let mut maps = record_maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    maps.entry((key("jobid"), key("app"))).or_insert(now);
                }
            }
        });
        let jobs: Api<Job> = Api::namespaced(client, ns);
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(jobs, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                let now = Instant::now();
                let job = match event {
                    Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) => job,
                    _ => continue,
                };
                let mut seen = record.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let entry = seen.entry(job.name_any()).or_insert_with(|| Seen {
                    jobid: job.labels().get("jobid").cloned().unwrap_or_default(),
                    step: job.labels().get("app").cloned().unwrap_or_default(),
                    ..Seen::default()
                });
                entry.added.get_or_insert(now);
                let complete = job
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Complete" && c.status == "True"));
                if complete {
                    entry.complete.get_or_insert(now);
                }
            }
        });
        Observer { seen, config_maps, tasks: vec![task, map_task] }
    }

    fn stop(self) -> Self {
        for task in &self.tasks {
            task.abort();
        }
        self
    }

    /// For transitions whose next Job had a ConfigMap: milliseconds from the step's Job first
    /// seen complete to the next ConfigMap first seen, and from that to the next Job first seen.
    fn split_transitions(&self) -> (Vec<f64>, Vec<f64>) {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let maps = self.config_maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let by_step: HashMap<(&str, &str), &Seen> =
            seen.values().map(|s| ((s.jobid.as_str(), s.step.as_str()), s)).collect();
        let (mut decide, mut create) = (Vec::new(), Vec::new());
        for s in seen.values() {
            let Some(k) = STEPS.iter().position(|step| *step == s.step) else { continue };
            let Some(next) = STEPS.get(k + 1) else { continue };
            let map = maps.get(&(s.jobid.clone(), (*next).to_string()));
            let job = by_step.get(&(s.jobid.as_str(), next)).and_then(|n| n.added);
            if let (Some(done), Some(map), Some(job)) = (s.complete, map, job) {
                decide.push(map.saturating_duration_since(done).as_secs_f64() * 1000.0);
                create.push(job.saturating_duration_since(*map).as_secs_f64() * 1000.0);
            }
        }
        (decide, create)
    }

    /// Milliseconds from each Job first seen to first seen complete: how long the cluster took
    /// to run it, whoever created it.
    fn lifetimes(&self) -> Vec<f64> {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.values()
            .filter_map(|s| Some(s.complete?.saturating_duration_since(s.added?).as_secs_f64() * 1000.0))
            .collect()
    }

    /// Milliseconds from each step's Job first seen complete to the next step's Job first seen.
    fn transitions(&self) -> Vec<f64> {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let by_step: HashMap<(&str, &str), &Seen> =
            seen.values().map(|s| ((s.jobid.as_str(), s.step.as_str()), s)).collect();
        let mut out = Vec::new();
        for s in seen.values() {
            let Some(k) = STEPS.iter().position(|step| *step == s.step) else { continue };
            let Some(next) = STEPS.get(k + 1) else { continue };
            if let (Some(done), Some(Some(added))) =
                (s.complete, by_step.get(&(s.jobid.as_str(), next)).map(|n| n.added))
            {
                out.push(added.saturating_duration_since(done).as_secs_f64() * 1000.0);
            }
        }
        out
    }
}

/// Restarts the cluster's controller-manager with `flags` (none: its first command line).
fn restart_controller_manager(flags: &[&str]) {
    let script: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/restart.sh");
    let status = Command::new(script).arg("controller-manager").args(flags).status().expect("run restart.sh");
    assert!(status.success(), "restart.sh controller-manager {flags:?} failed");
}
