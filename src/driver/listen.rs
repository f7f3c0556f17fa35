//! `--listen`: a tiny HTTP/1.1 server for `GET /metrics` ([`crate::driver::metrics`]) and
//! `GET /healthz` ([`crate::driver::healthz`]).
//!
//! It is hyper's own server (hyper already carries every request to GitHub) with one
//! service function, no framework: the binary stays small. It serves only these two
//! read-only pages, so it needs no authentication; bind it to an address that only the
//! scraper and the kubelet reach. Each connection has a header deadline, answers once and
//! closes, and at most [`MAX_CONNECTIONS`] are open at a time, so a slow or greedy client
//! cannot hold the loop's process.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::base::clock::{Clock, Stop};
use crate::driver::healthz::Health;
use crate::driver::metrics::{self, Metrics};

/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 32;
/// The time a client has to send its request's headers.
const HEADER_DEADLINE: Duration = Duration::from_secs(10);

/// What the pages show: shared by the loop (which writes) and the server (which reads).
pub struct Observed {
    pub metrics: Metrics,
    pub health: Health,
    /// The loop's clock: health is judged on it.
    pub clock: Clock,
}

/// The running server; dropping it stops it (the loop's shutdown does).
pub struct Listener {
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `address` (port 0: any free port; [`Listener::address`] tells which) and serves.
pub async fn start(address: SocketAddr, observed: Arc<Observed>) -> anyhow::Result<Listener> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("failed to listen on `{address}` (`--listen`)"))?;
    let address = listener
        .local_addr()
        .with_context(|| format!("failed to read the address bound for `{address}`"))?;
    let task = tokio::spawn(accept(listener, observed));
    Ok(Listener { address, task })
}

async fn accept(listener: TcpListener, observed: Arc<Observed>) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, or a connection reset before it was accepted: the
            // next one may go through; a pause keeps this from spinning.
            Err(_) => {
                observed
                    .clock
                    .sleep(Duration::from_millis(100), &Stop::default())
                    .await;
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closed
        }
        open.fetch_add(1, Ordering::SeqCst);
        let observed = observed.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let answer = answer(&observed, &request);
                async move { Ok::<_, Infallible>(answer) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_DEADLINE)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// The one service function: two pages, `GET` or `HEAD`.
pub fn answer<B>(observed: &Observed, request: &Request<B>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(path, "/metrics" | "/healthz") {
        return text(StatusCode::NOT_FOUND, "not found: try /metrics or /healthz");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        response
            .headers_mut()
            .insert(ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == "/healthz" {
        return match observed.health.check(observed.clock.instant()) {
            Ok(reason) => text(StatusCode::OK, &reason),
            Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, &reason),
        };
    }
    match observed.metrics.encode() {
        Ok(body) => with_type(StatusCode::OK, metrics::CONTENT_TYPE, body),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}")),
    }
}

fn text(status: StatusCode, line: &str) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", format!("{line}\n"))
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed() -> Observed {
        Observed {
            metrics: Metrics::new(),
            health: Health::new(
                Duration::from_secs(60),
                Duration::from_secs(3600),
                Clock::system().instant(),
            ),
            clock: Clock::system(),
        }
    }

    fn request(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .expect("request")
    }

    #[test]
    fn two_pages_and_nothing_else() {
        let observed = observed();
        let health = answer(&observed, &request(Method::GET, "/healthz"));
        assert_eq!(health.status(), StatusCode::OK);
        let metrics = answer(&observed, &request(Method::HEAD, "/metrics"));
        assert_eq!(metrics.status(), StatusCode::OK);
        assert_eq!(metrics.headers()[CONTENT_TYPE], metrics::CONTENT_TYPE);
        let post = answer(&observed, &request(Method::POST, "/metrics"));
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[ALLOW], "GET, HEAD");
        let other = answer(&observed, &request(Method::GET, "/"));
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }
}
