//! Checks shared by both input forms: they see the typed [`Workflow`] and report problems under
//! the path each field had in its own file.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Step, StepProperties, Workflow, properties};
use crate::api::RuleSpec;
use crate::names::{self, JobId};
use crate::rules::{Action, MetricRef, Rule};
use crate::validate::Problems;

/// Splits a container command like a shell would.
pub fn split_command(command: &str, file: &str, path: &str, problems: &mut Problems) -> Option<Vec<String>> {
    match shlex::split(command) {
        Some(words) if !words.is_empty() => Some(words),
        Some(_) => {
            problems.error(file, path, "is empty; remove it to use `/bin/bash /workdir/entrypoint.sh`");
            None
        }
        None => {
            problems.error(file, path, format!("`{command}` does not split into words (unbalanced quote?)"));
            None
        }
    }
}

/// Parses step properties, reporting under `path`.
pub fn properties(
    entries: &BTreeMap<String, Value>,
    file: &str,
    path: &str,
    problems: &mut Problems,
) -> StepProperties {
    let (props, issues) = properties::parse(entries);
    for issue in issues {
        let at = crate::validate::schema::join(path, &issue.key);
        if issue.warning {
            problems.warn(file, at, issue.message);
        } else {
            problems.error(file, at, issue.message);
        }
    }
    props
}

/// Checks and converts log metric extractors.
pub fn log_metrics(
    specs: &[crate::api::LogMetricSpec],
    file: &str,
    path: &str,
    problems: &mut Problems,
) -> Vec<super::LogMetric> {
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let mut ok = true;
        if spec.key.is_empty() || spec.key.contains('.') {
            problems.error(
                file,
                format!("{at}.key"),
                "must be a non-empty name without dots (rules read `<model>.<step>.<key>`)",
            );
            ok = false;
        }
        let pattern = match super::Pattern::new(&spec.pattern) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.error(file, format!("{at}.pattern"), e);
                ok = false;
                None
            }
        };
        let reduce = match spec.reduce.as_deref() {
            None => super::Reduce::Last,
            Some(name) => match super::Reduce::ALL.iter().find(|(n, _)| *n == name) {
                Some((_, r)) => *r,
                None => {
                    let names: Vec<&str> = super::Reduce::ALL.iter().map(|(n, _)| *n).collect();
                    problems.error(
                        file,
                        format!("{at}.reduce"),
                        format!("unknown reduction `{name}`; allowed: {}", names.join(", ")),
                    );
                    ok = false;
                    super::Reduce::Last
                }
            },
        };
        if let (true, Some(pattern)) = (ok, pattern) {
            out.push(super::LogMetric { key: spec.key.clone(), pattern, reduce });
        }
    }
    out
}

/// Parses the rules of a workflow and checks that each names a known step.
pub fn rules(specs: &[RuleSpec], workflow: &Workflow, file: &str, base: &str, problems: &mut Problems) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("{base}[{i}]");
        let unknown_step = MetricRef::parse(&spec.metric).ok().filter(|m| workflow.step(&m.step).is_none());
        if let Some(metric) = &unknown_step {
            let names: Vec<&str> = workflow.steps.iter().map(|s| s.name.as_str()).collect();
            problems.error(
                file,
                format!("{at}.metric"),
                format!(
                    "names step `{}`, which the workflow does not have{}; steps: {}",
                    metric.step,
                    crate::validate::did_you_mean(&metric.step, names.iter().copied()),
                    names.join(", ")
                ),
            );
        }
        match Rule::parse(spec) {
            Ok(_) if unknown_step.is_some() => {}
            Ok(rule) => {
                if let Some(warning) = unreachable_metric(&rule.metric, workflow) {
                    problems.warn(file, format!("{at}.metric"), warning);
                }
                if rule.action == Action::Grow
                    && let Some(max) = rule.max_size.filter(|m| *m > workflow.max_size)
                {
                    problems.warn(
                        file,
                        format!("{at}.maxSize"),
                        format!(
                            "{max} is above cluster maxSize {}; grow stops at {}",
                            workflow.max_size, workflow.max_size
                        ),
                    );
                }
                rules.push(rule);
            }
            Err(errors) => {
                for e in errors {
                    problems.error(file, format!("{at}.{}", e.field), e.message);
                }
            }
        }
    }
    rules
}

