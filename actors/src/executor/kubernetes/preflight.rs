//! The checks made before a workflow's run:
//!
//! * [`check_fit`]: every step's Pod fits on some node ([`smo_core::fit`]), from the nodes'
//!   allocatable resources. Reading nodes is a cluster-wide right that a namespaced install
//!   cannot grant (a Role cannot name nodes): where it is refused, or the read fails, the check
//!   is skipped and the scheduler's report on a waiting Pod says the rest.
//! * [`check_python`]: the checks of [`smo_core::preflight`], each a Job that is created,
//!   watched until it ends (or its Pod cannot start by waiting), and deleted.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ListParams;
use kube::{Api, Client};
use smo_core::fit;
use smo_core::preflight::{self, PythonCheck};
use smo_core::workflow::Workflow;

use super::api::{create_unless_exists, delete, with_retries};
use crate::Result;

/// How often a check's Job is looked at.
const POLL: Duration = Duration::from_secs(1);

/// Why a workflow cannot start: a reason for its `Ready` condition and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `StepDoesNotFit`, `Python3Missing`, `StepImageUnavailable`.
    pub reason: &'static str,
    /// What is wrong and how to fix it, naming the steps and the image.
    pub message: String,
}

/// Refuses `workflow` when a step asks for more per Pod than any schedulable node has
/// (reason `StepDoesNotFit`, the steps with the numbers); `None` when every step fits or the
/// nodes cannot be read (see the module docs).
pub async fn check_fit(client: &Client, workflow: &Workflow) -> Option<Refusal> {
    let (nodes, all): (Api<Node>, _) = (Api::all(client.clone()), ListParams::default());
    let listed = match with_retries(|| nodes.list(&all)).await {
        Ok(listed) => listed.items,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            tracing::debug!(reason = %status.message, "may not read the cluster's nodes; the steps' fit is not checked");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the cluster's nodes; the steps' fit is not checked");
            return None;
        }
    };
    let misfits = fit::misfits(workflow, &fit::rooms(&listed));
    if misfits.is_empty() {
        return None;
    }
    let said: Vec<String> = misfits.iter().map(ToString::to_string).collect();
    Some(Refusal {
        reason: "StepDoesNotFit",
        message: format!(
            "{}: no node can ever take such a Pod; ask for fewer cores per task or GPUs (a StateMachine step \
             without `config` asks for 6 cores, as the original's did), or add a node that has them",
            said.join("; ")
        ),
    })
}

/// Checks that every image of `workflow`'s steps with `events.script` has `python3`; `Ok(None)`
/// when all do (or no step needs it), `Ok(Some(refusal))` when one does not. A check that
/// cannot conclude in time lets the run start (a step without `python3` then reports no
/// metrics, with a warning).
pub async fn check_python(
    client: &Client,
    namespace: &str,
    workflow: &Workflow,
    owner: &OwnerReference,
) -> Result<Option<Refusal>> {
    let checks = preflight::python_checks(workflow, namespace, Some(owner))?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for check in &checks {
        let name = check.job.metadata.name.clone().unwrap_or_default();
        let what = format!("the preflight Job {namespace}/{name}");
        // A Job of that name left from an earlier attempt may have ended already: start afresh.
        delete(&jobs, &name, &what).await?;
        wait_gone(&jobs, &name).await;
        create_unless_exists(&jobs, &check.job, &what).await?;
        let outcome = outcome(&jobs, &pods, &name).await;
        delete(&jobs, &name, &what).await?;
        match outcome {
            Outcome::Found => tracing::info!(image = %check.image, "the step image has python3"),
            Outcome::Missing(detail) => return Ok(Some(missing(check, &detail))),
            Outcome::CannotStart(problem) => {
                return Ok(Some(Refusal {
                    reason: "StepImageUnavailable",
                    message: format!(
                        "step(s) {}: cannot check their image {} for python3: {problem}",
                        check.steps.join(", "),
                        check.image
                    ),
                }));
            }
            Outcome::Unknown(why) => {
                tracing::warn!(image = %check.image, %why, "could not check the step image for python3; the run starts all the same")
            }
        }
    }
    Ok(None)
}

fn missing(check: &PythonCheck, detail: &str) -> Refusal {
    Refusal {
        reason: "Python3Missing",
        message: format!(
            "step(s) {} run events.script (parse_log) in their own Pod with python3 from their image {}, which has \
             none ({detail}): use an image with python3 on its PATH, or drop events.script",
            check.steps.join(", "),
            check.image
        ),
    }
}

/// How a check ended.
enum Outcome {
    Found,
    Missing(String),
    CannotStart(String),
    Unknown(String),
}

/// Waits for Job `name` to end; reads why from its Pod when it failed.
async fn outcome(jobs: &Api<Job>, pods: &Api<Pod>, name: &str) -> Outcome {
    let started = Instant::now();
    let patience = Duration::from_secs(preflight::DEADLINE_SECONDS as u64 + 30);
    let own_pods = ListParams::default().labels(&format!("job-name={name}"));
    while started.elapsed() < patience {
        tokio::time::sleep(POLL).await;
        let listed = with_retries(|| pods.list(&own_pods)).await.map(|l| l.items).unwrap_or_default();
        // The runtime refuses to start a command it cannot find: that is the answer.
        if let Some(detail) = listed.iter().find_map(not_found) {
            return Outcome::Missing(detail);
        }
        if let Some(problem) = listed.iter().find_map(smo_core::registry::pod_problem) {
            return Outcome::CannotStart(problem);
        }
        let Ok(job) = with_retries(|| jobs.get(name)).await else { continue };
        let status = job.status.unwrap_or_default();
        if status.succeeded.unwrap_or(0) > 0 {
            return Outcome::Found;
        }
        if status.failed.unwrap_or(0) > 0 {
            let detail = listed.iter().find_map(terminated).unwrap_or_else(|| "the check failed".into());
            return Outcome::Missing(detail);
        }
    }
    Outcome::Unknown(format!("the check did not end within {}s", patience.as_secs()))
}

/// The container's own words when the runtime could not find `python3` in the image.
fn not_found(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status.container_statuses.iter().flatten().find_map(|c| {
        let state = c.state.as_ref()?;
        let message = match (&state.waiting, &state.terminated) {
            (Some(w), _) => w.message.clone(),
            (_, Some(t)) => t.message.clone(),
            _ => None,
        }?;
        let lower = message.to_lowercase();
        (lower.contains("python3") && (lower.contains("not found") || lower.contains("no such file")))
            .then(|| message.trim().to_string())
    })
}

/// How the check's container ended, in a few words.
fn terminated(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status.container_statuses.iter().flatten().find_map(|c| {
        let t = c.state.as_ref()?.terminated.as_ref()?;
        let words = t.message.as_deref().or(t.reason.as_deref()).unwrap_or("failed");
        Some(format!("python3 exited {}: {}", t.exit_code, words.trim()))
    })
}

/// Waits (a little) until Job `name` is gone, so that one of the same name can be created.
async fn wait_gone(jobs: &Api<Job>, name: &str) {
    for _ in 0..30 {
        match jobs.get_opt(name).await {
            Ok(None) => return,
            Ok(Some(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
