//! `smo report`: the real binary on a workflow-times.json written here.

use std::path::Path;
use std::process::{Command, Output};

/// Two sequences × 2 steps; the second fails at `job_b`.
const TIMES: &str = r#"{
  "times": {"list_jobs_by_status": [0.012, 0.015]},
  "timestamps": {
    "workflow_start": 1700000000.0,
    "job_000000001_job_a_start": 1700000001.0,
    "job_000000001_job_a_succeeded": 1700000021.0,
    "job_000000001_job_b_start": 1700000022.0,
    "job_000000001_job_b_succeeded": 1700000042.5,
    "job_000000002_job_a_start": 1700000002.0,
    "job_000000002_job_a_succeeded": 1700000024.0,
    "job_000000002_job_b_start": 1700000025.0,
    "job_000000002_job_b_failed": 1700000030.0,
    "workflow_complete": 1700000045.0
  }
}"#;

fn smo(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smo")).arg("report").args(args).output().expect("smo runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn report_writes_the_svg_next_to_the_input_and_prints_durations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("workflow-times.json");
    std::fs::write(&input, TIMES).expect("write input");

    let out = smo(&[&input]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");

    let svg_path = dir.path().join("workflow-times.svg");
    let svg = std::fs::read_to_string(&svg_path).expect("svg written next to the input");
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"), "{svg}");
    assert_eq!(svg.matches("<title>").count(), 4, "one tooltip per job");
    assert!(svg.contains("<title>job_000000002 job_b 5.0 s failed</title>"), "{svg}");

    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("step") && lines[0].ends_with("max (s)"), "{stdout}");
    let a: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(a, ["job_a", "2", "2", "0", "20.0", "21.0", "21.9", "22.0"], "{stdout}");
    let b: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(b, ["job_b", "2", "1", "1", "5.0", "12.75", "19.725", "20.5"], "{stdout}");
    assert!(lines.iter().all(|l| l.len() == lines[0].len()), "aligned:\n{stdout}");

    let page_path = dir.path().join("workflow-times.html");
    assert_eq!(stderr.trim_end(), format!("wrote {} and {} (4 jobs)", svg_path.display(), page_path.display()));
    // The page: the timeline, the jobs running over time, a histogram per step — all inline.
    let page = std::fs::read_to_string(&page_path).expect("the page beside the SVG");
    assert_eq!(page.matches("<svg").count(), 4, "{page}");
    for expected in ["<h2>Timeline</h2>", "Step jobs running (peak ", ">job_a (2 jobs)<", ">job_b (2 jobs)<"] {
        assert!(page.contains(expected), "no `{expected}` in the page");
    }
}

#[test]
fn report_writes_where_output_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("times.json");
    std::fs::write(&input, TIMES).expect("write input");
    let target = dir.path().join("chart.svg");

    let out = Command::new(env!("CARGO_BIN_EXE_smo"))
        .arg("report")
        .arg(&input)
        .arg("-o")
        .arg(&target)
        .output()
        .expect("smo runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&target).expect("svg at -o").contains("</svg>"));
    assert!(!dir.path().join("workflow-times.svg").exists(), "only the -o file (and its page) is written");
    assert!(dir.path().join("chart.html").is_file(), "the page beside it");
    assert!(text(&out.stderr).contains("chart.html (4 jobs)"));
}

#[test]
fn report_of_a_missing_file_fails_with_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("nope.json");
    let out = smo(&[&input]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("smo report: cannot read ") && stderr.contains("nope.json"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn report_of_a_file_that_is_not_workflow_times_fails_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in [
        ("garbage.json", "this is not json\n{"),
        ("other.json", r#"{"apiVersion": "v1", "kind": "ConfigMap"}"#),
        ("wrong-type.json", r#"{"timestamps": {"workflow_start": "yesterday"}}"#),
    ] {
        let input = dir.path().join(name);
        std::fs::write(&input, content).expect("write input");
        let out = smo(&[&input]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name} is not a workflow-times.json")), "{stderr}");
        assert!(!dir.path().join("workflow-times.svg").exists(), "{name}: no SVG for a bad input");
    }
}
