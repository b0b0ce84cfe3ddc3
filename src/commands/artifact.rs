//! `smo artifact push|pull`: move a step's work directory as an ORAS-compatible OCI artifact.
//!
//! Step scripts call these between steps (`"$smo" artifact pull|push …`). On success one line
//! goes to stderr (`pushed <ref> (<size>, <digest>)`); on failure one line with the reason, and
//! the exit code is non-zero.

use std::process::ExitCode;

use smo_actors::artifact::{self, Reference, Store};

use crate::cli::{ArtifactAction, ArtifactPullArgs, ArtifactPushArgs, ArtifactStoreArgs};

/// Runs `smo artifact push` or `smo artifact pull`.
pub fn run(action: &ArtifactAction) -> ExitCode {
    let outcome = match action {
        ArtifactAction::Push(args) => push(args),
        ArtifactAction::Pull(args) => pull(args),
    };
    match outcome {
        Ok(line) => {
            eprintln!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("smo: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Pushes the directory; returns the success line.
fn push(args: &ArtifactPushArgs) -> smo_actors::Result<String> {
    let store = store(&args.store);
    let reference = Reference::parse(&args.reference, &store)?;
    let pushed = artifact::runtime()?.block_on(artifact::push(&store, &reference, &args.dir))?;
    Ok(format!("pushed {reference} ({}, {})", human_size(pushed.size), pushed.digest))
}

/// Pulls into the output directory; returns the success line.
fn pull(args: &ArtifactPullArgs) -> smo_actors::Result<String> {
    let store = store(&args.store);
    let reference = Reference::parse(&args.reference, &store)?;
    let pulled = artifact::runtime()?.block_on(artifact::pull(&store, &reference, &args.output))?;
    Ok(format!(
        "pulled {reference} into {} ({} {}, {}, {})",
        args.output.display(),
        pulled.entries,
        if pulled.entries == 1 { "entry" } else { "entries" },
        human_size(pulled.size),
        pulled.digest
    ))
}

/// The store the options name: a directory store with `--store`, else a registry.
fn store(args: &ArtifactStoreArgs) -> Store {
    match &args.store {
        Some(dir) => Store::Directory(dir.clone()),
        None => Store::Registry { plain_http: args.plain_http },
    }
}

/// `1.5 MiB`, `312 B`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Display only: the float's rounding does not matter.
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `text` on one line, so a multi-line cause cannot break the one-line contract.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_cli_sizes_are_human() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MiB");
    }

    #[test]
    fn artifact_cli_errors_are_one_line() {
        assert_eq!(one_line("a\n  b  c\n"), "a b  c");
    }
}
