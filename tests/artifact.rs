//! `smo artifact push|pull` from the outside: the real binary against a real OCI registry
//! (Debian's `docker-registry`, started per test on a free loopback port) and against a
//! directory store.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::{Registry, smo};

/// `smo artifact <args>`, logging warnings.
fn artifact_command(args: &[&str]) -> Command {
    let mut command = smo();
    command.arg("artifact").args(args).env("RUST_LOG", "warn");
    command
}

/// Runs `smo artifact <args>`; returns the output (stderr is the one status line).
fn artifact(args: &[&str]) -> Output {
    artifact_command(args).output().expect("run smo")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "smo failed: {}{}", stderr(out), String::from_utf8_lossy(&out.stdout));
    stderr(out)
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "smo succeeded unexpectedly: {}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    err
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A tree with every kind of entry a step leaves behind.
fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).expect("create a directory");
    fs::create_dir_all(root.join("empty")).expect("create a directory");
    fs::write(root.join("a.txt"), "hello\n").expect("write a file");
    fs::write(root.join("file with space.txt"), "spaced\n").expect("write a file");
    fs::write(root.join("sub/deeper/b.txt"), "b\n").expect("write a file");
    fs::write(root.join("random.bin"), pseudo_random(100 * 1024, 7)).expect("write a file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::os::unix::fs::symlink("a.txt", root.join("link-to-a")).expect("make a symlink");
        std::os::unix::fs::symlink("sub/deeper", root.join("link-to-dir")).expect("make a symlink");
        fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").expect("write a file");
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// `len` bytes from a xorshift generator (incompressible enough to be realistic).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every path under `root`: kind, mode and content (links: their target), for comparison.
fn listing(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(root.join(rel)).expect("list a directory") {
            let rel = rel.join(entry.expect("list a directory").file_name());
            let path = root.join(&rel);
            let meta = fs::symlink_metadata(&path).expect("stat");
            let key = rel.display().to_string();
            if meta.file_type().is_symlink() {
                out.insert(key, format!("link -> {}", fs::read_link(&path).expect("read a link").display()));
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
                let body = fs::read(&path).expect("read a file");
                out.insert(key, format!("file {mode:o} {} bytes {:?}", body.len(), &body[..body.len().min(16)]));
                out.insert(format!("{}#content", rel.display()), format!("{:x?}", body));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

#[test]
fn artifact_registry_push_then_pull_gives_an_identical_tree() {
    let Some(registry) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    sample_tree(&src);
    let reference = format!("{}/job_000000001:job_a", registry.host);

    let line = ok(&artifact(&["push", &reference, s(&src), "--plain-http"]));
    assert!(line.starts_with(&format!("pushed {reference} (")), "{line}");
    assert!(line.contains("sha256:"), "{line}");
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");
    assert!(registry.tags("job_000000001").contains("job_a"));

    // Into a fresh directory (created by pull) …
    let out = tmp.path().join("out/nested");
    let line = ok(&artifact(&["pull", &reference, "--output", s(&out), "--plain-http"]));
    assert!(line.starts_with(&format!("pulled {reference} into ")), "{line}");
    assert_eq!(listing(&src), listing(&out));

    // … and into the current directory (the default), keeping what is already there.
    let cwd = tmp.path().join("cwd");
    fs::create_dir(&cwd).unwrap();
    fs::write(cwd.join("already-here.txt"), "keep").unwrap();
    let out = smo().args(["artifact", "pull", &reference, "--plain-http"]).current_dir(&cwd).output().expect("run smo");
    ok(&out);
    let mut got = listing(&cwd);
    assert_eq!(got.remove("already-here.txt#content"), Some(format!("{:x?}", b"keep")));
    assert!(got.remove("already-here.txt").is_some());
    assert_eq!(listing(&src), got);
}

/// A workflow's own registry asks for its password: without it, or with another, nothing is
/// pushed or pulled and the error says what is missing; with it (from the variables a step Pod
/// gets from the workflow's Secret), both work.
#[test]
fn artifact_a_private_registry_admits_only_its_password() {
    let Some(registry) = Registry::start_private("right-password") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    sample_tree(&src);
    let reference = format!("{}/job_000000007:job_a", registry.host);
    let with = |user: Option<&str>, password: Option<&str>, args: &[&str]| {
        let mut command = artifact_command(args);
        command.env_remove("SMO_REGISTRY_USERNAME").env_remove("SMO_REGISTRY_PASSWORD");
        if let Some(user) = user {
            command.env("SMO_REGISTRY_USERNAME", user);
        }
        if let Some(password) = password {
            command.env("SMO_REGISTRY_PASSWORD", password);
        }
        command.output().expect("run smo")
    };
    let push = ["push", reference.as_str(), s(&src), "--plain-http"];
    let err = failed(&with(None, None, &push));
    assert!(err.contains("asks for a user name and password"), "{err}");
    let err = failed(&with(Some("smo"), Some("wrong-password"), &push));
    assert!(err.contains("asks for a user name and password"), "{err}");
    let err = failed(&with(Some("smo"), None, &push));
    assert!(err.contains("give both --username and --password"), "{err}");

    ok(&with(Some("smo"), Some("right-password"), &push));
    let out = tmp.path().join("out");
    let pull = ["pull", reference.as_str(), "--output", s(&out), "--plain-http"];
    let err = failed(&with(None, None, &pull));
    assert!(err.contains("asks for a user name and password"), "{err}");
    assert!(!out.join("a.txt").exists(), "nothing pulled without the password");
    ok(&with(Some("smo"), Some("right-password"), &pull));
    assert_eq!(listing(&src), listing(&out));
}

#[test]
fn artifact_registry_pull_of_a_missing_tag_fails_clearly() {
    let Some(registry) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a.txt"), "a").unwrap();
    ok(&artifact(&["push", &format!("{}/job_000000002:job_a", registry.host), s(tmp.path()), "--plain-http"]));

    for reference in [format!("{}/job_000000002:nope", registry.host), format!("{}/job_999999999:job_a", registry.host)]
    {
        let out_dir = tmp.path().join("out");
        let err = failed(&artifact(&["pull", &reference, "--output", s(&out_dir), "--plain-http"]));
        assert!(err.contains(&reference), "{err}");
        assert!(err.contains("no such artifact"), "{err}");
    }
}

#[test]
fn artifact_registry_upper_case_repository_is_a_clear_error() {
    // Parsing fails before any connection, so no registry is needed for this one.
    let tmp = tempfile::tempdir().unwrap();
    for action in ["push", "pull"] {
        let reference = "127.0.0.1:9/Job_000000001:job_a";
        let args: Vec<&str> = if action == "push" {
            vec!["push", reference, s(tmp.path()), "--plain-http"]
        } else {
            vec!["pull", reference, "--output", s(tmp.path()), "--plain-http"]
        };
        let err = failed(&artifact(&args));
        assert!(err.contains("must be lower case"), "{err}");
        assert!(err.contains("Job_000000001"), "{err}");
    }
    // No host: never silently docker.io.
    let err = failed(&artifact(&["push", "job_1:a", s(tmp.path())]));
    assert!(err.contains("no registry host"), "{err}");
}

#[test]
fn artifact_registry_plain_http_flag_selects_the_protocol() {
    let Some(registry) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a.txt"), "a").unwrap();
    let reference = format!("{}/job_000000003:job_a", registry.host);
    // The test registry speaks plain HTTP: HTTPS fails, with a hint.
    let err = failed(&artifact(&["push", &reference, s(tmp.path())]));
    assert!(err.contains("--plain-http"), "{err}");
    ok(&artifact(&["push", &reference, s(tmp.path()), "--plain-http"]));
    let err = failed(&artifact(&["pull", &reference, "--output", s(&tmp.path().join("o"))]));
    assert!(err.contains("--plain-http"), "{err}");
}

#[test]
fn artifact_unreachable_registry_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    // Port 9 (discard) is closed on loopback. Without retries, the answer comes at once.
    let started = std::time::Instant::now();
    let err = failed(&artifact(&["push", "127.0.0.1:9/job_1:a", s(tmp.path()), "--plain-http", "--retries", "0"]));
    assert!(err.contains("cannot push 127.0.0.1:9/job_1:a"), "{err}");
    assert!(!err.contains("trying again"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    // With retries, it says each time why it tries again, and how many attempts it gave.
    let out = artifact(&["push", "127.0.0.1:9/job_1:a", s(tmp.path()), "--plain-http", "--retries", "1"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("cannot push 127.0.0.1:9/job_1:a") && err.contains("trying again in 1 s (attempt 2 of 2)"),
        "{err}"
    );
    assert!(err.contains("(gave up after 2 attempts)"), "{err}");
    let err = failed(&artifact(&["push", "127.0.0.1:9/job_1:a", s(&tmp.path().join("missing")), "--plain-http"]));
    assert!(err.contains("missing"), "{err}");
}

/// A registry that is not up yet when a step pushes (restarting, or its first SYN lost on a
/// busy node) is waited for: the push is tried again until the registry answers, then the pull
/// gets the same files.
#[test]
fn artifact_push_and_pull_wait_for_a_registry_that_comes_up_late() {
    let tmp = tempfile::tempdir().unwrap();
    sample_tree(&tmp.path().join("in"));
    let port = common::free_port();
    let reference = format!("127.0.0.1:{port}/job_000000010:job_a");
    let mut push = artifact_command(&["push", &reference, s(&tmp.path().join("in")), "--plain-http"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start smo artifact push");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let Some(registry) = Registry::start_on(port) else {
        let _ = push.kill();
        let _ = push.wait();
        return;
    };
    let out = push.wait_with_output().expect("wait for the push");
    let said = ok(&out);
    assert!(said.contains("trying again in 1 s (attempt 2 of 5)"), "{said}");
    assert!(said.contains("pushed"), "{said}");
    assert!(registry.tags("job_000000010").contains("job_a"));
    ok(&artifact(&["pull", &reference, "-o", s(&tmp.path().join("out")), "--plain-http"]));
    assert_eq!(listing(&tmp.path().join("in")), listing(&tmp.path().join("out")));
}

#[test]
fn artifact_directory_store_round_trip_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let src = tmp.path().join("src");
    sample_tree(&src);
    let line = ok(&artifact(&["push", "--store", s(&store), "job_000000004:job_a", s(&src)]));
    assert!(line.starts_with("pushed job_000000004:job_a ("), "{line}");
    // An OCI image layout per repository, as `oras push --oci-layout` writes it.
    let layout = store.join("job_000000004");
    assert!(layout.join("oci-layout").is_file());
    let index = fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(index.contains(r#""org.opencontainers.image.ref.name":"job_a""#), "{index}");

    let out = tmp.path().join("out");
    ok(&artifact(&["pull", "--store", s(&store), "job_000000004:job_a", "--output", s(&out)]));
    assert_eq!(listing(&src), listing(&out));

    let err = failed(&artifact(&["pull", "--store", s(&store), "job_000000004:missing", "--output", s(&out)]));
    assert!(err.contains("no such artifact"), "{err}");
}

/// Step A writes `a.txt` and pushes; step B pulls, adds `b.txt`, pushes; step C pulls and sees
/// both, directly in its own work directory.
fn three_step_handoff(store_args: &[&str], reference: impl Fn(&str) -> String) {
    let tmp = tempfile::tempdir().expect("make a temp dir");
    let (a, b, c) = (tmp.path().join("job_a"), tmp.path().join("job_b"), tmp.path().join("job_c"));
    fs::create_dir(&a).expect("create a directory");
    fs::write(a.join("a.txt"), "from a\n").expect("write a file");
    let with_store = |mut args: Vec<String>| {
        args.extend(store_args.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&artifact(&args));
    };
    with_store(vec!["push".into(), reference("a"), s(&a).into()]);
    with_store(vec!["pull".into(), reference("a"), "--output".into(), s(&b).into()]);
    assert_eq!(fs::read_to_string(b.join("a.txt")).expect("read a file"), "from a\n");
    fs::write(b.join("b.txt"), "from b\n").expect("write a file");
    with_store(vec!["push".into(), reference("b"), s(&b).into()]);
    with_store(vec!["pull".into(), reference("b"), "--output".into(), s(&c).into()]);
    assert_eq!(fs::read_to_string(c.join("a.txt")).expect("read a file"), "from a\n");
    assert_eq!(fs::read_to_string(c.join("b.txt")).expect("read a file"), "from b\n");
    let names: Vec<String> = fs::read_dir(&c)
        .expect("list a directory")
        .map(|e| e.expect("list a directory").file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn artifact_three_step_handoff_through_the_registry() {
    let Some(registry) = Registry::start() else { return };
    let host = registry.host.clone();
    three_step_handoff(&["--plain-http"], |tag| format!("{host}/job_000000005:job_{tag}"));
}

#[test]
fn artifact_three_step_handoff_through_a_directory_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    three_step_handoff(&["--store", s(&store)], |tag| format!("job_000000006:job_{tag}"));
}

/// Not a benchmark: pushes and pulls 10 MB (ten 1 MB files of random bytes) and prints the
/// times, so regressions are visible in the test log (`--nocapture`).
#[test]
fn artifact_registry_ten_megabytes_round_trip_with_timings() {
    let Some(registry) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    for i in 0..10 {
        fs::write(src.join(format!("part-{i}.bin")), pseudo_random(1024 * 1024, i + 1)).unwrap();
    }
    let reference = format!("{}/job_000000007:big", registry.host);
    let start = Instant::now();
    ok(&artifact(&["push", &reference, s(&src), "--plain-http"]));
    let push = start.elapsed();
    let out = tmp.path().join("out");
    let start = Instant::now();
    ok(&artifact(&["pull", &reference, "--output", s(&out), "--plain-http"]));
    let pull = start.elapsed();
    eprintln!("10 MB artifact: push {push:?}, pull {pull:?} (debug build unless run with --release)");
    for i in 0..10 {
        assert_eq!(fs::read(out.join(format!("part-{i}.bin"))).unwrap(), pseudo_random(1024 * 1024, i + 1));
    }
}

/// A python interpreter with the PyPI `oras` package: `$SMO_ORAS_PYTHON`, or
/// `/tmp/smo-oras-venv/bin/python`, or `python3` — whichever can `import oras`.
fn python_with_oras() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SMO_ORAS_PYTHON").map(PathBuf::from),
        Some(PathBuf::from("/tmp/smo-oras-venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python).args(["-c", "import oras.client"]).output().is_ok_and(|o| o.status.success())
    })
}

/// Interop with python `oras` (PyPI; `make services` installs it in a venv and `make test`
/// points SMO_ORAS_PYTHON at it). Both directions, through the same registry.
#[test]
fn artifact_interop_with_python_oras() {
    let Some(python) = python_with_oras() else {
        if common::services_required() {
            panic!("no python with the `oras` package: run `make services` (tests/services/install.sh)");
        }
        eprintln!("skipping: no python with the `oras` package (set SMO_ORAS_PYTHON or pip install oras)");
        return;
    };
    let Some(registry) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let run_python = |script: &str, cwd: &Path| {
        let out = Command::new(&python).arg("-c").arg(script).current_dir(cwd).output().expect("run python");
        assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    };

    // python pulls what smo pushed. Our layer is titled `.`; oras-py resolves `<outdir>/.` to
    // `<outdir>` before taking its parent as the extraction directory, so it unpacks into the
    // parent of the directory it is given (ORAS CLI unpacks into the directory itself).
    let src = tmp.path().join("src");
    sample_tree(&src);
    let reference = format!("{}/job_000000008:job_a", registry.host);
    ok(&artifact(&["push", &reference, s(&src), "--plain-http"]));
    let py_parent = tmp.path().join("py_pull");
    fs::create_dir(&py_parent).unwrap();
    run_python(
        &format!(
            "import oras.client\n\
             c = oras.client.OrasClient(hostname={host:?}, insecure=True)\n\
             c.pull(target={reference:?}, outdir={outdir:?})\n",
            host = registry.host,
            outdir = s(&py_parent.join("inner")),
        ),
        tmp.path(),
    );
    let mut got = listing(&py_parent);
    got.remove("inner");
    assert_eq!(listing(&src), got, "python oras should reproduce the tree");

    // smo pulls what python pushed: a directory (tar+gzip, title only, no unpack annotation)
    // lands under its name, as `oras pull` would put it.
    let py_src = tmp.path().join("py_dir");
    fs::create_dir_all(py_src.join("sub")).unwrap();
    fs::write(py_src.join("x.txt"), "x\n").unwrap();
    fs::write(py_src.join("sub/y.txt"), "y\n").unwrap();
    let reference = format!("{}/job_000000009:job_py", registry.host);
    run_python(
        &format!(
            "import oras.client\n\
             c = oras.client.OrasClient(hostname={host:?}, insecure=True)\n\
             c.push(target={reference:?}, files=['py_dir'])\n",
            host = registry.host,
        ),
        tmp.path(),
    );
    let out = tmp.path().join("from_py");
    ok(&artifact(&["pull", &reference, "--output", s(&out), "--plain-http"]));
    assert_eq!(fs::read_to_string(out.join("py_dir/x.txt")).unwrap(), "x\n");
    assert_eq!(fs::read_to_string(out.join("py_dir/sub/y.txt")).unwrap(), "y\n");
}

/// A job image often has no CA certificates; the HTTP client refuses to start without any, even
/// for a plain-HTTP registry. `smo artifact` then brings its own root and still works.
#[test]
fn artifact_plain_http_works_where_the_system_has_no_ca_certificates() {
    let Some(registry) = Registry::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a.txt"), "a").unwrap();
    let empty = tmp.path().join("empty.pem");
    fs::write(&empty, "").unwrap();
    let reference = format!("{}/job_000000009:job_a", registry.host);
    let no_ca = |args: &[&str]| {
        smo()
            .arg("artifact")
            .args(args)
            .env("SSL_CERT_FILE", &empty)
            .env("SSL_CERT_DIR", tmp.path().join("no-such-dir"))
            .output()
            .expect("run smo")
    };
    ok(&no_ca(&["push", &reference, s(tmp.path()), "--plain-http"]));
    let out = tmp.path().join("out");
    ok(&no_ca(&["pull", &reference, "--output", s(&out), "--plain-http"]));
    assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "a");
}
