//! `smo run` from the outside: the real binary runs the project's examples on this machine;
//! the checks read what the steps wrote, the artifacts they passed on, and workflow-times.json.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Registry, root, smo};
use smo_core::times::{SpanEnd, Times};

/// Runs `smo run <workflow> --run-dir <tmp>/run` plus `extra`; returns the output and run dir.
fn run(workflow: &Path, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = smo()
        .arg("run")
        .arg(workflow)
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .args(["--seed", "11", "--no-progress"])
        .args(extra)
        .output()
        .expect("run smo");
    (out, dir)
}

fn text(out: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn times(dir: &tempfile::TempDir) -> Times {
    let path = dir.path().join("run/workflow-times.json");
    Times::from_json(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("workflow-times.json parses")
}

fn example(name: &str) -> PathBuf {
    root().join("examples").join(name).join("workflow.yaml")
}

/// The working directories of the last step of every sequence.
fn step_dirs(dir: &tempfile::TempDir, step: &str) -> Vec<PathBuf> {
    let work = dir.path().join("run/work");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&work)
        .unwrap_or_else(|e| panic!("{}: {e}", work.display()))
        .map(|e| e.expect("entry").path().join(step))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn chain_passes_artifacts_from_step_to_step() {
    let (out, dir) = run(&example("chain"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let t = times(&dir);
    let spans = t.spans();
    let ended: Vec<_> = spans.iter().filter(|s| s.outcome == SpanEnd::Succeeded).collect();
    assert_eq!(ended.len(), 12, "4 sequences x 3 steps: {spans:?}");
    assert!(t.timestamps.contains_key("workflow_start") && t.timestamps.contains_key("workflow_complete"));
    let last = step_dirs(&dir, "step_c");
    assert_eq!(last.len(), 4);
    for c in last {
        // step_c's directory holds what step_a and step_b wrote, pulled through the store.
        let a = std::fs::read_to_string(c.join("a.txt")).expect("a.txt reached step_c");
        let jobid = c.parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("jobid dir");
        assert!(a.starts_with(jobid), "{a}");
        assert!(std::fs::read_to_string(c.join("b.txt")).expect("b.txt").contains("step_b saw it"));
        assert_eq!(std::fs::read_to_string(c.join("c.txt")).expect("c.txt").trim(), "2");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("step_a") && stdout.contains("step_c"), "summary table: {stdout}");
}

#[test]
fn always_succeed_counts_failures_as_successes() {
    let (out, dir) = run(&example("always-succeed"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let spans = times(&dir).spans();
    assert_eq!(spans.len(), 6, "{spans:?}");
    assert!(spans.iter().all(|s| s.outcome == SpanEnd::Failed), "every job failed: {spans:?}");
    // The failed steps' outputs were still handed on.
    let last = step_dirs(&dir, "flaky_3");
    assert_eq!(last.len(), 2);
    for d in last {
        assert!(std::fs::read_to_string(d.join("three.txt")).expect("three.txt").contains("got two.txt"));
    }
}

#[test]
fn finish_workflow_rule_stops_after_the_fifth_failure() {
    let (out, dir) = run(&example("finish-early"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let spans = times(&dir).spans();
    let failed_checks = spans.iter().filter(|s| s.step == "check" && s.outcome == SpanEnd::Failed).count();
    assert_eq!(failed_checks, 5, "{spans:?}");
    assert!(spans.iter().all(|s| s.step != "report"), "report never runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("count.check.failure"), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sequences: 0 completed, 5 failed"),
        "the sequence whose job fired the rule is counted: {stdout}"
    );
    assert!(
        !dir.path()
            .join("run/logs")
            .read_dir()
            .expect("logs")
            .any(|e| { e.map(|e| e.file_name().to_string_lossy().starts_with("report-")).unwrap_or(false) })
    );
}

#[test]
fn grow_rule_gives_later_jobs_more_nodes() {
    let (out, dir) = run(&example("grow-shrink"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let used: Vec<u32> = step_dirs(&dir, "simulate")
        .iter()
        .map(|d| std::fs::read_to_string(d.join("nodes-used.txt")).expect("nodes-used.txt").trim().parse().expect("n"))
        .collect();
    assert_eq!(used.len(), 6);
    assert!(used.contains(&1) && used.contains(&3), "nodes grew to the rule's maxSize: {used:?}");
    assert!(used.iter().all(|n| *n <= 3), "never beyond maxSize 3: {used:?}");
    // The slow 3-node job made the shrink rule fire (once or more, depending on how the
    // remaining jobs interleave): the step ends below 3 nodes.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let final_nodes: u32 = stdout
        .lines()
        .find(|l| l.starts_with("simulate "))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no simulate row in the summary: {stdout}"));
    assert!(final_nodes < 3, "the slow 3-node job shrank the step: {stdout}");
    assert!(stdout.contains("shrink"), "{stdout}");
}

#[test]
fn custom_metrics_from_logs_drive_rules() {
    let (out, dir) = run(&example("custom-metric"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let trained = times(&dir).spans().iter().filter(|s| s.step == "train").count();
    assert_eq!(trained, 3, "accuracy reaches 0.8 in the third sequence: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("max.train.accuracy"), "{}", text(&out));
}

/// Asserts that the process whose pid is in `pid_file` no longer runs.
fn assert_gone(pid_file: &Path) {
    let pid = std::fs::read_to_string(pid_file).unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()));
    let status = Path::new("/proc").join(pid.trim()).join("status");
    // Allow the kernel a moment to reap it; a zombie has already stopped running.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = std::fs::read_to_string(&status).unwrap_or_default();
        if state.is_empty() || state.contains("State:\tZ") {
            return;
        }
        assert!(Instant::now() < deadline, "process {} is still running after the run", pid.trim());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn background_processes_of_a_step_end_with_the_step() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 2\ncluster:\n  max_size: 2\n",
        &[("bg", "name: bg\nconfig: {}\nscript: |\n  sleep 300 &\n  echo $! > child.pid\n")],
    );
    let (out, dir) = run(&wf, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let dirs = step_dirs(&dir, "bg");
    assert_eq!(dirs.len(), 2);
    for d in dirs {
        assert_gone(&d.join("child.pid"));
    }
}

#[test]
fn repeat_rules_run_a_step_again_with_its_own_record() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 1\n  events:\n  - {metric: count.train.success, when: '< 3', action: repeat}\ncluster:\n  max_size: 1\n",
        &[
            ("train", "name: train\nconfig: {}\nregistry: {push: model}\nscript: |\n  echo x >> rounds.txt\n"),
            ("use", "name: use\nconfig: {}\nregistry: {pull: model}\nscript: |\n  wc -l < rounds.txt > seen.txt\n"),
        ],
    );
    let (out, dir) = run(&wf, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let spans = times(&dir).spans();
    let attempts: Vec<u32> = spans.iter().filter(|s| s.step == "train").map(|s| s.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3], "three runs of train, each with its span: {spans:?}");
    assert_eq!(spans.iter().filter(|s| s.step == "use").count(), 1);
    let logs = std::fs::read_dir(dir.path().join("run/logs")).expect("logs").count();
    assert_eq!(logs, 4, "one log per job");
}

/// Writes a one-file workflow into `dir` and returns its path.
fn workflow_file(dir: &Path, workflow: &str, steps: &[(&str, &str)]) -> PathBuf {
    let mut jobs = String::new();
    for (name, body) in steps {
        std::fs::write(dir.join(format!("{name}.yaml")), body).expect("write job");
        jobs.push_str(&format!("- config: {name}.yaml\n"));
    }
    let path = dir.join("workflow.yaml");
    std::fs::write(&path, format!("{workflow}jobs:\n{jobs}")).expect("write workflow");
    path
}

#[test]
fn failure_cap_ends_the_run_with_a_reason() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 2\n  maxFailures: 3\ncluster:\n  max_size: 1\n",
        &[("broken", "name: broken\nconfig: {}\nscript: exit 3\n")],
    );
    let (out, dir) = run(&wf, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("workflow.maxFailures (3)"), "{stderr}");
    assert!(stderr.contains("last failure: job_") && stderr.contains("step broken failed: exit code 3"), "{stderr}");
    assert!(stderr.contains("(log: ") && stderr.contains("/logs/broken-job_"), "points at the log: {stderr}");
    assert_eq!(times(&dir).spans().len(), 3, "exactly three sequences were tried");
}

#[test]
fn walltime_kills_the_step_and_its_children() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 1\n  maxFailures: 1\ncluster:\n  max_size: 1\n",
        &[(
            "slow",
            "name: slow\nconfig: {walltime: '0:00:01'}\nscript: |\n  sleep 30 &\n  echo $! > child.pid\n  sleep 30\n",
        )],
    );
    let start = Instant::now();
    let (out, dir) = run(&wf, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(start.elapsed() < Duration::from_secs(15), "the walltime stopped the step");
    for d in step_dirs(&dir, "slow") {
        assert_gone(&d.join("child.pid"));
    }
    let log = std::fs::read_dir(dir.path().join("run/logs")).expect("logs").count();
    assert_eq!(log, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("walltime"), "{}", text(&out));
}

#[test]
fn save_path_keeps_each_jobs_log_like_the_original() {
    let src = tempfile::tempdir().expect("tempdir");
    let keep = src.path().join("kept");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 2\ncluster:\n  max_size: 2\n",
        &[(
            "hello",
            &format!(
                "name: hello\nconfig: {{}}\nproperties:\n  save-path: {}\nscript: echo hello from $jobid\n",
                keep.display()
            ),
        )],
    );
    let (out, _dir) = run(&wf, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let logs: Vec<_> =
        std::fs::read_dir(keep.join("logs")).expect("logs kept").map(|e| e.expect("entry").path()).collect();
    assert_eq!(logs.len(), 2);
    for log in logs {
        let name = log.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        assert!(name.starts_with("hello-job_") && name.ends_with("-0.out"), "{name}");
        assert!(std::fs::read_to_string(&log).expect("log").contains("hello from job_"));
    }
}

#[test]
fn invalid_workflows_do_not_start() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 0\ncluster:\n  max_size: 1\n",
        &[("a", "name: a\nconfig: {}\nscript: echo\n")],
    );
    let (out, dir) = run(&wf, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("workflow.completed: must be at least 1"), "{}", text(&out));
    assert!(!dir.path().join("run").exists(), "nothing was prepared");
}

/// Starts a one-step run whose step sleeps, sends `signal` once the step runs, and checks the
/// exit code, the times file and that the step is gone.
fn interrupted_run(signal: &str, expected: i32) {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 1\ncluster:\n  max_size: 1\n",
        &[("wait", "name: wait\nconfig: {}\nscript: |\n  echo $$ > step.pid\n  sleep 60\n")],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = smo()
        .arg("run")
        .arg(&wf)
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .arg("--no-progress")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start smo");
    // Wait until the step runs, then signal smo.
    let start = Instant::now();
    let pid_file = loop {
        let found = std::fs::read_dir(dir.path().join("run/work"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("wait/step.pid"))
            .find(|p| p.is_file());
        if let Some(p) = found {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the step never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    let status = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let waited = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(waited.elapsed() < Duration::from_secs(15), "smo did not stop after {signal}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(expected));
    assert!(dir.path().join("run/workflow-times.json").is_file(), "what was known is written");
    assert_gone(&pid_file);
}

#[test]
fn ctrl_c_stops_running_steps_and_exits_130() {
    interrupted_run("-INT", 130);
}

#[test]
fn sigterm_stops_running_steps_and_exits_143() {
    interrupted_run("-TERM", 143);
}

/// The registry as `eval "$(make -s cluster-env)"` exports it (SMO_REGISTRY, SMO_PLAIN_HTTP=1)
/// needs no flag, and `--plain-http` with the registry from SMO_REGISTRY is no usage error.
#[test]
fn the_registry_and_plain_http_come_from_the_environment_too() {
    let Some(registry) = Registry::start() else { return };
    for (env, flags) in [
        (&[("SMO_REGISTRY", registry.host.as_str()), ("SMO_PLAIN_HTTP", "1")][..], &[][..]),
        (&[("SMO_REGISTRY", registry.host.as_str())][..], &["--plain-http"][..]),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = smo()
            .arg("run")
            .arg(example("chain"))
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .args(["--no-progress"])
            .args(flags)
            .env_remove("SMO_PLAIN_HTTP")
            .envs(env.iter().copied())
            .output()
            .expect("run smo");
        assert!(out.status.success(), "{env:?} {flags:?}: {}", text(&out));
        let dirs = step_dirs(&dir, "step_c");
        assert_eq!(dirs.len(), 4);
        let jobid = dirs[0].parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("jobid");
        assert!(registry.tags(jobid).contains("\"c\""), "{env:?}: the artifacts went to the registry");
    }
}

/// On Kubernetes, steps that pass artifacts call `smo artifact` in their Pods, which get it from
/// an image: without `--smo-image` the run is refused before anything is submitted (no cluster
/// is even asked), naming the flag and the steps.
#[test]
fn a_kubernetes_run_whose_steps_need_smo_is_refused_without_an_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = smo()
        .arg("run")
        .arg(example("chain"))
        .args(["--executor", "kubernetes", "--registry", "127.0.0.1:9", "--plain-http", "--no-progress"])
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .env_remove("SMO_IMAGE")
        // No cluster: the refusal must come before any API call.
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .output()
        .expect("run smo");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("step(s) step_a, step_b, step_c call `smo` in their Pods"), "{stderr}");
    assert!(stderr.contains("--smo-image IMAGE (or set SMO_IMAGE)"), "{stderr}");
    assert!(!dir.path().join("run/run.json").exists(), "nothing was recorded");
}

#[test]
fn chain_through_a_real_registry() {
    let Some(registry) = Registry::start() else { return };
    let (out, dir) = run(&example("chain"), &["--registry", &registry.host, "--plain-http"]);
    assert!(out.status.success(), "{}", text(&out));
    let dirs = step_dirs(&dir, "step_c");
    assert_eq!(dirs.len(), 4);
    for c in &dirs {
        assert!(c.join("a.txt").is_file() && c.join("b.txt").is_file(), "{}", c.display());
        let jobid = c.parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("jobid");
        let tags = registry.tags(jobid);
        for tag in ["\"a\"", "\"b\"", "\"c\""] {
            assert!(tags.contains(tag), "{jobid}: {tags}");
        }
    }
    assert!(!dir.path().join("run/artifacts").exists(), "nothing went to the directory store");
}

/// A workflow file in the original manager's format, as its Flux CI scenario (6 sequences of
/// three steps, 4 at a time, prefix `structure_`, snake_case keys, job files found beside the
/// workflow file) runs unchanged and exits 0, every step writing its file.
#[test]
fn a_workflow_file_in_the_originals_format_runs_unchanged() {
    let wf = common::original_fixture("local/workflow.yaml");
    let (out, dir) = run(&wf, &[]);
    assert!(out.status.success(), "{}", text(&out));
    for step in ["job_a", "job_b", "job_c"] {
        let dirs = step_dirs(&dir, step);
        assert_eq!(dirs.len(), 6, "{step}");
        for d in dirs {
            let jobid = d.parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("jobid").to_string();
            assert!(jobid.starts_with("structure_"), "{jobid}");
            let letter = &step[4..];
            let file = d.join(format!("{jobid}-{letter}.txt"));
            assert_eq!(std::fs::read_to_string(&file).expect("the step's file").trim(), jobid);
        }
    }
}

#[test]
fn an_unreachable_registry_stops_the_run_before_any_step() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let host = format!("127.0.0.1:{port}");
    let (out, dir) = run(&example("chain"), &["--registry", &host, "--plain-http"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("http://{host} did not answer")), "{}", text(&out));
    assert!(!dir.path().join("run/logs").exists(), "no step ran");
}

#[test]
fn jobs_never_hold_more_nodes_than_the_budget() {
    // Budget 3: `narrow` jobs hold 1 node, so three sequences run at once; their `wide` jobs
    // hold 2, so only one of those fits beside a narrow one, and the others must wait for nodes.
    // Each job records when its script ran.
    let record = "start=$(date +%s.%N)\nsleep 0.3\necho \"$start $(date +%s.%N) $nodes\" > span.txt\n";
    let indent = |s: &str| s.lines().map(|l| format!("  {l}\n")).collect::<String>();
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 6\ncluster:\n  max_size: 3\n",
        &[
            ("narrow", &format!("name: narrow\nconfig: {{nnodes: 1}}\nscript: |\n{}", indent(record))),
            ("wide", &format!("name: wide\nconfig: {{nnodes: 2}}\nscript: |\n{}", indent(record))),
        ],
    );
    let (out, dir) = run(&wf, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let mut spans = Vec::new();
    for step in ["wide", "narrow"] {
        for d in step_dirs(&dir, step) {
            let line = std::fs::read_to_string(d.join("span.txt")).expect("span.txt");
            let v: Vec<f64> = line.split_whitespace().map(|x| x.parse().expect("number")).collect();
            spans.push((v[0], v[1], v[2] as u32));
        }
    }
    assert_eq!(spans.len(), 12);
    // Nodes in use at every moment a job started.
    let busiest = spans
        .iter()
        .map(|(t, _, _)| spans.iter().filter(|(s, e, _)| s <= t && t < e).map(|(_, _, n)| n).sum::<u32>())
        .max()
        .unwrap_or(0);
    assert!(busiest <= 3, "{busiest} nodes busy at once with a budget of 3: {spans:?}");
    assert_eq!(busiest, 3, "jobs did run side by side, up to the budget: {spans:?}");
}

/// A StateMachine manifest in the original's format, as its CI scenario (4 sequences × 3 steps,
/// artifacts pushed and pulled A→B→C, defaults left out) run locally: exactly 12 successful
/// jobs, and the files handed along.
#[test]
fn a_state_machine_manifest_in_the_originals_format_runs_locally() {
    let manifest = common::original_fixture("state-machine.yaml");
    let (out, dir) = run(&manifest, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let spans = times(&dir).spans();
    assert_eq!(spans.iter().filter(|s| s.outcome == SpanEnd::Succeeded).count(), 12, "{spans:?}");
    assert_eq!(spans.len(), 12, "no job beyond the 12: {spans:?}");
    for c in step_dirs(&dir, "job_c") {
        let jobid = c.parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("jobid").to_string();
        assert_eq!(std::fs::read_to_string(c.join(format!("{jobid}-a.txt"))).expect("a's file").trim(), jobid);
        assert!(c.join(format!("{jobid}-b.txt")).is_file() && c.join(format!("{jobid}-c.txt")).is_file());
    }
}

/// `smo run` killed outright (SIGKILL: no handler runs) in the middle of a run, then
/// `smo run --resume`: the run ends with exactly the wanted completions, every step whose end was
/// recorded ran once, steps that were cut off ran again (their directories set aside), and
/// artifacts handed over before the kill are pulled after it.
#[test]
fn a_run_killed_outright_resumes_with_exactly_the_wanted_completions() {
    let src = tempfile::tempdir().expect("tempdir");
    let done = src.path().join("done.txt");
    // Each step checks the artifact of the one before, writes its own, and only at its very end
    // appends "<jobid> <step>" to `done`: a step that was cut off leaves no line.
    let step = |name: &str, pull: Option<&str>| {
        let check = pull.map(|p| format!("  test -f {p}.txt || exit 1\n")).unwrap_or_default();
        let registry = match pull {
            Some(p) => format!("{{pull: {p}, push: {name}}}"),
            None => format!("{{push: {name}}}"),
        };
        format!(
            "name: {name}\nconfig: {{nnodes: 1}}\nregistry: {registry}\nscript: |\n  sleep 0.$((RANDOM % 4 + 3))\n{check}  echo \"$jobid\" > {name}.txt\n  echo \"$jobid {name}\" >> {}\n",
            done.display()
        )
    };
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 6\n  maxFailures: 1\ncluster:\n  max_size: 2\n",
        &[("a", &step("a", None)), ("b", &step("b", Some("a"))), ("c", &step("c", Some("b")))],
    );
    let run_dir = src.path().join("run");
    let mut child = smo()
        .arg("run")
        .arg(&wf)
        .arg("--run-dir")
        .arg(&run_dir)
        .args(["--seed", "5", "--no-progress"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start smo");
    // Wait until several jobs have ended and been recorded, then kill smo in the middle.
    // (ended, running): jobs with a recorded end, jobs whose script runs now.
    let jobs = |dir: &Path| -> (usize, usize) {
        let dirs: Vec<PathBuf> = std::fs::read_dir(dir.join("jobs"))
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        let ended = dirs.iter().filter(|d| d.join("end.json").is_file()).count();
        let running = dirs
            .iter()
            .filter(|d| d.join("pid").is_file() && !d.join("exit").is_file() && !d.join("end.json").is_file());
        (ended, running.count())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(jobs(&run_dir), (ended, running) if ended >= 5 && running >= 1) {
        assert!(Instant::now() < deadline, "the run made no progress");
        assert!(child.try_wait().expect("smo status").is_none(), "smo ended before it was killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL smo");
    child.wait().expect("reap smo");
    let lines = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
    };
    let before = lines(&done);
    assert!(before.len() >= 5 && before.len() < 18, "killed mid-run: {before:?}");
    // The jobs die with smo: soon no process of the run is left (a script that was ending
    // as smo died may still finish — it then counts as finished, see below).
    std::thread::sleep(Duration::from_millis(800));
    let left = processes_mentioning(&run_dir);
    assert!(left.is_empty(), "steps outlived the smo that ran them: {left:?}");
    let ended_meanwhile = lines(&done).len() - before.len();

    let out = smo().arg("run").arg("--resume").arg(&run_dir).arg("--no-progress").output().expect("resume");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sequences: 6 completed, 0 failed"), "{}", text(&out));

    let after = lines(&done);
    let mut counts = std::collections::BTreeMap::new();
    for line in &after {
        *counts.entry(line.clone()).or_insert(0) += 1;
    }
    // Jobs cut off by the kill, set aside as `<step>-<jobid>-<attempt>.interrupted-N`: their
    // steps ran again. A cut-off job may have got through its script's last line (what writes
    // to `done`) and been stopped while pushing its artifact; every other repeat is a finished
    // step run twice.
    let aside: Vec<String> = std::fs::read_dir(run_dir.join("jobs"))
        .expect("jobs dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".interrupted-"))
        .collect();
    assert!(!aside.is_empty(), "a job was running when smo was killed");
    let twice: Vec<_> = counts
        .iter()
        .filter(|(line, n)| {
            let (jobid, step) = line.split_once(' ').expect("`<jobid> <step>`");
            let cut_off = aside.iter().filter(|a| a.starts_with(&format!("{step}-{jobid}-"))).count();
            **n > 1 + cut_off
        })
        .collect();
    assert!(twice.is_empty(), "steps that finished ran again: {twice:?} (set aside: {aside:?})");
    assert!(before.iter().all(|l| counts.contains_key(l)), "what finished before the kill still counts");
    let completed = counts.keys().filter(|l| l.ends_with(" c")).count();
    assert_eq!(completed, 6, "exactly the wanted completions: {after:?}");
    // The timeline covers both halves of the run.
    let times = Times::from_json(&std::fs::read_to_string(run_dir.join("workflow-times.json")).expect("times"))
        .expect("parses");
    // Every finished step has its span, also one whose end the killed smo did not write down
    // (the resumed run takes it from what the job recorded).
    let succeeded = times.spans().iter().filter(|s| s.outcome == SpanEnd::Succeeded).count();
    assert_eq!(
        succeeded,
        counts.len(),
        "one succeeded span per finished step ({ended_meanwhile} ended while no smo ran)"
    );
}

/// Processes whose command line mentions `path` (the scripts of a run mention its directory).
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmd| cmd.contains(&needle))
        .collect()
}

/// `--resume` of a directory that holds no run says so and starts nothing.
#[test]
fn resume_of_a_directory_without_a_run_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = smo().arg("run").arg("--resume").arg(dir.path()).output().expect("run smo");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no readable run.json there") && stderr.contains("is it a run directory?"), "{stderr}");
}

/// The kubernetes executor's Pods cannot reach a directory of this machine: a workflow that
/// hands artifacts on needs a registry, and says so before anything starts.
#[test]
fn kubernetes_runs_with_artifacts_need_a_registry() {
    let (out, dir) = run(&root().join("examples/kubernetes/state-machine.yaml"), &["--executor", "kubernetes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs an OCI registry its Pods reach") && stderr.contains("--registry HOST:PORT"),
        "{stderr}"
    );
    assert!(!dir.path().join("run/run.json").exists(), "nothing was started");
}

/// Without a cluster to talk to, a kubernetes run stops at once with one line saying so.
#[test]
fn kubernetes_runs_without_a_cluster_say_so() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 1\ncluster:\n  max_size: 1\n",
        &[("a", "name: a\nconfig: {}\nscript: echo\n")],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = smo()
        .args(["run", "--executor", "kubernetes", "--no-progress", "--run-dir"])
        .arg(dir.path().join("run"))
        .arg(&wf)
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", dir.path())
        .output()
        .expect("run smo");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cluster to run on"), "{}", text(&out));
}

/// SIGUSR1 suspends a run as `spec.suspend` does (the job running ends, nothing new is
/// submitted); SIGUSR2 resumes it, and it completes exactly the sequences wanted.
#[test]
fn sigusr1_suspends_a_run_and_sigusr2_resumes_it() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 3\ncluster:\n  max_size: 1\n",
        &[("a", "name: a\nconfig: {}\nscript: |\n  sleep 1\n"), ("b", "name: b\nconfig: {}\nscript: |\n  sleep 1\n")],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("run");
    let mut child = smo()
        .arg("run")
        .arg(&wf)
        .arg("--run-dir")
        .arg(&run_dir)
        .arg("--no-progress")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start smo");
    let submitted = || std::fs::read_dir(run_dir.join("jobs")).map(|d| d.count()).unwrap_or(0);
    let running = || {
        std::fs::read_dir(run_dir.join("jobs")).into_iter().flatten().flatten().any(|e| e.path().join("pid").is_file())
    };
    let start = Instant::now();
    while !running() {
        assert!(start.elapsed() < Duration::from_secs(20), "no job started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill").args([name, &pid]).status().expect("kill");
        assert!(status.success());
    };
    signal("-USR1");
    // The job running (1 s) ends; the next one is held.
    std::thread::sleep(Duration::from_secs(3));
    let held = submitted();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(submitted(), held, "nothing submitted while suspended");
    assert!(held < 6, "suspended before the end: {held} jobs");
    assert!(child.try_wait().expect("smo status").is_none(), "a suspended run waits");
    signal("-USR2");
    let out = child.wait_with_output().expect("smo ends");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sequences: 3 completed, 0 failed"), "{out:?}");
    assert_eq!(submitted(), 6, "3 sequences × 2 steps, each once");
}

/// `smo describe`, `smo logs` and `smo timeline` read a local run directory as they read a
/// StateMachine: sequences against what is wanted, per-step durations with p95, the latest
/// failures with their reasons and log tails; each job's log under a header, by step and
/// sequence; the timeline as SVG.
#[test]
fn describe_logs_and_timeline_read_a_local_run_directory() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 2\n  maxFailures: 5\ncluster:\n  max_size: 1\n",
        &[
            ("first", "name: first\nconfig: {}\nscript: echo first of $jobid\n"),
            // Every odd-numbered sequence fails its second step, saying why.
            (
                "second-step",
                "name: second-step\nconfig: {}\nscript: |\n  echo about to decide\n  if [ -e $outpath/../../../flip ]; then rm $outpath/../../../flip; echo bad input >&2; exit 4; fi\n  touch $outpath/../../../flip\n",
            ),
        ],
    );
    let (out, dir) = run(&wf, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let run_dir = dir.path().join("run");
    let run_dir = run_dir.to_str().expect("utf-8 path");

    let out = smo().args(["describe", run_dir]).output().expect("smo describe");
    let described = text(&out);
    assert!(out.status.success(), "{described}");
    // A workflow file named workflow.yaml is named after its directory.
    let name = src.path().file_name().and_then(|n| n.to_str()).expect("a name").trim_start_matches('.').to_string();
    for expected in [
        &format!("Name:          {name}"),
        "Executor:      local",
        "Phase:         Succeeded",
        "Sequences:     2 of 2 completed, 1 failed",
        "p95 (s)",
        "second-step",
        "Recent failures:",
        "step second-step (attempt 1)",
        "exit code 4",
        "| bad input",
    ] {
        assert!(described.contains(expected), "no `{expected}` in:\n{described}");
    }

    let out = smo().args(["logs", run_dir, "--step", "first"]).output().expect("smo logs");
    let logs = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(logs.matches("==> ").count(), 3, "three sequences ran step first:\n{logs}");
    assert!(logs.contains("(step first, sequence job_") && logs.contains("first of job_"), "{logs}");
    let jobid = logs.split("sequence ").nth(1).and_then(|s| s.split(',').next()).expect("a sequence").to_string();
    let out = smo().args(["logs", run_dir, "--sequence", &jobid]).output().expect("smo logs --sequence");
    let one = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(one.matches("==> ").count(), 2, "one sequence, two steps:\n{one}");
    assert!(one.lines().filter(|l| l.starts_with("==> ")).all(|l| l.contains(&jobid)), "{one}");

    let svg = dir.path().join("timeline.svg");
    let out = smo().args(["timeline", run_dir, "-o"]).arg(&svg).output().expect("smo timeline");
    assert!(out.status.success(), "{}", text(&out));
    let drawn = std::fs::read_to_string(&svg).expect("the SVG");
    assert!(drawn.starts_with("<?xml") && drawn.contains("second-step"), "{drawn:.300}");
}
