//! The live page: `smo operator --ui-addr` and `smo run --ui` serve it, read-only, from the
//! run's [`Board`].
//!
//! | path | what |
//! |---|---|
//! | `/` | the page: one HTML file with its script and style inside, compiled into the binary (nothing fetched from elsewhere; its `Content-Security-Policy` forbids it) |
//! | `/runs` | the workflows and their progress, as JSON |
//! | `/events?run=KEY` | server-sent events: `runs` (the list, whenever it changes) and, for the run `KEY` (`namespace/name`, or a local run's name), `run` (what changed: its status, the journal's new timestamps, new slot samples, its latest Events) |
//!
//! A page gets each timestamp once: an event's id is where it is in the run's data, and a
//! browser that reconnects sends it back (`Last-Event-ID`). Once the run has ended (`Succeeded`
//! or `Failed`) and its last state is sent, an `ended` event closes the stream: the page then
//! reads `/runs` every few seconds. Nothing but `GET` is answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use smo_actors::live::{Board, Cursor};

use crate::endpoints::{self, Body, respond};

/// The page, with everything it needs inside.
pub const PAGE: &str = include_str!("live.html");

/// Nothing on the page may come from elsewhere, nor go anywhere but back here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                                       img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'";

/// How often a page's event stream looks for changes.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// A comment sent when nothing changed for this long, so a closed page is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// What the page shows, and where it runs.
#[derive(Clone)]
pub struct Live {
    /// The runs.
    pub board: Arc<Board>,
    /// `local` (`smo run`) or `operator`.
    pub mode: &'static str,
    /// The operator's instance (its Pod), shown in the page's header.
    pub instance: Option<String>,
    /// Set while this operator waits for the leader lease: its board is empty, the page says
    /// where to look instead.
    pub standby: Arc<AtomicBool>,
}

impl Live {
    /// A page of `board` for `mode`, leading.
    pub fn new(board: Arc<Board>, mode: &'static str, instance: Option<String>) -> Live {
        Live { board, mode, instance, standby: Arc::new(AtomicBool::new(false)) }
    }

    /// The list as `/runs` and the `runs` event send it.
    fn runs(&self) -> serde_json::Value {
        let mut list = self.board.list();
        list["mode"] = self.mode.into();
        list["instance"] = self.instance.clone().into();
        if self.standby.load(Ordering::Relaxed) {
            list["standby"] = "This operator is on standby: another replica holds the leader lease and runs the \
                               workflows. Forward to the leader: kubectl -n smo-system port-forward pod/$(kubectl -n \
                               smo-system get lease smo-operator -o jsonpath='{.spec.holderIdentity}') 8081"
                .into();
        }
        list
    }
}

/// Binds `addr` and serves the page until the process ends.
pub async fn serve(addr: std::net::SocketAddr, live: Live) -> std::io::Result<()> {
    endpoints::serve_with(addr, "the live page", move |request| answer(request, &live)).await
}

fn answer(request: &Request<Incoming>, live: &Live) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "the live page is read-only\n");
    }
    let mut response = match request.uri().path() {
        "/" | "/index.html" => respond(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        "/runs" => respond(StatusCode::OK, "application/json", live.runs().to_string()),
        "/events" => {
            let run = request.uri().query().and_then(|q| query_value(q, "run"));
            let cursor = request
                .headers()
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .and_then(Cursor::from_id)
                .unwrap_or_default();
            events(live.clone(), run, cursor)
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found: the page is at /\n"),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}

/// What one page's event stream remembers.
struct Stream {
    live: Live,
    run: Option<String>,
    cursor: Cursor,
    listed: Option<u64>,
    quiet: Duration,
    /// The selected run was on the board (its end is then told once).
    seen: bool,
    /// The selected run has ended and its last state is sent: the stream ends.
    done: bool,
}

/// The server-sent events of one page (see the module docs).
fn events(live: Live, run: Option<String>, cursor: Cursor) -> Response<Body> {
    let state = Stream { live, run, cursor, listed: None, quiet: Duration::ZERO, seen: false, done: false };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            let mut out = String::new();
            let version = s.live.board.version();
            if s.listed != Some(version) {
                s.listed = Some(version);
                out.push_str(&format!("event: runs\ndata: {}\n\n", s.live.runs()));
            }
            if let Some(key) = &s.run {
                if let Some((delta, next)) = s.live.board.delta(key, s.cursor) {
                    s.cursor = next;
                    s.seen = true;
                    out.push_str(&format!("id: {}\nevent: run\ndata: {delta}\n\n", next.id()));
                    // An ended run changes no more: its page stops streaming (and looks at
                    // the list now and then instead).
                    if matches!(delta["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) {
                        s.done = true;
                        out.push_str("event: ended\ndata: {}\n\n");
                    }
                } else if s.seen && !s.live.board.has(key) {
                    s.seen = false;
                    out.push_str("event: gone\ndata: {}\n\n");
                }
            }
            if out.is_empty() && s.quiet >= KEEPALIVE {
                out.push_str(": keepalive\n\n");
            }
            if !out.is_empty() {
                s.quiet = Duration::ZERO;
                return Some((Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(out))), s));
            }
            tokio::time::sleep(LOOK_EVERY).await;
            s.quiet += LOOK_EVERY;
        }
    });
    let mut response = Response::new(StreamBody::new(stream.boxed()).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/event-stream"));
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-cache"));
    response
}

/// The value of `name` in a URL query (`a=1&run=team-a%2Fwf`), percent-decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// `%2F` → `/`, `+` → space; a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_come_percent_decoded_from_the_query() {
        assert_eq!(query_value("run=team-a%2Fwf", "run").as_deref(), Some("team-a/wf"));
        assert_eq!(query_value("x=1&run=a+b", "run").as_deref(), Some("a b"));
        assert_eq!(query_value("run=bad%zz%2", "run").as_deref(), Some("bad%zz%2"));
        assert_eq!(query_value("other=1", "run"), None);
    }

    #[test]
    fn the_page_fetches_nothing_from_elsewhere() {
        for outside in ["http://", "https://", "//cdn", "<link", "src="] {
            assert!(!PAGE.contains(outside), "the page names {outside}");
        }
    }
}
