//! The typed workflow every part of `smo` runs: one shape for both input forms.
//!
//! A [`Workflow`] comes from a `StateMachine` manifest ([`Workflow::from_state_machine`]) or from
//! the original's workflow file plus its job files ([`Workflow::from_files`]). All defaults are
//! applied (see [`crate::defaults`]), all text is parsed (walltimes, commands, properties, rules),
//! and every cross-field rule is checked, so code that receives a `Workflow` can trust it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::ShutdownStrategy;
use crate::names::JobId;
use crate::rules::Rule;
use crate::template::Vars;

mod checks;
pub mod documents;
pub mod format;
pub mod from_files;
pub mod from_manifest;
pub mod properties;
pub mod text;

pub use properties::{StepProperties, WorkloadKind};

/// A validated workflow.
#[derive(Clone, Debug, PartialEq)]
pub struct Workflow {
    /// Name of the workflow: the `StateMachine`'s name, or the workflow file's stem. It is the
    /// value of the workflow label on every object the workflow creates.
    pub name: String,
    /// Namespace of a `StateMachine` (None for a workflow file).
    pub namespace: Option<String>,
    /// Sequences that must complete.
    pub completed: u32,
    /// Job id prefix.
    pub prefix: String,
    /// Node budget.
    pub max_size: u32,
    /// Failed sequences tolerated before no new ones start.
    pub max_failures: u32,
    /// Metric rules, in declaration order.
    pub rules: Vec<Rule>,
    /// Steps, in order (at least one).
    pub steps: Vec<Step>,
    /// Artifact registry settings of the workflow.
    pub registry: RegistrySettings,
    /// Base directory of a run, from a workflow file's `workdir` (the original's `--workdir`).
    pub workdir: Option<PathBuf>,
    /// Suspended (`spec.suspend`, or `smo run`'s SIGUSR1): no new sequence and no new step job
    /// starts until it is resumed.
    pub suspended: bool,
    /// Being ended before it is done (`spec.shutdown`): nothing new starts; with
    /// [`ShutdownStrategy::Stop`] the step jobs running finish first, with
    /// [`ShutdownStrategy::Terminate`] they are deleted.
    pub shutdown: Option<ShutdownStrategy>,
}

/// Where artifacts go, as the workflow states it (the command line may override it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegistrySettings {
    /// Registry host (`host[:port]`); None: the run decides (ephemeral or local store).
    pub host: Option<String>,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// A shared directory used instead of a registry (workflow file `filesystem.path`).
    pub filesystem: Option<PathBuf>,
}

/// One step, with every default applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Step name (label `app`).
    pub name: String,
    /// Nodes per job at the start of the run (grow/shrink change a run's copy, not this).
    pub nodes: u32,
    /// Cores per task (CPU per pod).
    pub cores_per_task: u32,
    /// GPUs per pod.
    pub gpus: u32,
    /// Tasks, if set.
    pub tasks: Option<u32>,
    /// Maximum run time.
    pub walltime: Option<Duration>,
    /// GPU resource name.
    pub gpu_label: String,
    /// Image pull policy.
    pub pull_policy: String,
    /// Let Kubernetes retry failed pods (`backoffLimit: 6`).
    pub retry_failure: bool,
    /// Pod subdomain.
    pub subdomain: Option<String>,
    /// Container command (already split into words); None: `/bin/bash /workdir/entrypoint.sh`.
    pub command: Option<Vec<String>>,
    /// Container image.
    pub image: Option<String>,
    /// Namespace of the step's objects.
    pub namespace: String,
    /// Working directory (`$outpath`).
    pub workdir: String,
    /// Parsed `properties`.
    pub properties: StepProperties,
    /// Python source defining `parse_log(log)`.
    pub events_script: Option<String>,
    /// Declarative metrics read from each job's log.
    pub log_metrics: Vec<LogMetric>,
    /// Tag pushed after a successful script.
    pub push: Option<String>,
    /// Tag pulled before the script.
    pub pull: Option<String>,
    /// Registry host for this step only.
    pub registry_host: Option<String>,
    /// Plain-HTTP override for this step's registry.
    pub registry_plain_http: Option<bool>,
    /// Text delivered as `app-config`.
    pub app_config: Option<String>,
    /// Environment of the step (values are always strings).
    pub environment: BTreeMap<String, String>,
    /// The user's script (a Jinja template).
    pub script: String,
    /// How the step's Pods are confined.
    pub pod_security: crate::pod_security::PodSecurity,
    /// Where the step was declared, for messages.
    pub origin: Origin,
}