/// Where a workflow's top-level fields are in its file, for messages.
pub struct Paths<'a> {
    /// The job id prefix (`spec.workflow.prefix`).
    pub prefix: &'a str,
    /// The list of steps (`spec.jobs`).
    pub steps: &'a str,
    /// What names the workflow (`metadata.name`, or the file itself).
    pub name: &'a str,
}

/// Why a rule's metric can never have a value, if it cannot.
fn unreachable_metric(metric: &MetricRef, workflow: &Workflow) -> Option<String> {
    let step = workflow.step(&metric.step)?;
    let key = metric.key.as_str();
    let counter = matches!(key, "success" | "failure");
    if counter && metric.model != crate::stats::Model::Count {
        return Some(format!(
            "`{key}` is a counter with no samples, so `{}` never has a value; use `count.{}.{key}`",
            metric.model, metric.step
        ));
    }
    let custom: Vec<&str> = step.log_metrics.iter().map(|m| m.key.as_str()).collect();
    if counter || key == "duration" || custom.contains(&key) || step.events_script.is_some() {
        return None;
    }
    let mut known = vec!["success", "failure", "duration"];
    known.extend(custom);
    // The original CRD's documentation spelled the failure counter `failed`.
    let hint = if key == "failed" {
        " (did you mean `failure`?)".to_string()
    } else {
        crate::validate::did_you_mean(key, known.iter().copied())
    };
    Some(format!(
        "step `{}` produces no metric `{key}`{hint}; it has: {} (add `events.metrics` or `events.script` for custom keys)",
        metric.step,
        known.join(", ")
    ))
}

/// Cross-field checks of a whole workflow.
pub fn workflow(workflow: &Workflow, file: &str, paths: &Paths, problems: &mut Problems) {
    let Paths { prefix: prefix_path, steps: steps_path, name: name_path } = *paths;
    if let Err(e) = names::check_prefix(&workflow.prefix) {
        problems.error(file, prefix_path, e);
    }
    if let Err(e) = names::check_label_value(&workflow.name) {
        problems.error(file, name_path, format!("`{}` names the workflow label of every Job and {e}", workflow.name));
    }
    let namespaces: BTreeSet<&str> = workflow.steps.iter().map(|s| s.namespace.as_str()).collect();
    if namespaces.len() > 1 {
        let list: Vec<&str> = namespaces.into_iter().collect();
        problems.warn(
            file,
            steps_path,
            format!("steps use different namespaces ({}); one workflow normally lives in one", list.join(", ")),
        );
    }
    if workflow.steps.is_empty() {
        problems.error(file, steps_path, "at least one step is required");
    }
    let example = JobId::new(format!("{}{}", workflow.prefix, "0".repeat(crate::defaults::JOB_ID_DIGITS)));
    let mut seen = BTreeSet::new();
    let mut pushed: Vec<&str> = Vec::new();
    for step in &workflow.steps {
        check_step(step, workflow, &example, &mut seen, &pushed, problems);
        if let Some(tag) = &step.push {
            pushed.push(tag);
        }
    }
}

/// Renders a step's script once with placeholder values, so that a template that compiles but
/// can never render (`{{ config.nnodes }}`) fails validation instead of every job.
fn render_once(step: &Step, example: &JobId) -> Result<(), String> {
    let vars = step.template_vars(example, step.nodes, &step.workdir, "/workdir/app-config");
    crate::template::render(&step.script, &vars).map(|_| ())
}

