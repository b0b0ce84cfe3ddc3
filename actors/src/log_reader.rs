//! Custom metrics of a finished job, read from its log file.
//!
//! * `events.metrics`: the log is streamed line by line through the core's
//!   [`smo_core::log_metrics::LogScanner`] — memory stays flat whatever the log's size.
//! * `events.script`: the original's Python source defining `parse_log(log) -> dict`, run with
//!   `python3` in a subprocess with a time limit, instead of being imported into the manager.
//!   Python reads the log itself, from the file.
//!
//! A broken extractor or script is a warning in the log, never a failed job or a crash.
//! Everything here is async (tokio's file and process APIs): it runs on the actors' thread.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use smo_core::log_metrics::{LogScanner, without_timestamp};
use smo_core::workflow::{Step, Workflow};
use tokio::io::AsyncBufReadExt as _;

use crate::messages::JobLog;

/// How long a `parse_log` script may run.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the user's module from a file and prints `parse_log(<log file's text>)` as JSON.
/// The log is read from a file, not a pipe: a script that never reads could otherwise block
/// the writer outside any time limit. What the script itself prints goes to stderr, so that it
/// cannot spoil the JSON (the original imported it into the manager, where prints were logs).
const RUNNER: &str = r#"
import contextlib, importlib.util, json, sys
with contextlib.redirect_stdout(sys.stderr):
    spec = importlib.util.spec_from_file_location("smo_step_metrics", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
        log = f.read()
    result = module.parse_log(log)
print(json.dumps(result if result is not None else {}))
"#;

/// The custom metrics of one finished job of step `step` (empty when the step defines none or
/// the job has no log).
pub fn extract(
    workflow: Arc<Workflow>,
    step: usize,
    log: Option<JobLog>,
) -> LocalBoxFuture<'static, Vec<(String, f64)>> {
    let wanted = workflow.steps.get(step).is_some_and(|s| s.events_script.is_some() || !s.log_metrics.is_empty());
    let Some(log) = log.filter(|_| wanted) else {
        return Box::pin(async { Vec::new() });
    };
    Box::pin(async move {
        let Some(step) = workflow.steps.get(step) else { return Vec::new() };
        let mut values = if step.log_metrics.is_empty() {
            Vec::new()
        } else {
            match scan(step, &log).await {
                Ok(values) => values,
                Err(e) => {
                    tracing::warn!(step = %step.name, log = %log.path.display(), error = %e, "cannot read the job's log for metrics");
                    Vec::new()
                }
            }
        };
        if let Some(script) = &step.events_script {
            values.extend(from_script(&step.name, script, &log.path).await);
        }
        values
    })
}

/// Streams the log through the step's patterns (each line without its timestamp, if it has one).
async fn scan(step: &Step, log: &JobLog) -> std::io::Result<Vec<(String, f64)>> {
    let file = tokio::fs::File::open(&log.path).await?;
    let mut reader = tokio::io::BufReader::new(file);
    let mut scanner = LogScanner::new(&step.log_metrics);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).await? > 0 {
        let text = String::from_utf8_lossy(&line);
        scanner.line(if log.timestamped { without_timestamp(&text) } else { &text });
        line.clear();
    }
    Ok(scanner.finish())
}

/// Runs a `parse_log` script on the log file `log`; numbers in its result become metrics.
pub async fn from_script(step: &str, script: &str, log: &Path) -> Vec<(String, f64)> {
    match run_script(step, script, log, SCRIPT_TIMEOUT).await {
        Ok(values) => values,
        Err(e) => {
            tracing::warn!(step, error = %e, "the step's parse_log script failed; its metrics are skipped");
            Vec::new()
        }
    }
}

/// Where the script is written: beside the logs of the run (`<logs>/.parse_log/`), so it goes
/// away with the run directory and leaves nothing in /tmp.
async fn script_path(step: &str, script: &str, log: &Path) -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    script.hash(&mut h);
    let dir = log.parent().unwrap_or(Path::new(".")).join(".parse_log");
    tokio::fs::create_dir_all(&dir).await?;
    let safe: String = step.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let path = dir.join(format!("{safe}_{:016x}.py", h.finish()));
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        tokio::fs::write(&path, script).await?;
    }
    Ok(path)
}

/// Runs a `parse_log` script on the log file `log` within `limit`: its numbers, or why not.
pub async fn run_script(step: &str, script: &str, log: &Path, limit: Duration) -> Result<Vec<(String, f64)>, String> {
    let path = script_path(step, script, log).await.map_err(|e| format!("cannot write the script: {e}"))?;
    let child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(RUNNER)
        .arg(&path)
        .arg(log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start python3: {e}"))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| format!("parse_log ran longer than {}s", limit.as_secs_f64()))?
        .map_err(|e| format!("cannot wait for python3: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no error output");
        return Err(format!("python3 exited with {}: {last}", output.status));
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("parse_log did not return a JSON-able dict: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err(format!("parse_log returned {value}, not a dict"));
    };
    let mut out = Vec::new();
    for (key, v) in map {
        match v.as_f64().or_else(|| v.as_bool().map(|b| f64::from(u8::from(b)))) {
            Some(n) if n.is_finite() => out.push((key, n)),
            _ => tracing::warn!(step, key, value = %v, "parse_log returned a value that is not a number; skipped"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log file with `text` in a fresh directory (removed by the caller's guard).
    fn log_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("smo-metrics-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let log = dir.join("job.out");
        std::fs::write(&log, text).expect("log");
        log
    }

    #[actix_rt::test]
    async fn python_parse_log_scripts_keep_working() {
        // What the script prints is its own business, never part of the result.
        let script = "def parse_log(log):\n    import re\n    print('parsing')\n    m = re.search(r'Total wall time: (\\d+):(\\d+):(\\d+)', log)\n    h, mi, s = map(int, m.groups())\n    return {'lammps-walltime': h*3600 + mi*60 + s, 'label': 'x'}\n";
        let log = log_file("lammps", "...\nTotal wall time: 0:01:05\n");
        let got = from_script("lammps", script, &log).await;
        assert_eq!(got, vec![("lammps-walltime".to_string(), 65.0)]);
        let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
    }

    #[actix_rt::test]
    async fn a_broken_script_is_a_warning_not_a_crash() {
        let log = log_file("broken", "x");
        // Each failure is Python's own (so python3 did run: without it this test fails), and
        // the metrics are then skipped, not the job.
        let cases = [
            ("def parse_log(log):\n    raise ValueError('boom')\n", "ValueError: boom"),
            ("def parse_log(log) this is not python", "SyntaxError"),
            ("def parse_log(log):\n    return [1]\n", "not a dict"),
        ];
        for (script, why) in cases {
            let err = run_script("s", script, &log, SCRIPT_TIMEOUT).await.expect_err("the script is broken");
            assert!(err.contains(why), "{err}");
            assert!(from_script("s", script, &log).await.is_empty());
        }
        let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
    }

    #[actix_rt::test]
    async fn a_script_that_never_returns_is_stopped_by_the_time_limit() {
        // A big log and a script that spins before reading anything: the limit still holds.
        let log = log_file("spin", &"x".repeat(300_000));
        let limit = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let got = tokio::time::timeout(limit * 10, run_script("s", "while True:\n    pass\n", &log, limit))
            .await
            .expect("the time limit holds");
        let err = got.expect_err("stopped");
        assert!(err.contains("parse_log ran longer than 1s"), "{err}");
        assert!(started.elapsed() >= limit);
        let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
    }
}