/// A metric read from a job's log with a regular expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMetric {
    /// Metric key.
    pub key: String,
    /// Regular expression, compiled once at validation; the first capture group is the number.
    pub pattern: Pattern,
    /// How several matches become one value.
    pub reduce: Reduce,
}

/// A compiled regular expression that compares by its source text (so steps stay comparable).
#[derive(Clone, Debug)]
pub struct Pattern(regex::Regex);

impl Pattern {
    /// The longest pattern source accepted.
    pub const MAX_SOURCE_BYTES: usize = 1024;

    /// The most memory one compiled pattern may take (the regex crate's default is 10 MiB):
    /// patterns are user input compiled by the operator for every tenant.
    pub const MAX_COMPILED_BYTES: usize = 256 * 1024;

    /// Compiles `source`, within [`Self::MAX_SOURCE_BYTES`] and [`Self::MAX_COMPILED_BYTES`].
    pub fn new(source: &str) -> Result<Pattern, String> {
        if source.len() > Self::MAX_SOURCE_BYTES {
            return Err(format!("is {} bytes long; at most {} are allowed", source.len(), Self::MAX_SOURCE_BYTES));
        }
        regex::RegexBuilder::new(source)
            .size_limit(Self::MAX_COMPILED_BYTES)
            .dfa_size_limit(Self::MAX_COMPILED_BYTES)
            .build()
            .map(Pattern)
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(limit) => {
                    format!("compiles to more than {} KiB; simplify it (e.g. smaller repetition counts)", limit / 1024)
                }
                e => format!("is not a valid regular expression: {e}"),
            })
    }

    /// The compiled expression.
    pub fn regex(&self) -> &regex::Regex {
        &self.0
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

/// How the matches of a log metric become one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// The last match.
    Last,
    /// The first match.
    First,
    /// The sum of all matches.
    Sum,
    /// The smallest match.
    Min,
    /// The largest match.
    Max,
    /// The mean of all matches.
    Mean,
    /// How many lines matched.
    Count,
}

impl Reduce {
    /// Every reduction with its name.
    pub const ALL: [(&'static str, Reduce); 7] = [
        ("last", Reduce::Last),
        ("first", Reduce::First),
        ("sum", Reduce::Sum),
        ("min", Reduce::Min),
        ("max", Reduce::Max),
        ("mean", Reduce::Mean),
        ("count", Reduce::Count),
    ];
}

/// Where a step was declared: lets a check name the right file and field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// File that declared the step.
    pub file: String,
    /// Path of the step inside that file (`spec.jobs[1]`), empty for a job file.
    pub base: String,
    /// Which spelling of keys the file uses.
    pub style: KeyStyle,
}

/// The two spellings of step keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStyle {
    /// `StateMachine` manifest: `config.nodes`, `appConfig`.
    Crd,
    /// Job file: `config.nnodes`, `app-config`.
    File,
}

impl Origin {
    /// The field path of `key` (given in the manifest's spelling) in the step's file.
    pub fn path(&self, crd_key: &str) -> String {
        let key = match self.style {
            KeyStyle::Crd => crd_key.to_string(),
            KeyStyle::File => file_key(crd_key),
        };
        if self.base.is_empty() { key } else { format!("{}.{key}", self.base) }
    }
}

/// The job-file spelling of a manifest key.
fn file_key(crd_key: &str) -> String {
    match crd_key {
        "config.nodes" => "config.nnodes".into(),
        "config.coresPerTask" => "config.cores_per_task".into(),
        "config.gpus" => "config.ngpus".into(),
        "config.pullPolicy" => "config.pull_policy".into(),
        "config.retryFailure" => "config.retry_failure".into(),
        "appConfig" => "app-config".into(),
        other => other.into(),
    }
}

