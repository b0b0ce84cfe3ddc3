//! `smo run --executor kubernetes` against the project's own cluster (`make cluster-up`: a real
//! kube-apiserver, controller-manager, scheduler and a kubelet running Pods in containers).
//!
//! These tests need that cluster, so they are `#[ignore]`d in a plain `cargo test` and run by
//! `make test-cluster`, which starts it and passes `KUBECONFIG` and `SMO_REGISTRY`. Each test
//! works in a namespace of its own and deletes it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::{
    Namespace, eventually, first_running, install_custom_crds, kubectl, kubectl_with_input, per_job, registry,
    restart_component, serve_jobsets_but_not_miniclusters, text, within,
};
use common::smo;
use serde_json::Value;

/// A StateMachine manifest `kube-test` with `steps` (name, script) in the test image, one CPU
/// each (the test node has two), written into `dir`.
fn manifest(dir: &Path, workflow: &str, steps: &[(&str, &str)]) -> std::path::PathBuf {
    let path = dir.join("state-machine.yaml");
    std::fs::write(&path, common::cluster::state_machine("kube-test", workflow, steps, 1)).expect("write manifest");
    path
}

/// Adds `lines` (YAML of a step, indented) to the first step of the manifest at `wf`.
fn add_to_first_step(wf: &Path, lines: &str) {
    let text = std::fs::read_to_string(wf).expect("manifest");
    let added =
        text.replacen("    config: {coresPerTask: 1}\n", &format!("    config: {{coresPerTask: 1}}\n{lines}"), 1);
    assert_ne!(added, text, "the manifest has a step to add to");
    std::fs::write(wf, added).expect("write manifest");
}

/// Runs started by this test binary: each gets a run directory of its own.
static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn run(manifest: &Path, ns: &Namespace, dir: &Path) -> Command {
    let smo_image = std::env::var("SMO_TEST_SMO_IMAGE").unwrap_or_else(|_| "docker.io/library/smo:dev".into());
    let mut cmd = smo();
    cmd.arg("run")
        .arg(manifest)
        .args(["--executor", "kubernetes", "--namespace", &ns.0, "--no-progress", "--plain-http"])
        .args(["--registry", &registry(), "--smo-image", &smo_image])
        .arg("--run-dir")
        .arg(dir.join(format!("run-{}", RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed))));
    cmd
}

#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn sequences_run_as_real_jobs_to_exactly_the_wanted_completions() {
    let ns = Namespace::new("chain");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow: {completed: 3}\n  cluster: {maxSize: 2}\n",
        &[("job_a", "echo \"a of $jobid on $(hostname)\""), ("job_b", "test -n \"$jobid\"\necho b")],
    );
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sequences: 3 completed, 0 failed, 3 started"),
        "{}",
        text(&out)
    );
    let jobs = ns.jobs();
    assert_eq!(jobs.len(), 6, "exactly 3 sequences × 2 steps: {jobs:?}");
    assert!(jobs.iter().all(|(_, _, phase)| phase == "Complete"), "{jobs:?}");
    assert!(per_job(&jobs).values().all(|n| *n == 1), "one Job per (jobid, step): {jobs:?}");
}

#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_failing_step_is_detected_cleaned_up_and_capped() {
    let ns = Namespace::new("fail");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow: {completed: 2, maxFailures: 2}\n  cluster: {maxSize: 2}\n",
        &[("job_a", "echo a"), ("job_b", "echo failing on purpose >&2\nexit 3")],
    );
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reaching workflow.maxFailures (2)"), "{}", text(&out));
    assert!(
        stderr.contains("step job_b failed: BackoffLimitExceeded"),
        "the Job's Failed condition is the reason: {}",
        text(&out)
    );
    // And what the Pod said before it was deleted with its Job: the container, its exit code
    // and the end of its log.
    assert!(
        stderr.contains("container step exited with 3 (Error)")
            && stderr.contains("its log ends: ")
            && stderr.contains("failing on purpose"),
        "the failed container and its log are in the reason: {}",
        text(&out)
    );
    // A failed sequence's Jobs are deleted (the original left them behind).
    eventually(Duration::from_secs(30), "the failed sequences' Jobs are still there", || {
        let failed: Vec<_> = ns.jobs().into_iter().filter(|(_, step, _)| step == "job_b").collect();
        if failed.is_empty() { Ok(()) } else { Err(failed) }
    });
}

