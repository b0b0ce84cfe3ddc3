//! The cluster client: kube's default stack plus one layer that paces and counts requests.
//!
//! * **Pacing.** Like client-go's `--kube-api-qps` / `--kube-api-burst`: a token bucket of
//!   `burst` tokens refilled at `qps` per second; a request waits for a token. A workflow that
//!   fails fast therefore cannot hammer a shared apiserver. (tower's `RateLimit` has no burst, so
//!   the bucket is here; it is a dozen lines.)
//! * **A fair share per workflow** (the operator): each workflow's requests go through a client
//!   of its own ([`FairShare::client`]) whose bucket refills at `qps / workflows running` (and
//!   holds `burst /` as many) before they reach the shared bucket. A workflow alone has the whole
//!   rate; a large one waits for its own budget and never takes a small one's.
//! * **Counting.** Every request is counted as a read (GET), a watch (GET `…watch=…`) or a write
//!   (POST, PUT, PATCH, DELETE), and every error by that category and its class (an answer
//!   4xx or 5xx, or no answer); `smo run` reports the counts, the operator exports them, the
//!   benchmark divides them by the step transitions.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// Requests by category ([`CATEGORIES`]).
    requests: [AtomicU64; 3],
    /// Errors by request category ([`CATEGORIES`]) and error class ([`ERROR_CLASSES`]).
    errors: [[AtomicU64; 3]; 3],
}

/// The categories requests are counted by: GETs, watches, and POST/PUT/PATCH/DELETE.
pub const CATEGORIES: [&str; 3] = ["read", "watch", "write"];

/// The classes errors are counted by: answered 4xx (a conflict, a missing object, a refusal),
/// answered 5xx (the apiserver's trouble), and no answer (connection, timeout).
pub const ERROR_CLASSES: [&str; 3] = ["client", "server", "unanswered"];

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
        let [reads, watches, writes] = self.requests.each_ref().map(|n| n.load(Ordering::Relaxed));
        let errors = self.errors.iter().flatten().map(|e| e.load(Ordering::Relaxed)).sum();
        ApiRequestCounts { reads, watches, writes, errors }
    }

    /// Requests so far: (category, count), for every category.
    pub fn requests_by_category(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CATEGORIES.into_iter().zip(&self.requests).map(|(category, n)| (category, n.load(Ordering::Relaxed)))
    }

    /// Errors so far: (request category, error class, count), for every pair.
    pub fn errors_by_category(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        CATEGORIES.iter().zip(&self.errors).flat_map(|(category, by_class)| {
            ERROR_CLASSES.iter().zip(by_class).map(|(class, n)| (*category, *class, n.load(Ordering::Relaxed)))
        })
    }

    /// Counts a request; its category's index in [`CATEGORIES`].
    fn count<B>(&self, request: &http::Request<B>) -> usize {
        let category = match *request.method() {
            http::Method::GET | http::Method::HEAD => {
                let watch = request.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("watch=")));
                if watch { 1 } else { 0 }
            }
            _ => 2,
        };
        self.requests[category].fetch_add(1, Ordering::Relaxed);
        category
    }

    /// Counts an error answer (`status` ≥ 400) or a request not answered (`None`).
    fn count_error(&self, category: usize, status: Option<u16>) {
        let class = match status {
            Some(code) if code < 500 => 0,
            Some(_) => 1,
            None => 2,
        };
        if let Some(counter) = self.errors.get(category).and_then(|c| c.get(class)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
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
        .map_err(|e| Error::NoCluster(format!("no cluster to run on: {e} (set KUBECONFIG or run inside a cluster)")))?;
    let namespace = config.default_namespace.clone();
    let requests = Arc::new(ApiRequests::default());
    let layer = Accounting { bucket: Arc::new(TokenBucket::new(limits)), requests: requests.clone() };
    let client = ClientBuilder::try_from(config)
        .map_err(|e| Error::NoCluster(format!("cannot set up the cluster client: {e}")))?
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
        self.reserve_at(self.qps, self.burst)
    }

    /// [`Self::reserve`] at a rate and burst given now (a fair share changes with the workflows
    /// running).
    fn reserve_at(&self, qps: f64, burst: f64) -> Duration {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, since) = *state;
        let tokens = (tokens + now.duration_since(since).as_secs_f64() * qps).min(burst) - 1.0;
        *state = (tokens, now);
        if tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-tokens / qps) }
    }
}

/// The operator's request rate, shared fairly by the workflows it runs (see the module docs).
#[derive(Debug)]
pub struct FairShare {
    limits: RequestLimits,
    /// Workflows with a client now.
    workflows: AtomicUsize,
}

impl FairShare {
    /// A share of `limits` (the shared client's own) for each workflow.
    pub fn new(limits: RequestLimits) -> Arc<FairShare> {
        Arc::new(FairShare { limits, workflows: AtomicUsize::new(0) })
    }

    /// A client for one workflow: `shared`'s requests, each waiting first for the workflow's
    /// share. The workflow counts as running while this client (or a clone of it) exists.
    pub fn client(self: &Arc<Self>, shared: &Client) -> Client {
        self.workflows.fetch_add(1, Ordering::Relaxed);
        let share = ShareBucket {
            fair: self.clone(),
            bucket: TokenBucket::new(RequestLimits { qps: self.limits.qps, burst: self.limits.burst }),
        };
        let service = SharePaced { client: shared.clone(), share, pace: Pace::default() };
        Client::new(service, shared.default_namespace())
    }

