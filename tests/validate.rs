//! `smo validate` from the outside: the real binary on real files.

use std::path::{Path, PathBuf};

mod common;
use common::{root, smo};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Runs `smo validate` on files written into a temp dir; returns (exit ok, stdout).
fn validate(files: &[(&str, &str)], main: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let out = smo().arg("validate").arg(dir.path().join(main)).output().expect("run smo");
    let stdout = String::from_utf8_lossy(&out.stdout).replace(&format!("{}/", dir.path().display()), "");
    (out.status.success(), stdout)
}

#[test]
fn files_in_the_originals_formats_validate_cleanly() {
    let dir = common::original_fixture("");
    let files = yaml_files(&dir);
    assert!(files.len() >= 5, "expected the fixtures in {}", dir.display());
    let out = smo().arg("validate").args(&files).output().expect("run smo");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "no warnings expected: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn the_projects_examples_validate_cleanly() {
    let files = yaml_files(&root().join("examples"));
    assert!(files.len() >= 10);
    let out = smo().arg("validate").arg("--strict").args(&files).output().expect("run smo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

const MANIFEST: &str = r#"
apiVersion: state-machine.converged-computing.org/v1alpha1
kind: StateMachine
metadata:
  name: t
spec:
  workflow:
    completed: 2
  cluster:
    maxSize: 2
  jobs:
  - name: a
    image: busybox
    registry: {push: a}
    script: echo a
  - name: b
    image: busybox
    registry: {pull: a}
    script: echo b
"#;

/// Each case: a change to a valid manifest and the line `smo validate` must print.
#[test]
fn every_problem_names_the_file_the_field_and_the_fix() {
    let cases: &[(&str, &str, &str)] = &[
        ("    maxSize: 2", "    maxSize: 0", "m.yaml: spec.cluster.maxSize: must be at least 1, found 0"),
        ("    completed: 2", "    completed: -3", "m.yaml: spec.workflow.completed: must be at least 1, found -3"),
        (
            "    completed: 2",
            "    completed: two",
            "m.yaml: spec.workflow.completed: expected an integer, found a string (\"two\")",
        ),
        (
            "    completed: 2",
            "    completed: 2\n    prefix: Run_",
            "m.yaml: spec.workflow.prefix: contains upper-case letters",
        ),
        (
            "    completed: 2",
            "    completed: 2\n    events:\n    - {metric: mean.c.duration, action: grow}",
            "m.yaml: spec.workflow.events[0].metric: names step `c`, which the workflow does not have",
        ),
        (
            "    completed: 2",
            "    completed: 2\n    events:\n    - {metric: median.a.duration, action: grow}",
            "m.yaml: spec.workflow.events[0].metric: unknown model `median`",
        ),
        (
            "    completed: 2",
            "    completed: 2\n    events:\n    - {metric: mean.a.duration, action: explode}",
            "m.yaml: spec.workflow.events[0].action: unknown action `explode`",
        ),
        (
            "    completed: 2",
            "    completed: 2\n    events:\n    - {metric: mean.a.duration, action: grow, when: 'about 3'}",
            "m.yaml: spec.workflow.events[0].when: `about 3` is not a condition",
        ),
        (
            "    registry: {push: a}",
            "    registry: {push: a}\n    config: {walltime: '1:zz'}",
            "m.yaml: spec.jobs[0].config.walltime: `1:zz`: `zz` is not a non-negative number",
        ),
        (
            "    registry: {push: a}",
            "    registry: {push: a}\n    config: {nodes: 0}",
            "m.yaml: spec.jobs[0].config.nodes: must be at least 1, found 0",
        ),
        ("  - name: b", "  - name: a", "m.yaml: spec.jobs[1].name: step `a` is declared twice"),
        ("    script: echo b", "    script: echo {{ b", "m.yaml: spec.jobs[1].script: is not a valid Jinja template"),
        (
            "    script: echo b",
            "    script: echo {{ config.nodes }}",
            "m.yaml: spec.jobs[1].script: cannot be rendered: line 1 of the script",
        ),
        ("  - name: b", "  - name: A", "m.yaml: spec.jobs[1].name: step `a` and step `A` both make Job names `a-…`"),
        (
            "    registry: {push: a}",
            "    registry: {push: a}\n    config: {walltime: '1e300'}",
            "m.yaml: spec.jobs[0].config.walltime: `1e300` is longer than",
        ),
        (
            "  name: t",
            "  name: a-name-that-is-far-too-long-to-be-a-kubernetes-label-value-anywhere",
            "m.yaml: metadata.name: `a-name-that-is-far-too-long",
        ),
        (
            "    registry: {push: a}",
            "    registry: {push: a}\n    properties: {jobset: 'true'}\n  - name: zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n    image: x\n    properties: {jobset: 'true'}",
            "m.yaml: spec.jobs[1].name: is too long for a JobSet step",
        ),
        // Bounds: the CRD's ceilings (what the apiserver refuses too) and rendering limits.
        (
            "    completed: 2",
            "    completed: 2147483647",
            "m.yaml: spec.workflow.completed: must be at most 1000000, found 2147483647",
        ),
        (
            "    maxSize: 2",
            "    maxSize: 2147483647",
            "m.yaml: spec.cluster.maxSize: must be at most 100000, found 2147483647",
        ),
        (
            "    registry: {push: a}",
            "    registry: {push: a}\n    config: {nodes: 2147483647}",
            "m.yaml: spec.jobs[0].config.nodes: must be at most 100000, found 2147483647",
        ),
        (
            "    script: echo b",
            "    script: '{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}x{% endfor %}{% endfor %}{% endfor %}'",
            "m.yaml: spec.jobs[1].script: cannot be rendered: line 1 of the script: takes more than the 1000000 template steps a script may",
        ),
        (
            "    script: echo b",
            "    script: \"{% set s = 'x' * 50000000 %}{{ s }}\"",
            "m.yaml: spec.jobs[1].script: cannot be rendered: renders to more than 1024 KiB",
        ),
        (
            "    registry: {push: a}",
            "    registry: {push: a}\n    events: {metrics: [{key: k, pattern: 'a{1000}{1000}'}]}",
            "m.yaml: spec.jobs[0].events.metrics[0].pattern: compiles to more than 256 KiB",
        ),
        (
            "    registry: {push: a}",
            &format!(
                "    registry: {{push: a}}\n    events: {{metrics: [{}]}}",
                vec!["{key: k, pattern: x}"; 300].join(", ")
            ),
            "m.yaml: spec.jobs[0].events.metrics: has 300 entries; at most 256 are allowed",
        ),
    ];
    for (from, to, want) in cases {
        assert!(MANIFEST.contains(from), "case {from:?} does not apply");
        let (ok, out) = validate(&[("m.yaml", &MANIFEST.replacen(from, to, 1))], "m.yaml");
        assert!(!ok, "{to:?} was accepted");
        assert!(
            out.lines().any(|l| l.starts_with(want)),
            "{to:?}: expected a line starting with\n  {want}\ngot:\n{out}"
        );
    }
}

/// Each case: a change to a valid manifest that the original accepted and ran, and the warning
/// `smo validate` must print for it; the file is valid, and invalid under `--strict`.
#[test]
fn what_the_original_accepted_is_a_warning_naming_the_field_and_the_fix() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "    maxSize: 2",
            "    maxSize: 2\n    maxsize: 3",
            "m.yaml: spec.cluster.maxsize: warning: unknown field, ignored (did you mean `maxSize`?); allowed here: autoscale, maxSize",
        ),
        (
            "    registry: {pull: a}",
            "    registry: {pull: z}",
            "m.yaml: spec.jobs[1].registry.pull: warning: tag `z` is not pushed by an earlier step (pushed before: a); the job's pull fails unless the application pushes `<jobid>:z` itself",
        ),
        (
            "    completed: 2",
            "    completed: 200000",
            "m.yaml: spec.workflow.completed: warning: under smo operator: 200000 is above this operator's limit of 100000 (an administrator raises it with `smo operator --limit completed=N`, up to 1000000)",
        ),
        (
            "  cluster:\n",
            "  registry: {replicas: 3}\n  cluster:\n",
            "m.yaml: spec.registry.replicas: warning: is 3, but replicas of the ephemeral registry would not share its artifacts (each keeps its own storage): smo runs 1",
        ),
        (
            "    registry: {push: a}",
            "    registry: {push: a}\n    config: {nodes: 5}",
            "m.yaml: spec.jobs[0].config.nodes: warning: 5 nodes are more than cluster.maxSize (2): on Kubernetes the job is submitted with 5 nodes as asked; a local run gives it all 2 node slots while it runs (and, as the first step, one sequence starts at a time)",
        ),
    ];
    for (from, to, want) in cases {
        assert!(MANIFEST.contains(from), "case {from:?} does not apply");
        let (ok, out) = validate(&[("m.yaml", &MANIFEST.replacen(from, to, 1))], "m.yaml");
        assert!(ok, "{to:?} was refused:\n{out}");
        assert!(
            out.lines().any(|l| l.starts_with(want)),
            "{to:?}: expected a line starting with\n  {want}\ngot:\n{out}"
        );
    }
}