impl Step {
    /// The template variables of a job of this step (no artifact store: the caller sets one).
    pub fn template_vars(&self, jobid: &JobId, nodes: u32, outpath: &str, config_file: &str) -> Vars {
        Vars {
            jobid: jobid.to_string(),
            jobids: vec![jobid.to_string()],
            configfile: config_file.to_string(),
            workdir: outpath.to_string(),
            pull: self.pull.clone(),
            push: self.push.clone(),
            registry: None,
            plain_http: false,
            nodes,
            cores_per_task: self.cores_per_task,
            tasks: self.tasks,
        }
    }
}

impl Workflow {
    /// Settings that a local run (`smo run`, no cluster) cannot honour, one line per setting
    /// naming the steps that use it, so that nothing is ignored silently.
    pub fn local_run_warnings(&self) -> Vec<String> {
        let mut uses: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
        for step in &self.steps {
            let mut note = |what: &'static str| uses.entry(what).or_default().push(step.name.as_str());
            if step.image.is_some() {
                note("`image` is not used by a local run (steps run on this machine, not in a container)");
            }
            if step.command.is_some() {
                note("`command` is not used by a local run (locally the step's script runs)");
            }
            if step.gpus > 0 {
                note("`gpus` is not used by a local run (no GPUs are reserved locally)");
            }
            if !step.properties.node_selector.is_empty() {
                note("`node-selector` is not used by a local run (there is one node)");
            }
            match step.properties.workload {
                WorkloadKind::Job => {}
                WorkloadKind::JobSet => note("`jobset` is not used by a local run (locally a step is one process)"),
                WorkloadKind::MiniCluster => {
                    note("`minicluster` is not used by a local run (locally a step is one process)")
                }
            }
            // The original's JobSet example sets `RANK: from:metadata.annotations[…]`: Kubernetes
            // fills such a variable from the pod (a downward-API fieldRef); there is no pod here.
            if step.environment.values().any(|v| field_ref(v).is_some()) {
                note(
                    "`environment` values `from:<field>` are not filled in by a local run as on Kubernetes (there \
                     is no pod: a completion index is 0, `metadata.name` is the job's name, any other field \
                     leaves the variable unset)",
                );
            }
        }
        uses.into_iter().map(|(what, steps)| format!("{what}; set on step(s) {}", steps.join(", "))).collect()
    }

    /// The steps whose jobs call `smo` on Kubernetes: to pull or push a tag (`smo artifact`,
    /// when `artifacts` have a store) or to compute their custom metrics in their own Pod
    /// ([`crate::step_metrics`]). In a Pod, `smo` comes from an image whose binary an init
    /// container copies in, so a run on Kubernetes without such an image cannot run them.
    pub fn steps_calling_smo(&self, artifacts: bool) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| {
                (artifacts && (s.pull.is_some() || s.push.is_some()))
                    || s.events_script.is_some()
                    || !s.log_metrics.is_empty()
            })
            .map(|s| s.name.as_str())
            .collect()
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Index of the step called `name`.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }
}

/// The workflow of a StateMachine `wf` with `spec` (YAML lines under `spec:`), for tests.
/// The field path of an environment value `from:<path>`, if it is one: a Pod field
/// Kubernetes fills in (the original's JobSet form); a local run has no Pod to read it from.
pub fn field_ref(value: &str) -> Option<&str> {
    value.strip_prefix("from:").map(str::trim)
}

