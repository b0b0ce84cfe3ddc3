//! `smo operator` against the project's own cluster: StateMachine resources applied with
//! kubectl run to their end, with status, conditions `kubectl wait` understands, Events, owner
//! references, spec changes, deletion and a restart of the operator mid-run.
//!
//! `#[ignore]`d in a plain `cargo test`; `make test-cluster` starts the cluster and runs them.
//! Each test works in a namespace of its own, with an operator of its own watching only it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::cluster::{
    Installed, Namespace, eventually, image, install_crd, install_custom_crds, kubectl, kubectl_with_input, per_job,
    registry, restart_component, serve_jobsets_but_not_miniclusters, text, timeline_of,
};
use common::smo;
use serde_json::Value;

/// An `smo operator` watching one namespace, killed when dropped; its log is kept in `log`.
struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    /// An operator whose `--registry` is the cluster's registry.
    fn start(ns: &Namespace, dir: &Path) -> Operator {
        Self::start_with(ns, dir, &[])
    }

    /// An operator whose `--registry` is the cluster's registry, with `extra` arguments.
    fn start_with(ns: &Namespace, dir: &Path, extra: &[&str]) -> Operator {
        let registry = registry();
        let mut args = vec!["--registry", &registry, "--plain-http"];
        args.extend_from_slice(extra);
        Self::spawn(ns, dir, &args)
    }

    /// An operator with `args` (besides its namespace, smo image and data directory).
    fn spawn(ns: &Namespace, dir: &Path, args: &[&str]) -> Operator {
        let smo_image = std::env::var("SMO_TEST_SMO_IMAGE").unwrap_or_else(|_| "docker.io/library/smo:dev".into());
        let mut with_image = vec!["--smo-image", &smo_image];
        with_image.extend_from_slice(args);
        Self::spawn_bare(ns, dir, &with_image)
    }

    /// An operator with `args` besides its namespace and data directory (no smo image).
    fn spawn_bare(ns: &Namespace, dir: &Path, args: &[&str]) -> Operator {
        install_crd();
        let log = unique(dir);
        let file = std::fs::File::create(&log).expect("create the operator's log");
        let child = smo()
            .args(["operator", "--namespace", &ns.0])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(args)
            // Only what `args` says: not the cluster's registry or images from the environment.
            .env_remove("SMO_REGISTRY")
            .env_remove("SMO_IMAGE")
            .env_remove("SMO_REGISTRY_IMAGE")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start smo operator");
        Operator { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a node failure or an OOM kill would.
    fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log file in `dir` no other operator of this test binary uses.
fn unique(dir: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    dir.join(format!("operator-{}.log", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
}

/// A StateMachine named `name` with `spec_head` (workflow/cluster lines) and steps (name,
/// script) that ask for no CPU.
fn state_machine(name: &str, spec_head: &str, steps: &[(&str, &str)]) -> String {
    common::cluster::state_machine(name, spec_head, steps, 0)
}

fn apply(ns: &Namespace, manifest: &str) {
    let out = kubectl_with_input(&["-n", &ns.0, "apply", "-f", "-"], manifest.as_bytes());
    assert!(out.status.success(), "kubectl apply: {}", text(&out));
}

/// The resource as JSON.
fn get(ns: &Namespace, name: &str) -> Value {
    let out = kubectl(&["-n", &ns.0, "get", "statemachine", name, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("kubectl prints JSON")
}

/// `kubectl wait --for=condition=<condition>`, as a user would; fails the test with the
/// resource and the operator's log if it does not return in time.
fn wait_for(ns: &Namespace, name: &str, condition: &str, operator: &Operator, seconds: u32) {
    let timeout = format!("--timeout={seconds}s");
    let target = format!("statemachine/{name}");
    let out = kubectl(&["-n", &ns.0, "wait", &format!("--for=condition={condition}"), &target, &timeout]);
    assert!(
        out.status.success(),
        "kubectl wait for {condition}: {}\nresource: {:#}\noperator log:\n{}",
        text(&out),
        get(ns, name)["status"],
        operator.log()
    );
}

/// The Events on StateMachines in the namespace: reason, and how often it happened (an Event
/// repeated within minutes is one object whose series counts the repeats).
fn events(ns: &Namespace) -> Vec<(String, u64)> {
    // events.k8s.io/v1, as the operator writes them: kube 1.20's core/v1 view leaves `count` out.
    let out = kubectl(&["-n", &ns.0, "get", "events.events.k8s.io", "-o", "json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["regarding"]["kind"] == "StateMachine")
        .map(|e| (e["reason"].as_str().unwrap_or("").to_string(), e["series"]["count"].as_u64().unwrap_or(1)))
        .collect()
}

/// The reasons of the Events on StateMachines in the namespace.
fn event_reasons(ns: &Namespace) -> Vec<String> {
    events(ns).into_iter().map(|(reason, _)| reason).collect()
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// The original's CI scenario as a resource in its format (`tests/fixtures/original`, its
/// `rockylinux:9` being the cluster's Debian image), the operator's `--registry` standing in for its empty
/// `registry.host`: Succeeded with 4 completed, exactly 12 successful Jobs owned by the resource,
/// `kubectl wait --for=condition=Complete` returns, and the end is an Event.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn the_originals_state_machine_runs_to_complete_under_the_operator() {
    let original = common::original_fixture("state-machine.yaml");
    let ns = Namespace::new("op-ci");
    let dir = tempfile::tempdir().expect("tempdir");
    let ui = format!("127.0.0.1:{}", common::free_port());
    let operator = Operator::start_with(&ns, dir.path(), &["--ui-addr", &ui]);
    let manifest = std::fs::read_to_string(original).expect("read the fixture");
    apply(&ns, &manifest);
    // A person's browser opens the live page as the run starts and keeps it open (one load):
    // its stream ends with the run, then the page's clock runs 10 s more before it is read.
    let url = format!("http://{ui}/");
    let watching = std::thread::spawn(move || common::Browser::new().dom(&url, Duration::from_secs(10)));
    wait_for(&ns, "state-machine", "Complete", &operator, 300);
    let dom = watching.join().expect("the browser thread");
    let body = |name: &str| common::attribute(&dom, "body", name).unwrap_or_default();
    assert_eq!(body("data-phase"), "Succeeded", "the page shows the workflow's end\n{dom}");
    assert_eq!((body("data-completed").as_str(), body("data-wanted").as_str()), ("4", "4"), "{dom}");
    assert_eq!(body("data-spans"), "12", "4 sequences × 3 steps on the timeline\n{dom}");
    let trace: Vec<u32> = dom
        .split("<pre id=\"trace\" hidden=\"\">")
        .nth(1)
        .and_then(|t| t.split("</pre>").next())
        .map(|t| t.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    assert!(
        trace.len() >= 3 && trace.windows(2).all(|w| w[0] <= w[1]) && trace.first() < trace.last(),
        "the timeline grew without a reload: {trace:?}"
    );
    assert!(dom.contains(&format!("<td>{}/state-machine</td>", ns.0)), "the workflow is listed: {dom}");
    // The page as a person saw it, kept with the test's output.
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page-operator.png");
    common::Browser::new().screenshot(&format!("http://{ui}/"), Duration::from_secs(3), (1280, 1600), &shot);
    eprintln!("the live page, as Chromium showed it: {}", shot.display());
    let sm = get(&ns, "state-machine");
    let status = &sm["status"];
    assert_eq!(status["phase"], "Succeeded", "{status:#}");
    assert_eq!(
        (status["completed"].as_i64(), status["failed"].as_i64()),
        (Some(4), Some(0)),
        "{status:#}\noperator log:\n{}",
        operator.log()
    );
    assert_eq!(status["observedGeneration"], sm["metadata"]["generation"]);
    let steps = status["steps"].as_array().cloned().unwrap_or_default();
    let succeeded: Vec<(String, i64)> = steps
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or("").to_string(), s["succeeded"].as_i64().unwrap_or(-1)))
        .collect();
    assert_eq!(succeeded, vec![("job_a".into(), 4), ("job_b".into(), 4), ("job_c".into(), 4)], "{status:#}");
    assert!(status["completionTime"].is_string() && status["startTime"].is_string(), "{status:#}");
    let jobs = ns.jobs_of("state-machine");
    assert_eq!(jobs.len(), 12, "exactly 4 sequences × 3 steps: {jobs:?}");
    assert!(jobs.iter().all(|j| j.2 == "Complete"), "no failed Job: {jobs:?}");
    assert!(per_job(&jobs).values().all(|n| *n == 1), "one Job per (jobid, step): {jobs:?}");
    // Every Job is owned by the resource (deleting it deletes them).
    let uid = sm["metadata"]["uid"].as_str().expect("uid").to_string();
    let out = kubectl(&["-n", &ns.0, "get", "jobs", "-o", "jsonpath={.items[*].metadata.ownerReferences[0].uid}"]);
    let owners: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect();
    assert_eq!(owners.len(), 12, "{owners:?}");
    assert!(owners.iter().all(|o| *o == uid), "owned by {uid}: {owners:?}");
    // The end is an Event on the resource; successful jobs are not. (Steps that waited long for
    // room on the 2-CPU node may have said so, once per step: StepPending.)
    let events = eventually(Duration::from_secs(20), "no Succeeded Event", || {
        let reasons: Vec<String> = event_reasons(&ns).into_iter().filter(|r| r != "StepPending").collect();
        if reasons.iter().any(|r| r == "Succeeded") { Ok(reasons) } else { Err(reasons) }
    });
    assert_eq!(events, vec!["Succeeded".to_string()], "one Event, for the end");
    // kubectl get shows phase and progress.
    let out = kubectl(&["-n", &ns.0, "get", "statemachines"]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(table.contains("Succeeded") && table.contains("PHASE"), "{table}");
    // So do smo get (as kubectl would, with the counts against what is wanted) and describe.
    let out = smo().args(["get", "-n", &ns.0]).output().expect("smo get");
    let listed = text(&out);
    assert!(out.status.success(), "{listed}");
    let row: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(row[..6], ["state-machine", "Succeeded", "4/4", "0", "0", "0"], "{listed}");
    let out = smo().args(["get", "-A", "-o", "json"]).output().expect("smo get -A -o json");
    let all: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let items = all["items"].as_array().cloned().unwrap_or_else(|| vec![all.clone()]);
    assert!(items.iter().any(|i| i["metadata"]["namespace"] == ns.0.as_str()), "{all:#}");
    let out = smo().args(["describe", "state-machine", "-n", &ns.0]).output().expect("smo describe");
    let described = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    for expected in
        ["Phase:        Succeeded", "Sequences:    4 of 4 completed", "Steps:", "job_c", "Complete", "Succeeded"]
    {
        assert!(described.contains(expected), "no `{expected}` in:\n{described}");
    }
    // smo timeline: the SVG of the timeline the operator kept, every job in it.
    let svg = dir.path().join("timeline.svg");
    let out = smo().args(["timeline", "state-machine", "-n", &ns.0, "-o"]).arg(&svg).output().expect("smo timeline");
    assert!(out.status.success() && text(&out).contains("(12 jobs)"), "{}", text(&out));
    let drawn = std::fs::read_to_string(&svg).unwrap_or_default();
    assert!(
        drawn.starts_with("<?xml") && drawn.contains("<svg") && drawn.contains("job_c"),
        "an SVG of the steps:\n{drawn}"
    );
    // smo logs: every step Pod's log under its header, selected by step or sequence.
    let out = smo().args(["logs", "state-machine", "-n", &ns.0, "--step", "job_a"]).output().expect("smo logs");
    let logs = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    let headers: Vec<&str> = logs.lines().filter(|l| l.starts_with("==> ")).collect();
    assert_eq!(headers.len(), 4, "one per job_a Pod:\n{logs}");
    assert!(headers.iter().all(|h| h.contains("(step job_a, sequence job_")), "{headers:?}");
    let jobid = jobs[0].0.clone();
    let out = smo().args(["logs", "state-machine", "-n", &ns.0, "--sequence", &jobid]).output().expect("smo logs");
    let steps: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("==> "))
        .filter_map(|l| l.split("(step ").nth(1)?.split(',').next().map(String::from))
        .collect();
    assert_eq!(steps, ["job_a", "job_b", "job_c"], "the sequence's three steps, in order: {}", text(&out));
    // The same binary as a kubectl plugin.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("a plugin directory");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_smo"), plugins.join("kubectl-smo")).expect("link kubectl-smo");
    let path = format!("{}:{}", plugins.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("kubectl")
        .args(["smo", "get", "state-machine", "-n", &ns.0, "-o", "name"])
        .env("PATH", path)
        .output()
        .expect("kubectl smo");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "statemachine/state-machine\n", "{}", text(&out));
    let out = smo().args(["describe", "no-such-machine", "-n", &ns.0]).output().expect("smo describe");
    assert!(
        !out.status.success() && text(&out).contains("statemachine \"no-such-machine\" not found"),
        "{}",
        text(&out)
    );
}

/// An invalid resource is not ignored (the original's behaviour): status names every bad field
/// with `smo validate`'s messages; edited valid, it runs.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_invalid_state_machine_names_its_bad_fields_and_runs_once_fixed() {
    let ns = Namespace::new("op-invalid");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    let bad =
        state_machine("bad", "  workflow: {completed: 1, prefix: Run_}\n  cluster: {maxSize: 2}\n", &[("a", "echo a")])
            .replace(&format!("    image: {}\n", image()), "");
    apply(&ns, &bad);
    wait_for(&ns, "bad", "Failed", &operator, 60);
    let status = get(&ns, "bad")["status"].clone();
    assert_eq!(status["phase"], "Failed", "{status:#}");
    let ready = condition(&status, "Ready").expect("Ready condition");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("InvalidSpec")),
        "{status:#}"
    );
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("statemachine/bad: spec.workflow.prefix: contains upper-case letters"), "{message}");
    assert!(message.contains("statemachine/bad: spec.jobs[0].image: is required"), "{message}");
    assert!(ns.jobs_of("bad").is_empty(), "nothing runs");
    // Fixed, it runs.
    apply(
        &ns,
        &state_machine(
            "bad",
            "  workflow: {completed: 1, prefix: run_}\n  cluster: {maxSize: 2}\n",
            &[("a", "echo a")],
        ),
    );
    wait_for(&ns, "bad", "Complete", &operator, 120);
    let status = get(&ns, "bad")["status"].clone();
    assert_eq!(condition(&status, "Ready").map(|c| c["status"].clone()), Some(Value::from("True")), "{status:#}");
    assert!(condition(&status, "Failed").is_none(), "{status:#}");
    assert_eq!(ns.jobs_of("bad").len(), 1);
}

/// Two resources in one namespace, side by side: neither counts the other's Jobs.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn two_state_machines_in_one_namespace_count_only_their_own_jobs() {
    let ns = Namespace::new("op-two");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    let steps = [("a", "sleep 1"), ("b", "echo b")];
    apply(&ns, &state_machine("left", "  workflow: {completed: 2}\n  cluster: {maxSize: 2}\n", &steps));
    apply(&ns, &state_machine("right", "  workflow: {completed: 3}\n  cluster: {maxSize: 2}\n", &steps));
    wait_for(&ns, "left", "Complete", &operator, 180);
    wait_for(&ns, "right", "Complete", &operator, 180);
    for (name, wanted) in [("left", 2), ("right", 3)] {
        let status = get(&ns, name)["status"].clone();
        assert_eq!(status["completed"].as_i64(), Some(wanted), "{name}: {status:#}");
        let jobs = ns.jobs_of(name);
        assert_eq!(jobs.len(), 2 * wanted as usize, "{name}: {jobs:?}");
        assert!(jobs.iter().all(|j| j.2 == "Complete"), "{name}: {jobs:?}");
    }
}

/// Deleting a running resource stops its workflow and removes its Jobs.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn deleting_a_running_state_machine_removes_its_jobs() {
    let ns = Namespace::new("op-delete");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    apply(&ns, &state_machine("doomed", "  workflow: {completed: 6}\n  cluster: {maxSize: 2}\n", &[("a", "sleep 30")]));
    eventually(Duration::from_secs(60), "no Job started", || {
        let jobs = ns.jobs_of("doomed");
        if jobs.is_empty() { Err(jobs) } else { Ok(()) }
    });
    let out = kubectl(&["-n", &ns.0, "delete", "statemachine", "doomed", "--wait=true"]);
    assert!(out.status.success(), "{}", text(&out));
    // The garbage collector deletes them; a busy cluster may take its time.
    eventually(Duration::from_secs(120), "the deleted workflow's Jobs remain", || {
        let jobs = ns.jobs_of("doomed");
        if jobs.is_empty() { Ok(()) } else { Err(jobs) }
    });
    // Their containers get the default 30 s to stop.
    eventually(Duration::from_secs(120), "the deleted workflow's Pods remain", || {
        let out = kubectl(&["-n", &ns.0, "get", "pods", "-o", "name"]);
        let pods = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if pods.is_empty() { Ok(()) } else { Err(pods) }
    });
    assert!(operator.log().contains("StateMachine deleted"), "{}", operator.log());
}

/// SIGKILL the operator mid-run and start another: the workflow completes from the Jobs the
/// cluster has, with no duplicate Job for any (jobid, step), and status counts right.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_operator_killed_mid_run_is_carried_on_by_the_next() {
    let ns = Namespace::new("op-restart");
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Operator::start(&ns, dir.path());
    apply_chain(&ns, "restart");
    ns.wait_mid_run(|| {});
    let first_log = first.kill();
    let second = Operator::start(&ns, dir.path());
    wait_for(&ns, "restart", "Complete", &second, 180);
    assert_chain_completed_once(&ns, "restart", &format!("first operator:\n{first_log}"));
    assert!(second.log().contains("run restored from the executor's jobs"), "{}", second.log());
    // The timeline kept in the cluster has every job, from both operators' lives.
    let times = timeline_of(&ns, "restart", dir.path());
    let stamps = times["timestamps"].as_object().cloned().unwrap_or_default();
    let ended = stamps.keys().filter(|k| k.ends_with("_succeeded")).count();
    assert_eq!(ended, 12, "every job's end, across the restart: {stamps:?}");
}