#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_run_killed_outright_is_finished_by_running_the_same_command_again() {
    let ns = Namespace::new("restart");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow: {completed: 4}\n  cluster: {maxSize: 2}\n",
        &[("job_a", "sleep 2"), ("job_b", "sleep 2"), ("job_c", "sleep 1")],
    );
    let mut child = run(&wf, &ns, dir.path()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start smo");
    // Kill smo once some Jobs have completed and others run.
    ns.wait_mid_run(|| assert!(child.try_wait().expect("smo status").is_none(), "smo ended before it was killed"));
    child.kill().expect("SIGKILL smo");
    child.wait().expect("reap smo");
    let out = run(&wf, &ns, dir.path()).output().expect("run smo again");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sequences: 4 completed, 0 failed"), "{}", text(&out));
    let jobs = ns.jobs();
    assert!(per_job(&jobs).values().all(|n| *n == 1), "no duplicate Job for any (jobid, step): {jobs:?}");
    let complete = jobs.iter().filter(|j| j.2 == "Complete").count();
    assert_eq!(complete, 12, "exactly 4 sequences × 3 steps completed: {jobs:?}");
}

/// The original's CI scenario in its format (`tests/fixtures/original/state-machine.yaml`: 4
/// sequences × 3 steps, artifacts handed A → B → C through the registry), its `rockylinux:9`
/// being the cluster's Debian image: exactly 12 successful Jobs, and every sequence's artifacts
/// in the registry with the files the steps wrote. `smo` reaches the step pods from its own
/// image (init container).
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn the_originals_ci_scenario_passes_artifacts_through_the_registry() {
    let wf = common::original_fixture("state-machine.yaml");
    let ns = Namespace::new("ci");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    let jobs = ns.jobs();
    assert_eq!(jobs.len(), 12, "exactly 4 sequences × 3 steps: {jobs:?}");
    assert!(jobs.iter().all(|(_, _, phase)| phase == "Complete"), "no failed Job: {jobs:?}");
    let ids: std::collections::BTreeSet<&String> = jobs.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), 4);
    for id in ids {
        let tags = common::http_get(&registry(), &format!("/v2/{id}/tags/list")).unwrap_or_default();
        for tag in ["job_a", "job_b", "job_c"] {
            assert!(tags.contains(&format!("\"{tag}\"")), "{id} has no artifact {tag}: {tags}");
        }
        // The last artifact holds what every step wrote.
        let pulled = dir.path().join(format!("pulled-{id}"));
        let reference = format!("{}/{id}:job_c", registry());
        let out = smo()
            .args(["artifact", "pull", &reference, "--plain-http", "--output"])
            .arg(&pulled)
            .output()
            .expect("run smo artifact pull");
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(std::fs::read_to_string(pulled.join(format!("{id}-a.txt"))).expect("a's file").trim(), id.as_str());
        assert!(pulled.join(format!("{id}-b.txt")).is_file() && pulled.join(format!("{id}-c.txt")).is_file());
    }
}

#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_finish_workflow_rule_ends_the_run_before_any_later_step_is_created() {
    let ns = Namespace::new("finish");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow:\n    completed: 4\n    events:\n    - {metric: count.job_a.success, when: '>= 1', action: finish-workflow}\n  cluster: {maxSize: 2}\n",
        &[("job_a", "echo a"), ("job_b", "echo b")],
    );
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("count.job_a.success"), "{}", text(&out));
    let jobs = ns.jobs();
    assert!(jobs.iter().all(|(_, step, _)| step == "job_a"), "no Job of a later step: {jobs:?}");
}

