//! Directory ⇄ tar(+gzip) layer, and the rules for applying a pulled layer to a directory.
//!
//! [`pack`] writes the *contents* of a directory as a tar stream whose entry names are relative
//! to that directory (`a.txt`, `sub/`, `sub/b.txt` — no directory-name prefix), gzip-compressed,
//! hashing both the tar stream (the `io.deis.oras.content.digest` annotation) and the gzip bytes
//! (the layer digest) on the way. The layer is titled `.` (see the module docs of
//! [`super`] for why).
//!
//! [`apply_layer`] does the reverse for any layer ORAS tools produce: a tar+gzip or tar archive
//! is unpacked, anything else is written as the single file its title names.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tar::{Archive, Builder, EntryType, HeaderMode};

use super::digest::{HashingReader, HashingWriter};
use super::{ANNOTATION_CONTENT_DIGEST, ANNOTATION_TITLE, ANNOTATION_UNPACK, MEDIA_TYPE_TAR_GZIP};

/// What [`pack`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Packed {
    /// Digest of the compressed layer (the blob).
    pub digest: String,
    /// Size of the compressed layer in bytes.
    pub size: u64,
    /// Digest of the uncompressed tar stream (ORAS `io.deis.oras.content.digest`).
    pub content_digest: String,
    /// Files, directories and links in the archive.
    pub entries: u64,
}

/// Writes `dir`'s contents to `out` as a gzip-compressed tar stream.
///
/// Entries are sorted by name so the same tree gives the same tar stream (mtimes and modes are
/// kept, so "same tree" includes those). Symbolic links are stored as links, never followed.
/// Sockets, FIFOs and devices are skipped: they cannot travel in an artifact. `skip` names a
/// file not to include — the temporary layer file itself, should it live inside `dir`.
pub(crate) fn pack(dir: &Path, out: impl Write, skip: Option<&Path>) -> io::Result<Packed> {
    let blob = HashingWriter::new(out);
    // Level 1: step outputs are often large and already compressed; the speed matters more than
    // the last few percent (measured: see the artifact tests' timings).
    let gzip = GzEncoder::new(blob, Compression::fast());
    let tar_stream = HashingWriter::new(gzip);
    let mut builder = Builder::new(tar_stream);
    builder.mode(HeaderMode::Complete);
    builder.follow_symlinks(false);
    let mut entries = 0u64;
    add_children(&mut builder, dir, Path::new(""), skip, &mut entries)?;
    let tar_stream = builder.into_inner()?;
    let (gzip, content_digest, _) = tar_stream.finish();
    let blob = gzip.finish()?;
    let (mut out, digest, size) = blob.finish();
    out.flush()?;
    Ok(Packed { digest, size, content_digest, entries })
}

/// Appends the children of `root/rel` (recursively) with names relative to `root`.
fn add_children<W: Write>(
    builder: &mut Builder<W>,
    root: &Path,
    rel: &Path,
    skip: Option<&Path>,
    entries: &mut u64,
) -> io::Result<()> {
    let here = root.join(rel);
    let mut names = Vec::new();
    for entry in fs::read_dir(&here).map_err(|e| with_path(e, "cannot list", &here))? {
        names.push(entry.map_err(|e| with_path(e, "cannot list", &here))?.file_name());
    }
    names.sort();
    for name in names {
        let name_rel = rel.join(&name);
        let path = root.join(&name_rel);
        if skip.is_some_and(|s| s == path) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(|e| with_path(e, "cannot stat", &path))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            builder.append_dir(&name_rel, &path).map_err(|e| with_path(e, "cannot archive", &path))?;
            *entries += 1;
            add_children(builder, root, &name_rel, skip, entries)?;
        } else if kind.is_file() || kind.is_symlink() {
            builder.append_path_with_name(&path, &name_rel).map_err(|e| with_path(e, "cannot archive", &path))?;
            *entries += 1;
        } else {
            tracing::warn!(path = %path.display(), "not a file, directory or symbolic link; left out of the artifact");
        }
    }
    Ok(())
}

/// `e` with what was being done and to which path.
fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// How a pulled layer is applied to the output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LayerAction {
    /// No title annotation: not a file for us (ORAS skips these too).
    Skip,
    /// A tar archive (gzip-compressed or not: the bytes decide) to unpack into the output
    /// directory; `content_digest` is checked against the uncompressed stream when present.
    Unpack {
        /// The layer's title (`.` for ours, the pushed directory's name for other tools).
        title: String,
        /// `io.deis.oras.content.digest`, when the pusher set it.
        content_digest: Option<String>,
    },
    /// A single file, saved as `<output>/<title>`.
    File {
        /// Relative path of the file.
        title: String,
    },
}