/// The apiserver restarted mid-run under the operator (`tests/cluster/restart.sh apiserver`):
/// the watches of StateMachines and Jobs resume (the Jobs' re-list after 410 Gone), calls and
/// status writes made while it was down are waited out, and the workflow completes with the
/// right counts and no duplicate Job.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_apiserver_restart_mid_run_is_waited_out_by_the_operator() {
    let ns = Namespace::new("op-apiserver");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    apply_chain(&ns, "outage");
    ns.wait_mid_run(|| {});
    restart_component("apiserver");
    wait_for(&ns, "outage", "Complete", &operator, 180);
    let log = operator.log();
    assert_chain_completed_once(&ns, "outage", &log);
    assert!(
        log.contains("the watch of Jobs re-lists the workflow's Jobs"),
        "the restart made the watch re-list: {log}"
    );
}

/// The workflow the disruption tests run: 4 sequences of three short steps, 2 at once.
fn apply_chain(ns: &Namespace, name: &str) {
    let steps = [("job_a", "sleep 2"), ("job_b", "sleep 2"), ("job_c", "sleep 1")];
    apply(ns, &state_machine(name, "  workflow: {completed: 4}\n  cluster: {maxSize: 2}\n", &steps));
}

/// [`apply_chain`]'s workflow ended as if nothing had happened: status says 4 completed and 0
/// failed, and exactly 12 Jobs completed, one per (jobid, step). `context` goes with a failure.
fn assert_chain_completed_once(ns: &Namespace, name: &str, context: &str) {
    let status = get(ns, name)["status"].clone();
    assert_eq!((status["completed"].as_i64(), status["failed"].as_i64()), (Some(4), Some(0)), "{status:#}\n{context}");
    let jobs = ns.jobs_of(name);
    assert!(per_job(&jobs).values().all(|n| *n == 1), "no duplicate Job: {jobs:?}\n{context}");
    assert_eq!(jobs.iter().filter(|j| j.2 == "Complete").count(), 12, "{jobs:?}");
}