/// Custom metrics come from the Pods' logs, read as the original read them (`timestamps=true`):
/// a `parse_log` script written for the original sees each line's RFC 3339 time first,
/// `save-path` keeps the logs in that form, and an `events.metrics` pattern anchored at both
/// ends of a line matches the job's own output, as in a local run. Each metric's rule finishes
/// the workflow after its first sequence (of 3 wanted), and both fire.
/// Custom metrics are computed in the step's own Pod from its output as the original read it
/// (each line after its time: what `parse_log` gets; patterns see the lines without it); the
/// logs kept at `save-path` have the times too.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn custom_metrics_are_computed_in_the_steps_pod_from_its_log_as_the_original_read_it() {
    let ns = Namespace::new("metrics");
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = dir.path().join("kept");
    let rules = "    - {metric: max.train.accuracy, when: '>= 0.8', action: finish-workflow}\n    - {metric: max.train.stamped, when: '>= 0.8', action: finish-workflow}\n";
    let head = format!("  workflow:\n    completed: 3\n    events:\n{rules}  cluster: {{maxSize: 1}}\n");
    let wf = manifest(dir.path(), &head, &[("train", "echo \"accuracy: 0.9\"")]);
    let events = format!(
        r#"    properties: {{save-path: '{}'}}
    events:
      metrics:
      - {{key: accuracy, pattern: '^accuracy: ([0-9.]+)$'}}
      script: |
        def parse_log(log):
            # Written for the original, which handed each line with its time first.
            for line in log.splitlines():
                stamp, _, text = line.partition(" ")
                if stamp.endswith("Z") and text.startswith("accuracy: "):
                    return {{"stamped": float(text.split(": ")[1])}}
            return {{}}
"#,
        kept.display()
    );
    add_to_first_step(&wf, &events);
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sequences: 1 completed"), "the first sequence's metrics ended the run: {}", text(&out));
    for condition in ["max.train.accuracy >= 0.8", "max.train.stamped >= 0.8"] {
        assert!(stdout.contains(condition), "rule `{condition}` fired: {}", text(&out));
    }
    let logs: Vec<PathBuf> = std::fs::read_dir(kept.join("logs"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    assert_eq!(logs.len(), 1, "one Pod's log kept at save-path: {logs:?}");
    let log = std::fs::read_to_string(&logs[0]).expect("read the kept log");
    let line = log.lines().find(|l| l.ends_with("accuracy: 0.9")).unwrap_or_else(|| panic!("{log}"));
    let stamp = line.split(' ').next().unwrap_or_default();
    assert!(
        stamp.len() >= 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "an RFC 3339 time first: {line}"
    );
}

/// `parse_log` is user code: it runs in the step's Pod, never where smo runs. A script that
/// looks at what it can see finds the step's Pod (its hostname), no ServiceAccount token and
/// none of smo's environment (`smo run` here has SMO_REGISTRY, SMO_IMAGE… from cluster-env);
/// only then does its rule fire.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn parse_log_runs_in_the_steps_pod_with_its_identity_not_smos() {
    let ns = Namespace::new("isolated");
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = "    - {metric: max.look.isolated, when: '>= 1', action: finish-workflow}\n";
    let head = format!("  workflow:\n    completed: 2\n    events:\n{rules}  cluster: {{maxSize: 1}}\n");
    let wf = manifest(dir.path(), &head, &[("look", "echo looking")]);
    let events = r#"    events:
      script: |
        def parse_log(log):
            import os, socket
            token = os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token")
            smo_env = [k for k in os.environ if k.startswith("SMO_") or k == "KUBECONFIG"]
            in_pod = socket.gethostname().startswith("look-")
            print("token", token, "smo_env", smo_env, "host", socket.gethostname())
            return {"isolated": 1 if (in_pod and not token and not smo_env) else 0, "token": token, "smo_env": len(smo_env)}
"#;
    add_to_first_step(&wf, events);
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("max.look.isolated >= 1") && stdout.contains("sequences: 1 completed"),
        "parse_log saw the step's Pod only: {}",
        text(&out)
    );
}

