//! The text a workflow is read from ([`Sources`]: the file given and the job files it names)
//! and its YAML documents. Shared by the readers of both input forms (`documents`,
//! `from_files`), which depend on it and not on each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::Problems;

/// One file's text and the name messages give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// How messages name the file (its path as given).
    pub label: String,
    /// Its text.
    pub text: String,
}

/// Everything a workflow is made of: the file given, and for a workflow file the job files it
/// names (by the name under `jobs[].config`; `Err` says why one could not be read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    /// The file given (a manifest or a workflow file).
    pub main: Source,
    /// Name of the workflow when the file does not name it (a workflow file): from its path.
    pub name: String,
    /// Job files by the name the workflow file gives them.
    #[serde(default)]
    pub job_files: BTreeMap<String, Result<Source, String>>,
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

/// Parses text that must hold exactly one document.
pub fn single(text: &str, file: &str) -> Result<Value, Problems> {
    let mut docs = parse_documents(text, file)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => {
            let mut p = Problems::new();
            p.error(file, "", "is empty");
            Err(p)
        }
        n => {
            let mut p = Problems::new();
            p.error(file, "", format!("holds {n} YAML documents; expected one"));
            Err(p)
        }
    }
}
