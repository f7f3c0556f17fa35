//! An in-process fake of the parts of GitHub's REST API that the redelivery action uses.
//!
//! It follows GitHub's REST API documentation (<https://docs.github.com/en/rest>): webhook
//! deliveries of the three hook scopes with cursor pagination and 64-bit ids above 2^53,
//! redelivery attempts, org and repo hook lists (paginated by `page`, each hook's receiver URL
//! in `config.url`), one hook by id, the App's hook configuration, App JWT checks,
//! installation tokens, repository Actions variables, rate-limit headers and injectable faults.
//!
//! It shares no code with the client (`redeliver-action`) on purpose: a fake that shares the
//! client's assumptions proves nothing. What it accepts and answers is checked against
//! GitHub's own OpenAPI description instead (see [`contract`]).
//!
//! Rooms: this file holds the public types and the server's start; each API area has its
//! module (`deliveries`, `hooks`, `apps`, `fleet`, `variables`), beside `auth`, `faults`,
//! `clock`, `state` (the one lock) and `http` (listener, request reading, answers, routing).

mod apps;
mod auth;
mod clock;
pub mod contract;
mod deliveries;
pub mod demo;
mod faults;
mod fleet;
mod hooks;
mod http;
mod state;
mod variables;

use contract::parse_query;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tokio::net::TcpListener;

use http::conn::{ConnHandle, FakeListener};
use http::handle;
use state::{Inner, Shared};

/// First delivery id the fake assigns. Above 2^53, like GitHub's ids since 2026: a client that
/// parses ids through `f64` rounds them and redelivers the wrong (unknown) delivery.
pub const BIG_ID_BASE: u64 = 3_804_004_623_172_239_366;
/// `x-ratelimit-limit` of every answer.
pub const RATE_LIMIT: u64 = 5000;
/// Largest accepted Actions variable value, in bytes (48 KB).
pub const MAX_VARIABLE_VALUE_BYTES: usize = 49_152;
/// Variables per repository.
pub const MAX_VARIABLES_PER_REPO: usize = 500;
/// Deliveries older than this cannot be redelivered (github.com).
pub const RETENTION_DAYS: i64 = 3;
/// The App's hook's receiver URL until [`FakeGitHub::set_app_hook_url`] sets another.
pub const DEFAULT_APP_HOOK_URL: &str = "https://receiver.example.test/app";
/// `per_page` default and maximum of the deliveries listing.
pub const DEFAULT_PER_PAGE: usize = 30;
pub const MAX_PER_PAGE: usize = 100;

const DOC_REST: &str = "https://docs.github.com/rest";
const DOC_API_VERSIONS: &str = "https://docs.github.com/rest/about-the-rest-api/api-versions";
const DOC_APP_DELIVERIES: &str = "https://docs.github.com/rest/apps/webhooks";
const DOC_ORG_DELIVERIES: &str = "https://docs.github.com/rest/orgs/webhooks";
const DOC_REPO_DELIVERIES: &str = "https://docs.github.com/rest/repos/webhooks";
const DOC_APPS: &str = "https://docs.github.com/rest/apps/apps";
const DOC_VARIABLES: &str = "https://docs.github.com/rest/actions/variables";
const DOC_PRIMARY_LIMIT: &str = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-primary-rate-limits";
const DOC_SECONDARY_LIMIT: &str = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits";

const JWT_MESSAGE: &str = "A JSON web token could not be decoded";
const BAD_CREDENTIALS: &str = "Bad credentials";
const NOT_ACCESSIBLE: &str = "Resource not accessible by integration";

/// How to start a [`FakeGitHub`].
#[derive(Clone, Debug, PartialEq)]
pub struct FakeOptions {
    /// `""` (github.com) or e.g. `"/api/v3"` (GHES): every route lives under it.
    pub path_prefix: String,
    /// A JWT's `iss` may be this number (as a JSON number or a string)...
    pub app_id: u64,
    /// ...or this client id.
    pub client_id: String,
    /// RS256 public key (PEM, SPKI or PKCS#1) that verifies App JWTs.
    pub public_key_pem: String,
    /// Each request's response time, the fake's own work included (see also
    /// [`FakeGitHub::set_latency`]).
    pub latency: Duration,
    /// Where to listen; `None`: 127.0.0.1 on a free port.
    pub bind: Option<SocketAddr>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            path_prefix: String::new(),
            app_id: 4242,
            client_id: "Iv23liFakeClientId".to_owned(),
            public_key_pem: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/resources/app-key.pub.pem"
            ))
            .to_owned(),
            latency: Duration::ZERO,
            bind: None,
        }
    }
}

