//! Artifact transfer between the steps of a sequence: ORAS-compatible OCI artifacts.
//!
//! A step script pushes its work directory (`$outpath`) as `<registry>/<jobid>:<push_tag>`; the
//! next step pulls `<registry>/<jobid>:<pull_tag>` into *its* `$outpath`. Both ends are `smo
//! artifact push|pull` (see [`smo_core::jobs::script`]), but the artifacts stay what the `oras` CLI
//! pushes and pulls, so a user can inspect or feed them with `oras` directly.
//!
//! # What an artifact looks like
//!
//! One OCI image manifest (`mediaType` set explicitly, `artifactType:
//! application/vnd.unknown.artifact.v1`, an `org.opencontainers.image.created` annotation), the
//! empty config (`application/vnd.oci.empty.v1+json`, `{}`) and one layer
//! `application/vnd.oci.image.layer.v1.tar+gzip` with the annotations ORAS CLI writes for a
//! directory:
//!
//! | annotation | value |
//! |---|---|
//! | `org.opencontainers.image.title` | `.` |
//! | `io.deis.oras.content.unpack` | `true` |
//! | `io.deis.oras.content.digest` | `sha256:` of the uncompressed tar stream |
//!
//! # Why the title is `.` and the tar has no directory prefix
//!
//! ORAS tools recreate a pushed directory *under its title* inside the output directory: a
//! layer titled `out` whose tar entries are `out/a.txt` comes back as `<output>/out/a.txt`. The
//! usual choice — title = the directory's name, entries prefixed by it — would therefore put a
//! step's files one level too deep (`$outpath/out/a.txt`), and the level would depend on what
//! the pushing step's directory happened to be called. Steps need the files *directly* in their
//! `$outpath`.
//!
//! So `push` does exactly what the original operator's `cd $outpath && oras push <ref> .` did:
//! the title is `.` and the entries are relative to the directory (`a.txt`, `sub/b.txt`). ORAS
//! CLI (`oras pull <ref> -o X`) and python `oras` both unpack that into `X` itself, and so does
//! [`pull`]. In the other direction [`pull`] follows ORAS semantics for any title: the archive's
//! entries are unpacked relative to the output directory, so an `oras push <ref> mydir`
//! artifact lands in `<output>/mydir/`, as `oras pull` would put it. Single files (layers that
//! are not archives) are written as `<output>/<title>`.
//!
//! # Stores
//!
//! * [`Store::Registry`]: an OCI registry, through `oci-client` (HTTPS, or plain HTTP).
//! * [`Store::Directory`]: an OCI image layout per repository, `<dir>/<repository>/`
//!   (`oci-layout`, `index.json` with `org.opencontainers.image.ref.name` = tag,
//!   `blobs/sha256/…`) holding the same manifest, config and layer — what `oras push
//!   --oci-layout <dir>/<repository>:<tag>` writes, so `oras` can read it too.
//!
//! # Memory
//!
//! Layers never sit in memory: `push` writes the tar+gzip stream to a temporary file while
//! hashing it and uploads it from there in one streamed request; `pull` streams each blob to a
//! temporary file in the output directory (checking its digest on the way) and unpacks from it.
//! Memory use is a few buffers, whatever the artifact's size; the disk needs room for one
//! compressed copy next to the tree.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_client::manifest::{OciDescriptor, OciImageManifest};

use crate::{Error, Result};

mod digest;
mod layout;
mod pack;
mod reference;
mod remote;

pub use reference::Reference;

/// Media type of a gzip-compressed tar layer (a pushed directory).
pub const MEDIA_TYPE_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of the empty config blob `{}` (OCI 1.1 artifacts).
pub const MEDIA_TYPE_EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// Media type of an OCI image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index (`index.json` of a directory store).
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The `artifactType` ORAS CLI uses when none is given.
pub const ARTIFACT_TYPE: &str = "application/vnd.unknown.artifact.v1";
/// Annotation naming a layer's file or directory.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// ORAS annotation: `true` when the layer is a directory archive to unpack.
pub const ANNOTATION_UNPACK: &str = "io.deis.oras.content.unpack";
/// ORAS annotation: digest of the uncompressed tar stream of a directory layer.
pub const ANNOTATION_CONTENT_DIGEST: &str = "io.deis.oras.content.digest";
/// Annotation: when the artifact was made (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Annotation of an `index.json` entry: the tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Title of the layer `push` writes (see the module docs).
pub const DIRECTORY_TITLE: &str = ".";

