//! Push and pull through an OCI registry with `oci-client`.
//!
//! Three traps of `oci-client` 0.18 are handled here:
//!
//! * it is built with `rustls-tls-no-provider`, so a rustls crypto provider must be installed
//!   before any client exists — [`client`] installs ring's (idempotently);
//! * `Client::new` panics when the system has no CA certificates (even for plain HTTP), so
//!   clients are built with `Client::try_from`, whose error becomes a message;
//! * `Client::pull` refuses a whole artifact when one layer's media type is not in its list, so
//!   manifests and blobs are fetched one by one and any media type is accepted.
//!
//! A transfer that fails for a reason that may pass — the registry cannot be reached, stops
//! answering, drops the connection, or says it is overloaded (5xx, 429) — is tried again, up to
//! `retries` more times with a doubling pause ([`with_retries`]); each retry is logged with its
//! reason. Both transfers are idempotent: a blob the registry has is not sent again, a manifest
//! is put again under the same tag, and a pulled file replaces the one written before.

use std::fmt::Write as _;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use futures::TryStreamExt as _;
use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use tokio::io::AsyncReadExt as _;

use super::pack::{self, LayerAction};
use super::{Credentials, EMPTY_CONFIG, MEDIA_TYPE_MANIFEST, Pulled, Pushed, Reference, blocking, digest, failed};
use crate::{Error, Result};

/// Bytes read from the layer file per streamed chunk.
const CHUNK: usize = 1 << 20;

/// Pause before the first retry; doubled before each next one (1, 2, 4, 8 s, …).
const FIRST_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How long a connection may take to open. Short, because an attempt that cannot connect is
/// retried: a SYN lost on a busy node costs seconds, not the whole transfer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why one attempt failed, and whether another may succeed.
struct Attempt {
    error: Error,
    transient: bool,
}

impl Attempt {
    /// The registry refused or failed `action`'s step `what`: retried when that may pass.
    fn registry(
        action: &'static str,
        reference: &Reference,
        what: &str,
        e: &OciDistributionError,
        plain_http: bool,
    ) -> Attempt {
        Attempt { transient: transient(e), error: failed(action, reference, describe(what, e, plain_http)) }
    }
}

impl From<Error> for Attempt {
    fn from(error: Error) -> Self {
        Attempt { error, transient: false }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has been tried again `retries` times.
async fn with_retries<T, F, Fut>(retries: u32, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, Attempt>>,
{
    let mut pause = FIRST_RETRY_PAUSE;
    let attempts = retries.saturating_add(1);
    let mut tried = 1;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Attempt { error, transient: true }) if tried < attempts => {
                tracing::warn!("{error}; trying again in {} s (attempt {} of {attempts})", pause.as_secs(), tried + 1);
                tokio::time::sleep(pause).await;
                pause *= 2;
                tried += 1;
            }
            Err(Attempt { error: Error::Artifact { action, reference, reason }, transient: true }) if attempts > 1 => {
                return Err(Error::Artifact {
                    action,
                    reference,
                    reason: format!("{reason} (gave up after {attempts} attempts)"),
                });
            }
            Err(Attempt { error, .. }) => return Err(error),
        }
    }
}

/// Whether trying again may help: the registry could not be reached or stopped answering, the
/// connection broke, or the registry said it is overloaded or unavailable.
fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(e) => {
            (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()) && !tls_failure(e)
        }
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429 || *code == 408,
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|err| matches!(err.code, OciErrorCode::Toomanyrequests))
        }
        OciDistributionError::IoError(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// Whether a TLS handshake or certificate check failed somewhere in `e`'s causes: the same
/// every time (HTTPS against a plain-HTTP registry, an untrusted certificate), never retried.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(error) = cause {
        if error.is::<rustls::Error>() {
            return true;
        }
        // An `io::Error` (often one wrapping another) hides what it wraps from `source()`.
        cause = match error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// A client for one registry.
///
/// Plain HTTP or HTTPS; anonymous or with a user name and password ([`auth`]).
/// Connecting gives up after [`CONNECT_TIMEOUT`]; a registry that stops answering mid-transfer
/// after 5 min.
fn client(plain_http: bool, reference: &Reference, action: &'static str) -> Result<Client> {
    // Needed by reqwest's `rustls-no-provider`; a second install (or another component's) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ClientConfig {
        protocol: if plain_http { ClientProtocol::Http } else { ClientProtocol::Https },
        // One streamed PUT per blob instead of 4 MiB PATCH chunks (every OCI registry must
        // accept it, and it lets the upload stream from the file).
        use_monolithic_push: true,
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(Duration::from_secs(300)),
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|e| {
        failed(
            action,
            reference,
            format!(
                "cannot set up the HTTP client: {} (no CA certificates on this system? point SSL_CERT_FILE at a PEM \
                 bundle; the client needs one even for --plain-http)",
                chain(&e)
            ),
        )
    })
}

