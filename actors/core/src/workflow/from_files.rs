//! The original's workflow file + job files → [`Workflow`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde_json::Value;

use super::format::{CONFIG_ALIASES, Command, JobFile, Walltime, WorkflowFile};
use super::text::Sources;
use super::{KeyStyle, Origin, RegistrySettings, Step, Workflow, checks};
use crate::defaults;
use crate::validate::Problems;
use crate::validate::schema::{self, Mode};

/// The OpenAPI 3 schema of a file type, with every subschema inlined (the shape the CRD has).
pub fn file_schema<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
        })
        .into_generator();
    serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or(Value::Null)
}

/// Checks and parses a job file's document. Aliases in `config` are resolved first. The job
/// comes back whenever it could be read at all, with every problem found.
pub fn parse_job_file(mut doc: Value, file: &str) -> (Option<JobFile>, Problems) {
    let mut problems = Problems::new();
    if let Some(config) = doc.get_mut("config").and_then(Value::as_object_mut) {
        for (alias, key) in CONFIG_ALIASES {
            if let Some(value) = config.remove(*alias) {
                match config.get(*key) {
                    Some(existing) if existing != &value => problems.error(
                        file,
                        format!("config.{alias}"),
                        format!("conflicts with `config.{key}` ({existing}); `{alias}` is another spelling of `{key}`, keep one"),
                    ),
                    _ => {
                        config.insert(key.to_string(), value);
                    }
                }
            }
        }
    }
    let mut job_schema = file_schema::<JobFile>();
    // The original's job schema closed `registry` (inventory §2.2): a stray key there was an
    // error then too. Elsewhere it ignored unknown keys, so they are warnings.
    schema::close(&mut job_schema, "/properties/registry");
    schema::check(&mut doc, &job_schema, file, "", Mode::File, &mut problems);
    crate::validate::deserialize_checked(doc, file, "a job file", problems)
}

/// Checks and parses a workflow file's document (see [`parse_job_file`]).
pub fn parse_workflow_file(mut doc: Value, file: &str) -> (Option<WorkflowFile>, Problems) {
    let mut problems = Problems::new();
    let mut workflow_schema = file_schema::<WorkflowFile>();
    // The original's workflow schema closed `workflow`, `cluster` and `registry` (inventory
    // §2.1): stray keys there were errors then too. Its top level was open (a misplaced
    // `additionalProperties`), so unknown keys elsewhere are warnings.
    for pointer in ["/properties/workflow", "/properties/cluster", "/properties/registry"] {
        schema::close(&mut workflow_schema, pointer);
    }
    schema::check(&mut doc, &workflow_schema, file, "", Mode::File, &mut problems);
    crate::validate::deserialize_checked(doc, file, "a workflow file", problems)
}

/// A label-safe workflow name from a file's stem (or, for a generic file name, its directory's
/// name; see `smo_actors::source`): `sim` → `sim`, `My Run!` → `My-Run`.
pub fn clean_name(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut name: String = trimmed.chars().take(crate::names::MAX_LABEL).collect();
    name = name.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    if name.is_empty() { "workflow".into() } else { name }
}