/// Failed sequences leave no Job behind (they are cleaned up), so only the resource's status
/// remembers them: an operator restarted after some failed carries on from the status' count.
/// The failure cap is reached after exactly `maxFailures` failed sequences in all — one Event
/// each — not `maxFailures` more after the restart.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn failures_counted_before_an_operator_restart_still_count_towards_the_cap() {
    let ns = Namespace::new("op-carry");
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Operator::start(&ns, dir.path());
    // One sequence at a time, each failing after a few seconds.
    let head = "  workflow: {completed: 2, maxFailures: 3}\n  cluster: {maxSize: 1}\n";
    apply(&ns, &state_machine("carry", head, &[("a", "sleep 2; exit 3")]));
    eventually(Duration::from_secs(120), "no failure in status", || {
        let status = get(&ns, "carry")["status"].clone();
        if status["failed"].as_i64().unwrap_or(0) >= 1 { Ok(()) } else { Err(status) }
    });
    let first_log = first.kill();
    let second = Operator::start(&ns, dir.path());
    wait_for(&ns, "carry", "Failed", &second, 180);
    let status = get(&ns, "carry")["status"].clone();
    let context = format!("{status:#}\nfirst operator:\n{first_log}\nsecond operator:\n{}", second.log());
    assert_eq!(status["failed"].as_i64(), Some(3), "{context}");
    let failed_step = status["steps"][0]["failed"].as_i64();
    assert_eq!(failed_step, Some(3), "step a's failed jobs: {context}");
    // Events are published as they happen, the end's and the last failure's at once: wait for
    // 3, then make sure no more come.
    let failed_sequences = |events: &[(String, u64)]| -> u64 {
        events.iter().filter(|(r, _)| r == "SequenceFailed").map(|(_, n)| n).sum()
    };
    eventually(Duration::from_secs(20), "fewer than 3 SequenceFailed Events", || {
        let events = events(&ns);
        if failed_sequences(&events) >= 3 && events.iter().any(|(r, _)| r == "Failed") { Ok(()) } else { Err(events) }
    });
    std::thread::sleep(Duration::from_secs(2));
    let events = events(&ns);
    assert_eq!(failed_sequences(&events), 3, "one SequenceFailed per failed sequence, 3 in all: {events:?}\n{context}");
}

/// A valid StateMachine whose step needs an API the cluster does not serve (a MiniCluster
/// without the Flux Operator) waits — `Pending`, `Ready=False` with reason `APINotServed` and
/// what to install, not `Failed` — and starts by itself once the API is installed, without an
/// edit.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_workflow_waiting_for_an_api_starts_by_itself_once_it_is_installed() {
    serve_jobsets_but_not_miniclusters();
    let ns = Namespace::new("op-waits");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    let manifest = state_machine(
        "waits",
        "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n",
        &[("a", "echo a"), ("b", "echo b")],
    );
    let (head, b) = manifest.split_once("  - name: b\n").expect("step b");
    apply(&ns, &format!("{head}  - name: b\n    properties: {{minicluster: 'true'}}\n{b}"));
    let waiting = eventually(Duration::from_secs(60), "the resource does not say what it waits for", || {
        let status = get(&ns, "waits")["status"].clone();
        match condition(&status, "Ready") {
            Some(c) if c["reason"] == "APINotServed" => Ok(status),
            _ => Err(status),
        }
    });
    assert_eq!(waiting["phase"], "Pending", "{waiting:#}");
    assert!(condition(&waiting, "Failed").is_none(), "{waiting:#}");
    let message = condition(&waiting, "Ready").and_then(|c| c["message"].as_str()).unwrap_or_default().to_string();
    assert!(
        message.contains("step `b` runs as a MiniCluster") && message.contains("install the Flux Operator"),
        "{message}"
    );
    assert!(ns.jobs_of("waits").is_empty(), "nothing runs while it waits");
    // Installed: the next retry starts the workflow (step a's Job), no edit needed.
    install_custom_crds();
    eventually(Duration::from_secs(60), "the workflow did not start once the API was there", || {
        let jobs = ns.jobs_of("waits");
        if jobs.is_empty() { Err(get(&ns, "waits")["status"].clone()) } else { Ok(()) }
    });
    let ready = eventually(Duration::from_secs(30), "Ready did not turn true", || {
        let status = get(&ns, "waits")["status"].clone();
        match condition(&status, "Ready") {
            Some(c) if c["status"] == "True" => Ok(status),
            _ => Err(status),
        }
    });
    assert!(matches!(ready["phase"].as_str(), Some("Pending" | "Running")), "{ready:#}");
    assert!(operator.log().contains("trying the workflow again"), "{}", operator.log());
}

/// `workflow.completed` raised on a running resource is honoured; a change of its steps is
/// reported in the `SpecApplied` condition, not silently ignored.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_change_of_completed_is_honoured_and_a_change_of_steps_is_reported() {
    let ns = Namespace::new("op-edit");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    apply(&ns, &state_machine("edited", "  workflow: {completed: 2}\n  cluster: {maxSize: 1}\n", &[("a", "sleep 3")]));
    eventually(Duration::from_secs(60), "no Job started", || {
        let jobs = ns.jobs_of("edited");
        if jobs.is_empty() { Err(jobs) } else { Ok(()) }
    });
    let patch = r#"{"spec":{"workflow":{"completed":3},"jobs":[{"name":"a","image":"IMAGE","config":{"coresPerTask":0},"script":"sleep 4\n"}]}}"#
        .replace("IMAGE", &image());
    let out = kubectl(&["-n", &ns.0, "patch", "statemachine", "edited", "--type=merge", "-p", &patch]);
    assert!(out.status.success(), "{}", text(&out));
    let applied = eventually(Duration::from_secs(30), "SpecApplied does not report the steps", || {
        let status = get(&ns, "edited")["status"].clone();
        match condition(&status, "SpecApplied") {
            Some(c) if c["status"] == "False" => Ok(c.clone()),
            _ => Err(status),
        }
    });
    assert!(applied["message"].as_str().is_some_and(|m| m.contains("spec.jobs")), "{applied:#}");
    wait_for(&ns, "edited", "Complete", &operator, 180);
    let status = get(&ns, "edited")["status"].clone();
    assert_eq!(status["completed"].as_i64(), Some(3), "{status:#}");
    assert_eq!(ns.jobs_of("edited").len(), 3);
}

/// The metric names of a Prometheus text exposition (samples, not comments).
fn exported(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

/// One sample's value: `name{labels…}` where every `labels` pair is present.
fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().filter(|l| l.starts_with(&format!("{name}{{"))).find_map(|l| {
        let (head, value) = l.rsplit_once(' ')?;
        labels.iter().all(|(k, v)| head.contains(&format!("{k}=\"{v}\""))).then(|| value.parse().ok())?
    })
}

