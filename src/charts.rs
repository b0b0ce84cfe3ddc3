//! The pictures of a run besides its timeline ([`crate::report::timeline_svg`]), from the same
//! `workflow-times.json` record, and the one self-contained HTML page that holds them all
//! (`smo report` writes it beside the SVG; no script, no network):
//!
//! * the step jobs running over time — the picture the original drew of its node slots in use;
//!   every job holds its nodes while it runs, so with one-node steps it is the slots in use;
//! * per step, a histogram of its jobs' durations (ended jobs; failed ones stacked in grey).

use std::collections::HashMap;
use std::fmt::Write as _;

use smo_core::times::{SpanEnd, Times};

use crate::report::{WIDTH, colour, esc, num, ticks};

const CHART_H: f64 = 220.0;
const HIST_W: f64 = 320.0;
const HIST_H: f64 = 180.0;
/// Bins of a duration histogram.
const BINS: usize = 12;

/// The running-jobs step chart of `times` as an SVG element (no XML declaration).
pub fn running_svg(times: &Times) -> String {
    let spans = times.spans();
    let (start, complete) = times.workflow_bounds();
    let t0 = start.or_else(|| spans.iter().map(|s| s.start).reduce(f64::min)).unwrap_or(0.0);
    let last = times.timestamps.values().copied().filter(|v| v.is_finite()).fold(t0, f64::max);
    let open_end = complete.unwrap_or(last);
    // +1 at each start, -1 at each end (an open job runs to the end).
    let mut changes: Vec<(f64, i64)> = Vec::with_capacity(spans.len() * 2);
    for s in &spans {
        changes.push((s.start - t0, 1));
        changes.push((s.end.unwrap_or(open_end).max(s.start) - t0, -1));
    }
    changes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut points: Vec<(f64, i64)> = vec![(0.0, 0)];
    let mut running = 0;
    for (t, d) in changes {
        running += d;
        points.push((t, running));
    }
    let peak = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let hi = points.iter().map(|p| p.0).fold(1.0_f64, f64::max);
    let (left, right, top, bottom) = (60.0, 24.0, 34.0, 36.0);
    let (plot_w, plot_h) = (WIDTH - left - right, CHART_H - top - bottom);
    let sx = |t: f64| left + (t / hi).clamp(0.0, 1.0) * plot_w;
    let sy = |n: i64| top + plot_h - n as f64 / peak as f64 * plot_h;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0}" height="{CHART_H:.0}" viewBox="0 0 {WIDTH:.0} {CHART_H:.0}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14" font-weight="bold">Step jobs running (peak {peak})</text>"#
    );
    for tick in ticks(0.0, hi) {
        let x = sx(tick);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
            top + plot_h,
            top + plot_h + 16.0,
            num(tick)
        );
    }
    for n in [0, peak] {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{n}</text>"##,
            left - 6.0,
            sy(n) + 4.0
        );
    }
    let mut path = String::new();
    let mut previous = 0;
    for (i, (t, n)) in points.iter().enumerate() {
        let (x, y_before, y) = (sx(*t), sy(previous), sy(*n));
        if i == 0 {
            let _ = write!(path, "M{x:.1},{y:.1}");
        } else {
            let _ = write!(path, " L{x:.1},{y_before:.1} L{x:.1},{y:.1}");
        }
        previous = *n;
    }
    let _ = write!(
        out,
        r##"<path d="{path}" fill="none" stroke="{}" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#444">seconds since the workflow started</text></svg>"##,
        colour(0),
        left + plot_w / 2.0,
        CHART_H - 4.0
    );
    out
}

/// One duration histogram per step of `times` (first-appearance order), as SVG elements.
pub fn histograms_svg(times: &Times) -> Vec<String> {
    let spans = times.spans();
    let mut order: Vec<&str> = Vec::new();
    let mut by_step: HashMap<&str, Vec<(f64, bool)>> = HashMap::new();
    for s in &spans {
        let Some(end) = s.end else { continue };
        if !by_step.contains_key(s.step.as_str()) {
            order.push(&s.step);
        }
        by_step.entry(&s.step).or_default().push(((end - s.start).max(0.0), s.outcome == SpanEnd::Failed));
    }
    order
        .iter()
        .enumerate()
        .map(|(i, step)| histogram(step, by_step.get(step).map_or(&[][..], Vec::as_slice), colour(i)))
        .collect()
}