#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_always_succeed_step_that_fails_advances_its_sequence() {
    let ns = Namespace::new("always");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow: {completed: 2}\n  cluster: {maxSize: 2}\n",
        &[("job_a", "exit 1"), ("job_b", "echo b")],
    );
    let text_with_property = std::fs::read_to_string(&wf).expect("manifest").replacen(
        "    config: {coresPerTask: 1}\n",
        "    config: {coresPerTask: 1}\n    properties: {always-succeed: '1'}\n",
        1,
    );
    std::fs::write(&wf, text_with_property).expect("write manifest");
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    let jobs = ns.jobs();
    let (a, b): (Vec<_>, Vec<_>) = jobs.iter().partition(|(_, step, _)| step == "job_a");
    assert!(a.len() == 2 && a.iter().all(|j| j.2 == "Failed"), "job_a failed twice: {jobs:?}");
    assert!(b.len() == 2 && b.iter().all(|j| j.2 == "Complete"), "and each sequence went on to job_b: {jobs:?}");
}

/// A Pod the infrastructure ends (here: marked `Evicted` as a kubelet under memory pressure
/// does) fails its Job, but not the step: the step's Job is replaced and runs again, and no
/// failure is counted (with `maxFailures: 1` a counted failure would end the run).
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_evicted_pod_does_not_fail_the_step() {
    let ns = Namespace::new("evict");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow: {completed: 1, maxFailures: 1}\n  cluster: {maxSize: 1}\n",
        &[("job_a", "sleep 8\necho done")],
    );
    let child = run(&wf, &ns, dir.path()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start smo");
    // Wait for the step's Pod to run, then evict it the way a kubelet does.
    let pod = first_running(&ns, "pods");
    let evicted =
        r#"{"status":{"phase":"Failed","reason":"Evicted","message":"The node was low on resource: memory."}}"#;
    let out = kubectl(&["-n", &ns.0, "patch", "pod", &pod, "--subresource=status", "--type=merge", "-p", evicted]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = child.wait_with_output().expect("smo ends");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sequences: 1 completed, 0 failed, 1 started"),
        "{}",
        text(&out)
    );
    let jobs = ns.jobs();
    assert!(jobs.iter().any(|j| j.2 == "Complete"), "the replacement Job completed: {jobs:?}");
    assert!(jobs.iter().all(|j| j.2 != "Failed"), "the evicted Job is gone: {jobs:?}");
}

/// A step's Job deleted by someone else while it runs (here `kubectl delete job`) ends the step
/// as failed, "deleted outside smo": the failure is counted, the sequence replaced, and the run
/// ends — it used to wait for the gone Job for ever.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_job_deleted_outside_smo_fails_its_step_and_the_run_goes_on() {
    let ns = Namespace::new("deleted");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow: {completed: 1, maxFailures: 3}\n  cluster: {maxSize: 1}\n",
        &[("job_a", "sleep 6\necho done")],
    );
    let started = std::time::Instant::now();
    let child = run(&wf, &ns, dir.path()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start smo");
    let job = first_running(&ns, "jobs");
    let out = kubectl(&["-n", &ns.0, "delete", "job", &job, "--wait=false"]);
    assert!(out.status.success(), "{}", text(&out));
    // It used to wait for the gone Job for ever: a deadline, not a hang of the test.
    let mut child = child;
    while child.try_wait().expect("smo's state").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("smo still waits for the deleted Job after 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("smo ends");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sequences: 1 completed, 1 failed, 2 started"), "{}", text(&out));
    assert!(text(&out).contains("deleted outside smo"), "the reason is named: {}", text(&out));
}