/// The `oci-client` reference, built from parts so nothing is re-guessed (no docker.io).
fn oci_reference(reference: &Reference) -> oci_client::Reference {
    oci_client::Reference::with_tag(
        reference.host().unwrap_or_default().to_string(),
        reference.repository().to_string(),
        reference.tag().to_string(),
    )
}

/// Packs `dir`, uploads the layer (unless the registry has it), the empty config and the
/// manifest.
pub(super) async fn push(
    reference: &Reference,
    plain_http: bool,
    retries: u32,
    credentials: Option<&Credentials>,
    dir: PathBuf,
) -> Result<Pushed> {
    // Built first, so a system without CA certificates fails before a large directory is packed.
    let client = client(plain_http, reference, "push")?;
    let io_failed = |what: &str, e: std::io::Error| failed("push", reference, format!("{what}: {e}"));
    let temp = tempfile::Builder::new()
        .prefix("smo-push-")
        .suffix(".tar.gz")
        .tempfile()
        .map_err(|e| io_failed("cannot create a temporary file", e))?;
    // The temporary file is skipped should the temp directory lie inside `dir`.
    let temp_path = temp.path().canonicalize().map_err(|e| io_failed("cannot resolve the temporary file", e))?;
    let (temp, packed) = blocking("push", reference, {
        let reference = reference.clone();
        move || {
            let packed = pack::pack(&dir, BufWriter::new(temp.as_file()), Some(&temp_path))
                .map_err(|e| failed("push", &reference, format!("cannot pack {}: {e}", dir.display())))?;
            Ok((temp, packed))
        }
    })
    .await?;

    let auth = auth(credentials);
    let pushed = with_retries(retries, || upload(&client, reference, plain_http, &auth, temp.path(), &packed)).await;
    drop(temp);
    pushed
}

/// One attempt at uploading a packed layer (unless the registry has it), the empty config and
/// the manifest.
async fn upload(
    client: &Client,
    reference: &Reference,
    plain_http: bool,
    auth: &RegistryAuth,
    layer: &std::path::Path,
    packed: &pack::Packed,
) -> std::result::Result<Pushed, Attempt> {
    let image = oci_reference(reference);
    let registry_failed =
        |what: &str, e: OciDistributionError| Attempt::registry("push", reference, what, &e, plain_http);
    client.store_auth_if_needed(image.resolve_registry(), auth).await;

    let exists =
        client.blob_exists(&image, &packed.digest).await.map_err(|e| registry_failed("cannot check the layer", e))?;
    if !exists {
        let file = tokio::fs::File::open(layer)
            .await
            .map_err(|e| failed("push", reference, format!("cannot reopen the layer: {e}")))?;
        client
            .push_blob_stream(&image, file_chunks(file), &packed.digest, Some(packed.size))
            .await
            .map_err(|e| registry_failed("cannot upload the layer", e))?;
    }

    let config_digest = digest::of_bytes(EMPTY_CONFIG);
    let exists =
        client.blob_exists(&image, &config_digest).await.map_err(|e| registry_failed("cannot check the config", e))?;
    if !exists {
        client
            .push_blob(&image, EMPTY_CONFIG, &config_digest)
            .await
            .map_err(|e| registry_failed("cannot upload the config", e))?;
    }

    let manifest = super::manifest(packed);
    let body = super::manifest_bytes(&manifest)?;
    let manifest_digest = digest::of_bytes(&body);
    // `parse` into the header type `push_manifest_raw` takes; a constant, so this cannot fail.
    let content_type = match MEDIA_TYPE_MANIFEST.parse() {
        Ok(value) => value,
        Err(_) => return Err(failed("push", reference, "invalid manifest content type").into()),
    };
    client
        .push_manifest_raw(&image, body, content_type)
        .await
        .map_err(|e| registry_failed("cannot upload the manifest", e))?;
    Ok(Pushed { digest: manifest_digest, size: packed.size })
}

/// The file as a stream of chunks for `push_blob_stream` (so the layer is never in memory).
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), file)))
    })
    .map_err(OciDistributionError::from)
}

/// Fetches the manifest, then each titled layer into a temporary file in `out_dir`, and applies
/// it there.
pub(super) async fn pull(
    reference: &Reference,
    plain_http: bool,
    retries: u32,
    credentials: Option<&Credentials>,
    out_dir: PathBuf,
) -> Result<Pulled> {
    let client = client(plain_http, reference, "pull")?;
    let auth = auth(credentials);
    with_retries(retries, || download(&client, reference, plain_http, &auth, &out_dir)).await
}

/// How to authenticate: HTTP basic with `credentials`, else anonymously.
fn auth(credentials: Option<&Credentials>) -> RegistryAuth {
    match credentials {
        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        None => RegistryAuth::Anonymous,
    }
}