impl Workflow {
    /// The workflow of a workflow file (`doc`, the single document of `sources.main`) and its
    /// job files (`sources.job_files`), or every problem found in any of them.
    pub fn from_files(doc: Value, sources: &Sources) -> Result<(Workflow, Problems), Problems> {
        let file = sources.main.label.clone();
        let (wf, mut problems) = parse_workflow_file(doc, &file);
        let Some(wf) = wf else { return Err(problems) };

        let mut steps = Vec::new();
        for (i, job) in wf.jobs.iter().enumerate() {
            let source = match sources.job_files.get(&job.config) {
                Some(Ok(source)) => source,
                Some(Err(why)) => {
                    problems.error(&file, format!("jobs[{i}].config"), format!("job file `{}` {why}", job.config));
                    continue;
                }
                None => {
                    problems.error(
                        &file,
                        format!("jobs[{i}].config"),
                        format!("job file `{}` was not read", job.config),
                    );
                    continue;
                }
            };
            let job_label = source.label.clone();
            let doc = match super::text::single(&source.text, &job_label) {
                Ok(d) => d,
                Err(p) => {
                    problems.extend(p);
                    continue;
                }
            };
            let (jf, found) = parse_job_file(doc, &job_label);
            problems.extend(found);
            if let Some(jf) = jf {
                let origin = Origin { file: job_label, base: String::new(), style: KeyStyle::File };
                steps.push(step_from_file(jf, origin, &mut problems));
            }
        }

        let completed = wf.workflow.completed.max(1) as u32;
        let registry = wf.registry.clone().unwrap_or_default();
        let workflow = Workflow {
            name: sources.name.clone(),
            namespace: None,
            completed,
            prefix: wf.workflow.prefix.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| defaults::JOB_PREFIX.into()),
            max_size: wf.cluster.max_size.clamp(1, i64::from(u32::MAX)) as u32,
            max_failures: wf
                .workflow
                .max_failures
                .map(|m| m.max(1) as u32)
                .unwrap_or_else(|| defaults::max_failures(completed)),
            rules: Vec::new(),
            steps,
            registry: RegistrySettings {
                host: registry.host.filter(|h| !h.is_empty()),
                plain_http: registry.plain_http.unwrap_or(true),
                filesystem: wf.filesystem.as_ref().and_then(|f| f.path.clone()).map(PathBuf::from),
            },
            workdir: wf.workdir.clone().map(PathBuf::from),
            suspended: false,
            shutdown: None,
        };
        let rules = checks::rules(&wf.workflow.events, &workflow, &file, "workflow.events", &mut problems);
        let workflow = Workflow { rules, ..workflow };
        // Cross-step checks (tags, names) would only add noise while a job file is missing.
        if workflow.steps.len() == wf.jobs.len() {
            checks::workflow(
                &workflow,
                &file,
                &checks::Paths { prefix: "workflow.prefix", steps: "jobs", name: "" },
                &mut problems,
            );
        }
        if problems.has_errors() { Err(problems) } else { Ok((workflow, problems)) }
    }
}

