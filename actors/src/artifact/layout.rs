//! The directory store: one OCI image layout per repository, `<root>/<repository>/`.
//!
//! ```text
//! <root>/job_012345678/
//!   oci-layout                 {"imageLayoutVersion":"1.0.0"}
//!   index.json                 manifests tagged with org.opencontainers.image.ref.name
//!   blobs/sha256/<hex>         manifest, empty config, layer
//! ```
//!
//! This is what `oras push --oci-layout <root>/<repository>:<tag>` writes and `oras pull
//! --oci-layout` reads. Blobs are written under a temporary name and renamed into place, and
//! `index.json` is rewritten (temporary file + rename) under an exclusive lock on
//! `<root>/<repository>/index.json.lock`: readers never see a half-written file, pushes to
//! different repositories never touch the same files, and concurrent pushes to one repository
//! cannot lose each other's tags. Pushing a tag again replaces its index entry; the old blobs
//! stay (no garbage collection).

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use oci_client::manifest::OciImageManifest;
use serde_json::{Value, json};

use super::pack::{self, LayerAction};
use super::{
    ANNOTATION_REF_NAME, ARTIFACT_TYPE, EMPTY_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST, Pulled, Pushed, Reference,
    digest, failed,
};
use crate::{Error, Result};

/// Content of the `oci-layout` marker file.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Packs `dir` straight into the layout of `reference`'s repository and tags it.
pub(super) fn push(root: &Path, reference: &Reference, dir: &Path) -> Result<Pushed> {
    let fail = |what: String| failed("push", reference, what);
    let repo = root.join(reference.repository());
    let blobs = repo.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| fail(format!("cannot create {}: {e}", blobs.display())))?;
    if !repo.join("oci-layout").exists() {
        write_atomically(&repo, "oci-layout", OCI_LAYOUT).map_err(fail)?;
    }

    // The layer is written into the blob directory under a temporary name, then renamed to its
    // digest: no second copy.
    let temp = tempfile::Builder::new()
        .prefix(".tmp-layer-")
        .tempfile_in(&blobs)
        .map_err(|e| fail(format!("cannot create a file in {}: {e}", blobs.display())))?;
    let temp_path = temp.path().canonicalize().map_err(|e| fail(format!("cannot resolve a temporary file: {e}")))?;
    let packed = pack::pack(dir, BufWriter::new(temp.as_file()), Some(&temp_path))
        .map_err(|e| fail(format!("cannot pack {}: {e}", dir.display())))?;
    let hex = digest::sha256_hex(&packed.digest).map_err(&fail)?;
    temp.persist(blobs.join(hex)).map_err(|e| fail(format!("cannot store the layer: {}", e.error)))?;

    put_blob(&blobs, EMPTY_CONFIG).map_err(&fail)?;
    let manifest = super::manifest(&packed);
    let body = super::manifest_bytes(&manifest)?;
    let manifest_digest = put_blob(&blobs, &body).map_err(&fail)?;
    tag(&repo, reference.tag(), &manifest_digest, body.len()).map_err(fail)?;
    Ok(Pushed { digest: manifest_digest, size: packed.size })
}

/// Stores `bytes` as a blob (if not already there); returns its digest.
fn put_blob(blobs: &Path, bytes: &[u8]) -> Result<String, String> {
    let digest = digest::of_bytes(bytes);
    let hex = digest::sha256_hex(&digest)?;
    if !blobs.join(hex).exists() {
        write_atomically(blobs, hex, bytes)?;
    }
    Ok(digest)
}

/// Writes `dir/name` through a temporary file in `dir` and a rename.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let target = dir.join(name);
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", target.display());
    let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(fail)?;
    temp.write_all(bytes).map_err(fail)?;
    temp.flush().map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Store files are shared between the steps (and users) that read them.
        temp.as_file().set_permissions(fs::Permissions::from_mode(0o644)).map_err(fail)?;
    }
    temp.persist(&target).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Points `tag` at the manifest `digest` in `repo/index.json`, replacing an earlier entry for
