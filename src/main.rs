//! The `smo` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Steps run in their own process groups; a panic must not leave them running.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        smo_actors::executor::local::kill_all();
        default_hook(info);
    }));
    let cli = smo::cli::Cli::parse();
    let bar = smo::ui::progress_bar(&cli);
    smo::telemetry::init(cli.log_format, bar.clone());
    smo::run(cli, bar)
}
