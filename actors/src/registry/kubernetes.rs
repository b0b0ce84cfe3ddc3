//! The ephemeral registry of a `StateMachine` without `registry.host`: its StatefulSet,
//! Service and NetworkPolicy (built by the core's [`smo_core::registry`]) follow the spec, and
//! the registry is ready when it answers the distribution API at the Service's ClusterIP.
//!
//! * At every start of the run (the operator's start, a retry, an edit during setup) the three
//!   objects are applied server-side (`apply`: field manager `smo`, forced): made when
//!   missing, else brought to what the spec now asks (`registry.image`, `pullPolicy`,
//!   `nodeSelector`, …, or the operator's `--registry-image`). Unchanged, nothing changes: the
//!   StatefulSet's Pod is not restarted. Changed, its Pod is replaced by the StatefulSet's own
//!   rolling update — and without `registry.storage` the artifacts in its `emptyDir` go with it.
//! * An object of the registry's name that belongs to another workflow is never written over.
//! * Its credentials Secret is made first, once, with a password generated here; a Secret of
//!   that name is never read, so the operator needs no right to read Secrets (nor to change
//!   them: it is only created).
//! * The registry is ready when its Pod is (its readiness probe answered) and the Service's
//!   ClusterIP answers too, as the registry does: refusing a caller without its credentials.
//! * While the run lasts ([`keep`]), a registry that stops answering so has its objects applied
//!   again, its Service at the same ClusterIP: the step jobs carry that address.
//! * A registry Pod that cannot become ready by waiting (its image cannot be pulled, its
//!   container keeps crashing, no node fits it: [`smo_core::registry::pod_problem`]) ends the
//!   wait within seconds with the Pod's own reason and the image, so the resource's status says
//!   so at once instead of after the whole patience.
//! * A StatefulSet that has no ready replica and whose spec the apply changed (or that cannot
//!   take the change: its claim template is fixed) is made anew: the StatefulSet controller
//!   does not replace a Pod that never became ready (its "forced rollback" limitation), so the
//!   new template would never run. A ready registry is only ever rolled by its controller, never
//!   deleted here.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ListParams;
use kube::{Api, Client};
use smo_core::api::RegistrySpec;
use smo_core::registry;

use super::probe_private;
use crate::executor::kubernetes::api::{apply, create_unless_exists, delete, read_ours, with_retries};
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

/// A workflow's own registry, as its spec asks for it.
#[derive(Clone)]
pub struct OwnRegistry {
    /// The client the workflow's calls go through.
    pub client: Client,
    /// The workflow's namespace.
    pub namespace: String,
    /// The workflow's (the StateMachine's) name.
    pub workflow: String,
    /// `spec.registry`, defaults filled in.
    pub spec: RegistrySpec,
    /// The StateMachine, owner of every object made for the registry.
    pub owner: OwnerReference,
    /// Where the operator's Pods run: the registry's NetworkPolicy admits them.
    pub operator_namespace: String,
}

