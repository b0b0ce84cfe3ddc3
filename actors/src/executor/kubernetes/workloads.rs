//! The custom workloads a step can ask for — a JobSet (`jobset` property) or a Flux Operator
//! MiniCluster (`minicluster`) — as dynamic API objects.
//!
//! Their controllers create a `batch/v1` Job that carries the step job's labels (a JobSet's child
//! Job `<name>-jobset-0`, a MiniCluster's Job `<name>`), and that Job is what the executor
//! watches, as for a plain Job. The custom object itself is created, found again on restore
//! (while its controller has not made the Job yet) and deleted with the step job.
//!
//! Their CRDs are checked before the run starts: a cluster without them gets one error naming the
//! step, the API and what to install, not a sequence failure per submission.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use smo_core::jobs::{JOBSET_API_VERSION, MINICLUSTER_API_VERSION};
use smo_core::workflow::{Workflow, WorkloadKind};

use super::api::with_retries;
use crate::{Error, Result};

/// One custom workload kind.
#[derive(Clone, Debug)]
pub struct CustomWorkload {
    /// The kind as the workflow names it.
    pub kind: WorkloadKind,
    /// Its API resource (`jobsets` / `miniclusters`).
    pub resource: ApiResource,
}

impl CustomWorkload {
    /// The custom kind of `kind` (None for a plain Job).
    pub fn of(kind: WorkloadKind) -> Option<Self> {
        let (api_version, name) = match kind {
            WorkloadKind::Job => return None,
            WorkloadKind::JobSet => (JOBSET_API_VERSION, "JobSet"),
            WorkloadKind::MiniCluster => (MINICLUSTER_API_VERSION, "MiniCluster"),
        };
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        Some(CustomWorkload { kind, resource: ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, name)) })
    }

    /// Every custom kind the workflow's steps use, each once.
    pub fn used_by(workflow: &Workflow) -> Vec<Self> {
        let mut kinds: Vec<WorkloadKind> = Vec::new();
        for kind in workflow.steps.iter().map(|s| s.properties.workload) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds.into_iter().filter_map(Self::of).collect()
    }

    /// The API of this kind in `namespace`.
    pub fn api(&self, client: Client, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(client, namespace, &self.resource)
    }

    /// What to install for this kind, and the step property that asks for it.
    fn install_hint(&self) -> (&'static str, &'static str) {
        match self.kind {
            WorkloadKind::JobSet => ("jobset", "JobSet v0.4.0 or later (https://jobset.sigs.k8s.io)"),
            WorkloadKind::MiniCluster | WorkloadKind::Job => {
                ("minicluster", "the Flux Operator (https://flux-framework.org/flux-operator)")
            }
        }
    }
}

/// Checks that the cluster serves every custom kind the workflow's steps use.
pub async fn check_installed(client: &Client, workflow: &Workflow) -> Result<()> {
    for custom in CustomWorkload::used_by(workflow) {
        let resource = &custom.resource;
        let served = match with_retries(|| client.list_api_group_resources(&resource.api_version)).await {
            Ok(list) => list.resources.iter().any(|r| r.name == resource.plural),
            // A group version nobody serves answers a bare `404 page not found`.
            Err(kube::Error::Api(status)) if status.code == 404 => false,
            Err(e) => {
                return Err(Error::kube(format!("ask the cluster whether it serves {}", resource.api_version), e));
            }
        };
        if !served {
            let steps: Vec<&str> = workflow
                .steps
                .iter()
                .filter(|s| s.properties.workload == custom.kind)
                .map(|s| s.name.as_str())
                .collect();
            let (property, install) = custom.install_hint();
            return Err(Error::ApiNotServed(format!(
                "step `{}` runs as a {} (property `{property}`), but the cluster serves no {} in {}: install {install}, or remove the property",
                steps.join("`, `"),
                resource.kind,
                resource.plural,
                resource.api_version,
            )));
        }
    }
    Ok(())
}
