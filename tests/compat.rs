//! The original's own inputs, accepted: forms the original accepted and ran must validate
//! (warnings are fine) and run. Each case writes a small workflow of its own into a temp dir,
//! then checks `smo validate` (exit 0, the warning naming the field and what will happen),
//! `smo validate --strict` (fails on that warning) and `smo run` (exit 0, the expected effect).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::smo;

/// A run that takes longer than this is taken as hung (every workflow here ends in seconds).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Writes `files` into a new temp dir.
fn write(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

/// `smo validate [--strict] FILE`: (exit ok, stdout).
fn validate(file: &Path, strict: bool) -> (bool, String) {
    let mut cmd = smo();
    cmd.arg("validate").arg(file);
    if strict {
        cmd.arg("--strict");
    }
    let out = cmd.output().expect("run smo validate");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What `smo run` did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
    run_dir: PathBuf,
}

impl Run {
    fn text(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }

    /// The working directories of `step`, one per sequence, sorted.
    fn step_dirs(&self, step: &str) -> Vec<PathBuf> {
        let work = self.run_dir.join("work");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&work)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", work.display(), self.text()))
            .map(|e| e.expect("entry").path().join(step))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        dirs
    }

    /// The trimmed text of `file` in every sequence's directory of `step`.
    fn outputs(&self, step: &str, file: &str) -> Vec<String> {
        self.step_dirs(step)
            .iter()
            .map(|d| {
                let path = d.join(file);
                std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), self.text()))
                    .trim()
                    .to_string()
            })
            .collect()
    }
}

/// `smo run WORKFLOW --run-dir <dir>/run --no-progress`, stopped (and failed) after
/// [`RUN_LIMIT`] so that a workflow that would wait forever fails the test instead of hanging it.
fn run(workflow: &Path, dir: &Path) -> Run {
    let run_dir = dir.join("run");
    let (out_path, err_path) = (dir.join("smo-run.out"), dir.join("smo-run.err"));
    let mut child = smo()
        .arg("run")
        .arg(workflow)
        .arg("--run-dir")
        .arg(&run_dir)
        .args(["--seed", "11", "--no-progress"])
        // The artifact store is the run directory's own (the scripts here push with `--store`),
        // whatever registry the shell that runs the tests names.
        .env_remove("SMO_REGISTRY")
        .env_remove("SMO_PLAIN_HTTP")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start smo run");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for smo run") {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "smo run did not end within {RUN_LIMIT:?} (hung?)\n--- stderr\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        ok: status.success(),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        run_dir,
    }
}

/// Asserts the file validates with `warning` (a line containing it), and fails `--strict`.
fn assert_warns(file: &Path, warning: &str) {
    let (ok, out) = validate(file, false);
    assert!(ok, "refused, expected only a warning:\n{out}");
    assert!(out.lines().any(|l| l.contains(warning)), "expected a line containing\n  {warning}\ngot:\n{out}");
    assert!(!out.lines().any(|l| !l.contains("warning: ")), "only warnings expected:\n{out}");
    let (strict_ok, strict_out) = validate(file, true);
    assert!(!strict_ok, "--strict must fail on the warning:\n{strict_out}");
}

#[test]
fn a_step_with_more_nodes_than_max_size_warns_and_runs() {
    // The first step asks for 3 nodes of a budget of 2: the original started sequences anyway
    // (maxSize only sized how many); here one runs at a time and its job holds both slots.
    let dir = write(&[
        (
            "workflow.yaml",
            "workflow: {completed: 2, prefix: big_}\ncluster: {max_size: 2}\njobs:\n- config: a.yaml\n- config: b.yaml\n",
        ),
        ("a.yaml", "name: a\nconfig: {nnodes: 3}\nregistry: {push: a}\nscript: |\n  echo \"$nodes\" > nodes.txt\n"),
        ("b.yaml", "name: b\nconfig: {nnodes: 1}\nregistry: {pull: a}\nscript: |\n  cp nodes.txt seen.txt\n"),
    ]);
    let workflow = dir.path().join("workflow.yaml");
    let warning = "a.yaml: config.nnodes: warning: 3 nodes are more than cluster.max_size (2): on Kubernetes the job \
                   is submitted with 3 nodes as asked; a local run gives it all 2 node slots while it runs (and, as \
                   the first step, one sequence starts at a time)";
    assert_warns(&workflow, warning);

    let run = run(&workflow, dir.path());
    assert!(run.ok, "{}", run.text());
    assert!(run.stderr.contains("warning: 3 nodes are more than cluster.max_size (2)"), "{}", run.text());
    // Both sequences completed, and the script saw the nodes it asked for.
    assert_eq!(run.outputs("b", "seen.txt"), vec!["3", "3"], "{}", run.text());
}

