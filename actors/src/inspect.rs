//! What `smo get`, `smo describe` and `smo logs` read of a cluster (and `smo suspend` /
//! `smo resume` / `smo stop` write): `StateMachine`s as the operator's status tells them, the Events about
//! one, its step Pods and their logs — with the user's own credentials (the current kubeconfig
//! context), never the operator's.

use futures::{Stream, StreamExt as _};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::runtime::{WatchStreamExt as _, watcher as watch};
use kube::{Client, ResourceExt as _};
use smo_core::api::{ShutdownStrategy, StateMachine};
use smo_core::jobs::STEP_CONTAINER;
use smo_core::labels;

use crate::executor::kubernetes::api::with_retries;
use crate::executor::kubernetes::{RequestLimits, connect};
use crate::{Error, Result};

/// The cluster of the current kubeconfig context, and `namespace` (None: the context's), as
/// kubectl's `-n` chooses it.
pub async fn cluster(namespace: Option<&str>) -> Result<(Client, String)> {
    let (client, current, _) = connect(RequestLimits::default()).await?;
    Ok((client, namespace.map_or(current, str::to_string)))
}

/// kubectl's words for a `StateMachine` that is not there.
fn not_found(namespace: &str, name: &str) -> Error {
    Error::NotFound(format!("statemachine \"{name}\" not found in namespace {namespace}"))
}

fn api(client: &Client, namespace: Option<&str>) -> Api<StateMachine> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The `StateMachine`s of `namespace` (None: all namespaces), by namespace and name.
pub async fn list(client: &Client, namespace: Option<&str>) -> Result<Vec<StateMachine>> {
    let (api, params) = (api(client, namespace), ListParams::default());
    let listed = with_retries(|| api.list(&params)).await.map_err(|e| {
        Error::kube(
            format!(
                "list StateMachines in {}",
                namespace.map_or("all namespaces".into(), |n| format!("namespace {n}"))
            ),
            e,
        )
    })?;
    let mut items = listed.items;
    items.sort_by_key(|a| (a.namespace(), a.name_any()));
    Ok(items)
}

/// The `StateMachine` `name` of `namespace`; an error naming it when there is none.
pub async fn get(client: &Client, namespace: &str, name: &str) -> Result<StateMachine> {
    let api = api(client, Some(namespace));
    match with_retries(|| api.get_opt(name)).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(not_found(namespace, name)),
        Err(e) => Err(Error::kube(format!("get statemachine {namespace}/{name}"), e)),
    }
}

/// Every change of the `StateMachine`s of `namespace` (None: all), as kubectl's `-w` shows
/// them: the current ones first, then each one that changes (a deleted one is not repeated).
pub fn changes(client: &Client, namespace: Option<&str>) -> impl Stream<Item = Result<StateMachine>> + use<> {
    watch(api(client, namespace), watcher::Config::default()).default_backoff().filter_map(|event| async move {
        match event {
            Ok(WatchEvent::Apply(object) | WatchEvent::InitApply(object)) => Some(Ok(object)),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(error = %e, "the watch of StateMachines failed; it restarts with backoff");
                None
            }
        }
    })
}

/// The Events about the `StateMachine` `name` (its `uid`) in `namespace`, oldest first.
pub async fn events(client: &Client, namespace: &str, name: &str, uid: Option<&str>) -> Result<Vec<Event>> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut fields = format!("involvedObject.kind=StateMachine,involvedObject.name={name}");
    if let Some(uid) = uid {
        fields.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let params = ListParams::default().fields(&fields);
    let listed = with_retries(|| api.list(&params))
        .await
        .map_err(|e| Error::kube(format!("list the Events of statemachine {namespace}/{name}"), e))?;
    let mut items = listed.items;
    items.sort_by_key(last_seen);
    Ok(items)
}

/// When an Event was last seen, in seconds since the epoch (0: unknown).
pub fn last_seen(event: &Event) -> i64 {
    // An Event written through events.k8s.io (as the operator writes them) has a series and an
    // event time; one written through the core API, timestamps.
    let series = event.series.as_ref().and_then(|s| s.last_observed_time.as_ref()).map(|t| t.0.as_second());
    series
        .or_else(|| event.last_timestamp.as_ref().or(event.first_timestamp.as_ref()).map(|t| t.0.as_second()))
        .or_else(|| event.event_time.as_ref().map(|t| t.0.as_second()))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()))
        .unwrap_or(0)
}

