//! Custom metrics from a finished job's log.
//!
//! Two ways, per step:
//! * `events.metrics`: declarative extractors — a regular expression whose first capture group
//!   is a number, reduced over all matches (`last` by default). No Python needed.
//! * `events.script`: the original's Python source defining `parse_log(log) -> dict`, run with
//!   `python3` in a subprocess (with a time limit) instead of being imported into the manager.
//!
//! A broken extractor or script is a warning in the log, never a failed job or a crash.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::future::LocalBoxFuture;

use crate::workflow::{LogMetric, Reduce, Step};

/// How long a `parse_log` script may run.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the user's module from a file and prints `parse_log(<log file's text>)` as JSON.
/// The log is read from a file, not a pipe: a script that never reads could otherwise block
/// the writer outside any time limit.
const RUNNER: &str = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("smo_step_metrics", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
    log = f.read()
result = module.parse_log(log)
print(json.dumps(result if result is not None else {}))
"#;

/// The custom metrics of one finished job (empty when the step defines none or has no log).
pub fn extract(step: Option<Step>, log: Option<PathBuf>) -> LocalBoxFuture<'static, Vec<(String, f64)>> {
    let Some(step) = step.filter(|s| s.events_script.is_some() || !s.log_metrics.is_empty()) else {
        return Box::pin(async { Vec::new() });
    };
    let Some(log) = log else {
        return Box::pin(async { Vec::new() });
    };
    Box::pin(async move {
        let text = match tokio::fs::read(&log).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                tracing::warn!(step = %step.name, log = %log.display(), error = %e, "cannot read the job's log for metrics");
                return Vec::new();
            }
        };
        let mut values = from_patterns(&step.name, &step.log_metrics, &text);
        if let Some(script) = &step.events_script {
            values.extend(from_script(&step.name, script, &log).await);
        }
        values
    })
}

/// Applies the declarative extractors.
pub fn from_patterns(step: &str, metrics: &[LogMetric], log: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for metric in metrics {
        let re = match regex::Regex::new(&metric.pattern) {
            Ok(re) => re,
            Err(e) => {
                tracing::warn!(step, key = %metric.key, error = %e, "invalid metric pattern");
                continue;
            }
        };
        let values: Vec<f64> = re
            .captures_iter(log)
            .filter_map(|c| c.get(1).or_else(|| c.get(0)))
            .filter_map(|m| m.as_str().trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .collect();
        let value = match metric.reduce {
            Reduce::Count => Some(values.len() as f64),
            _ if values.is_empty() => None,
            Reduce::Last => values.last().copied(),
            Reduce::First => values.first().copied(),
            Reduce::Sum => Some(values.iter().sum()),
            Reduce::Min => values.iter().copied().reduce(f64::min),
            Reduce::Max => values.iter().copied().reduce(f64::max),
            Reduce::Mean => Some(values.iter().sum::<f64>() / values.len() as f64),
        };
        if let Some(v) = value {
            out.push((metric.key.clone(), v));
        }
    }
    out
}

/// Runs a `parse_log` script on the log file `log`; numbers in its result become metrics.
pub async fn from_script(step: &str, script: &str, log: &Path) -> Vec<(String, f64)> {
    from_script_within(step, script, log, SCRIPT_TIMEOUT).await
}

/// [`from_script`] with a given time limit.
async fn from_script_within(step: &str, script: &str, log: &Path, limit: Duration) -> Vec<(String, f64)> {
    match run_script(step, script, log, limit).await {
        Ok(values) => values,
        Err(e) => {
            tracing::warn!(step, error = %e, "the step's parse_log script failed; its metrics are skipped");
            Vec::new()
        }
    }
}

/// Where the script is written: beside the logs of the run (`<logs>/.parse_log/`), so it goes
/// away with the run directory and leaves nothing in /tmp.
fn script_path(step: &str, script: &str, log: &Path) -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    script.hash(&mut h);
    let dir = log.parent().unwrap_or(Path::new(".")).join(".parse_log");
    std::fs::create_dir_all(&dir)?;
    let safe: String = step.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let path = dir.join(format!("{safe}_{:016x}.py", h.finish()));
    if !Path::new(&path).exists() {
        std::fs::write(&path, script)?;
    }
    Ok(path)
}

async fn run_script(step: &str, script: &str, log: &Path, limit: Duration) -> Result<Vec<(String, f64)>, String> {
    let path = script_path(step, script, log).map_err(|e| format!("cannot write the script: {e}"))?;
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

    fn metric(key: &str, pattern: &str, reduce: Reduce) -> LogMetric {
        LogMetric { key: key.into(), pattern: pattern.into(), reduce }
    }

    #[test]
    fn patterns_reduce_their_matches() {
        let log = "Accuracy: 0.5\nloss 3\nAccuracy: 0.75\nAccuracy: 0.6\n";
        let cases = [
            (Reduce::Last, Some(0.6)),
            (Reduce::First, Some(0.5)),
            (Reduce::Max, Some(0.75)),
            (Reduce::Min, Some(0.5)),
            (Reduce::Count, Some(3.0)),
        ];
        for (reduce, want) in cases {
            let got = from_patterns("s", &[metric("accuracy", r"Accuracy: ([0-9.]+)", reduce)], log);
            assert_eq!(got.first().map(|(_, v)| *v), want, "{reduce:?}");
        }
        assert!(from_patterns("s", &[metric("x", r"nothing (\d+)", Reduce::Last)], log).is_empty());
    }

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
        let script = "def parse_log(log):\n    import re\n    m = re.search(r'Total wall time: (\\d+):(\\d+):(\\d+)', log)\n    h, mi, s = map(int, m.groups())\n    return {'lammps-walltime': h*3600 + mi*60 + s, 'label': 'x'}\n";
        let log = log_file("lammps", "...\nTotal wall time: 0:01:05\n");
        let got = from_script("lammps", script, &log).await;
        assert_eq!(got, vec![("lammps-walltime".to_string(), 65.0)]);
        let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
    }

    #[actix_rt::test]
    async fn a_broken_script_is_a_warning_not_a_crash() {
        let log = log_file("broken", "x");
        assert!(from_script("s", "def parse_log(log):\n    raise ValueError('boom')\n", &log).await.is_empty());
        assert!(from_script("s", "this is not python", &log).await.is_empty());
        assert!(from_script("s", "def parse_log(log):\n    return [1]\n", &log).await.is_empty());
        let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
    }

    #[actix_rt::test]
    async fn a_script_that_never_returns_is_stopped_by_the_time_limit() {
        // A big log and a script that spins before reading anything: the limit still holds.
        let log = log_file("spin", &"x".repeat(300_000));
        let limit = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let got = tokio::time::timeout(limit * 10, from_script_within("s", "while True:\n    pass\n", &log, limit))
            .await
            .expect("the time limit holds");
        assert!(got.is_empty());
        assert!(started.elapsed() >= limit);
        let _ = std::fs::remove_dir_all(log.parent().expect("dir"));
    }
}
