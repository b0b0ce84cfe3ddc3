//! The operator's HTTP endpoints (`--metrics-addr`): `/metrics` in Prometheus' text format,
//! `/healthz` (the process answers) and `/readyz` (StateMachines listed and the runs found started,
//! or a standby waiting for the lease).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use smo_actors::operator::metrics::OperatorMetrics;

/// What the endpoints read.
#[derive(Clone)]
pub struct Endpoints {
    /// The operator's metrics.
    pub metrics: Arc<OperatorMetrics>,
    /// Set when the operator is ready.
    pub ready: Arc<AtomicBool>,
}

/// A response body: whole, or a stream (the live page's server-sent events).
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Binds `addr` (an error if it cannot) and serves the endpoints until the process ends.
pub async fn serve(addr: SocketAddr, endpoints: Endpoints) -> std::io::Result<()> {
    serve_with(addr, "/metrics, /healthz and /readyz", move |request| answer(request, &endpoints)).await
}

/// Binds `addr` (an error if it cannot) and answers every request on it with `answer` until the
/// process ends; `what` names what is served, for the log.
pub async fn serve_with<F>(addr: SocketAddr, what: &str, answer: F) -> std::io::Result<()>
where
    F: Fn(&Request<Incoming>) -> Response<Body> + Clone + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving {what}");
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, %addr, "cannot accept a connection");
                    continue;
                }
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = answer(&request);
                    async move { Ok::<_, Infallible>(response) }
                });
                if let Err(e) =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
                {
                    tracing::debug!(error = %e, "a connection ended with an error");
                }
            });
        }
    });
    Ok(())
}

/// A whole response: `status`, `content_type` and `body`.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn answer(request: &Request<Incoming>, endpoints: &Endpoints) -> Response<Body> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", endpoints.metrics.render()),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if endpoints.ready.load(Ordering::Relaxed) => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "StateMachines not listed, or their runs not started, yet\n".to_string(),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics, /healthz or /readyz\n".to_string()),
    };
    respond(status, content_type, body)
}
