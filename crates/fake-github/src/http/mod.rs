//! The HTTP plumbing: each request read, counted, checked against GitHub's description,
//! answered (after the fake's latency) and recorded; what GitHub refuses before routing; the
//! routing to each area.

pub(crate) mod conn;
pub(crate) mod reply;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::apps::route_apps;
use crate::auth::parse_authorization;
use crate::faults::{Answered, answer_with_fault};
use crate::hooks::route_hooks;
use crate::state::{Inner, Shared};
use crate::variables::route_variables;
use crate::{AuthSeen, DOC_API_VERSIONS, DOC_REST, RecordedRequest, contract};
use conn::ConnHandle;
use reply::{Reply, build_response};

/// Largest request body the fake reads.
const MAX_REQUEST_BODY: usize = 8 * 1024 * 1024;

pub(crate) enum BodyProblem {
    NotJson,
    Unreadable,
}

/// What a route sees of a request.
pub(crate) struct Ctx<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    under_prefix: bool,
    pub(crate) query: Option<&'a str>,
    pub(crate) auth: &'a AuthSeen,
    pub(crate) body: Option<&'a Value>,
    pub(crate) body_problem: Option<&'a BodyProblem>,
    /// Names in lower case, in the order received.
    pub(crate) headers: &'a [(String, String)],
    has_user_agent: bool,
    /// `http://` + the request's `Host` header: where links point, as GitHub builds them
    /// from the host it was reached at.
    pub(crate) origin: Option<String>,
    pub(crate) now: DateTime<Utc>,
}

/// Where an answer's links point: the host the request reached, and the API prefix.
pub(crate) fn api_base(shared: &Shared, ctx: &Ctx<'_>) -> String {
    format!(
        "{}{}",
        ctx.origin.as_deref().unwrap_or(&shared.origin),
        shared.prefix
    )
}

/// Answers a request `latency` after it arrived: the latency is the server's whole response
/// time, its own processing included, so a benchmark's ideal (requests × latency) is fair.
pub(crate) async fn handle(
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
        headers: &headers,
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
    } = answer_with_fault(&shared, &mut inner, &ctx, fault, used);

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

impl Inner {
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
}

/// What GitHub refuses before routing: a repeated single-valued header (a proxy folds it
/// into `a, b`) and an API version it does not support, both with 400.
pub(crate) fn refuse_headers(headers: &[(String, String)]) -> Option<Reply> {
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

pub(crate) fn route(shared: &Shared, inner: &mut Inner, ctx: &Ctx<'_>) -> Reply {
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
pub(crate) fn guarded(check: Result<(), Reply>, then: impl FnOnce() -> Reply) -> Reply {
    match check {
        Err(refusal) => refusal,
        Ok(()) => then(),
    }
}
