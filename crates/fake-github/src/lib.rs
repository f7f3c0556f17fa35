//! An in-process fake of the parts of GitHub's REST API that the redelivery action uses.
//!
//! It follows GitHub's REST API documentation (<https://docs.github.com/en/rest>): webhook deliveries of the three hook scopes with
//! cursor pagination and 64-bit ids above 2^53, redelivery attempts, org and repo hook lists
//! (paginated by `page`, each hook's receiver URL in `config.url`), App JWT checks,
//! installation tokens, repository Actions variables, rate-limit headers and injectable faults.
//!
//! It shares no code with the client (`redeliver-action`) on purpose: a fake that shares the
//! client's assumptions proves nothing. What it accepts and answers is checked against
//! GitHub's own OpenAPI description instead (see [`contract`]).

pub mod contract;
pub mod demo;
mod fleet;

use contract::parse_query;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::ops::Bound;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use rand::Rng as _;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

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
/// `per_page` default and maximum of the deliveries listing.
pub const DEFAULT_PER_PAGE: usize = 30;
pub const MAX_PER_PAGE: usize = 100;
/// Largest request body the fake reads.
const MAX_REQUEST_BODY: usize = 8 * 1024 * 1024;

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

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

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

    /// Sets this GitHub's clock `offset` from the machine's (negative: behind). Everything
    /// it stamps and checks runs on that clock: the `Date` header, redeliveries'
    /// `delivered_at`, variables' times, JWT and token expiry.
    pub fn set_clock_offset(&self, offset: TimeDelta) {
        self.shared
            .clock_offset_millis
            .store(offset.num_milliseconds(), Ordering::Relaxed);
    }

    /// Runs this GitHub on `clock` (a test's simulated time) instead of the machine's: the
    /// run under test and its GitHub then agree on the time, and a result "listed 2 s
    /// after the 202" is listed once the simulated clock has moved 2 s on.
    pub fn use_clock(&self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        *self
            .shared
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(clock));
    }

    /// Whether this GitHub runs on a clock given by [`FakeGitHub::use_clock`].
    pub fn has_own_clock(&self) -> bool {
        self.shared
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some()
    }

    /// Calls `hook` with the number of redeliveries accepted so far, after each one is
    /// accepted (a test stops the run under test there, as a SIGTERM would). It runs with
    /// the fake's state locked: it must not call the fake.
    pub fn on_redelivery(&self, hook: impl Fn(usize) + Send + Sync + 'static) {
        *self
            .shared
            .on_redelivery
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(hook));
    }

    /// Limits accepted redeliveries to `limit.max` in any `limit.per`, as GitHub's
    /// secondary limit on content-creating requests does (80 a minute, 500 an hour); one
    /// over it gets `limit.answer`. `None` lifts the limit.
    pub fn set_content_limit(&self, limit: Option<ContentLimit>) {
        let mut inner = self.shared.lock();
        inner.content_limit = limit;
        inner.content_sent.clear();
    }

    /// Redeliveries refused by the content limit so far.
    pub fn content_limit_refusals(&self) -> usize {
        self.shared.lock().content_refusals
    }

    /// The time on this GitHub's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    // --- webhook deliveries ---

    /// Adds one delivery and returns its id.
    ///
    /// Panics if `delivery.id` is already on that hook.
    pub fn add_delivery(&self, hook: &Hook, delivery: NewDelivery) -> u64 {
        self.shared.lock().add_delivery(hook, delivery)
    }

    /// Adds many deliveries at once (any order; each insertion is O(log n)).
    pub fn add_deliveries(
        &self,
        hook: &Hook,
        deliveries: impl IntoIterator<Item = NewDelivery>,
    ) -> Vec<u64> {
        let mut inner = self.shared.lock();
        deliveries
            .into_iter()
            .map(|d| inner.add_delivery(hook, d))
            .collect()
    }

    /// The hook's current deliveries, newest first, as GitHub's JSON.
    /// The hook's deliveries as GitHub lists them now, newest first (queued redeliveries
    /// appear once their result is recorded).
    pub fn deliveries(&self, hook: &Hook) -> Vec<Value> {
        let now = self.shared.now();
        let inner = self.shared.lock();
        match inner.hooks.get(&hook.key()) {
            Some(data) => data
                .by_key
                .values()
                .rev()
                .filter(|delivery| delivery.listed_from <= now)
                .map(Delivery::to_json)
                .collect(),
            None => Vec::new(),
        }
    }

    pub fn delivery_count(&self, hook: &Hook) -> usize {
        let inner = self.shared.lock();
        inner.hooks.get(&hook.key()).map_or(0, |d| d.by_key.len())
    }

    /// Every accepted redelivery request, in order.
    pub fn redeliveries(&self) -> Vec<Redelivery> {
        self.shared.lock().redeliveries.clone()
    }

    /// Redeliveries of this guid produce a failed delivery while `failing`.
    pub fn set_receiver_failing(&self, guid: &str, failing: bool) {
        let mut inner = self.shared.lock();
        if failing {
            inner.failing_guids.insert(guid.to_owned());
        } else {
            inner.failing_guids.remove(guid);
        }
    }

    /// While down, every redelivery produces a failed delivery.
    /// How long after accepting a redelivery (202) its result appears in the list. GitHub
    /// queues it and records it once the receiver answered: within its 10 s timeout (30 s
    /// on GHES). Default: 2 s.
    pub fn set_redelivery_result_delay(&self, delay: Duration) {
        self.shared.lock().redelivery_result_delay = delay;
    }

    /// Lists the results of every redelivery accepted so far, as if their receiver had
    /// answered: what a later run would see (runs are minutes or hours apart).
    pub fn record_queued_results(&self) {
        let now = self.shared.now();
        let mut inner = self.shared.lock();
        for data in inner.hooks.values_mut() {
            for delivery in data.by_key.values_mut() {
                delivery.listed_from = delivery.listed_from.min(now);
            }
        }
    }

    /// Makes `hook` exist without deliveries (listing one that does not exist is a 404).
    /// Its receiver URL (`config.url` in the hook lists) is `https://receiver.example/hooks/<id>`
    /// unless set with [`FakeGitHub::add_hook_with_url`].
    pub fn add_hook(&self, hook: &Hook) {
        let mut inner = self.shared.lock();
        inner.ensure_hook_repository(hook);
        inner.registered_hooks.insert(hook.key());
    }

    /// The receiver answers 400 to every redelivery of `guid`: an event it cannot take.
    pub fn set_receiver_refusing(&self, guid: &str) {
        self.shared.lock().refused_guids.insert(guid.to_owned());
    }

    /// The receiver falls over once `count` redeliveries were accepted (in all): those
    /// after fail with "failed to connect".
    pub fn set_receiver_down_after(&self, count: usize) {
        self.shared.lock().receiver_down_after = Some(count);
    }

    /// Makes `hook` exist with `url` as its receiver URL: what `GET /orgs/{org}/hooks` and
    /// `GET /repos/{owner}/{repo}/hooks` show as `config.url`.
    pub fn add_hook_with_url(&self, hook: &Hook, url: &str) {
        let mut inner = self.shared.lock();
        inner.ensure_hook_repository(hook);
        inner.registered_hooks.insert(hook.key());
        inner.hook_urls.insert(hook.key(), url.to_owned());
    }

    /// Deletes `hook` and its deliveries, as a user deleting the webhook would: it leaves the
    /// hook lists, and its deliveries answer 404.
    pub fn remove_hook(&self, hook: &Hook) {
        let mut inner = self.shared.lock();
        let key = hook.key();
        inner.registered_hooks.remove(&key);
        inner.hook_urls.remove(&key);
        inner.hooks.remove(&key);
    }

    /// While down, redeliveries are accepted (202) and fail with "failed to connect".
    pub fn set_receiver_down(&self, down: bool) {
        self.shared.lock().receiver_down = down;
    }

    // --- Actions variables & credentials ---

    /// Creates or updates a variable; `repo` is `"owner/name"`.
    pub fn set_variable(&self, repo: &str, name: &str, value: &str) {
        let now = self.shared.now();
        let mut inner = self.shared.lock();
        let vars = inner
            .variables
            .entry(repo.to_ascii_lowercase())
            .or_default();
        let name = name.to_ascii_uppercase();
        match vars.get_mut(&name) {
            Some(var) => {
                var.value = value.to_owned();
                var.updated_at = now;
            }
            None => {
                vars.insert(
                    name,
                    Variable {
                        value: value.to_owned(),
                        created_at: now,
                        updated_at: now,
                    },
                );
            }
        }
    }

    pub fn variable(&self, repo: &str, name: &str) -> Option<String> {
        let inner = self.shared.lock();
        inner
            .variables
            .get(&repo.to_ascii_lowercase())
            .and_then(|vars| vars.get(&name.to_ascii_uppercase()))
            .map(|var| var.value.clone())
    }

    pub fn remove_variable(&self, repo: &str, name: &str) {
        let mut inner = self.shared.lock();
        if let Some(vars) = inner.variables.get_mut(&repo.to_ascii_lowercase()) {
            vars.remove(&name.to_ascii_uppercase());
        }
    }

    /// A personal access token the fake accepts (replaces one with the same string).
    pub fn add_token(&self, token: FakeToken) {
        let mut inner = self.shared.lock();
        inner.tokens.insert(token.token.clone(), token);
    }

    /// The App is installed on `repo` (`"owner/name"`) with this installation id. Several
    /// repositories can share one installation.
    pub fn set_installation(&self, repo: &str, installation_id: u64) {
        let mut inner = self.shared.lock();
        let key = repo.to_ascii_lowercase();
        inner.ensure_repository(repo);
        inner.installations.insert(
            key,
            Installation {
                full_name: repo.to_owned(),
                id: installation_id,
            },
        );
    }

    /// The permissions the installation was granted (default
    /// `{"metadata":"read","actions_variables":"write"}`: `actions_variables` is GitHub's key
    /// for "Variables"). Tokens minted without a `permissions`
    /// narrowing get these; asking for more is answered 422.
    pub fn set_installation_permissions(&self, installation_id: u64, permissions: Value) {
        let map = match permissions {
            Value::Object(map) => map,
            other => panic!("installation permissions must be a JSON object, got {other}"),
        };
        self.shared
            .lock()
            .installation_permissions
            .insert(installation_id, map);
    }

    /// Installation tokens handed out, in order.
    pub fn minted_tokens(&self) -> Vec<MintedToken> {
        self.shared.lock().minted.clone()
    }

    // --- observation & faults ---

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

    /// Sets how many requests count as used in the current rate-limit window, e.g. to make
    /// `x-ratelimit-remaining` low. Each request adds one; `x-ratelimit-remaining` is
    /// `5000 - used` but never below 1 (use [`FaultKind::PrimaryExhausted`] for 0).
    pub fn set_rate_used(&self, used: u64) {
        self.shared.lock().rate_used = used;
    }

    /// Faults are checked in push order before a request is handled.
    pub fn push_fault(&self, fault: Fault) {
        self.shared
            .lock()
            .faults
            .push(FaultSlot { fault, matched: 0 });
    }

    /// Removes every fault, applied or not.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// How many pushed faults have not been used up yet.
    pub fn pending_faults(&self) -> usize {
        self.shared
            .lock()
            .faults
            .iter()
            .filter(|slot| slot.matched < slot.fault.skip + slot.fault.times)
            .count()
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

struct Shared {
    origin: String,
    prefix: String,
    app_id: u64,
    client_id: String,
    decoding_key: DecodingKey,
    latency_nanos: AtomicU64,
    /// Requests being answered now, and the most there were at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// How far this GitHub's clock is from the machine's, in milliseconds (see
    /// [`FakeGitHub::set_clock_offset`]).
    clock_offset_millis: AtomicI64,
    /// Where this GitHub's time comes from: the machine's clock, or a test's simulated one
    /// (see [`FakeGitHub::use_clock`]).
    clock: Mutex<Option<WallClock>>,
    /// Called with the number of redeliveries accepted so far, after each one.
    on_redelivery: Mutex<Option<RedeliveryHook>>,
    rate_reset: i64,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake GitHub state lock poisoned")
    }

    fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    /// This GitHub's clock: the machine's, shifted by the clock offset.
    fn now(&self) -> DateTime<Utc> {
        let clock = self
            .clock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let now = clock.map_or_else(Utc::now, |clock| clock());
        now + TimeDelta::milliseconds(self.clock_offset_millis.load(Ordering::Relaxed))
    }

    /// Whether the `Authorization` is a JWT this App signed, valid at `now`.
    fn is_valid_jwt(&self, auth_header: &AuthHeader, now: DateTime<Utc>) -> bool {
        match auth_header {
            AuthHeader::Bearer(token) if token.split('.').count() == 3 => {
                self.verify_jwt(token, now.timestamp())
            }
            _ => false,
        }
    }

    /// GitHub's description for this fake: GHES's under `/api/v3`, github.com's otherwise.
    fn contract(&self) -> &'static contract::Contract {
        if self.prefix.is_empty() {
            &contract::GITHUB_COM
        } else {
            &contract::GHES
        }
    }

    /// The path without the prefix; the full path when it is not under the prefix.
    fn strip_prefix<'a>(&self, full_path: &'a str) -> (&'a str, bool) {
        if self.prefix.is_empty() {
            return (full_path, true);
        }
        match full_path.strip_prefix(self.prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => (rest, true),
            _ => (full_path, false),
        }
    }

    fn verify_jwt(&self, token: &str, now: i64) -> bool {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let claims = match decode::<Value>(token, &self.decoding_key, &validation) {
            Ok(data) => data.claims,
            Err(_) => return false,
        };
        let iss_ok = match claims.get("iss") {
            Some(Value::Number(n)) => n.as_u64() == Some(self.app_id),
            Some(Value::String(s)) => *s == self.client_id || *s == self.app_id.to_string(),
            _ => false,
        };
        let (Some(iat), Some(exp)) = (numeric_date(&claims, "iat"), numeric_date(&claims, "exp"))
        else {
            return false;
        };
        iss_ok && exp > now && exp >= iat && exp - iat <= 660 && iat <= now + 60 && exp <= now + 660
    }
}

