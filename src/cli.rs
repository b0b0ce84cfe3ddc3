//! The command line: `smo <command> [options]`.
//!
//! Doc comments here are the `--help` text users read, not rustdoc: `<dir>` and `[:port]` are
//! meant literally.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use smo_actors::executor::kubernetes;

/// Run many concurrent multi-step job sequences on Kubernetes or on this machine.
#[derive(Debug, Parser)]
#[command(name = "smo", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Plain, env = "SMO_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow to completion on this machine.
    Run(RunArgs),
    /// Check StateMachine manifests and workflow files offline; list every problem.
    Validate(ValidateArgs),
    /// Print the StateMachine CustomResourceDefinition (what dist/crd.yaml holds).
    Crd,
    /// Print what installs `smo operator` in a cluster (what dist/install.yaml holds).
    Manifests {
        /// The operator's image (also the image that delivers smo to step pods).
        #[arg(long, value_name = "IMAGE", default_value = crate::dist::DEFAULT_IMAGE)]
        image: String,
        /// The image of a workflow's own registry when its spec.registry.image is unset
        /// (`make image` builds one from Debian's docker-registry).
        #[arg(long, value_name = "IMAGE", default_value = crate::dist::DEFAULT_REGISTRY_IMAGE)]
        registry_image: String,
        /// Install for these namespaces only (NS[,NS…]): the operator's rules are a Role in
        /// each, and it watches just them. Default: cluster-wide.
        #[arg(long, value_name = "NS", value_delimiter = ',')]
        namespaces: Vec<String>,
        /// Print a Prometheus Operator ServiceMonitor instead (dist/servicemonitor.yaml).
        #[arg(long)]
        service_monitor: bool,
    },
    /// Push or pull a step's artifact (an ORAS-compatible OCI artifact).
    Artifact {
        /// Push or pull.
        #[command(subcommand)]
        action: ArtifactAction,
    },
    /// Draw the timeline of a run's workflow-times.json as SVG, with per-step durations.
    Report(ReportArgs),
    /// List StateMachines in the cluster: phase, completed/wanted, active, failed, rule
    /// firings, age (kubectl's habits: -n, -A, -o wide|yaml|json|name, -w).
    Get(GetArgs),
    /// Show one StateMachine in detail: its steps' counts and durations, rule firings,
    /// conditions and Events.
    Describe(DescribeArgs),
    /// Print the logs of a StateMachine's step Pods (those that still exist: they go with
    /// their Jobs), oldest first; `-f` follows them.
    Logs(LogsArgs),
    /// Draw the timeline the operator keeps for a StateMachine (every job's start and end) as
    /// SVG, as `smo report` draws a local run's; `--format original` writes the original's
    /// workflow-times.json instead.
    Timeline(TimelineArgs),
    /// Suspend a StateMachine (spec.suspend: true): nothing new starts, the step jobs running
    /// finish.
    Suspend(DescribeArgs),
    /// Resume a suspended StateMachine (spec.suspend: false).
    Resume(DescribeArgs),
    /// Stop a StateMachine before it is done (spec.shutdown: Stop, as `argo stop`): nothing new
    /// starts, the step jobs running finish and are recorded, then it ends Failed (reason
    /// Stopped). `--now` (spec.shutdown: Terminate, as `argo terminate`) deletes the running
    /// step jobs at once. Not undone once the workflow has ended.
    Stop(StopArgs),
    /// Run StateMachine resources in the cluster: one workflow per resource, status, Events.
    Operator(OperatorArgs),
    /// Copy this smo binary into a directory (the init container of step pods uses it).
    Install {
        /// Directory to copy the binary into (as `smo`).
        dir: PathBuf,
    },
    /// In a step's Pod: pass stdin to stdout and keep a timestamped copy in FILE.
    #[command(hide = true)]
    LogTee {
        /// The copy, each line after its RFC 3339 time.
        file: PathBuf,
    },
    /// In a step's Pod: the step's custom metrics from its log, as a report in --output.
    #[command(hide = true)]
    StepMetrics {
        /// The step's metrics config (`/workdir/metrics.json`).
        config: PathBuf,
        /// The timestamped log (`smo log-tee`'s copy).
        log: PathBuf,
        /// Where the report goes (the container's termination message).
        #[arg(long, default_value = "/dev/termination-log")]
        output: PathBuf,
    },
}

