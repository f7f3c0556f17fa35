//! The HTTP stack under octocrab (hyper with rustls, nothing that changes a request) and
//! one exchange with GitHub: the request, its whole answer within a deadline and a size
//! cap, and where `Link` and `Location` URLs may point.

use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, HeaderMap, USER_AGENT};
use http::{Method, Uri};
use http_body_util::BodyExt;
use octocrab::Octocrab;

use super::{
    ApiError, ApiResponse, Credential, GitHubClient, MEDIA_TYPE, RequestKind, USER_AGENT_VALUE,
    describe,
};
use crate::base::clock::format_duration;

/// Longest wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time one attempt of a request may take, answer body included: a server that
/// drips a byte at a time, or says nothing, cannot hold a run. The default of
/// [`super::RetryPolicy::request_deadline`].
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// Largest answer body read. A page of 100 deliveries is about 40 KB; nothing GitHub sends
/// this tool comes near 8 MiB.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The HTTP stack under octocrab: hyper with rustls, and nothing that changes a request.
///
/// octocrab's default stack is not used: it appends `User-Agent: octocrab` to ours (GitHub
/// then sees two), and its `follow-redirect` layer would follow a 3xx to any host.
/// `X-GitHub-Api-Version` comes from octocrab's `build_request`, once.
pub(super) fn build(api_url: &Uri) -> anyhow::Result<Octocrab> {
    use anyhow::Context;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = if api_url.scheme() == Some(&http::uri::Scheme::HTTPS) {
        builder.with_provider_and_native_roots(provider).context(
            "failed to load the system's CA certificates (set `SSL_CERT_FILE` to a PEM bundle)",
        )?
    } else {
        // Plain http (a loopback test server): every request goes to the API URL, so no
        // TLS is ever needed, and loading the CA bundle would only cost time.
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("failed to set up TLS")?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        builder.with_tls_config(config)
    };
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    octocrab::OctocrabBuilder::new_empty()
        .with_service(client)
        .with_auth(octocrab::AuthState::None)
        .build()
        .context("failed to set up the HTTP client")
}

impl GitHubClient {
    /// One attempt: the request, its answer read in full, within the policy's
    /// `request_deadline` and [`MAX_BODY_BYTES`].
    pub(super) async fn attempt(
        &self,
        method: &Method,
        route: &str,
        credential: Credential,
        body: Option<&serde_json::Value>,
        kind: RequestKind,
    ) -> Result<ApiResponse, AttemptError> {
        let authorization = self
            .authorization(credential)
            .map_err(AttemptError::Fatal)?;
        let builder = http::Request::builder()
            .method(method.clone())
            .uri(self.url_for(route))
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, MEDIA_TYPE)
            .header(USER_AGENT, USER_AGENT_VALUE);
        let built = self
            .octocrab
            .build_request(builder, body)
            .map_err(|error| {
                AttemptError::Fatal(format!("failed to build the request: {error}"))
            })?;
        self.count(kind);
        self.log.debug(&describe(method, route));
        let exchange = async {
            let response = self.octocrab.execute(built).await.map_err(|error| {
                AttemptError::NoAnswer(format!("got no answer ({})", transport_detail(&error)))
            })?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        AttemptError::Fatal(format!(
                            "the answer is larger than {} MiB; refusing to read it",
                            MAX_BODY_BYTES / (1024 * 1024)
                        ))
                    } else {
                        AttemptError::NoAnswer(format!("got a broken answer ({error})"))
                    }
                })?
                .to_bytes();
            Ok(ApiResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let deadline = self.policy.request_deadline;
        let result = self
            .clock
            .io_deadline(deadline, exchange)
            .await
            .unwrap_or_else(|| {
                Err(AttemptError::NoAnswer(format!(
                    "got no complete answer within {}",
                    format_duration(deadline)
                )))
            });
        self.count_answer(kind, result.as_ref().ok().map(|answer| answer.status));
        result
    }
}

/// Why an attempt got no usable answer.
pub(super) enum AttemptError {
    /// Worth retrying: no answer, a dropped connection, a timeout.
    NoAnswer(String),
    /// Not worth retrying: the request cannot be built, or the answer is too large.
    Fatal(String),
}

/// Where a redirect pointed, without credentials or query (which may carry a token).
pub(super) fn redirect_target(headers: &HeaderMap) -> String {
    let Some(location) = headers
        .get(http::header::LOCATION)
        .and_then(|value| value.to_str().ok())
    else {
        return "nowhere (no `Location`)".to_owned();
    };
    match location.parse::<Uri>() {
        Ok(uri) => {
            let origin = match (uri.scheme_str(), uri.host()) {
                (Some(scheme), Some(host)) => match uri.port_u16() {
                    Some(port) => format!("{scheme}://{host}:{port}"),
                    None => format!("{scheme}://{host}"),
                },
                _ => String::new(),
            };
            format!("{origin}{}", uri.path())
        }
        Err(_) => "an unreadable `Location`".to_owned(),
    }
}

/// The route (path and query, relative to the API URL `base`) of `url`, if `url` is under
/// it: same scheme, host and port (`:443` and no port are the same), and a path under the
/// base's path (`/api/v3/…`, never `/api/v3x/…`). A `Link` header's `next` URL is followed
/// only then, so credentials never leave the API URL.
pub fn route_under(base: &Uri, url: &Uri) -> Option<String> {
    let same_origin = url.scheme() == base.scheme()
        && url
            .host()
            .zip(base.host())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        && effective_port(url) == effective_port(base);
    if !same_origin {
        return None;
    }
    let path_and_query = url.path_and_query()?;
    let base_path = base.path().trim_end_matches('/');
    let route = path_and_query.as_str().strip_prefix(base_path)?;
    route.starts_with('/').then(|| route.to_owned())
}

/// The port a URL connects to.
fn effective_port(url: &Uri) -> Option<u16> {
    url.port_u16().or(match url.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })
}

/// The chain of causes of a transport error, without backtraces.
fn transport_detail(error: &octocrab::Error) -> String {
    let mut detail = match error {
        octocrab::Error::Service { source, .. } => source.to_string(),
        octocrab::Error::Hyper { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        cause = inner.source();
    }
    detail.lines().next().unwrap_or_default().to_owned()
}

pub(super) fn body_error(request: &str, error: octocrab::Error) -> ApiError {
    ApiError::Transport {
        request: request.to_owned(),
        detail: format!("failed to read the answer: {}", transport_detail(&error)),
    }
}