/// the same tag and keeping everything else (entries and fields other tools wrote).
fn tag(repo: &Path, tag: &str, digest: &str, size: usize) -> Result<(), String> {
    let lock_path = repo.join("index.json.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    // Held until `lock` is dropped at the end of this function.
    lock.lock().map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;

    let index_path = repo.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| format!("{} is not valid JSON: {e}", index_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            json!({ "schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [] })
        }
        Err(e) => return Err(format!("cannot read {}: {e}", index_path.display())),
    };
    let Some(object) = index.as_object_mut() else {
        return Err(format!("{} is not a JSON object", index_path.display()));
    };
    let manifests = object.entry("manifests").or_insert_with(|| json!([]));
    let Some(manifests) = manifests.as_array_mut() else {
        return Err(format!("{}: `manifests` is not a list", index_path.display()));
    };
    manifests.retain(|entry| ref_name(entry) != Some(tag));
    manifests.push(json!({
        "mediaType": MEDIA_TYPE_MANIFEST,
        "digest": digest,
        "size": size,
        "artifactType": ARTIFACT_TYPE,
        "annotations": { ANNOTATION_REF_NAME: tag },
    }));
    let bytes = serde_json::to_vec(&index).map_err(|e| format!("cannot serialise {}: {e}", index_path.display()))?;
    write_atomically(repo, "index.json", &bytes)?;
    drop(lock);
    Ok(())
}

/// The tag of an `index.json` entry.
fn ref_name(entry: &Value) -> Option<&str> {
    entry.get("annotations")?.get(ANNOTATION_REF_NAME)?.as_str()
}

/// Pulls `reference` from the layout of its repository into `out_dir`.
pub(super) fn pull(root: &Path, reference: &Reference, out_dir: &Path) -> Result<Pulled> {
    let fail = |what: String| failed("pull", reference, what);
    let not_found = |detail: String| Error::ArtifactNotFound { reference: reference.to_string(), detail };
    let repo = root.join(reference.repository());
    let index_path = repo.join("index.json");
    let index: Value = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("{} is not valid JSON: {e}", index_path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_found(format!("no repository {} in the store", repo.display())));
        }
        Err(e) => return Err(fail(format!("cannot read {}: {e}", index_path.display()))),
    };
    let entry = index
        .get("manifests")
        .and_then(Value::as_array)
        .and_then(|list| list.iter().rev().find(|entry| ref_name(entry) == Some(reference.tag())))
        .ok_or_else(|| not_found(format!("no tag `{}` in {}", reference.tag(), index_path.display())))?;
    let media_type = entry.get("mediaType").and_then(Value::as_str).unwrap_or(MEDIA_TYPE_MANIFEST);
    if media_type != MEDIA_TYPE_MANIFEST {
        return Err(fail(format!("tag `{}` points at a {media_type}, not an image manifest", reference.tag())));
    }
    let manifest_digest = entry
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(format!("the entry for tag `{}` has no digest", reference.tag())))?
        .to_string();

    let blobs = repo.join("blobs").join("sha256");
    let manifest_path = blob_path(&blobs, &manifest_digest).map_err(&fail)?;
    pack::verify_blob(&manifest_path, &manifest_digest).map_err(|e| fail(e.to_string()))?;
    let manifest: OciImageManifest = fs::read(&manifest_path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
        .map_err(|e| fail(format!("cannot read the manifest {}: {e}", manifest_path.display())))?;

    // Judge every layer and check every blob before writing anything.
    let mut layers: Vec<(PathBuf, LayerAction, u64)> = Vec::new();
    for layer in &manifest.layers {
        let action = pack::layer_action(&layer.media_type, layer.annotations.as_ref()).map_err(&fail)?;
        if action == LayerAction::Skip {
            continue;
        }
        let path = blob_path(&blobs, &layer.digest).map_err(&fail)?;
        let size = pack::verify_blob(&path, &layer.digest).map_err(|e| fail(e.to_string()))?;
        layers.push((path, action, size));
    }
    if layers.is_empty() {
        return Err(fail("the artifact has no layer with a title: nothing to pull".into()));
    }
    let mut pulled = Pulled { digest: manifest_digest, size: 0, entries: 0 };
    for (path, action, size) in layers {
        pulled.entries +=
            pack::apply_layer(&path, &action, out_dir).map_err(|e| fail(pack::apply_error(&action, &e)))?;
        pulled.size += size;
    }
    Ok(pulled)
}

