//! Checks of a workflow's step images made before its run starts, so that what would fail
//! only after the first job (or silently) is named in the resource's status up front.
//!
//! One check today: a step with `events.script` (the original's `parse_log`) runs it in its own
//! Pod with the step image's `python3` ([`crate::step_metrics`]). For each image such steps
//! use, one small Job runs `python3` from that image, in the workflow's namespace, with the
//! step's own Pod security and no ServiceAccount token; without `python3` on the image's PATH
//! the container cannot start and the Job fails.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::json;

use crate::error::{Error, Result};
use crate::labels;
use crate::workflow::{Step, Workflow};

/// Label on a preflight Job naming its workflow (not [`labels::WORKFLOW`]: it is no step job,
/// and the workflow's watch must never take it for one).
pub const LABEL: &str = "state-machine.converged-computing.org/preflight";

/// How long a preflight Pod may run (pulling its image included).
pub const DEADLINE_SECONDS: i64 = 300;

/// One image to check for `python3`, the steps that need it there, and the Job that checks.
#[derive(Clone, Debug, PartialEq)]
pub struct PythonCheck {
    /// The step image.
    pub image: String,
    /// The steps with `events.script` that run with it.
    pub steps: Vec<String>,
    /// The Job that runs `python3` from it.
    pub job: Job,
}

/// The checks `workflow` needs in `namespace`, one per image of its steps with
/// `events.script` (none when no step has one), each Job owned by `owner`.
pub fn python_checks(workflow: &Workflow, namespace: &str, owner: Option<&OwnerReference>) -> Result<Vec<PythonCheck>> {
    let mut by_image: BTreeMap<&str, Vec<&Step>> = BTreeMap::new();
    for step in workflow.steps.iter().filter(|s| s.events_script.is_some()) {
        by_image.entry(step.image.as_deref().unwrap_or_default()).or_default().push(step);
    }
    by_image
        .into_iter()
        .map(|(image, steps)| {
            let job = python_job(workflow, namespace, image, steps[0], owner)?;
            Ok(PythonCheck { image: image.to_string(), steps: steps.iter().map(|s| s.name.clone()).collect(), job })
        })
        .collect()
}

/// The Job that runs `python3` from `image` with the Pod security of `step`.
fn python_job(
    workflow: &Workflow,
    namespace: &str,
    image: &str,
    step: &Step,
    owner: Option<&OwnerReference>,
) -> Result<Job> {
    let name = job_name(&workflow.name, image);
    let labels = BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (LABEL.to_string(), label_value(&workflow.name)),
    ]);
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": name, "namespace": namespace, "labels": labels,
            "ownerReferences": owner.map(|o| vec![o]).unwrap_or_default(),
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": 60,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "nodeSelector": step.properties.node_selector,
                    "securityContext": step.pod_security.pod_context(),
                    "containers": [{
                        "name": "python3",
                        "image": image,
                        "imagePullPolicy": step.pull_policy,
                        // No shell: the runtime itself looks python3 up on the image's PATH.
                        "command": ["python3", "-c", "pass"],
                        "securityContext": step.pod_security.container_context(),
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }],
                },
            },
        },
    });
    serde_json::from_value(job)
        .map_err(|e| Error::Serialize { what: format!("the preflight Job {namespace}/{name}"), source: e })
}

/// `<workflow>-python-<hash of the image>`, at most 63 characters (the Job controller puts the
/// name in a label).
fn job_name(workflow: &str, image: &str) -> String {
    let hash = crate::names::stable_seed(image) % 0xff_ffff;
    let mut head: String = workflow.chars().take(45).collect();
    head = head.trim_end_matches(['-', '.']).to_string();
    format!("{head}-python-{hash:06x}")
}

/// A workflow name as a label value (at most 63 characters).
fn label_value(workflow: &str) -> String {
    workflow.chars().take(63).collect::<String>().trim_end_matches(['-', '.']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::{step, workflow};
    use crate::pod_security::{Level, PodSecurity, violations};

    #[test]
    fn one_check_per_image_of_the_steps_that_run_parse_log() {
        let mut a = step("a");
        a.events_script = Some("def parse_log(lines): return {}".into());
        let mut b = step("b");
        b.events_script = a.events_script.clone();
        let mut c = step("c");
        c.events_script = a.events_script.clone();
        c.image = Some("python:3".into());
        let plain = step("d");
        let wf = workflow(vec![a, b, c, plain]);
        let owner = OwnerReference { name: "wf".into(), uid: "u".into(), ..OwnerReference::default() };
        let checks = python_checks(&wf, "team-a", Some(&owner)).expect("checks");
        let found: Vec<(&str, Vec<&str>)> =
            checks.iter().map(|c| (c.image.as_str(), c.steps.iter().map(String::as_str).collect())).collect();
        assert_eq!(found, [("python:3", vec!["c"]), ("rockylinux:9", vec!["a", "b"])]);
        assert!(python_checks(&workflow(vec![step("d")]), "ns", None).expect("checks").is_empty());

        let job = &checks[1].job;
        assert_eq!(job.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(job.metadata.owner_references.as_ref().map(|o| o[0].uid.as_str()), Some("u"));
        let labels = job.metadata.labels.clone().unwrap_or_default();
        assert!(!labels.contains_key(labels::WORKFLOW), "no step job: {labels:?}");
        assert_eq!(labels.get(LABEL).map(String::as_str), Some("state-machine"));
        let spec = job.spec.as_ref().expect("spec");
        assert_eq!(spec.backoff_limit, Some(0));
        let pod = spec.template.spec.as_ref().expect("pod");
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.containers[0].image.as_deref(), Some("rockylinux:9"));
        assert_eq!(
            pod.containers[0].command.as_deref(),
            Some(&["python3".to_string(), "-c".into(), "pass".into()][..])
        );
        assert!(violations(pod, Level::Baseline).is_empty(), "{:?}", violations(pod, Level::Baseline));
    }

    #[test]
    fn the_check_runs_with_the_steps_own_pod_security_and_a_short_name() {
        let mut a = step("a");
        a.events_script = Some("def parse_log(lines): return {}".into());
        a.pod_security = PodSecurity::Restricted;
        let mut wf = workflow(vec![a]);
        wf.name = "a-very-long-workflow-name-that-goes-on-and-on-and-on-for-ever".into();
        let checks = python_checks(&wf, "ns", None).expect("checks");
        let job = &checks[0].job;
        let name = job.metadata.name.clone().unwrap_or_default();
        assert!(name.len() <= 63 && name.contains("-python-"), "{name}");
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod");
        assert!(violations(pod, Level::Restricted).is_empty(), "{:?}", violations(pod, Level::Restricted));
    }
}