#[test]
fn rules_that_can_never_fire_are_warned_about() {
    let rules = MANIFEST.replacen(
        "    completed: 2",
        "    completed: 2\n    events:\n    - {metric: count.a.failed, action: finish-workflow}\n    - {metric: mean.a.success, action: grow}\n    - {metric: max.a.accuracy, action: grow}",
        1,
    );
    let (ok, out) = validate(&[("m.yaml", &rules)], "m.yaml");
    assert!(ok, "warnings only: {out}");
    assert!(
        out.contains("events[0].metric: warning: step `a` produces no metric `failed` (did you mean `failure`?)"),
        "{out}"
    );
    assert!(out.contains("events[1].metric: warning: `success` is a counter with no samples"), "{out}");
    assert!(out.contains("events[2].metric: warning: step `a` produces no metric `accuracy`"), "{out}");
}

#[test]
fn the_originals_zero_values_mean_unset() {
    // The original operator rendered `repetitions: 0` as absent, `minSize: 0` as 1 and
    // `maxSize: 0` as null, and an empty prefix as the default.
    let zeros = MANIFEST.replacen(
        "    completed: 2",
        "    completed: 2\n    prefix: ''\n    events:\n    - {metric: count.a.success, action: grow, repetitions: 0, minSize: 0, maxSize: 0}",
        1,
    );
    let (ok, out) = validate(&[("m.yaml", &zeros)], "m.yaml");
    assert!(ok, "{out}");
}

