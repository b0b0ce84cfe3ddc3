//! What a step's Pod runs to compute its own custom metrics on Kubernetes (`smo log-tee`,
//! `smo step-metrics`), run here as the Pod runs them: the real binary, the real `python3`.

mod common;

use std::io::Write as _;
use std::process::Stdio;

use common::smo;

/// The script's output passes through unchanged; the copy has each line after its RFC 3339 time.
#[test]
fn log_tee_passes_the_output_on_and_keeps_a_timestamped_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("step.log");
    let mut child = smo()
        .arg("log-tee")
        .arg(&copy)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start smo log-tee");
    let input = "step 1 loss=0.5\nünïcode and no newline at the end";
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), input, "the Pod's log is the script's output");
    let kept = std::fs::read_to_string(&copy).expect("the copy");
    let lines: Vec<&str> = kept.lines().collect();
    assert_eq!(lines.len(), 2, "{kept}");
    for (line, original) in lines.iter().zip(input.lines()) {
        let (stamp, rest) = line.split_once(' ').expect("a time, then the line");
        assert_eq!(rest, original);
        // 2026-12-06T07:08:37.123456789Z
        assert_eq!(stamp.len(), 30, "{stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[19] == b'.', "{stamp}");
    }
}

/// `events.metrics` patterns see each line without its time; `parse_log` gets the log as the
/// original gave it (with the times) and runs with this machine's python3; the report is what
/// the executor reads from the termination message.
#[test]
fn step_metrics_reports_patterns_and_parse_log_in_one_bounded_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("step.log");
    std::fs::write(
        &log,
        "2026-12-06T07:08:37.000000001Z loss=0.5\n2026-12-06T07:08:38.000000001Z loss=0.25\n2026-12-06T07:08:39.000000001Z Total wall time: 0:01:05\n",
    )
    .expect("log");
    let config = dir.path().join("metrics.json");
    let script = "def parse_log(log):\n    import re\n    h, m, s = map(int, re.search(r'Total wall time: (\\d+):(\\d+):(\\d+)', log).groups())\n    stamped = all(line[:4].isdigit() and line[10] == 'T' for line in log.splitlines())\n    return {'walltime': h * 3600 + m * 60 + s, 'stamped': stamped}\n";
    let text = serde_json::json!({
        "metrics": [{"key": "loss", "pattern": "^loss=([0-9.]+)$", "reduce": "min"}],
        "script": script,
    });
    std::fs::write(&config, text.to_string()).expect("config");
    let report = dir.path().join("termination-log");
    let out = smo().arg("step-metrics").arg(&config).arg(&log).arg("--output").arg(&report).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    assert_eq!(got["metrics"], serde_json::json!({"loss": 0.25, "walltime": 65.0, "stamped": 1.0}), "{got}");

    // A failing parse_log is a warning in the report (and on stderr), the patterns still count.
    let broken = serde_json::json!({"metrics": [{"key": "loss", "pattern": "loss=([0-9.]+)"}], "script": "def parse_log(log):\n    raise ValueError('boom')\n"});
    std::fs::write(&config, broken.to_string()).expect("config");
    let out = smo().arg("step-metrics").arg(&config).arg(&log).arg("--output").arg(&report).output().expect("run");
    assert!(out.status.success());
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    assert_eq!(got["metrics"], serde_json::json!({"loss": 0.25}));
    assert!(got["warnings"][0].as_str().is_some_and(|w| w.contains("ValueError: boom")), "{got}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValueError: boom"));
}
