//! Engine throughput: the real Manager, StateMachine and JobWatcher actors with an executor
//! whose jobs finish at once, so only the engine is measured.
//!
//! `cargo bench -p smo-actors --bench throughput` runs, each in its own process:
//!
//! * 1,000,000 sequences × 3 steps with `maxSize: 1000` (1,000 sequences active at once): step
//!   transitions per second and peak RSS — a run's memory must not grow with the sequences it
//!   has finished (ids, timestamps, samples and firings are all bounded);
//! * 10,000 sequences with 1,000 and with 100 active: the difference of their peak RSS divided by
//!   900 is the memory per active sequence.
//!
//! Run as a test (`cargo test --all-targets`) it does one small run as a smoke test.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use smo_actors::executor::memory::MemoryExecutor;
use smo_actors::job_watcher::JobWatcher;
use smo_actors::manager::{Manager, ManagerConfig};
use smo_core::workflow::documents::from_manifest_text;

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs one measurement in a child process (so that its peak RSS is its own) and returns what
/// it printed and its peak RSS in KiB.
fn child(sequences: u32, max_size: u32) -> (String, u64) {
    let out = std::process::Command::new(std::env::current_exe().expect("this benchmark"))
        .env("SMO_BENCH_RUN", format!("{sequences},{max_size}"))
        .output()
        .expect("run a measurement");
    assert!(out.status.success(), "measurement failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let peak: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("peak_kib="))
        .and_then(|v| v.trim().parse().ok())
        .expect("the measurement prints its peak");
    (text, peak)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if let Ok(run) = std::env::var("SMO_BENCH_RUN") {
        let parsed: Vec<u32> =
            run.split(',').map(|n| n.parse().expect("SMO_BENCH_RUN is `sequences,max_size`")).collect();
        measure(parsed[0], parsed[1]);
    } else if bench {
        let (text, _) = child(1_000_000, 1_000);
        print!("{text}");
        let (hi_text, hi_peak) = child(10_000, 1_000);
        let (lo_text, lo_peak) = child(10_000, 100);
        print!("{hi_text}{lo_text}");
        let per = (hi_peak.saturating_sub(lo_peak)) as f64 * 1024.0 / 900.0;
        println!(
            "memory per active sequence: ({hi_peak} KiB - {lo_peak} KiB) / (1000 - 100 active) = {per:.0} bytes = {:.2} KiB",
            per / 1024.0
        );
    } else {
        measure(200, 50);
    }
}

fn measure(sequences: u32, max_size: u32) {
    let manifest = format!(
        "apiVersion: state-machine.converged-computing.org/v1alpha1
kind: StateMachine
metadata: {{name: bench}}
spec:
  workflow: {{completed: {sequences}, prefix: bench_}}
  cluster: {{maxSize: {max_size}}}
  jobs:
  - {{name: a, image: x, registry: {{push: a}}, script: echo}}
  - {{name: b, image: x, registry: {{pull: a, push: b}}, script: echo}}
  - {{name: c, image: x, registry: {{pull: b}}, script: echo}}
"
    );
    let (workflow, _) = from_manifest_text(&manifest, "bench.yaml").unwrap_or_else(|p| panic!("{p}"));
    let workflow = Arc::new(workflow);
    let baseline_kib = status_kib("VmRSS:");
    let system = System::new();
    let started = Instant::now();
    let report = system.block_on(async move {
        let (done, finished) = tokio::sync::oneshot::channel();
        Manager::create(|ctx| {
            let watcher = JobWatcher::new(ctx.address().recipient()).start();
            let executor = MemoryExecutor::succeeding(watcher.clone().recipient());
            Manager::new(
                workflow,
                ManagerConfig {
                    executor: Rc::new(executor),
                    progress: None,
                    seed: 7,
                    done,
                    watcher: Some(watcher.into()),
                    journal: None,
                    restore: false,
                    carried: None,
                    reporting: None,
                },
            )
        });
        finished.await.expect("the manager reports")
    });
    let elapsed = started.elapsed();
    let peak_kib = status_kib("VmHWM:");
    let transitions: u32 = report.steps.iter().map(|s| s.succeeded + s.failed).sum();
    assert_eq!(report.completed, sequences, "{:?}", report.outcome);
    assert_eq!(transitions, sequences * 3);
    let per_second = f64::from(transitions) / elapsed.as_secs_f64();
    let growth_kib = peak_kib.saturating_sub(baseline_kib);
    println!(
        "{sequences} sequences x 3 steps, maxSize {max_size}: {transitions} step transitions in {:.3} s = {:.0} transitions/s",
        elapsed.as_secs_f64(),
        per_second
    );
    println!(
        "memory: baseline RSS {baseline_kib} KiB, peak RSS {peak_kib} KiB ({:.1} MiB), growth {growth_kib} KiB ({max_size} active)",
        peak_kib as f64 / 1024.0
    );
    println!("peak_kib={peak_kib}");
}