/// The empty config blob.
const EMPTY_CONFIG: &[u8] = b"{}";

/// Where artifacts live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Store {
    /// An OCI registry; the host comes from each [`Reference`].
    Registry {
        /// Talk plain HTTP instead of HTTPS.
        plain_http: bool,
        /// How many times a transfer is tried again when the registry cannot be reached, stops
        /// answering or says it is overloaded.
        retries: u32,
        /// A user name and password, for a registry that asks for them (a workflow's own
        /// registry does); None: anonymous.
        credentials: Option<Credentials>,
    },
    /// A local directory holding one OCI image layout per repository.
    Directory(PathBuf),
}

/// A registry's user name and password (HTTP basic authentication). Its `Debug` hides the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"…").finish()
    }
}

/// What [`push`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Digest of the artifact's manifest (what `oras` prints as the pushed digest).
    pub digest: String,
    /// Size of the compressed layer in bytes.
    pub size: u64,
}

/// What [`pull`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    /// Digest of the artifact's manifest.
    pub digest: String,
    /// Total size of the layers that were applied, in bytes (compressed).
    pub size: u64,
    /// Files, directories and links written.
    pub entries: u64,
}

/// Pushes the contents of `dir` as `reference` (see the module docs for the format).
///
/// Pushing the same tag again replaces it. Fails with [`Error::Artifact`] naming the reference
/// and the reason (missing directory, registry unreachable, …).
pub async fn push(store: &Store, reference: &Reference, dir: &Path) -> Result<Pushed> {
    check_store(store, reference, "push")?;
    let dir = dir
        .canonicalize()
        .map_err(|e| failed("push", reference, format!("cannot read the directory {}: {e}", dir.display())))?;
    if !dir.is_dir() {
        return Err(failed("push", reference, format!("{} is not a directory", dir.display())));
    }
    match store {
        Store::Registry { plain_http, retries, credentials } => {
            remote::push(reference, *plain_http, *retries, credentials.as_ref(), dir).await
        }
        Store::Directory(root) => {
            let (root, owned) = (root.clone(), reference.clone());
            blocking("push", reference, move || layout::push(&root, &owned, &dir)).await
        }
    }
}

/// Pulls `reference` into `out_dir` (created if missing); files already there are kept unless
/// the artifact has a file of the same name, which replaces them.
///
/// Fails with [`Error::ArtifactNotFound`] when the repository or tag does not exist, and with
/// [`Error::Artifact`] otherwise (unsafe paths in the archive, digest mismatch, …).
pub async fn pull(store: &Store, reference: &Reference, out_dir: &Path) -> Result<Pulled> {
    check_store(store, reference, "pull")?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| failed("pull", reference, format!("cannot create {}: {e}", out_dir.display())))?;
    let out_dir =
        out_dir.canonicalize().map_err(|e| failed("pull", reference, format!("{}: {e}", out_dir.display())))?;
    match store {
        Store::Registry { plain_http, retries, credentials } => {
            remote::pull(reference, *plain_http, *retries, credentials.as_ref(), out_dir).await
        }
        Store::Directory(root) => {
            let (root, owned) = (root.clone(), reference.clone());
            blocking("pull", reference, move || layout::pull(&root, &owned, &out_dir)).await
        }
    }
}

/// A single-threaded tokio runtime for callers outside any runtime (the `smo artifact` CLI).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the async runtime for artifact transfer", e))
}

