//! The GitHub REST client: octocrab for HTTP, TLS and the `Link` header, with our own
//! authentication, retries and rate-limit handling on top.
//!
//! Why not octocrab's own:
//! - its App auth attaches `Authorization` only to `api.github.com` or relative routes, and
//!   cannot use a client ID as the JWT issuer; we sign with [`crate::app_auth`] and set the
//!   header on every request, which only ever goes to the configured API host;
//! - its retry policy repeats POSTs at once, with no backoff, and never waits out a rate
//!   limit; [`RetryPolicy`] follows GitHub's guidance instead:
//!   <https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately>

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use http::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use http::{Method, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use octocrab::{FromResponse, Octocrab, Page};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::app_auth::AppSigner;
use crate::clock::{Clock, Stop};
use crate::log::{Level, Log};

/// What GitHub wants in every request, each exactly once: the API version (octocrab's
/// `build_request` sends `X-GitHub-Api-Version: 2022-11-28`), the media type and a
/// User-Agent.
/// <https://docs.github.com/en/rest/about-the-rest-api/api-versions>
pub const API_VERSION: &str = "2022-11-28";
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
pub const USER_AGENT_VALUE: &str = concat!("redeliver-action/", env!("CARGO_PKG_VERSION"));

/// Which credential a request carries.
/// Longest wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time one attempt of a request may take, answer body included: a server that
/// drips a byte at a time, or says nothing, cannot hold a run. The default of
/// [`RetryPolicy::request_deadline`].
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// Largest answer body read. A page of 100 deliveries is about 40 KB; nothing GitHub sends
/// this tool comes near 8 MiB.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The App's JWT: `/app/...` endpoints and the installation lookup.
    AppJwt,
    /// The `token` input: variables and org/repo hooks.
    Token,
    /// A token of the App's installation with this id (see
    /// [`GitHubClient::set_installation_token`]), when no `token` is given.
    Installation(u64),
}

/// What a request was for, to count requests by kind (the benchmark and the tests check
/// that no request is spent needlessly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    List,
    Redeliver,
    Other,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] = [
        RequestKind::List,
        RequestKind::Redeliver,
        RequestKind::Other,
    ];

    /// The name of the kind, as the JSON report and the metrics spell it.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::List => "list",
            RequestKind::Redeliver => "redeliver",
            RequestKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    pub list: u32,
    pub redeliver: u32,
    pub other: u32,
    /// Answers by kind and status class, for `--listen`'s metrics (not in the JSON report).
    #[serde(skip)]
    pub answers: AnswerCounts,
    /// Rate-limit waits taken, and their total, for the metrics too.
    #[serde(skip)]
    pub rate_limit_waits: u32,
    #[serde(skip)]
    pub rate_limit_waited: Duration,
}

/// Attempts by [`RequestKind`] and the class of their answer: `2xx` ... `5xx`, `other`, or
/// `none` when no answer came (a dropped connection, a timeout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerCounts([[u32; STATUS_CLASSES.len()]; RequestKind::ALL.len()]);

/// The status classes [`AnswerCounts`] tells apart.
pub const STATUS_CLASSES: [&str; 6] = ["2xx", "3xx", "4xx", "5xx", "other", "none"];

impl AnswerCounts {
    fn add(&mut self, kind: RequestKind, status: Option<StatusCode>) {
        let class = match status.map(|status| status.as_u16() / 100) {
            Some(2) => 0,
            Some(3) => 1,
            Some(4) => 2,
            Some(5) => 3,
            Some(_) => 4,
            None => 5,
        };
        self.0[kind as usize][class] += 1;
    }

