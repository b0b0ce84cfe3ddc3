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

    /// A call to the Kubernetes API failed for good (after its retries: see
    /// `executor::kubernetes::api`).
    #[error("cannot {action}: {source}")]
    Kube {
        /// What was being done, e.g. "create Job team-a/a-x1-1".
        action: String,
        /// The client's error (the apiserver's answer, or none).
        #[source]
        source: kube::Error,
    },

    /// The cluster serves no API the run needs (a CRD not installed); the message says what to
    /// install.
    #[error("{0}")]
    ApiNotServed(String),

    /// There is no cluster to talk to, or its client cannot be set up.
    #[error("{0}")]
    NoCluster(String),

    /// An object of the name smo needs exists and belongs to another workflow.
    #[error("{0}")]
    ObjectTaken(String),

    /// The artifact registry does not answer, or cannot start.
    #[error("{0}")]
    RegistryUnavailable(String),

    /// A job names a step the workflow does not have (a defect of the caller, never input).
    #[error("step {0} does not exist")]
    NoSuchStep(usize),

    /// What was asked for does not exist (a `StateMachine` of that name).
    #[error("{0}")]
    NotFound(String),

    /// What smo built contradicts itself (a defect of smo, never of the input).
    #[error("a defect of smo: {0} (please report it)")]
    Defect(String),

    /// A job was refused at submission (the in-memory executor's stand-in for any refusal).
    #[error("the job was refused: {0}")]
    Refused(String),

    /// The operator's metrics cannot be defined or registered.
    #[error("cannot {action}: {source}")]
    Metrics {
        /// "define a metric", "register a metric".
        action: &'static str,
        /// Prometheus' error.
        #[source]
        source: prometheus::Error,
    },

    /// The credentials of a workflow's registry cannot be made.
    #[error("cannot make the registry's credentials: {0}")]
    Credentials(String),

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
            Error::Kube { .. } => "kubernetes_api",
            Error::ApiNotServed(_) => "api_not_served",
            Error::NoCluster(_) => "no_cluster",
            Error::ObjectTaken(_) => "object_taken",
            Error::RegistryUnavailable(_) => "registry_unavailable",
            Error::NoSuchStep(_) => "no_such_step",
            Error::NotFound(_) => "not_found",
            Error::Defect(_) => "defect",
            Error::Refused(_) => "refused",
            Error::Metrics { .. } => "metrics",
            Error::Credentials(_) => "credentials",
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

    /// An [`Error::Kube`] saying what was being done ("create Job a/b").
    pub fn kube(action: impl Into<String>, source: kube::Error) -> Error {
        Error::Kube { action: action.into(), source }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