fn numeric_date(claims: &Value, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

#[derive(Default)]
struct Inner {
    hooks: HashMap<Hook, HookData>,
    next_id: u64,
    redeliveries: Vec<Redelivery>,
    failing_guids: HashSet<String>,
    /// Events the receiver refuses with 400 every time (poison events).
    refused_guids: HashSet<String>,
    receiver_down: bool,
    /// The receiver falls over after this many accepted redeliveries.
    receiver_down_after: Option<usize>,
    /// How long after a 202 the redelivery's result is listed.
    redelivery_result_delay: Duration,
    /// Hooks that exist besides those with deliveries (the App's always does).
    registered_hooks: HashSet<Hook>,
    /// Receiver URLs (`config.url`) of hooks, by key; others get a made-up one.
    hook_urls: HashMap<Hook, String>,
    /// repo (lower case) -> NAME (upper case) -> variable
    variables: HashMap<String, BTreeMap<String, Variable>>,
    tokens: HashMap<String, FakeToken>,
    /// repo (lower case) -> installation
    installations: HashMap<String, Installation>,
    installation_permissions: HashMap<u64, Map<String, Value>>,
    /// repo (lower case) -> repository: every repository something names.
    repositories: BTreeMap<String, fleet::RepoData>,
    /// Accounts (lower case) that are users, not organizations.
    users: HashSet<String>,
    /// Installations on a whole account: account (lower case) -> (login, installation id).
    account_installations: HashMap<String, (String, u64)>,
    minted: Vec<MintedToken>,
    grants: HashMap<String, Grant>,
    requests: Vec<RecordedRequest>,
    unexpected: Vec<RecordedRequest>,
    /// What broke GitHub's description, in requests and in the fake's own answers.
    contract_violations: Vec<String>,
    faults: Vec<FaultSlot>,
    rate_used: u64,
    content_limit: Option<ContentLimit>,
    /// When the redeliveries of the content limit's window were accepted, oldest first.
    content_sent: std::collections::VecDeque<DateTime<Utc>>,
    content_refusals: usize,
}

/// A test's simulated wall clock (see [`FakeGitHub::use_clock`]).
type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Called after each accepted redelivery (see [`FakeGitHub::on_redelivery`]).
type RedeliveryHook = Arc<dyn Fn(usize) + Send + Sync>;

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

/// A delivery's position: (delivered_at in whole seconds, id). The listing is these keys in
/// descending order; a cursor is the key of the last item of a page, so the next page starts
/// strictly after it, whatever was inserted in the meantime.
type DeliveryKey = (i64, u64);

struct HookData {
    /// The hook as first given (for [`Redelivery::hook`]).
    hook: Hook,
    by_key: BTreeMap<DeliveryKey, Delivery>,
    by_id: HashMap<u64, DeliveryKey>,
}

#[derive(Clone, Debug)]
struct Delivery {
    id: u64,
    guid: String,
    delivered_at: DateTime<Utc>,
    redelivery: bool,
    outcome: Outcome,
    event: String,
    action: Option<String>,
    installation_id: Option<u64>,
    repository_id: Option<u64>,
    /// `None`: what the outcome usually takes.
    duration: Option<f64>,
    /// A redelivery is queued: GitHub lists its result only once the receiver answered
    /// (or its 10 s ran out).
    listed_from: DateTime<Utc>,
}

impl Delivery {
    fn to_json(&self) -> Value {
        let (status, status_code) = self.outcome.status();
        let duration = self.duration.unwrap_or(match self.outcome {
            Outcome::TimedOut => 10.0,
            Outcome::FailedToConnect => 0.01,
            _ => 0.5,
        });
        json!({
            "id": self.id,
            "guid": self.guid,
            "delivered_at": rfc3339(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": duration,
            "status": status,
            "status_code": status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
        })
    }
}

struct Variable {
    value: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

struct Installation {
    full_name: String,
    id: u64,
}

#[derive(Clone)]
struct Grant {
    installation_id: u64,
    permissions: Map<String, Value>,
    /// Lower-case `owner/name`s the token is good for.
    repos: Vec<String>,
    expires_at: DateTime<Utc>,
}

struct FaultSlot {
    fault: Fault,
    matched: usize,
}

enum Principal {
    Pat(FakeToken),
    Installation(Grant),
}

impl Inner {
    /// The account (lower case) an installation belongs to: the owner of its repositories.
    fn installation_account(&self, installation_id: u64) -> Option<String> {
        self.account_of_installation(installation_id)
    }

    /// A repository hook's repository exists.
    fn ensure_hook_repository(&mut self, hook: &Hook) {
        if let Hook::Repo { owner, repo, .. } = hook {
            self.ensure_repository(&format!("{owner}/{repo}"));
        }
    }

    /// The App's hook always exists; others once registered or given deliveries.
    fn hook_exists(&self, hook: &Hook) -> bool {
        let key = hook.key();
        key == Hook::App || self.registered_hooks.contains(&key) || self.hooks.contains_key(&key)
    }

    fn alloc_id(&mut self) -> u64 {
        if self.next_id < BIG_ID_BASE {
            self.next_id = BIG_ID_BASE;
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn add_delivery(&mut self, hook: &Hook, new: NewDelivery) -> u64 {
        self.ensure_hook_repository(hook);
        let id = match new.id {
            Some(id) => {
                if id >= self.next_id && id >= BIG_ID_BASE {
                    self.next_id = id + 1;
                }
                id
            }
            None => self.alloc_id(),
        };
        let delivered_at = whole_seconds(new.delivered_at);
        let delivery = Delivery {
            id,
            guid: new.guid,
            delivered_at,
            redelivery: new.redelivery,
            outcome: new.outcome,
            event: new.event,
            action: new.action,
            installation_id: matches!(hook, Hook::App).then_some(1),
            repository_id: matches!(hook, Hook::Repo { .. }).then_some(1),
            duration: new.duration,
            listed_from: delivered_at,
        };
        self.insert(hook, delivery);
        id
    }

    fn insert(&mut self, hook: &Hook, delivery: Delivery) {
        let data = self.hooks.entry(hook.key()).or_insert_with(|| HookData {
            hook: hook.clone(),
            by_key: BTreeMap::new(),
            by_id: HashMap::new(),
        });
        let key = (delivery.delivered_at.timestamp(), delivery.id);
        assert!(
            !data.by_id.contains_key(&delivery.id),
            "delivery id {} is already on {:?}",
            delivery.id,
            data.hook
        );
        data.by_id.insert(delivery.id, key);
        data.by_key.insert(key, delivery);
    }

    /// Returns the fault to apply, if any, counting the matches.
    /// The ids of the hooks that exist in `scope`, in order.
    fn hook_ids(&self, scope: &HookScope<'_>) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .registered_hooks
            .iter()
            .chain(self.hooks.keys())
            .filter_map(|hook| match (hook, scope) {
                (Hook::Org { org, hook_id }, HookScope::Org(wanted))
                    if org.eq_ignore_ascii_case(wanted) =>
                {
                    Some(*hook_id)
                }
                (
                    Hook::Repo {
                        owner,
                        repo,
                        hook_id,
                    },
                    HookScope::Repo(wanted_owner, wanted_repo),
                ) if owner.eq_ignore_ascii_case(wanted_owner)
                    && repo.eq_ignore_ascii_case(wanted_repo) =>
                {
                    Some(*hook_id)
                }
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Counts one more request against the rate limit, with what broke GitHub's description
    /// in it; returns the requests counted so far.
    fn count_request(&mut self, method: &str, full_path: &str, problems: &[String]) -> u64 {
        self.rate_used += 1;
        for problem in problems {
            self.contract_violations
                .push(format!("request {method} {full_path}: {problem}"));
        }
        self.rate_used
    }

    /// Keeps `request` and checks `reply` against GitHub's description (when it is one that
    /// went out, under the API prefix).
    fn record(
        &mut self,
        contract: &contract::Contract,
        request: RecordedRequest,
        reply: &Reply,
        check_answer: bool,
    ) {
        if reply.unexpected {
            self.unexpected.push(request.clone());
        }
        if check_answer {
            let (method, path, full_path) = (&request.method, &request.path, &request.full_path);
            for problem in
                contract.check_response(method, path, reply.status, reply.body.as_deref())
            {
                self.contract_violations
                    .push(format!("answer to {method} {full_path}: {problem}"));
            }
        }
        self.requests.push(request);
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        for slot in &mut self.faults {
            let method_ok = slot
                .fault
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !method_ok || !path.contains(slot.fault.path_contains.as_str()) {
                continue;
            }
            if slot.matched < slot.fault.skip {
                slot.matched += 1;
                continue;
            }
            if slot.matched < slot.fault.skip + slot.fault.times {
                slot.matched += 1;
                return Some(slot.fault.kind.clone());
            }
        }
        None
    }

    fn classify(&self, header: &AuthHeader, jwt_valid: bool, now: DateTime<Utc>) -> AuthSeen {
        match header {
            AuthHeader::Missing => AuthSeen::None,
            AuthHeader::Other => AuthSeen::Invalid,
            AuthHeader::Bearer(_) if jwt_valid => AuthSeen::AppJwt,
            AuthHeader::Bearer(token) | AuthHeader::Token(token) => {
                let known = self.tokens.contains_key(token)
                    || self
                        .grants
                        .get(token)
                        .is_some_and(|grant| grant.expires_at > now);
                if known {
                    AuthSeen::Token(token.clone())
                } else {
                    AuthSeen::Invalid
                }
            }
        }
    }

    /// For routes that take a PAT or an installation token.
    fn principal(&self, auth: &AuthSeen, doc: &str) -> Result<Principal, Reply> {
        match auth {
            AuthSeen::Token(token) => {
                if let Some(pat) = self.tokens.get(token) {
                    Ok(Principal::Pat(pat.clone()))
                } else if let Some(grant) = self.grants.get(token) {
                    Ok(Principal::Installation(grant.clone()))
                } else {
                    Err(Reply::error(401, BAD_CREDENTIALS, doc))
                }
            }
            AuthSeen::None => Err(Reply::error(401, "Requires authentication", doc)),
            AuthSeen::AppJwt | AuthSeen::Invalid => Err(Reply::error(401, BAD_CREDENTIALS, doc)),
        }
    }

    fn installation_permissions(&self, installation_id: u64) -> Map<String, Value> {
        match self.installation_permissions.get(&installation_id) {
            Some(perms) => perms.clone(),
            None => {
                let mut perms = Map::new();
                perms.insert("metadata".to_owned(), json!("read"));
                perms.insert("actions_variables".to_owned(), json!("write"));
                perms
            }
        }
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------------------------
// Connections: a listener whose connections a handler can drop without answering
// ---------------------------------------------------------------------------------------------

struct FakeListener {
    inner: TcpListener,
}

impl Listener for FakeListener {
    type Io = FakeStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FakeStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let stream = FakeStream {
                        inner: stream,
                        killed: Arc::new(AtomicBool::new(false)),
                    };
                    return (stream, addr);
                }
                // e.g. too many open files: wait a little, like axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A TCP stream that fails every read and write once killed: hyper then gives up the
/// connection without writing the response, and dropping the stream closes the socket. The
/// client sees the connection closed with no answer at all.
struct FakeStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl FakeStream {
    fn killed_error(&self) -> Option<io::Error> {
        self.killed.load(Ordering::SeqCst).then(|| {
            io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "fake GitHub: connection dropped by a fault",
            )
        })
    }
}

impl AsyncRead for FakeStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(err) = self.killed_error() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FakeStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.killed_error() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.killed_error() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(err) = self.killed_error() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(err) = self.killed_error() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Handed to every request of a connection (axum `ConnectInfo`).
#[derive(Clone, Debug)]
struct ConnHandle {
    killed: Arc<AtomicBool>,
}

impl ConnHandle {
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, FakeListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, FakeListener>) -> Self {
        ConnHandle {
            killed: stream.io().killed.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------------------------

enum AuthHeader {
    Missing,
    Bearer(String),
    Token(String),
    Other,
}

fn parse_authorization(headers: &HeaderMap) -> AuthHeader {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return AuthHeader::Missing;
    };
    let Ok(value) = value.to_str() else {
        return AuthHeader::Other;
    };
    let Some((scheme, credential)) = value.trim().split_once(' ') else {
        return AuthHeader::Other;
    };
    let credential = credential.trim().to_owned();
    if credential.is_empty() {
        AuthHeader::Other
    } else if scheme.eq_ignore_ascii_case("bearer") {
        AuthHeader::Bearer(credential)
    } else if scheme.eq_ignore_ascii_case("token") {
        AuthHeader::Token(credential)
    } else {
        AuthHeader::Other
    }
}

enum BodyProblem {
    NotJson,
    Unreadable,
}

/// What a route sees of a request.
struct Ctx<'a> {
    method: &'a str,
    path: &'a str,
    under_prefix: bool,
    query: Option<&'a str>,
    auth: &'a AuthSeen,
    body: Option<&'a Value>,
    body_problem: Option<&'a BodyProblem>,
    has_user_agent: bool,
    /// `http://` + the request's `Host` header: where links point, as GitHub builds them
    /// from the host it was reached at.
    origin: Option<String>,
    now: DateTime<Utc>,
}

/// A response before the common headers are added.
struct Reply {
    status: u16,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
    unexpected: bool,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            body: Some(body.to_string()),
            headers: Vec::new(),
            unexpected: false,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
            unexpected: false,
        }
    }

    fn error(status: u16, message: &str, doc: &str) -> Reply {
        Reply::json(
            status,
            &json!({ "message": message, "documentation_url": doc }),
        )
    }

    fn validation_failed(doc: &str, resource: &str, field: &str, code: &str) -> Reply {
        Reply::json(
            422,
            &json!({
                "message": "Validation Failed",
                "errors": [{ "resource": resource, "field": field, "code": code }],
                "documentation_url": doc,
            }),
        )
    }

    fn not_found(doc: &str) -> Reply {
        Reply::error(404, "Not Found", doc)
    }

    fn unexpected() -> Reply {
        Reply {
            unexpected: true,
            ..Reply::not_found(DOC_REST)
        }
    }
}

fn status_message(status: u16) -> &'static str {
    match status {
        400 => "Problems parsing JSON",
        401 => BAD_CREDENTIALS,
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        422 => "Validation Failed",
        429 => "Too Many Requests",
        500 => "Server Error",
        502 => "Server Error",
        503 => "Service Unavailable",
        504 => {
            "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists."
        }
        _ => "Error",
    }
}

/// Answers a request `latency` after it arrived: the latency is the server's whole response
/// time, its own processing included, so a benchmark's ideal (requests × latency) is fair.
async fn handle(
    State(shared): State<Arc<Shared>>,
    connection: ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let latency = shared.latency();
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = answer(shared.clone(), connection, request).await;
    if !latency.is_zero() {
        sleep_precisely_until(arrived + latency).await;
    }
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

/// tokio's timer rounds up to the next millisecond tick, and a wake-up comes later still:
/// over a hundred pages that alone would add more than a tenth to a benchmark's ideal. So
/// the last two milliseconds are waited by yielding.
async fn sleep_precisely_until(deadline: tokio::time::Instant) {
    let coarse = deadline
        .checked_sub(Duration::from_millis(2))
        .unwrap_or(deadline);
    tokio::time::sleep_until(coarse).await;
    while tokio::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

async fn answer(
    shared: Arc<Shared>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_REQUEST_BODY).await;

    let now = shared.now();
    let Incoming {
        method,
        full_path,
        path,
        under_prefix,
        query,
        headers,
        has_user_agent,
        body,
        body_problem,
    } = Incoming::read(&shared, &parts, bytes.ok());

    let auth_header = parse_authorization(&parts.headers);
    let jwt_valid = shared.is_valid_jwt(&auth_header, now);

    let contract = shared.contract();
    let request_problems = if under_prefix {
        contract.check_request(&method, &path, query.as_deref(), &headers, body.as_ref())
    } else {
        vec![format!("{method} {full_path} is not under the API prefix")]
    };

    let mut inner = shared.lock();
    let used = inner.count_request(&method, &full_path, &request_problems);
    let auth = inner.classify(&auth_header, jwt_valid, now);
    let fault = inner.take_fault(&method, &path);
    let ctx = Ctx {
        method: &method,
        path: &path,
        under_prefix,
        query: query.as_deref(),
        auth: &auth,
        body: body.as_ref(),
        body_problem: body_problem.as_ref(),
        has_user_agent,
        origin: origin_of(&headers),
        now,
    };

    let Answered {
        reply,
        remaining,
        used: used_header,
        reset,
        drop_connection,
    } = answer_with_fault(&shared, &mut inner, &ctx, &headers, fault, used);

    let record = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        full_path: full_path.clone(),
        query: query.clone(),
        auth: auth.clone(),
        body: body.clone(),
        status: if drop_connection { 0 } else { reply.status },
        headers,
    };
    inner.record(contract, record, &reply, under_prefix && !drop_connection);
    drop(inner);

    if drop_connection {
        // Reads and writes on this connection now fail, so hyper drops it without writing
        // this response; the client sees the connection closed without an answer.
        conn.kill();
    }
    build_response(reply, remaining, used_header, reset, now)
}

/// `http://` + the `Host` header: where links point, as GitHub builds them.
fn origin_of(headers: &[(String, String)]) -> Option<String> {
    headers
        .iter()
        .find(|(name, _)| name == "host")
        .map(|(_, host)| format!("http://{host}"))
}

/// A request as the fake reads it, before any rule applies.
struct Incoming {
    method: String,
    full_path: String,
    /// The path under the API prefix (all of it when it is not under it).
    path: String,
    under_prefix: bool,
    query: Option<String>,
    /// Names in lower case, in the order received.
    headers: Vec<(String, String)>,
    has_user_agent: bool,
    body: Option<Value>,
    body_problem: Option<BodyProblem>,
}

impl Incoming {
    /// `bytes` is `None` when the body could not be read (too large, broken).
    fn read(
        shared: &Shared,
        parts: &axum::http::request::Parts,
        bytes: Option<axum::body::Bytes>,
    ) -> Self {
        let full_path = parts.uri.path().to_owned();
        let (path, under_prefix) = shared.strip_prefix(&full_path);
        let path = path.to_owned();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let has_user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .is_some_and(|v| !v.is_empty());
        let (body, body_problem) = match bytes {
            Some(b) if b.is_empty() => (None, None),
            Some(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(v) => (Some(v), None),
                Err(_) => (
                    Some(Value::String(String::from_utf8_lossy(&b).into_owned())),
                    Some(BodyProblem::NotJson),
                ),
            },
            None => (None, Some(BodyProblem::Unreadable)),
        };
        Incoming {
            method: parts.method.as_str().to_owned(),
            full_path,
            path,
            under_prefix,
            query: parts.uri.query().map(str::to_owned),
            headers,
            has_user_agent,
            body,
            body_problem,
        }
    }
}

/// An answer with its rate-limit headers' values, or a connection to drop instead.
struct Answered {
    reply: Reply,
    remaining: u64,
    used: u64,
    reset: i64,
    drop_connection: bool,
}

/// The answer to a request: GitHub's own (refused headers, or the route), or what an
/// injected fault makes of it.
fn answer_with_fault(
    shared: &Shared,
    inner: &mut Inner,
    ctx: &Ctx<'_>,
    headers: &[(String, String)],
    fault: Option<FaultKind>,
    used: u64,
) -> Answered {
    let mut answered = Answered {
        reply: Reply::empty(500),
        remaining: RATE_LIMIT.saturating_sub(used).max(1),
        used,
        reset: shared.rate_reset,
        drop_connection: false,
    };
    answered.reply = match fault {
        None => match refuse_headers(headers) {
            Some(refusal) => refusal,
            None => route(shared, inner, ctx),
        },
        Some(FaultKind::Status(status)) => Reply::error(status, status_message(status), DOC_REST),
        Some(FaultKind::ApplyThenStatus(status)) => {
            let done = route(shared, inner, ctx);
            Reply {
                unexpected: done.unexpected,
                ..Reply::error(status, status_message(status), DOC_REST)
            }
        }
        Some(FaultKind::SecondaryRateLimit {
            status,
            retry_after,
        }) => {
            let mut reply = Reply::error(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000000:0000000:00000000.",
                DOC_SECONDARY_LIMIT,
            );
            if let Some(secs) = retry_after {
                reply.headers.push(("retry-after", secs.to_string()));
            }
            reply
        }
        Some(FaultKind::PrimaryExhausted { reset_in_secs }) => {
            answered.remaining = 0;
            answered.used = RATE_LIMIT;
            answered.reset =
                ctx.now.timestamp() + i64::try_from(reset_in_secs).unwrap_or(i64::MAX / 2);
            Reply::error(
                403,
                "API rate limit exceeded for installation ID 1. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000000:0000000:00000000.",
                DOC_PRIMARY_LIMIT,
            )
        }
        Some(FaultKind::DropConnection) => {
            answered.drop_connection = true;
            Reply::empty(500)
        }
    };
    answered
}

/// What GitHub refuses before routing: a repeated single-valued header (a proxy folds it
/// into `a, b`) and an API version it does not support, both with 400.
fn refuse_headers(headers: &[(String, String)]) -> Option<Reply> {
    for name in contract::SINGLE_VALUED_HEADERS {
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if values.len() > 1 && *name == "x-github-api-version" {
            return Some(Reply::error(
                400,
                &format!(
                    "Invalid API version provided or API version not supported: {}",
                    values.join(", ")
                ),
                DOC_API_VERSIONS,
            ));
        }
        if values.len() > 1 {
            return Some(Reply::error(
                400,
                &format!(
                    "Bad request: the `{name}` header was sent {} times",
                    values.len()
                ),
                DOC_REST,
            ));
        }
    }
    let version = headers
        .iter()
        .find(|(n, _)| n == "x-github-api-version")
        .map(|(_, v)| v.as_str());
    if let Some(version) = version
        && !contract::SUPPORTED_API_VERSIONS.contains(&version)
    {
        return Some(Reply::error(
            400,
            &format!("Invalid API version provided or API version not supported: {version}"),
            DOC_API_VERSIONS,
        ));
    }
    None
}

fn build_response(
    reply: Reply,
    remaining: u64,
    used: u64,
    reset: i64,
    now: DateTime<Utc>,
) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => {
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("x-ratelimit-limit", RATE_LIMIT.to_string());
    put("x-ratelimit-remaining", remaining.to_string());
    put("x-ratelimit-used", used.to_string());
    put("x-ratelimit-reset", reset.to_string());
    put("x-ratelimit-resource", "core".to_owned());
    put("x-github-api-version-selected", "2022-11-28".to_owned());
    put("x-github-media-type", "github.v3; format=json".to_owned());
    // GitHub's clock, as GitHub sends it (an HTTP-date); hyper would add the machine's.
    put("date", now.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    for (name, value) in reply.headers {
        put(name, value);
    }
    response
}

fn route(shared: &Shared, inner: &mut Inner, ctx: &Ctx<'_>) -> Reply {
    if !ctx.under_prefix {
        return Reply::unexpected();
    }
    let Some(rest) = ctx.path.strip_prefix('/') else {
        return Reply::unexpected();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Reply::unexpected();
    }
    if !ctx.has_user_agent {
        return Reply::error(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.",
            DOC_REST,
        );
    }
    if matches!(ctx.body_problem, Some(BodyProblem::Unreadable)) {
        return Reply::error(400, "Problems parsing JSON", DOC_REST);
    }
    if let Some(reply) = route_hooks(shared, inner, ctx, &segments) {
        return reply;
    }
    if let Some(reply) = route_apps(shared, inner, ctx, &segments) {
        return reply;
    }
    route_variables(inner, ctx, &segments).unwrap_or_else(Reply::unexpected)
}

/// `check`'s refusal, or `then`'s answer once it passed.
fn guarded(check: Result<(), Reply>, then: impl FnOnce() -> Reply) -> Reply {
    match check {
        Err(refusal) => refusal,
        Ok(()) => then(),
    }
}

/// The hook a `…/hook(s)/…/deliveries…` path names, and the segments after `deliveries`.
fn hook_path<'a>(segments: &'a [&'a str]) -> Option<(Hook, &'a [&'a str])> {
    match segments {
        ["app", "hook", "deliveries", rest @ ..] => Some((Hook::App, rest)),
        ["orgs", org, "hooks", hook_id, "deliveries", rest @ ..] => {
            Some((Hook::org(org, hook_id.parse().ok()?), rest))
        }
        [
            "repos",
            owner,
            repo,
            "hooks",
            hook_id,
            "deliveries",
            rest @ ..,
        ] => Some((
            Hook::Repo {
                owner: (*owner).to_owned(),
                repo: (*repo).to_owned(),
                hook_id: hook_id.parse().ok()?,
            },
            rest,
        )),
        _ => None,
    }
}

/// Webhooks: the hook lists of an organization or a repository, and every hook's
/// deliveries and redeliveries (the App's with its JWT, the others with access to them).
fn route_hooks(
    shared: &Shared,
    inner: &mut Inner,
    ctx: &Ctx<'_>,
    segments: &[&str],
) -> Option<Reply> {
    if let Some((hook, rest)) = hook_path(segments) {
        let access = if hook == Hook::App {
            require_jwt(ctx)
        } else {
            require_hook_access(inner, ctx, &hook)
        };
        return Some(match (ctx.method, rest) {
            ("GET", []) => guarded(access, || list_deliveries(shared, inner, &hook, ctx)),
            ("POST", [id, "attempts"]) => {
                guarded(access, || redeliver(shared, inner, &hook, id, ctx))
            }
            _ => Reply::unexpected(),
        });
    }
    Some(match (ctx.method, segments) {
        // The listing's access rules are the organization's, whatever the hook.
        ("GET", ["orgs", org, "hooks"]) => {
            guarded(require_hook_access(inner, ctx, &Hook::org(org, 0)), || {
                list_hooks(shared, inner, &HookScope::Org(org), ctx)
            })
        }
        ("GET", ["repos", owner, repo, "hooks"]) => {
            let hook = Hook::Repo {
                owner: (*owner).to_owned(),
                repo: (*repo).to_owned(),
                hook_id: 0,
            };
            guarded(require_hook_access(inner, ctx, &hook), || {
                list_hooks(shared, inner, &HookScope::Repo(owner, repo), ctx)
            })
        }
        _ => return None,
    })
}

/// The App's installations and their tokens, and the repository lists a fleet is read from.
fn route_apps(
    shared: &Shared,
    inner: &mut Inner,
    ctx: &Ctx<'_>,
    segments: &[&str],
) -> Option<Reply> {
    Some(match (ctx.method, segments) {
        ("GET", ["orgs", org, "repos"]) => {
            fleet::list_repositories(shared, inner, &fleet::RepoOwner::Org(org), ctx)
        }
        ("GET", ["users", user, "repos"]) => {
            fleet::list_repositories(shared, inner, &fleet::RepoOwner::User(user), ctx)
        }
        ("GET", ["installation", "repositories"]) => {
            fleet::installation_repositories(shared, inner, ctx)
        }
        ("GET", ["app", "installations"]) => fleet::list_installations(shared, inner, ctx),
        ("GET", ["repos", owner, repo, "installation"]) => guarded(require_jwt(ctx), || {
            get_installation(shared, inner, owner, repo)
        }),
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            guarded(require_jwt(ctx), || mint_token(shared, inner, id, ctx))
        }
        _ => return None,
    })
}

/// A repository's Actions variables: read with read access, written with write access.
fn route_variables(inner: &mut Inner, ctx: &Ctx<'_>, segments: &[&str]) -> Option<Reply> {
    let ["repos", owner, repo, "actions", "variables", rest @ ..] = segments else {
        return None;
    };
    let repo = format!("{owner}/{repo}");
    let write = ctx.method != "GET";
    let access = require_variables(inner, ctx, &repo, write);
    Some(match (ctx.method, rest) {
        ("GET", []) => guarded(access, || list_variables(inner, &repo, ctx)),
        ("GET", [name]) => guarded(access, || get_variable(inner, &repo, name)),
        ("PATCH", [name]) => guarded(access, || update_variable(inner, &repo, name, ctx)),
        ("POST", []) => guarded(access, || create_variable(inner, &repo, ctx)),
        _ => return None,
    })
}

// --- auth ---

fn require_jwt(ctx: &Ctx<'_>) -> Result<(), Reply> {
    if *ctx.auth == AuthSeen::AppJwt {
        Ok(())
    } else {
        Err(Reply::error(401, JWT_MESSAGE, DOC_REST))
    }
}

fn require_hook_access(inner: &Inner, ctx: &Ctx<'_>, hook: &Hook) -> Result<(), Reply> {
    let doc = hook.doc();
    let allowed = match inner.principal(ctx.auth, doc)? {
        Principal::Pat(pat) => match hook {
            Hook::App => false,
            Hook::Org { org, .. } => contains_ci(&pat.admin_orgs, org),
            Hook::Repo { owner, repo, .. } => {
                contains_ci(&pat.admin_orgs, owner)
                    || contains_ci(&pat.admin_repos, &format!("{owner}/{repo}"))
            }
        },
        // An App's installation token, with the "Webhooks" (repository) or "Organization
        // webhooks" permission, on the installation's own repositories or organization.
        Principal::Installation(grant) => {
            let needed = if ctx.method == "GET" { 1 } else { 2 };
            let level = |key: &str| {
                grant
                    .permissions
                    .get(key)
                    .and_then(Value::as_str)
                    .map_or(0, permission_level)
            };
            match hook {
                Hook::App => false,
                Hook::Org { org, .. } => {
                    level("organization_hooks") >= needed
                        && inner.installation_account(grant.installation_id).as_deref()
                            == Some(org.to_ascii_lowercase().as_str())
                }
                Hook::Repo { owner, repo, .. } => {
                    level("repository_hooks") >= needed
                        && contains_ci(&grant.repos, &format!("{owner}/{repo}"))
                }
            }
        }
    };
    if allowed {
        Ok(())
    } else {
        // GitHub hides what the token may not see.
        Err(Reply::not_found(doc))
    }
}

fn require_variables(inner: &Inner, ctx: &Ctx<'_>, repo: &str, write: bool) -> Result<(), Reply> {
    let allowed = match inner.principal(ctx.auth, DOC_VARIABLES)? {
        Principal::Pat(pat) if contains_ci(&pat.hidden_repos, repo) => {
            return Err(Reply::not_found(DOC_VARIABLES));
        }
        Principal::Pat(pat) => pat.variables_write,
        Principal::Installation(grant) => {
            let level = grant
                .permissions
                .get("actions_variables")
                .and_then(Value::as_str)
                .map_or(0, permission_level);
            let needed = if write { 2 } else { 1 };
            level >= needed && contains_ci(&grant.repos, repo)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Reply::error(403, NOT_ACCESSIBLE, DOC_VARIABLES))
    }
}

fn contains_ci(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(item))
}

fn permission_level(level: &str) -> u8 {
    match level {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

// --- deliveries ---

fn encode_cursor(key: DeliveryKey) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", key.0, key.1))
}

fn decode_cursor(cursor: &str) -> Option<DeliveryKey> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != "v1" {
        return None;
    }
    let secs = parts.next()?.parse::<i64>().ok()?;
    let id = parts.next()?.parse::<u64>().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((secs, id))
}

fn list_deliveries(shared: &Shared, inner: &Inner, hook: &Hook, ctx: &Ctx<'_>) -> Reply {
    let doc = hook.doc();
    let mut per_page = DEFAULT_PER_PAGE;
    let mut cursor: Option<String> = None;
    for (name, value) in parse_query(ctx.query) {
        match name.as_str() {
            "per_page" => match value.parse::<u64>() {
                Ok(n) if n >= 1 => per_page = n.min(MAX_PER_PAGE as u64) as usize,
                _ => return Reply::validation_failed(doc, "Hook", "per_page", "invalid"),
            },
            "cursor" => cursor = Some(value),
            _ => {}
        }
    }
    let data = inner.hooks.get(&hook.key());
    if data.is_none() && !inner.hook_exists(hook) {
        return Reply::not_found(doc);
    }
    let upper = match cursor.as_deref() {
        None => Bound::Unbounded,
        Some(cursor) => {
            let known = decode_cursor(cursor)
                .filter(|key| data.is_some_and(|d| d.by_key.contains_key(key)));
            match known {
                Some(key) => Bound::Excluded(key),
                None => return Reply::validation_failed(doc, "Hook", "cursor", "invalid"),
            }
        }
    };
    let Some(data) = data else {
        return Reply {
            body: Some("[]".to_owned()),
            ..Reply::empty(200)
        };
    };
    let mut items = data
        .by_key
        .range((Bound::Unbounded, upper))
        .rev()
        .filter(|(_, delivery)| delivery.listed_from <= ctx.now)
        // GitHub keeps deliveries for its retention, then they are gone from the list too.
        .filter(|(_, delivery)| ctx.now - delivery.delivered_at <= TimeDelta::days(RETENTION_DAYS));
    let page: Vec<(&DeliveryKey, &Delivery)> = items.by_ref().take(per_page).collect();
    let more = items.next().is_some();
    let body = Value::Array(page.iter().map(|(_, d)| d.to_json()).collect());
    let mut reply = Reply::json(200, &body);
    if let (true, Some((last, _))) = (more, page.last()) {
        reply.headers.push((
            "link",
            format!(
                "<{}{}{}?per_page={}&cursor={}>; rel=\"next\"",
                ctx.origin.as_deref().unwrap_or(&shared.origin),
                shared.prefix,
                ctx.path,
                per_page,
                encode_cursor(**last)
            ),
        ));
    }
    reply
}

// --- hook lists ---

/// Whose hooks a list shows.
enum HookScope<'a> {
    Org(&'a str),
    Repo(&'a str, &'a str),
}

/// `GET /orgs/{org}/hooks` and `GET /repos/{owner}/{repo}/hooks`: the hooks that exist
/// there, by id, paginated with `page` and `per_page` and a `Link` header, each built from
/// GitHub's documented example with the hook's own values. `config` never holds a secret
/// (GitHub shows `********`; the fake shows nothing).
/// <https://docs.github.com/en/rest/orgs/webhooks#list-organization-webhooks>
/// <https://docs.github.com/en/rest/repos/webhooks#list-repository-webhooks>
fn list_hooks(shared: &Shared, inner: &Inner, scope: &HookScope<'_>, ctx: &Ctx<'_>) -> Reply {
    let (doc, operation, resource) = match scope {
        HookScope::Org(_) => (DOC_ORG_DELIVERIES, "orgs/list-webhooks", "Organization"),
        HookScope::Repo(..) => (DOC_REPO_DELIVERIES, "repos/list-webhooks", "Repository"),
    };
    let (per_page, page) = match fleet::page_query(ctx, doc, "Hook") {
        Ok(paging) => paging,
        Err(reply) => return reply,
    };
    let ids = inner.hook_ids(scope);
    let base = format!(
        "{}{}",
        ctx.origin.as_deref().unwrap_or(&shared.origin),
        shared.prefix
    );
    let example = shared
        .contract()
        .example(operation, 200)
        .and_then(|list| list.get(0).cloned())
        .unwrap_or_else(|| json!({}));
    let items: Vec<Value> = fleet::page_of(&ids, per_page, page)
        .iter()
        .map(|id| {
            let key = match scope {
                HookScope::Org(org) => Hook::org(org, *id),
                HookScope::Repo(owner, repo) => Hook::repo(&format!("{owner}/{repo}"), *id),
            }
            .key();
            let url = inner
                .hook_urls
                .get(&key)
                .cloned()
                .unwrap_or_else(|| format!("https://receiver.example/hooks/{id}"));
            let api_url = format!(
                "{base}{}",
                key.deliveries_path().trim_end_matches("/deliveries")
            );
            let mut hook = example.clone();
            merge(
                &mut hook,
                json!({
                    "id": id,
                    "name": "web",
                    "active": true,
                    "type": resource,
                    "url": api_url,
                    "deliveries_url": format!("{api_url}/deliveries"),
                    "ping_url": format!("{api_url}/pings"),
                    "config": { "url": url, "content_type": "json", "insecure_ssl": "0" },
                }),
            );
            if let Some(test_url) = hook.get_mut("test_url") {
                *test_url = json!(format!("{api_url}/test"));
            }
            if let Some(config) = hook.get_mut("config").and_then(Value::as_object_mut) {
                config.remove("secret");
            }
            hook
        })
        .collect();
    let mut reply = Reply::json(200, &Value::Array(items));
    fleet::add_page_links(&mut reply, &base, ctx.path, (per_page, page), ids.len());
    reply
}

/// The content limit's answer to one more redelivery now, if it is over the limit;
/// otherwise the redelivery is counted in the window.
fn content_limit_reply(inner: &mut Inner, now: DateTime<Utc>) -> Option<Reply> {
    let limit = inner.content_limit.clone()?;
    let per = TimeDelta::from_std(limit.per).unwrap_or(TimeDelta::MAX);
    while inner
        .content_sent
        .front()
        .is_some_and(|sent| *sent + per <= now)
    {
        inner.content_sent.pop_front();
    }
    if inner.content_sent.len() < limit.max {
        inner.content_sent.push_back(now);
        return None;
    }
    inner.content_refusals += 1;
    let room_at = inner
        .content_sent
        .front()
        .map_or(now, |oldest| *oldest + per);
    let retry_after = u64::try_from((room_at - now).num_milliseconds().max(0))
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1);
    let reply = match limit.answer {
        LimitAnswer::Spammed => Reply::error(
            422,
            "Validation Failed: the endpoint has been spammed.",
            DOC_SECONDARY_LIMIT,
        ),
        LimitAnswer::Forbidden | LimitAnswer::TooManyRequests => {
            let status = if limit.answer == LimitAnswer::Forbidden {
                403
            } else {
                429
            };
            let mut reply = Reply::error(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000000:0000000:00000000.",
                DOC_SECONDARY_LIMIT,
            );
            reply.headers.push(("retry-after", retry_after.to_string()));
            reply
        }
    };
    Some(reply)
}

fn redeliver(shared: &Shared, inner: &mut Inner, hook: &Hook, id: &str, ctx: &Ctx<'_>) -> Reply {
    if let Some(reply) = content_limit_reply(inner, ctx.now) {
        return reply;
    }
    let doc = hook.doc();
    let Ok(id) = id.parse::<u64>() else {
        return Reply::not_found(doc);
    };
    let key = hook.key();
    let Some(data) = inner.hooks.get(&key) else {
        return Reply::not_found(doc);
    };
    let Some(original) = data.by_id.get(&id).and_then(|k| data.by_key.get(k)) else {
        return Reply::not_found(doc);
    };
    if ctx.now - original.delivered_at > TimeDelta::days(RETENTION_DAYS) {
        return Reply::validation_failed(doc, "Hook", "delivery", "invalid");
    }
    let original = original.clone();
    let registered_hook = data.hook.clone();
    let falls_over = inner
        .receiver_down_after
        .is_some_and(|after| inner.redeliveries.len() >= after);
    let outcome = if inner.receiver_down || falls_over {
        Outcome::FailedToConnect
    } else if inner.refused_guids.contains(&original.guid) {
        Outcome::HttpStatus(400)
    } else if inner.failing_guids.contains(&original.guid) {
        Outcome::HttpStatus(500)
    } else {
        Outcome::Delivered(200)
    };
    let new_id = inner.alloc_id();
    let delay = TimeDelta::from_std(inner.redelivery_result_delay).unwrap_or(TimeDelta::zero());
    inner.insert(
        hook,
        Delivery {
            id: new_id,
            delivered_at: whole_seconds(ctx.now),
            redelivery: true,
            outcome,
            duration: None,
            listed_from: ctx.now + delay,
            ..original.clone()
        },
    );
    inner.redeliveries.push(Redelivery {
        hook: registered_hook,
        delivery_id: id,
        guid: original.guid,
    });
    let hook = shared
        .on_redelivery
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    if let Some(hook) = hook {
        hook(inner.redeliveries.len());
    }
    Reply::json(202, &json!({}))
}

// --- App installations ---

fn get_installation(shared: &Shared, inner: &Inner, owner: &str, repo: &str) -> Reply {
    let key = format!("{owner}/{repo}").to_ascii_lowercase();
    let id = match inner.installations.get(&key) {
        Some(installation) => installation.id,
        // Installed on the whole account: every repository of it that exists.
        None => match inner.account_installations.get(&owner.to_ascii_lowercase()) {
            Some((_, id)) if inner.repositories.contains_key(&key) => *id,
            _ => return Reply::not_found(DOC_APPS),
        },
    };
    // GitHub's documented example, with this installation's own values: every field GitHub
    // sends is there, so a client that needs one more field finds it.
    let mut answer = shared
        .contract()
        .example("apps/get-repo-installation", 200)
        .unwrap_or_else(|| json!({}));
    merge(
        &mut answer,
        json!({
            "id": id,
            "app_id": shared.app_id,
            "client_id": shared.client_id,
            "account": { "login": owner },
            "repository_selection": "selected",
            "access_tokens_url": format!("{}{}/app/installations/{id}/access_tokens", shared.origin, shared.prefix),
            "permissions": inner.installation_permissions(id),
            "events": [],
            "target_type": "Organization",
        }),
    );
    Reply::json(200, &answer)
}

/// Overwrites `base`'s fields with `overrides`' (objects merge, everything else replaces).
fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() => merge(slot, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overrides) => *base = overrides,
    }
}

fn mint_token(shared: &Shared, inner: &mut Inner, id: &str, ctx: &Ctx<'_>) -> Reply {
    let Ok(installation_id) = id.parse::<u64>() else {
        return Reply::not_found(DOC_APPS);
    };
    let installed = inner.installation_repositories(installation_id);
    let whole_account = inner
        .account_installations
        .values()
        .any(|(_, id)| *id == installation_id);
    if installed.is_empty() && !whole_account {
        return Reply::not_found(DOC_APPS);
    }
    if matches!(ctx.body_problem, Some(BodyProblem::NotJson)) {
        return Reply::error(400, "Problems parsing JSON", DOC_APPS);
    }
    let empty = Map::new();
    let body = match ctx.body {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => return Reply::error(400, "Problems parsing JSON", DOC_APPS),
    };
    let granted = match granted_repositories(&installed, body) {
        Ok(granted) => granted,
        Err(refusal) => return refusal,
    };
    let available = inner.installation_permissions(installation_id);
    let permissions = match granted_permissions(shared, available, body) {
        Ok(permissions) => permissions,
        Err(refusal) => return refusal,
    };
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(36)
        .map(char::from)
        .collect();
    let token = format!("ghs_{suffix}");
    let expires_at = ctx.now + TimeDelta::hours(1);
    let answer = token_answer(shared, &token, expires_at, &granted, &permissions);
    let grant = Grant {
        installation_id,
        permissions,
        repos: granted
            .iter()
            .map(|inst| inst.full_name.to_ascii_lowercase())
            .collect(),
        expires_at,
    };
    inner.grants.insert(token.clone(), grant);
    inner.minted.push(MintedToken {
        token,
        installation_id,
        body: ctx.body.cloned().unwrap_or(Value::Null),
    });
    Reply::json(201, &answer)
}

/// The repositories a token asks for (names without the owner), all of the installation's
/// when it names none; a name the installation cannot reach is refused as GitHub does.
fn granted_repositories<'a>(
    installed: &'a [fleet::RepoData],
    body: &Map<String, Value>,
) -> Result<Vec<&'a fleet::RepoData>, Reply> {
    let names = match body.get("repositories") {
        None | Some(Value::Null) => return Ok(installed.iter().collect()),
        Some(Value::Array(names)) => names,
        Some(_) => {
            return Err(Reply::validation_failed(
                DOC_APPS,
                "Installation",
                "repositories",
                "invalid",
            ));
        }
    };
    let mut chosen = Vec::new();
    for name in names {
        let Some(name) = name.as_str() else {
            return Err(Reply::validation_failed(
                DOC_APPS,
                "Installation",
                "repositories",
                "invalid",
            ));
        };
        let found = installed.iter().find(|repo| {
            repo.full_name
                .split_once('/')
                .is_some_and(|(_, n)| n.eq_ignore_ascii_case(name))
        });
        match found {
            Some(repo) => chosen.push(repo),
            None => {
                return Err(Reply::error(
                    422,
                    "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    DOC_APPS,
                ));
            }
        }
    }
    Ok(chosen)
}

/// The permissions a token asks for, each known to GitHub and granted to the installation;
/// all of the installation's when it asks for none.
fn granted_permissions(
    shared: &Shared,
    available: Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Reply> {
    let requested = match body.get("permissions") {
        None | Some(Value::Null) => return Ok(available),
        Some(Value::Object(requested)) => requested,
        Some(_) => {
            return Err(Reply::validation_failed(
                DOC_APPS,
                "Installation",
                "permissions",
                "invalid",
            ));
        }
    };
    let known = shared.contract().permission_keys();
    if let Some(unknown) = requested.keys().find(|name| !known.contains(name)) {
        // GitHub refuses a key it does not know (e.g. `variables`, whose real key is
        // `actions_variables`).
        return Err(Reply::json(
            422,
            &json!({
                "message": "Validation Failed",
                "errors": [format!("Unknown permission: {unknown}")],
                "documentation_url": DOC_APPS,
            }),
        ));
    }
    for (name, level) in requested {
        let wanted = level.as_str().map_or(0, permission_level);
        let has = available
            .get(name)
            .and_then(Value::as_str)
            .map_or(0, permission_level);
        if wanted == 0 || wanted > has {
            return Err(Reply::error(
                422,
                "The permissions requested are not granted to this installation.",
                DOC_APPS,
            ));
        }
    }
    Ok(requested.clone())
}

/// GitHub's documented example of a new installation token, with this token's values; its
/// permissions are what was asked, not merged with the example's.
fn token_answer(
    shared: &Shared,
    token: &str,
    expires_at: DateTime<Utc>,
    granted: &[&fleet::RepoData],
    permissions: &Map<String, Value>,
) -> Value {
    let mut answer = shared
        .contract()
        .example("apps/create-installation-access-token", 201)
        .unwrap_or_else(|| json!({}));
    let example_repository = answer
        .pointer("/repositories/0")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let repositories: Vec<Value> = granted
        .iter()
        .map(|inst| {
            let (owner, name) = inst.full_name.split_once('/').unwrap_or(("", ""));
            let mut repository = example_repository.clone();
            merge(
                &mut repository,
                json!({ "id": inst.id, "name": name, "full_name": inst.full_name,
                        "owner": { "login": owner } }),
            );
            repository
        })
        .collect();
    if let Some(object) = answer.as_object_mut() {
        object.insert("permissions".to_owned(), Value::Object(permissions.clone()));
    }
    merge(
        &mut answer,
        json!({
            "token": token,
            "expires_at": rfc3339(expires_at),
            "repository_selection": "selected",
            "repositories": repositories,
        }),
    );
    answer
}

// --- variables ---

fn valid_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.to_ascii_uppercase().starts_with("GITHUB_")
}

fn variable_json(name: &str, variable: &Variable) -> Value {
    json!({
        "name": name,
        "value": variable.value,
        "created_at": rfc3339(variable.created_at),
        "updated_at": rfc3339(variable.updated_at),
    })
}

/// `GET /repos/{owner}/{repo}/actions/variables`, paginated by `page` and `per_page`.
fn list_variables(inner: &Inner, repo: &str, ctx: &Ctx<'_>) -> Reply {
    let mut per_page = DEFAULT_PER_PAGE;
    let mut page = 1usize;
    for (name, value) in parse_query(ctx.query) {
        match (name.as_str(), value.parse::<usize>()) {
            ("per_page", Ok(n)) if n >= 1 => per_page = n.min(MAX_PER_PAGE),
            ("page", Ok(n)) if n >= 1 => page = n,
            _ => {}
        }
    }
    let all = inner.variables.get(&repo.to_ascii_lowercase());
    let variables: Vec<Value> = all
        .into_iter()
        .flatten()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(name, variable)| variable_json(name, variable))
        .collect();
    Reply::json(
        200,
        &json!({ "total_count": all.map_or(0, BTreeMap::len), "variables": variables }),
    )
}