    /// `(kind, class, count)` for every pair seen.
    pub fn iter(&self) -> impl Iterator<Item = (RequestKind, &'static str, u32)> + '_ {
        RequestKind::ALL.into_iter().flat_map(move |kind| {
            STATUS_CLASSES
                .iter()
                .zip(self.0[kind as usize])
                .filter(|(_, count)| *count > 0)
                .map(move |(class, count)| (kind, *class, count))
        })
    }
}

/// `max-wait` by default: GitHub's limits reset within the hour (the primary one hourly, the
/// content-creation one counts per hour), so no honest wait is longer.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(3600);

/// Rate-limit answers to one request waited out before the run stops: GitHub's limits
/// clear after the wait it asks for, so a server that keeps answering one is not GitHub's
/// limit, and must not hold the run for its whole time budget.
pub const MAX_LIMIT_WAITS_PER_REQUEST: u32 = 10;

/// How transient failures and rate limits are handled.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of one request after a transient failure (connection error, timeout, 5xx).
    pub max_retries: u32,
    /// The first backoff; it doubles on each retry, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest single wait for a rate limit (`max-wait`): a longer one is not a time
    /// GitHub would ask for, and the run stops cleanly instead. Waits within it are taken
    /// as often as GitHub asks: a content limit sets the drain's pace, it does not end it.
    pub max_wait: Duration,
    /// A secondary rate limit without `retry-after`: GitHub says wait at least a minute.
    pub secondary_min_wait: Duration,
    /// The longest one attempt may take, answer body included ([`REQUEST_DEADLINE`]); a
    /// field so that tests of stalling servers take a second, not half a minute.
    pub request_deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_wait: DEFAULT_MAX_WAIT,
            secondary_min_wait: Duration::from_secs(60),
            request_deadline: REQUEST_DEADLINE,
        }
    }
}

/// A request that did not succeed, with what the user needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// GitHub answered with an error status (after any retries).
    Status {
        request: String,
        status: u16,
        message: String,
        documentation_url: Option<String>,
    },
    /// A rate limit that resets later than the run may wait: past `max-wait`, or past the
    /// end of the run's time budget.
    RateLimited {
        request: String,
        retry_at: DateTime<Utc>,
        /// How long GitHub asked to wait.
        wait: Duration,
        /// What the wait would outlast.
        outlasts: Outlasts,
    },
    /// A stop was requested (SIGTERM, SIGINT) while the request waited to be sent again.
    Stopped { request: String },
    /// No answer (after retries): connection refused or dropped, timeout, unreadable body.
    Transport { request: String, detail: String },
    /// A redirect: GitHub's REST API answers 2xx; a 3xx comes from a proxy, an SSO page or
    /// a wrong `api-url`, and is never taken as success or followed.
    Redirected {
        request: String,
        status: u16,
        location: String,
    },
}

/// What a rate-limit wait the run did not take would have outlasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outlasts {
    /// `max-wait`: longer than any wait GitHub honestly asks for.
    MaxWait,
    /// The run's time budget (`max-duration`): the next run goes on where this one stopped.
    Budget,
    /// [`MAX_LIMIT_WAITS_PER_REQUEST`] waits for the one request: no honest limit goes on
    /// so.
    Patience,
}

impl ApiError {
    /// Whether this is a rate limit the run could not wait out within its time budget: the
    /// work left is for the next run, and nothing failed.
    pub fn outlasts_budget(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited {
                outlasts: Outlasts::Budget,
                ..
            }
        )
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status {
                request,
                status,
                message,
                documentation_url,
            } => {
                write!(f, "{request} answered {status}: {message}")?;
                if let Some(url) = documentation_url {
                    write!(f, " ({url})")?;
                }
                Ok(())
            }
            // GitHub's limits reset within the hour; a wait of days is a broken or hostile
            // answer, and its date would be nonsense.
            ApiError::RateLimited { request, wait, .. } if *wait > Duration::from_secs(86_400) => {
                write!(
                    f,
                    "{request} hit a rate limit whose wait ({} s) is beyond anything GitHub asks; stopping, the next run goes on",
                    wait.as_secs()
                )
            }
            ApiError::RateLimited {
                request,
                retry_at,
                outlasts: Outlasts::MaxWait,
                ..
            } => write!(
                f,
                "{request} hit GitHub's rate limit, which resets at {}, later than `max-wait` allows waiting; run again after that",
                retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            ApiError::RateLimited {
                request,
                outlasts: Outlasts::Patience,
                ..
            } => write!(
                f,
                "{request} was answered with a rate limit {MAX_LIMIT_WAITS_PER_REQUEST} times in a row, after each wait GitHub asked for; stopping, the next run goes on"
            ),
            ApiError::RateLimited {
                request,
                retry_at,
                outlasts: Outlasts::Budget,
                ..
            } => write!(
                f,
                "{request} hit GitHub's rate limit, which resets at {}, after the run's time budget (`max-duration`) ends; the next run goes on",
                retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            ApiError::Stopped { request } => write!(
                f,
                "{request} was not sent again: the run was asked to stop while it waited"
            ),
            ApiError::Transport { request, detail } => {
                write!(f, "{request} got no answer: {detail}")
            }
            ApiError::Redirected {
                request,
                status,
                location,
            } => write!(
                f,
                "{request} answered {status}, a redirect to {location}: GitHub's REST API does not redirect, so `api-url` (or a proxy) is wrong; nothing was taken from this answer"
            ),
        }
    }
}

