//! `smo run` from the outside: the real binary runs the project's examples on this machine;
//! the checks read what the steps wrote, the artifacts they passed on, and workflow-times.json.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Registry, root, smo};
use smo_actors::times::{SpanEnd, Times};

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
    assert!(used.contains(&1) && used.iter().any(|n| *n > 1), "nodes grew: {used:?}");
    assert!(used.iter().all(|n| *n <= 3), "never beyond maxSize 3: {used:?}");
}

#[test]
fn custom_metrics_from_logs_drive_rules() {
    let (out, dir) = run(&example("custom-metric"), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let trained = times(&dir).spans().iter().filter(|s| s.step == "train").count();
    assert_eq!(trained, 3, "accuracy reaches 0.8 in the third sequence: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("max.train.accuracy"), "{}", text(&out));
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
    assert_eq!(times(&dir).spans().len(), 3, "exactly three sequences were tried");
}

#[test]
fn walltime_kills_the_step_and_its_children() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 1\n  maxFailures: 1\ncluster:\n  max_size: 1\n",
        &[("slow", "name: slow\nconfig: {walltime: '0:00:01'}\nscript: |\n  sleep 30 &\n  sleep 30\n")],
    );
    let start = Instant::now();
    let (out, dir) = run(&wf, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(start.elapsed() < Duration::from_secs(15), "the walltime stopped the step");
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

#[test]
fn ctrl_c_stops_running_steps_and_exits_130() {
    let src = tempfile::tempdir().expect("tempdir");
    let wf = workflow_file(
        src.path(),
        "workflow:\n  completed: 1\ncluster:\n  max_size: 1\n",
        &[("wait", "name: wait\nconfig: {}\nscript: sleep 60\n")],
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
    // Wait until the step is running, then interrupt.
    let logs = dir.path().join("run/logs");
    let start = Instant::now();
    while std::fs::read_dir(&logs).map(|d| d.count()).unwrap_or(0) == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let waited = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(waited.elapsed() < Duration::from_secs(15), "smo did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(130));
    assert!(dir.path().join("run/workflow-times.json").is_file(), "what was known is written");
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

/// The original's Flux CI scenario (`examples/local`: 6 sequences of three `sleep 20` steps,
/// 4 at a time, prefix `structure_`) runs unchanged and exits 0, every step writing its file.
#[test]
fn the_originals_local_workflow_runs_unchanged() {
    let wf = root().join("../shared/spec/examples/local/state-machine-workflow.yaml");
    if !wf.is_file() {
        eprintln!("skipping: {} is not present on this checkout", wf.display());
        return;
    }
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
