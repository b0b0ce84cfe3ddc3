//! The live page as a person sees it: `smo run --ui` serves it while a local run goes, and
//! Debian's `chromium` (headless) loads it once and watches the run to its end.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Browser, attribute, free_port, http_get, smo};

/// 8 sequences of two steps (`a` sleeps `a_seconds`, `b` 1.2 s), 2 at a time: about 10 s with
/// `a_seconds` 1.
fn workflow(dir: &Path, a_seconds: u32) -> std::path::PathBuf {
    let a = format!("name: a\nconfig: {{nnodes: 1}}\nscript: |\n  sleep {a_seconds}\n");
    std::fs::write(dir.join("a.yaml"), a).expect("write");
    std::fs::write(dir.join("b.yaml"), "name: b\nconfig: {nnodes: 1}\nscript: |\n  sleep 1.2\n").expect("write");
    let path = dir.join("live.yaml");
    std::fs::write(
        &path,
        "workflow:\n  completed: 8\n  prefix: live_\ncluster:\n  max_size: 2\njobs:\n- config: a.yaml\n- config: b.yaml\n",
    )
    .expect("write");
    path
}

/// The numbers of the page's trace: the jobs on its timeline after each update it got.
fn trace(dom: &str) -> Vec<u32> {
    let Some(start) = dom.find("<pre id=\"trace\"") else { return Vec::new() };
    let text = &dom[start..];
    let text = &text[text.find('>').map_or(0, |i| i + 1)..text.find("</pre>").unwrap_or(text.len())];
    text.split_whitespace().filter_map(|n| n.parse().ok()).collect()
}

/// `smo run` of the workflow (its step `a` sleeping `a_seconds`) in `dir` with its live page,
/// once the page answers: the process, the page's address and its first `/runs`.
// The process is handed to the caller, who waits for it (or kills it).
#[allow(clippy::zombie_processes)]
fn serve(dir: &Path, a_seconds: u32) -> (Child, String, String) {
    let manifest = workflow(dir, a_seconds);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut run = smo()
        .current_dir(dir)
        .args(["run", "--no-progress", "--ui", &addr])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smo run");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(listed) = http_get(&addr, "/runs") {
            return (run, addr, listed);
        }
        if Instant::now() > deadline {
            let _ = run.kill();
            let out = run.wait_with_output().expect("smo run ends");
            panic!("the live page never answered on {addr}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_live_page_of_a_local_run_grows_without_a_reload_and_ends_succeeded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, addr, listed) = serve(dir.path(), 1);
    assert!(listed.contains("\"key\":\"live\"") && listed.contains("\"mode\":\"local\""), "{listed}");

    // One page load, watched for longer than the run takes.
    let browser = Browser::new();
    let url = format!("http://{addr}/");
    let dom = browser.dom(&url, Duration::from_secs(40));
    let out = run.wait_with_output().expect("smo run ends");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let body = |name: &str| attribute(&dom, "body", name).unwrap_or_default();
    assert_eq!(body("data-phase"), "Succeeded", "the page shows the end of the run\n{dom}");
    assert_eq!((body("data-completed").as_str(), body("data-wanted").as_str()), ("8", "8"), "{dom}");
    assert_eq!(body("data-spans"), "16", "8 sequences × 2 steps on the timeline");
    let grew = trace(&dom);
    assert!(grew.len() >= 3, "the page got several updates in one load: {grew:?}");
    assert!(grew.windows(2).all(|w| w[0] <= w[1]), "the timeline only grows: {grew:?}");
    assert!(grew.first() < grew.last() && grew.last() == Some(&16), "it grew without a reload: {grew:?}");
    assert!(dom.contains("<td>live</td>"), "the workflow is listed");
    assert!(dom.contains("<canvas id=\"timeline\""), "the timeline is drawn on the page");
}

#[test]
fn the_live_page_is_read_only_self_contained_and_streams_what_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Long enough to outlive the test: it is killed at the end.
    let (mut run, addr, _) = serve(dir.path(), 60);
    let raw = |request: &str| {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = Vec::new();
        // An event stream never ends: what arrived within the timeout is enough.
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    };
    let page = raw(&format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n"));
    assert!(page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"), "{page:.200}");
    assert!(page.to_lowercase().contains("content-security-policy: default-src 'none'"), "{page:.600}");
    let posted = raw(&format!("POST /runs HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"));
    assert!(posted.contains(" 405 "), "read-only: {posted:.200}");
    // The stream: the list, then the run; a reconnect names where it was and gets nothing twice.
    let stream = raw(&format!("GET /events?run=live HTTP/1.1\r\nHost: {addr}\r\n\r\n"));
    assert!(stream.contains("event: runs\ndata: {"), "{stream:.400}");
    assert!(stream.contains("event: run\ndata: {"), "{stream:.400}");
    let id = stream.lines().rev().find_map(|l| l.strip_prefix("id: ")).expect("an event id").to_string();
    let again = raw(&format!("GET /events?run=live HTTP/1.1\r\nHost: {addr}\r\nLast-Event-ID: {id}\r\n\r\n"));
    let marks_from: usize = id.split('.').next().and_then(|m| m.parse().ok()).expect("the id counts timestamps");
    assert!(again.contains(&format!("\"marksFrom\":{marks_from}")), "resumed at {id}: {again:.600}");
    let _ = run.kill();
    let _ = run.wait();
}