/// Turns a parsed job file into a step.
pub fn step_from_file(job: JobFile, origin: Origin, problems: &mut Problems) -> Step {
    let file = origin.file.clone();
    let c = &job.config;
    let walltime = match &c.walltime {
        None => Ok(None),
        Some(Walltime::Minutes(m)) => crate::walltime::from_minutes(*m),
        Some(Walltime::Text(t)) => crate::walltime::parse(t),
    }
    .map_err(|e| problems.error(&file, "config.walltime", e))
    .ok()
    .flatten();
    let command = c.command.as_ref().and_then(|cmd| {
        let line = match cmd {
            Command::Line(l) => l.clone(),
            Command::Words(w) => w.join(" "),
        };
        checks::split_command(&line, &file, "config.command", problems)
    });
    let entries: BTreeMap<String, Value> = match &job.properties {
        None => BTreeMap::new(),
        Some(Value::Object(map)) => map.clone().into_iter().collect(),
        Some(Value::String(text)) if text.trim().is_empty() => BTreeMap::new(),
        Some(Value::String(text)) => match serde_json::from_str::<BTreeMap<String, Value>>(text) {
            Ok(map) => map,
            Err(e) => {
                problems.error(&file, "properties", format!("is text but not a JSON object: {e}"));
                BTreeMap::new()
            }
        },
        Some(other) => {
            problems.error(
                &file,
                "properties",
                format!("must be a mapping (or a JSON object in a string), found {other}"),
            );
            BTreeMap::new()
        }
    };
    let properties = checks::properties(&entries, &file, "properties", problems);
    let environment = job
        .environment
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let text = super::properties::scalar_text(&v).unwrap_or_else(|| v.to_string());
            (k, text)
        })
        .collect();
    let registry = job.registry.unwrap_or_default();
    Step {
        name: job.name,
        nodes: c.nnodes.unwrap_or(i64::from(defaults::NODES)).clamp(1, i64::from(u32::MAX)) as u32,
        cores_per_task: c
            .cores_per_task
            .unwrap_or(i64::from(defaults::FILE_CORES_PER_TASK))
            .clamp(0, i64::from(u32::MAX)) as u32,
        gpus: c.ngpus.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        tasks: c.tasks.map(|t| t.clamp(1, i64::from(u32::MAX)) as u32),
        walltime,
        gpu_label: c.gpulabel.clone().filter(|g| !g.is_empty()).unwrap_or_else(|| defaults::GPU_LABEL.into()),
        pull_policy: c.pull_policy.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| defaults::PULL_POLICY.into()),
        retry_failure: c.retry_failure.unwrap_or(false),
        subdomain: Some(c.subdomain.clone().unwrap_or_else(|| defaults::SUBDOMAIN.into())).filter(|s| !s.is_empty()),
        command,
        image: job.image.filter(|i| !i.is_empty()),
        namespace: job.namespace.filter(|n| !n.is_empty()).unwrap_or_else(|| defaults::NAMESPACE.into()),
        workdir: job.workdir.filter(|w| !w.is_empty()).unwrap_or_else(|| defaults::WORKDIR.into()),
        properties,
        log_metrics: checks::log_metrics(
            job.events.as_ref().map(|e| e.metrics.as_slice()).unwrap_or_default(),
            &file,
            "events.metrics",
            problems,
        ),
        events_script: job.events.and_then(|e| e.script).filter(|s| !s.trim().is_empty()),
        push: registry.push.filter(|t| !t.is_empty()),
        pull: registry.pull.filter(|t| !t.is_empty()),
        registry_host: registry.host.filter(|h| !h.is_empty()),
        registry_plain_http: registry.plain_http,
        app_config: job.app_config,
        environment,
        script: job.script,
        pod_security: Default::default(),
        origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown_key_lines(problems: &Problems) -> Vec<String> {
        problems.0.iter().filter(|p| p.message.contains("unknown field")).map(ToString::to_string).collect()
    }

    #[test]
    fn unknown_keys_are_errors_only_where_the_original_refused_them() {
        let doc = serde_json::json!({
            "workflow": {"completed": 1, "extra": 1},
            "cluster": {"max_size": 2, "maxsize": 3},
            "registry": {"hots": "x"},
            "jobs": [{"config": "a.yaml", "note": "x"}],
            "comment": "the original ignored top-level keys",
        });
        let (parsed, problems) = parse_workflow_file(doc, "wf.yaml");
        assert!(parsed.is_some(), "{problems}");
        let lines = unknown_key_lines(&problems);
        for closed in ["workflow.extra", "cluster.maxsize", "registry.hots"] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("wf.yaml: {closed}: unknown field"))),
                "{closed}: {lines:?}"
            );
        }
        for open in ["jobs[0].note", "comment"] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("wf.yaml: {open}: warning: unknown field, ignored"))),
                "{open}: {lines:?}"
            );
        }
        assert_eq!(lines.len(), 5, "{lines:?}");

        let job = serde_json::json!({
            "name": "a", "config": {"nnodes": 1, "memory": "2G"}, "script": "echo", "owner": "me",
            "registry": {"push": "a", "pul": "b"},
        });
        let (parsed, problems) = parse_job_file(job, "a.yaml");
        assert!(parsed.is_some(), "{problems}");
        let lines = unknown_key_lines(&problems);
        assert!(
            lines.iter().any(|l| l.starts_with("a.yaml: registry.pul: unknown field (did you mean `pull`?)")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("a.yaml: config.memory: warning: unknown field, ignored")),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l.starts_with("a.yaml: owner: warning: unknown field, ignored")), "{lines:?}");
        assert_eq!(lines.len(), 3, "{lines:?}");
    }
}
