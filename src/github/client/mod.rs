//! The GitHub REST client: octocrab for HTTP, TLS and the `Link` header, with our own
//! authentication, retries and rate-limit handling on top, one room each:
//! `transport` (the HTTP stack and one exchange), `auth` (the `Authorization` of each
//! credential), `retry` (transient failures and rate limits), `error` (what failed) and
//! `counts` (requests by kind, for the report and the metrics).
//!
//! Why not octocrab's own:
//! - its App auth attaches `Authorization` only to `api.github.com` or relative routes, and
//!   cannot use a client ID as the JWT issuer; we sign with [`crate::github::app_auth`] and set the
//!   header on every request, which only ever goes to the configured API host;
//! - its retry policy repeats POSTs at once, with no backoff, and never waits out a rate
//!   limit; [`RetryPolicy`] follows GitHub's guidance instead:
//!   <https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately>

mod auth;
mod counts;
mod error;
mod retry;
mod transport;

pub use counts::{AnswerCounts, RequestCounts, RequestKind, STATUS_CLASSES};
pub use error::{ApiError, MAX_LIMIT_WAITS_PER_REQUEST, Outlasts};
pub use retry::{FailedAnswer, Failure, RetryPolicy, SECONDARY_BACKOFF_CAP, classify_failure};
pub use transport::{MAX_BODY_BYTES, REQUEST_DEADLINE, route_under};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::HeaderMap;
use http::{Method, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use octocrab::{FromResponse, Octocrab, Page};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::base::clock::{Clock, Stop};
use crate::base::log::Log;
use crate::github::app_auth::AppSigner;
use transport::body_error;

/// What GitHub wants in every request, each exactly once, besides the API version
/// (octocrab's `build_request` sends `X-GitHub-Api-Version: 2022-11-28`): the media type
/// and a User-Agent.
/// <https://docs.github.com/en/rest/about-the-rest-api/api-versions>
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
pub const USER_AGENT_VALUE: &str = concat!("redeliver-action/", env!("CARGO_PKG_VERSION"));

/// Which credential a request carries.
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
        self.parse()
    }

    /// The page's body as one document, for lists that wrap their items in an object
    /// (`{"total_count", "repositories"}`).
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ApiError> {
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

/// What the client may sign requests with: the App's signer and the `token`, each when
/// given.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub app: Option<Arc<AppSigner>>,
    pub token: Option<SecretString>,
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

impl GitHubClient {
    /// A client for the REST API at `api_url` (`https://api.github.com`, or GHES's
    /// `https://HOST/api/v3`).
    pub fn new(
        api_url: &Uri,
        identity: Identity,
        policy: RetryPolicy,
        clock: Clock,
        log: Log,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            octocrab: transport::build(api_url)?,
            api_base: api_url.clone(),
            app: identity.app,
            token: identity.token,
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
}

fn describe(method: &Method, route: &str) -> String {
    let path = route.split('?').next().unwrap_or(route);
    format!("{method} {path}")
}

async fn read_json<T: DeserializeOwned>(answer: ApiResponse, request: &str) -> Result<T, ApiError> {
    T::from_response(answer.into_http())
        .await
        .map_err(|error| body_error(request, error))
}
