//! What a run looked like: a timeline of `workflow-times.json` as SVG, per-step duration tables,
//! and the summary `smo run` prints at the end.
//!
//! Replaces the original's pandas/matplotlib analysis (`WorkflowTimesParser`, `make_plot`) with
//! pure functions returning text: no I/O, no plotting library, deterministic output. The SVG is
//! written by hand; every piece of user text in it (job ids, step names, the title) is
//! XML-escaped, and its size is bounded whatever the number of jobs (rows are sampled beyond
//! [`MAX_ROWS`], bars capped at [`MAX_BARS`]), so a 10,000-sequence run still gives a file a
//! browser opens instantly.

use std::collections::HashMap;
use std::fmt::Write as _;

use smo_actors::executor::kubernetes::ApiRequestCounts;
use smo_core::ledger::{RunOutcome, RunReport};
use smo_core::rulebook::RuleEffect;
use smo_core::stats::{Model, Stats};
use smo_core::times::{Span, SpanEnd, Times};
use smo_core::workflow::Workflow;

/// Most sequence rows the timeline draws; beyond it, rows are sampled evenly by start time so the
/// whole run stays visible.
pub const MAX_ROWS: usize = 400;

/// Most job bars the timeline draws (a bound on the file's size: about 150 bytes per bar).
pub const MAX_BARS: usize = 3000;

/// Step colours: the Okabe–Ito colour-blind-safe palette, without its vermillion (red marks
/// failures) and with grey instead of black (so the hatching of failed jobs stays visible).
const PALETTE: [&str; 7] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#8C8C8C"];

/// Outline of failed jobs.
const FAILED_STROKE: &str = "#C00000";

/// Width of the SVG in pixels.
pub(crate) const WIDTH: f64 = 1000.0;
/// Tallest and shortest sequence row, in pixels.
const MAX_ROW_H: f64 = 24.0;
const MIN_ROW_H: f64 = 2.0;
/// Height the rows aim to fit in before they reach their minimum height.
const TARGET_PLOT_H: f64 = 1600.0;
/// Longest job id label and step name shown, in characters (longer ones end in `…`).
const MAX_LABEL_CHARS: usize = 32;
const MAX_STEP_CHARS: usize = 40;
/// Most legend entries; a garbage file could name thousands of steps.
const MAX_LEGEND: usize = 24;
/// Approximate advance of one character of the 11–12 px fonts used, for layout.
const CHAR_W: f64 = 6.8;

/// Duration statistics of one step, from the spans of a `workflow-times.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepDurations {
    /// Step name.
    pub step: String,
    /// Jobs of the step (ended or not).
    pub runs: usize,
    /// Jobs that succeeded.
    pub succeeded: usize,
    /// Jobs that failed.
    pub failed: usize,
    /// Shortest duration of an ended job, in seconds (None: no job ended).
    pub min: Option<f64>,
    /// Median duration of the ended jobs, in seconds.
    pub median: Option<f64>,
    /// 95th percentile of the durations of the ended jobs, in seconds.
    pub p95: Option<f64>,
    /// Longest duration of an ended job, in seconds.
    pub max: Option<f64>,
}

/// Per-step durations of every job in `times`, steps in the order their first job started.
///
/// Durations are those of ended jobs (succeeded or failed); open jobs count as runs only.
/// Quantiles interpolate between closest ranks, as [`Stats::quantile`] does for `smo run`.
pub fn step_durations(times: &Times) -> Vec<StepDurations> {
    let mut order: Vec<StepDurations> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut stats = Stats::new();
    for span in times.spans() {
        let i = *index.entry(span.step.clone()).or_insert_with(|| {
            order.push(StepDurations {
                step: span.step.clone(),
                runs: 0,
                succeeded: 0,
                failed: 0,
                min: None,
                median: None,
                p95: None,
                max: None,
            });
            order.len() - 1
        });
        let row = &mut order[i];
        row.runs += 1;
        match span.outcome {
            SpanEnd::Succeeded => row.succeeded += 1,
            SpanEnd::Failed => row.failed += 1,
            SpanEnd::Open => {}
        }
        if let Some(end) = span.end {
            stats.record(&span.step, "duration", end - span.start);
        }
    }
    for row in &mut order {
        row.min = stats.value(Model::Min, &row.step, "duration");
        row.median = stats.quantile(&row.step, "duration", 0.5);
        row.p95 = stats.quantile(&row.step, "duration", 0.95);
        row.max = stats.value(Model::Max, &row.step, "duration");
    }
    order
}

/// `rows` as an aligned plain-text table, one line per step (durations in seconds, `-` where no
/// job ended); `no jobs recorded` if there are none.
pub fn durations_table(rows: &[StepDurations]) -> String {
    if rows.is_empty() {
        return "no jobs recorded\n".into();
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                plain(&r.step),
                r.runs.to_string(),
                r.succeeded.to_string(),
                r.failed.to_string(),
                secs(r.min),
                secs(r.median),
                secs(r.p95),
                secs(r.max),
            ]
        })
        .collect();
    table(&["step", "runs", "succeeded", "failed", "min (s)", "median (s)", "p95 (s)", "max (s)"], &body)
}

