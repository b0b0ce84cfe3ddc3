//! The inspection verbs on a local run directory — `smo describe ./smo-runs/chain-…`,
//! `smo logs ./smo-runs/chain-… [--step S] [--sequence ID] [-f]`, `smo timeline ./smo-runs/…` —
//! read what `smo run` keeps there (see the README's "Local runs") as the cluster forms read a
//! StateMachine: its workflow (`run.json`), its timestamps (`times.jsonl`), how each job ended
//! (`jobs/<step>-<jobid>-<attempt>/end.json`) and its logs (`logs/<step>-<jobid>-<attempt>.out`).
//!
//! A name is a run directory when it holds a `run.json` (a StateMachine's name never has a `/`,
//! so `./smo-runs/…` is never taken for one).

use std::fmt::Write as _;
use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use smo_actors::journal;
use smo_core::times::{SpanEnd, Times, Utc};

use crate::report;

/// `name` as a run directory, if it is one.
pub fn run_dir(name: &str) -> Option<PathBuf> {
    let dir = Path::new(name);
    dir.join("run.json").is_file().then(|| dir.to_path_buf())
}

/// The run's timestamps, as `smo run` records them.
pub fn times(dir: &Path) -> Result<Times, String> {
    journal::read_times(&dir.join("times.jsonl")).map_err(|e| format!("cannot read {}: {e}", dir.display()))
}