#[test]
fn a_pull_of_a_tag_the_application_pushes_itself_warns_and_runs() {
    // Step a pushes `model` from its own script (as an application may), not through
    // `registry.push`; step b pulls it.
    let dir = write(&[
        (
            "workflow.yaml",
            "workflow: {completed: 1, prefix: app_}\ncluster: {max_size: 1}\njobs:\n- config: a.yaml\n- config: b.yaml\n",
        ),
        (
            "a.yaml",
            "name: a\nconfig: {}\nregistry: {push: a}\nscript: |\n  echo made-by-the-application > model.txt\n  \"$smo\" artifact push --store \"$registry\" \"$jobid:model\" \"$outpath\"\n",
        ),
        ("b.yaml", "name: b\nconfig: {}\nregistry: {pull: model}\nscript: |\n  cp model.txt seen.txt\n"),
    ]);
    let workflow = dir.path().join("workflow.yaml");
    assert_warns(
        &workflow,
        "b.yaml: registry.pull: warning: tag `model` is not pushed by an earlier step (pushed before: a); the job's \
         pull fails unless the application pushes `<jobid>:model` itself before this step runs",
    );

    let run = run(&workflow, dir.path());
    assert!(run.ok, "{}", run.text());
    assert!(run.stderr.contains("tag `model` is not pushed by an earlier step"), "{}", run.text());
    assert_eq!(run.outputs("b", "seen.txt"), vec!["made-by-the-application"], "{}", run.text());
}

#[test]
fn bash_lengths_in_a_script_reach_bash() {
    // `${#` opens a Jinja comment; the original's scripts use bash's lengths all the time.
    let dir = write(&[
        ("workflow.yaml", "workflow: {completed: 1, prefix: len_}\ncluster: {max_size: 1}\njobs:\n- config: a.yaml\n"),
        (
            "a.yaml",
            "name: a\nconfig: {}\nscript: |\n  arr=(x y z)\n  word=hello\n  echo \"${#arr[@]}\" > count.txt\n  echo \"${#word}\" > length.txt\n  echo '${#arr[@]}' > literal.txt\n  echo \"{{ jobid }}\" > jobid.txt\n",
        ),
    ]);
    let workflow = dir.path().join("workflow.yaml");
    let (ok, out) = validate(&workflow, true);
    assert!(ok && out.is_empty(), "a valid script: {out}");

    let run = run(&workflow, dir.path());
    assert!(run.ok, "{}", run.text());
    assert_eq!(run.outputs("a", "count.txt"), vec!["3"], "bash got `${{#arr[@]}}`: {}", run.text());
    assert_eq!(run.outputs("a", "length.txt"), vec!["5"], "bash got `${{#word}}`");
    assert_eq!(run.outputs("a", "literal.txt"), vec!["${#arr[@]}"], "the text reaches bash unchanged");
    // The rest of the script is still a template.
    let dirs = run.step_dirs("a");
    let jobid = dirs[0].parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("jobid dir");
    assert_eq!(run.outputs("a", "jobid.txt"), vec![jobid.to_string()]);
}

const MANIFEST_WITH_UNKNOWN_KEYS: &str = r#"apiVersion: state-machine.converged-computing.org/v1alpha1
kind: StateMachine
metadata:
  name: stray
spec:
  comment: kept by nobody
  workflow:
    completed: 1
    prefix: stray_
  cluster:
    maxSize: 1
    maxsize: 3
  jobs:
  - name: a
    image: busybox
    interactiv: true
    config: {nodes: 1, memory: 2G}
    script: |
      echo ran > out.txt
"#;

#[test]
fn unknown_keys_in_a_manifest_warn_with_a_suggestion_and_run() {
    // Kubernetes prunes unknown keys of a StateMachine, so the original ran such manifests.
    let dir = write(&[("m.yaml", MANIFEST_WITH_UNKNOWN_KEYS)]);
    let manifest = dir.path().join("m.yaml");
    assert_warns(
        &manifest,
        "m.yaml: spec.cluster.maxsize: warning: unknown field, ignored (did you mean `maxSize`?); allowed here: autoscale, maxSize",
    );
    let (_, out) = validate(&manifest, false);
    for field in ["spec.comment", "spec.jobs[0].config.memory"] {
        assert!(out.contains(&format!("{field}: warning: unknown field, ignored; allowed here: ")), "{field}: {out}");
    }
    assert!(
        out.contains("spec.jobs[0].interactiv: warning: unknown field, ignored (did you mean `interactive`?)"),
        "{out}"
    );

    let run = run(&manifest, dir.path());
    assert!(run.ok, "{}", run.text());
    assert!(run.stderr.contains("spec.cluster.maxsize: warning: unknown field, ignored"), "{}", run.text());
    assert_eq!(run.outputs("a", "out.txt"), vec!["ran"], "{}", run.text());
}

