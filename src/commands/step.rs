//! What a step's Pod runs besides its script, on Kubernetes (hidden subcommands; see
//! `smo_core::step_metrics`):
//!
//! * `smo log-tee FILE`: stdin to stdout unchanged, and to FILE with each line's RFC 3339 time
//!   in front (as Kubernetes gives a log read with `timestamps=true`);
//! * `smo step-metrics CONFIG LOG --output PATH`: the step's custom metrics from LOG — its
//!   `events.metrics` patterns and its `parse_log`, run by the step image's `python3` — as a
//!   report in PATH (the container's termination message).

use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use smo_actors::log_reader;
use smo_core::log_metrics::{LogScanner, without_timestamp};
use smo_core::step_metrics::{Config, Report};
use smo_core::times::Utc;
use smo_core::workflow::{LogMetric, Pattern, Reduce};

/// `smo log-tee FILE`.
pub fn log_tee(file: &Path) -> ExitCode {
    let copy = std::fs::File::create(file).map(std::io::BufWriter::new);
    let mut copy = match copy {
        Ok(c) => Some(c),
        Err(e) => {
            // The output still passes on: the script's run does not depend on the copy.
            eprintln!("smo log-tee: cannot write {}: {e}; the step's metrics will be missing", file.display());
            None
        }
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("smo log-tee: cannot read the step's output: {e}");
                break;
            }
        }
        // Line by line, flushed: the Pod's log follows the script as it runs.
        let mut out = stdout.lock();
        let _ = out.write_all(&line).and_then(|_| out.flush());
        if let Some(c) = &mut copy {
            let written = write!(c, "{} ", now_rfc3339())
                .and_then(|_| c.write_all(&line))
                .and_then(|_| if line.ends_with(b"\n") { Ok(()) } else { c.write_all(b"\n") });
            if let Err(e) = written {
                eprintln!("smo log-tee: cannot write {}: {e}; the step's metrics will be missing", file.display());
                copy = None;
            }
        }
    }
    if let Some(mut c) = copy {
        let _ = c.flush();
    }
    ExitCode::SUCCESS
}

/// The time now as Kubernetes writes it in front of a log line: `2026-12-06T07:08:37.123456789Z`.
fn now_rfc3339() -> String {
    let now = SystemTime::now();
    let nanos = now.duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let whole = Utc::of(now).rfc3339();
    format!("{}.{nanos:09}Z", whole.trim_end_matches('Z'))
}

/// `smo step-metrics CONFIG LOG --output PATH`.
pub fn step_metrics(config: &Path, log: &Path, output: &Path) -> ExitCode {
    let report = match std::fs::read_to_string(config) {
        Ok(text) => match serde_json::from_str::<Config>(&text) {
            Ok(config) => compute(&config, log),
            Err(e) => {
                Report { warnings: vec![format!("{} cannot be read: {e}", config.display())], ..Report::default() }
            }
        },
        Err(e) => Report { warnings: vec![format!("cannot read {}: {e}", config.display())], ..Report::default() },
    };
    for w in &report.warnings {
        eprintln!("smo step-metrics: {w}");
    }
    match std::fs::write(output, report.to_message()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smo step-metrics: cannot write {}: {e}", output.display());
            ExitCode::FAILURE
        }
    }
}

/// The step's metrics from its timestamped log.
fn compute(config: &Config, log: &Path) -> Report {
    let mut report = Report::default();
    let mut metrics = Vec::new();
    for spec in &config.metrics {
        let reduce = spec.reduce.as_deref().unwrap_or("last");
        let reduce = Reduce::ALL.iter().find(|(name, _)| *name == reduce).map(|(_, r)| *r);
        match (Pattern::new(&spec.pattern), reduce) {
            (Ok(pattern), Some(reduce)) => metrics.push(LogMetric { key: spec.key.clone(), pattern, reduce }),
            (Err(e), _) => report.warnings.push(format!("pattern of {}: {e}", spec.key)),
            (_, None) => report.warnings.push(format!("reduction of {}: unknown", spec.key)),
        }
    }
    if !metrics.is_empty() {
        match scan(&metrics, log) {
            Ok(values) => report.metrics.extend(values),
            Err(e) => report.warnings.push(format!("cannot read {}: {e}", log.display())),
        }
    }
    if let Some(script) = &config.script {
        let ran = smo_actors::artifact::runtime()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(log_reader::run_script("step", script, log, log_reader::SCRIPT_TIMEOUT)));
        match ran {
            Ok(values) => report.metrics.extend(values),
            Err(e) => report.warnings.push(format!("parse_log: {e}")),
        }
    }
    report
}

/// The patterns over the log, line by line, each line without its time.
fn scan(metrics: &[LogMetric], log: &Path) -> std::io::Result<Vec<(String, f64)>> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(log)?);
    let mut scanner = LogScanner::new(metrics);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        let text = String::from_utf8_lossy(&line);
        scanner.line(without_timestamp(&text));
        line.clear();
    }
    Ok(scanner.finish())
}