fn get_variable(inner: &Inner, repo: &str, name: &str) -> Reply {
    let name = name.to_ascii_uppercase();
    match inner
        .variables
        .get(&repo.to_ascii_lowercase())
        .and_then(|vars| vars.get(&name))
    {
        Some(var) => Reply::json(200, &variable_json(&name, var)),
        None => Reply::not_found(DOC_VARIABLES),
    }
}

fn body_object<'a>(ctx: &Ctx<'a>) -> Result<&'a Map<String, Value>, Reply> {
    if matches!(ctx.body_problem, Some(BodyProblem::NotJson)) {
        return Err(Reply::error(400, "Problems parsing JSON", DOC_VARIABLES));
    }
    match ctx.body {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(Reply::error(400, "Problems parsing JSON", DOC_VARIABLES)),
        None => Err(Reply::validation_failed(
            DOC_VARIABLES,
            "Variable",
            "value",
            "missing_field",
        )),
    }
}

fn create_variable(inner: &mut Inner, repo: &str, ctx: &Ctx<'_>) -> Reply {
    let body = match body_object(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "name", "missing_field");
    };
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "missing_field");
    };
    if !valid_variable_name(name) {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "name", "invalid");
    }
    if value.len() > MAX_VARIABLE_VALUE_BYTES {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "too_large");
    }
    let vars = inner
        .variables
        .entry(repo.to_ascii_lowercase())
        .or_default();
    let name = name.to_ascii_uppercase();
    if vars.contains_key(&name) {
        return Reply::error(
            409,
            "Already exists - Variable already exists",
            DOC_VARIABLES,
        );
    }
    if vars.len() >= MAX_VARIABLES_PER_REPO {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "name", "too_many");
    }
    vars.insert(
        name,
        Variable {
            value: value.to_owned(),
            created_at: ctx.now,
            updated_at: ctx.now,
        },
    );
    Reply::json(201, &json!({}))
}

fn update_variable(inner: &mut Inner, repo: &str, name: &str, ctx: &Ctx<'_>) -> Reply {
    let name = name.to_ascii_uppercase();
    let exists = inner
        .variables
        .get(&repo.to_ascii_lowercase())
        .is_some_and(|vars| vars.contains_key(&name));
    if !exists {
        return Reply::not_found(DOC_VARIABLES);
    }
    let body = match body_object(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "missing_field");
    };
    if value.len() > MAX_VARIABLE_VALUE_BYTES {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "too_large");
    }
    if let Some(var) = inner
        .variables
        .get_mut(&repo.to_ascii_lowercase())
        .and_then(|vars| vars.get_mut(&name))
    {
        var.value = value.to_owned();
        var.updated_at = ctx.now;
    }
    Reply::empty(204)
}
