//! YAML text → documents → a [`Workflow`], for every input form, from text the edge has read.
//!
//! The core reads no file: `smo_actors::source` reads a workflow file and the job files it
//! names into [`Sources`], and everything here works on that text. `Sources` is also what a run
//! directory keeps, so that `smo run --resume` runs exactly the workflow the run started with.

use serde_json::Value;

use super::Workflow;
use super::from_files::{parse_job_file, step_from_file};
use super::from_manifest::parse_manifest;
pub use super::text::{Source, Sources, parse_documents, single};
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

/// The job files a workflow file's text names (`jobs[].config`), in order; empty for any other
/// text. The edge reads these before calling [`load`] or [`validate`].
pub fn job_file_names(text: &str) -> Vec<String> {
    let Ok(docs) = parse_documents(text, "") else { return Vec::new() };
    let [doc] = docs.as_slice() else { return Vec::new() };
    if kind_of(doc) != DocumentKind::WorkflowFile {
        return Vec::new();
    }
    doc.get("jobs")
        .and_then(Value::as_array)
        .map(|jobs| jobs.iter().filter_map(|j| j.get("config")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Loads the workflow the sources describe: a `StateMachine` manifest (exactly one in the file)
/// or a workflow file with its job files. Warnings come back with the workflow.
pub fn load(sources: &Sources) -> Result<(Workflow, Problems), Problems> {
    let file = sources.main.label.as_str();
    let mut docs = parse_documents(&sources.main.text, file)?;
    let machines: Vec<usize> =
        docs.iter().enumerate().filter(|(_, d)| kind_of(d) == DocumentKind::StateMachine).map(|(i, _)| i).collect();
    match (machines.as_slice(), docs.first().map(kind_of)) {
        ([i], _) => from_manifest_value(docs.swap_remove(*i), file),
        ([], Some(DocumentKind::WorkflowFile)) if docs.len() == 1 => Workflow::from_files(docs.remove(0), sources),
        ([], Some(DocumentKind::JobFile)) => {
            let mut p = Problems::new();
            p.error(file, "", "is a job (step) file; run the workflow file that lists it under `jobs:`");
            Err(p)
        }
        (many, _) if many.len() > 1 => {
            let mut p = Problems::new();
            p.error(file, "", format!("holds {} StateMachines; run one at a time", many.len()));
            Err(p)
        }
        _ => {
            let mut p = Problems::new();
            p.error(file, "", "is neither a StateMachine manifest (`kind: StateMachine`) nor a workflow file (`workflow:`, `cluster:`, `jobs:`)");
            Err(p)
        }
    }
}

/// Validates sources of any supported kind and returns every problem (empty: valid).
///
/// A manifest may hold several documents; each `StateMachine` is checked and other objects are
/// skipped. A job file on its own is checked as far as it can be without its workflow.
pub fn validate(sources: &Sources) -> Problems {
    let file = sources.main.label.as_str();
    let docs = match parse_documents(&sources.main.text, file) {
        Ok(d) => d,
        Err(p) => return p,
    };
    let mut problems = Problems::new();
    if docs.is_empty() {
        problems.error(file, "", "is empty");
        return problems;
    }
    let many = docs.len() > 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let label = if many { format!("{file}[document {i}]") } else { file.to_string() };
        match kind_of(&doc) {
            DocumentKind::StateMachine => {
                let (sm, found) = parse_manifest(doc, &label);
                problems.extend(found);
                if let Some(sm) = sm {
                    match Workflow::from_state_machine(&sm, &label) {
                        Ok((workflow, w)) => {
                            problems.extend(w);
                            // What an operator with the default limits refuses.
                            for (path, message) in crate::limits::Limits::default().check(&workflow) {
                                problems.warn(&label, path, format!("under smo operator: {message}"));
                            }
                        }
                        Err(w) => problems.extend(w),
                    }
                }
            }
            DocumentKind::OtherObject => {}
            DocumentKind::WorkflowFile if !many => match Workflow::from_files(doc, sources) {
                Ok((_, w)) | Err(w) => problems.extend(w),
            },
            DocumentKind::WorkflowFile => problems.error(&label, "", "a workflow file must be the only document in its file"),
            DocumentKind::JobFile => {
                let (job, found) = parse_job_file(doc, &label);
                problems.extend(found);
                if let Some(job) = job {
                    let origin = super::Origin { file: label.clone(), base: String::new(), style: super::KeyStyle::File };
                    let step = step_from_file(job, origin, &mut problems);
                    if let Err(e) = crate::template::check(&step.script) {
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
    from_manifest_value(docs.remove(0), file)
}

/// Checks, parses and maps one `StateMachine` document (as the operator gets it from the
/// apiserver): the same checks and messages as `smo validate`. `file` names it in messages.
pub fn from_manifest_value(doc: Value, file: &str) -> Result<(Workflow, Problems), Problems> {
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
