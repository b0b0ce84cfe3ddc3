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

use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};

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
            let Some(ours) = object.labels().get(labels::WORKFLOW) else { return Ok(()) };
            let name = object.meta().name.clone().unwrap_or_default();
            let existing = with_retries(|| api.get(&name))
                .await
                .map_err(|e| Error::kube(format!("read {what}, which exists already"), e))?;
            match existing.labels().get(labels::WORKFLOW) {
                Some(theirs) if theirs == ours => Ok(()),
                theirs => Err(Error::ObjectTaken(format!(
                    "cannot create {what}: an object of that name belongs to workflow `{}`; two workflows in one namespace drew the same job id (different workflow.prefix values keep them apart)",
                    theirs.map_or("(none)", String::as_str)
                ))),
            }
        }
        Err(e) => Err(Error::kube(format!("create {what}"), e)),
    }
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
