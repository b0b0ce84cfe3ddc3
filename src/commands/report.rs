//! `smo report TIMES.json [-o FILE]`: the timeline of a run as SVG, per-step durations, and one
//! self-contained HTML page with the timeline, the step jobs running over time and each step's
//! duration histogram ([`crate::charts`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use smo_core::times::Times;

use crate::cli::ReportArgs;
use crate::report;

/// Writes the SVG timeline of `args.times` and the HTML page beside it, prints the per-step
/// durations table to stdout and `wrote <path> and <page> (<n> jobs)` to stderr; exit 1 with a
/// one-line error naming the file otherwise.
pub fn run(args: &ReportArgs) -> ExitCode {
    match report_file(args) {
        Ok((table, out, jobs)) => {
            let code = super::print(table);
            eprintln!("wrote {} and {} ({jobs} jobs)", out.display(), out.with_extension("html").display());
            code
        }
        Err(message) => {
            eprintln!("smo report: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads, draws and writes; returns the table, the SVG's path and the number of jobs.
fn report_file(args: &ReportArgs) -> Result<(String, PathBuf, usize), String> {
    let input = &args.times;
    let times = read_times(input)?;
    let out = args.output.clone().unwrap_or_else(|| input.with_file_name("workflow-times.svg"));
    let svg = report::timeline_svg(&times, &input.display().to_string());
    std::fs::write(&out, svg).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let page = out.with_extension("html");
    let html = crate::charts::report_html(&times, &input.display().to_string());
    std::fs::write(&page, html).map_err(|e| format!("cannot write {}: {e}", page.display()))?;
    let jobs = times.spans().len();
    Ok((report::durations_table(&report::step_durations(&times)), out, jobs))
}

/// Reads a `workflow-times.json`. Any JSON object would deserialize into an empty [`Times`], so
/// one with neither `timestamps` nor `times` is rejected: it is some other file, and an empty
/// chart would hide the mistake.
fn read_times(path: &Path) -> Result<Times, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let not_times = |why: String| format!("{} is not a workflow-times.json: {why}", path.display());
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| not_times(e.to_string()))?;
    let has_keys = value.as_object().is_some_and(|o| o.contains_key("timestamps") || o.contains_key("times"));
    if !has_keys {
        return Err(not_times("expected an object with `timestamps`".into()));
    }
    // The message of from_json starts with "not a workflow-times.json"; keep only its reason.
    Times::from_json(&text).map_err(|e| not_times(e.trim_start_matches("not a workflow-times.json: ").to_string()))
}
