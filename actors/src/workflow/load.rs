//! Reading files: YAML → JSON values, and what kind of document each one is.

use std::path::Path;

use serde_json::Value;

use super::Workflow;
use super::crd::parse_manifest;
use super::files::parse_job_file;
use crate::validate::Problems;

/// What a YAML document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    /// `kind: StateMachine`.
    StateMachine,
    /// Another Kubernetes object (`kind: Namespace`, …).
    OtherObject,
    /// The original's workflow file (`workflow:` + `jobs:`).
    WorkflowFile,
    /// The original's job (step) file (`name:` + `script:`).
    JobFile,
    /// None of the above.
    Unknown,
}

/// Classifies a document by its top-level keys.
pub fn kind_of(doc: &Value) -> DocumentKind {
    match doc.get("kind").and_then(Value::as_str) {
        Some("StateMachine") => DocumentKind::StateMachine,
        Some(_) if doc.get("apiVersion").is_some() => DocumentKind::OtherObject,
        _ if doc.get("workflow").is_some() || (doc.get("jobs").is_some() && doc.get("cluster").is_some()) => {
            DocumentKind::WorkflowFile
        }
        _ if doc.get("script").is_some() || (doc.get("name").is_some() && doc.get("config").is_some()) => {
            DocumentKind::JobFile
        }
        _ => DocumentKind::Unknown,
    }
}

/// Reads every YAML document of a file.
pub fn read_documents(path: &Path) -> Result<Vec<Value>, Problems> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut p = Problems::new();
        p.error(&file, "", format!("cannot read: {e}"));
        p
    })?;
    parse_documents(&text, &file)
}

/// Parses YAML text (one or more documents).
pub fn parse_documents(text: &str, file: &str) -> Result<Vec<Value>, Problems> {
    match serde_saphyr::from_multiple::<Value>(text) {
        Ok(docs) => Ok(docs.into_iter().filter(|d| !d.is_null()).collect()),
        Err(e) => {
            let mut p = Problems::new();
            p.error(file, "", format!("is not valid YAML: {}", e.to_string().trim()));
            Err(p)
        }
    }
}

/// Reads a file that must hold exactly one document.
pub fn read_single(path: &Path) -> Result<Value, Problems> {
    let file = path.display().to_string();
    let mut docs = read_documents(path)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => {
            let mut p = Problems::new();
            p.error(&file, "", "is empty");
            Err(p)
        }
        n => {
            let mut p = Problems::new();
            p.error(&file, "", format!("holds {n} YAML documents; expected one"));
            Err(p)
        }
    }
}

/// Loads the workflow a file describes: a `StateMachine` manifest (exactly one in the file) or
/// a workflow file with its job files. Warnings come back with the workflow.
pub fn load(path: &Path, config_dir: Option<&Path>) -> Result<(Workflow, Problems), Problems> {
    let file = path.display().to_string();
    let docs = read_documents(path)?;
    let machines: Vec<&Value> = docs.iter().filter(|d| kind_of(d) == DocumentKind::StateMachine).collect();
    match (machines.len(), docs.first().map(kind_of)) {
        (1, _) => from_machine_document(machines[0].clone(), &file),
        (0, Some(DocumentKind::WorkflowFile)) if docs.len() == 1 => Workflow::from_files(path, config_dir),
        (0, Some(DocumentKind::JobFile)) => {
            let mut p = Problems::new();
            p.error(&file, "", "is a job (step) file; run the workflow file that lists it under `jobs:`");
            Err(p)
        }
        (n, _) if n > 1 => {
            let mut p = Problems::new();
            p.error(&file, "", format!("holds {n} StateMachines; run one at a time"));
            Err(p)
        }
        _ => {
            let mut p = Problems::new();
            p.error(&file, "", "is neither a StateMachine manifest (`kind: StateMachine`) nor a workflow file (`workflow:`, `cluster:`, `jobs:`)");
            Err(p)
        }
    }
}

/// Validates a file of any supported kind and returns every problem (empty: valid).
///
/// A manifest may hold several documents; each `StateMachine` is checked and other objects are
/// skipped. A job file on its own is checked as far as it can be without its workflow.
pub fn validate(path: &Path, config_dir: Option<&Path>) -> Problems {
    let file = path.display().to_string();
    let docs = match read_documents(path) {
        Ok(d) => d,
        Err(p) => return p,
    };
    let mut problems = Problems::new();
    if docs.is_empty() {
        problems.error(&file, "", "is empty");
        return problems;
    }
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let label = if many { format!("{file}[document {i}]") } else { file.clone() };
        match kind_of(&doc) {
            DocumentKind::StateMachine => {
                let (sm, found) = parse_manifest(doc, &label);
                problems.extend(found);
                if let Some(sm) = sm {
                    match Workflow::from_state_machine(&sm, &label) {
                        Ok((_, w)) | Err(w) => problems.extend(w),
                    }
                }
            }
            DocumentKind::OtherObject => {}
            DocumentKind::WorkflowFile if !many => match Workflow::from_files(path, config_dir) {
                Ok((_, w)) | Err(w) => problems.extend(w),
            },
            DocumentKind::WorkflowFile => problems.error(&label, "", "a workflow file must be the only document in its file"),
            DocumentKind::JobFile => {
                let (job, found) = parse_job_file(doc, &label);
                problems.extend(found);
                if let Some(job) = job {
                    let origin = super::Origin { file: label.clone(), base: String::new(), style: super::KeyStyle::File };
                    let step = super::files::step_from_file(job, origin, &mut problems);
                    if let Err(e) = crate::jobs::script::check_template(&step.script) {
                        problems.error(&label, "script", e);
                    }
                }
            }
            DocumentKind::Unknown => problems.error(
                &label,
                "",
                "is neither a StateMachine manifest (`kind: StateMachine`), a workflow file (`workflow:`, `cluster:`, `jobs:`) nor a job file (`name:`, `config:`, `script:`)",
            ),
        }
    }
    problems
}

/// The workflow of a `StateMachine` manifest given as text (one document). `file` names it in
/// messages.
pub fn from_manifest_text(text: &str, file: &str) -> Result<(Workflow, Problems), Problems> {
    let mut docs = parse_documents(text, file)?;
    if docs.len() != 1 || kind_of(&docs[0]) != DocumentKind::StateMachine {
        let mut p = Problems::new();
        p.error(file, "", "expected exactly one StateMachine document");
        return Err(p);
    }
    from_machine_document(docs.remove(0), file)
}

/// Checks, parses and maps one `StateMachine` document.
fn from_machine_document(doc: Value, file: &str) -> Result<(Workflow, Problems), Problems> {
    let (sm, mut problems) = parse_manifest(doc, file);
    let Some(sm) = sm else { return Err(problems) };
    match Workflow::from_state_machine(&sm, file) {
        Ok((wf, more)) if !problems.has_errors() => {
            problems.extend(more);
            Ok((wf, problems))
        }
        Ok((_, more)) | Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}
