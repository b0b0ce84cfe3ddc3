//! `smo validate FILE...`: every problem of every file, one per line, then a verdict.

use std::process::ExitCode;

use smo_actors::source;
use smo_core::validate::Severity;

use crate::cli::ValidateArgs;

/// Validates each file; exit 0 if none has an error (or a warning, with `--strict`).
pub fn run(args: &ValidateArgs) -> ExitCode {
    let mut errors = 0usize;
    let mut warnings = 0usize;
    let mut bad_files = 0usize;
    for path in &args.files {
        let problems = source::validate(path, args.config_dir.as_deref());
        let mut file_bad = false;
        for p in &problems.0 {
            println!("{p}");
            match p.severity {
                Severity::Error => {
                    errors += 1;
                    file_bad = true;
                }
                Severity::Warning => {
                    warnings += 1;
                    file_bad |= args.strict;
                }
            }
        }
        bad_files += usize::from(file_bad);
    }
    // The verdict goes to stderr; flush the problems first so the two never interleave.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let files = args.files.len();
    let failing = errors > 0 || (args.strict && warnings > 0);
    if failing {
        eprintln!("smo validate: {bad_files} of {files} file(s) invalid: {errors} error(s), {warnings} warning(s)");
        ExitCode::FAILURE
    } else {
        eprintln!("smo validate: {files} file(s) valid ({warnings} warning(s))");
        ExitCode::SUCCESS
    }
}