/// A histogram of `durations` (seconds, failed or not) of `step`.
fn histogram(step: &str, durations: &[(f64, bool)], fill: &str) -> String {
    let hi = durations.iter().map(|d| d.0).fold(0.0_f64, f64::max).max(1e-3);
    let width = hi / BINS as f64;
    let mut bins = [(0_usize, 0_usize); BINS];
    for (d, failed) in durations {
        let bin = ((d / width) as usize).min(BINS - 1);
        if *failed {
            bins[bin].1 += 1;
        } else {
            bins[bin].0 += 1;
        }
    }
    let tallest = bins.iter().map(|(ok, failed)| ok + failed).max().unwrap_or(0).max(1);
    let (left, top, bottom) = (36.0, 30.0, 34.0);
    let (plot_w, plot_h) = (HIST_W - left - 12.0, HIST_H - top - bottom);
    let bar_w = plot_w / BINS as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{HIST_W:.0}" height="{HIST_H:.0}" viewBox="0 0 {HIST_W:.0} {HIST_H:.0}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{left}" y="18" font-size="13" font-weight="bold">{} ({} jobs)</text>"#,
        esc(step),
        durations.len()
    );
    for (i, (ok, failed)) in bins.iter().enumerate() {
        let x = left + i as f64 * bar_w;
        let h_ok = *ok as f64 / tallest as f64 * plot_h;
        let h_failed = *failed as f64 / tallest as f64 * plot_h;
        let base = top + plot_h;
        let (from, to) = (num(i as f64 * width), num((i + 1) as f64 * width));
        if *ok > 0 {
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h_ok:.1}" fill="{fill}"><title>{from}–{to} s: {ok} succeeded</title></rect>"#,
                x + 1.0,
                base - h_ok,
                bar_w - 2.0
            );
        }
        if *failed > 0 {
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h_failed:.1}" fill="#999"><title>{from}–{to} s: {failed} failed</title></rect>"##,
                x + 1.0,
                base - h_ok - h_failed,
                bar_w - 2.0
            );
        }
    }
    let _ = write!(
        out,
        r##"<text x="{left}" y="{:.1}" fill="#444">0</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{} s</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{tallest}</text></svg>"##,
        top + plot_h + 14.0,
        left + plot_w,
        top + plot_h + 14.0,
        num(hi),
        left - 4.0,
        top + 10.0
    );
    out
}

/// One self-contained page with the timeline, the running jobs and the duration histograms of
/// `times`, titled `title`.
pub fn report_html(times: &Times, title: &str) -> String {
    let timeline = crate::report::timeline_svg(times, title);
    // Inline SVG takes no XML declaration.
    let timeline = timeline.split_once('\n').map_or(timeline.as_str(), |(_, rest)| rest);
    let histograms = histograms_svg(times).join("\n");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:16px}} section{{margin-bottom:24px}} svg{{max-width:100%;height:auto}}</style>\
         </head><body><h1>{title}</h1>\n<section><h2>Timeline</h2>\n{timeline}</section>\n\
         <section><h2>Step jobs running</h2>\n{running}\n</section>\n\
         <section><h2>Durations per step</h2>\n{histograms}\n</section>\n</body></html>\n",
        title = esc(title),
        running = running_svg(times),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times() -> Times {
        let mut t = Times::default();
        t.mark("workflow_start".into(), 100.0);
        for (i, (start, end, how)) in
            [(100.0, 110.0, "succeeded"), (101.0, 104.0, "failed"), (111.0, 130.0, "succeeded")].iter().enumerate()
        {
            t.mark(format!("job_00000000{i}_a_start"), *start);
            t.mark(format!("job_00000000{i}_a_{how}"), *end);
        }
        t.mark("job_000000009_b_start".into(), 112.0);
        t.mark("job_000000009_b_succeeded".into(), 113.0);
        t.mark("workflow_complete".into(), 130.0);
        t
    }

    #[test]
    fn the_running_chart_peaks_at_the_most_jobs_at_once() {
        let svg = running_svg(&times());
        assert!(svg.contains("Step jobs running (peak 2)"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn each_step_has_a_histogram_of_its_ended_jobs_failed_ones_apart() {
        let charts = histograms_svg(&times());
        assert_eq!(charts.len(), 2);
        assert!(charts[0].contains(">a (3 jobs)<"), "{}", charts[0]);
        assert!(charts[0].contains("1 failed"), "{}", charts[0]);
        assert!(charts[1].contains(">b (1 jobs)<"), "{}", charts[1]);
    }

    #[test]
    fn the_page_holds_every_picture_and_nothing_from_elsewhere() {
        let page = report_html(&times(), "run <1>");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg").count(), 4, "timeline, running, two histograms");
        assert!(!page.contains("<?xml"), "inline SVG has no declaration");
        assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="), "nothing fetched");
        assert!(page.contains("run &lt;1&gt;"), "the title escaped");
    }
}