/// Decides what to do with a layer from its media type and annotations.
///
/// Unpack when `io.deis.oras.content.unpack` is `true` (ORAS CLI), or when it is absent and the
/// media type is tar+gzip (python `oras` pushes directories that way, with the title only).
/// Everything else with a title is a file — including python `oras`'s single files, whose media
/// type is `…layer.v1.tar` although the bytes are the file itself.
pub(crate) fn layer_action(
    media_type: &str,
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<LayerAction, String> {
    let get = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
    let Some(title) = get(ANNOTATION_TITLE) else {
        return Ok(LayerAction::Skip);
    };
    let unpack = match get(ANNOTATION_UNPACK) {
        Some(value) => value.eq_ignore_ascii_case("true"),
        None => media_type == MEDIA_TYPE_TAR_GZIP || media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip",
    };
    let relative = safe_relative(title).map_err(|e| format!("layer title `{title}` {e}"))?;
    if unpack {
        Ok(LayerAction::Unpack {
            title: title.to_string(),
            content_digest: get(ANNOTATION_CONTENT_DIGEST).map(Into::into),
        })
    } else if relative.as_os_str().is_empty() {
        Err(format!("layer title `{title}` names no file"))
    } else {
        Ok(LayerAction::File { title: title.to_string() })
    }
}

/// `path` as a relative path without `.` components, or why it is unsafe to write: absolute
/// paths and `..` components are refused (never silently dropped).
pub(crate) fn safe_relative(path: impl AsRef<Path>) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in path.as_ref().components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("contains `..`: it would leave the output directory".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("is an absolute path: it would leave the output directory".into());
            }
        }
    }
    Ok(out)
}

/// What [`unpack`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Unpacked {
    /// Entries written (files, directories, links).
    pub entries: u64,
}

/// Unpacks a tar archive (gzip-compressed or not) from `input` into `out_dir`.
///
/// Every entry name is checked first: absolute names and names with `..` are an error (the
/// whole pull fails, naming the entry). Writes through symbolic links — one already in
/// `out_dir` or one the archive itself created — are refused by the tar crate's own
/// containment check; an existing file is replaced (unlinked first, never written through).
/// Directories get their modes last, so a read-only directory can still be filled.
///
/// When `content_digest` is given, the uncompressed stream is hashed and compared at the end;
/// on a mismatch the files are already written and the error says so.
pub(crate) fn unpack(input: impl Read, out_dir: &Path, content_digest: Option<&str>) -> io::Result<Unpacked> {
    let mut input = BufReader::new(input);
    let gzip = is_gzip(&mut input)?;
    let stream: Box<dyn Read> = if gzip { Box::new(GzDecoder::new(input)) } else { Box::new(input) };
    let mut archive = Archive::new(HashingReader::new(stream));
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let mut unpacked = Unpacked::default();
    let mut directories = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let relative = safe_relative(&name).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("archive entry `{}` {e}", name.display()))
        })?;
        if relative.as_os_str().is_empty() {
            // The archive's root (`.` or `./`): the output directory itself.
            continue;
        }
        match entry.header().entry_type() {
            EntryType::Directory => {
                // Created now (so files can go in), its mode and mtime applied at the end.
                fs::create_dir_all(out_dir.join(&relative))
                    .map_err(|e| with_path(e, "cannot create", &out_dir.join(&relative)))?;
                directories.push(entry);
            }
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::Symlink
            | EntryType::Link
            | EntryType::GNUSparse => {
                if !entry.unpack_in(out_dir)? {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("archive entry `{}` was refused by the unpacker", name.display()),
                    ));
                }
            }
            other => {
                tracing::warn!(entry = %name.display(), kind = ?other, "skipping an archive entry that is not a file, directory or link");
                continue;
            }
        }
        unpacked.entries += 1;
    }
    for mut dir in directories.into_iter().rev() {
        dir.unpack_in(out_dir)?;
    }
    let (actual, _) = archive.into_inner().drain()?;
    if let Some(expected) = content_digest
        && expected != actual
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the unpacked content has digest {actual}, but the layer announces {expected}"),
        ));
    }
    Ok(unpacked)
}