/// `smo run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A StateMachine manifest or a workflow file.
    #[arg(value_name = "WORKFLOW", required_unless_present = "resume")]
    pub workflow: Option<PathBuf>,

    /// Finish the run kept in RUN_DIR (after a crash, Ctrl-C or a reboot): its workflow,
    /// directories, artifact store and job ids come from the run directory; completed sequences
    /// stay counted, finished steps are not run again, steps that were cut off run again.
    #[arg(
        long,
        value_name = "RUN_DIR",
        conflicts_with_all = ["workflow", "config_dir", "run_dir", "workdir", "artifacts", "registry", "seed"]
    )]
    pub resume: Option<PathBuf>,

    /// Directory holding the job files of a workflow file (default: the workflow file's directory).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Directory for the run's scripts, logs, artifacts and workflow-times.json
    /// (default: ./smo-runs/<workflow>-<time>).
    #[arg(long, value_name = "DIR", env = "SMO_RUN_DIR")]
    pub run_dir: Option<PathBuf>,

    /// Base of the jobs' working directories, <workdir>/<jobid>/<step> (default: <run-dir>/work,
    /// or the workflow file's `workdir`).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// Keep artifacts in this directory (an OCI image layout per sequence) instead of a registry
    /// (default: <run-dir>/artifacts).
    #[arg(long, value_name = "DIR", conflicts_with = "registry")]
    pub artifacts: Option<PathBuf>,

    /// Push and pull artifacts through this OCI registry (host[:port]).
    #[arg(long, value_name = "HOST[:PORT]", env = "SMO_REGISTRY")]
    pub registry: Option<String>,

    /// The --registry (or SMO_REGISTRY) speaks plain HTTP; `eval "$(make -s cluster-env)"` sets
    /// SMO_PLAIN_HTTP=1 for the project's cluster. Without a --registry it changes nothing.
    #[arg(long, env = "SMO_PLAIN_HTTP", value_parser = clap::builder::BoolishValueParser::new())]
    pub plain_http: bool,

    /// Failed sequences tolerated before no new ones start (overrides workflow.maxFailures).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: Option<u32>,

    /// Seed of the job id generator, for reproducible ids.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Plain log lines instead of a progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// Serve the run's live page (its timeline, slots in use, step durations and failures as
    /// they happen, read-only) on this address while it runs, e.g. 127.0.0.1:8081.
    #[arg(long, value_name = "HOST:PORT")]
    pub ui: Option<std::net::SocketAddr>,

    /// Where the steps run: `local` (bash processes on this machine) or `kubernetes` (a Job
    /// per step in the cluster of the current kubeconfig; artifacts then go
    /// through --registry, which the cluster's Pods must reach). Running the same kubernetes
    /// command again carries on with the sequences whose Jobs exist.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local, conflicts_with = "resume")]
    pub executor: ExecutorKind,

    /// Namespace of the step Jobs (kubernetes executor; default: the kubeconfig's).
    #[arg(long, value_name = "NS", conflicts_with = "resume")]
    pub namespace: Option<String>,

    /// Image whose `smo` binary an init container copies into every step pod (kubernetes
    /// executor); without it the step images must have `smo` on their PATH.
    #[arg(long, value_name = "IMAGE", env = "SMO_IMAGE", conflicts_with = "resume")]
    pub smo_image: Option<String>,

    /// Sustained requests per second to the Kubernetes API (kubernetes executor), as client-go's
    /// flag of the same name.
    #[arg(long, value_name = "QPS", default_value_t = kubernetes::DEFAULT_QPS, value_parser = positive_rate)]
    pub kube_api_qps: f32,

    /// Requests allowed at once above --kube-api-qps (kubernetes executor).
    #[arg(long, value_name = "N", default_value_t = kubernetes::DEFAULT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub kube_api_burst: u32,

    /// Times a step's Job is replaced after the infrastructure ended its Pod (evicted,
    /// preempted, its node lost) before the step fails with the Pod's reason (kubernetes
    /// executor).
    #[arg(long, value_name = "N", default_value_t = smo_core::classify::DEFAULT_INFRA_RETRIES)]
    pub infra_retries: u32,

    /// Fail a step whose Pod cannot start for this long (unschedulable, its image not pulled),
    /// with the scheduler's or the kubelet's reason; unset: it waits (the reason is reported
    /// at once either way).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub pending_timeout: Option<u64>,
}

