//! What the user sees while a workflow runs: a progress bar on a terminal, plain log lines
//! otherwise.

use std::io::IsTerminal;

use actix::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smo_actors::messages::Progress;

use crate::cli::{Cli, Command};

/// The progress bar for `smo run` when stderr is a terminal (and `--no-progress` is not given).
pub fn progress_bar(cli: &Cli) -> Option<ProgressBar> {
    let Command::Run(args) = &cli.command else { return None };
    if args.no_progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} completed  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    Some(bar)
}

/// Shows [`Progress`] messages: updates the bar, or logs a line when a count changes. The
/// owner of the bar clears it when the run is over.
pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
    last: Progress,
}

impl ProgressDisplay {
    /// A display drawing on `bar`, or logging when there is none.
    pub fn new(bar: Option<ProgressBar>) -> ProgressDisplay {
        ProgressDisplay { bar, last: Progress::default() }
    }
}

impl Actor for ProgressDisplay {
    type Context = Context<Self>;
}

impl Handler<Progress> for ProgressDisplay {
    type Result = ();

    fn handle(&mut self, Progress(p): Progress, _: &mut Self::Context) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(u64::from(p.wanted));
                bar.set_position(u64::from(p.completed));
                bar.set_message(format!("{} active, {} failed, {} jobs running", p.active, p.failed, p.jobs_running));
            }
            None if p.completed != self.last.0.completed || p.failed != self.last.0.failed => tracing::info!(
                completed = p.completed,
                wanted = p.wanted,
                active = p.active,
                failed = p.failed,
                jobs_running = p.jobs_running,
                "progress"
            ),
            None => {}
        }
        self.last = Progress(p);
    }
}