/// Whether the stream starts with the gzip magic bytes (without consuming them).
fn is_gzip(input: &mut BufReader<impl Read>) -> io::Result<bool> {
    let head = io::BufRead::fill_buf(input)?;
    Ok(head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b)
}

/// Applies one layer blob (a file at `blob`, already verified against its digest) to
/// `out_dir`; returns the entries written.
pub(crate) fn apply_layer(blob: &Path, action: &LayerAction, out_dir: &Path) -> io::Result<u64> {
    let mut file = File::open(blob).map_err(|e| with_path(e, "cannot open", blob))?;
    match action {
        LayerAction::Skip => Ok(0),
        LayerAction::Unpack { content_digest, .. } => {
            Ok(unpack(&mut file, out_dir, content_digest.as_deref())?.entries)
        }
        LayerAction::File { title } => {
            write_file(&mut file, out_dir, title)?;
            Ok(1)
        }
    }
}

/// One line for a failure to apply a layer.
pub(crate) fn apply_error(action: &LayerAction, e: &std::io::Error) -> String {
    match action {
        LayerAction::Unpack { title, .. } => format!("cannot unpack layer `{title}`: {e}"),
        LayerAction::File { title } => format!("cannot write `{title}`: {e}"),
        LayerAction::Skip => e.to_string(),
    }
}

/// Checks that the file at `blob` has digest `expected` (blobs of a directory store are checked
/// before anything is written from them).
pub(crate) fn verify_blob(blob: &Path, expected: &str) -> io::Result<u64> {
    let file = File::open(blob).map_err(|e| with_path(e, "cannot open", blob))?;
    let (actual, size) = HashingReader::new(BufReader::new(file)).drain()?;
    if actual != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("blob {} has digest {actual}, expected {expected}", blob.display()),
        ));
    }
    Ok(size)
}