/// `smo operator`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Watch StateMachines in these namespaces only (NS[,NS…]; default: all namespaces), as
    /// a namespaced install (`smo manifests --namespaces`) allows.
    #[arg(long = "namespace", value_name = "NS", env = "SMO_WATCH_NAMESPACE", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Image whose `smo` an init container copies into step pods (the operator's own image).
    #[arg(long, value_name = "IMAGE", env = "SMO_IMAGE")]
    pub smo_image: Option<String>,

    /// Registry (HOST[:PORT]) for workflows whose spec.registry.host is empty.
    #[arg(long, value_name = "HOST[:PORT]", env = "SMO_REGISTRY")]
    pub registry: Option<String>,

    /// The --registry speaks plain HTTP.
    #[arg(long, env = "SMO_PLAIN_HTTP", value_parser = clap::builder::BoolishValueParser::new())]
    pub plain_http: bool,

    /// Image of a workflow's own registry (made when neither spec.registry.host nor --registry
    /// gives one) when its spec.registry.image is unset.
    #[arg(long, value_name = "IMAGE", env = "SMO_REGISTRY_IMAGE", default_value = smo_core::defaults::REGISTRY_IMAGE)]
    pub registry_image: String,

    /// Raise (or lower) what one StateMachine may ask for: KEY=N[,KEY=N…], keys completed,
    /// maxFailures, maxSize, nodes, steps, rules, metrics (defaults 100000, 500000, 1000, 1000,
    /// 64, 64, 32; at most the CRD's ceilings). A resource above a limit is refused, naming it.
    #[arg(long = "limit", value_name = "KEY=N", env = "SMO_LIMITS", value_delimiter = ',', value_parser = limit)]
    pub limits: Vec<String>,

    /// Serve /metrics (Prometheus), /healthz and /readyz on this address (e.g. 0.0.0.0:8080).
    #[arg(long, value_name = "HOST:PORT", env = "SMO_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Serve the live page (every workflow's progress, timeline, slots in use, durations and
    /// failures, read-only) on this address. The install serves it on the Pod's loopback
    /// (127.0.0.1:8081): `kubectl port-forward` reaches it, nothing else does.
    #[arg(long, value_name = "HOST:PORT", env = "SMO_UI_ADDR")]
    pub ui_addr: Option<std::net::SocketAddr>,

    /// Act only while holding the leader Lease (for several replicas).
    #[arg(long)]
    pub leader_elect: bool,

    /// The operator's own namespace: where its leader Lease (`smo-operator`) is, and whose
    /// operator Pods a workflow's registry admits.
    #[arg(long, value_name = "NS", default_value = "smo-system", env = "POD_NAMESPACE")]
    pub lease_namespace: String,

    /// Directory for the logs of ended step jobs (custom metrics, save-path).
    #[arg(long, value_name = "DIR", default_value = "/tmp/smo-operator", env = "SMO_DATA_DIR")]
    pub data_dir: PathBuf,

    /// Sustained requests per second to the Kubernetes API.
    #[arg(long, value_name = "QPS", default_value_t = kubernetes::DEFAULT_QPS, value_parser = positive_rate)]
    pub kube_api_qps: f32,

    /// Requests allowed at once above --kube-api-qps.
    #[arg(long, value_name = "N", default_value_t = kubernetes::DEFAULT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub kube_api_burst: u32,

    /// Times a step's Job is replaced after the infrastructure ended its Pod (evicted,
    /// preempted, its node lost) before the step fails with the Pod's reason.
    #[arg(long, value_name = "N", default_value_t = smo_core::classify::DEFAULT_INFRA_RETRIES)]
    pub infra_retries: u32,

    /// Fail a step whose Pod cannot start for this long (unschedulable, its image not pulled),
    /// with the scheduler's or the kubelet's reason; unset: it waits (the reason is reported
    /// at once either way).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub pending_timeout: Option<u64>,
}

/// A request rate: a number above 0.
/// One `--limit KEY=N`, checked as the operator will read it.
fn limit(text: &str) -> Result<String, String> {
    smo_core::limits::Limits::parse([text]).map(|_| text.to_string())
}

fn positive_rate(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(qps) if qps > 0.0 && qps.is_finite() => Ok(qps),
        _ => Err(format!("`{text}` is no request rate: give a number above 0, e.g. 50")),
    }
}

