//! A GitHub that lies, stalls, redirects and floods (issue 16): small hostile servers
//! written here, on loopback, each misbehaving in one way. Every test checks that the run
//! stops with one clear line, keeps the checkpoint, and neither panics nor loops.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use redeliver_action::base::clock::Clock;
use redeliver_action::base::log::{Log, Sink};
use redeliver_action::github::client::MAX_LIMIT_WAITS_PER_REQUEST;
use redeliver_action::report::RunReport;
use redeliver_action::run::{RunContext, run_once};

use crate::util::*;
use fake_github::{Fault, FaultKind, Hook, NewDelivery};

// ---------------------------------------------------------------------------------------
// Hostile servers
// ---------------------------------------------------------------------------------------

/// An HTTP server whose every answer comes from `answer(method, path and query)`, and
/// which records what it was asked.
struct Hostile {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Hostile {
    async fn start(answer: impl Fn(&str, &str) -> Response + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let answer = Arc::new(answer);
        let app = axum::Router::new().fallback(move |request: Request| {
            let answer = answer.clone();
            let recorded = recorded.clone();
            async move {
                let method = request.method().as_str().to_owned();
                let target = request
                    .uri()
                    .path_and_query()
                    .map(|pq| pq.as_str().to_owned())
                    .unwrap_or_default();
                recorded
                    .lock()
                    .expect("requests")
                    .push(format!("{method} {target}"));
                answer(&method, &target)
            }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile {
            url,
            requests,
            server,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }
}

/// A server below HTTP: each connection is handed to `serve` as raw bytes, after its
/// request head was read.
struct RawServer {
    url: String,
    connections: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RawServer {
    async fn start<F, Fut>(serve: F) -> RawServer
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match read_some(&stream, &mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                tokio::spawn(serve(stream));
            }
        });
        RawServer {
            url,
            connections,
            server,
        }
    }
}

/// Reads what is there (tokio's `io-util` is not among the dev-dependencies' features).
async fn read_some(stream: &TcpStream, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buffer) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn delivery(id: u64, guid: &str, time: DateTime<Utc>, ok: bool) -> Value {
    json!({
        "id": id, "guid": guid, "delivered_at": at(time), "redelivery": false,
        "duration": 0.1, "status": if ok { "OK" } else { "Invalid HTTP Response: 503" },
        "status_code": if ok { 200 } else { 503 }, "event": "push", "action": null,
        "installation_id": null, "repository_id": null, "throttled_at": null
    })
}

fn json_answer(status: u16, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).expect("status");
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_str(value).expect("header value"));
    response
}

fn redirect(status: u16, location: &str) -> Response {
    with_header(
        json_answer(status, &json!({"message": "Moved"})),
        "location",
        location,
    )
}

/// One failing event, 30 minutes old.
fn one_failure() -> Value {
    json!([delivery(7, "guid-failed", minutes_ago(30), false)])
}

// ---------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------

/// A state file whose checkpoint is an hour old, and its path.
fn state_file(folder: &Path) -> (PathBuf, DateTime<Utc>) {
    let checkpoint = DateTime::from_timestamp(minutes_ago(60).timestamp(), 0).expect("time");
    let path = folder.join("state.json");
    std::fs::write(
        &path,
        json!({"version": 1, "hooks": {"app": {"checkpoint": at(checkpoint)}}}).to_string(),
    )
    .expect("state written");
    (path, checkpoint)
}

fn stored_file_checkpoint(path: &Path) -> DateTime<Utc> {
    let text = std::fs::read_to_string(path).expect("state file");
    let document: Value = serde_json::from_str(&text).expect("JSON state");
    document["hooks"]["app"]["checkpoint"]
        .as_str()
        .expect("a checkpoint")
        .parse()
        .expect("RFC 3339")
}

/// Settings for the App's hook at `url`, with the checkpoint in a state file.
fn settings(url: &str, state: &Path) -> Args {
    Args::new()
        .with("app-id", APP_ID)
        .with("private-key", APP_KEY)
        .with("token", TOKEN)
        .with("state", format!("file:{}", state.display()))
        .with("api-url", url)
        .with("redelivery-interval", "0s")
}

struct Ran {
    report: RunReport,
    log: String,
    waits: Vec<Duration>,
}

