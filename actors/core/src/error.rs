//! The one error type of the pure core.
//!
//! Validation problems are not errors here: they are collected as
//! [`Problems`](crate::validate::Problems), every one with its file and field path. An
//! [`Error`] is what goes wrong when a valid workflow is turned into something to run.
//! [`Error::category`] gives a short, static label for metrics and events (never the `Display`
//! text, which is unbounded).

/// Everything that can go wrong inside the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A step script template could not be rendered for a job.
    #[error("step {step}: cannot render the script template: {message}")]
    Template {
        /// The step whose script failed.
        step: String,
        /// The template engine's explanation, with the line.
        message: String,
    },

    /// A Kubernetes object could not be serialised.
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// What was being serialised.
        what: String,
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },

    /// A Kubernetes quantity (`500m`, `8Gi`) could not be read.
    #[error("`{text}` is no Kubernetes quantity: {why}")]
    Quantity {
        /// The text as it was given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl Error {
    /// A short, fixed label for this error's kind, for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Template { .. } => "template",
            Error::Serialize { .. } => "serialize",
            Error::Quantity { .. } => "quantity",
        }
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