/// A reference parsed for one kind of store must not be used with the other.
fn check_store(store: &Store, reference: &Reference, action: &'static str) -> Result<()> {
    match (store, reference.host()) {
        (Store::Registry { .. }, None) => Err(failed(action, reference, "a registry reference needs a host")),
        (Store::Directory(_), Some(_)) => {
            Err(failed(action, reference, "a directory store takes `repository:tag`, without a host"))
        }
        _ => Ok(()),
    }
}

/// An [`Error::Artifact`].
fn failed(action: &'static str, reference: &Reference, reason: impl fmt::Display) -> Error {
    Error::Artifact { action, reference: reference.to_string(), reason: reason.to_string() }
}

/// Runs blocking file work (tar, gzip, hashing) off the async threads.
async fn blocking<T: Send + 'static>(
    action: &'static str,
    reference: &Reference,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| failed(action, reference, format!("worker task failed: {e}")))?
}

/// The manifest of an artifact with one directory layer.
fn manifest(layer: &pack::Packed) -> OciImageManifest {
    let annotations = [
        (ANNOTATION_TITLE, DIRECTORY_TITLE.to_string()),
        (ANNOTATION_UNPACK, "true".to_string()),
        (ANNOTATION_CONTENT_DIGEST, layer.content_digest.clone()),
    ];
    OciImageManifest {
        schema_version: 2,
        // `OciImageManifest::build` leaves these unset; registries and ORAS want them.
        media_type: Some(MEDIA_TYPE_MANIFEST.to_string()),
        artifact_type: Some(ARTIFACT_TYPE.to_string()),
        config: OciDescriptor {
            media_type: MEDIA_TYPE_EMPTY_CONFIG.to_string(),
            digest: digest::of_bytes(EMPTY_CONFIG),
            size: EMPTY_CONFIG.len() as i64,
            ..OciDescriptor::default()
        },
        layers: vec![OciDescriptor {
            media_type: MEDIA_TYPE_TAR_GZIP.to_string(),
            digest: layer.digest.clone(),
            size: i64::try_from(layer.size).unwrap_or(i64::MAX),
            annotations: Some(annotations.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
            ..OciDescriptor::default()
        }],
        subject: None,
        annotations: Some([(ANNOTATION_CREATED.to_string(), rfc3339(SystemTime::now()))].into_iter().collect()),
    }
}

/// The manifest's bytes as stored and pushed (its digest is the artifact's digest).
fn manifest_bytes(manifest: &OciImageManifest) -> Result<Vec<u8>> {
    serde_json::to_vec(manifest)
        .map_err(|source| smo_core::Error::Serialize { what: "the artifact manifest".into(), source }.into())
}

/// `t` as an RFC 3339 UTC timestamp with seconds, e.g. `2026-11-25T09:30:00Z`.
fn rfc3339(t: SystemTime) -> String {
    smo_core::times::Utc::of(t).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_manifest_is_oras_shaped() {
        let packed = pack::Packed {
            digest: digest::of_bytes(b"layer"),
            size: 5,
            content_digest: digest::of_bytes(b"tar"),
            entries: 1,
        };
        let json: serde_json::Value = serde_json::from_slice(&manifest_bytes(&manifest(&packed)).unwrap()).unwrap();
        assert_eq!(json["schemaVersion"], 2);
        assert_eq!(json["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(json["artifactType"], ARTIFACT_TYPE);
        assert_eq!(json["config"]["mediaType"], MEDIA_TYPE_EMPTY_CONFIG);
        assert_eq!(json["config"]["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_eq!(json["config"]["size"], 2);
        let layer = &json["layers"][0];
        assert_eq!(layer["mediaType"], MEDIA_TYPE_TAR_GZIP);
        assert_eq!(layer["size"], 5);
        assert_eq!(layer["annotations"][ANNOTATION_TITLE], ".");
        assert_eq!(layer["annotations"][ANNOTATION_UNPACK], "true");
        assert_eq!(layer["annotations"][ANNOTATION_CONTENT_DIGEST], digest::of_bytes(b"tar"));
        assert!(json["annotations"][ANNOTATION_CREATED].as_str().unwrap().ends_with('Z'));
    }
}
