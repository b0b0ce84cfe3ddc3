//! `smo artifact push|pull`: move a step's work directory as an ORAS-compatible OCI artifact.
//!
//! Step scripts call these between steps (`"$smo" artifact pull|push …`). On success one line
//! goes to stderr (`pushed <ref> (<size>, <digest>)`); on failure one line with the reason, and
//! the exit code is non-zero.

use std::process::ExitCode;

use smo_actors::artifact::{self, Credentials, Reference, Store};

use crate::cli::{ArtifactAction, ArtifactPullArgs, ArtifactPushArgs, ArtifactStoreArgs};

/// A public root certificate (ISRG Root X1), for containers without any CA bundle: the HTTP
/// client refuses to start without one, even for a plain-HTTP registry.
const FALLBACK_ROOT: &str = include_str!("ca-root.pem");

/// Set in the environment of the re-executed `smo` (see [`with_a_ca_bundle`]).
const REEXEC_MARK: &str = "SMO_ARTIFACT_CA_FALLBACK";

/// Runs `smo artifact push` or `smo artifact pull`.
pub fn run(action: &ArtifactAction) -> ExitCode {
    if let Some(code) = with_a_ca_bundle() {
        return code;
    }
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
    let store = store(&args.store, "push", &args.reference)?;
    let reference = Reference::parse(&args.reference, &store)?;
    let pushed = artifact::runtime()?.block_on(artifact::push(&store, &reference, &args.dir))?;
    Ok(format!("pushed {reference} ({}, {})", human_size(pushed.size), pushed.digest))
}

/// Pulls into the output directory; returns the success line.
fn pull(args: &ArtifactPullArgs) -> smo_actors::Result<String> {
    let store = store(&args.store, "pull", &args.reference)?;
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

/// The store the options name: a directory store with `--store`, else a registry (with the
/// credentials given, which must come as a pair).
fn store(args: &ArtifactStoreArgs, action: &'static str, reference: &str) -> smo_actors::Result<Store> {
    if let Some(dir) = &args.store {
        return Ok(Store::Directory(dir.clone()));
    }
    let credentials = match (&args.username, &args.password) {
        (Some(username), Some(password)) => {
            Some(Credentials { username: username.clone(), password: password.clone() })
        }
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(smo_actors::Error::Artifact {
                action,
                reference: reference.to_string(),
                reason: "a registry user name needs its password and a password its user name: give both --username \
                         and --password (or SMO_REGISTRY_USERNAME and SMO_REGISTRY_PASSWORD), or neither"
                    .into(),
            });
        }
    };
    Ok(Store::Registry { plain_http: args.plain_http, retries: args.retries, credentials })
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

/// Whether a file exists and is not empty.
fn nonempty(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Whether the HTTP client will find CA certificates: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set
/// (they replace the system's), else the usual bundle locations.
fn ca_bundle_present() -> bool {
    let file = std::env::var_os("SSL_CERT_FILE");
    let dir = std::env::var_os("SSL_CERT_DIR");
    if file.is_some() || dir.is_some() {
        let file_ok = file.is_some_and(|f| nonempty(std::path::Path::new(&f)));
        let dir_ok = dir.is_some_and(|d| std::fs::read_dir(&d).is_ok_and(|mut entries| entries.next().is_some()));
        return file_ok || dir_ok;
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
        "/etc/ssl/ca-bundle.pem",
    ]
    .iter()
    .any(|p| nonempty(std::path::Path::new(p)))
}

/// In an image without CA certificates (a job image `smo` was copied into), runs this same
/// command again with `SSL_CERT_FILE` naming a bundle written from [`FALLBACK_ROOT`], and
/// returns its exit code; None when the system has a bundle (or this is the re-run).
fn with_a_ca_bundle() -> Option<ExitCode> {
    if ca_bundle_present() || std::env::var_os(REEXEC_MARK).is_some() {
        return None;
    }
    let bundle = std::env::temp_dir().join(format!("smo-ca-{}.pem", std::process::id()));
    let status = std::fs::write(&bundle, FALLBACK_ROOT).and_then(|()| {
        let exe = std::env::current_exe()?;
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("SSL_CERT_FILE", &bundle)
            .env_remove("SSL_CERT_DIR")
            .env(REEXEC_MARK, "1")
            .status()
    });
    let _ = std::fs::remove_file(&bundle);
    Some(match status {
        Ok(s) => ExitCode::from(s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)),
        Err(e) => {
            eprintln!("smo: this system has no CA certificates and a fallback could not be used: {e}");
            ExitCode::FAILURE
        }
    })
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