/// A step whose Pod fits a node but finds no room on it now (all the test node's CPUs, a tenth
/// of one of which another Pod holds) is reported with the scheduler's own words — not a silent
/// wait: after a minute, or half the patience — and, with `--pending-timeout`, fails with that
/// reason. (A Pod no node could ever hold is refused before the run: the next test.)
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_step_that_cannot_be_scheduled_is_reported_and_fails_after_the_pending_timeout() {
    let ns = Namespace::new("pending");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, cpus) = largest_node_cpus();
    let cores = cpus.parse::<u32>().unwrap_or_else(|_| panic!("the test node's allocatable CPUs are whole: {cpus}"));
    // Holds a tenth of a CPU: the step's Pod fits the node's allocatable, not what is free.
    let hog = "apiVersion: v1\nkind: Pod\nmetadata: {name: hog}\nspec:\n  containers:\n  - name: pause\n    image: k8s.gcr.io/pause:3.2\n    imagePullPolicy: IfNotPresent\n    resources: {requests: {cpu: 100m}}\n";
    let out = kubectl_with_input(&["-n", &ns.0, "apply", "-f", "-"], hog.as_bytes());
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(30), "the Pod holding a tenth of a CPU was not scheduled", || {
        let out = kubectl(&["-n", &ns.0, "get", "pod", "hog", "-o", "jsonpath={.spec.nodeName}"]);
        let node = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if node.is_empty() { Err(text(&out)) } else { Ok(()) }
    });
    let path = dir.path().join("state-machine.yaml");
    let manifest = common::cluster::state_machine(
        "kube-test",
        "  workflow: {completed: 1, maxFailures: 1}\n  cluster: {maxSize: 1}\n",
        &[("big", "echo never")],
        cores,
    );
    std::fs::write(&path, manifest).expect("write manifest");
    let started = std::time::Instant::now();
    let mut command = run(&path, &ns, dir.path());
    command.args(["--pending-timeout", "20"]).env_remove("RUST_LOG");
    let out = within(command, Duration::from_secs(120));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "the step failed, the run with it: {all}");
    assert!(
        all.contains("cannot start yet") && all.contains("Unschedulable") && all.contains("Insufficient cpu"),
        "the scheduler's reason, said while waiting: {all}"
    );
    assert!(all.contains("could not start within 20s"), "the failure names the wait: {all}");
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
}

/// A step whose Pod no node could ever hold (64 CPUs on the 2-CPU test node) is refused before
/// anything is submitted, at once, with the numbers: what it asks for, and the largest node.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_step_no_node_can_hold_is_refused_before_the_run_with_the_numbers() {
    let ns = Namespace::new("nofit");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state-machine.yaml");
    let manifest = common::cluster::state_machine(
        "kube-test",
        "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n",
        &[("small", "echo fits"), ("big", "echo never")],
        1,
    )
    .replacen(
        "    config: {coresPerTask: 1}\n    script: |\n      echo never",
        "    config: {coresPerTask: 64}\n    script: |\n      echo never",
        1,
    );
    assert!(manifest.contains("coresPerTask: 64"), "{manifest}");
    std::fs::write(&path, manifest).expect("write manifest");
    let (node, cpus) = largest_node_cpus();
    let started = std::time::Instant::now();
    let out = within(run(&path, &ns, dir.path()), Duration::from_secs(60));
    let took = started.elapsed();
    eprintln!("refused in {:.2} s", took.as_secs_f64());
    assert_eq!(out.status.code(), Some(2), "a run that cannot start: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = format!("step big asks 64 CPUs per Pod; the largest node has {cpus} (node {node})");
    assert!(stderr.contains(&said), "{said}\n{}", text(&out));
    assert!(!stderr.contains("step small"), "the step that fits is not named: {stderr}");
    assert!(ns.jobs().is_empty(), "nothing was submitted");
    assert!(took < Duration::from_secs(10), "refused after {took:?}");
}