/// Runs in this process, with waits recorded, after `adjust` had its say on the context.
async fn run_here(raw: Args, adjust: impl FnOnce(&mut RunContext)) -> Ran {
    let settings = raw.settings();
    let buffer = Arc::new(Mutex::new(String::new()));
    let clock = Clock::simulated(chrono::Utc::now());
    let mut context = RunContext::with_clock(
        Log::new(false, true, Sink::Memory(buffer.clone())),
        &settings,
        clock.clone(),
    );
    adjust(&mut context);
    let report = run_once(&settings, &context).await.expect("the run starts");
    let log = buffer.lock().expect("log").clone();
    let waits = clock.sleeps();
    Ran { report, log, waits }
}

impl Ran {
    #[track_caller]
    fn assert_failed_with(&self, text: &str) {
        assert!(!self.report.succeeded(), "{}", self.log);
        let errors = self.report.errors.join("\n");
        assert!(
            errors.contains(text),
            "errors: {errors}\nlog:\n{}",
            self.log
        );
    }
}

// ---------------------------------------------------------------------------------------
// 1. Redirects are never success, never followed
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_redirected_redelivery_is_a_failure_that_keeps_the_checkpoint() {
    let server = Hostile::start(|method, target| match (method, target) {
        ("GET", t) if t.starts_with("/app/hook/deliveries") => json_answer(200, &one_failure()),
        ("POST", "/app/hook/deliveries/7/attempts") => redirect(
            302,
            "https://sso.example.com/sso?return_to=x&token=ghs_secretsecretsecret",
        ),
        _ => json_answer(404, &json!({"message": "Not Found"})),
    })
    .await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), |_| {}).await;

    ran.assert_failed_with("answered 302, a redirect to https://sso.example.com/sso");
    assert!(!ran.log.contains("secretsecret"), "{}", ran.log);
    assert!(!ran.log.contains("return_to"), "{}", ran.log);
    assert!(ran.report.hooks[0].redelivered.is_empty());
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
    assert_eq!(server.count("POST"), 1, "a redirect is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_redirected_variable_writes_are_not_saved() {
    for (existing, status) in [(true, 301), (false, 302), (false, 307)] {
        let server = Hostile::start(move |method, target| {
            let variable = format!("/repos/{REPO}/actions/variables/{VARIABLE}");
            match method {
                "GET" if target.starts_with("/app/hook/deliveries") => json_answer(200, &json!([])),
                "GET" if target == variable && existing => json_answer(
                    200,
                    &json!({"name": VARIABLE, "value": "", "created_at": at(Utc::now()),
                        "updated_at": at(Utc::now())}),
                ),
                "GET" if target == variable => json_answer(404, &json!({"message": "Not Found"})),
                "GET" => json_answer(200, &json!({"total_count": 0, "variables": []})),
                _ => redirect(status, "https://proxy.example.com/login?session=abc"),
            }
        })
        .await;
        let mut raw = settings(&server.url, Path::new("unused"));
        raw.set("state", format!("variable:{VARIABLE}"));
        raw.set("repository", REPO);
        let ran = run_here(raw, |_| {}).await;

        ran.assert_failed_with(&format!(
            "answered {status}, a redirect to https://proxy.example.com/login"
        ));
        assert!(!ran.log.contains("session=abc"), "{}", ran.log);
        assert!(!ran.report.checkpoint_saved);
        let method = if existing { "PATCH" } else { "POST" };
        assert_eq!(server.count(method), 1, "{:?}", server.requests());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_cross_origin_redirect_of_a_list_page_is_never_followed() {
    let elsewhere = Hostile::start(|_, _| json_answer(200, &json!([]))).await;
    let target = format!("{}/app/hook/deliveries?per_page=100&key=abc", elsewhere.url);
    let server = Hostile::start(move |_, _| redirect(302, &target)).await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), |_| {}).await;

    ran.assert_failed_with(&format!(
        "answered 302, a redirect to {}/app/hook/deliveries:",
        elsewhere.url
    ));
    assert!(!ran.log.contains("key=abc"), "{}", ran.log);
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert!(!ran.report.hooks[0].scan_complete);
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

// ---------------------------------------------------------------------------------------
// 9, 13. Rate limits: absurd values stop the run; `max-wait` bounds the run's total
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_absurd_retry_after_stops_cleanly() {
    let server = Hostile::start(|_, _| {
        with_header(
            json_answer(429, &json!({"message": "slow down"})),
            "retry-after",
            "10000000000000",
        )
    })
    .await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let args = app_on_command_line(&server.url, folder.path())
        .with("state", format!("file:{}", state.display()));
    let run = run_cli(folder.path(), &args.argv(), &[]).await;
    run.assert_code(1);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "hit a rate limit whose wait (10000000000000 s) is beyond anything GitHub asks"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests().len(), 1, "no wait, no retry");
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_max_wait_bounds_each_rate_limit_wait() {
    let server = Hostile::start(|_, _| {
        with_header(
            json_answer(
                403,
                &json!({"message": "You have exceeded a secondary rate limit"}),
            ),
            "retry-after",
            "6",
        )
    })
    .await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let mut raw = settings(&server.url, &state);
    raw.set("max-wait", "5s");
    let ran = run_here(raw, |_| {}).await;

    ran.assert_failed_with("later than `max-wait` allows waiting");
    assert!(ran.waits.is_empty(), "{:?}", ran.waits);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

/// A server that answers a rate limit to every request, however long it is waited out,
/// does not hold a run until its time budget ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_endless_rate_limits_stop_after_a_bounded_number_of_waits() {
    let server = Hostile::start(|_, _| {
        with_header(
            json_answer(
                429,
                &json!({"message": "You have exceeded a secondary rate limit"}),
            ),
            "retry-after",
            "4",
        )
    })
    .await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), |_| {}).await;

    ran.assert_failed_with("times in a row");
    assert_eq!(
        ran.waits,
        [Duration::from_secs(4); MAX_LIMIT_WAITS_PER_REQUEST as usize],
        "{}",
        ran.log
    );
    assert_eq!(
        server.requests().len(),
        MAX_LIMIT_WAITS_PER_REQUEST as usize + 1
    );
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_absurd_rate_limit_reset_stops_instead_of_waiting() {
    for reset in ["99999999999", "-5", "soon"] {
        let server = Hostile::start(move |_, _| {
            let answer = json_answer(403, &json!({"message": "API rate limit exceeded"}));
            let answer = with_header(answer, "x-ratelimit-remaining", "0");
            with_header(answer, "x-ratelimit-reset", reset)
        })
        .await;
        let folder = tempfile::tempdir().expect("temp dir");
        let (state, checkpoint) = state_file(folder.path());
        let ran = run_here(settings(&server.url, &state), |_| {}).await;

        ran.assert_failed_with("rate limit");
        assert!(
            ran.waits.iter().all(|wait| *wait < Duration::from_secs(5)),
            "reset {reset}: {:?}",
            ran.waits
        );
        assert_eq!(stored_file_checkpoint(&state), checkpoint);
    }
}