#[cfg(test)]
pub(crate) fn test_manifest(namespace: Option<&str>, spec: &str) -> Workflow {
    let namespace = namespace.map(|ns| format!("  namespace: {ns}\n")).unwrap_or_default();
    let text = format!(
        "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata:\n  name: wf\n{namespace}spec:\n{spec}"
    );
    documents::from_manifest_text(&text, "m.yaml").unwrap_or_else(|p| panic!("{p}")).0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workflow::documents::{Source, Sources, from_manifest_text};

    fn manifest(spec: &str) -> Workflow {
        test_manifest(Some("science"), spec)
    }

    const MINIMAL: &str =
        "  workflow: {completed: 2}\n  cluster: {maxSize: 6}\n  jobs:\n  - {name: a, image: busybox, script: echo}\n";

    #[test]
    fn steps_call_smo_to_pass_artifacts_or_compute_their_metrics() {
        let wf = manifest(
            "  workflow: {completed: 2}\n  cluster: {maxSize: 6}\n  jobs:\n  - {name: a, image: i, script: echo, registry: {push: a}}\n  - {name: b, image: i, script: echo}\n  - {name: c, image: i, script: echo, registry: {pull: a}}\n  - {name: d, image: i, script: echo, events: {metrics: [{key: k, pattern: x}]}}\n",
        );
        assert_eq!(wf.steps_calling_smo(true), vec!["a", "c", "d"]);
        // Without a store the scripts skip their pulls and pushes; metrics still need smo.
        assert_eq!(wf.steps_calling_smo(false), vec!["d"]);
        assert!(manifest(MINIMAL).steps_calling_smo(true).is_empty());
    }

    #[test]
    fn manifest_defaults_follow_the_original_operator() {
        let wf = manifest(MINIMAL);
        assert_eq!((wf.name.as_str(), wf.prefix.as_str(), wf.completed, wf.max_size), ("wf", "job_", 2, 6));
        assert_eq!(wf.max_failures, 10);
        let a = &wf.steps[0];
        // No `config` at all: the CRD default does not apply, the operator's Go fallback (6) does.
        assert_eq!((a.nodes, a.cores_per_task), (1, 6));
        assert_eq!(
            (a.workdir.as_str(), a.pull_policy.as_str(), a.gpu_label.as_str()),
            ("/tmp/out", "IfNotPresent", "nvidia.com/gpu")
        );
        assert_eq!((a.namespace.as_str(), a.subdomain.as_deref()), ("science", Some("r")));
        assert!(!a.retry_failure);
        assert_eq!(wf.registry, RegistrySettings { host: None, plain_http: true, filesystem: None });
        let with_config =
            manifest(&MINIMAL.replace("image: busybox,", "image: busybox, config: {walltime: '0:45:00'},"));
        assert_eq!(with_config.steps[0].cores_per_task, 3, "CRD default of a present config");
        assert_eq!(with_config.steps[0].walltime, Some(Duration::from_secs(2700)));
    }

    #[test]
    fn registry_plain_http_means_what_its_name_says() {
        // The original inverted this field (`plainHttp: true` turned plain HTTP off).
        let plain = manifest(&format!("  registry: {{host: reg.example.com, port: 5000, plainHttp: true}}\n{MINIMAL}"));
        assert_eq!(plain.registry.host.as_deref(), Some("reg.example.com:5000"));
        assert!(plain.registry.plain_http);
        let tls = manifest(&format!("  registry: {{host: reg.example.com, plainHttp: false}}\n{MINIMAL}"));
        assert_eq!(tls.registry.host.as_deref(), Some("reg.example.com"));
        assert!(!tls.registry.plain_http);
    }

    #[test]
    fn local_run_warnings_name_each_unusable_setting_once_with_its_steps() {
        let wf = manifest(
            r#"  workflow: {completed: 1}
  cluster: {maxSize: 4}
  jobs:
  - {name: a, image: busybox, script: echo, config: {command: 'python run.py', gpus: 1}}
  - name: b
    image: busybox
    script: echo
    properties: {jobset: 'yes', ports: '3389', node-selector: 'x=y'}
    environment: {RANK: "from:metadata.annotations['batch.kubernetes.io/job-completion-index']", EPOCHS: '1'}
  - {name: c, image: busybox, script: echo, properties: {minicluster: 'yes'}}
"#,
        );
        let warnings = wf.local_run_warnings();
        let find = |start: &str| -> &str {
            warnings
                .iter()
                .find(|w| w.starts_with(start))
                .map(String::as_str)
                .unwrap_or_else(|| panic!("{start}: {warnings:?}"))
        };
        assert!(find("`image` is not used by a local run").ends_with("set on step(s) a, b, c"), "{warnings:?}");
        assert!(find("`command`").ends_with("set on step(s) a"));
        assert!(find("`gpus`").ends_with("set on step(s) a"));
        assert!(find("`node-selector`").ends_with("set on step(s) b"));
        assert!(find("`jobset`").ends_with("set on step(s) b"));
        assert!(find("`minicluster`").ends_with("set on step(s) c"));
        let from = find("`environment` values `from:<field>` are not filled in by a local run");
        assert!(from.ends_with("set on step(s) b"), "{from}");
        assert_eq!(warnings.len(), 7, "one line per setting: {warnings:?}");

        // Only `from:` at the start is a field reference; an image is always there in a manifest.
        let plain = manifest(
            "  workflow: {completed: 1}\n  cluster: {maxSize: 4}\n  jobs:\n  - {name: a, image: busybox, script: echo, environment: {A: 'from here'}}\n",
        );
        let only_image = plain.local_run_warnings();
        assert_eq!(only_image.len(), 1, "{only_image:?}");
        assert!(only_image[0].starts_with("`image`"), "{only_image:?}");
    }

    #[test]
    fn manager_subdomain_reaches_every_step() {
        let wf = manifest(&format!("  manager: {{subdomain: sims}}\n{MINIMAL}"));
        assert_eq!(wf.steps[0].subdomain.as_deref(), Some("sims"));
    }

    #[test]
    fn workflow_files_use_the_managers_defaults_and_accept_crd_spellings() {
        let source = |label: &str, text: &str| Source { label: label.into(), text: text.into() };
        let sources = Sources {
            main: source(
                "wf/workflow.yaml",
                "workflow: {completed: 3, prefix: s_}\ncluster: {max_size: 4, autoscale: no}\njobs:\n- config: a.yaml\n- config: b.yaml\n",
            ),
            name: "wf".into(),
            job_files: [
                ("a.yaml".to_string(), Ok(source("wf/a.yaml", "name: a\nconfig: {}\nregistry: {push: a}\nscript: echo\n"))),
                (
                    "b.yaml".to_string(),
                    Ok(source(
                        "wf/b.yaml",
                        "name: b\nconfig: {nodes: 2, coresPerTask: 4, retryFailure: true, command: [python, run.py]}\nregistry: {pull: a}\nenvironment: {EPOCHS: 1}\nproperties: '{\"always-succeed\": \"yes\"}'\nscript: echo\n",
                    )),
                ),
            ]
            .into_iter()
            .collect(),
        };
        let (wf, warnings) = documents::load(&sources).unwrap_or_else(|p| panic!("{p}"));
        assert!(warnings.is_empty(), "{warnings}");
        let (a, b) = (&wf.steps[0], &wf.steps[1]);
        assert_eq!((a.nodes, a.cores_per_task, a.namespace.as_str()), (1, 1, "default"));
        assert_eq!((b.nodes, b.cores_per_task, b.retry_failure), (2, 4, true));
        assert_eq!(b.command, Some(vec!["python".to_string(), "run.py".to_string()]));
        assert_eq!(b.environment.get("EPOCHS").map(String::as_str), Some("1"));
        assert!(b.properties.always_succeed, "properties may be a JSON string");
        assert_eq!(wf.name, "wf");
    }

    #[test]
    fn a_step_name_that_leaves_no_room_for_a_repeats_suffix_is_a_warning() {
        let spec = |name: &str| {
            format!(
                "apiVersion: state-machine.converged-computing.org/v1alpha1\nkind: StateMachine\nmetadata: {{name: wf}}\nspec:\n  workflow: {{completed: 1}}\n  cluster: {{maxSize: 1}}\n  jobs:\n  - {{name: {name}, image: x, script: echo}}\n"
            )
        };
        // `<step>-job-000000000` is 61 characters: it fits, `…-i1` would not.
        let long = "a".repeat(47);
        let (_, warnings) = from_manifest_text(&spec(&long), "m.yaml").unwrap_or_else(|p| panic!("{p}"));
        let text = warnings.to_string();
        assert!(text.contains("leaves no room in Job names") && text.contains("spec.jobs[0].name"), "{text}");
        let (_, warnings) = from_manifest_text(&spec(&"a".repeat(40)), "m.yaml").unwrap_or_else(|p| panic!("{p}"));
        assert!(warnings.is_empty(), "{warnings}");
    }
}
