//! The one error type of the engine crate.
//!
//! Every fallible function in `smo-actors` (the edge: actors, executors, artifact transfer, files) returns [`Result`]. Each variant carries enough
//! context to be printed as a one-line reason, and [`Error::category`] gives a short, static
//! label for metrics and events (never the `Display` text, which is unbounded).

/// Everything that can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The core could not build what a job needs (its script, its objects).
    #[error(transparent)]
    Core(#[from] smo_core::Error),

    /// An executor could not start, stop or clean up a job.
    #[error("{0}")]
    Executor(String),

    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. "write /run/x/entrypoint.sh".
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// An artifact reference is malformed: not `host[:port]/repository:tag` (registry) or
    /// `repository:tag` (directory store), an upper-case repository, a bad tag.
    #[error("invalid artifact reference `{reference}`: {reason}")]
    ArtifactReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An artifact could not be pushed or pulled.
    #[error("cannot {action} {reference}: {reason}")]
    Artifact {
        /// `push` or `pull`.
        action: &'static str,
        /// The artifact reference.
        reference: String,
        /// Why, in one line.
        reason: String,
    },

    /// The artifact to pull does not exist (no such repository or tag).
    #[error("cannot pull {reference}: no such artifact ({detail})")]
    ArtifactNotFound {
        /// The artifact reference.
        reference: String,
        /// What the store said.
        detail: String,
    },
}

impl Error {
    /// A short, fixed label for this error's kind, for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Core(e) => e.category(),
            Error::Executor(_) => "executor",
            Error::Io { .. } => "io",
            Error::ArtifactReference { .. } => "artifact_reference",
            Error::Artifact { .. } => "artifact",
            Error::ArtifactNotFound { .. } => "artifact_not_found",
        }
    }
}

impl Error {
    /// An [`Error::Io`] saying what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { what: what.into(), source }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
