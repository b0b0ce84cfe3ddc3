//! The core does no I/O. Its dependency list keeps out actix, tokio and the kube client (the
//! compiler refuses them); this test keeps out what std itself offers: files, processes,
//! network, environment, clocks and threads. A module that needs one of those belongs in
//! `smo-actors` (the edge) or the binary.

use std::path::Path;

/// Paths whose use in the core's code (tests excluded) is I/O or depends on the machine.
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::process",
    "std::net",
    "std::env",
    "std::thread",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
    "SystemTime::now",
    "Instant::now",
    "println!",
    "eprintln!",
    "tokio",
    "actix",
    "kube::",
    "tracing::",
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(path);
        }
    }
}

/// The code of a file before its `#[cfg(test)]` module (tests may write temporary files).
fn code(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests").map_or(text, |at| &text[..at])
}

#[test]
fn the_core_does_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "found only {} source files under {}", files.len(), root.display());
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        for (n, line) in code(&text).lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for bad in FORBIDDEN {
                if line.contains(bad) {
                    found.push(format!("{}:{}: uses `{bad}`", file.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "I/O in the pure core:\n{}", found.join("\n"));
}

#[test]
fn the_core_depends_on_no_runtime_or_client() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).expect("manifest");
    let deps = manifest.split("[dependencies]").nth(1).expect("a [dependencies] table");
    let deps = deps.split("\n[").next().unwrap_or(deps);
    for bad in
        ["actix", "tokio", "kube.", "kube =", "kube-client", "kube-runtime", "futures", "nix", "oci-client", "reqwest"]
    {
        assert!(!deps.contains(bad), "smo-core must not depend on {bad}");
    }
}