/// How a job ended, as `smo run` saw it (`end.json`).
#[derive(serde::Deserialize)]
struct End {
    succeeded: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// `smo describe RUN_DIR`: the run's workflow, its sequences against what is wanted, per step
/// the jobs and their durations (median, p95, max), and the latest failures with their reasons
/// and log tails.
pub fn describe(dir: &Path) -> Result<String, String> {
    let (workflow, executor) = super::run::recorded(dir)?;
    let times = times(dir)?;
    let spans = times.spans();
    let last_step = workflow.steps.last().map(|s| s.name.as_str()).unwrap_or_default();
    let completed = spans.iter().filter(|s| s.step == last_step && s.outcome == SpanEnd::Succeeded).count();
    let mut failed_sequences: Vec<&str> =
        spans.iter().filter(|s| s.outcome == SpanEnd::Failed).map(|s| s.jobid.as_str()).collect();
    failed_sequences.sort_unstable();
    failed_sequences.dedup();
    let (start, end) = times.workflow_bounds();
    let wanted = workflow.completed as usize;
    let phase = match end {
        Some(_) if completed >= wanted => "Succeeded".to_string(),
        Some(_) => "Ended without the wanted completions (the failure cap, or a finish-workflow rule)".to_string(),
        None => format!("Not ended (running, or cut off: `smo run --resume {}` finishes it)", dir.display()),
    };
    let mut out = String::new();
    let at = |t: f64| Utc::of(std::time::UNIX_EPOCH + Duration::from_secs_f64(t.max(0.0))).rfc3339();
    let _ = writeln!(out, "Name:          {}", workflow.name);
    let _ = writeln!(out, "Run directory: {}", dir.display());
    let _ = writeln!(out, "Executor:      {executor}");
    let _ = writeln!(out, "Phase:         {phase}");
    if let Some(start) = start {
        let _ = writeln!(out, "Started:       {}", at(start));
    }
    if let (Some(start), Some(end)) = (start, end) {
        let _ = writeln!(out, "Ended:         {} (after {:.1} s)", at(end), end - start);
    }
    let _ = writeln!(
        out,
        "Sequences:     {completed} of {wanted} completed, {} failed (at most {} may; cluster.maxSize {})",
        failed_sequences.len(),
        workflow.max_failures,
        workflow.max_size
    );
    let _ = writeln!(out, "Steps:");
    for line in report::durations_table(&report::step_durations(&times)).lines() {
        let _ = writeln!(out, "  {line}");
    }
    let failures: Vec<_> = spans.iter().filter(|s| s.outcome == SpanEnd::Failed).collect();
    let _ = writeln!(out, "Recent failures:{}", if failures.is_empty() { " <none>" } else { "" });
    for span in failures.iter().rev().take(5) {
        let stem = format!("{}-{}-{}", span.step, span.jobid, span.attempt);
        let reason = std::fs::read_to_string(dir.join("jobs").join(&stem).join("end.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<End>(&text).ok())
            .filter(|end| !end.succeeded)
            .and_then(|end| end.reason)
            .unwrap_or_else(|| "failed".into());
        let _ = writeln!(
            out,
            "  {} step {} (attempt {}) at {}: {reason}",
            span.jobid,
            span.step,
            span.attempt,
            at(span.end.unwrap_or(span.start))
        );
        let log = dir.join("logs").join(format!("{stem}.out"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        for line in tail.iter().rev() {
            let _ = writeln!(out, "    | {line}");
        }
    }
    Ok(out)
}

/// One job's log file: `logs/<step>-<jobid>-<attempt>.out`.
struct LogFile {
    path: PathBuf,
    step: String,
    jobid: String,
    attempt: String,
}

/// The run's log files matching `step` and `sequence`, oldest first.
fn log_files(dir: &Path, step: Option<&str>, sequence: Option<&str>) -> Result<Vec<LogFile>, String> {
    let logs = dir.join("logs");
    let entries = match std::fs::read_dir(&logs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", logs.display())),
    };
    let mut files: Vec<(std::time::SystemTime, LogFile)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            // `<step>-<jobid>-<attempt>.out`: a step name may hold `-`, a job id and an attempt
            // do not (`.interrupted-N` copies of a resumed run are not this run's last word).
            let stem = name.strip_suffix(".out")?;
            let (rest, attempt) = stem.rsplit_once('-')?;
            let (step_name, jobid) = rest.rsplit_once('-')?;
            attempt.parse::<u32>().ok()?;
            if jobid.contains('.') {
                return None;
            }
            let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            Some((
                modified,
                LogFile {
                    path: entry.path(),
                    step: step_name.to_string(),
                    jobid: jobid.to_string(),
                    attempt: attempt.to_string(),
                },
            ))
        })
        .filter(|(_, f)| step.is_none_or(|s| s == f.step) && sequence.is_none_or(|q| q == f.jobid))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
    Ok(files.into_iter().map(|(_, f)| f).collect())
}

/// `smo logs RUN_DIR`: each job's log under a `==> FILE (step S, sequence ID, attempt N) <==`
/// line, oldest first; with `follow`, the lines of every matching job as they are written (new
/// jobs' logs too, as they appear), each prefixed with `[step/sequence/attempt]`, until Ctrl-C.
pub fn logs(dir: &Path, step: Option<&str>, sequence: Option<&str>, follow: bool) -> Result<ExitCode, String> {
    let files = log_files(dir, step, sequence)?;
    if !follow {
        if files.is_empty() {
            eprintln!("No job logs in {} match.", dir.display());
        }
        for f in &files {
            let text =
                std::fs::read_to_string(&f.path).map_err(|e| format!("cannot read {}: {e}", f.path.display()))?;
            let header = format!(
                "==> {} (step {}, sequence {}, attempt {}) <==\n",
                f.path.display(),
                f.step,
                f.jobid,
                f.attempt
            );
            if super::print(header + &text) != ExitCode::SUCCESS {
                return Ok(ExitCode::FAILURE);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Followed by reading what each file gained since the last look; lines are printed whole.
    let mut read: std::collections::HashMap<PathBuf, (u64, String)> = std::collections::HashMap::new();
    loop {
        for f in log_files(dir, step, sequence)? {
            let (offset, partial) = read.entry(f.path.clone()).or_default();
            let Ok(mut file) = std::fs::File::open(&f.path) else { continue };
            if file.seek(std::io::SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut gained = String::new();
            let Ok(n) = file.read_to_string(&mut gained) else { continue };
            *offset += n as u64;
            partial.push_str(&gained);
            let Some(cut) = partial.rfind('\n') else { continue };
            let whole: String = partial.drain(..=cut).collect();
            let prefix = format!("[{}/{}/{}] ", f.step, f.jobid, f.attempt);
            let text: String = whole.lines().map(|l| format!("{prefix}{l}\n")).collect();
            if super::print(text) != ExitCode::SUCCESS {
                return Ok(ExitCode::FAILURE);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_files_are_told_apart_by_step_sequence_and_attempt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs");
        for name in [
            "step-a-run_000000001-1.out",
            "b-run_000000001-2.out",
            "b-run_000000002-1.out",
            "b-run_000000002-1.interrupted-1.out",
            "notes.txt",
        ] {
            std::fs::write(logs.join(name), "x\n").expect("write");
        }
        let all = log_files(dir.path(), None, None).expect("listed");
        let mut seen: Vec<(String, String, String)> =
            all.iter().map(|f| (f.step.clone(), f.jobid.clone(), f.attempt.clone())).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("b".into(), "run_000000001".into(), "2".into()),
                ("b".into(), "run_000000002".into(), "1".into()),
                ("step-a".into(), "run_000000001".into(), "1".into()),
            ]
        );
        assert_eq!(log_files(dir.path(), Some("b"), Some("run_000000002")).expect("listed").len(), 1);
        assert_eq!(log_files(dir.path(), Some("step-a"), None).expect("listed").len(), 1);
    }
}
