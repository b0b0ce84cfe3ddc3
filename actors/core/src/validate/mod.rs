//! Validation results: every problem names its file, its field path and what is wrong.
//!
//! Validation never stops at the first problem. [`schema`] walks the raw document against the
//! JSON schema of its type (unknown keys, wrong types, out-of-range numbers); the loaders in
//! [`crate::workflow`] then check meaning (tags pulled before they are pushed, rules naming
//! unknown steps, prefixes that cannot name a registry repository, …). Problems print as
//!
//! ```text
//! state-machine.yaml: spec.workflow.prefix: contains upper-case letters; job ids like `Run_000000000` name OCI repositories, which must be lower case (try `run_`)
//! state-machine.yaml: spec.jobs[1].registry.pull: warning: tag `job_x` is not pushed by an earlier step (pushed before: job_a); …
//! ```
//!
//! An error means the workflow cannot run. Whatever the original accepted and could run is at
//! most a warning (a stray key, a step larger than `maxSize`, a tag the application pushes
//! itself), so the original's inputs load unchanged; `smo validate --strict` fails on warnings.

use std::fmt;

pub mod schema;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The workflow cannot run.
    Error,
    /// The workflow runs, but probably not as the author meant.
    Warning,
}

/// One problem in one field of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file (as the user named it).
    pub file: String,
    /// Field path inside the file, e.g. `spec.jobs[0].config.nodes`; empty for the whole file.
    pub path: String,
    /// What is wrong, and what would be right.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        if self.path.is_empty() {
            write!(f, "{}: {level}{}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {level}{}", self.file, self.path, self.message)
        }
    }
}

/// A list of problems, errors and warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// No problems.
    pub fn new() -> Problems {
        Problems(Vec::new())
    }

    /// Adds an error.
    pub fn error(&mut self, file: &str, path: impl Into<String>, message: impl Into<String>) {
        self.push(file, path, message, Severity::Error);
    }

    /// Adds a warning.
    pub fn warn(&mut self, file: &str, path: impl Into<String>, message: impl Into<String>) {
        self.push(file, path, message, Severity::Warning);
    }

    fn push(&mut self, file: &str, path: impl Into<String>, message: impl Into<String>, severity: Severity) {
        let problem = Problem { file: file.to_string(), path: path.into(), message: message.into(), severity };
        // The structural and the semantic pass can both notice the same thing; say it once.
        if !self.0.contains(&problem) {
            self.0.push(problem);
        }
    }

    /// True if any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|p| p.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(|p| p.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(|p| p.severity == Severity::Warning)
    }

    /// Appends all of `other`.
    pub fn extend(&mut self, other: Problems) {
        for p in other.0 {
            if !self.0.contains(&p) {
                self.0.push(p);
            }
        }
    }

    /// True if there are no problems at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Deserialises a document the structural check has been over. A failure is reported only
/// when nothing found before explains it (the check's own messages say more, with paths).
pub fn deserialize_checked<T: serde::de::DeserializeOwned>(
    doc: serde_json::Value,
    file: &str,
    what: &str,
    mut problems: Problems,
) -> (Option<T>, Problems) {
    match serde_json::from_value::<T>(doc) {
        Ok(v) => (Some(v), problems),
        Err(e) => {
            if !problems.has_errors() {
                problems.error(file, "", format!("does not parse as {what}: {e}"));
            }
            (None, problems)
        }
    }
}

/// `" (did you mean `x`?)"` when a known word is close to `word`, else `""`.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let lower = word.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_print_file_path_and_message() {
        let mut p = Problems::new();
        p.error("a.yaml", "spec.cluster.maxSize", "must be at least 1");
        p.warn("a.yaml", "", "no image");
        assert_eq!(p.to_string(), "a.yaml: spec.cluster.maxSize: must be at least 1\na.yaml: warning: no image");
        assert!(p.has_errors());
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(did_you_mean("nodez", ["nodes", "tasks"]), " (did you mean `nodes`?)");
        assert_eq!(did_you_mean("coresPerTsk", ["coresPerTask"]), " (did you mean `coresPerTask`?)");
        assert_eq!(did_you_mean("zzz", ["nodes"]), "");
    }
}