/// Path of the blob `digest`, refusing anything but a well-formed sha256 digest.
fn blob_path(blobs: &Path, digest: &str) -> Result<PathBuf, String> {
    let hex = digest::sha256_hex(digest)?;
    let path = blobs.join(hex);
    if !path.is_file() {
        return Err(format!("blob {digest} is missing from the store ({})", path.display()));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Store;

    fn reference(root: &Path, text: &str) -> Reference {
        Reference::parse(text, &Store::Directory(root.to_path_buf())).unwrap()
    }

    fn tree(dir: &Path, files: &[(&str, &str)]) {
        for (name, body) in files {
            let path = dir.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
    }

    #[test]
    fn artifact_layout_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let src = tmp.path().join("src");
        tree(&src, &[("a.txt", "a"), ("sub/b.txt", "b"), ("with space", "s")]);
        let r = reference(&store, "job_000000001:job_a");
        let pushed = push(&store, &r, &src).unwrap();
        assert!(pushed.digest.starts_with("sha256:"));

        // The layout is what ORAS writes.
        let repo = store.join("job_000000001");
        assert_eq!(fs::read(repo.join("oci-layout")).unwrap(), OCI_LAYOUT);
        let index: Value = serde_json::from_slice(&fs::read(repo.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["schemaVersion"], 2);
        assert_eq!(index["manifests"][0]["digest"], pushed.digest.as_str());
        assert_eq!(index["manifests"][0]["annotations"][ANNOTATION_REF_NAME], "job_a");
        let blobs: Vec<String> = fs::read_dir(repo.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(blobs.len(), 3, "manifest, config, layer and no temporary files: {blobs:?}");

        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        let pulled = pull(&store, &r, &out).unwrap();
        assert_eq!(pulled.digest, pushed.digest);
        assert_eq!(pulled.size, pushed.size);
        assert_eq!(pulled.entries, 4);
        assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "a");
        assert_eq!(fs::read_to_string(out.join("sub/b.txt")).unwrap(), "b");
        assert_eq!(fs::read_to_string(out.join("with space")).unwrap(), "s");
    }

    #[test]
    fn artifact_layout_push_again_replaces_the_tag_and_keeps_others() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let src = tmp.path().join("src");
        tree(&src, &[("a.txt", "one")]);
        let a = reference(&store, "job_1:a");
        let b = reference(&store, "job_1:b");
        push(&store, &a, &src).unwrap();
        push(&store, &b, &src).unwrap();
        tree(&src, &[("a.txt", "two")]);
        let second = push(&store, &a, &src).unwrap();
        let index: Value = serde_json::from_slice(&fs::read(store.join("job_1/index.json")).unwrap()).unwrap();
        let tags: Vec<&str> = index["manifests"].as_array().unwrap().iter().filter_map(ref_name).collect();
        assert_eq!(tags, ["b", "a"]);
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        let pulled = pull(&store, &a, &out).unwrap();
        assert_eq!(pulled.digest, second.digest);
        assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "two");
    }

    #[test]
    fn artifact_layout_concurrent_pushes_are_safe() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let src = tmp.path().join("src");
        tree(&src, &[("a.txt", "a")]);
        std::thread::scope(|scope| {
            for i in 0..8 {
                let (store, src) = (&store, &src);
                scope.spawn(move || {
                    // Four repositories, two tags each, all at once.
                    let r = reference(store, &format!("job_{}:t{}", i % 4, i));
                    push(store, &r, src).unwrap();
                });
            }
        });
        for i in 0..8 {
            let r = reference(&store, &format!("job_{}:t{}", i % 4, i));
            let out = tmp.path().join(format!("out{i}"));
            fs::create_dir(&out).unwrap();
            pull(&store, &r, &out).unwrap();
            assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "a");
        }
    }

    #[test]
    fn artifact_layout_missing_tag_or_repository_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let src = tmp.path().join("src");
        tree(&src, &[("a.txt", "a")]);
        push(&store, &reference(&store, "job_1:a"), &src).unwrap();
        for text in ["job_1:missing", "job_2:a"] {
            let err = pull(&store, &reference(&store, text), &tmp.path().join("out")).unwrap_err();
            assert_eq!(err.category(), "artifact_not_found", "{err}");
            assert!(err.to_string().contains(text), "{err}");
        }
    }

    #[test]
    fn artifact_layout_detects_a_corrupted_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let src = tmp.path().join("src");
        tree(&src, &[("a.txt", "a")]);
        let r = reference(&store, "job_1:a");
        let pushed = push(&store, &r, &src).unwrap();
        // Find the layer blob through the manifest and overwrite it.
        let manifest: OciImageManifest = serde_json::from_slice(
            &fs::read(store.join("job_1/blobs/sha256").join(digest::sha256_hex(&pushed.digest).unwrap())).unwrap(),
        )
        .unwrap();
        let layer_path = store.join("job_1/blobs/sha256").join(digest::sha256_hex(&manifest.layers[0].digest).unwrap());
        fs::write(&layer_path, b"garbage").unwrap();
        let out = tmp.path().join("out");
        let err = pull(&store, &r, &out).unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
        assert!(!out.join("a.txt").exists(), "nothing is written from a corrupt blob");
    }
}
