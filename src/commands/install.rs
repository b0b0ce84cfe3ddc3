//! `smo install DIR`: copy this binary to `DIR/smo`.
//!
//! Step pods run arbitrary images; an init container from the smo image runs this to put the
//! binary into a shared volume, so step scripts can call `smo artifact` without downloading
//! anything at job start.

use std::path::Path;
use std::process::ExitCode;

/// Copies the running executable to `dir/smo`, executable.
pub fn run(dir: &Path) -> ExitCode {
    match install(dir) {
        Ok(target) => {
            eprintln!("installed {}", target.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("smo install: {e}");
            ExitCode::FAILURE
        }
    }
}

fn install(dir: &Path) -> Result<std::path::PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let target = dir.join("smo");
    // Copy to a temporary name first so a concurrent reader never sees half a binary.
    let partial = dir.join(".smo.partial");
    std::fs::copy(&me, &partial).map_err(|e| format!("cannot copy {} to {}: {e}", me.display(), partial.display()))?;
    std::fs::rename(&partial, &target).map_err(|e| format!("cannot move {} into place: {e}", target.display()))?;
    Ok(target)
}