    /// One workflow's rate and burst now: an equal part of the whole (at least one request).
    fn share(&self) -> (f64, f64) {
        let n = self.workflows.load(Ordering::Relaxed).max(1) as f64;
        let qps = f64::from(self.limits.qps).max(0.001) / n;
        let burst = (f64::from(self.limits.burst) / n).max(1.0);
        (qps, burst)
    }
}

/// One workflow's bucket; dropped with its client, when the workflow no longer counts.
#[derive(Debug)]
struct ShareBucket {
    fair: Arc<FairShare>,
    bucket: TokenBucket,
}

impl ShareBucket {
    fn reserve(&self) -> Duration {
        let (qps, burst) = self.fair.share();
        self.bucket.reserve_at(qps, burst)
    }
}

impl Drop for ShareBucket {
    fn drop(&mut self) {
        self.fair.workflows.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The service of a workflow's client: waits for the workflow's share, then sends through the
/// shared client (which paces the whole and counts).
struct SharePaced {
    client: Client,
    share: ShareBucket,
    pace: Pace,
}

impl Service<http::Request<kube::client::Body>> for SharePaced {
    type Response = http::Response<kube::client::Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, std::result::Result<Self::Response, kube::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), kube::Error>> {
        let share = &self.share;
        ready!(self.pace.poll(cx, || share.reserve()));
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        self.pace.used();
        let client = self.client.clone();
        async move { client.send(request).await }.boxed()
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
        Accounted { inner, bucket: self.bucket.clone(), requests: self.requests.clone(), pace: Pace::default() }
    }
}

/// A service whose calls each wait for a token and are counted.
struct Accounted<S> {
    inner: S,
    bucket: Arc<TokenBucket>,
    requests: Arc<ApiRequests>,
    pace: Pace,
}

/// A service's wait for the token of its next call, reserved once and slept out in
/// `poll_ready`.
#[derive(Default)]
struct Pace {
    /// The wait for the token reserved for the next call.
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the next call has its token.
    ready: bool,
}

impl Pace {
    /// Ready once the next call's token (taken with `reserve`, which says how long to wait for
    /// it) is there.
    fn poll(&mut self, cx: &mut Context<'_>, reserve: impl FnOnce() -> Duration) -> Poll<()> {
        if !self.ready {
            if self.wait.is_none() {
                let delay = reserve();
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
        Poll::Ready(())
    }

    /// The call took the token: the next one needs another.
    fn used(&mut self) {
        self.ready = false;
    }
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
        let bucket = &self.bucket;
        ready!(self.pace.poll(cx, || bucket.reserve()));
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.pace.used();
        let category = self.requests.count(&request);
        let requests = self.requests.clone();
        self.inner
            .call(request)
            .inspect(move |answer| match answer {
                Ok(r) if r.status().as_u16() < 400 => {}
                Ok(r) => requests.count_error(category, Some(r.status().as_u16())),
                Err(_) => requests.count_error(category, None),
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
    fn a_large_workflow_waits_for_its_own_share_and_a_small_one_does_not_wait_behind_it() {
        let fair = FairShare::new(RequestLimits { qps: 10.0, burst: 4 });
        fair.workflows.store(2, Ordering::Relaxed);
        let share = |fair: &Arc<FairShare>| ShareBucket {
            fair: fair.clone(),
            bucket: TokenBucket::new(RequestLimits { qps: 10.0, burst: 4 }),
        };
        let (large, small) = (share(&fair), share(&fair));
        // The large one asks for 20 at once: 2 pass (its half of the burst), the rest are paced
        // at its half of the rate, 5 per second, the last about 3.6 s out.
        let waits: Vec<Duration> = (0..20).map(|_| large.reserve()).collect();
        assert!(waits[..2].iter().all(Duration::is_zero), "{waits:?}");
        assert!(waits[19] > Duration::from_millis(3500) && waits[19] <= Duration::from_millis(3600), "{waits:?}");
        // The small one's first requests go at once all the same.
        assert_eq!((small.reserve(), small.reserve()), (Duration::ZERO, Duration::ZERO));
        // Alone, a workflow has the whole rate.
        drop(small);
        drop(large);
        assert_eq!(fair.workflows.load(Ordering::Relaxed), 0, "a dropped client no longer counts");
        fair.workflows.store(1, Ordering::Relaxed);
        assert_eq!(fair.share(), (10.0, 4.0));
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

    #[test]
    fn errors_are_counted_by_category_and_class() {
        let requests = ApiRequests::default();
        requests.count_error(2, Some(409));
        requests.count_error(2, Some(409));
        requests.count_error(0, Some(503));
        requests.count_error(1, None);
        let by: Vec<_> = requests.errors_by_category().filter(|(_, _, n)| *n > 0).collect();
        assert_eq!(by, vec![("read", "server", 1), ("watch", "unanswered", 1), ("write", "client", 2)]);
        assert_eq!(requests.counts().errors, 4);
        assert_eq!(requests.errors_by_category().count(), 9, "every pair is exported, zero or not");
    }
}
