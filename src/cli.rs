//! The command line: `smo <command> [options]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run many concurrent multi-step job sequences on Kubernetes or on this machine.
#[derive(Debug, Parser)]
#[command(name = "smo", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Plain, env = "SMO_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check StateMachine manifests and workflow files offline; list every problem.
    Validate(ValidateArgs),
    /// Print the StateMachine CustomResourceDefinition (what dist/crd.yaml holds).
    Crd,
}

/// `smo validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// StateMachine manifests, workflow files (their job files are found next to them) or job files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Directory holding the job files of a workflow file (default: the workflow file's directory).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
