//! API calls with retries: every error is either retried with backoff or returned with the
//! object and the reason.
//!
//! * An answer about the request itself (4xx other than 429) is final.
//! * An apiserver that answers with trouble (5xx, 429) gets [`RETRIES`] more tries, 0.2 s,
//!   0.4 s, … apart.
//! * An apiserver that does not answer at all (restarting, or the connection dropped) is waited
//!   for up to [`OUTAGE_PATIENCE`], tries at most 5 s apart: an apiserver restart must not fail
//!   the sequences whose steps were being submitted.

use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};

use kube::ResourceExt as _;
use smo_core::labels;

use crate::{Error, Result};

/// How often a call the apiserver answered with a server-side error is retried.
pub const RETRIES: u32 = 4;

/// How long a call is retried while the apiserver does not answer at all.
pub const OUTAGE_PATIENCE: Duration = Duration::from_secs(120);

/// Whether an API error is about the request itself (retrying cannot help).
fn is_final(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 429)
}

/// Runs `call` until it succeeds or fails for good (see the module docs).
pub async fn with_retries<T, F, Fut>(mut call: F) -> std::result::Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, kube::Error>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    let mut answered_tries = 0;
    let mut warned = false;
    loop {
        match call().await {
            Err(e) if is_final(&e) => return Err(e),
            Err(kube::Error::Api(status)) if answered_tries < RETRIES => {
                tracing::debug!(code = status.code, reason = %status.reason, "API call failed; retrying");
                answered_tries += 1;
            }
            Err(e) if !matches!(e, kube::Error::Api(_)) && started.elapsed() < OUTAGE_PATIENCE => {
                if !warned {
                    tracing::warn!(error = %e, "the apiserver does not answer; retrying for up to {} s", OUTAGE_PATIENCE.as_secs());
                    warned = true;
                }
            }
            other => return other,
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Creates `object` unless it exists already. An object of the same name that belongs to
/// another workflow (its workflow label differs: two workflows in one namespace drew the same
/// job id) is an error, never mistaken for ours.
pub async fn create<K>(api: &Api<K>, object: &K, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = PostParams::default();
    match with_retries(|| api.create(&params, object)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() => {
            let name = object.meta().name.clone().unwrap_or_default();
            let existing = with_retries(|| api.get(&name))
                .await
                .map_err(|e| Error::kube(format!("read {what}, which exists already"), e))?;
            ours(object, &existing, &format!("cannot create {what}"), JOB_ID_CLASH)
        }
        Err(e) => Err(Error::kube(format!("create {what}"), e)),
    }
}

/// Why a step job's name can be another workflow's, and what keeps them apart.
const JOB_ID_CLASH: &str =
    "two workflows in one namespace drew the same job id (different workflow.prefix values keep them apart)";

/// Whether `existing` may be taken for `object`: an error when it belongs to another workflow
/// (their workflow labels differ), opened by `doing` and explained by `clash`.
fn ours<K: kube::Resource>(object: &K, existing: &K, doing: &str, clash: &str) -> Result<()> {
    let Some(ours) = object.labels().get(labels::WORKFLOW) else { return Ok(()) };
    match existing.labels().get(labels::WORKFLOW) {
        Some(theirs) if theirs == ours => Ok(()),
        theirs => Err(Error::ObjectTaken(format!(
            "{doing}: an object of that name belongs to workflow `{}`; {clash}",
            theirs.map_or("(none)", String::as_str)
        ))),
    }
}

/// The object of `object`'s name as the cluster has it (`None`: there is none), read so that
/// one that belongs to another workflow is an error (explained by `clash`) before anything is
/// written over it.
pub async fn read_ours<K>(api: &Api<K>, object: &K, what: &str, clash: &str) -> Result<Option<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let existing = with_retries(|| api.get_opt(&name)).await.map_err(|e| Error::kube(format!("read {what}"), e))?;
    if let Some(existing) = &existing {
        ours(object, existing, &format!("cannot apply {what}"), clash)?;
    }
    Ok(existing)
}

/// The field manager of what smo applies server-side.
pub const FIELD_MANAGER: &str = "smo";

/// Server-side apply as [`FIELD_MANAGER`], forced: the fields smo sets follow what it builds
/// from the spec, whoever changed them since (an edit by hand is undone at the next start,
/// as a controller's would be).
pub fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Applies `object` server-side ([`apply_params`]): created if it does not exist, else the
/// fields smo sets brought to what `object` says. Returns the object as the cluster has it
/// then. The `kube::Error` is returned as it is, for the caller to tell a refused change (422)
/// from other errors.
pub async fn apply<K>(api: &Api<K>, object: &K) -> std::result::Result<K, kube::Error>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let (params, patch) = (apply_params(), Patch::Apply(object));
    with_retries(|| api.patch(&name, &params, &patch)).await
}

/// Creates `object` unless an object of its name exists, without reading that one: for objects
/// the operator may create but not read (a Secret).
pub async fn create_unless_exists<K>(api: &Api<K>, object: &K, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = PostParams::default();
    match with_retries(|| api.create(&params, object)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        Err(e) => Err(Error::kube(format!("create {what}"), e)),
    }
}

/// Background deletion: a Job's Pods (a JobSet's Jobs) go too, without waiting for them.
fn background() -> DeleteParams {
    DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() }
}

/// Deletes `name` unless it is gone already.
pub async fn delete<K>(api: &Api<K>, name: &str, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = background();
    match with_retries(|| api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(Error::kube(format!("delete {what}"), e)),
    }
}

/// Deletes every object `selector` matches.
pub async fn delete_all<K>(api: &Api<K>, selector: &str, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let (params, list) = (background(), ListParams::default().labels(selector));
    with_retries(|| api.delete_collection(&params, &list))
        .await
        .map(|_| ())
        .map_err(|e| Error::kube(format!("delete the {what} of `{selector}`"), e))
}