/// Where `smo run` runs the steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Bash processes on this machine.
    Local,
    /// Jobs in a Kubernetes cluster.
    Kubernetes,
}

/// `smo artifact push|pull`.
#[derive(Debug, Subcommand)]
pub enum ArtifactAction {
    /// Push a directory as `REFERENCE` (`host[:port]/repository:tag`, or `repository:tag` with --store).
    Push(ArtifactPushArgs),
    /// Pull `REFERENCE` into a directory.
    Pull(ArtifactPullArgs),
}

/// Where an artifact lives.
#[derive(Debug, Args)]
pub struct ArtifactStoreArgs {
    /// Use a local directory store (OCI image layouts) instead of a registry.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Talk to the registry over plain HTTP.
    #[arg(long, conflicts_with = "store")]
    pub plain_http: bool,

    /// Times to try again, pausing 1, 2, 4, 8 s…, when the registry cannot be reached, stops
    /// answering or says it is overloaded (5xx, 429); other errors fail at once.
    #[arg(long, value_name = "N", default_value_t = 4, conflicts_with = "store")]
    pub retries: u32,

    /// User name for a registry that asks for one (HTTP basic authentication). A step Pod gets
    /// its workflow registry's in the environment.
    #[arg(long, value_name = "NAME", env = "SMO_REGISTRY_USERNAME")]
    pub username: Option<String>,

    /// Password for that user (better given in the environment than on a command line).
    #[arg(long, value_name = "PASSWORD", env = "SMO_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// `smo artifact push`.
#[derive(Debug, Args)]
pub struct ArtifactPushArgs {
    /// `host[:port]/repository:tag`, or `repository:tag` with --store.
    pub reference: String,
    /// Directory to push (its contents become one tar+gzip layer).
    pub dir: PathBuf,
    /// Store options.
    #[command(flatten)]
    pub store: ArtifactStoreArgs,
}

/// `smo artifact pull`.
#[derive(Debug, Args)]
pub struct ArtifactPullArgs {
    /// `host[:port]/repository:tag`, or `repository:tag` with --store.
    pub reference: String,
    /// Directory to unpack into (default: the current directory).
    #[arg(long, short, value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
    /// Store options.
    #[command(flatten)]
    pub store: ArtifactStoreArgs,
}

/// How `smo get` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GetOutput {
    /// More columns: the running steps and the progress message.
    Wide,
    /// The resources as YAML.
    Yaml,
    /// The resources as JSON.
    Json,
    /// `statemachine/NAME` per resource.
    Name,
}

/// `smo get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// One StateMachine (default: all in the namespace).
    pub name: Option<String>,

    /// The namespace (default: the current kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Every namespace (a NAMESPACE column first).
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<GetOutput>,

    /// After the list, print each change as it happens (until interrupted).
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// What `smo timeline` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TimelineFormat {
    /// An SVG timeline of every sequence's steps.
    Svg,
    /// The original's workflow-times.json.
    Original,
}

/// `smo timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The StateMachine.
    pub name: String,

    /// The namespace (default: the current kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Where to write it (default: NAME-timeline.svg, or NAME-workflow-times.json).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// What to write.
    #[arg(long, value_enum, default_value = "svg")]
    pub format: TimelineFormat,
}

/// `smo logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The StateMachine.
    pub name: String,

    /// The namespace (default: the current kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Only this step's Pods.
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,

    /// Only this sequence's Pods (its job id, e.g. job_123456789).
    #[arg(long, value_name = "JOBID")]
    pub sequence: Option<String>,

    /// Follow: print new lines as the steps write them, each prefixed with its Pod.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// `smo describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The StateMachine.
    pub name: String,

    /// The namespace (default: the current kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
}

/// `smo stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The StateMachine.
    pub name: String,

    /// The namespace (default: the current kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Delete the running step jobs at once instead of letting them finish
    /// (spec.shutdown: Terminate).
    #[arg(long)]
    pub now: bool,
}

/// `smo report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A workflow-times.json written by `smo run` (or the original manager).
    #[arg(value_name = "TIMES.json")]
    pub times: PathBuf,

    /// Where to write the SVG (default: next to the input, as workflow-times.svg).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `smo validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// StateMachine manifests, workflow files (their job files are found next to them) or job files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Directory holding the job files of a workflow file (default: the workflow file's directory).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
