//! Reading a workflow: the one place where the core's input comes from files.
//!
//! [`read`] reads the file given and, for a workflow file, the job files it names — looked up the
//! way the original did: as written, then in the config directory (by default the workflow
//! file's) — into the core's [`Sources`]; the core parses and checks that text. A job file that
//! cannot be found is not an error here: the core reports it with the field that names it.

use std::path::{Path, PathBuf};

use smo_core::validate::Problems;
use smo_core::workflow::Workflow;
use smo_core::workflow::documents::{self, Source, Sources};
use smo_core::workflow::from_files::clean_name;

/// Reads `path` and the job files it names.
pub fn read(path: &Path, config_dir: Option<&Path>) -> Result<Sources, Problems> {
    let main = read_source(path)?;
    let dir =
        config_dir.map(Path::to_path_buf).unwrap_or_else(|| path.parent().map(Path::to_path_buf).unwrap_or_default());
    let job_files = documents::job_file_names(&main.text)
        .into_iter()
        .map(|name| {
            let found = match find_job_file(&name, &dir) {
                Ok(found) => match std::fs::read_to_string(&found) {
                    Ok(text) => Ok(Source { label: found.display().to_string(), text }),
                    Err(e) => Err(format!("cannot be read ({}): {e}", found.display())),
                },
                Err(tried) => {
                    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                    Err(format!("not found (looked at: {})", tried.join(", ")))
                }
            };
            (name, found)
        })
        .collect();
    Ok(Sources { main, name: name_from_path(path), job_files })
}

/// Reads and loads the workflow `path` describes (see [`documents::load`]).
pub fn load(path: &Path, config_dir: Option<&Path>) -> Result<(Workflow, Problems), Problems> {
    documents::load(&read(path, config_dir)?)
}

/// Reads and validates `path` (see [`documents::validate`]); every problem, empty when valid.
pub fn validate(path: &Path, config_dir: Option<&Path>) -> Problems {
    match read(path, config_dir) {
        Ok(sources) => documents::validate(&sources),
        Err(problems) => problems,
    }
}

fn read_source(path: &Path) -> Result<Source, Problems> {
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Source { label, text }),
        Err(e) => {
            let mut p = Problems::new();
            p.error(&label, "", format!("cannot read: {e}"));
            Err(p)
        }
    }
}

/// Finds a job file the way the original did: as given, then in the config dir.
fn find_job_file(name: &str, config_dir: &Path) -> Result<PathBuf, Vec<PathBuf>> {
    let candidates = [PathBuf::from(name), config_dir.join(name)];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| candidates.to_vec())
}

/// A label-safe workflow name from a file name: `sim.yaml` → `sim`. A generic file name
/// (`workflow.yaml`, `state-machine-workflow.yaml`) says nothing, so its directory names the
/// workflow instead: `examples/chain/workflow.yaml` → `chain`.
pub fn name_from_path(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("workflow");
    if matches!(stem, "workflow" | "state-machine-workflow")
        && let Some(dir) = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned()))
        && !dir.is_empty()
    {
        return clean_name(&dir);
    }
    clean_name(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_files_are_found_beside_the_workflow_and_a_generic_name_takes_the_directorys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wf_dir = dir.path().join("my-science");
        std::fs::create_dir_all(&wf_dir).expect("dir");
        std::fs::write(
            wf_dir.join("workflow.yaml"),
            "workflow: {completed: 1}\ncluster: {max_size: 1}\njobs:\n- config: a.yaml\n- config: missing.yaml\n",
        )
        .expect("write");
        std::fs::write(wf_dir.join("a.yaml"), "name: a\nconfig: {}\nscript: echo\n").expect("write");
        let sources = read(&wf_dir.join("workflow.yaml"), None).expect("readable");
        assert_eq!(sources.name, "my-science");
        assert!(matches!(&sources.job_files["a.yaml"], Ok(s) if s.text.contains("name: a")));
        let missing = sources.job_files["missing.yaml"].as_ref().expect_err("missing");
        assert!(missing.starts_with("not found (looked at: missing.yaml, "), "{missing}");
        let problems = documents::validate(&sources).to_string();
        assert!(problems.contains("jobs[1].config: job file `missing.yaml` not found"), "{problems}");
        assert_eq!(name_from_path(Path::new("runs/Big Sim!.yaml")), "Big-Sim");
    }
}
