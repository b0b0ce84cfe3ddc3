//! The `smo` binary: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = smo::cli::Cli::parse();
    let bar = smo::ui::progress_bar(&cli);
    smo::telemetry::init(cli.log_format, bar.clone());
    smo::run(cli, bar)
}