/// The summary `smo run` prints when a run ends: the outcome, sequence counts, a per-step table
/// (jobs, durations from `report.stats`' `duration` samples, nodes at the end) and the rules
/// One line on the Kubernetes API requests of a run: reads, watches, writes, errors, and writes
/// per step job.
pub fn api_summary(counts: &ApiRequestCounts, step_jobs: u64) -> String {
    let per_job = if step_jobs > 0 {
        format!(" ({:.2} writes per step job)", counts.writes as f64 / step_jobs as f64)
    } else {
        String::new()
    };
    format!(
        "Kubernetes API requests: {} reads, {} watches, {} writes{per_job}, {} errors",
        counts.reads, counts.watches, counts.writes, counts.errors
    )
}

/// that fired.
pub fn run_summary(report: &RunReport, workflow: &Workflow) -> String {
    let mut out = String::new();
    let (verdict, extra) = match &report.outcome {
        RunOutcome::Succeeded { .. } => ("succeeded", String::new()),
        RunOutcome::Failed { .. } => ("failed", String::new()),
        RunOutcome::Stopped { .. } => ("stopped", String::new()),
        RunOutcome::Interrupted { exit_code, .. } => ("interrupted", format!(" (exit code {exit_code})")),
    };
    let _ = writeln!(out, "workflow {} {verdict}: {}{extra}", plain(&workflow.name), plain(report.outcome.reason()));
    let _ = writeln!(
        out,
        "sequences: {} completed, {} failed, {} started (of {} needed)",
        report.completed, report.failed, report.started, workflow.completed
    );
    out.push('\n');

    let body: Vec<Vec<String>> = workflow
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let counts = report.steps.get(i).cloned().unwrap_or_default();
            let name = step.name.as_str();
            let stats = &report.stats;
            vec![
                plain(name),
                counts.runs.to_string(),
                counts.succeeded.to_string(),
                counts.failed.to_string(),
                secs(stats.value(Model::Min, name, "duration")),
                secs(stats.quantile(name, "duration", 0.5)),
                secs(stats.quantile(name, "duration", 0.95)),
                secs(stats.value(Model::Max, name, "duration")),
                report.nodes.get(i).map_or_else(|| "-".into(), u32::to_string),
            ]
        })
        .collect();
    out.push_str(&table(
        &["step", "runs", "succeeded", "failed", "min (s)", "median (s)", "p95 (s)", "max (s)", "nodes"],
        &body,
    ));
    out.push('\n');

    let fired: u32 = report.rules.iter().map(|r| r.fired).sum();
    if fired == 0 {
        out.push_str("no rule fired\n");
        return out;
    }
    // Firings per rule, in declaration order; the last firing of each shows where it left
    // things (the final node count of a grow, say).
    let body: Vec<Vec<String>> = report
        .rules
        .iter()
        .filter_map(|tally| Some((tally.fired, tally.last.as_ref()?)))
        .map(|(count, last)| {
            let effect = match &last.effect {
                RuleEffect::Resize { from, to, .. } => format!(", nodes {from} => {to}"),
                RuleEffect::Repeat { step } => format!(", repeated {}", plain(step)),
                RuleEffect::FinishWorkflow => ", finished the workflow".into(),
            };
            vec![
                format!("#{}", last.rule + 1),
                last.action.to_string(),
                plain(&format!("{} {}", last.metric, last.condition)),
                count.to_string(),
                format!("{}{effect}", num(last.value)),
            ]
        })
        .collect();
    let _ = writeln!(out, "rule firings ({fired}):");
    out.push_str(&table(&["rule", "action", "condition", "fired", "last value"], &body));
    out
}

