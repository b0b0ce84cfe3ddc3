//! `smo`, the state-machine operator: the command-line shell around the engine (`smo-core`
//! decides, `smo-actors` does).
//!
//! This crate holds no business logic. It parses the command line ([`cli`]), sets up logging
//! ([`telemetry`]), serves the operator's HTTP endpoints ([`endpoints`]) and the live page
//! ([`live`]), produces the generated install files ([`dist`]), shows progress ([`ui`]), renders
//! summaries, timelines and charts ([`report`], [`charts`], [`table`]) and dispatches each
//! subcommand ([`commands`]).

use std::process::ExitCode;

pub mod charts;
pub mod cli;
pub mod commands;
pub mod dist;
pub mod endpoints;
pub mod live;
pub mod report;
pub mod table;
pub mod telemetry;
pub mod ui;

/// Runs one parsed command line and returns the process exit code. `bar` is the progress bar
/// of `smo run` on a terminal ([`ui::progress_bar`]).
pub fn run(cli: cli::Cli, bar: Option<indicatif::ProgressBar>) -> ExitCode {
    match cli.command {
        cli::Command::Run(args) => commands::run::run(&args, bar),
        cli::Command::Validate(args) => commands::validate::run(&args),
        cli::Command::Crd => commands::print(dist::crd_yaml()),
        cli::Command::Manifests { service_monitor: true, .. } => commands::print(dist::service_monitor_yaml()),
        cli::Command::Manifests { image, registry_image, namespaces, .. } => {
            commands::print(dist::install_yaml(&dist::Install { image, registry_image, namespaces }))
        }
        cli::Command::Operator(args) => commands::operator::run(&args),
        cli::Command::Install { dir } => commands::install::run(&dir),
        cli::Command::LogTee { file } => commands::step::log_tee(&file),
        cli::Command::StepMetrics { config, log, output } => commands::step::step_metrics(&config, &log, &output),
        cli::Command::Artifact { action } => commands::artifact::run(&action),
        cli::Command::Report(args) => commands::report::run(&args),
        cli::Command::Get(args) => commands::statemachines::get(&args),
        cli::Command::Describe(args) => commands::statemachines::describe(&args),
        cli::Command::Logs(args) => commands::statemachines::logs(&args),
        cli::Command::Timeline(args) => commands::statemachines::timeline(&args),
        cli::Command::Suspend(args) => commands::statemachines::suspend(&args, true),
        cli::Command::Resume(args) => commands::statemachines::suspend(&args, false),
        cli::Command::Stop(args) => commands::statemachines::stop(&args),
    }
}