/// `/metrics` of a real operator that ran a workflow shows the same counts as its status, the
/// probes answer, and every metric the Grafana dashboard queries is exported.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn the_dashboard_queries_only_metrics_the_operator_exports() {
    let ns = Namespace::new("op-metrics");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let operator = Operator::start_with(&ns, dir.path(), &["--metrics-addr", &format!("127.0.0.1:{port}")]);
    let host = format!("127.0.0.1:{port}");
    eventually(Duration::from_secs(30), "/readyz never answered 200", || {
        common::http_get(&host, "/readyz").filter(|b| b.contains("ok")).ok_or(())
    });
    assert!(common::http_get(&host, "/healthz").is_some_and(|b| b.contains("ok")));
    let steps = [("a", "sleep 1"), ("b", "echo b")];
    apply(&ns, &state_machine("measured", "  workflow: {completed: 3}\n  cluster: {maxSize: 2}\n", &steps));
    wait_for(&ns, "measured", "Complete", &operator, 180);
    // The last snapshot reaches the metrics with the final status.
    let scrape = eventually(Duration::from_secs(10), "the metrics do not show 3 completed", || {
        let scrape = common::http_get(&host, "/metrics").unwrap_or_default();
        let completed = sample(&scrape, "smo_sequences_total", &[("workflow", "measured"), ("event", "completed")]);
        if completed == Some(3.0) { Ok(scrape) } else { Err(completed) }
    });
    let wf = [("namespace", ns.0.as_str()), ("workflow", "measured")];
    let with = |extra: (&'static str, &'static str)| {
        let mut l = wf.to_vec();
        l.push(extra);
        l
    };
    assert_eq!(sample(&scrape, "smo_sequences_total", &with(("event", "failed"))), Some(0.0), "{scrape}");
    for step in ["a", "b"] {
        let ok = sample(
            &scrape,
            "smo_step_jobs_total",
            &[("workflow", "measured"), ("step", step), ("outcome", "succeeded")],
        );
        assert_eq!(ok, Some(3.0), "step {step}: {scrape}");
        let durations = sample(&scrape, "smo_step_duration_seconds_count", &[("workflow", "measured"), ("step", step)]);
        assert_eq!(durations, Some(3.0), "step {step}: {scrape}");
    }
    assert!(sample(&scrape, "smo_status_writes_total", &wf).is_some_and(|n| n >= 2.0), "{scrape}");
    assert!(sample(&scrape, "smo_kube_api_requests_total", &[("category", "write")]).is_some_and(|n| n >= 6.0));
    // Errors by request category and class, every pair exported from the start.
    for (category, class) in [("read", "client"), ("watch", "server"), ("write", "unanswered")] {
        let errors = sample(&scrape, "smo_kube_api_errors_total", &[("category", category), ("class", class)]);
        assert!(errors.is_some(), "smo_kube_api_errors_total{{category={category},class={class}}}: {scrape}");
    }
    // Every metric the dashboard queries is one the operator exports.
    let names = exported(&scrape);
    let dashboard_path = common::root().join("grafana/smo-operator.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&dashboard_path).expect("read the dashboard")).expect("JSON");
    assert_eq!(dashboard["uid"], "smo-operator");
    let templating = dashboard["templating"]["list"].as_array().cloned().unwrap_or_default();
    assert!(
        templating.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
        "a ${{datasource}} variable"
    );
    let mut queried = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for panel in dashboard["panels"].as_array().cloned().unwrap_or_default() {
        for target in panel["targets"].as_array().cloned().unwrap_or_default() {
            texts.push(target["expr"].as_str().unwrap_or_default().to_string());
        }
    }
    for variable in &templating {
        texts.push(variable["definition"].as_str().unwrap_or_default().to_string());
    }
    for text in &texts {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("smo_") {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            queried.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    assert!(queried.len() >= 10, "the dashboard queries smo's metrics: {queried:?}");
    let missing: Vec<&String> = queried.iter().filter(|q| !names.contains(*q)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the operator does not export: {missing:?}\nexported: {names:?}"
    );
}

/// Installed with `dist/install.yaml`'s objects, the operator runs as a Pod under its own
/// ServiceAccount (so its RBAC is enough) and runs a workflow to Complete; with two replicas,
/// killing the leader's Pod mid-run leaves the standby to finish it: no duplicate Job, the right
/// counts.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn the_installed_operator_runs_a_workflow_and_a_standby_takes_over_from_a_killed_leader() {
    let installed = Installed::apply();
    let out = kubectl(&["-n", "smo-system", "scale", "deployment", "smo-operator", "--replicas=2"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&["-n", "smo-system", "rollout", "status", "deployment/smo-operator", "--timeout=180s"]);
    assert!(out.status.success(), "the operator's Pods are not ready: {}\n{}", text(&out), Installed::logs());
    let ns = Namespace::new("op-installed");
    let steps = [("a", "sleep 3"), ("b", "sleep 2")];
    let head = format!(
        "  registry: {{host: \"{}\", plainHttp: true}}\n  workflow: {{completed: 4}}\n  cluster: {{maxSize: 2}}\n",
        registry()
    );
    apply(&ns, &state_machine("installed", &head, &steps));
    eventually(Duration::from_secs(180), "the installed operator made no progress", || {
        let jobs = ns.jobs_of("installed");
        let done = jobs.iter().filter(|j| j.2 == "Complete").count();
        if done >= 2 && jobs.iter().any(|j| j.2 == "running") { Ok(()) } else { Err((jobs, Installed::logs())) }
    });
    let leader = Installed::leader();
    assert!(leader.starts_with("smo-operator-"), "a Pod leads: {leader:?}");
    let out = kubectl(&["-n", "smo-system", "delete", "pod", &leader, "--grace-period=0", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&["-n", &ns.0, "wait", "--for=condition=Complete", "statemachine/installed", "--timeout=240s"]);
    assert!(
        out.status.success(),
        "{}\nstatus: {:#}\n{}",
        text(&out),
        get(&ns, "installed")["status"],
        Installed::logs()
    );
    let next = Installed::leader();
    assert!(next != leader && next.starts_with("smo-operator-"), "the standby leads: {leader} → {next}");
    let status = get(&ns, "installed")["status"].clone();
    assert_eq!((status["completed"].as_i64(), status["failed"].as_i64()), (Some(4), Some(0)), "{status:#}");
    let jobs = ns.jobs_of("installed");
    assert!(per_job(&jobs).values().all(|n| *n == 1), "no duplicate Job: {jobs:?}");
    assert_eq!(jobs.iter().filter(|j| j.2 == "Complete").count(), 8, "{jobs:?}");
    drop(installed);
}

/// The README's in-cluster path as a new user follows it on the project's cluster: `kubectl
/// apply -f dist/install.yaml`, then the example StateMachine (no registry host: the workflow's
/// own registry, from the image `make image` builds, which dist/install.yaml names), then
/// `kubectl wait --for=condition=Complete`.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn the_readmes_in_cluster_path_runs_the_example_to_complete() {
    let installed = Installed::apply();
    let out = kubectl(&["-n", "smo-system", "rollout", "status", "deployment/smo-operator", "--timeout=180s"]);
    assert!(out.status.success(), "the operator's Pod is not ready: {}\n{}", text(&out), Installed::logs());
    let ns = Namespace::new("op-readme");
    let example = common::root().join("examples/kubernetes/state-machine.yaml");
    let out = kubectl(&["-n", &ns.0, "apply", "-f", &example.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&["-n", &ns.0, "wait", "--for=condition=Complete", "statemachine/chain", "--timeout=300s"]);
    assert!(out.status.success(), "{}\nstatus: {:#}\n{}", text(&out), get(&ns, "chain")["status"], Installed::logs());
    let status = get(&ns, "chain")["status"].clone();
    assert_eq!((status["completed"].as_i64(), status["failed"].as_i64()), (Some(4), Some(0)), "{status:#}");
    let out = kubectl(&[
        "-n",
        &ns.0,
        "get",
        "statefulset",
        "chain-registry",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "docker.io/library/smo-registry:dev");
    drop(installed);
}

/// `smo manifests --namespaces A`: the operator may act in A and nowhere else (what `kubectl
/// auth can-i` says for its ServiceAccount), runs a workflow there, and leaves one in another
/// namespace alone; namespace editors may create StateMachines through the aggregated role.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_namespaced_install_acts_in_its_namespaces_only() {
    let inside = Namespace::new("op-tenant-a");
    let outside = Namespace::new("op-tenant-b");
    let installed = Installed::apply_generated(&["--namespaces", &inside.0]);
    let out = kubectl(&["-n", "smo-system", "rollout", "status", "deployment/smo-operator", "--timeout=180s"]);
    assert!(out.status.success(), "the operator's Pod is not ready: {}\n{}", text(&out), Installed::logs());
    let operator = "system:serviceaccount:smo-system:smo-operator";
    let can = |verb: &str, what: &str, ns: &str| {
        let out = kubectl(&["auth", "can-i", verb, what, "-n", ns, "--as", operator]);
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    assert!(can("create", "jobs", &inside.0) && can("watch", "statemachines", &inside.0));
    assert!(!can("create", "jobs", &outside.0), "no Jobs outside its namespaces");
    assert!(!can("create", "jobs", "kube-system"), "no Jobs in kube-system");
    assert!(!can("list", "pods", &outside.0) && !can("get", "pods/log", &outside.0));
    let all = kubectl(&["auth", "can-i", "list", "statemachines", "--all-namespaces", "--as", operator]);
    assert_eq!(String::from_utf8_lossy(&all.stdout).trim(), "no", "no cluster-wide list");
    // A namespace editor (the built-in `edit` role, bound in the namespace) may create them.
    let editor = format!("system:serviceaccount:{}:default", inside.0);
    let out = kubectl(&[
        "-n",
        &inside.0,
        "create",
        "rolebinding",
        "editors",
        "--clusterrole=edit",
        &format!("--serviceaccount={}:default", inside.0),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(30), "the aggregated edit role does not reach StateMachines", || {
        let out = kubectl(&["auth", "can-i", "create", "statemachines", "-n", &inside.0, "--as", &editor]);
        if String::from_utf8_lossy(&out.stdout).trim() == "yes" { Ok(()) } else { Err(text(&out)) }
    });
    let head = format!(
        "  registry: {{host: \"{}\", plainHttp: true}}\n  workflow: {{completed: 1}}\n  cluster: {{maxSize: 1}}\n",
        registry()
    );
    apply(&inside, &state_machine("mine", &head, &[("a", "echo a")]));
    apply(&outside, &state_machine("theirs", &head, &[("a", "echo a")]));
    let out = kubectl(&["-n", &inside.0, "wait", "--for=condition=Complete", "statemachine/mine", "--timeout=180s"]);
    assert!(out.status.success(), "{}\n{}", text(&out), Installed::logs());
    let theirs = get(&outside, "theirs");
    assert!(theirs["status"].is_null(), "a namespace it does not watch is left alone: {:#}", theirs["status"]);
    assert!(outside.jobs_of("theirs").is_empty());
    drop(installed);
}

/// A StateMachine without `registry.host` (and an operator without `--registry`) gets a
/// registry of its own, as the original's did: a StatefulSet and Service named after it, ready
/// before any step is submitted, reached by ClusterIP; its artifacts are there, for its
/// password only (a Secret it owns; a NetworkPolicy admits its Pods); deleting the resource
/// deletes the registry.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_state_machine_without_a_registry_host_gets_a_registry_of_its_own() {
    let ns = Namespace::new("op-registry");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::spawn(&ns, dir.path(), &[]);
    let head = own_registry("  workflow: {completed: 2}\n  cluster: {maxSize: 2}\n");
    let manifest = state_machine("ephemeral", &head, &[("a", "echo \"$jobid\" > a.txt"), ("b", "cat a.txt > b.txt")])
        .replace("    script: |\n      echo", "    registry: {push: a}\n    script: |\n      echo")
        .replace("    script: |\n      cat", "    registry: {pull: a, push: b}\n    script: |\n      cat");
    apply(&ns, &manifest);
    wait_for(&ns, "ephemeral", "Complete", &operator, 300);
    let out = kubectl(&["-n", &ns.0, "get", "statefulset,service", "ephemeral-registry", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let uid = get(&ns, "ephemeral")["metadata"]["uid"].clone();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "a StatefulSet and a Service: {list:#}");
    assert!(items.iter().all(|o| o["metadata"]["ownerReferences"][0]["uid"] == uid), "owned by the resource");
    let ip =
        items.iter().find(|o| o["kind"] == "Service").and_then(|s| s["spec"]["clusterIP"].as_str()).expect("ClusterIP");
    // Each sequence's last artifact is in the workflow's registry, holding what both steps wrote.
    let jobs = ns.jobs_of("ephemeral");
    let ids: std::collections::BTreeSet<&String> = jobs.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), 2, "{jobs:?}");
    let (username, password) = registry_credentials(&ns, "ephemeral-registry-auth");
    assert_eq!(username, "smo");
    assert!(password.len() >= 32, "a generated password");
    for id in ids {
        let pulled = dir.path().join(format!("pulled-{id}"));
        let pull = || {
            let mut command = smo();
            command.args(["artifact", "pull", &format!("{ip}:5000/{id}:b"), "--plain-http", "--output"]).arg(&pulled);
            command.env_remove("SMO_REGISTRY_USERNAME").env_remove("SMO_REGISTRY_PASSWORD");
            command
        };
        let out = pull().output().expect("run smo artifact pull");
        assert!(!out.status.success() && text(&out).contains("asks for a user name and password"), "{}", text(&out));
        let out = pull()
            .env("SMO_REGISTRY_USERNAME", &username)
            .env("SMO_REGISTRY_PASSWORD", &password)
            .output()
            .expect("run smo artifact pull");
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(std::fs::read_to_string(pulled.join("b.txt")).expect("b.txt").trim(), id.as_str());
    }
    let out = kubectl(&[
        "-n",
        &ns.0,
        "get",
        "secret,networkpolicy",
        "-l",
        "app.kubernetes.io/component=registry",
        "-o",
        "json",
    ]);
    let owned: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let kinds: Vec<&str> = owned["items"].as_array().into_iter().flatten().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(kinds, ["Secret", "NetworkPolicy"], "{owned:#}");
    assert!(owned["items"].as_array().into_iter().flatten().all(|o| o["metadata"]["ownerReferences"][0]["uid"] == uid));
    let out = kubectl(&["-n", &ns.0, "delete", "statemachine", "ephemeral"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(60), "the registry outlived its StateMachine", || {
        let out = kubectl(&["-n", &ns.0, "get", "statefulset,service,networkpolicy", "-o", "name"]);
        let mut left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out =
            kubectl(&["-n", &ns.0, "get", "secret", "ephemeral-registry-auth", "-o", "name", "--ignore-not-found"]);
        left.push_str(String::from_utf8_lossy(&out.stdout).trim());
        if left.is_empty() { Ok(()) } else { Err(left) }
    });
}

/// A spec's head (`rest`: its workflow and cluster lines) asking for a registry of its own, of
/// the image `make image` builds.
fn own_registry(rest: &str) -> String {
    let image =
        std::env::var("SMO_TEST_REGISTRY_IMAGE").unwrap_or_else(|_| "docker.io/library/smo-registry:dev".into());
    format!("  registry: {{image: \"{image}\", pullPolicy: IfNotPresent}}\n{rest}")
}

/// The user name and password in a workflow registry's Secret `secret` (as an admin of the
/// namespace may read them).
fn registry_credentials(ns: &Namespace, secret: &str) -> (String, String) {
    let read = |key: &str| {
        let template = format!("go-template={{{{.data.{key} | base64decode}}}}");
        let out = kubectl(&["-n", &ns.0, "get", "secret", secret, "-o", &template]);
        assert!(out.status.success(), "the registry's Secret: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    (read("username"), read("password"))
}

/// A StateMachine `name` of one sequence of one step that pushes its artifact.
fn one_pushing_step(name: &str) -> String {
    state_machine(name, "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n", &[("a", "echo \"$jobid\" > a.txt")])
        .replace("    script: |\n      echo", "    registry: {push: a}\n    script: |\n      echo")
}

/// The status of `name` once its `Ready` condition says it waits for `reason`, within `seconds`.
fn waiting_with(ns: &Namespace, name: &str, reason: &str, operator: &Operator, seconds: u64) -> Value {
    eventually(Duration::from_secs(seconds), &format!("no Ready=False {reason} condition"), || {
        let status = get(ns, name)["status"].clone();
        match condition(&status, "Ready") {
            Some(c) if c["reason"] == reason => Ok(status),
            _ => Err(format!("{status:#}\noperator log:\n{}", operator.log())),
        }
    })
}

/// A step with `events.script` runs `parse_log` with its own image's `python3`: an image
/// without it is named in the status before the run starts (a preflight Job in the workflow's
/// namespace finds out, and is gone after), not with a warning after the first job; edited to
/// an image with python3, the workflow runs and its `parse_log` rule fires.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_parse_log_step_whose_image_has_no_python3_is_refused_before_the_run() {
    let ns = Namespace::new("op-no-python");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    // The registry image is FROM scratch: a program, no python3.
    let without =
        std::env::var("SMO_TEST_REGISTRY_IMAGE").unwrap_or_else(|_| "docker.io/library/smo-registry:dev".into());
    let head = "  workflow:\n    completed: 3\n    events:\n    - {metric: mean.a.loops, when: '>= 100', action: finish-workflow}\n  cluster: {maxSize: 1}\n";
    let with_python = state_machine("parse", head, &[("a", "echo 'Loop time of 0.5 on 1 procs for 100 steps'")])
        .replace(
            "    script: |",
            "    events:\n      script: |\n        def parse_log(log):\n            for line in log.splitlines():\n                if 'Loop time of' in line:\n                    return {'loops': float(line.split()[-2])}\n            return {}\n    script: |",
        );
    let image_line = format!("    image: {}\n", common::cluster::image());
    let manifest = with_python.replace(&image_line, &format!("    image: {without}\n"));
    assert_ne!(manifest, with_python, "the image was replaced");
    apply(&ns, &manifest);
    let status = waiting_with(&ns, "parse", "Python3Missing", &operator, 120);
    assert_eq!(status["phase"], "Pending", "{status:#}");
    let message = condition(&status, "Ready").and_then(|c| c["message"].as_str()).unwrap_or("").to_string();
    assert!(message.contains("step(s) a run events.script") && message.contains(&without), "{message}");
    assert!(ns.jobs_of("parse").is_empty(), "no step was submitted");
    eventually(Duration::from_secs(30), "the preflight Job was left behind", || {
        let out = kubectl(&[
            "-n",
            &ns.0,
            "get",
            "jobs",
            "-l",
            "state-machine.converged-computing.org/preflight",
            "-o",
            "name",
        ]);
        let left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if left.is_empty() { Ok(()) } else { Err(left) }
    });
    // Fixed: the image has python3; the first sequence's parse_log ends the workflow.
    apply(&ns, &with_python);
    wait_for(&ns, "parse", "Complete", &operator, 180);
    let status = get(&ns, "parse")["status"].clone();
    assert_eq!(status["completed"].as_i64(), Some(1), "the rule finished the workflow: {status:#}");
}

/// A step whose Pod no node could ever hold (64 CPUs on the 2-CPU test node) is refused before
/// anything is made for the run (not even its registry): `Pending`, `Ready=False`,
/// `StepDoesNotFit`, with the numbers.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_step_no_node_can_hold_is_refused_with_the_numbers_before_its_registry_is_made() {
    let ns = Namespace::new("op-nofit");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::spawn(&ns, dir.path(), &[]);
    let manifest = common::cluster::state_machine(
        "nofit",
        "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n",
        &[("big", "echo \"$jobid\" > a.txt")],
        64,
    )
    .replace("    script: |\n      echo", "    registry: {push: a}\n    script: |\n      echo");
    let applied = std::time::Instant::now();
    apply(&ns, &manifest);
    let status = waiting_with(&ns, "nofit", "StepDoesNotFit", &operator, 30);
    eprintln!("refused {:.1} s after the resource was applied", applied.elapsed().as_secs_f64());
    assert_eq!(status["phase"], "Pending", "{status:#}");
    let message = condition(&status, "Ready").and_then(|c| c["message"].as_str()).unwrap_or("").to_string();
    assert!(message.contains("step big asks 64 CPUs per Pod; the largest node has "), "{message}");
    assert!(ns.jobs_of("nofit").is_empty(), "nothing was submitted");
    let out = kubectl(&["-n", &ns.0, "get", "statefulsets", "-o", "name"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "no registry was made for it");
}

/// An operator that has no image to deliver `smo` to step Pods refuses, before anything is
/// submitted, a workflow whose steps pass artifacts (their scripts call `smo artifact`): the
/// status names the flag, and no Job exists.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_workflow_that_passes_artifacts_waits_for_an_operator_with_an_smo_image() {
    let ns = Namespace::new("op-no-image");
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = registry();
    let operator = Operator::spawn_bare(&ns, dir.path(), &["--registry", &registry, "--plain-http"]);
    apply(&ns, &one_pushing_step("no-image"));
    let status = waiting_with(&ns, "no-image", "SmoImageMissing", &operator, 30);
    assert_eq!(status["phase"], "Pending", "{status:#}");
    let message = condition(&status, "Ready").and_then(|c| c["message"].as_str()).unwrap_or("").to_string();
    assert!(message.contains("step(s) a call `smo` in their Pods") && message.contains("--smo-image"), "{message}");
    assert!(ns.jobs_of("no-image").is_empty(), "nothing was submitted");
}

/// A workflow's own registry whose image cannot be pulled shows in the status within seconds,
/// with the Pod's reason and the image (not after the registry's whole patience); the
/// resource edited to a working `registry.image` replaces the registry that never became ready
/// and runs to Complete. The operator's `--registry-image` is the image of a spec that names
/// none.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_registry_that_cannot_start_shows_in_the_status_and_an_edited_image_replaces_it() {
    let ns = Namespace::new("op-bad-registry");
    let dir = tempfile::tempdir().expect("tempdir");
    // An image no registry serves here: the pull fails at once (no network to pull from).
    let absent = "docker.io/library/smo-registry:absent";
    let operator = Operator::spawn(&ns, dir.path(), &["--registry-image", absent]);
    let applied = std::time::Instant::now();
    apply(&ns, &one_pushing_step("bad-registry"));
    let status = waiting_with(&ns, "bad-registry", "RegistryUnavailable", &operator, 60);
    let seen = applied.elapsed();
    assert_eq!(status["phase"], "Pending", "{status:#}");
    let message = condition(&status, "Ready").and_then(|c| c["message"].as_str()).unwrap_or("").to_string();
    assert!(message.contains(&format!("(image {absent})")), "{message}");
    assert!(message.contains("ErrImagePull") || message.contains("ImagePullBackOff"), "{message}");
    assert!(seen < Duration::from_secs(45), "seen after {seen:?}, not within seconds");
    eprintln!("the registry's trouble was in the status {:.1} s after the resource was applied", seen.as_secs_f64());
    let image =
        std::env::var("SMO_TEST_REGISTRY_IMAGE").unwrap_or_else(|_| "docker.io/library/smo-registry:dev".into());
    let patch = format!("{{\"spec\":{{\"registry\":{{\"image\":\"{image}\"}}}}}}");
    let out = kubectl(&["-n", &ns.0, "patch", "statemachine", "bad-registry", "--type=merge", "-p", &patch]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for(&ns, "bad-registry", "Complete", &operator, 180);
    let out = kubectl(&[
        "-n",
        &ns.0,
        "get",
        "statefulset",
        "bad-registry-registry",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), image);
}

/// The workflow's own registry follows the spec at every start of its run: started again (the
/// operator restarted, the resource edited) with the same `spec.registry`, the registry is left
/// as it is (same generation, same Pod); with an edited `registry.pullPolicy`, the StatefulSet
/// is brought to it and its controller replaces the Pod.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn the_workflows_registry_follows_an_edited_spec_at_the_next_start() {
    let ns = Namespace::new("op-follow");
    let dir = tempfile::tempdir().expect("tempdir");
    let image =
        std::env::var("SMO_TEST_REGISTRY_IMAGE").unwrap_or_else(|_| "docker.io/library/smo-registry:dev".into());
    let manifest = one_pushing_step("follow").replace(
        "  workflow: {completed: 1}\n",
        &format!("  registry: {{image: \"{image}\", pullPolicy: IfNotPresent}}\n  workflow: {{completed: 1}}\n"),
    );
    assert!(manifest.contains("pullPolicy: IfNotPresent"), "{manifest}");
    let operator = Operator::spawn(&ns, dir.path(), &[]);
    apply(&ns, &manifest);
    wait_for(&ns, "follow", "Complete", &operator, 300);
    drop(operator);
    let set = |path: &str| {
        let out = kubectl(&["-n", &ns.0, "get", "statefulset", "follow-registry", "-o", &format!("jsonpath={path}")]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let pod = |path: &str| {
        let out = kubectl(&["-n", &ns.0, "get", "pod", "follow-registry-0", "-o", &format!("jsonpath={path}")]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let generation = set("{.metadata.generation}");
    let first_pod = pod("{.metadata.uid}");
    assert_eq!(set("{.spec.template.spec.containers[0].imagePullPolicy}"), "IfNotPresent");
    let managers = set("{.metadata.managedFields[*].manager}");
    assert!(managers.split_whitespace().any(|m| m == "smo"), "applied by smo: {managers}");

    // Edited elsewhere (one more completion): the run starts again, the registry stays as it is.
    let patch = r#"{"spec":{"workflow":{"completed":2}}}"#;
    let out = kubectl(&["-n", &ns.0, "patch", "statemachine", "follow", "--type=merge", "-p", patch]);
    assert!(out.status.success(), "{}", text(&out));
    let operator = Operator::spawn(&ns, dir.path(), &[]);
    eventually(Duration::from_secs(180), "the second completion did not come", || {
        let status = get(&ns, "follow")["status"].clone();
        if status["completed"].as_i64() == Some(2) { Ok(()) } else { Err(format!("{status:#}\n{}", operator.log())) }
    });
    drop(operator);
    assert_eq!(set("{.metadata.generation}"), generation, "the same spec changed nothing");
    assert_eq!(pod("{.metadata.uid}"), first_pod, "the registry's Pod was left running");

    // registry.pullPolicy edited while no operator runs: the next start applies it.
    let patch = r#"{"spec":{"registry":{"pullPolicy":"Never"}}}"#;
    let out = kubectl(&["-n", &ns.0, "patch", "statemachine", "follow", "--type=merge", "-p", patch]);
    assert!(out.status.success(), "{}", text(&out));
    let operator = Operator::spawn(&ns, dir.path(), &[]);
    let edited = std::time::Instant::now();
    eventually(Duration::from_secs(60), "the StatefulSet did not follow the spec", || {
        let policy = set("{.spec.template.spec.containers[0].imagePullPolicy}");
        if policy == "Never" { Ok(()) } else { Err(format!("{policy}\n{}", operator.log())) }
    });
    eprintln!("the StatefulSet followed the spec {:.1} s after the operator started", edited.elapsed().as_secs_f64());
    eventually(Duration::from_secs(120), "the registry's Pod was not replaced", || {
        let now = pod("{.metadata.uid} {.spec.containers[0].imagePullPolicy} {.status.containerStatuses[0].ready}");
        match now.split_whitespace().collect::<Vec<_>>()[..] {
            [uid, "Never", "true"] if uid != first_pod => Ok(()),
            _ => Err(now),
        }
    });
    assert!(
        !operator.log().contains("making it anew"),
        "a ready registry is rolled, never deleted: {}",
        operator.log()
    );
}

/// An edit made while a run is being set up takes effect at once: here the workflow's registry
/// runs an image that never answers (the pause image: running, never ready, nothing to report)
/// and the run would wait out the registry's whole patience (5 minutes); `registry.image`
/// edited to a working one is set up again with it right away.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_edit_during_the_registry_wait_restarts_the_setup_at_once() {
    let ns = Namespace::new("op-edit-setup");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::spawn(&ns, dir.path(), &["--registry-image", "k8s.gcr.io/pause:3.2"]);
    apply(&ns, &one_pushing_step("setup"));
    eventually(Duration::from_secs(60), "the registry that never answers was not made", || {
        let out = kubectl(&["-n", &ns.0, "get", "pods", "setup-registry-0", "-o", "jsonpath={.status.phase}"]);
        let phase = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if phase == "Running" { Ok(()) } else { Err(phase) }
    });
    let image =
        std::env::var("SMO_TEST_REGISTRY_IMAGE").unwrap_or_else(|_| "docker.io/library/smo-registry:dev".into());
    let edited = std::time::Instant::now();
    let patch = format!("{{\"spec\":{{\"registry\":{{\"image\":\"{image}\"}}}}}}");
    let out = kubectl(&["-n", &ns.0, "patch", "statemachine", "setup", "--type=merge", "-p", &patch]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for(&ns, "setup", "Complete", &operator, 120);
    let took = edited.elapsed();
    assert!(took < Duration::from_secs(120), "done {took:?} after the edit, not after the registry's patience");
    assert!(operator.log().contains("spec changed while the run was being set up"), "{}", operator.log());
    let out = kubectl(&[
        "-n",
        &ns.0,
        "get",
        "statefulset",
        "setup-registry",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), image);
}

/// An operator started where the CRD is not installed exits at once (code 2) and says how to
/// install it. (The CRD is installed again afterwards; the tests of this binary run one at a
/// time.)
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_operator_without_the_crd_says_how_to_install_it() {
    install_crd();
    let out = kubectl(&["delete", "crd", "statemachines.state-machine.converged-computing.org", "--wait=true"]);
    assert!(out.status.success(), "{}", text(&out));
    let ran = smo()
        .args(["operator", "--namespace", "default"])
        .env_remove("SMO_REGISTRY")
        .output()
        .expect("run smo operator");
    // Installed again before any assertion can fail, for the tests that follow.
    let crd = smo().arg("crd").output().expect("run smo crd");
    let applied = kubectl_with_input(&["apply", "-f", "-"], &crd.stdout);
    assert!(applied.status.success(), "cannot install the CRD again: {}", text(&applied));
    eventually(Duration::from_secs(30), "the CRD is not served again", || {
        kubectl(&["get", "statemachines", "-A"]).status.success().then_some(()).ok_or("")
    });
    assert_eq!(ran.status.code(), Some(2), "{}", text(&ran));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains("does not serve StateMachines"), "{stderr}");
    assert!(stderr.contains("kubectl apply -f dist/install.yaml"), "{stderr}");
}

/// With `registry.storage`, the ephemeral registry keeps artifacts on a PersistentVolumeClaim:
/// they survive the registry Pod's deletion. (The test cluster has no volume provisioner: the
/// test offers a hostPath PersistentVolume of its own StorageClass name.)
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn artifacts_on_a_registry_volume_survive_a_restart_of_the_registry() {
    let ns = Namespace::new("op-volume");
    let dir = tempfile::tempdir().expect("tempdir");
    let class = ns.0.clone();
    let host_dir = dir.path().join("volume");
    std::fs::create_dir_all(&host_dir).expect("volume directory");
    // The registry runs as 65532; the directory is the test's own.
    let chmod = std::process::Command::new("chmod").arg("0777").arg(&host_dir).status().expect("chmod");
    assert!(chmod.success());
    let pv = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {class}}}\nspec:\n  storageClassName: {class}\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Delete\n  hostPath: {{path: {}}}\n",
        host_dir.display()
    );
    let out = kubectl_with_input(&["apply", "-f", "-"], pv.as_bytes());
    assert!(out.status.success(), "{}", text(&out));
    struct DeletePv(String);
    impl Drop for DeletePv {
        fn drop(&mut self) {
            let _ = kubectl(&["delete", "pv", &self.0, "--wait=false"]);
        }
    }
    let _pv = DeletePv(class.clone());
    let operator = Operator::spawn(&ns, dir.path(), &[]);
    let image =
        std::env::var("SMO_TEST_REGISTRY_IMAGE").unwrap_or_else(|_| "docker.io/library/smo-registry:dev".into());
    let head = format!(
        "  registry: {{image: \"{image}\", storage: 1Gi, storageClassName: {class}}}\n  workflow: {{completed: 1}}\n  cluster: {{maxSize: 1}}\n"
    );
    let manifest = state_machine("kept", &head, &[("a", "echo \"$jobid\" > a.txt")])
        .replace("    script: |\n      echo", "    registry: {push: a}\n    script: |\n      echo");
    apply(&ns, &manifest);
    wait_for(&ns, "kept", "Complete", &operator, 300);
    let jobs = ns.jobs_of("kept");
    let id = jobs.first().map(|j| j.0.clone()).expect("a Job");
    let out = kubectl(&["-n", &ns.0, "get", "service", "kept-registry", "-o", "jsonpath={.spec.clusterIP}"]);
    let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // The registry's Pod goes; its StatefulSet makes another, on the same claim.
    let out = kubectl(&["-n", &ns.0, "delete", "pod", "kept-registry-0", "--wait=true"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&["-n", &ns.0, "wait", "--for=condition=Ready", "pod/kept-registry-0", "--timeout=120s"]);
    assert!(out.status.success(), "the registry did not come back: {}", text(&out));
    let pulled = dir.path().join("pulled");
    let (username, password) = registry_credentials(&ns, "kept-registry-auth");
    let pull = || {
        smo()
            .args(["artifact", "pull", &format!("{ip}:5000/{id}:a"), "--plain-http", "--output"])
            .arg(&pulled)
            .env("SMO_REGISTRY_USERNAME", &username)
            .env("SMO_REGISTRY_PASSWORD", &password)
            .output()
            .expect("run smo artifact pull")
    };
    let out = eventually(Duration::from_secs(30), "the artifact is not there after the restart", || {
        let out = pull();
        if out.status.success() { Ok(out) } else { Err(text(&out)) }
    });
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(pulled.join("a.txt")).expect("a.txt").trim(), id);
}

/// A step whose Pod cannot start (its image cannot be pulled) shows in the resource's status
/// within seconds — `Progressing` says `StepPending` with the kubelet's reason — and as a
/// `StepPending` Warning Event; with `--pending-timeout` the step then fails with that reason,
/// and the failure cap ends the workflow `Failed`, not a wait for ever.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_step_whose_pod_cannot_start_shows_in_the_status_and_fails_after_the_pending_timeout() {
    let ns = Namespace::new("op-pending");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start_with(&ns, dir.path(), &["--pending-timeout", "20"]);
    let applied = std::time::Instant::now();
    let manifest = state_machine(
        "stuck",
        "  workflow: {completed: 1, maxFailures: 1}\n  cluster: {maxSize: 1}\n",
        &[("a", "echo never")],
    )
    .replace(&image(), "docker.io/library/smo-step:absent");
    apply(&ns, &manifest);
    let progressing = eventually(Duration::from_secs(60), "Progressing does not say StepPending", || {
        let status = get(&ns, "stuck")["status"].clone();
        match condition(&status, "Progressing") {
            Some(c) if c["reason"] == "StepPending" => Ok(c.clone()),
            _ => Err(status),
        }
    });
    let seen = applied.elapsed();
    let message = progressing["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot start yet: step a ("), "{message}");
    assert!(message.contains("ErrImagePull") || message.contains("ImagePullBackOff"), "{message}");
    assert!(seen < Duration::from_secs(30), "seen after {seen:?}, not within seconds");
    assert!(event_reasons(&ns).iter().any(|r| r == "StepPending"), "{:?}", events(&ns));
    wait_for(&ns, "stuck", "Failed", &operator, 90);
    let status = get(&ns, "stuck")["status"].clone();
    assert_eq!(status["failed"].as_i64(), Some(1), "{status:#}");
    let failed = condition(&status, "Failed").and_then(|c| c["message"].as_str()).unwrap_or_default().to_string();
    assert!(failed.contains("could not start within 20s"), "{failed}");
}

/// `smo suspend` / `smo resume` (spec.suspend, as a Job's): a StateMachine applied suspended
/// submits nothing — phase `Suspended`, condition `Suspended=True` — for 10 s; resumed, it runs;
/// suspended mid-run, its running step jobs finish and no new one is created for 10 s; resumed
/// again, it completes exactly the sequences wanted, each step once.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_suspended_workflow_submits_nothing_and_completes_after_resume() {
    let ns = Namespace::new("op-suspend");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    let manifest = state_machine(
        "paused",
        "  suspend: true\n  workflow: {completed: 4}\n  cluster: {maxSize: 2}\n",
        &[("a", "sleep 3"), ("b", "sleep 1")],
    );
    apply(&ns, &manifest);
    let status = eventually(Duration::from_secs(60), "the status does not say Suspended", || {
        let status = get(&ns, "paused")["status"].clone();
        if status["phase"] == "Suspended" { Ok(status) } else { Err(status) }
    });
    assert_eq!(condition(&status, "Suspended").map(|c| c["status"].clone()), Some(Value::from("True")), "{status:#}");
    std::thread::sleep(Duration::from_secs(10));
    assert!(ns.jobs_of("paused").is_empty(), "a suspended workflow submits nothing: {:?}", ns.jobs_of("paused"));
    let out = smo().args(["resume", "paused", "-n", &ns.0]).output().expect("smo resume");
    assert!(out.status.success() && text(&out).contains("/paused resumed"), "{}", text(&out));
    // Mid-run: once a step job runs, suspend; what runs ends, nothing new is created.
    eventually(Duration::from_secs(60), "no Job runs", || {
        let jobs = ns.jobs_of("paused");
        if jobs.iter().any(|j| j.2 == "running") { Ok(()) } else { Err(jobs) }
    });
    let out = smo().args(["suspend", "paused", "-n", &ns.0]).output().expect("smo suspend");
    assert!(out.status.success() && text(&out).contains("/paused suspended"), "{}", text(&out));
    let settled = eventually(Duration::from_secs(60), "the running jobs do not end", || {
        let jobs = ns.jobs_of("paused");
        if jobs.iter().all(|j| j.2 != "running") { Ok(jobs) } else { Err(jobs) }
    });
    std::thread::sleep(Duration::from_secs(10));
    let later = ns.jobs_of("paused");
    assert_eq!(later.len(), settled.len(), "no Job created while suspended: {settled:?} then {later:?}");
    assert_eq!(get(&ns, "paused")["status"]["phase"], "Suspended");
    let out = smo().args(["resume", "paused", "-n", &ns.0]).output().expect("smo resume");
    assert!(out.status.success() && text(&out).contains("/paused resumed"), "{}", text(&out));
    wait_for(&ns, "paused", "Complete", &operator, 180);
    let jobs = ns.jobs_of("paused");
    assert_eq!(jobs.len(), 8, "4 sequences × 2 steps: {jobs:?}");
    assert!(per_job(&jobs).values().all(|n| *n == 1), "each step once: {jobs:?}");
    let reasons = event_reasons(&ns);
    assert!(reasons.iter().any(|r| r == "Suspended") && reasons.iter().any(|r| r == "Resumed"), "{reasons:?}");
}