#[test]
fn unknown_keys_in_workflow_and_job_files_warn_and_run() {
    // The original manager ignored keys it did not read at these places.
    let dir = write(&[
        (
            "workflow.yaml",
            "description: kept by nobody\nworkflow: {completed: 1, prefix: stray_}\ncluster: {max_size: 1}\njobs:\n- config: a.yaml\n  note: first\n",
        ),
        ("a.yaml", "name: a\nowner: me\nconfig: {nnodes: 1, memory: 2G}\nscript: |\n  echo ran > out.txt\n"),
    ]);
    let workflow = dir.path().join("workflow.yaml");
    assert_warns(&workflow, "workflow.yaml: description: warning: unknown field, ignored; allowed here: ");
    let (_, out) = validate(&workflow, false);
    for line in [
        "workflow.yaml: jobs[0].note: warning: unknown field, ignored (did you mean `name`?); allowed here: config, events, name",
        "a.yaml: owner: warning: unknown field, ignored",
        "a.yaml: config.memory: warning: unknown field, ignored",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }

    let run = run(&workflow, dir.path());
    assert!(run.ok, "{}", run.text());
    assert!(run.stderr.contains("a.yaml: owner: warning: unknown field, ignored"), "{}", run.text());
    assert_eq!(run.outputs("a", "out.txt"), vec!["ran"], "{}", run.text());
}

#[test]
fn wrong_types_and_keys_the_original_refused_stay_errors() {
    let wrong_type = MANIFEST_WITH_UNKNOWN_KEYS.replacen("    maxSize: 1\n", "    maxSize: one\n", 1);
    let dir = write(&[
        ("m.yaml", &wrong_type),
        // The original's workflow schema closed `cluster`.
        ("workflow.yaml", "workflow: {completed: 1}\ncluster: {max_size: 1, maxsize: 2}\njobs:\n- config: a.yaml\n"),
        ("a.yaml", "name: a\nconfig: {}\nscript: echo\n"),
    ]);
    let (ok, out) = validate(&dir.path().join("m.yaml"), false);
    assert!(!ok, "{out}");
    assert!(out.contains("spec.cluster.maxSize: expected an integer, found a string (\"one\")"), "{out}");
    let (ok, out) = validate(&dir.path().join("workflow.yaml"), false);
    assert!(!ok, "{out}");
    assert!(out.contains("workflow.yaml: cluster.maxsize: unknown field (did you mean `max_size`?); allowed here: autoscale, max_size"), "{out}");
}

#[test]
fn from_field_environment_values_are_accepted_and_named_in_a_local_run() {
    // The original's JobSet example sets `RANK: from:metadata.annotations[…]` (a pod field).
    // On Kubernetes it becomes a fieldRef; a local run has no pod, and says so once.
    let manifest_text = r#"apiVersion: state-machine.converged-computing.org/v1alpha1
kind: StateMachine
metadata:
  name: ranked
spec:
  workflow: {completed: 1, prefix: rank_}
  cluster: {maxSize: 1}
  jobs:
  - name: a
    image: busybox
    environment:
      RANK: "from:metadata.annotations['batch.kubernetes.io/job-completion-index']"
      EPOCHS: "1"
    script: |
      echo "$EPOCHS" > epochs.txt
      echo "${RANK-unset}" > rank.txt
"#;
    let dir = write(&[("m.yaml", manifest_text)]);
    let manifest = dir.path().join("m.yaml");
    let (ok, out) = validate(&manifest, true);
    assert!(ok && out.is_empty(), "valid for Kubernetes as written: {out}");

    let run = run(&manifest, dir.path());
    assert!(run.ok, "{}", run.text());
    let warning = "`environment` values `from:<field>` are not filled in by a local run";
    assert_eq!(run.stderr.matches(warning).count(), 1, "named once: {}", run.text());
    assert!(run.stderr.contains("set on step(s) a"), "{}", run.text());
    assert_eq!(run.outputs("a", "epochs.txt"), vec!["1"], "{}", run.text());
    assert_eq!(run.outputs("a", "rank.txt"), vec!["0"], "the one local process has index 0: {}", run.text());
}