/// Sets `spec.suspend` of the `StateMachine` `name` (a merge patch of that field alone, as
/// `kubectl patch` would); returns it as the cluster has it then.
pub async fn set_suspended(client: &Client, namespace: &str, name: &str, suspend: bool) -> Result<StateMachine> {
    patch_spec(client, namespace, name, serde_json::json!({"suspend": suspend})).await
}

/// Sets `spec.shutdown` of the `StateMachine` `name` to `strategy` (a merge patch of that field
/// alone, as `argo stop` / `argo terminate` patch a Workflow's); returns it as the cluster has
/// it then.
pub async fn set_shutdown(
    client: &Client,
    namespace: &str,
    name: &str,
    strategy: ShutdownStrategy,
) -> Result<StateMachine> {
    patch_spec(client, namespace, name, serde_json::json!({"shutdown": strategy})).await
}

/// Merge-patches `spec` of the `StateMachine` `name` with `fields` alone.
async fn patch_spec(client: &Client, namespace: &str, name: &str, fields: serde_json::Value) -> Result<StateMachine> {
    let api = api(client, Some(namespace));
    let patch = serde_json::json!({ "spec": fields });
    let (params, patch) = (kube::api::PatchParams::default(), kube::api::Patch::Merge(&patch));
    match with_retries(|| api.patch(name, &params, &patch)).await {
        Ok(patched) => Ok(patched),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(not_found(namespace, name)),
        Err(e) => Err(Error::kube(format!("patch statemachine {namespace}/{name}"), e)),
    }
}

/// The Pods of the workflow `name`'s step jobs in `namespace` — of `step` and of the sequence
/// `jobid` when given — oldest first.
pub async fn step_pods(
    client: &Client,
    namespace: &str,
    name: &str,
    step: Option<&str>,
    jobid: Option<&str>,
) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    // Step Pods carry a job id; the workflow's registry Pod does not.
    let mut selector = match jobid {
        Some(jobid) => labels::sequence_selector(name, jobid),
        None => format!("{},{}", labels::workflow_selector(name), labels::JOB_ID),
    };
    if let Some(step) = step {
        selector.push_str(&format!(",{}={step}", labels::STEP));
    }
    let params = ListParams::default().labels(&selector);
    let listed = with_retries(|| api.list(&params))
        .await
        .map_err(|e| Error::kube(format!("list the Pods of `{selector}` in {namespace}"), e))?;
    let mut pods = listed.items;
    pods.sort_by_key(|p| (p.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()), p.name_any()));
    Ok(pods)
}

/// The log of a step Pod's step container (the one that runs the script), line by line; with
/// `follow`, until the container ends.
pub async fn pod_log(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    follow: bool,
) -> Result<impl Stream<Item = std::result::Result<String, std::io::Error>> + use<>> {
    use futures::AsyncBufReadExt as _;
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let containers = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    // The step's container is `step`; a Pod of another shape (a MiniCluster's) has one of its own.
    let container = containers.iter().find(|c| c.name == STEP_CONTAINER).or(containers.first()).map(|c| c.name.clone());
    let params = LogParams { container, follow, ..LogParams::default() };
    let name = pod.name_any();
    let stream = api
        .log_stream(&name, &params)
        .await
        .map_err(|e| Error::kube(format!("read the log of Pod {namespace}/{name}"), e))?;
    Ok(stream.lines())
}

/// The chunks of the timeline the operator keeps for the `StateMachine` `name`
/// ([`smo_core::timeline`]).
pub async fn timeline(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<k8s_openapi::api::core::v1::ConfigMap>> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&smo_core::timeline::selector(name));
    let listed = with_retries(|| api.list(&params))
        .await
        .map_err(|e| Error::kube(format!("list the timeline of statemachine {namespace}/{name}"), e))?;
    Ok(listed.items)
}