/// One attempt at [`pull`].
async fn download(
    client: &Client,
    reference: &Reference,
    plain_http: bool,
    auth: &RegistryAuth,
    out_dir: &std::path::Path,
) -> std::result::Result<Pulled, Attempt> {
    let image = oci_reference(reference);
    let (manifest, manifest_digest) =
        client.pull_image_manifest(&image, auth).await.map_err(|e| match not_found(&e) {
            Some(detail) => Attempt::from(Error::ArtifactNotFound { reference: reference.to_string(), detail }),
            None => Attempt::registry("pull", reference, "cannot fetch the manifest", &e, plain_http),
        })?;

    // Every layer is judged before anything is downloaded, so a bad title fails early.
    let mut layers: Vec<(OciDescriptor, LayerAction)> = Vec::new();
    for layer in manifest.layers {
        let action = pack::layer_action(&layer.media_type, layer.annotations.as_ref())
            .map_err(|e| failed("pull", reference, e))?;
        if action == LayerAction::Skip {
            tracing::debug!(digest = %layer.digest, "layer without a title: skipped, as oras does");
        } else {
            layers.push((layer, action));
        }
    }
    if layers.is_empty() {
        return Err(failed("pull", reference, "the artifact has no layer with a title: nothing to pull").into());
    }

    let mut pulled = Pulled { digest: manifest_digest, size: 0, entries: 0 };
    for (layer, action) in layers {
        let temp = tempfile::Builder::new()
            .prefix(".smo-pull-")
            .tempfile_in(out_dir)
            .map_err(|e| failed("pull", reference, format!("cannot create a file in {}: {e}", out_dir.display())))?;
        let file =
            temp.reopen().map_err(|e| failed("pull", reference, format!("cannot open a temporary file: {e}")))?;
        let mut file = tokio::fs::File::from_std(file);
        // `pull_blob` streams to the file and checks the layer digest.
        client.pull_blob(&image, &layer, &mut file).await.map_err(|e| {
            Attempt::registry("pull", reference, &format!("cannot download layer {}", layer.digest), &e, plain_http)
        })?;
        drop(file);
        let out = out_dir.to_path_buf();
        let entries = blocking("pull", reference, {
            let reference = reference.clone();
            move || {
                let entries = pack::apply_layer(temp.path(), &action, &out)
                    .map_err(|e| failed("pull", &reference, pack::apply_error(&action, &e)))?;
                drop(temp);
                Ok(entries)
            }
        })
        .await?;
        pulled.entries += entries;
        pulled.size += u64::try_from(layer.size).unwrap_or(0);
    }
    Ok(pulled)
}

/// The registry's own words when it says the repository or tag does not exist.
fn not_found(e: &OciDistributionError) -> Option<String> {
    match e {
        OciDistributionError::ImageManifestNotFoundError(detail) => Some(detail.clone()),
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .find(|err| matches!(err.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown))
            .map(|err| format!("the registry says: {}", err.message)),
        OciDistributionError::ServerError { code: 404, .. } => Some("the registry answered 404".into()),
        _ => None,
    }
}

/// `what: <the error and its causes>` plus a hint when the cause is a likely mix-up of HTTP
/// and HTTPS or an unreachable registry.
fn describe(what: &str, e: &OciDistributionError, plain_http: bool) -> String {
    let mut text = format!("{what}: ");
    match e {
        OciDistributionError::RegistryError { envelope, url } => {
            let errors: Vec<String> =
                envelope.errors.iter().map(|err| format!("{:?}: {}", err.code, err.message)).collect();
            let _ = write!(text, "the registry answered {} ({url})", errors.join("; "));
        }
        OciDistributionError::ServerError { code, url, message } => {
            let _ = write!(text, "the registry answered {code} {} ({url})", message.trim());
        }
        other => text.push_str(&chain(other)),
    }
    let lower = text.to_lowercase();
    if !plain_http && (lower.contains("invalidcontenttype") || lower.contains("corrupt message")) {
        text.push_str(" (the registry seems to speak plain HTTP: pass --plain-http)");
    } else if plain_http && lower.contains("connection reset") {
        text.push_str(" (the registry may expect HTTPS: drop --plain-http)");
    } else if lower.contains("unauthorized") || lower.contains("not authorized") || lower.contains(" 401") {
        text.push_str(
            " (the registry asks for a user name and password: give --username and --password, or \
             SMO_REGISTRY_USERNAME and SMO_REGISTRY_PASSWORD; a workflow's own registry admits its own steps only)",
        );
    } else if lower.contains("connect") && lower.contains("refused") {
        text.push_str(" (is the registry running at that host and port?)");
    }
    text
}

/// An error and its sources on one line, without repeating a message its source already says.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !parts.iter().any(|p| p.contains(&message)) {
            parts.push(message);
        }
        source = cause.source();
    }
    parts.join(": ")
}