#[test]
fn a_missing_required_field_does_not_hide_the_other_problems() {
    let broken = MANIFEST.replacen("    script: echo a\n", "", 1).replacen(
        "    registry: {pull: a}",
        "    registry: {pull: z}",
        1,
    );
    let broken = broken.replacen("  - name: a\n    image: busybox\n", "  - image: busybox\n", 1);
    let (ok, out) = validate(&[("m.yaml", &broken)], "m.yaml");
    assert!(!ok);
    assert!(out.contains("spec.jobs[0].name: is required"), "{out}");
    assert!(out.contains("spec.jobs[1].registry.pull: warning: tag `z` is not pushed"), "{out}");
}

#[test]
fn all_problems_are_listed_not_only_the_first() {
    let broken = MANIFEST
        .replacen("    maxSize: 2", "    maxSize: 0", 1)
        .replacen("    registry: {pull: a}", "    registry: {pull: z}", 1)
        .replacen("    completed: 2", "    completed: 2\n    prefix: X_", 1);
    let (ok, out) = validate(&[("m.yaml", &broken)], "m.yaml");
    assert!(!ok);
    assert_eq!(out.lines().count(), 3, "{out}");
}

#[test]
fn workflow_files_report_in_the_file_that_has_the_problem() {
    let workflow = "workflow:\n  completed: 1\ncluster:\n  max_size: 2\njobs:\n- config: a.yaml\n- config: b.yaml\n- config: nope.yaml\n";
    let a = "name: a\nconfig:\n  nnodes: 1\n  nodes: 2\nregistry:\n  push: a\nscript: echo\n";
    let b = "name: b\nconfig: {ngpus: -1}\nregistry:\n  pull: a\nenvironment:\n  EPOCHS: 1\nscript: echo\nimage: 3\n";
    let (ok, out) = validate(&[("wf.yaml", workflow), ("a.yaml", a), ("b.yaml", b)], "wf.yaml");
    assert!(!ok);
    assert!(out.contains("wf.yaml: jobs[2].config: job file `nope.yaml` not found"), "{out}");
    assert!(out.contains("a.yaml: config.nodes: conflicts with `config.nnodes` (1)"), "{out}");
    assert!(out.contains("b.yaml: config.ngpus: must be at least 0, found -1"), "{out}");
    assert_eq!(out.lines().count(), 3, "numbers in text fields are text, as the original read them: {out}");
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "",
        "---\n",
        "[1, 2",
        "kind: StateMachine",
        "workflow: 3",
        "jobs: {a: 1}\ncluster: []\nworkflow: {}",
        "apiVersion: v1\nkind: StateMachine\nspec: []",
        "name: x\nconfig: 7\nscript: [1]",
        "\u{0}\u{1}",
        ": : :",
        "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata: {name: x}\nspec:\n  workflow: {completed: 1}\n  cluster: {maxSize: 1}\n  jobs: [1, null, {name: 5}]",
    ];
    for input in inputs {
        let (ok, out) = validate(&[("g.yaml", input)], "g.yaml");
        assert!(!ok, "{input:?} was accepted: {out}");
        assert!(!out.is_empty(), "{input:?}: no problem reported");
    }
}

#[test]
fn warnings_pass_unless_strict() {
    let with_unknown = MANIFEST.replacen("    script: echo a", "    properties: {colour: blue}\n    script: echo a", 1);
    let (ok, out) = validate(&[("m.yaml", &with_unknown)], "m.yaml");
    assert!(ok, "{out}");
    assert!(out.contains("m.yaml: spec.jobs[0].properties.colour: warning: unknown property"), "{out}");
}

#[test]
fn crd_command_prints_the_crd() {
    let out = smo().arg("crd").output().expect("run smo");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), smo::dist::crd_yaml());
}