/// An SVG timeline (Gantt chart) of every job in `times`: one row per sequence ordered by first
/// start, one bar per job coloured by step, failed jobs hatched with a red outline, open jobs
/// faded and drawn to the workflow's end, a time axis in seconds since `workflow_start`, and a
/// dashed line at `workflow_complete`. Each bar has a tooltip (`<jobid> <step> 12.3 s succeeded`).
///
/// Beyond [`MAX_ROWS`] sequences rows are sampled evenly by start time and thinned to a few
/// pixels each, and at most [`MAX_BARS`] bars are drawn; the subtitle says what was drawn.
pub fn timeline_svg(times: &Times, title: &str) -> String {
    let spans = times.spans();
    let (wf_start, wf_complete) = times.workflow_bounds();
    let mut svg = Svg::default();

    // Sequences in order of their first start (spans are sorted by start, ties by job id).
    let mut rows: Vec<&str> = Vec::new();
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    let mut steps: Vec<&str> = Vec::new();
    let mut step_of: HashMap<&str, usize> = HashMap::new();
    for s in &spans {
        row_of.entry(&s.jobid).or_insert_with(|| {
            rows.push(&s.jobid);
            rows.len() - 1
        });
        step_of.entry(&s.step).or_insert_with(|| {
            steps.push(&s.step);
            steps.len() - 1
        });
    }
    let failed = spans.iter().filter(|s| s.outcome == SpanEnd::Failed).count();
    let open = spans.iter().filter(|s| s.outcome == SpanEnd::Open).count();

    // Time domain: zero at workflow_start (or the first job); open jobs run to workflow_complete
    // or, without it, to the last timestamp of the file.
    let finite = |v: &f64| v.is_finite();
    let last = times.timestamps.values().copied().filter(finite).fold(f64::NEG_INFINITY, f64::max);
    let first_start = spans.iter().map(|s| s.start).filter(finite).fold(f64::INFINITY, f64::min);
    let t0 = wf_start.filter(finite).unwrap_or(if first_start.is_finite() { first_start } else { 0.0 });
    let open_end = wf_complete.filter(finite).unwrap_or(last);
    let end_of = |s: &Span| match s.end {
        Some(e) => e,
        None => open_end.max(s.start),
    };
    let lo = spans.iter().map(|s| s.start - t0).filter(finite).fold(0.0_f64, f64::min);
    let mut hi = spans.iter().map(|s| end_of(s) - t0).filter(finite).fold(lo, f64::max);
    if let Some(c) = wf_complete.filter(finite) {
        hi = hi.max(c - t0);
    }
    if !(hi - lo).is_finite() || hi - lo <= 0.0 {
        hi = lo + 1.0;
    }
    let extent = hi - lo;
    // A little room on the right, so the last bar and the completion line clear the plot's edge.
    hi += (hi - lo) * 0.02;

    // Rows drawn: all, or an even sample by start time, few enough for MAX_BARS on average.
    let per_row = spans.len().div_ceil(rows.len().max(1)).max(1);
    let row_cap = MAX_ROWS.min((MAX_BARS / per_row).max(1));
    let drawn: Vec<usize> = if rows.len() > row_cap {
        (0..row_cap).map(|i| i * rows.len() / row_cap).collect()
    } else {
        (0..rows.len()).collect()
    };
    let mut drawn_at: Vec<Option<usize>> = vec![None; rows.len()];
    for (at, &row) in drawn.iter().enumerate() {
        drawn_at[row] = Some(at);
    }

    // Horizontal layout: job id labels on the left, sized to the longest drawn id.
    let label_chars = drawn.iter().map(|&r| rows[r].chars().count()).max().unwrap_or(0).min(MAX_LABEL_CHARS);
    let left = (16.0 + label_chars as f64 * CHAR_W + 10.0).max(80.0);
    let right = 24.0;
    let plot_w = WIDTH - left - right;
    let sx = |t: f64| {
        let x = (t - t0 - lo) / (hi - lo) * plot_w;
        left + if x.is_finite() { x.clamp(0.0, plot_w) } else { 0.0 }
    };

    // Header: title, subtitle, legend.
    let mut subtitle = if spans.is_empty() {
        "no job spans in this file".to_string()
    } else {
        format!(
            "{} sequences, {} jobs ({failed} failed, {open} open) over {} s; one row per sequence, by first start",
            rows.len(),
            spans.len(),
            num(extent)
        )
    };
    if drawn.len() < rows.len() {
        let _ = write!(subtitle, "; {} of {} rows drawn, evenly spread by start", drawn.len(), rows.len());
    }
    let mut body = String::new();
    let mut bars = 0usize;
    let mut bars_capped = false;

    let mut y = 62.0;
    let mut legend = String::new();
    if !spans.is_empty() {
        let mut x = 16.0;
        let mut item = |legend: &mut String, swatch: String, label: &str| {
            let w = 18.0 + label.chars().count() as f64 * CHAR_W + 16.0;
            if x + w > WIDTH - 16.0 && x > 16.0 {
                x = 16.0;
                y += 18.0;
            }
            let _ = write!(
                legend,
                r#"<g transform="translate({x:.1},{y:.1})">{swatch}<text x="18" y="9.5">{}</text></g>"#,
                esc(label)
            );
            x += w;
        };
        for (i, step) in steps.iter().take(MAX_LEGEND).enumerate() {
            let swatch = format!(r#"<rect width="14" height="10" fill="{}"/>"#, colour(i));
            item(&mut legend, swatch, &truncate(step, MAX_STEP_CHARS));
        }
        if steps.len() > MAX_LEGEND {
            item(&mut legend, String::new(), &format!("+{} more steps", steps.len() - MAX_LEGEND));
        }
        let failed_swatch = format!(
            r##"<rect width="14" height="10" fill="#bbbbbb"/><rect width="14" height="10" fill="url(#smo-hatch)" stroke="{FAILED_STROKE}" stroke-width="1.5"/>"##
        );
        item(&mut legend, failed_swatch, "failed");
        let open_swatch = r##"<rect width="14" height="10" fill="#bbbbbb" fill-opacity="0.45" stroke="#555" stroke-dasharray="2 1.5"/>"##;
        item(&mut legend, open_swatch.into(), "open (no end recorded)");
        y += 18.0;
    }

    let plot_top = y + 14.0;
    let row_h = if drawn.is_empty() { 0.0 } else { (TARGET_PLOT_H / drawn.len() as f64).clamp(MIN_ROW_H, MAX_ROW_H) };
    let plot_h = row_h * drawn.len() as f64;
    let plot_bottom = plot_top + plot_h;
    let height = if spans.is_empty() { 80.0 } else { plot_bottom + 52.0 };

    if !spans.is_empty() {
        // Stripes and labels. Labels need ~13 px; on thinner rows only every k-th is labelled.
        let label_every = (13.0 / row_h).ceil().max(1.0) as usize;
        for (at, &row) in drawn.iter().enumerate() {
            let ry = plot_top + at as f64 * row_h;
            if row_h >= 6.0 && at % 2 == 0 {
                let _ = write!(
                    body,
                    r##"<rect x="{left:.1}" y="{ry:.1}" width="{plot_w:.1}" height="{row_h:.1}" fill="#f4f4f4"/>"##
                );
            }
            if at % label_every == 0 {
                let _ = write!(
                    body,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-family="monospace" font-size="11">{}</text>"#,
                    left - 8.0,
                    ry + row_h / 2.0 + 4.0,
                    esc(&truncate(rows[row], MAX_LABEL_CHARS))
                );
            }
        }

        // Grid and axis.
        let ticks = ticks(lo, hi);
        let decimals = ticks.get(1).zip(ticks.first()).map_or(0, |(b, a)| decimals_for(b - a));
        for t in &ticks {
            let x = sx(t0 + t);
            let _ = write!(
                body,
                r##"<line x1="{x:.1}" y1="{plot_top:.1}" x2="{x:.1}" y2="{:.1}" stroke="#dddddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{:.*}</text>"##,
                plot_bottom + 4.0,
                plot_bottom + 17.0,
                decimals,
                t
            );
        }
        let axis_label =
            if wf_start.is_some() { "seconds since workflow start" } else { "seconds since the first job" };
        let _ = write!(
            body,
            r##"<line x1="{left:.1}" y1="{plot_bottom:.1}" x2="{:.1}" y2="{plot_bottom:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{axis_label}</text>"##,
            left + plot_w,
            left + plot_w / 2.0,
            plot_bottom + 36.0
        );

        // Bars.
        let bar_h = (row_h * 0.72).max(1.0);
        let stroke_w = (row_h * 0.12).clamp(0.5, 1.5);
        for s in &spans {
            let Some(at) = row_of.get(s.jobid.as_str()).and_then(|&r| drawn_at[r]) else { continue };
            if bars == MAX_BARS {
                bars_capped = true;
                break;
            }
            bars += 1;
            let fill = colour(step_of.get(s.step.as_str()).copied().unwrap_or(0));
            let end = end_of(s);
            let x = sx(s.start);
            let w = (sx(end) - x).max(1.0);
            let by = plot_top + at as f64 * row_h + (row_h - bar_h) / 2.0;
            let state = match s.outcome {
                SpanEnd::Succeeded => "succeeded",
                SpanEnd::Failed => "failed",
                SpanEnd::Open => "open",
            };
            let tip = format!(
                "{} {} {} s {state}",
                truncate(&s.jobid, 64),
                truncate(&s.step, MAX_STEP_CHARS),
                num(end - s.start)
            );
            let geometry = format!(r#"x="{x:.1}" y="{by:.1}" width="{w:.1}" height="{bar_h:.1}""#);
            let _ = match s.outcome {
                SpanEnd::Succeeded => {
                    write!(body, r#"<rect {geometry} fill="{fill}"><title>{}</title></rect>"#, esc(&tip))
                }
                SpanEnd::Failed => write!(
                    body,
                    r#"<g><title>{}</title><rect {geometry} fill="{fill}"/><rect {geometry} fill="url(#smo-hatch)" stroke="{FAILED_STROKE}" stroke-width="{stroke_w:.1}"/></g>"#,
                    esc(&tip)
                ),
                SpanEnd::Open => write!(
                    body,
                    r#"<rect {geometry} fill="{fill}" fill-opacity="0.45" stroke="{fill}" stroke-width="{stroke_w:.1}" stroke-dasharray="3 2"><title>{}</title></rect>"#,
                    esc(&tip)
                ),
            };
        }

        if let Some(c) = wf_complete.filter(finite) {
            let x = sx(c);
            let (anchor, tx) = if x > left + plot_w * 0.8 { ("end", x - 4.0) } else { ("start", x + 4.0) };
            let _ = write!(
                body,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{plot_bottom:.1}" stroke="#222" stroke-width="1.5" stroke-dasharray="5 3"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#222">workflow complete ({} s)</text>"##,
                plot_top - 10.0,
                plot_top - 3.0,
                num(c - t0)
            );
        }
    }
    if bars_capped {
        let _ = write!(subtitle, "; first {MAX_BARS} jobs drawn");
    }

    svg.open(WIDTH, height);
    let _ = write!(
        svg.0,
        r##"<text x="16" y="26" font-size="16" font-weight="bold">{}</text><text x="16" y="46" fill="#555">{}</text>"##,
        esc(&truncate(title, 120)),
        esc(&subtitle)
    );
    svg.0.push_str(&legend);
    svg.0.push_str(&body);
    svg.0.push_str("</svg>\n");
    svg.0
}

/// The SVG being written.
#[derive(Default)]
struct Svg(String);

impl Svg {
    /// The root element, the white background and the hatch pattern of failed jobs.
    fn open(&mut self, width: f64, height: f64) {
        let _ = write!(
            self.0,
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "\n",
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="12">"#,
                r##"<defs><pattern id="smo-hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="2.5" stroke-opacity="0.55"/></pattern></defs>"##,
                r#"<rect width="100%" height="100%" fill="white"/>"#
            ),
            w = width,
            h = height
        );
    }
}

/// The colour of the `i`-th step (the palette repeats beyond its seven colours).
pub(crate) fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Text safe in XML content and attribute values: markup characters become entities, and
/// characters XML 1.0 forbids (most control characters) become U+FFFD, so any job id keeps the
/// document well-formed.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to `max` characters, ending in `…` if cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// User text for a plain-text table: control characters (a newline in a step name) would break
/// the alignment, so they are shown escaped.
fn plain(text: &str) -> String {
    if text.chars().any(char::is_control) { text.escape_debug().to_string() } else { text.to_string() }
}

/// Seconds with three decimals at most and one at least (`20.0`, `0.125`, `12.35`), `-` for none.
fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), num)
}