impl std::error::Error for ApiError {}

/// GitHub's error body.
/// <https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api>
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    documentation_url: Option<String>,
}

/// One page of a list endpoint.
pub struct ListPage {
    request: String,
    body: Bytes,
    /// The route of the next page, if there is one.
    pub next: Option<String>,
    /// GitHub's clock when it answered (the `Date` header), if it sent a readable one:
    /// checkpoints are GitHub's time, since `delivered_at` is.
    pub date: Option<DateTime<Utc>>,
}

impl ListPage {
    /// The page's items, borrowing strings from the body where they have no escapes.
    pub fn items<'a, T: Deserialize<'a>>(&'a self) -> Result<Vec<T>, ApiError> {
        serde_json::from_slice(&self.body).map_err(|error| ApiError::Transport {
            request: self.request.clone(),
            detail: format!("failed to read the answer: {error}"),
        })
    }
}

/// A successful answer, read in full (so that a connection dropped mid-body is retried
/// like any other transport failure).
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    /// The answer in the form octocrab's parsers take.
    fn into_http(self) -> http::Response<BoxBody<Bytes, octocrab::Error>> {
        let mut response = http::Response::new(BoxBody::new(
            Full::new(self.body).map_err(|never| match never {}),
        ));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

pub struct GitHubClient {
    octocrab: Octocrab,
    api_base: Uri,
    app: Option<Arc<AppSigner>>,
    token: Option<SecretString>,
    installation_tokens: Mutex<HashMap<u64, SecretString>>,
    policy: RetryPolicy,
    clock: Clock,
    log: Log,
    counts: Mutex<RequestCounts>,
    /// Time spent waiting for rate limits in this run (for the metrics).
    rate_limit_waited: Mutex<Duration>,
    /// Interrupts every wait (see [`GitHubClient::with_stop`]).
    stop: Stop,
    /// The end of the run's time budget: no rate-limit wait is taken past it.
    deadline: Option<Instant>,
}

/// The HTTP stack under octocrab: hyper with rustls, and nothing that changes a request.
///
/// octocrab's default stack is not used: it appends `User-Agent: octocrab` to ours (GitHub
/// then sees two), and its `follow-redirect` layer would follow a 3xx to any host.
/// `X-GitHub-Api-Version` comes from octocrab's `build_request`, once.
fn transport(api_url: &Uri) -> anyhow::Result<Octocrab> {
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
    /// A client for the REST API at `api_url` (`https://api.github.com`, or GHES's
    /// `https://HOST/api/v3`).
    pub fn new(
        api_url: &Uri,
        app: Option<Arc<AppSigner>>,
        token: Option<SecretString>,
        policy: RetryPolicy,
        clock: Clock,
        log: Log,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            octocrab: transport(api_url)?,
            api_base: api_url.clone(),
            app,
            token,
            installation_tokens: Mutex::new(HashMap::new()),
            policy,
            clock,
            log,
            counts: Mutex::new(RequestCounts::default()),
            rate_limit_waited: Mutex::new(Duration::ZERO),
            stop: Stop::default(),
            deadline: None,
        })
    }

    /// No rate-limit wait is taken that would end after `deadline` (the run's time budget):
    /// the request fails with [`Outlasts::Budget`] instead, and the next run goes on.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Ends every wait (rate limit, backoff, [`GitHubClient::pause`]) when `stop` is
    /// requested; the request waiting is then not sent again.
    pub fn with_stop(mut self, stop: Stop) -> Self {
        self.stop = stop;
        self
    }

    /// Waits `duration` (the pace between redeliveries), or less if a stop is requested;
    /// `false` then.
    pub async fn pause(&self, duration: Duration) -> bool {
        self.clock.sleep(duration, &self.stop).await
    }

    /// The run's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn has_app(&self) -> bool {
        self.app.is_some()
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Uses `token` from now on for [`Credential::Installation`]`(installation_id)`; it is
    /// masked first.
    pub fn set_installation_token(&self, installation_id: u64, token: SecretString) {
        self.log.mask(token.expose_secret());
        if let Ok(mut tokens) = self.installation_tokens.lock() {
            tokens.insert(installation_id, token);
        }
    }

    pub fn counts(&self) -> RequestCounts {
        let mut counts = self.counts.lock().map(|counts| *counts).unwrap_or_default();
        counts.rate_limit_waited = self
            .rate_limit_waited
            .lock()
            .map(|waited| *waited)
            .unwrap_or_default();
        counts
    }

    /// GET a JSON document.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        route: &str,
        credential: Credential,
    ) -> Result<T, ApiError> {
        let answer = self
            .send(Method::GET, route, credential, None, RequestKind::Other)
            .await?;
        read_json(answer, &describe(&Method::GET, route)).await
    }

    /// GET one page of a list: its body, and the route of the next page from the `Link`
    /// header.
    ///
    /// The next page's URL is turned back into a route on our API base, so that it keeps
    /// the credentials and the path prefix (`/api/v3`), and can never send them elsewhere.
    pub async fn get_page(
        &self,
        route: &str,
        credential: Credential,
    ) -> Result<ListPage, ApiError> {
        let request = describe(&Method::GET, route);
        let answer = self
            .send(Method::GET, route, credential, None, RequestKind::List)
            .await?;
        let body = answer.body.clone();
        let date = answer
            .headers
            .get(http::header::DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| DateTime::parse_from_rfc2822(text).ok())
            .map(|date| date.with_timezone(&Utc));
        // octocrab parses the `Link` header; the items are parsed by the caller, straight
        // into borrowed structs, without octocrab's intermediate `serde_json::Value` (which
        // cost a sixth of a scan's CPU time).
        let links = ApiResponse {
            body: Bytes::from_static(b"[]"),
            ..answer
        };
        let page = Page::<serde::de::IgnoredAny>::from_response(links.into_http())
            .await
            .map_err(|error| body_error(&request, error))?;
        let next = match page.next {
            Some(next) => Some(self.route_of(&next).ok_or_else(|| ApiError::Transport {
                request: request.clone(),
                detail: format!(
                    "the next page's link `{next}` points outside the API URL `{}`",
                    self.api_base
                ),
            })?),
            None => None,
        };
        Ok(ListPage {
            request,
            body,
            next,
            date,
        })
    }

    /// POST `body` (or nothing), for its status only.
    pub async fn post(
        &self,
        route: &str,
        credential: Credential,
        body: Option<&serde_json::Value>,
        kind: RequestKind,
    ) -> Result<StatusCode, ApiError> {
        let answer = self
            .send(Method::POST, route, credential, body, kind)
            .await?;
        Ok(answer.status)
    }

    /// POST `body` and read the JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        route: &str,
        credential: Credential,
        body: &serde_json::Value,
    ) -> Result<T, ApiError> {
        let answer = self
            .send(
                Method::POST,
                route,
                credential,
                Some(body),
                RequestKind::Other,
            )
            .await?;
        read_json(answer, &describe(&Method::POST, route)).await
    }

    /// PATCH `body`, for its status only.
    pub async fn patch(
        &self,
        route: &str,
        credential: Credential,
        body: &serde_json::Value,
    ) -> Result<StatusCode, ApiError> {
        let answer = self
            .send(
                Method::PATCH,
                route,
                credential,
                Some(body),
                RequestKind::Other,
            )
            .await?;
        Ok(answer.status)
    }

    fn route_of(&self, url: &Uri) -> Option<String> {
        route_under(&self.api_base, url)
    }

    /// The absolute URL of `route` (`/app/hook/deliveries?…`) under the API URL.
    fn url_for(&self, route: &str) -> String {
        let scheme = self.api_base.scheme_str().unwrap_or("https");
        let authority = self
            .api_base
            .authority()
            .map(|authority| authority.as_str())
            .unwrap_or_default();
        let base_path = self.api_base.path().trim_end_matches('/');
        format!("{scheme}://{authority}{base_path}{route}")
    }

    fn authorization(&self, credential: Credential) -> Result<HeaderValue, String> {
        let bearer = match credential {
            Credential::AppJwt => {
                let signer = self.app.as_ref().ok_or(
                    "this request needs the App's credentials (`app-id` and `private-key`)",
                )?;
                let jwt = signer
                    .bearer(self.clock.now())
                    .map_err(|_| "failed to sign the App JWT".to_owned())?;
                if jwt.fresh {
                    self.log.mask(jwt.token.expose_secret());
                }
                jwt.token
            }
            Credential::Token => self
                .token
                .clone()
                .ok_or("this request needs a token (the `token` input)")?,
            Credential::Installation(id) => self
                .installation_tokens
                .lock()
                .ok()
                .and_then(|tokens| tokens.get(&id).cloned())
                .ok_or("this request needs an installation token, and none was obtained")?,
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {}", bearer.expose_secret()))
            .map_err(|_| {
                "the token holds characters that cannot go in an HTTP header".to_owned()
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    fn count(&self, kind: RequestKind) {
        if let Ok(mut counts) = self.counts.lock() {
            match kind {
                RequestKind::List => counts.list += 1,
                RequestKind::Redeliver => counts.redeliver += 1,
                RequestKind::Other => counts.other += 1,
            }
        }
    }

    /// Counts an attempt's answer (`None`: it got none) by its status class.
    fn count_answer(&self, kind: RequestKind, status: Option<StatusCode>) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.answers.add(kind, status);
        }
    }

    /// Sends one request, retrying transient failures and waiting out rate limits.
    async fn send(
        &self,
        method: Method,
        route: &str,
        credential: Credential,
        body: Option<&serde_json::Value>,
        kind: RequestKind,
    ) -> Result<ApiResponse, ApiError> {
        let request = describe(&method, route);
        let mut retries = 0;
        let mut secondary_waits = 0;
        loop {
            let answer = match self.attempt(&method, route, credential, body, kind).await {
                Ok(answer) => answer,
                Err(AttemptError::Fatal(detail)) => {
                    return Err(ApiError::Transport { request, detail });
                }
                Err(AttemptError::NoAnswer(detail)) => {
                    if self
                        .wait_before_retry(&mut retries, &request, &detail)
                        .await
                    {
                        continue;
                    }
                    return Err(ApiError::Transport { request, detail });
                }
            };
            if answer.status.is_success() {
                return Ok(answer);
            }
            if answer.status.is_redirection() {
                return Err(ApiError::Redirected {
                    request,
                    status: answer.status.as_u16(),
                    location: redirect_target(&answer.headers),
                });
            }
            let (message, documentation_url) = error_message(&answer);
            match classify_failure(
                answer.status,
                &answer.headers,
                &message,
                self.clock.now(),
                &self.policy,
                secondary_waits,
            ) {
                Failure::RateLimited { wait, reason } => {
                    if secondary_waits >= MAX_LIMIT_WAITS_PER_REQUEST {
                        return Err(ApiError::RateLimited {
                            request,
                            retry_at: self.clock.now(),
                            wait,
                            outlasts: Outlasts::Patience,
                        });
                    }
                    self.wait_out_rate_limit(&request, wait, &reason).await?;
                    secondary_waits += 1;
                }
                Failure::Transient
                    if self
                        .wait_before_retry(
                            &mut retries,
                            &request,
                            &format!("answered {}", answer.status),
                        )
                        .await => {}
                Failure::Transient | Failure::Final => {
                    return Err(ApiError::Status {
                        request,
                        status: answer.status.as_u16(),
                        message,
                        documentation_url,
                    });
                }
            }
        }
    }

    /// One attempt: the request, its answer read in full, within the policy's
    /// `request_deadline` and [`MAX_BODY_BYTES`].
    async fn attempt(
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

    /// Waits `wait` for a rate limit, saying why; an error when `max-wait` would be passed
    /// (the run stops cleanly) or a stop was asked for meanwhile.
    async fn wait_out_rate_limit(
        &self,
        request: &str,
        wait: Duration,
        reason: &str,
    ) -> Result<(), ApiError> {
        if let Some(outlasts) = self.wait_outlasts(wait) {
            let retry_at = self
                .clock
                .now()
                .checked_add_signed(
                    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
                )
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            return Err(ApiError::RateLimited {
                request: request.to_owned(),
                retry_at,
                wait,
                outlasts,
            });
        }
        self.book_rate_limit_wait(wait);
        self.log.line(
            Level::Warning,
            &format!(
                "{request}: {reason}; waiting {} before going on",
                format_duration(wait)
            ),
            &[
                ("wait_seconds", wait.as_secs_f64().into()),
                ("reason", reason.into()),
            ],
        );
        if self.pause(wait).await {
            Ok(())
        } else {
            Err(ApiError::Stopped {
                request: request.to_owned(),
            })
        }
    }

    /// What a rate-limit wait of `wait` would outlast, if anything: `max-wait` (a guard
    /// against an absurd answer), or the end of the run's time budget.
    fn wait_outlasts(&self, wait: Duration) -> Option<Outlasts> {
        if wait > self.policy.max_wait {
            return Some(Outlasts::MaxWait);
        }
        let ends = self.clock.instant().checked_add(wait);
        match (self.deadline, ends) {
            (Some(deadline), Some(ends)) if ends > deadline => Some(Outlasts::Budget),
            (Some(_), None) => Some(Outlasts::Budget),
            _ => None,
        }
    }

    /// Counts a rate-limit wait taken, for the report and the metrics.
    fn book_rate_limit_wait(&self, wait: Duration) {
        if let Ok(mut waited) = self.rate_limit_waited.lock() {
            *waited = waited.saturating_add(wait);
        }
        if let Ok(mut counts) = self.counts.lock() {
            counts.rate_limit_waits += 1;
        }
    }

    /// After a transient failure: waits (with backoff) and says so, or returns `false` when
    /// the retries are used up.
    async fn wait_before_retry(&self, retries: &mut u32, request: &str, what: &str) -> bool {
        if *retries >= self.policy.max_retries {
            return false;
        }
        *retries += 1;
        let delay = self.backoff(*retries);
        self.log.line(
            Level::Warning,
            &format!(
                "{request} {what}; retry {retries} of {} in {}",
                self.policy.max_retries,
                format_duration(delay)
            ),
            &[
                ("wait_seconds", delay.as_secs_f64().into()),
                ("reason", what.into()),
                ("retry", (*retries).into()),
            ],
        );
        self.pause(delay).await
    }

    /// Exponential backoff with equal jitter: half the delay fixed, half random.
    fn backoff(&self, retry: u32) -> Duration {
        let exponential = self
            .policy
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.policy.max_delay);
        let half = exponential / 2;
        half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// GitHub's error message and documentation link from a failed answer's body, or the
/// status's own reason when the body is not GitHub's error document.
fn error_message(answer: &ApiResponse) -> (String, Option<String>) {
    let error_body: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
    let message = error_body
        .as_ref()
        .and_then(|body| body.message.clone())
        .unwrap_or_else(|| {
            answer
                .status
                .canonical_reason()
                .unwrap_or("error")
                .to_owned()
        });
    (message, error_body.and_then(|body| body.documentation_url))
}

/// Why an attempt got no usable answer.
enum AttemptError {
    /// Worth retrying: no answer, a dropped connection, a timeout.
    NoAnswer(String),
    /// Not worth retrying: the request cannot be built, or the answer is too large.
    Fatal(String),
}

/// What a failed answer (not 2xx, not 3xx) calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A rate limit: wait this long, then send again.
    RateLimited { wait: Duration, reason: String },
    /// GitHub had trouble (500, 502, 503, 504): retry with backoff.
    Transient,
    /// The answer stands.
    Final,
}

/// GitHub's guidance on failed answers, as a pure function of the answer:
/// <https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately>
/// - `retry-after` is honoured;
/// - `x-ratelimit-remaining: 0` waits until `x-ratelimit-reset`;
/// - any other secondary limit waits at least a minute, doubling each time;
/// - a 422 whose message says the endpoint "has been spammed" is such a limit too.
pub fn classify_failure(
    status: StatusCode,
    headers: &HeaderMap,
    message: &str,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    secondary_waits_so_far: u32,
) -> Failure {
    if matches!(status.as_u16(), 500 | 502 | 503 | 504) {
        return Failure::Transient;
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let retry_after = header("retry-after").and_then(|value| value.trim().parse::<u64>().ok());
    if status == StatusCode::UNPROCESSABLE_ENTITY && is_spam_answer(message) {
        // "Validation failed, or the endpoint has been spammed": the second is a pace GitHub
        // sets, not a verdict on the event, so it is waited out like a secondary limit.
        let wait = retry_after.map_or_else(
            || secondary_backoff(policy, secondary_waits_so_far),
            Duration::from_secs,
        );
        return Failure::RateLimited {
            wait,
            reason: "GitHub says the endpoint has been spammed".to_owned(),
        };
    }
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return Failure::Final;
    }
    if let Some(seconds) = retry_after {
        return Failure::RateLimited {
            wait: Duration::from_secs(seconds),
            reason: format!("secondary rate limit, GitHub asks to retry after {seconds} s"),
        };
    }
    if header("x-ratelimit-remaining") == Some("0") {
        // No reset: wait a minute. A reset that is not a time GitHub could mean: wait
        // "forever", which `max-wait` turns into a clean stop.
        let wait = match header("x-ratelimit-reset") {
            None => policy.secondary_min_wait,
            Some(value) => value
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|epoch| Utc.timestamp_opt(epoch, 0).single())
                .map_or(Duration::MAX, |reset| {
                    (reset - now).to_std().unwrap_or(Duration::ZERO)
                }),
        }
        .saturating_add(Duration::from_secs(1));
        let resource = header("x-ratelimit-resource").unwrap_or("core");
        return Failure::RateLimited {
            wait,
            reason: format!("primary rate limit for `{resource}` used up until its reset"),
        };
    }
    let secondary = status == StatusCode::TOO_MANY_REQUESTS
        || message
            .to_ascii_lowercase()
            .contains("secondary rate limit");
    if secondary {
        Failure::RateLimited {
            wait: secondary_backoff(policy, secondary_waits_so_far),
            reason: "secondary rate limit without retry-after".to_owned(),
        }
    } else {
        Failure::Final
    }
}

/// A secondary limit's wait without `retry-after`: at least a minute, doubling each time
/// (GitHub's guidance), up to [`SECONDARY_BACKOFF_CAP`], so that a limit counted per hour
/// is waited out in steps that stay within `max-wait`.
fn secondary_backoff(policy: &RetryPolicy, waits_so_far: u32) -> Duration {
    policy
        .secondary_min_wait
        .saturating_mul(2u32.saturating_pow(waits_so_far))
        .min(SECONDARY_BACKOFF_CAP.max(policy.secondary_min_wait))
}

/// The longest step of a secondary limit's backoff.
pub const SECONDARY_BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);

/// Whether a 422's message is the "endpoint has been spammed" one, not a validation failure
/// (GitHub documents both under the one status for `POST …/attempts`).
fn is_spam_answer(message: &str) -> bool {
    message.to_ascii_lowercase().contains("spam")
}

/// Where a redirect pointed, without credentials or query (which may carry a token).
fn redirect_target(headers: &HeaderMap) -> String {
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

fn describe(method: &Method, route: &str) -> String {
    let path = route.split('?').next().unwrap_or(route);
    format!("{method} {path}")
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

fn body_error(request: &str, error: octocrab::Error) -> ApiError {
    ApiError::Transport {
        request: request.to_owned(),
        detail: format!("failed to read the answer: {}", transport_detail(&error)),
    }
}

async fn read_json<T: DeserializeOwned>(answer: ApiResponse, request: &str) -> Result<T, ApiError> {
    T::from_response(answer.into_http())
        .await
        .map_err(|error| body_error(request, error))
}

/// `1s 500ms`, `2m`, `250ms`: how waits are shown, by humantime, to the millisecond (a
/// jittered backoff would show nanoseconds otherwise).
pub fn format_duration(duration: Duration) -> String {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    humantime::format_duration(Duration::from_millis(millis)).to_string()
}