/// The name and allocatable CPUs of the cluster's node with the most.
fn largest_node_cpus() -> (String, String) {
    let out = kubectl(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.allocatable.cpu}{\"\\n\"}{end}",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let nodes: Vec<(String, String)> =
        listed.lines().filter_map(|l| l.split_once(' ').map(|(n, c)| (n.to_string(), c.to_string()))).collect();
    let millis =
        |cpu: &str| cpu.strip_suffix('m').map_or_else(|| cpu.parse::<u64>().map(|c| c * 1000), str::parse).unwrap_or(0);
    nodes.into_iter().max_by_key(|(_, cpu)| millis(cpu)).expect("a node")
}

/// Restarting the apiserver mid-run: its watch cache starts over, so the executor's watch, which
/// resumes from an older resourceVersion, gets 410 Gone and re-lists every Job of the workflow.
/// The run must neither lose a transition (it would hang or come out short) nor double one (a
/// duplicate Job, or more than 4 completions), and no submission made while the apiserver was
/// down may fail a sequence.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn an_apiserver_restart_mid_run_neither_loses_nor_doubles_a_transition() {
    let ns = Namespace::new("relist");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = manifest(
        dir.path(),
        "  workflow: {completed: 4}\n  cluster: {maxSize: 2}\n",
        &[("job_a", "sleep 2"), ("job_b", "sleep 2"), ("job_c", "sleep 1")],
    );
    let stderr = dir.path().join("smo.stderr");
    let child = run(&wf, &ns, dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("start smo");
    ns.wait_mid_run(|| {});
    restart_component("apiserver");
    let out = child.wait_with_output().expect("smo ends");
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    let all = format!("{}{log}", text(&out));
    assert!(out.status.success(), "{all}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sequences: 4 completed, 0 failed, 4 started"), "{all}");
    assert!(
        log.contains("the watch of Jobs re-lists the workflow's Jobs"),
        "the restart made the watch re-list: {all}"
    );
    let jobs = ns.jobs();
    assert!(per_job(&jobs).values().all(|n| *n == 1), "no duplicate Job for any (jobid, step): {jobs:?}");
    assert_eq!(jobs.iter().filter(|j| j.2 == "Complete").count(), 12, "exactly 4 × 3 Jobs completed: {jobs:?}");
}

/// Does for the test what the JobSet controller and the Flux Operator do for smo: for every
/// JobSet, its child Job `<name>-jobset-0` from the replicated Job's template; for every
/// MiniCluster, a Job `<name>` with its `jobLabels` running its container's command, image,
/// working directory and ConfigMap volume (without Flux). Both are owned by their object, as the
/// controllers make them. It records every object it saw: (kind, name, labels).
struct ControllerStandIn {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(String, String, Value)>>>,
}

