//! The ephemeral registry of a `StateMachine` without `registry.host`: its StatefulSet and
//! Service (built by the core's [`smo_core::registry`]) are created unless they exist,
//! and the registry is ready when it answers the distribution API at the Service's ClusterIP.
//!
//! * Its credentials Secret is made first, once, with a password generated here; a Secret of
//!   that name is never read, so the operator needs no right to read Secrets.
//! * The registry is ready when its Pod is (its readiness probe answered) and the Service's
//!   ClusterIP answers too.
//! * A registry Pod that cannot become ready by waiting (its image cannot be pulled, its
//!   container keeps crashing, no node fits it: [`smo_core::registry::pod_problem`]) ends the
//!   wait within seconds with the Pod's own reason and the image, so the resource's status says
//!   so at once instead of after the whole patience.
//! * A StatefulSet left from an earlier attempt that runs another image than the spec now asks
//!   for (the resource was edited, or the operator's `--registry-image` changed) and has no
//!   ready replica is replaced: the StatefulSet controller would not replace a Pod that never
//!   became ready. A ready registry is never touched (it holds the workflow's artifacts).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, PropagationPolicy};
use kube::{Api, Client};
use smo_core::api::RegistrySpec;
use smo_core::registry;

use super::probe;
use crate::executor::kubernetes::api::{create, create_unless_exists, with_retries};
use crate::{Error, Result};

/// How often the registry's Pod is looked at while the registry does not answer.
const POD_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Length of a generated registry password (alphanumeric: about 190 bits).
const PASSWORD_LENGTH: usize = 32;

/// bcrypt cost of the htpasswd line: the lowest, because the registry checks it on every request
/// and a random 32-character password needs no slow hash to resist guessing.
const BCRYPT_COST: u32 = 4;

/// The workflow's own registry, once it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// `<ClusterIP>:5000`, plain HTTP.
    pub host: String,
    /// The Secret with its credentials, for the step Pods to read.
    pub credentials: String,
}

/// Creates the workflow's registry unless it exists and waits up to `patience` for it to
/// answer. Its NetworkPolicy admits the operator's Pods in `operator_namespace`.
pub async fn ensure(
    client: &Client,
    namespace: &str,
    workflow: &str,
    spec: &RegistrySpec,
    owner: &OwnerReference,
    operator_namespace: &str,
    patience: Duration,
) -> Result<Ready> {
    let registry::Objects { statefulset, service, network_policy } =
        registry::objects(workflow, namespace, spec, Some(owner), operator_namespace)?;
    let name = service.metadata.name.clone().unwrap_or_default();
    let image = spec.image.as_deref().unwrap_or(smo_core::defaults::REGISTRY_IMAGE);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let credentials = registry::credentials_name(workflow, spec);
    let password =
        rand::distr::SampleString::sample_string(&rand::distr::Alphanumeric, &mut rand::rng(), PASSWORD_LENGTH);
    let hash = bcrypt::hash(&password, BCRYPT_COST)
        .map_err(|e| Error::Credentials(format!("cannot hash the password: {e}")))?;
    let secret = registry::credentials_secret(
        workflow,
        namespace,
        spec,
        Some(owner),
        &password,
        &format!("{}:{hash}", registry::USERNAME),
    )?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    create_unless_exists(&secrets, &secret, &format!("Secret {namespace}/{credentials}")).await?;
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), namespace);
    create_unless_exists(&policies, &network_policy, &format!("NetworkPolicy {namespace}/{name}")).await?;
    create(&services, &service, &format!("Service {namespace}/{name}")).await?;
    let what = format!("StatefulSet {namespace}/{name}");
    create(&sets, &statefulset, &what).await?;
    replace_if_stale(&sets, &statefulset, &name, image, &what).await?;
    let ip = with_retries(|| services.get(&name))
        .await
        .map_err(|e| Error::kube(format!("read the registry Service {namespace}/{name}"), e))?
        .spec
        .and_then(|s| s.cluster_ip)
        .filter(|ip| !ip.is_empty() && ip != "None")
        .ok_or_else(|| {
            Error::RegistryUnavailable(format!("the registry Service {namespace}/{name} has no ClusterIP"))
        })?;
    let host = format!("{ip}:{}", registry::PORT);
    tracing::info!(%host, statefulset = %name, %image, "waiting for the workflow's registry");
    let own_pods = ListParams::default().labels(&selector(&registry::registry_labels(workflow)));
    let started = Instant::now();
    let mut last_pod_check: Option<Instant> = None;
    let mut pod_ready = false;
    let mut last = String::from("its Pod is not ready");
    while started.elapsed() < patience {
        if !pod_ready && last_pod_check.is_none_or(|t| t.elapsed() >= POD_CHECK_EVERY) {
            last_pod_check = Some(Instant::now());
            // A Pod list that fails only costs this check; the next one comes.
            if let Ok(listed) = with_retries(|| pods.list(&own_pods)).await {
                if let Some(problem) = listed.items.iter().find_map(registry::pod_problem) {
                    return Err(Error::RegistryUnavailable(format!(
                        "the workflow's registry ({what}) cannot start: {problem}; set spec.registry.image to an \
                         image the cluster can pull (the operator's --registry-image is the default)"
                    )));
                }
                pod_ready = listed.items.iter().any(is_ready);
            }
        }
        // Only a ready Pod's answer counts: until kube-proxy has programmed the new Service, its
        // ClusterIP may lead elsewhere (measured: an answer from outside the cluster 0.1 s after
        // the Service was made, before the registry's Pod had even pulled its image).
        if pod_ready {
            match probe(&host, true).await {
                Ok(()) => return Ok(Ready { host, credentials }),
                Err(e) => last = e,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(Error::RegistryUnavailable(format!(
        "the artifact registry http://{host} did not answer within {}s: {last} (the registry {what} runs image \
         {image}; `kubectl -n {namespace} describe pod {name}-0` says why it is not ready)",
        patience.as_secs()
    )))
}

/// Replaces the StatefulSet `name` when it runs another image than `wanted` and has no ready
/// replica (see the module docs).
async fn replace_if_stale(
    sets: &Api<StatefulSet>,
    wanted: &StatefulSet,
    name: &str,
    image: &str,
    what: &str,
) -> Result<()> {
    let existing = with_retries(|| sets.get(name)).await.map_err(|e| Error::kube(format!("read {what}"), e))?;
    let running = existing
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let ready = existing.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
    if running == image || ready > 0 {
        return Ok(());
    }
    tracing::info!(statefulset = %name, from = %running, to = %image, "the registry runs another image than its spec asks for and is not ready; replacing it");
    let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
    match with_retries(|| sets.delete(name, &params)).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(Error::kube(format!("replace {what}"), e)),
    }
    create(sets, wanted, what).await
}

/// Whether a Pod's `Ready` condition is true (its readiness probe reached the registry).
fn is_ready(pod: &Pod) -> bool {
    pod.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A label selector matching all of `labels`.
fn selector(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}