/// `smo stop NAME` (`spec.shutdown: Stop`, as `argo stop`) mid-run: the step jobs running finish
/// and are kept, no new Job is created for 10 s, and the workflow ends `Failed` with the
/// condition `Failed=True`, reason `Stopped`, and an Event `Stopped`; removing `shutdown` after
/// the end runs nothing again.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn smo_stop_lets_the_running_jobs_finish_and_ends_the_workflow_stopped() {
    let ns = Namespace::new("op-stop");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    let manifest = state_machine(
        "halted",
        "  workflow: {completed: 6}\n  cluster: {maxSize: 2}\n",
        &[("a", "sleep 6"), ("b", "sleep 1")],
    );
    apply(&ns, &manifest);
    let running = eventually(Duration::from_secs(90), "no Job runs", || {
        let jobs = ns.jobs_of("halted");
        let running: Vec<_> = jobs.iter().filter(|j| j.2 == "running").cloned().collect();
        if running.is_empty() { Err(jobs) } else { Ok(running) }
    });
    let out = smo().args(["stop", "halted", "-n", &ns.0]).output().expect("smo stop");
    assert!(
        out.status.success()
            && text(&out).contains("statemachine.state-machine.converged-computing.org/halted stopped"),
        "{}",
        text(&out)
    );
    wait_for(&ns, "halted", "Failed", &operator, 120);
    let status = get(&ns, "halted")["status"].clone();
    assert_eq!(status["phase"], "Failed", "{status:#}");
    let failed = condition(&status, "Failed").cloned().unwrap_or_default();
    assert_eq!(failed["reason"], "Stopped", "{status:#}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("stopped with strategy 'Stop' (spec.shutdown): "), "{message}");
    // What ran when it was stopped finished (kept, complete), and nothing new came after.
    let ended = ns.jobs_of("halted");
    for job in &running {
        let now = ended.iter().find(|j| j.0 == job.0 && j.1 == job.1);
        assert!(now.is_some_and(|j| j.2 == "Complete"), "{job:?} ran on to its end: {ended:?}");
    }
    assert!(ended.iter().all(|j| j.2 != "running"), "nothing runs after the end: {ended:?}");
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(ns.jobs_of("halted").len(), ended.len(), "no Job created after the stop: {ended:?}");
    let reasons = event_reasons(&ns);
    assert!(reasons.iter().any(|r| r == "Stopping") && reasons.iter().any(|r| r == "Stopped"), "{reasons:?}");
    // Not an undo once ended.
    let out = kubectl(&[
        "-n",
        &ns.0,
        "patch",
        "statemachine",
        "halted",
        "--type=merge",
        "-p",
        r#"{"spec":{"shutdown":null}}"#,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(get(&ns, "halted")["status"]["phase"], "Failed");
    assert_eq!(ns.jobs_of("halted").len(), ended.len(), "nothing runs again");
}

/// `smo stop NAME --now` (`spec.shutdown: Terminate`, as `argo terminate`): the running step
/// Jobs are gone within seconds and the workflow ends `Failed`, reason `Stopped`.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn smo_stop_now_deletes_the_running_jobs_and_ends_the_workflow_stopped() {
    let ns = Namespace::new("op-terminate");
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = Operator::start(&ns, dir.path());
    let manifest = state_machine("cut", "  workflow: {completed: 4}\n  cluster: {maxSize: 2}\n", &[("a", "sleep 300")]);
    apply(&ns, &manifest);
    eventually(Duration::from_secs(90), "no Job runs", || {
        let jobs = ns.jobs_of("cut");
        if jobs.iter().filter(|j| j.2 == "running").count() == 2 { Ok(()) } else { Err(jobs) }
    });
    let out = smo().args(["stop", "cut", "-n", &ns.0, "--now"]).output().expect("smo stop --now");
    assert!(
        out.status.success()
            && text(&out).contains("statemachine.state-machine.converged-computing.org/cut terminated"),
        "{}",
        text(&out)
    );
    let started = std::time::Instant::now();
    eventually(Duration::from_secs(20), "the running Jobs are not deleted", || {
        let jobs = ns.jobs_of("cut");
        if jobs.is_empty() { Ok(()) } else { Err(jobs) }
    });
    let gone = started.elapsed();
    wait_for(&ns, "cut", "Failed", &operator, 30);
    let status = get(&ns, "cut")["status"].clone();
    assert_eq!(condition(&status, "Failed").map(|c| c["reason"].clone()), Some(Value::from("Stopped")), "{status:#}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.contains("'Terminate'") && message.contains("2 stopped before their end"), "{message}");
    assert!(event_reasons(&ns).iter().any(|r| r == "Stopped"));
    std::thread::sleep(Duration::from_secs(5));
    assert!(ns.jobs_of("cut").is_empty(), "nothing new after the end");
    eprintln!("the running Jobs were gone {:.1} s after smo stop --now", gone.as_secs_f64());
}

/// What the cluster deletes under a running workflow is made again or remembered. A garbage
/// collector that takes the resource for gone — as the 1.20 controller-manager's did after an
/// apiserver restart in this project's chaos suite (kubernetes#104342) — deletes what the
/// resource owns: its registry's StatefulSet and Service, and its Jobs, completed ones too.
///
/// * The registry deleted mid-run is applied again at the same ClusterIP (the steps carry that
///   address), with `RegistryUnavailable` and `RegistryRestored` Events, and the run goes on.
/// * The Jobs of completed sequences deleted (all but their first step's) while the operator
///   is down: the next operator counts them completed from the status and the kept timeline,
///   never runs their last steps again, and runs only the sequences still wanted. (A
///   completion the timeline has not recorded yet — it is written every 5 s — cannot be known
///   once its Jobs are gone: the test deletes the Jobs of recorded ones.)
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn what_the_cluster_deletes_under_a_run_is_made_again_or_remembered() {
    let ns = Namespace::new("op-collected");
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Operator::spawn(&ns, dir.path(), &[]);
    let head = own_registry("  workflow: {completed: 6, maxFailures: 50}\n  cluster: {maxSize: 2}\n");
    let steps =
        [("a", "sleep 2; echo \"$jobid\" > a.txt"), ("b", "sleep 1; cat a.txt > b.txt"), ("c", "sleep 1; cat b.txt")];
    let manifest = state_machine("collected", &head, &steps)
        .replacen(
            "    script: |\n      sleep 2; echo",
            "    registry: {push: a}\n    script: |\n      sleep 2; echo",
            1,
        )
        .replacen(
            "    script: |\n      sleep 1; cat a",
            "    registry: {pull: a, push: b}\n    script: |\n      sleep 1; cat a",
            1,
        )
        .replacen(
            "    script: |\n      sleep 1; cat b",
            "    registry: {pull: b}\n    script: |\n      sleep 1; cat b",
            1,
        );
    apply(&ns, &manifest);
    let completed = || get(&ns, "collected")["status"]["completed"].as_i64().unwrap_or(0);
    eventually(Duration::from_secs(240), "no sequence completed", || if completed() >= 1 { Ok(()) } else { Err(()) });
    let address = || {
        let out = kubectl(&["-n", &ns.0, "get", "service", "collected-registry", "-o", "jsonpath={.spec.clusterIP}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ip = address();
    assert!(!ip.is_empty(), "the registry's Service has a ClusterIP");

    // The registry's objects deleted, as the garbage collector would (background: its Pod goes too).
    let out = kubectl(&["-n", &ns.0, "delete", "statefulset,service", "collected-registry", "--wait=false"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(120), "the registry was not made again", || {
        let reasons = event_reasons(&ns);
        if reasons.iter().any(|r| r == "RegistryRestored") { Ok(()) } else { Err((reasons, first.log())) }
    });
    assert!(event_reasons(&ns).iter().any(|r| r == "RegistryUnavailable"), "{:?}", event_reasons(&ns));
    assert_eq!(address(), ip, "the Service made again has the address the steps use");

    // Two sequences completed since, and the kept timeline has them (it is written every 5 s).
    let before = completed();
    eventually(Duration::from_secs(240), "the run did not go on after the registry came back", || {
        if completed() >= before + 2 { Ok(()) } else { Err(get(&ns, "collected")["status"].clone()) }
    });
    std::thread::sleep(Duration::from_secs(6));
    let first_log = first.kill();
    // The completions on record: in the kept timeline. (One whose record was not written yet
    // when its Jobs went — the timeline is written every 5 s — cannot be known, and runs again.)
    let recorded = timeline_of(&ns, "collected", dir.path());
    let done: Vec<String> = {
        let jobs = ns.jobs_of("collected");
        let mut ids: Vec<String> = jobs
            .iter()
            .filter(|(id, step, phase)| {
                step == "c" && phase == "Complete" && recorded["timestamps"].get(format!("{id}_c_succeeded")).is_some()
            })
            .map(|j| j.0.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    assert!(done.len() >= 2, "{done:?}");
    let carried = get(&ns, "collected")["status"].clone();
    // Their Jobs of steps b and c deleted: what is left of them looks like sequences at step b.
    for id in &done {
        let selector = format!("state-machine.converged-computing.org/workflow=collected,jobid={id},app!=a");
        let out = kubectl(&["-n", &ns.0, "delete", "jobs", "-l", &selector, "--wait=true"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let second = Operator::spawn(&ns, dir.path(), &[]);
    wait_for(&ns, "collected", "Complete", &second, 300);
    let status = get(&ns, "collected")["status"].clone();
    let context = format!("before the restart: {carried:#}\nfirst operator:\n{first_log}\nsecond:\n{}", second.log());
    assert_eq!(status["completed"].as_i64(), Some(6), "{status:#}\n{context}");
    let c = status["steps"].as_array().and_then(|s| s.iter().find(|st| st["name"] == "c")).cloned().unwrap_or_default();
    assert_eq!(c["succeeded"].as_i64(), Some(6), "step c ran once per completed sequence: {status:#}\n{context}");
    let jobs = ns.jobs_of("collected");
    for id in &done {
        let again: Vec<_> = jobs.iter().filter(|(j, step, _)| j == id && step != "a").collect();
        assert!(again.is_empty(), "the completed sequence {id} ran again: {again:?}\n{context}");
    }
    assert!(second.log().contains("a completed sequence lost some of its Jobs"), "{context}");
    // The kept timeline: exactly 6 sequences ran their last step to success.
    let times = timeline_of(&ns, "collected", dir.path());
    let stamps = times["timestamps"].as_object().cloned().unwrap_or_default();
    let last_ok = stamps.keys().filter(|k| k.ends_with("_c_succeeded")).count();
    assert_eq!(last_ok, 6, "{stamps:?}\n{context}");
}
