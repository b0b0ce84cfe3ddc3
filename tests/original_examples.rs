//! Opt-in, on external data: the original project's own example files, which are not part of
//! this repository. `make test-compat ORIGINAL_EXAMPLES=DIR` runs these tests with
//! `SMO_ORIGINAL_EXAMPLES=DIR` (`.ci/run` does when the project's workspace has
//! `../shared/spec/examples`); `make test` never needs them — the formats are covered there by
//! the project's own fixtures (`tests/fixtures/original/`).
//!
//! Every YAML file under DIR validates with no warning, and every StateMachine manifest and
//! workflow file in it runs locally, unchanged, to exit 0 with exactly `completed × steps`
//! successful jobs when it has no rules.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::smo;
use serde_json::Value;
use smo_core::times::{SpanEnd, Times};

const NEEDS: &str = "needs the original project's examples: make test-compat ORIGINAL_EXAMPLES=DIR";

/// The directory the check was asked to read; a test asked to run without it fails, it never
/// passes on nothing.
fn examples_dir() -> PathBuf {
    let dir = std::env::var_os("SMO_ORIGINAL_EXAMPLES").map(PathBuf::from).unwrap_or_else(|| {
        panic!("SMO_ORIGINAL_EXAMPLES is not set; {NEEDS} (a directory holding the original's example files)")
    });
    assert!(dir.is_dir(), "SMO_ORIGINAL_EXAMPLES={} is not a directory; {NEEDS}", dir.display());
    dir
}

/// Every `*.yaml` / `*.yml` under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A file `smo run` takes on its own: a StateMachine manifest or a workflow file (its job
/// files beside it), with its wanted completions, its number of steps and whether it has rules.
struct Runnable {
    path: PathBuf,
    completed: u64,
    steps: usize,
    rules: bool,
}

fn runnable(path: &Path) -> Option<Runnable> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: Value = serde_saphyr::from_str(&text).ok()?;
    let (workflow, jobs) = if doc["kind"] == "StateMachine" {
        (&doc["spec"]["workflow"], &doc["spec"]["jobs"])
    } else if doc["jobs"].as_array().is_some_and(|j| j.iter().all(|j| j["config"].is_string())) {
        (&doc["workflow"], &doc["jobs"])
    } else {
        return None;
    };
    Some(Runnable {
        path: path.to_path_buf(),
        completed: workflow["completed"].as_u64()?,
        steps: jobs.as_array()?.len(),
        rules: workflow["events"].as_array().is_some_and(|e| !e.is_empty()),
    })
}

#[test]
#[ignore = "needs the original project's examples: make test-compat ORIGINAL_EXAMPLES=DIR"]
fn the_originals_example_files_validate_cleanly() {
    let dir = examples_dir();
    let files = yaml_files(&dir);
    assert!(!files.is_empty(), "no YAML file under {}", dir.display());
    let out = smo().arg("validate").args(&files).output().expect("run smo");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(out.stdout.is_empty(), "no warnings expected: {text}");
    println!("{} files validated cleanly under {}", files.len(), dir.display());
}

#[test]
#[ignore = "needs the original project's examples: make test-compat ORIGINAL_EXAMPLES=DIR"]
fn the_originals_example_workflows_run_locally_unchanged() {
    let dir = examples_dir();
    let runs: Vec<Runnable> = yaml_files(&dir).iter().filter_map(|f| runnable(f)).collect();
    assert!(!runs.is_empty(), "no StateMachine manifest or workflow file under {}", dir.display());
    let work = tempfile::tempdir().expect("tempdir");
    // The original's examples sleep for tens of seconds: run them side by side.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let run_dir = work.path().join(format!("run-{i}"));
                scope.spawn(move || check_run(r, &run_dir))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().expect("the check ran").err()).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs one workflow locally; Err says what went wrong.
fn check_run(r: &Runnable, run_dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    let out = smo()
        .arg("run")
        .arg(&r.path)
        .arg("--run-dir")
        .arg(run_dir)
        .arg("--no-progress")
        .output()
        .map_err(|e| format!("cannot start smo: {e}"))?;
    let name = r.path.display();
    let text = format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("{name}: smo run exited with {}\n{text}", out.status));
    }
    let times_path = run_dir.join("workflow-times.json");
    let times = std::fs::read_to_string(&times_path)
        .map_err(|e| format!("{name}: {}: {e}", times_path.display()))
        .and_then(|t| Times::from_json(&t).map_err(|e| format!("{name}: workflow-times.json: {e}")))?;
    let succeeded = times.spans().iter().filter(|s| s.outcome == SpanEnd::Succeeded).count();
    let wanted = r.completed as usize * r.steps;
    if !r.rules && succeeded != wanted {
        return Err(format!(
            "{name}: {succeeded} successful jobs, expected {} × {} = {wanted}\n{text}",
            r.completed, r.steps
        ));
    }
    println!("{name}: exit 0, {succeeded} successful jobs in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
