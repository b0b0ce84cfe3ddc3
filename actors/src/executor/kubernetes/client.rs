//! The cluster client: kube's default stack plus one layer that paces and counts requests.
//!
//! * **Pacing.** Like client-go's `--kube-api-qps` / `--kube-api-burst`: a token bucket of
//!   `burst` tokens refilled at `qps` per second; a request waits for a token. A workflow that
//!   fails fast therefore cannot hammer a shared apiserver. (tower's `RateLimit` has no burst, so
//!   the bucket is here; it is a dozen lines.)
//! * **Counting.** Every request is counted as a read (GET), a watch (GET `…watch=…`) or a write
//!   (POST, PUT, PATCH, DELETE), and every error answer (HTTP ≥ 400, or no answer); `smo run`
//!   reports the counts, the benchmark divides them by the step transitions.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use kube::Client;
use kube::client::ClientBuilder;
use tower::{Layer, Service};

use crate::{Error, Result};

/// Default sustained request rate (client-go's is 5; smo submits two objects per step).
pub const DEFAULT_QPS: f32 = 50.0;

/// Default burst above the sustained rate.
pub const DEFAULT_BURST: u32 = 100;

/// How fast smo may talk to the apiserver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestLimits {
    /// Sustained requests per second (> 0).
    pub qps: f32,
    /// Requests allowed at once above the sustained rate (≥ 1).
    pub burst: u32,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits { qps: DEFAULT_QPS, burst: DEFAULT_BURST }
    }
}

/// Requests sent to the apiserver so far, by kind.
#[derive(Debug, Default)]
pub struct ApiRequests {
    reads: AtomicU64,
    watches: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
}

/// A snapshot of [`ApiRequests`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiRequestCounts {
    /// GETs other than watches (gets and lists, pod logs).
    pub reads: u64,
    /// Watch requests (each a long-lived GET; a re-list after a 410 is one more read).
    pub watches: u64,
    /// POST, PUT, PATCH and DELETE requests.
    pub writes: u64,
    /// Requests answered with HTTP ≥ 400 or not answered at all.
    pub errors: u64,
}

impl ApiRequests {
    /// The counts now.
    pub fn counts(&self) -> ApiRequestCounts {
        ApiRequestCounts {
            reads: self.reads.load(Ordering::Relaxed),
            watches: self.watches.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    fn count<B>(&self, request: &http::Request<B>) {
        let counter = match *request.method() {
            http::Method::GET | http::Method::HEAD => {
                let watch = request.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("watch=")));
                if watch { &self.watches } else { &self.reads }
            }
            _ => &self.writes,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A client for the cluster of the current kubeconfig (or the in-cluster service account), the
/// namespace it names (`default` if none), and the counter of its requests. Call inside the
/// actor system (kube's client spawns onto the running runtime).
pub async fn connect(limits: RequestLimits) -> Result<(Client, String, Arc<ApiRequests>)> {
    // Both rustls providers are linked in (kube's ring, and reqwest's); name one, or the client
    // panics at its first request.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::Config::infer()
        .await
        .map_err(|e| Error::Executor(format!("no cluster to run on: {e} (set KUBECONFIG or run inside a cluster)")))?;
    let namespace = config.default_namespace.clone();
    let requests = Arc::new(ApiRequests::default());
    let layer = Accounting { bucket: Arc::new(TokenBucket::new(limits)), requests: requests.clone() };
    let client = ClientBuilder::try_from(config)
        .map_err(|e| Error::Executor(format!("cannot set up the cluster client: {e}")))?
        .with_layer(&layer)
        .build();
    Ok((client, namespace, requests))
}

/// A token bucket shared by every request of one client.
#[derive(Debug)]
struct TokenBucket {
    qps: f64,
    burst: f64,
    /// Tokens left (negative: owed by requests already waiting) and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    fn new(limits: RequestLimits) -> Self {
        let burst = f64::from(limits.burst.max(1));
        TokenBucket { qps: f64::from(limits.qps).max(0.001), burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes a token and says how long to wait until it is really there.
    fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, since) = *state;
        let tokens = (tokens + now.duration_since(since).as_secs_f64() * self.qps).min(self.burst) - 1.0;
        *state = (tokens, now);
        if tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-tokens / self.qps) }
    }
}

/// The layer that paces and counts (see the module docs).
#[derive(Clone, Debug)]
struct Accounting {
    bucket: Arc<TokenBucket>,
    requests: Arc<ApiRequests>,
}

impl<S> Layer<S> for Accounting {
    type Service = Accounted<S>;

    fn layer(&self, inner: S) -> Accounted<S> {
        Accounted { inner, bucket: self.bucket.clone(), requests: self.requests.clone(), wait: None, ready: false }
    }
}

/// A service whose calls each wait for a token and are counted.
struct Accounted<S> {
    inner: S,
    bucket: Arc<TokenBucket>,
    requests: Arc<ApiRequests>,
    /// The wait for the token reserved for the next call.
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the next call has its token.
    ready: bool,
}

impl<S, B, R> Service<http::Request<B>> for Accounted<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, std::result::Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        if !self.ready {
            if self.wait.is_none() {
                let delay = self.bucket.reserve();
                if !delay.is_zero() {
                    self.wait = Some(Box::pin(tokio::time::sleep(delay)));
                }
            }
            if let Some(wait) = self.wait.as_mut() {
                ready!(wait.as_mut().poll(cx));
                self.wait = None;
            }
            self.ready = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.ready = false;
        self.requests.count(&request);
        let requests = self.requests.clone();
        self.inner
            .call(request)
            .inspect(move |answer| {
                if answer.as_ref().map_or(true, |r| r.status().as_u16() >= 400) {
                    requests.errors.fetch_add(1, Ordering::Relaxed);
                }
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_lets_a_burst_through_then_paces_at_qps() {
        let bucket = TokenBucket::new(RequestLimits { qps: 10.0, burst: 3 });
        let waits: Vec<Duration> = (0..5).map(|_| bucket.reserve()).collect();
        assert!(waits[..3].iter().all(Duration::is_zero), "{waits:?}");
        // The 4th waits about one interval (1/10 s), the 5th two; a little time passed meanwhile.
        assert!(waits[3] > Duration::from_millis(80) && waits[3] <= Duration::from_millis(100), "{waits:?}");
        assert!(waits[4] > Duration::from_millis(180) && waits[4] <= Duration::from_millis(200), "{waits:?}");
    }

    #[test]
    fn requests_are_counted_by_kind() {
        let requests = ApiRequests::default();
        let request =
            |method: &str, uri: &str| http::Request::builder().method(method).uri(uri).body(()).expect("a request");
        requests.count(&request("GET", "/apis/batch/v1/namespaces/a/jobs?labelSelector=x"));
        requests
            .count(&request("GET", "/apis/batch/v1/namespaces/a/jobs?labelSelector=x&watch=true&timeoutSeconds=290"));
        requests.count(&request("POST", "/apis/batch/v1/namespaces/a/jobs"));
        requests.count(&request("DELETE", "/api/v1/namespaces/a/configmaps?labelSelector=x"));
        assert_eq!(requests.counts(), ApiRequestCounts { reads: 1, watches: 1, writes: 2, errors: 0 });
    }
}