/// A webhook whose deliveries the fake serves.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// The GitHub App's webhook (`/app/hook/deliveries`, App JWT).
    App,
    /// An organization webhook (`/orgs/{org}/hooks/{hook_id}/deliveries`).
    Org { org: String, hook_id: u64 },
    /// A repository webhook (`/repos/{owner}/{repo}/hooks/{hook_id}/deliveries`).
    Repo {
        owner: String,
        repo: String,
        hook_id: u64,
    },
}

impl Hook {
    pub fn org(org: &str, hook_id: u64) -> Hook {
        Hook::Org {
            org: org.to_owned(),
            hook_id,
        }
    }

    /// `repo` is `"owner/name"`.
    pub fn repo(repo: &str, hook_id: u64) -> Hook {
        let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
        Hook::Repo {
            owner: owner.to_owned(),
            repo: name.to_owned(),
            hook_id,
        }
    }

    /// The listing path, without the API prefix.
    pub fn deliveries_path(&self) -> String {
        match self {
            Hook::App => "/app/hook/deliveries".to_owned(),
            Hook::Org { org, hook_id } => format!("/orgs/{org}/hooks/{hook_id}/deliveries"),
            Hook::Repo {
                owner,
                repo,
                hook_id,
            } => format!("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries"),
        }
    }

    /// The redelivery path of one delivery, without the API prefix.
    pub fn attempts_path(&self, delivery_id: u64) -> String {
        format!("{}/{delivery_id}/attempts", self.deliveries_path())
    }

    /// Owners, organizations and repositories are case-insensitive on GitHub.
    fn key(&self) -> Hook {
        match self {
            Hook::App => Hook::App,
            Hook::Org { org, hook_id } => Hook::Org {
                org: org.to_ascii_lowercase(),
                hook_id: *hook_id,
            },
            Hook::Repo {
                owner,
                repo,
                hook_id,
            } => Hook::Repo {
                owner: owner.to_ascii_lowercase(),
                repo: repo.to_ascii_lowercase(),
                hook_id: *hook_id,
            },
        }
    }

    fn doc(&self) -> &'static str {
        match self {
            Hook::App => DOC_APP_DELIVERIES,
            Hook::Org { .. } => DOC_ORG_DELIVERIES,
            Hook::Repo { .. } => DOC_REPO_DELIVERIES,
        }
    }
}

/// How a delivery went, as GitHub records it in `status` and `status_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `"OK"`, the receiver's 2xx.
    Delivered(u16),
    /// `"Invalid HTTP Response: 503"`: any answer but 2xx, 3xx included (GitHub follows no
    /// redirect).
    HttpStatus(u16),
    /// `"timed out"`, `status_code` 0: no answer within 10 s (30 s on GHES).
    TimedOut,
    /// `"failed to connect"`, `status_code` 0: the receiver is down.
    FailedToConnect,
}

impl Outcome {
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Delivered(_))
    }

    fn status(self) -> (String, u16) {
        match self {
            Outcome::Delivered(code) => ("OK".to_owned(), code),
            Outcome::HttpStatus(code) => (format!("Invalid HTTP Response: {code}"), code),
            Outcome::TimedOut => ("timed out".to_owned(), 0),
            Outcome::FailedToConnect => ("failed to connect".to_owned(), 0),
        }
    }
}

/// A delivery to put into a hook's list with [`FakeGitHub::add_delivery`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelivery {
    pub guid: String,
    /// Stored with whole-second precision, like GitHub's `delivered_at`.
    pub delivered_at: DateTime<Utc>,
    /// [`NewDelivery::failed`]: `"Invalid HTTP Response: 503"`; [`NewDelivery::ok`]: `"OK"`.
    pub outcome: Outcome,
    pub event: String,
    pub action: Option<String>,
    pub redelivery: bool,
    /// `None`: the fake assigns the next big id.
    pub id: Option<u64>,
    /// `duration` in seconds; `None`: what the outcome usually takes (0.5 s answered, 10 s
    /// timed out, 0.01 s failed to connect).
    pub duration: Option<f64>,
}

impl NewDelivery {
    pub fn failed(guid: impl Into<String>, delivered_at: DateTime<Utc>) -> Self {
        NewDelivery {
            guid: guid.into(),
            delivered_at,
            outcome: Outcome::HttpStatus(503),
            event: "push".to_owned(),
            action: None,
            redelivery: false,
            id: None,
            duration: None,
        }
    }