/// Writes `input` to `out_dir/title` through a temporary file in the same directory, renamed
/// into place at the end: no half-written file under the final name, and an existing symbolic
/// link at that name is replaced rather than written through.
fn write_file(input: &mut impl Read, out_dir: &Path, title: &str) -> io::Result<()> {
    let relative = safe_relative(title).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let target = out_dir.join(&relative);
    let parent = target.parent().unwrap_or(out_dir);
    fs::create_dir_all(parent).map_err(|e| with_path(e, "cannot create", parent))?;
    // The parent must still be inside the output directory after resolving symbolic links.
    let canonical_out = out_dir.canonicalize().map_err(|e| with_path(e, "cannot resolve", out_dir))?;
    let canonical_parent = parent.canonicalize().map_err(|e| with_path(e, "cannot resolve", parent))?;
    if !canonical_parent.starts_with(&canonical_out) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("layer title `{title}` leads outside the output directory through a symbolic link"),
        ));
    }
    let mut temp = tempfile::Builder::new().prefix(".smo-pull-").tempfile_in(parent)?;
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        io::copy(input, &mut out)?;
        out.flush()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; a pulled file is as readable as one `oras pull` writes.
        temp.as_file().set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    temp.persist(&target).map_err(|e| with_path(e.error, "cannot write", &target))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use super::super::digest::of_bytes;

    /// A tree with every kind of entry the step scripts produce.
    fn sample_tree(root: &Path) {
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::write(root.join("a.txt"), "hello\n").unwrap();
        fs::write(root.join("with space.txt"), "spaced\n").unwrap();
        fs::write(root.join("sub/deeper/b.txt"), "b\n").unwrap();
        // 100 KB of pseudo-random bytes (xorshift, so the test needs no rand dependency).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u8> = (0..100 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        fs::write(root.join("random.bin"), random).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::os::unix::fs::symlink("a.txt", root.join("link-to-a")).unwrap();
            std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
            fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
            fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// Every path under `root` with its kind and content (links: their target).
    fn listing(root: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
            for entry in fs::read_dir(root.join(rel)).unwrap() {
                let entry = entry.unwrap();
                let rel = rel.join(entry.file_name());
                let path = root.join(&rel);
                let meta = fs::symlink_metadata(&path).unwrap();
                let key = rel.display().to_string();
                if meta.file_type().is_symlink() {
                    out.insert(key, format!("link {}", fs::read_link(&path).unwrap().display()));
                } else if meta.is_dir() {
                    out.insert(key, "dir".into());
                    walk(root, &rel, out);
                } else {
                    #[cfg(unix)]
                    let mode = {
                        use std::os::unix::fs::PermissionsExt;
                        meta.permissions().mode() & 0o777
                    };
                    #[cfg(not(unix))]
                    let mode = 0;
                    out.insert(key, format!("file {mode:o} {}", of_bytes(&fs::read(&path).unwrap())));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(root, Path::new(""), &mut out);
        out
    }

    fn pack_to_vec(dir: &Path) -> (Vec<u8>, Packed) {
        let mut buf = Vec::new();
        let packed = pack(dir, &mut buf, None).unwrap();
        (buf, packed)
    }

    /// A raw tar with one regular entry whose name is written verbatim (bypassing the tar
    /// crate's own refusal to write `..` names).
    fn tar_with_entry(name: &str, kind: EntryType, link: Option<&str>, body: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_old();
        {
            let bytes = header.as_old_mut();
            bytes.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        let mut out = Vec::new();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn artifact_pack_round_trip_keeps_the_tree() {
        let src = tempfile::tempdir().unwrap();
        sample_tree(src.path());
        let (blob, packed) = pack_to_vec(src.path());
        assert_eq!(packed.digest, of_bytes(&blob));
        assert_eq!(packed.size, blob.len() as u64);
        assert!(packed.entries >= 9, "{packed:?}");

        let out = tempfile::tempdir().unwrap();
        let unpacked = unpack(&blob[..], out.path(), Some(&packed.content_digest)).unwrap();
        assert_eq!(unpacked.entries, packed.entries);
        assert_eq!(listing(src.path()), listing(out.path()));
        assert!(out.path().join("empty").is_dir());
        assert_eq!(fs::read_to_string(out.path().join("with space.txt")).unwrap(), "spaced\n");
    }

    #[test]
    fn artifact_pack_entries_have_no_directory_prefix() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("sub")).unwrap();
        fs::write(src.path().join("sub/x"), "x").unwrap();
        fs::write(src.path().join("a.txt"), "a").unwrap();
        let (blob, _) = pack_to_vec(src.path());
        let mut archive = Archive::new(GzDecoder::new(&blob[..]));
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.txt", "sub", "sub/x"]);
    }

    #[test]
    fn artifact_pack_is_deterministic_and_skips_its_own_temp_file() {
        let src = tempfile::tempdir().unwrap();
        sample_tree(src.path());
        let (first, a) = pack_to_vec(src.path());
        let (second, b) = pack_to_vec(src.path());
        assert_eq!(a, b);
        assert_eq!(first, second);
        let skip = src.path().join("random.bin");
        let c = pack(src.path(), io::sink(), Some(&skip)).unwrap();
        assert_eq!(c.entries, a.entries - 1);
    }

    #[test]
    fn artifact_pack_of_an_empty_directory() {
        let src = tempfile::tempdir().unwrap();
        let (blob, packed) = pack_to_vec(src.path());
        assert_eq!(packed.entries, 0);
        let out = tempfile::tempdir().unwrap();
        assert_eq!(unpack(&blob[..], out.path(), Some(&packed.content_digest)).unwrap().entries, 0);
        assert!(listing(out.path()).is_empty());
    }

    #[test]
    fn artifact_unpack_rejects_path_traversal() {
        for name in ["../escape.txt", "sub/../../escape.txt", "/etc/escape.txt"] {
            let root = tempfile::tempdir().unwrap();
            let out = root.path().join("out");
            fs::create_dir(&out).unwrap();
            let tar = tar_with_entry(name, EntryType::Regular, None, b"bad");
            let err = unpack(&tar[..], &out, None).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{name}: {err}");
            assert!(err.to_string().contains(name), "{err}");
            assert!(!root.path().join("escape.txt").exists());
            assert!(listing(&out).is_empty(), "{name}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn artifact_unpack_refuses_to_write_through_symlinks() {
        // An archive that first plants `evil -> <outside>` and then writes `evil/x`.
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let out = root.path().join("out");
        fs::create_dir(&out).unwrap();
        let mut tar = tar_with_entry("evil", EntryType::Symlink, Some(outside.to_str().unwrap()), b"");
        tar.truncate(tar.len() - 1024);
        tar.extend(tar_with_entry("evil/x", EntryType::Regular, None, b"bad"));
        assert!(unpack(&tar[..], &out, None).is_err());
        assert!(!outside.join("x").exists());

        // A symlink already in the output directory is replaced, not written through.
        let out2 = root.path().join("out2");
        fs::create_dir(&out2).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), out2.join("a.txt")).unwrap();
        let tar = tar_with_entry("a.txt", EntryType::Regular, None, b"new");
        unpack(&tar[..], &out2, None).unwrap();
        assert!(!outside.join("victim").exists());
        assert_eq!(fs::read_to_string(out2.join("a.txt")).unwrap(), "new");
    }

    #[test]
    fn artifact_unpack_checks_the_content_digest() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("a.txt"), "a").unwrap();
        let (blob, _) = pack_to_vec(src.path());
        let out = tempfile::tempdir().unwrap();
        let wrong = of_bytes(b"something else");
        let err = unpack(&blob[..], out.path(), Some(&wrong)).unwrap_err();
        assert!(err.to_string().contains("announces"), "{err}");
    }

    #[test]
    fn artifact_unpack_accepts_plain_tar_and_dot_slash_names() {
        let tar = tar_with_entry("./dir/f.txt", EntryType::Regular, None, b"plain");
        let out = tempfile::tempdir().unwrap();
        assert_eq!(unpack(&tar[..], out.path(), Some(&of_bytes(&tar))).unwrap().entries, 1);
        assert_eq!(fs::read_to_string(out.path().join("dir/f.txt")).unwrap(), "plain");
    }

    #[test]
    fn artifact_layer_action_follows_oras_conventions() {
        let ann = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let tgz = MEDIA_TYPE_TAR_GZIP;
        let tar = "application/vnd.oci.image.layer.v1.tar";
        // ORAS CLI directory.
        let a = ann(&[(ANNOTATION_TITLE, "."), (ANNOTATION_UNPACK, "true"), (ANNOTATION_CONTENT_DIGEST, "sha256:x")]);
        assert_eq!(
            layer_action(tgz, Some(&a)).unwrap(),
            LayerAction::Unpack { title: ".".into(), content_digest: Some("sha256:x".into()) }
        );
        // python oras directory: tar+gzip, title only.
        let a = ann(&[(ANNOTATION_TITLE, "job_py")]);
        assert_eq!(
            layer_action(tgz, Some(&a)).unwrap(),
            LayerAction::Unpack { title: "job_py".into(), content_digest: None }
        );
        // python oras single file: "tar" media type, raw bytes.
        let a = ann(&[(ANNOTATION_TITLE, "f.txt")]);
        assert_eq!(layer_action(tar, Some(&a)).unwrap(), LayerAction::File { title: "f.txt".into() });
        // Explicitly not unpacked: saved as the file.
        let a = ann(&[(ANNOTATION_TITLE, "d.tar.gz"), (ANNOTATION_UNPACK, "false")]);
        assert_eq!(layer_action(tgz, Some(&a)).unwrap(), LayerAction::File { title: "d.tar.gz".into() });
        // Plain tar with the unpack annotation is unpacked.
        let a = ann(&[(ANNOTATION_TITLE, "d"), (ANNOTATION_UNPACK, "true")]);
        assert!(matches!(layer_action(tar, Some(&a)).unwrap(), LayerAction::Unpack { .. }));
        // Untitled layers are skipped; unsafe titles are errors.
        assert_eq!(layer_action(tgz, None).unwrap(), LayerAction::Skip);
        for bad in ["../x", "/etc/x"] {
            let a = ann(&[(ANNOTATION_TITLE, bad)]);
            assert!(layer_action("text/plain", Some(&a)).is_err(), "{bad}");
        }
        let a = ann(&[(ANNOTATION_TITLE, ".")]);
        assert!(layer_action("text/plain", Some(&a)).is_err());
    }

    #[test]
    fn artifact_apply_layer_writes_single_files_and_blobs_are_verified() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, "content").unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let action = LayerAction::File { title: "nested/f.txt".into() };
        assert_eq!(apply_layer(&blob, &action, &out).unwrap(), 1);
        assert_eq!(fs::read_to_string(out.join("nested/f.txt")).unwrap(), "content");
        // Pulling again replaces the file.
        fs::write(&blob, "changed").unwrap();
        apply_layer(&blob, &action, &out).unwrap();
        assert_eq!(fs::read_to_string(out.join("nested/f.txt")).unwrap(), "changed");
        assert_eq!(fs::read_dir(out.join("nested")).unwrap().count(), 1, "no temporary file left behind");

        assert_eq!(verify_blob(&blob, &of_bytes(b"changed")).unwrap(), 7);
        let err = verify_blob(&blob, &of_bytes(b"other")).unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
    }
}
