//! The test suite's fake GitHub as a server of its own, seeded with the demo's data:
//!
//! ```sh
//! cargo run --example fake_github -- --serve 127.0.0.1:8080 [--prefix /api/v3] [--deliveries N] [--latency-ms MS]
//! ```
//!
//! `--deliveries N` adds N delivered events over the last 23 hours, and `--latency-ms MS`
//! answers each request MS milliseconds after it arrived, for profiling.
//!
//! `--control ADDR:PORT` serves a read-only view of what the fake saw, on a listener of its
//! own (never on the API's routes), and prints `control <url>` before `ready`:
//! `GET /requests`, one line per request answered, `METHOD PATH[?QUERY] STATUS`, in order;
//! `GET /redeliveries`, one line per accepted redelivery, `GUID DELIVERY_ID`, in order.
//! `scripts/act-e2e.sh` reads them between runs.
//!
//! It prints `ready <url>` once it listens, and serves until it is stopped. It accepts App
//! JWTs signed with `tests/resources/app-key.pem` (App ID 4242) and the token `test-token`.
//! CI's `uses: ./` job and `scripts/container-run.sh` run the action against it.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use fake_github::{FakeGitHub, FakeOptions};

const USAGE: &str = "usage: fake_github --serve ADDR:PORT [--prefix /api/v3] [--deliveries N] [--latency-ms MS] [--control ADDR:PORT]";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut bind: Option<SocketAddr> = None;
    let mut prefix = String::new();
    let mut extra_deliveries = 0i64;
    let mut latency = std::time::Duration::ZERO;
    let mut control: Option<SocketAddr> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match (arg.as_str(), rest.next()) {
            ("--serve", Some(addr)) => match addr.parse() {
                Ok(addr) => bind = Some(addr),
                Err(_) => exit_with(&format!("`{addr}` is not ADDR:PORT\n{USAGE}")),
            },
            ("--control", Some(addr)) => match addr.parse() {
                Ok(addr) => control = Some(addr),
                Err(_) => exit_with(&format!("`{addr}` is not ADDR:PORT\n{USAGE}")),
            },
            ("--prefix", Some(value)) => prefix = value.clone(),
            ("--deliveries", Some(value)) => match value.parse() {
                Ok(count) => extra_deliveries = count,
                Err(_) => exit_with(&format!("`{value}` is not a number\n{USAGE}")),
            },
            ("--latency-ms", Some(value)) => match value.parse() {
                Ok(ms) => latency = std::time::Duration::from_millis(ms),
                Err(_) => exit_with(&format!("`{value}` is not a number\n{USAGE}")),
            },
            _ => exit_with(USAGE),
        }
    }
    let Some(bind) = bind else { exit_with(USAGE) };
    let fake = FakeGitHub::start(FakeOptions {
        bind: Some(bind),
        path_prefix: prefix,
        latency,
        ..FakeOptions::default()
    })
    .await;
    fake_github::demo::seed(&fake);
    let now = chrono::Utc::now();
    for i in 0..extra_deliveries {
        let at =
            now - chrono::Duration::milliseconds(500 + i * (23 * 3_600_000 / extra_deliveries));
        let guid = format!("{i:08x}-0000-4000-8000-{i:012x}");
        fake.add_delivery(
            &fake_github::Hook::App,
            fake_github::NewDelivery::ok(guid, at),
        );
    }
    let fake = Arc::new(fake);
    if let Some(control) = control {
        serve_control(control, fake.clone()).await;
    }
    println!("ready {}", fake.url());
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    for request in fake.requests() {
        eprintln!(
            "{} {}{} -> {}",
            request.method,
            request.full_path,
            request.query.map(|q| format!("?{q}")).unwrap_or_default(),
            request.status
        );
    }
}

/// The read-only control listener (see the module's doc); prints `control <url>`.
async fn serve_control(bind: SocketAddr, fake: Arc<FakeGitHub>) {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .unwrap_or_else(|error| exit_with(&format!("failed to bind {bind}: {error}")));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|error| exit_with(&format!("no local address: {error}")));
    let requests = {
        let fake = fake.clone();
        move || {
            let lines: String = fake
                .requests()
                .iter()
                .map(|r| {
                    let query = r
                        .query
                        .as_ref()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default();
                    format!("{} {}{} {}\n", r.method, r.full_path, query, r.status)
                })
                .collect();
            std::future::ready(lines)
        }
    };
    let redeliveries = move || {
        let lines: String = fake
            .redeliveries()
            .iter()
            .map(|r| format!("{} {}\n", r.guid, r.delivery_id))
            .collect();
        std::future::ready(lines)
    };
    let app = axum::Router::new()
        .route("/requests", get(requests))
        .route("/redeliveries", get(redeliveries));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    println!("control http://{addr}");
}

fn exit_with(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}