    pub fn ok(guid: impl Into<String>, delivered_at: DateTime<Utc>) -> Self {
        NewDelivery {
            outcome: Outcome::Delivered(200),
            ..NewDelivery::failed(guid, delivered_at)
        }
    }

    /// How it went: a timeout, a refused connection, a 3xx, ...
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn event(mut self, event: &str, action: Option<&str>) -> Self {
        self.event = event.to_owned();
        self.action = action.map(str::to_owned);
        self
    }

    pub fn id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    pub fn redelivery(mut self, redelivery: bool) -> Self {
        self.redelivery = redelivery;
        self
    }

    /// How long GitHub says the delivery took, in seconds.
    pub fn duration(mut self, seconds: f64) -> Self {
        self.duration = Some(seconds);
        self
    }
}

/// An accepted `POST .../deliveries/{delivery_id}/attempts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redelivery {
    /// The hook as it was first given to [`FakeGitHub::add_delivery`].
    pub hook: Hook,
    /// The id in the request's path.
    pub delivery_id: u64,
    pub guid: String,
}

/// A personal access token the fake accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeToken {
    pub token: String,
    /// `"owner/name"` repositories the token has admin on (repository hooks).
    pub admin_repos: Vec<String>,
    /// Organizations the token's user owns (organization hooks, and the hooks of their repos).
    pub admin_orgs: Vec<String>,
    /// "Variables: write" (fine-grained) or `repo` (classic): for every repository.
    pub variables_write: bool,
    /// `"owner/name"` repositories outside the token's reach: GitHub answers 404 to all of
    /// their endpoints, as if they did not exist.
    pub hidden_repos: Vec<String>,
}

impl FakeToken {
    pub fn new(token: &str) -> Self {
        FakeToken {
            token: token.to_owned(),
            ..FakeToken::default()
        }
    }

    pub fn admin_repo(mut self, repo: &str) -> Self {
        self.admin_repos.push(repo.to_owned());
        self
    }

    pub fn admin_org(mut self, org: &str) -> Self {
        self.admin_orgs.push(org.to_owned());
        self
    }

    pub fn variables_write(mut self, yes: bool) -> Self {
        self.variables_write = yes;
        self
    }

    /// The token cannot see `repo` (a fine-grained token not granted it): 404 everywhere.
    pub fn hidden_repo(mut self, repo: &str) -> Self {
        self.hidden_repos.push(repo.to_owned());
        self
    }
}

/// An installation access token the fake handed out.
#[derive(Clone, Debug, PartialEq)]
pub struct MintedToken {
    pub token: String,
    pub installation_id: u64,
    /// The request body it was minted with (`Value::Null` when there was none).
    pub body: Value,
}

/// One request the fake answered (or dropped).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Without the path prefix (the full path when it was not under the prefix).
    pub path: String,
    /// As received.
    pub full_path: String,
    pub query: Option<String>,
    pub auth: AuthSeen,
    /// The JSON body; a body that is not JSON is kept as a `Value::String`.
    pub body: Option<Value>,
    /// The status answered; 0 for [`FaultKind::DropConnection`].
    pub status: u16,
    /// Request headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of a request header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's (raw) value.
    pub fn query_param(&self, name: &str) -> Option<String> {
        parse_query(self.query.as_deref())
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What the `Authorization` header of a request was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthSeen {
    None,
    /// A JWT that verified as this App's (signature, `iss`, `iat`, `exp`).
    AppJwt,
    /// A known personal access token or an unexpired minted installation token.
    Token(String),
    /// Anything else (bad JWT, unknown token, other scheme).
    Invalid,
}

/// A fault to inject, see [`FakeGitHub::push_fault`].
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// `None`: any method.
    pub method: Option<String>,
    /// Matched against the path without the prefix.
    pub path_contains: String,
    /// Let this many matching requests through first...
    pub skip: usize,
    /// ...then apply to this many.
    pub times: usize,
    pub kind: FaultKind,
}