impl ControllerStandIn {
    fn start(ns: &str) -> ControllerStandIn {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ns, flag) = (ns.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut seen: Vec<(String, String, Value)> = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let out = kubectl(&["-n", &ns, "get", "jobsets,miniclusters", "-o", "json"]);
                let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                for object in list["items"].as_array().cloned().unwrap_or_default() {
                    let kind = object["kind"].as_str().unwrap_or_default().to_string();
                    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                    if seen.iter().any(|(k, n, _)| *k == kind && *n == name) {
                        continue;
                    }
                    let job = Self::job_for(&object);
                    // The objects hold fields of newer Kubernetes versions than the test
                    // cluster's (a Job's `suspend`); the apiserver drops them as a real
                    // controller's would be, kubectl's client-side check would refuse them.
                    let body = serde_json::to_vec(&job).expect("a Job");
                    let out = kubectl_with_input(&["-n", &ns, "create", "--validate=false", "-f", "-"], &body);
                    if out.status.success() {
                        seen.push((kind, name, object["metadata"]["labels"].clone()));
                    } else {
                        eprintln!(
                            "stand-in: cannot create the Job of {kind} {name}: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            seen
        });
        ControllerStandIn { stop, thread: Some(thread) }
    }

    /// The Job the controller of `object` would make.
    fn job_for(object: &Value) -> Value {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let owner = serde_json::json!([{
            "apiVersion": object["apiVersion"], "kind": object["kind"], "name": name,
            "uid": object["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
        }]);
        if object["kind"] == "JobSet" {
            let template = &object["spec"]["replicatedJobs"][0]["template"];
            return serde_json::json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": format!("{name}-jobset-0"), "labels": template["metadata"]["labels"], "ownerReferences": owner},
                "spec": template["spec"],
            });
        }
        let spec = &object["spec"];
        let container = &spec["containers"][0];
        let (volume, mount) =
            container["volumes"].as_object().and_then(|v| v.iter().next()).expect("a ConfigMap volume");
        let items: Vec<Value> = mount["items"]
            .as_object()
            .map(|items| items.iter().map(|(key, path)| serde_json::json!({"key": key, "path": path})).collect())
            .unwrap_or_default();
        serde_json::json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": spec["jobLabels"], "ownerReferences": owner},
            "spec": {
                "parallelism": spec["size"], "completions": spec["size"], "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": spec["jobLabels"]},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "step", "image": container["image"], "workingDir": container["workingDir"],
                            "command": ["/bin/bash", "-c", container["command"]],
                            "resources": container["resources"],
                            "volumeMounts": [{"name": volume, "mountPath": mount["path"]}],
                        }],
                        "volumes": [{"name": volume, "configMap": {"name": mount["configMapName"], "items": items}}],
                    },
                },
            },
        })
    }

    /// Stops it; what it saw: (kind, name, labels).
    fn stop(mut self) -> Vec<(String, String, Value)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().map(|t| t.join().expect("stand-in thread")).unwrap_or_default()
    }
}

impl Drop for ControllerStandIn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The manifest of [`manifest`] with a JobSet step `job_a` and a MiniCluster step `job_b`.
fn custom_workload_manifest(dir: &Path, workflow: &str, b_script: &str) -> std::path::PathBuf {
    let wf = manifest(dir, workflow, &[("job_a", "echo a of $jobid"), ("job_b", b_script)]);
    let text = std::fs::read_to_string(&wf).expect("manifest");
    let mut parts = text.splitn(2, "  - name: job_b\n");
    let (a, b) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let with = |part: &str, property: &str| {
        part.replacen(
            "    config: {coresPerTask: 1}\n",
            &format!("    config: {{coresPerTask: 1}}\n    properties: {{{property}: 'true'}}\n"),
            1,
        )
    };
    std::fs::write(&wf, format!("{}  - name: job_b\n{}", with(a, "jobset"), with(b, "minicluster")))
        .expect("write manifest");
    wf
}

