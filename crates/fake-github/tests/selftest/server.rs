//! The server itself: unknown routes, common headers, latency.

use std::time::{Duration, Instant};

use fake_github::*;

use crate::app_jwt;
use crate::client::{RawResponse, get, send};

#[tokio::test]
async fn unknown_routes_are_recorded_and_headers_are_set() {
    let fake = FakeGitHub::start(FakeOptions {
        path_prefix: "/api/v3".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    let base = fake.url();
    let origin = fake.origin();
    let jwt = app_jwt();
    let res = get(&base, "/app/hooks", Some(&jwt)).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.message(), "Not Found");
    let res = send(&base, "DELETE", "/app/hook/deliveries", Some(&jwt), None).await;
    assert_eq!(res.status, 404);
    // Outside the prefix.
    let res = get(&origin, "/app/hook/deliveries", Some(&jwt)).await;
    assert_eq!(res.status, 404);
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

    let first = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    let second = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    for res in [&first, &second] {
        assert_eq!(res.header("x-ratelimit-limit"), Some("5000"));
        assert_eq!(res.header("x-ratelimit-resource"), Some("core"));
        assert!(res.header("x-ratelimit-used").is_some());
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
    assert_eq!(remaining(&first), remaining(&second) + 1);
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
    let jwt = app_jwt();
    let started = Instant::now();
    assert_eq!(
        get(&fake.url(), "/app/hook/deliveries", Some(&jwt))
            .await
            .status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    fake.set_latency(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(
        get(&fake.url(), "/app/hook/deliveries", Some(&jwt))
            .await
            .status,
        200
    );
    assert!(started.elapsed() < Duration::from_millis(300));
}
