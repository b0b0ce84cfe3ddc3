//! `smo`, the state-machine operator: the command-line shell around the `smo-actors` engine.
//!
//! This crate holds no business logic. It parses the command line ([`cli`]), sets up logging
//! ([`telemetry`]), produces the generated install files ([`dist`]) and dispatches each
//! subcommand ([`commands`]) to the engine.

use std::process::ExitCode;

pub mod cli;
pub mod commands;
pub mod dist;
pub mod telemetry;

/// Runs one parsed command line and returns the process exit code.
pub fn run(cli: cli::Cli) -> ExitCode {
    match cli.command {
        cli::Command::Validate(args) => commands::validate::run(&args),
        cli::Command::Crd => commands::print(dist::crd_yaml()),
    }
}