fn check_step<'a>(
    step: &'a Step,
    workflow: &Workflow,
    example: &JobId,
    seen: &mut BTreeSet<&'a str>,
    pushed: &[&str],
    problems: &mut Problems,
) {
    let file = step.origin.file.as_str();
    let name_path = step.origin.path("name");
    if step.name.is_empty() {
        problems.error(file, name_path, "is required");
        return;
    }
    if !seen.insert(step.name.as_str()) {
        problems.error(file, &name_path, format!("step `{}` is declared twice; step names must be unique", step.name));
    } else if let Some(other) = workflow
        .steps
        .iter()
        .take_while(|s| !std::ptr::eq(*s, step))
        .find(|s| s.name != step.name && names::dashed(&s.name) == names::dashed(&step.name))
    {
        problems.error(
            file,
            &name_path,
            format!(
                "step `{}` and step `{}` both make Job names `{}-…`; rename one",
                other.name,
                step.name,
                names::dashed(&step.name)
            ),
        );
    }
    if let Err(e) = names::check_label_value(&step.name) {
        problems.error(file, &name_path, e);
    } else if let Err(e) = names::check_dns_label(&names::job_name(&step.name, example)) {
        problems.error(
            file,
            &name_path,
            format!("makes Job names like `{}` that {e}", names::job_name(&step.name, example)),
        );
    } else if let Err(e) = names::check_dns_label(&format!("{}-i9", names::job_name(&step.name, example))) {
        // A repeat's Job is `<name>-<attempt>`, one resubmitted after an infrastructure failure
        // `<name>-i<n>`: the first attempt fits, those would not.
        problems.warn(
            file,
            &name_path,
            format!(
                "leaves no room in Job names like `{}` for the suffix of a repeat (`-2`) or of a job resubmitted after an infrastructure failure (`-i1`): such names {e}; shorten the step name",
                names::job_name(&step.name, example)
            ),
        );
    }
    if step.properties.workload == super::WorkloadKind::JobSet {
        // JobSet pods are named `<job>-jobset-0-<index>-<suffix>`; their hostname
        // `<job>-jobset-0-<index>` must fit a DNS label.
        let host = format!("{}-jobset-0-{}", names::job_name(&step.name, example), step.nodes.saturating_sub(1));
        if host.len() > names::MAX_LABEL {
            problems.error(
                file,
                &name_path,
                format!(
                    "is too long for a JobSet step: its pods get hostnames like `{host}` ({} characters, at most {})",
                    host.len(),
                    names::MAX_LABEL
                ),
            );
        }
    }
    if let Err(e) = names::check_dns_label(&step.namespace) {
        problems.error(file, step.origin.path("namespace"), format!("`{}` {e}", step.namespace));
    }
    if step.nodes > workflow.max_size {
        // The original used maxSize only to size how many sequences start (inventory §3.5); it
        // never refused a larger step, and its own workflows have such steps. So this runs:
        // say how, instead of refusing it.
        let max_size = match step.origin.style {
            super::KeyStyle::Crd => "cluster.maxSize",
            super::KeyStyle::File => "cluster.max_size",
        };
        let first = workflow.steps.first().is_some_and(|s| std::ptr::eq(s, step));
        problems.warn(
            file,
            step.origin.path("config.nodes"),
            format!(
                "{} nodes are more than {max_size} ({}): on Kubernetes the job is submitted with {} nodes as asked; \
                 a local run gives it all {} node slots while it runs{}; lower `config.nodes` or raise `{max_size}` \
                 if that is not meant",
                step.nodes,
                workflow.max_size,
                step.nodes,
                workflow.max_size,
                if first { " (and, as the first step, one sequence starts at a time)" } else { "" },
            ),
        );
    }
    for (key, tag) in [("registry.push", &step.push), ("registry.pull", &step.pull)] {
        if let Some(tag) = tag
            && let Err(e) = names::check_oci_tag(tag)
        {
            problems.error(file, step.origin.path(key), format!("`{tag}` {e}"));
        }
    }
    if let Some(tag) = &step.pull
        && !pushed.contains(&tag.as_str())
    {
        let before = if pushed.is_empty() {
            "no earlier step pushes anything".to_string()
        } else {
            format!("pushed before: {}", pushed.join(", "))
        };
        // Not an error: the step's own application may push the tag (a real science workflow of
        // the original does), and the original ran such steps. If nothing pushes it, the pull
        // fails when the job runs and the job fails with a message naming the artifact.
        problems.warn(
            file,
            step.origin.path("registry.pull"),
            format!(
                "tag `{tag}` is not pushed by an earlier step ({before}); the job's pull fails unless the \
                 application pushes `<jobid>:{tag}` itself before this step runs"
            ),
        );
    }
    for key in step.environment.keys() {
        if key.is_empty() || key.contains('=') || key.chars().any(char::is_whitespace) {
            problems.error(
                file,
                step.origin.path(&format!("environment[{key:?}]")),
                "is not a valid environment variable name",
            );
        }
    }
    if step.script.trim().is_empty() {
        problems.warn(file, step.origin.path("script"), "is empty; the step only moves artifacts");
    }
    if let Err(e) = crate::template::check(&step.script) {
        problems.error(file, step.origin.path("script"), e);
    } else if let Err(e) = render_once(step, example) {
        problems.error(file, step.origin.path("script"), format!("cannot be rendered: {e}"));
    }
}