/// A number as [`secs`] shows it.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() < 0.0005 {
        return "0.0".into();
    }
    let s = format!("{v:.3}");
    let t = s.trim_end_matches('0');
    if t.ends_with('.') { format!("{t}0") } else { t.to_string() }
}

/// An aligned table of numbers ([`crate::table::Align::Numbers`]).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    crate::table::table(header, rows, crate::table::Align::Numbers)
}

/// Axis ticks covering `[lo, hi]`: multiples of 1, 2 or 5 × 10^k, about eight of them.
pub(crate) fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let range = hi - lo;
    if !range.is_finite() || range <= 0.0 {
        return vec![lo];
    }
    let raw = range / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = [(1.5, 1.0), (3.0, 2.0), (7.0, 5.0)].iter().find(|(below, _)| norm < *below).map_or(10.0, |(_, m)| *m);
    let step = mag * nice;
    // The epsilon keeps a bound that is a multiple of the step (0.8 / 0.1 = 7.999…) a tick.
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // 20 is a safety bound; the step above gives at most about 13.
    (first..=last).take(20).map(|k| k as f64 * step).collect()
}

/// Decimals needed to tell ticks `step` apart.
fn decimals_for(step: f64) -> usize {
    if step >= 1.0 || !step.is_finite() || step <= 0.0 { 0 } else { (-step.log10().floor()) as usize }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smo_core::ledger::{RuleTally, StepCounts};
    use smo_core::rulebook::Firing;
    use smo_core::rules::{Action, Condition, MetricRef, Op};
    use smo_core::workflow::documents::from_manifest_text;

    /// A workflow named `state-machine` with steps `job_a` and `job_b`.
    fn two_steps() -> Workflow {
        let text = "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata: {name: state-machine}\nspec:\n  workflow: {completed: 4}\n  cluster: {maxSize: 6}\n  jobs:\n  - {name: job_a, image: x, script: echo}\n  - {name: job_b, image: x, script: echo}\n";
        from_manifest_text(text, "m.yaml").unwrap_or_else(|p| panic!("{p}")).0
    }

    /// 4 sequences × 3 steps (`job_a`, `job_b`, `job_c`), starting at epoch 1000: the third
    /// sequence fails at `job_b`, the fourth is still running `job_c` at the end.
    fn fixture() -> Times {
        let mut t = Times::default();
        t.mark("workflow_start".into(), 1000.0);
        let mut job = |id: &str, step: &str, start: f64, end: Option<(f64, &str)>| {
            t.mark(format!("{id}_{step}_start"), start);
            if let Some((e, how)) = end {
                t.mark(format!("{id}_{step}_{how}"), e);
            }
        };
        for (n, base) in [(1, 1.0), (2, 2.5), (3, 4.0), (4, 30.0)] {
            let id = format!("job_00000000{n}");
            let b = 1000.0 + base;
            job(&id, "job_a", b, Some((b + 20.0, "succeeded")));
            match n {
                3 => job(&id, "job_b", b + 21.0, Some((b + 26.5, "failed"))),
                4 => {
                    job(&id, "job_b", b + 21.0, Some((b + 40.0, "succeeded")));
                    job(&id, "job_c", b + 41.0, None);
                }
                _ => {
                    job(&id, "job_b", b + 21.0, Some((b + 40.0 + n as f64, "succeeded")));
                    job(&id, "job_c", b + 42.0 + n as f64, Some((b + 60.0, "succeeded")));
                }
            }
        }
        t.mark("workflow_complete".into(), 1085.0);
        t
    }

    /// A minimal XML well-formedness check: balanced tags, one root, quoted attributes, and
    /// only the five predefined or numeric entities; returns the number of elements.
    fn check_xml(doc: &str) -> Result<usize, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut elements = 0;
        let mut roots = 0;
        let mut rest = doc;
        let check_text = |text: &str| -> Result<(), String> {
            let mut parts = text.split('&');
            parts.next();
            for p in parts {
                let ok = ["amp;", "lt;", "gt;", "quot;", "apos;"].iter().any(|e| p.starts_with(e))
                    || (p.starts_with('#') && p[1..].find(';').is_some_and(|i| i > 0));
                if !ok {
                    return Err(format!("bad entity in {text:?}"));
                }
            }
            if text.contains('>') {
                return Err(format!("raw > in {text:?}"));
            }
            Ok(())
        };
        while let Some(i) = rest.find('<') {
            let text = &rest[..i];
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            check_text(text)?;
            rest = &rest[i..];
            if let Some(r) = rest.strip_prefix("<?") {
                let end = r.find("?>").ok_or("unterminated <?")?;
                rest = &r[end + 2..];
                continue;
            }
            if let Some(r) = rest.strip_prefix("<!--") {
                let end = r.find("-->").ok_or("unterminated comment")?;
                rest = &r[end + 3..];
                continue;
            }
            // A tag ends at the first `>` outside quotes.
            let mut quote = None;
            let mut end = None;
            for (j, c) in rest.char_indices().skip(1) {
                match (quote, c) {
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), '<') => return Err("raw < in an attribute".into()),
                    (None, '<') => return Err("< inside a tag".into()),
                    (None, '>') => {
                        end = Some(j);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated tag")?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or_else(|| format!("</{name}> closes nothing"))?;
                if open != name.trim() {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let inner = tag.trim_end_matches('/');
            let name = inner.split_whitespace().next().ok_or("empty tag")?.to_string();
            // Attributes: name="value" pairs, each value quoted.
            let mut attrs = inner[name.len()..].trim();
            while !attrs.is_empty() {
                let eq = attrs.find('=').ok_or_else(|| format!("attribute without value in <{tag}>"))?;
                let q = attrs[eq + 1..].chars().next().ok_or("attribute without value")?;
                if q != '"' && q != '\'' {
                    return Err(format!("unquoted attribute in <{tag}>"));
                }
                let vstart = eq + 2;
                let vlen = attrs[vstart..].find(q).ok_or("unterminated attribute")?;
                check_text(&attrs[vstart..vstart + vlen])?;
                attrs = attrs[vstart + vlen + 1..].trim_start();
            }
            if stack.is_empty() {
                roots += 1;
            }
            elements += 1;
            if !self_closing {
                stack.push(name);
            }
        }
        if !rest.trim().is_empty() {
            return Err(format!("trailing text {rest:?}"));
        }
        if !stack.is_empty() {
            return Err(format!("unclosed {stack:?}"));
        }
        if roots != 1 {
            return Err(format!("{roots} root elements"));
        }
        Ok(elements)
    }

    #[test]
    fn report_xml_checker_rejects_broken_documents() {
        assert!(check_xml("<a><b/></a>").is_ok());
        for bad in ["<a><b></a>", "<a>", "<a/><b/>", "<a x=1/>", "<a>&foo;</a>", "<a>x < y</a>", "<a x=\"<\"/>"] {
            assert!(check_xml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn report_timeline_is_well_formed_with_a_row_per_sequence_and_a_bar_per_job() {
        let svg = timeline_svg(&fixture(), "chain run");
        check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert!(svg.starts_with("<?xml"));
        assert_eq!(svg.matches("<title>").count(), 11, "one tooltip per job");
        // Rows in order of first start, each labelled.
        let pos: Vec<usize> =
            (1..=4).map(|n| svg.find(&format!(">job_00000000{n}</text>")).expect("row label")).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
        // Tooltips: id, step with its underscore, duration, outcome.
        assert!(svg.contains("<title>job_000000001 job_a 20.0 s succeeded</title>"), "{svg}");
        assert!(svg.contains("<title>job_000000003 job_b 5.5 s failed</title>"));
        // The open job runs to workflow_complete: 1085 − 1071.
        assert!(svg.contains("<title>job_000000004 job_c 14.0 s open</title>"));
        // Legend names every step once, and marks failures and open jobs.
        for name in ["job_a", "job_b", "job_c", "failed", "open (no end recorded)"] {
            assert_eq!(svg.matches(&format!(">{name}</text>")).count(), 1, "{name}");
        }
        // Failed bars are hatched and outlined in red; exactly one here.
        assert_eq!(svg.matches(r##"fill="url(#smo-hatch)" stroke="#C00000""##).count(), 2, "legend + 1 bar");
        assert!(svg.contains("workflow complete (85.0 s)"));
        assert!(svg.contains("seconds since workflow start"));
        assert!(svg.contains("4 sequences, 11 jobs (1 failed, 1 open) over 85.0 s;"), "{svg}");
        // Deterministic.
        assert_eq!(svg, timeline_svg(&fixture(), "chain run"));
    }

    #[test]
    fn report_timeline_axis_has_round_ticks() {
        let svg = timeline_svg(&fixture(), "t");
        for label in [">0</text>", ">10</text>", ">80</text>"] {
            assert!(svg.contains(label), "{label}");
        }
        assert_eq!(ticks(0.0, 85.0), (0..=8).map(|k| k as f64 * 10.0).collect::<Vec<_>>());
        assert_eq!(ticks(0.0, 0.8).len(), 9);
        assert_eq!(decimals_for(0.1), 1);
        assert_eq!(ticks(-3.0, 7.0).first(), Some(&-3.0));
        assert_eq!(ticks(0.0, 1000.0), (0..=10).map(|k| k as f64 * 100.0).collect::<Vec<_>>());
    }

    #[test]
    fn report_timeline_escapes_user_text() {
        let mut t = Times::default();
        t.mark("workflow_start".into(), 0.0);
        t.mark("a<&\"'b_000000001_st<e>p&\"x_start".into(), 1.0);
        t.mark("a<&\"'b_000000001_st<e>p&\"x_failed".into(), 2.0);
        t.mark("ctl\u{1}_000000002_s_start".into(), 1.0);
        let svg = timeline_svg(&t, "title <&\">");
        check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert!(svg.contains("title &lt;&amp;&quot;&gt;"));
        assert!(svg.contains("a&lt;&amp;&quot;&apos;b_000000001 st&lt;e&gt;p&amp;&quot;x 1.0 s failed"));
        assert!(svg.contains("ctl\u{FFFD}_000000002"));
        assert!(!svg.contains('\u{1}'));
    }

    #[test]
    fn report_timeline_of_an_empty_file_says_so() {
        let svg = timeline_svg(&Times::default(), "empty");
        check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert!(svg.contains("no job spans in this file"));
    }

    #[test]
    fn report_timeline_without_workflow_bounds_uses_the_first_job_and_the_last_timestamp() {
        let mut t = Times::default();
        t.mark("job_000000001_a_start".into(), 500.0);
        t.mark("job_000000001_a_succeeded".into(), 510.0);
        t.mark("job_000000002_a_start".into(), 505.0);
        let svg = timeline_svg(&t, "x");
        check_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert!(svg.contains("seconds since the first job"));
        assert!(svg.contains("<title>job_000000002 a 5.0 s open</title>"));
        assert!(!svg.contains("workflow complete"));
    }

    #[test]
    fn report_timeline_of_30000_jobs_stays_bounded_and_well_formed() {
        let mut t = Times::default();
        t.mark("workflow_start".into(), 0.0);
        for n in 0..10_000u32 {
            let base = f64::from(n) * 0.5;
            for (i, s) in ["job_a", "job_b", "job_c"].iter().enumerate() {
                let start = base + i as f64 * 20.0;
                let end = if n % 97 == 0 && i == 1 { "failed" } else { "succeeded" };
                t.mark(format!("job_{n:09}_{s}_start"), start);
                t.mark(format!("job_{n:09}_{s}_{end}"), start + 19.0);
            }
        }
        t.mark("workflow_complete".into(), 5100.0);
        let svg = timeline_svg(&t, "big");
        assert!(svg.len() < 1_000_000, "{} bytes", svg.len());
        let elements = check_xml(&svg).unwrap_or_else(|e| panic!("{e}"));
        assert!(elements < 10_000, "{elements} elements");
        assert!(svg.contains(&format!("{MAX_ROWS} of 10000 rows drawn")), "subtitle says what was drawn");
        assert_eq!(svg.matches("<title>").count(), MAX_ROWS * 3);
        // The sample spans the whole run: the first and the last sequence are both drawn.
        assert!(svg.contains("job_000000000 job_a"));
        assert!(svg.contains("job_000009975 job_a"));
    }

    #[test]
    fn report_timeline_caps_bars_of_a_file_with_many_steps_per_sequence() {
        let mut t = Times::default();
        for i in 0..(MAX_BARS + 50) {
            t.mark(format!("job_000000001_s{i}_start"), i as f64);
            t.mark(format!("job_000000001_s{i}_succeeded"), i as f64 + 1.0);
        }
        let svg = timeline_svg(&t, "many steps");
        check_xml(&svg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(svg.matches("<title>").count(), MAX_BARS);
        assert!(svg.contains(&format!("first {MAX_BARS} jobs drawn")));
        assert!(svg.contains("more steps"));
    }

    #[test]
    fn report_step_durations_per_step_in_first_appearance_order() {
        let rows = step_durations(&fixture());
        let names: Vec<&str> = rows.iter().map(|r| r.step.as_str()).collect();
        assert_eq!(names, ["job_a", "job_b", "job_c"]);
        let a = &rows[0];
        assert_eq!((a.runs, a.succeeded, a.failed), (4, 4, 0));
        assert_eq!((a.min, a.median, a.max), (Some(20.0), Some(20.0), Some(20.0)));
        let b = &rows[1];
        assert_eq!((b.runs, b.succeeded, b.failed), (4, 3, 1));
        // Durations 20, 21, 5.5, 19 → sorted 5.5 19 20 21.
        assert_eq!((b.min, b.median, b.max), (Some(5.5), Some(19.5), Some(21.0)));
        let p95 = b.p95.expect("p95");
        assert!((p95 - 20.85).abs() < 1e-9, "{p95}");
        // job_c: two ended (17, 16), one open (not a duration).
        let c = &rows[2];
        assert_eq!((c.runs, c.succeeded, c.failed), (3, 2, 0));
        assert_eq!((c.min, c.max), (Some(16.0), Some(17.0)));
        assert!(step_durations(&Times::default()).is_empty());
    }

    #[test]
    fn report_durations_table_is_aligned() {
        let mut rows = step_durations(&fixture());
        rows.push(StepDurations {
            step: "never_ended".into(),
            runs: 1,
            succeeded: 0,
            failed: 0,
            min: None,
            median: None,
            p95: None,
            max: None,
        });
        let text = durations_table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("step         runs  succeeded  failed"), "{text}");
        // Right-aligned numbers: every line ends at the same column, with no trailing spaces.
        let width = lines[0].len();
        assert!(lines.iter().all(|l| l.len() == width && !l.ends_with(' ')), "{text}");
        assert!(lines[2].starts_with("job_b  "));
        assert!(
            lines[2].contains("  5.5  ") && lines[2].contains("  19.5  ") && lines[2].ends_with("  21.0"),
            "{text}"
        );
        assert!(lines[2].contains("20.85"), "{text}");
        let never: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(never, ["never_ended", "1", "0", "0", "-", "-", "-", "-"]);
        assert_eq!(durations_table(&[]), "no jobs recorded\n");
    }

    #[test]
    fn report_numbers_show_one_to_three_decimals() {
        let cases = [(20.0, "20.0"), (0.125, "0.125"), (12.35, "12.35"), (1.23456, "1.235"), (-0.0001, "0.0")];
        for (v, want) in cases {
            assert_eq!(num(v), want);
        }
        assert_eq!(secs(None), "-");
        assert_eq!(num(f64::NAN), "-");
    }

    fn report_fixture(firings: Vec<Firing>) -> (RunReport, Workflow) {
        let wf = two_steps();
        let mut stats = Stats::new();
        for d in [20.0, 22.0, 40.0] {
            stats.record("job_a", "duration", d);
        }
        let report = RunReport {
            outcome: RunOutcome::Succeeded { reason: "4 of 4 sequences completed".into() },
            completed: 4,
            failed: 1,
            started: 5,
            steps: vec![
                StepCounts { runs: 5, succeeded: 4, failed: 1 },
                StepCounts { runs: 4, succeeded: 4, failed: 0 },
            ],
            nodes: vec![3, 1],
            stats,
            rules: vec![RuleTally { fired: firings.len() as u32, last: firings.last().cloned() }],
            recent_firings: firings,
        };
        (report, wf)
    }

    fn grow(value: f64, from: u32) -> Firing {
        Firing {
            rule: 0,
            metric: MetricRef::parse("mean.job_a.duration").expect("metric"),
            action: Action::Grow,
            condition: Condition::Compare(Op::Ge, 30.0),
            value,
            effect: RuleEffect::Resize { step: "job_a".into(), from, to: from + 1 },
        }
    }

    #[test]
    fn report_run_summary_has_outcome_counts_steps_and_firings() {
        let (report, wf) = report_fixture(vec![grow(31.5, 1), grow(33.0, 2)]);
        let text = run_summary(&report, &wf);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "workflow state-machine succeeded: 4 of 4 sequences completed", "{text}");
        assert_eq!(lines[1], "sequences: 4 completed, 1 failed, 5 started (of 4 needed)");
        let header = lines.iter().position(|l| l.starts_with("step ")).expect("step table");
        assert!(lines[header].ends_with("max (s)  nodes"), "{text}");
        let a = lines[header + 1];
        // runs succeeded failed, min median p95 max (20 22 40: p95 = 38.2), nodes at the end.
        let cells: Vec<&str> = a.split_whitespace().collect();
        assert_eq!(cells, ["job_a", "5", "4", "1", "20.0", "22.0", "38.2", "40.0", "3"], "{text}");
        let b: Vec<&str> = lines[header + 2].split_whitespace().collect();
        assert_eq!(b, ["job_b", "4", "4", "0", "-", "-", "-", "-", "1"]);
        assert_eq!(lines[header].len(), a.len(), "aligned");
        assert!(text.contains("rule firings (2):"), "{text}");
        let rule = lines.iter().find(|l| l.starts_with("#1")).expect("rule line");
        assert!(rule.contains("grow") && rule.contains("mean.job_a.duration >= 30"), "{rule}");
        assert!(rule.contains("  2  ") && rule.ends_with("33.0, nodes 2 => 3"), "{rule}");
        assert!(!text.contains("no rule fired"));
    }

    #[test]
    fn report_run_summary_without_firings_and_interrupted() {
        let (mut report, wf) = report_fixture(Vec::new());
        report.outcome = RunOutcome::Interrupted { reason: "Ctrl-C".into(), exit_code: 130 };
        let text = run_summary(&report, &wf);
        assert!(text.starts_with("workflow state-machine interrupted: Ctrl-C (exit code 130)\n"), "{text}");
        assert!(text.ends_with("no rule fired\n"), "{text}");
        report.outcome = RunOutcome::Failed { reason: "20 sequences failed".into() };
        assert!(run_summary(&report, &wf).starts_with("workflow state-machine failed: 20 sequences failed\n"));
    }
}
