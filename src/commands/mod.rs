//! One module per subcommand.

use std::io::Write;
use std::process::ExitCode;

pub mod artifact;
pub mod install;
pub mod operator;
pub mod report;
pub mod run;
pub mod run_dir;
pub mod statemachines;
pub mod step;
pub mod validate;

/// Writes `text` to stdout; a closed pipe is not an error worth a panic.
pub fn print(text: String) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smo: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
