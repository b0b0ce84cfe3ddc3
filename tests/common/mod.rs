//! Helpers shared by the black-box tests: the `smo` binary, temp dirs, and a real OCI registry.

#![allow(dead_code)]

pub mod cluster;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `smo` binary under test.
pub fn smo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smo"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when `make test` asked for every service-backed test to run (a missing service is then
/// a failure, not a skip).
pub fn services_required() -> bool {
    std::env::var("SMO_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A fixture in the original project's input formats (`tests/fixtures/original/<relative>`),
/// written for these tests: what proves that smo reads those formats unchanged never needs a
/// file outside the repository. (The original's own example files are an opt-in check on
/// external data: `make test-compat`, `tests/original_examples.rs`.)
pub fn original_fixture(relative: &str) -> PathBuf {
    let path = root().join("tests/fixtures/original").join(relative);
    assert!(path.exists(), "{} is part of the repository", path.display());
    path
}

/// A `docker-registry` (Debian's distribution 2.8) serving on a free loopback port, with its
/// storage in a temp dir; killed when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub host: String,
    _storage: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry, or returns None (after saying why) when `docker-registry` is not
    /// installed and the services are not required.
    pub fn start() -> Option<Registry> {
        Self::start_on(free_port())
    }

    /// [`Registry::start`] on a given loopback port.
    pub fn start_on(port: u16) -> Option<Registry> {
        Self::serve(port, None)
    }

    /// A registry that asks for user `smo` and `password`, configured as a workflow's own
    /// registry is (htpasswd with a bcrypt line, through `REGISTRY_AUTH*` variables).
    pub fn start_private(password: &str) -> Option<Registry> {
        Self::serve(free_port(), Some(password))
    }

    fn serve(port: u16, password: Option<&str>) -> Option<Registry> {
        let Some(binary) = which("docker-registry") else {
            if services_required() {
                panic!("docker-registry is not installed; run `make services` (tests/services/install.sh)");
            }
            eprintln!("skipping: docker-registry is not installed (run `make test` to install it)");
            return None;
        };
        let storage = tempfile::tempdir().expect("registry storage dir");
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.path().join("data").display()
            ),
        )
        .expect("write registry config");
        let mut command = Command::new(binary);
        if let Some(password) = password {
            let htpasswd = storage.path().join("htpasswd");
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            std::fs::write(&htpasswd, format!("smo:{hash}\n")).expect("write htpasswd");
            command
                .env("REGISTRY_AUTH", "htpasswd")
                .env("REGISTRY_AUTH_HTPASSWD_REALM", "smo test")
                .env("REGISTRY_AUTH_HTPASSWD_PATH", &htpasswd);
        }
        let child = command
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { child, host: format!("127.0.0.1:{port}"), _storage: storage };
        registry.wait_ready(Duration::from_secs(20));
        Some(registry)
    }

    fn wait_ready(&self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            // 401: a private registry answering.
            if matches!(http_status(&self.host, "/v2/"), Some(200 | 401)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry on {} did not answer GET /v2/ within {limit:?}", self.host);
    }

    /// Tags of `repository`, from the registry's API.
    pub fn tags(&self, repository: &str) -> String {
        http_get(&self.host, &format!("/v2/{repository}/tags/list")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Minimal HTTP/1.0 GET; returns the body.
pub fn http_get(host: &str, path: &str) -> Option<String> {
    let response = http(host, path)?;
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

fn http_status(host: &str, path: &str) -> Option<u16> {
    let response = http(host, path)?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn http(host: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Debian's `chromium`, headless, as a person's browser: it loads a page, runs its script and
/// keeps its connections open for a while of page time. Its absence fails the test (`make
/// services` installs it).
pub struct Browser {
    binary: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    pub fn new() -> Browser {
        let binary =
            which("chromium").expect("chromium is not installed: run `make services` (tests/services/install.sh)");
        Browser { binary, profile: tempfile::tempdir().expect("a profile directory") }
    }

    fn command(&self, budget: Duration) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            .args(["--disable-extensions", "--no-first-run", "--hide-scrollbars"])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            // Page time: the page's timers and its event stream run this long before the DOM
            // is read (network waits do not count towards it).
            .arg(format!("--virtual-time-budget={}", budget.as_millis()))
            .stderr(Stdio::null());
        command
    }

    /// The DOM of `url` after `budget` of page time, as the page's script left it.
    pub fn dom(&self, url: &str, budget: Duration) -> String {
        let out = self.command(budget).arg("--dump-dom").arg(url).output().expect("run chromium");
        assert!(out.status.success(), "chromium --dump-dom {url} failed: {:?}", out.status);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A PNG of `url` after `budget` of page time, `width`×`height`, written to `path`.
    pub fn screenshot(&self, url: &str, budget: Duration, (width, height): (u32, u32), path: &Path) {
        let out = self
            .command(budget)
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--screenshot={}", path.display()))
            .arg(url)
            .output()
            .expect("run chromium");
        assert!(out.status.success() && path.exists(), "chromium --screenshot {url} failed: {:?}", out.status);
    }
}

/// The value of attribute `name` on the first `<tag …>` of `html` (the page's test hooks are
/// `data-*` attributes on `<body>`).
pub fn attribute(html: &str, tag: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("<{tag}"))?;
    let element = &html[start..start + html[start..].find('>')?];
    let at = element.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(element[at..at + element[at..].find('"')?].to_string())
}