// ---------------------------------------------------------------------------------------
// 10. Pagination that loops or never ends
// ---------------------------------------------------------------------------------------

fn page_with_next(url: &str, cursor: u64) -> Response {
    with_header(
        json_answer(200, &json!([])),
        "link",
        &format!("<{url}/app/hook/deliveries?per_page=100&cursor={cursor}>; rel=\"next\""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_next_link_that_repeats_is_refused() {
    let url = Arc::new(Mutex::new(String::new()));
    let base = url.clone();
    let server = Hostile::start(move |_, _| page_with_next(&base.lock().expect("url"), 1)).await;
    *url.lock().expect("url") = server.url.clone();
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), |_| {}).await;

    ran.assert_failed_with("repeats an earlier page");
    assert_eq!(server.requests().len(), 2, "{:?}", server.requests());
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_pages_that_never_end_stop_at_max_pages() {
    use redeliver_action::github::deliveries::MAX_PAGES;
    let url = Arc::new(Mutex::new(String::new()));
    let base = url.clone();
    let server = Hostile::start(move |_, target| {
        let cursor = target
            .split("cursor=")
            .nth(1)
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(0);
        page_with_next(&base.lock().expect("url"), cursor + 1)
    })
    .await;
    *url.lock().expect("url") = server.url.clone();
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), |_| {}).await;

    ran.assert_failed_with(&format!("more than {MAX_PAGES} pages of deliveries"));
    assert_eq!(server.requests().len(), MAX_PAGES as usize);
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

// ---------------------------------------------------------------------------------------
// 12. An answer larger than the cap
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_endless_body_is_cut_at_the_cap_and_not_retried() {
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let server = RawServer::start(move |stream| {
        let counter = counter.clone();
        async move {
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if write_all(&stream, head).await.is_err() {
                return;
            }
            let chunk = [b' '; 65536];
            // At most 200 MB, a chunk at a time: the client must hang up long before.
            for _ in 0..3200 {
                if write_all(&stream, b"10000\r\n").await.is_err()
                    || write_all(&stream, &chunk).await.is_err()
                    || write_all(&stream, b"\r\n").await.is_err()
                {
                    return;
                }
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
    })
    .await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), |_| {}).await;

    ran.assert_failed_with("the answer is larger than 8 MiB");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1, "no retry");
    assert!(ran.waits.is_empty(), "{:?}", ran.waits);
    assert!(
        written.load(Ordering::SeqCst) < 64 * 1024 * 1024,
        "the client read far past the cap"
    );
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

// ---------------------------------------------------------------------------------------
// 11. A server that drips or says nothing
// ---------------------------------------------------------------------------------------

/// A one-second deadline and one retry: the stalling tests take seconds, not minutes.
fn short_deadline(context: &mut RunContext) {
    context.retry.request_deadline = Duration::from_secs(1);
    context.retry.max_retries = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_dripping_server_hits_the_request_deadline() {
    let server = RawServer::start(|stream| async move {
        let head =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
        if write_all(&stream, head).await.is_err() {
            return;
        }
        // A byte every 2 s: each read is quick, the answer never completes.
        for _ in 0..1000 {
            if write_all(&stream, b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
    .await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), short_deadline).await;

    ran.assert_failed_with("got no complete answer within 1s");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2, "one retry");
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_silent_server_hits_the_request_deadline() {
    let server = RawServer::start(|stream| async move {
        tokio::time::sleep(Duration::from_secs(600)).await;
        drop(stream);
    })
    .await;
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let ran = run_here(settings(&server.url, &state), short_deadline).await;

    ran.assert_failed_with("got no complete answer within 1s");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2, "one retry");
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}

// ---------------------------------------------------------------------------------------
// 3. GitHub's clock, not the runner's; no checkpoint from the future
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_github_clock_behind_does_not_lose_a_later_failure() {
    let fake = fake().await;
    let hook = Hook::repo(REPO, 9);
    fake.add_hook(&hook);
    // GitHub's clock 10 minutes behind the runner's: more than the scan's 5-minute overlap.
    fake.set_clock_offset(chrono::TimeDelta::minutes(-10));
    let raw = || raw_settings(&fake).with("hooks", "repo/octo/demo/9");
    let first = run_in_process(&fake, raw()).await;
    assert!(first.report.succeeded(), "{}", first.log);

    // Failed right after run 1, stamped by GitHub's clock.
    fake.add_delivery(&hook, NewDelivery::failed("late", fake.now()));
    let second = run_in_process(&fake, raw()).await;
    assert!(second.report.succeeded(), "{}", second.log);
    let guids: Vec<String> = fake.redeliveries().into_iter().map(|r| r.guid).collect();
    assert_eq!(guids, ["late"], "{}", second.log);
    assert!(stored_checkpoint(&fake, "repo/octo/demo/9") <= fake.now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_checkpoint_in_the_future_is_refused() {
    for stored in [
        r#"{"version":1,"hooks":{"app":{"checkpoint":"2999-01-01T00:00:00Z"}}}"#,
        "9999999999999",
    ] {
        let fake = fake().await;
        fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
        fake.set_variable(REPO, VARIABLE, stored);
        let run = run_action(&fake, &[]).await;

        run.assert_code(1);
        assert!(run.stdout.contains("in the future"), "{}", run.stdout);
        assert!(run.stdout.contains("fix or delete it"), "{}", run.stdout);
        assert!(fake.redeliveries().is_empty());
        assert_eq!(fake.variable(REPO, VARIABLE).as_deref(), Some(stored));
    }
}

// ---------------------------------------------------------------------------------------
// 4. A redelivery whose result GitHub never lists is made again
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_redelivery_never_recorded_is_made_again_after_the_grace() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("lost", minutes_ago(30)));
    // GitHub accepts the redelivery and never lists its result.
    fake.set_redelivery_result_delay(Duration::from_secs(30 * 86_400));
    let first = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(first.report.succeeded(), "{}", first.log);
    assert_eq!(fake.redeliveries().len(), 1);

    // The checkpoint stayed before the event (open, its result unseen), and the redelivery
    // is pending: a run right after leaves it aside, without waiting for it.
    let document = stored_document(&fake);
    assert!(
        document["hooks"]["app"]["checkpoint"]
            .as_str()
            .is_some_and(|c| c
                .parse::<DateTime<Utc>>()
                .is_ok_and(|c| c <= minutes_ago(30)))
    );
    assert_eq!(document["hooks"]["app"]["events"]["lost"]["pending"], true);
    let second = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(second.report.succeeded(), "{}", second.log);
    assert_eq!(fake.redeliveries().len(), 1);
    assert_eq!(second.report.pending_count(), 1);
    assert!(
        second.waits.is_empty(),
        "no wait for it: {:?}",
        second.waits
    );

    // An hour later GitHub has listed nothing newer either: its queue may be stalled, and
    // sending again could deliver the event twice. It stays pending.
    sim_clock(&fake).advance(Duration::from_secs(61 * 60));
    let stalled = run_in_process(&fake, raw_settings(&fake)).await;
    assert_eq!(fake.redeliveries().len(), 1, "{}", stalled.log);
    assert_eq!(stalled.report.pending_count(), 1);

    // A day on, it is taken as lost: sent again, as a further attempt.
    sim_clock(&fake).advance(Duration::from_secs(24 * 3600));
    let third = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(third.report.succeeded(), "{}", third.log);
    let guids: Vec<String> = fake.redeliveries().into_iter().map(|r| r.guid).collect();
    assert_eq!(guids, ["lost", "lost"], "{}", third.log);
    assert_eq!(third.report.hooks[0].redelivered[0].attempt, 2);
    assert_eq!(
        stored_document(&fake)["hooks"]["app"]["events"]["lost"]["unlisted"],
        1
    );
}

// ---------------------------------------------------------------------------------------
// 2. SIGTERM in a one-shot run
// ---------------------------------------------------------------------------------------

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what} within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sigterm_in_a_one_shot_run_saves_and_the_rerun_does_not_repeat() {
    let fake = fake().await;
    for (i, guid) in ["g1", "g2", "g3"].into_iter().enumerate() {
        fake.add_delivery(
            &Hook::App,
            NewDelivery::failed(guid, minutes_ago(40 - i as i64)),
        );
    }
    // The rerun comes right after: g1's result may not be listed yet (GitHub takes a few
    // seconds), so g1 is pending: left aside, not sent again, and not waited for.
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, _) = state_file(folder.path());
    let args = app_on_command_line(&fake.url(), folder.path())
        .with("state", format!("file:{}", state.display()));
    let child = Spawned::start(
        folder.path(),
        &args.clone().with("redelivery-interval", "10m").argv(),
    );
    wait_until("the first redelivery", || fake.redeliveries().len() == 1).await;
    let (code, stderr) = child.terminate().await;

    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(
        stderr.contains("stopped by a signal before the run finished"),
        "{stderr}"
    );
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("JSON");
    assert_eq!(
        document["hooks"]["app"]["events"]["g1"]["pending"], true,
        "{document}"
    );
    let checkpoint: DateTime<Utc> = document["hooks"]["app"]["checkpoint"]
        .as_str()
        .expect("a checkpoint")
        .parse()
        .expect("RFC 3339");
    assert!(
        checkpoint <= minutes_ago(40),
        "not past the events left: {checkpoint}"
    );

    let rerun = run_cli(
        folder.path(),
        &args.with("redelivery-interval", "0s").argv(),
        &[],
    )
    .await;
    rerun.assert_code(0);
    let guids: Vec<String> = fake.redeliveries().into_iter().map(|r| r.guid).collect();
    assert_eq!(guids, ["g1", "g2", "g3"], "{}", rerun.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sigterm_ends_a_rate_limit_wait() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
    fake.push_fault(
        Fault::new(
            "/app/hook/deliveries",
            FaultKind::SecondaryRateLimit {
                status: 429,
                retry_after: Some(900),
            },
        )
        .method("GET"),
    );
    let folder = tempfile::tempdir().expect("temp dir");
    let (state, checkpoint) = state_file(folder.path());
    let args = app_on_command_line(&fake.url(), folder.path())
        .with("state", format!("file:{}", state.display()))
        .with("max-wait", "30m");
    let child = Spawned::start(folder.path(), &args.argv());
    // Signalled once it says it waits: the wait, not the request, is what is ended.
    child.wait_for_stderr("waiting 15m").await;
    let (code, stderr) = child.terminate().await;

    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("waiting 15m"), "{stderr}");
    assert!(
        stderr.contains("was asked to stop while it waited"),
        "{stderr}"
    );
    assert!(fake.redeliveries().is_empty());
    assert_eq!(stored_file_checkpoint(&state), checkpoint);
}