/// A JobSet step and a MiniCluster step: smo creates the objects with the step job's labels,
/// follows the Jobs their controllers make (a success advances, a failure fails the sequence
/// with the Job's reason), and deletes a failed sequence's JobSet and MiniCluster with its Jobs
/// and ConfigMaps.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn jobset_and_minicluster_steps_run_through_their_controllers_jobs() {
    install_custom_crds();
    let ns = Namespace::new("custom");
    let dir = tempfile::tempdir().expect("tempdir");

    let wf = custom_workload_manifest(
        dir.path(),
        "  workflow: {completed: 2}\n  cluster: {maxSize: 2}\n",
        "echo b of $jobid",
    );
    let stand_in = ControllerStandIn::start(&ns.0);
    let out = within(run(&wf, &ns, dir.path()), Duration::from_secs(180));
    let seen = stand_in.stop();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sequences: 2 completed, 0 failed, 2 started"),
        "{}",
        text(&out)
    );
    let kinds: Vec<&str> = seen.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "JobSet").count(), 2, "{seen:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "MiniCluster").count(), 2, "{seen:?}");
    for (kind, name, labels) in &seen {
        assert_eq!(labels["state-machine.converged-computing.org/workflow"], "kube-test", "{kind} {name}: {labels}");
        let step = if kind == "JobSet" { "job_a" } else { "job_b" };
        assert_eq!(labels["app"], step, "{kind} {name}: {labels}");
    }
    let jobs = ns.jobs();
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    assert!(jobs.iter().all(|j| j.2 == "Complete"), "{jobs:?}");

    // A failing MiniCluster step: the sequence fails, and everything of it is deleted.
    let ns = Namespace::new("custom-fail");
    let wf = custom_workload_manifest(
        dir.path(),
        "  workflow: {completed: 1, maxFailures: 1}\n  cluster: {maxSize: 1}\n",
        "echo b fails >&2\nexit 3",
    );
    let stand_in = ControllerStandIn::start(&ns.0);
    let out = within(run(&wf, &ns, dir.path()), Duration::from_secs(180));
    let seen = stand_in.stop();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("step job_b failed"), "{}", text(&out));
    assert_eq!(seen.len(), 2, "one JobSet and one MiniCluster: {seen:?}");
    eventually(Duration::from_secs(30), "the failed sequence left objects behind", || {
        let out = kubectl(&[
            "-n",
            &ns.0,
            "get",
            "jobsets,miniclusters,jobs,configmaps",
            "-l",
            "app.kubernetes.io/managed-by=state-machine-operator",
            "-o",
            "name",
        ]);
        let left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && left.is_empty() { Ok(()) } else { Err(left) }
    });
}

/// A workflow with a MiniCluster step on a cluster without the Flux Operator's CRD: one error
/// before anything runs, naming the step, the API and what to install.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_custom_workload_the_cluster_does_not_serve_is_refused_before_the_run() {
    serve_jobsets_but_not_miniclusters();
    let ns = Namespace::new("nocrd");
    let dir = tempfile::tempdir().expect("tempdir");
    let wf = custom_workload_manifest(dir.path(), "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n", "echo b");
    let out = run(&wf, &ns, dir.path()).output().expect("run smo");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("step `job_b` runs as a MiniCluster (property `minicluster`), but the cluster serves no miniclusters in flux-framework.org/v1alpha2: install the Flux Operator"),
        "{}",
        text(&out)
    );
    assert!(ns.jobs().is_empty(), "nothing ran");
}

/// Two workflows in one namespace that draw the same job id (here: the same `--seed` and
/// prefix) never take each other's Jobs: the second finds the first's Job under the name it
/// wanted, says whose it is, and carries on with another id.
#[test]
#[ignore = "needs the project's cluster: run `make test-cluster`"]
fn a_job_name_taken_by_another_workflow_is_never_mistaken_for_ours() {
    let ns = Namespace::new("collide");
    let dir = tempfile::tempdir().expect("tempdir");
    let steps = [("job_a", "echo a")];
    let left = manifest(dir.path(), "  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n", &steps);
    let out = run(&left, &ns, dir.path()).args(["--seed", "7"]).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    let right_text = std::fs::read_to_string(&left).expect("manifest").replace("name: kube-test", "name: kube-other");
    let right = dir.path().join("other.yaml");
    std::fs::write(&right, right_text.replace("completed: 1}", "completed: 1, maxFailures: 2}")).expect("write");
    let out = run(&right, &ns, dir.path()).args(["--seed", "7"]).output().expect("run smo");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sequences: 1 completed, 1 failed"), "the collision fails one sequence: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("belongs to workflow `kube-test`"), "{}", text(&out));
    let (ours, theirs) = (ns.jobs_of("kube-other"), ns.jobs_of("kube-test"));
    assert_eq!(theirs.len(), 1, "the first workflow's Job is untouched: {theirs:?}");
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_ne!(ours[0].0, theirs[0].0, "another job id");
}