impl Fault {
    /// Applies once, to the first request of any method whose path contains `path_contains`.
    pub fn new(path_contains: &str, kind: FaultKind) -> Self {
        Fault {
            method: None,
            path_contains: path_contains.to_owned(),
            skip: 0,
            times: 1,
            kind,
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    pub fn skip(mut self, skip: usize) -> Self {
        self.skip = skip;
        self
    }

    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status with GitHub's JSON error body, without doing the work.
    Status(u16),
    /// Close the connection without any answer.
    DropConnection,
    /// Do the real work (e.g. record the redelivery), then answer this status.
    ApplyThenStatus(u16),
    /// 403 or 429 with the secondary-limit message and `retry-after` when given.
    SecondaryRateLimit {
        status: u16,
        retry_after: Option<u64>,
    },
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` = now + `reset_in_secs`.
    PrimaryExhausted { reset_in_secs: u64 },
}

/// GitHub's secondary limit on content-creating requests, as it applies to redeliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentLimit {
    pub max: usize,
    pub per: Duration,
    pub answer: LimitAnswer,
}

/// How GitHub answers a redelivery over the content limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitAnswer {
    /// 403 with the secondary-limit message and `retry-after` (seconds until the window
    /// has room again).
    Forbidden,
    /// 429, likewise.
    TooManyRequests,
    /// 422 "the endpoint has been spammed", with no `retry-after`.
    Spammed,
}

/// The fake GitHub. The server stops when this is dropped.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitHub")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeGitHub {
    /// Stops the server, and fails the test when an exchange broke GitHub's contract (unless
    /// the test took the violations with [`FakeGitHub::take_contract_violations`]).
    fn drop(&mut self) {
        self.server.abort();
        let violations = std::mem::take(&mut self.shared.lock().contract_violations);
        if !violations.is_empty() && !std::thread::panicking() {
            panic!(
                "{} exchange(s) with the fake GitHub broke GitHub's contract (crates/fake-github/openapi):\n  {}",
                violations.len(),
                violations.join("\n  ")
            );
        }
    }
}

impl FakeGitHub {
    /// Binds 127.0.0.1 on a free port and serves in a spawned task.
    pub async fn start(options: FakeOptions) -> FakeGitHub {
        let decoding_key = DecodingKey::from_rsa_pem(options.public_key_pem.as_bytes())
            .expect("FakeOptions::public_key_pem must be an RSA public key in PEM");
        let prefix = options.path_prefix.trim_end_matches('/').to_owned();
        assert!(
            prefix.is_empty() || prefix.starts_with('/'),
            "FakeOptions::path_prefix must be empty or start with '/'"
        );
        let bind = options
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(bind)
            .await
            .unwrap_or_else(|error| panic!("failed to bind {bind} for the fake GitHub: {error}"));
        let addr = listener
            .local_addr()
            .expect("local address of the fake GitHub");
        let now = Utc::now();
        let shared = Arc::new(Shared {
            origin: format!("http://{addr}"),
            prefix,
            app_id: options.app_id,
            client_id: options.client_id,
            decoding_key,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            latency_nanos: AtomicU64::new(
                u64::try_from(options.latency.as_nanos()).unwrap_or(u64::MAX),
            ),
            clock_offset_millis: AtomicI64::new(0),
            clock: Mutex::new(None),
            on_redelivery: Mutex::new(None),
            rate_reset: now.timestamp() + 3600,
            inner: Mutex::new(Inner {
                redelivery_result_delay: Duration::from_secs(2),
                ..Inner::default()
            }),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<ConnHandle>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(FakeListener { inner: listener }, app).await;
        });
        FakeGitHub {
            shared,
            addr,
            server,
        }
    }

    /// `http://127.0.0.1:PORT` + path prefix, no trailing slash: what `GITHUB_API_URL` would be.
    pub fn url(&self) -> String {
        format!("{}{}", self.shared.origin, self.shared.prefix)
    }

    /// `http://127.0.0.1:PORT`, without the prefix.
    pub fn origin(&self) -> String {
        self.shared.origin.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the per-request latency from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.latency_nanos.store(
            u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The most requests the fake was answering at once (since the start, or the last
    /// [`FakeGitHub::clear_requests`]).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every request, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
        let mut inner = self.shared.lock();
        inner.requests.clear();
        inner.unexpected.clear();
    }

    /// Requests to routes the fake does not know (answered 404).
    pub fn unexpected_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().unexpected.clone()
    }

    /// Every way a request or an answer broke GitHub's OpenAPI description so far.
    pub fn contract_violations(&self) -> Vec<String> {
        self.shared.lock().contract_violations.clone()
    }

    /// Takes the violations, for a test that provokes them on purpose; the rest still fail
    /// the test when the fake is dropped.
    pub fn take_contract_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.lock().contract_violations)
    }
}
