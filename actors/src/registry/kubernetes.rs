//! The ephemeral registry of a `StateMachine` without `registry.host`: its StatefulSet and
//! Service (built by the core's [`smo_core::registry`]) are created unless they exist,
//! and the registry is ready when it answers the distribution API at the Service's ClusterIP.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Api, Client};
use smo_core::api::RegistrySpec;
use smo_core::registry;

use super::wait_ready;
use crate::executor::kubernetes::api::{create, with_retries};
use crate::{Error, Result};

/// Creates the workflow's registry unless it exists and waits up to `patience` for it to
/// answer; returns its address (`<ClusterIP>:5000`, plain HTTP).
pub async fn ensure(
    client: &Client,
    namespace: &str,
    workflow: &str,
    spec: &RegistrySpec,
    owner: &OwnerReference,
    patience: Duration,
) -> Result<String> {
    let (statefulset, service) = registry::objects(workflow, namespace, spec, Some(owner))?;
    let name = service.metadata.name.clone().unwrap_or_default();
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    create(&services, &service, &format!("Service {namespace}/{name}")).await?;
    create(&sets, &statefulset, &format!("StatefulSet {namespace}/{name}")).await?;
    let ip = with_retries(|| services.get(&name))
        .await
        .map_err(|e| Error::Executor(format!("cannot read the registry Service {namespace}/{name}: {e}")))?
        .spec
        .and_then(|s| s.cluster_ip)
        .filter(|ip| !ip.is_empty() && ip != "None")
        .ok_or_else(|| Error::Executor(format!("the registry Service {namespace}/{name} has no ClusterIP")))?;
    let host = format!("{ip}:{}", registry::PORT);
    tracing::info!(%host, statefulset = %name, image = %spec.image, "waiting for the workflow's registry");
    wait_ready(&host, true, patience).await.map_err(|e| {
        Error::Executor(format!(
            "{e} (the registry StatefulSet {namespace}/{name} runs image {}; `kubectl -n {namespace} describe pod {name}-0` says why it is not ready)",
            spec.image
        ))
    })?;
    Ok(host)
}
