//! The server itself: unknown routes, common headers, latency.

use std::time::{Duration, Instant};

use fake_github::*;

use crate::app_jwt;
use crate::client::RawResponse;
use crate::table::{Api, Row};

const DELIVERIES: &str = "/app/hook/deliveries";

#[tokio::test]
async fn unknown_routes_are_recorded_and_headers_are_set() {
    let fake = FakeGitHub::start(FakeOptions {
        path_prefix: "/api/v3".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    let api = Api::of(&fake);
    let origin = fake.origin();
    api.run(&[
        Row::get("/app/hooks", 404)
            .auth(app_jwt())
            .message("Not Found"),
        Row::new("DELETE", DELIVERIES, 404).auth(app_jwt()),
        // Outside the prefix.
        Row::get(format!("{origin}{DELIVERIES}"), 404).auth(app_jwt()),
    ])
    .await;
    let unexpected = fake.unexpected_requests();
    assert_eq!(unexpected.len(), 3);
    assert_eq!(unexpected[0].path, "/app/hooks");
    assert_eq!(unexpected[0].full_path, "/api/v3/app/hooks");
    assert_eq!(unexpected[1].method, "DELETE");
    assert_eq!(unexpected[2].full_path, "/app/hook/deliveries");
    let violations = fake.take_contract_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("GET /app/hooks matches no operation"));
    assert!(violations[2].contains("not under the API prefix"));

    let limited = Row::get(DELIVERIES, 200)
        .auth(app_jwt())
        .answer_header("x-ratelimit-limit", "5000")
        .answer_header("x-ratelimit-resource", "core")
        .answer_has_header("x-ratelimit-used");
    let answers = api.run(&[limited.clone(), limited]).await;
    for res in &answers {
        assert!(
            res.header("x-ratelimit-reset")
                .and_then(|v| v.parse::<i64>().ok())
                .is_some()
        );
    }
    let remaining = |r: &RawResponse| -> u64 {
        r.header("x-ratelimit-remaining")
            .and_then(|v| v.parse().ok())
            .expect("remaining")
    };
    assert_eq!(remaining(&answers[0]), remaining(&answers[1]) + 1);
    let recorded = fake.requests();
    assert_eq!(
        recorded.last().and_then(|r| r.header("user-agent")),
        Some("fake-github-selftest")
    );
    fake.clear_requests();
    assert!(fake.requests().is_empty() && fake.unexpected_requests().is_empty());
}

#[tokio::test]
async fn latency_is_applied() {
    let fake = FakeGitHub::start(FakeOptions {
        latency: Duration::from_millis(300),
        ..FakeOptions::default()
    })
    .await;
    let api = Api::of(&fake);
    let list = Row::get(DELIVERIES, 200).auth(app_jwt());
    let started = Instant::now();
    api.one(&list).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    fake.set_latency(Duration::ZERO);
    let started = Instant::now();
    api.one(&list).await;
    assert!(started.elapsed() < Duration::from_millis(300));
}