impl OwnRegistry {
    /// Makes the workflow's registry follow its spec (see the module docs) and waits up to
    /// `patience` for it to answer. With `cluster_ip` (the address a running workflow's steps
    /// already use), a Service made anew asks for that address again.
    pub async fn ensure(&self, cluster_ip: Option<&str>, patience: Duration) -> Result<Ready> {
        let (client, namespace, workflow, spec, owner, operator_namespace) = (
            &self.client,
            self.namespace.as_str(),
            self.workflow.as_str(),
            &self.spec,
            &self.owner,
            self.operator_namespace.as_str(),
        );
        let registry::Objects { statefulset, mut service, network_policy } =
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
        // `a` with registry.name `b-registry` and `a-b` with `registry` name the same objects: the
        // other's are read first (the three share their name), and never written over.
        let what = format!("StatefulSet {namespace}/{name}");
        let clash = "two StateMachines in one namespace make the same registry name (`<name>-<registry.name>`): \
                 another registry.name keeps them apart";
        let existing = read_ours(&sets, &statefulset, &what, clash).await?;
        let existing_service = read_ours(&services, &service, &format!("Service {namespace}/{name}"), clash).await?;
        // The address is asked for whenever known (a Service once applied with it keeps it: the
        // apply names it, as the field is smo's), and kept when made anew.
        let known_ip = existing_service.and_then(|s| s.spec?.cluster_ip).filter(|ip| !ip.is_empty() && ip != "None");
        if let Some(ip) = cluster_ip.map(str::to_string).or(known_ip) {
            service.spec.get_or_insert_default().cluster_ip = Some(ip);
        }
        let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), namespace);
        apply(&policies, &network_policy)
            .await
            .map_err(|e| Error::kube(format!("apply NetworkPolicy {namespace}/{name}"), e))?;
        let ip = apply(&services, &service)
            .await
            .map_err(|e| Error::kube(format!("apply Service {namespace}/{name}"), e))?
            .spec
            .and_then(|s| s.cluster_ip)
            .filter(|ip| !ip.is_empty() && ip != "None")
            .ok_or_else(|| {
                Error::RegistryUnavailable(format!("the registry Service {namespace}/{name} has no ClusterIP"))
            })?;
        let set_uid = apply_set(&sets, &statefulset, existing, &what).await?.metadata.uid;
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
                    // Only the set's own Pods count: one of a set just made anew may still be there.
                    let own: Vec<&Pod> = listed.items.iter().filter(|p| of_set(p, set_uid.as_deref())).collect();
                    if let Some(problem) = own.iter().find_map(|p| registry::pod_problem(p)) {
                        return Err(Error::RegistryUnavailable(format!(
                            "the workflow's registry ({what}) cannot start: {problem}; set spec.registry.image to an \
                         image the cluster can pull (the operator's --registry-image is the default)"
                        )));
                    }
                    pod_ready = own.iter().any(|p| is_ready(p));
                }
            }
            // Only a ready Pod's answer counts: until kube-proxy has programmed the new Service, its
            // ClusterIP may lead elsewhere (measured: an answer from outside the cluster 0.1 s after
            // the Service was made, before the registry's Pod had even pulled its image).
            if pod_ready {
                match probe_private(&host).await {
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
}

/// How often a running workflow's registry is asked whether it answers.
const KEEP_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Failed answers in a row after which the registry's objects are applied again.
const KEEP_FAILURES: u32 = 2;

/// What [`keep`] tells the workflow: a warning or not, an Event reason, one line.
pub type Tell = Box<dyn Fn(bool, &'static str, String)>;

/// Keeps the registry of a running workflow (`host`, made by [`OwnRegistry::ensure`])
/// answering, until dropped: a registry that stops answering (its StatefulSet or Service
/// deleted, by a person or by the cluster's garbage collector, which can take the resource for
/// gone while the apiserver restarts: kubernetes#104342) has its objects applied again at the
/// same ClusterIP, and `tell` says so. Only the registry's own address is asked while it answers.
pub async fn keep(registry: OwnRegistry, host: String, tell: Tell) -> std::convert::Infallible {
    let workflow = registry.workflow.as_str();
    let ip = host.rsplit_once(':').map_or(host.as_str(), |(ip, _)| ip).to_string();
    let mut failures = 0;
    loop {
        tokio::time::sleep(KEEP_CHECK_EVERY).await;
        let why = match probe_private(&host).await {
            Ok(()) => {
                failures = 0;
                continue;
            }
            Err(e) => e,
        };
        failures += 1;
        if failures < KEEP_FAILURES {
            continue;
        }
        failures = 0;
        tracing::warn!(%workflow, %host, error = %why, "the workflow's registry does not answer; applying its objects again");
        tell(
            true,
            "RegistryUnavailable",
            format!("the workflow's registry http://{host} does not answer ({why}); its objects are applied again"),
        );
        let ensured = registry.ensure(Some(&ip), KEEP_PATIENCE).await;
        match ensured {
            Ok(ready) if ready.host == host => {
                tracing::info!(%workflow, %host, "the workflow's registry answers again");
                tell(false, "RegistryRestored", format!("the workflow's registry http://{host} answers again"));
            }
            Ok(ready) => tell(
                true,
                "RegistryMoved",
                format!(
                    "the workflow's registry was made anew at http://{} because another Service took its address \
                     {host}; the run's steps still use {host}, so their artifact transfers fail: delete and create \
                     the StateMachine again to start over",
                    ready.host
                ),
            ),
            Err(e) => tell(true, "RegistryUnavailable", format!("the workflow's registry cannot be made again: {e}")),
        }
    }
}

/// How long [`keep`] waits for a registry made again before it looks afresh.
const KEEP_PATIENCE: Duration = Duration::from_secs(120);

/// Applies the StatefulSet `wanted` over `existing` (as it was before), and makes it anew when
/// it had no ready replica and the apply changed its spec, or it cannot take the change (see
/// the module docs). Returns the set as the cluster has it.
///
/// Made anew, rather than its Pod deleted: deleting the set is a right the operator has anyway
/// (nothing else needs to delete Pods), and it covers a change the set cannot take in place
/// too. Its old Pod goes with it (background deletion); the controller makes the new one once
/// the name is free.
async fn apply_set(
    sets: &Api<StatefulSet>,
    wanted: &StatefulSet,
    existing: Option<StatefulSet>,
    what: &str,
) -> Result<StatefulSet> {
    let Some(existing) = existing else {
        return apply(sets, wanted).await.map_err(|e| Error::kube(format!("apply {what}"), e));
    };
    let ready = existing.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) > 0;
    let running = image_of(&existing);
    match apply(sets, wanted).await {
        // The generation counts changes of the spec: unchanged, the Pod is left as it is.
        Ok(applied) if ready || applied.metadata.generation == existing.metadata.generation => return Ok(applied),
        Ok(_) => {}
        // 422: a field a StatefulSet keeps for life changed (its claim template, registry.storage).
        Err(kube::Error::Api(s)) if s.code == 422 && !ready => {}
        Err(kube::Error::Api(s)) if s.code == 422 => {
            return Err(Error::RegistryUnavailable(format!(
                "{what} cannot take the change of spec.registry: {}; it is ready and may hold the workflow's \
                 artifacts, so it is left as it is: delete it to have it made anew (its artifacts go with it \
                 unless they are on registry.storage), or undo the change",
                s.message
            )));
        }
        Err(e) => return Err(Error::kube(format!("apply {what}"), e)),
    }
    tracing::info!(statefulset = %what, from = %running, to = %image_of(wanted), "the registry never became ready and its spec changed; making it anew");
    let name = wanted.metadata.name.clone().unwrap_or_default();
    delete(sets, &name, what).await?;
    apply(sets, wanted).await.map_err(|e| Error::kube(format!("apply {what}"), e))
}

/// The image of a registry StatefulSet's container.
fn image_of(set: &StatefulSet) -> String {
    set.spec.template.spec.as_ref().and_then(|p| p.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default()
}

/// Whether `pod` is a live Pod of the StatefulSet whose uid is `set` (any Pod when it is not
/// known).
fn of_set(pod: &Pod, set: Option<&str>) -> bool {
    let Some(set) = set else { return true };
    pod.metadata.deletion_timestamp.is_none()
        && pod.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == set)
}

/// Whether a Pod's `Ready` condition is true (its readiness probe reached the registry).
fn is_ready(pod: &Pod) -> bool {
    pod.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A label selector matching all of `labels`.
fn selector(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use kube::Resource;
    use kube::api::Patch;
    use kube::core::Request;
    use serde_json::{Value, json};

    use super::*;
    use crate::executor::kubernetes::api::apply_params;

    /// The request an apply of `object` makes: its path and query, content type and body.
    fn applied<K: Resource<DynamicType = ()> + serde::Serialize>(object: &K) -> (String, String, Value) {
        let name = object.meta().name.clone().unwrap_or_default();
        let url = K::url_path(&(), object.meta().namespace.as_deref());
        let request = Request::new(url).patch(&name, &apply_params(), &Patch::Apply(object)).expect("a request");
        let kind = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = serde_json::from_slice(request.body()).expect("a JSON body");
        (request.uri().to_string(), kind, body)
    }

    #[test]
    fn the_registry_objects_are_applied_whole_as_smo_with_force() {
        let owner = OwnerReference {
            api_version: "state-machine.converged-computing.org/v1alpha1".into(),
            kind: "StateMachine".into(),
            name: "wf".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let spec: RegistrySpec = serde_json::from_value(json!({"image": "r:2"})).expect("spec");
        let registry::Objects { statefulset, service, network_policy } =
            registry::objects("wf", "team-a", &spec, Some(&owner), "smo-system").expect("objects");
        let requests = [applied(&statefulset), applied(&service), applied(&network_policy)];
        let expected = [
            ("/apis/apps/v1/namespaces/team-a/statefulsets/wf-registry?", "apps/v1", "StatefulSet"),
            ("/api/v1/namespaces/team-a/services/wf-registry?", "v1", "Service"),
            (
                "/apis/networking.k8s.io/v1/namespaces/team-a/networkpolicies/wf-registry?",
                "networking.k8s.io/v1",
                "NetworkPolicy",
            ),
        ];
        for ((uri, content_type, body), (path, api_version, kind)) in requests.iter().zip(expected) {
            assert!(uri.starts_with(path), "{uri}");
            assert!(uri.contains("fieldManager=smo") && uri.contains("force=true"), "{uri}");
            assert_eq!(content_type, "application/apply-patch+yaml");
            // An apply names what it applies: without apiVersion and kind the apiserver refuses it.
            assert_eq!(
                (body["apiVersion"].as_str(), body["kind"].as_str()),
                (Some(api_version), Some(kind)),
                "{body:#}"
            );
            assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "u");
            assert!(body.get("status").is_none(), "an apply sets no status: {body:#}");
        }
        let (_, _, set) = &requests[0];
        assert_eq!(
            set["spec"]["template"]["spec"]["containers"][0]["image"], "r:2",
            "the spec's image reaches the set"
        );
    }

    fn pod(meta: Value) -> Pod {
        serde_json::from_value(json!({"metadata": meta})).expect("pod")
    }

    #[test]
    fn only_the_live_pods_of_the_set_as_it_is_now_count() {
        let owned = |uid: &str| json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "r", "uid": uid, "controller": true}]);
        assert!(of_set(&pod(json!({"name": "r-0", "ownerReferences": owned("new")})), Some("new")));
        assert!(
            !of_set(&pod(json!({"name": "r-0", "ownerReferences": owned("old")})), Some("new")),
            "the set made anew"
        );
        let leaving =
            pod(json!({"name": "r-0", "ownerReferences": owned("new"), "deletionTimestamp": "2026-12-06T10:00:00Z"}));
        assert!(!of_set(&leaving, Some("new")), "a Pod being deleted");
        assert!(of_set(&pod(json!({"name": "r-0"})), None), "no uid known: every Pod counts");
    }
}
