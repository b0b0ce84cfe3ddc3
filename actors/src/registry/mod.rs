//! The Registry actor: provides a run's artifact store and says when it is ready.
//!
//! * A directory store is created if missing (an OCI image layout per sequence is written
//!   into it by `smo artifact push --store`).
//! * An OCI registry is probed until it answers the distribution API (`/v2/…`), so that a
//!   wrong host or a registry still starting fails the run up front with one clear line instead
//!   of failing every step's push.
//!
//! * The ephemeral registry of a `StateMachine` without `registry.host` — a StatefulSet and a
//!   Service in its namespace — is applied from the spec and waited for by
//!   [`kubernetes::OwnRegistry::ensure`], and kept answering while its run lasts by
//!   [`kubernetes::keep`].

use std::time::{Duration, Instant};

use actix::prelude::*;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

use smo_core::jobs::script::ArtifactStore;

pub mod kubernetes;

use crate::messages::EnsureStore;
use crate::{Error, Result};

/// Provides one artifact store.
pub struct Registry {
    store: ArtifactStore,
    patience: Duration,
}

impl Registry {
    /// A registry actor for `store`, waiting at most `patience` for a registry to answer.
    pub fn new(store: ArtifactStore, patience: Duration) -> Registry {
        Registry { store, patience }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Handler<EnsureStore> for Registry {
    type Result = ResponseFuture<Result<ArtifactStore>>;

    fn handle(&mut self, _: EnsureStore, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let patience = self.patience;
        Box::pin(async move {
            match &store {
                ArtifactStore::None => {}
                ArtifactStore::Directory(dir) => {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
                }
                ArtifactStore::Registry { host, plain_http } => wait_ready(host, *plain_http, patience).await?,
            }
            tracing::info!(store = %store.location(), "artifact store ready");
            Ok(store)
        })
    }
}

/// Probes `host` until it answers like an OCI registry, or `patience` runs out.
pub async fn wait_ready(host: &str, plain_http: bool, patience: Duration) -> Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < patience {
        match probe(host, plain_http).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let scheme = if plain_http { "http" } else { "https" };
    Err(Error::RegistryUnavailable(format!(
        "the artifact registry {scheme}://{host} did not answer within {}s: {last}",
        patience.as_secs()
    )))
}

/// One probe: listing the tags of a repository that need not exist. Any answer of the
/// distribution API — tags, or "name unknown" — means the registry is there.
pub(crate) async fn probe(host: &str, plain_http: bool) -> std::result::Result<(), String> {
    match list_tags_anonymously(host, plain_http).await? {
        Ok(()) | Err(OciDistributionError::RegistryError { .. } | OciDistributionError::UnauthorizedError { .. }) => {
            Ok(())
        }
        Err(OciDistributionError::ServerError { code, .. }) if code == 404 || code == 401 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// One probe of a registry that lets no one in without its credentials (a workflow's own): only
/// a refusal of the anonymous caller is its answer. Anything else answering at its address is
/// not it (measured: with the registry's Service gone, the ClusterIP led to another registry
/// on the node, which answered).
pub(crate) async fn probe_private(host: &str) -> std::result::Result<(), String> {
    match list_tags_anonymously(host, true).await? {
        Err(OciDistributionError::UnauthorizedError { .. }) => Ok(()),
        Err(OciDistributionError::ServerError { code: 401, .. }) => Ok(()),
        Ok(()) | Err(OciDistributionError::RegistryError { .. } | OciDistributionError::ServerError { .. }) => {
            Err("something else answers at its address (it lets an anonymous caller in)".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Lists the tags of a repository that need not exist, as no one: the outer error is one of
/// setting up the client, the inner one the registry's (or the network's) answer.
async fn list_tags_anonymously(
    host: &str,
    plain_http: bool,
) -> std::result::Result<std::result::Result<(), OciDistributionError>, String> {
    // Needed by reqwest's `rustls-no-provider`; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ClientConfig {
        protocol: if plain_http { ClientProtocol::Http } else { ClientProtocol::Https },
        connect_timeout: Some(Duration::from_secs(2)),
        read_timeout: Some(Duration::from_secs(5)),
        ..ClientConfig::default()
    };
    let client = oci_client::Client::try_from(config).map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
    let reference = oci_client::Reference::with_tag(host.to_string(), "smo-readiness-probe".into(), "probe".into());
    Ok(client.list_tags(&reference, &RegistryAuth::Anonymous, Some(1), None).await.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix::test]
    async fn a_directory_store_is_created() {
        let dir = std::env::temp_dir().join(format!("smo-registry-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let registry = Registry::new(ArtifactStore::Directory(dir.clone()), Duration::from_secs(1)).start();
        let store = registry.send(EnsureStore).await.expect("delivered").expect("ready");
        assert_eq!(store, ArtifactStore::Directory(dir.clone()));
        assert!(dir.is_dir());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[actix::test]
    async fn an_unreachable_registry_fails_with_one_clear_line() {
        // A port nothing listens on: bind one, note it, free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let host = format!("127.0.0.1:{port}");
        let registry =
            Registry::new(ArtifactStore::Registry { host: host.clone(), plain_http: true }, Duration::from_millis(600))
                .start();
        let err = registry.send(EnsureStore).await.expect("delivered").expect_err("nothing listens there");
        let text = err.to_string();
        assert!(text.contains(&format!("http://{host} did not answer")), "{text}");
        assert!(!text.contains('\n'));
    }
}
