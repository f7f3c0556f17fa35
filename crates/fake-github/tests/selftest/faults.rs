//! Injected faults and dropped connections.

use chrono::Utc;

use fake_github::*;

use crate::app_jwt;
use crate::client::{get, request, send};

#[tokio::test]
async fn faults_apply_then_clear() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    let jwt = app_jwt();
    let path = "/app/hook/deliveries";

    fake.push_fault(Fault::new("/hook/deliveries", FaultKind::Status(500)).method("GET"));
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 500);
    assert_eq!(res.message(), "Server Error");
    assert!(res.json()["documentation_url"].is_string());
    assert!(res.header("x-ratelimit-remaining").is_some());
    assert_eq!(fake.pending_faults(), 0);
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 200, "the fault is used up");

    // skip 1, then 2 times; other paths and methods untouched.
    fake.push_fault(
        Fault::new("deliveries", FaultKind::Status(503))
            .method("GET")
            .skip(1)
            .times(2),
    );
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(get(&base, path, Some(&jwt)).await.status);
        }
        v
    };
    assert_eq!(statuses, vec![200, 503, 503, 200]);
    fake.push_fault(Fault::new("deliveries", FaultKind::Status(500)).times(100));
    fake.clear_faults();
    assert_eq!(get(&base, path, Some(&jwt)).await.status, 200);

    // Secondary and primary rate limits.
    fake.push_fault(Fault::new(
        path,
        FaultKind::SecondaryRateLimit {
            status: 429,
            retry_after: Some(7),
        },
    ));
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), Some("7"));
    assert!(res.message().contains("secondary rate limit"));
    fake.push_fault(Fault::new(
        path,
        FaultKind::PrimaryExhausted { reset_in_secs: 30 },
    ));
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.header("x-ratelimit-remaining"), Some("0"));
    let reset: i64 = res
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .expect("reset");
    let expected = Utc::now().timestamp() + 30;
    assert!(
        (expected - 2..=expected + 1).contains(&reset),
        "{reset} vs {expected}"
    );
    assert!(res.message().starts_with("API rate limit exceeded for"));

    // ApplyThenStatus: the redelivery happens, the client sees 502.
    let id = fake.add_delivery(&Hook::App, NewDelivery::failed("X", Utc::now()));
    fake.push_fault(Fault::new("/attempts", FaultKind::ApplyThenStatus(502)).method("POST"));
    let res = send(
        &base,
        "POST",
        &Hook::App.attempts_path(id),
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(res.status, 502);
    assert_eq!(fake.redeliveries().len(), 1);
    fake.record_queued_results();
    assert_eq!(fake.deliveries(&Hook::App).len(), 2);

    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![500, 200, 200, 503, 503, 200, 200, 429, 403, 502]
    );
}

#[tokio::test]
async fn drop_connection_gives_a_transport_error() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    let jwt = app_jwt();
    fake.push_fault(Fault::new(
        "/app/hook/deliveries",
        FaultKind::DropConnection,
    ));
    let err = request(&base, "GET", "/app/hook/deliveries", Some(&jwt), None)
        .await
        .expect_err("no response at all");
    assert!(
        format!("{err:?}").contains("IncompleteMessage") || err.is_connect(),
        "{err:?}"
    );
    let recorded = fake.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, 0);
    // The server goes on serving.
    assert_eq!(
        get(&base, "/app/hook/deliveries", Some(&jwt)).await.status,
        200
    );

    // A real client (octocrab, hyper) sees an error too, not a response.
    fake.push_fault(Fault::new(
        "/app/hook/deliveries",
        FaultKind::DropConnection,
    ));
    let client = octocrab::Octocrab::builder()
        .base_uri(fake.url())
        .expect("base uri")
        .personal_token(jwt.clone())
        .build()
        .expect("octocrab client");
    let result = client
        ._get(format!("{}/app/hook/deliveries", fake.url()))
        .await;
    let err = result.expect_err("expected a transport error");
    assert!(format!("{err:?}").contains("IncompleteMessage"), "{err}");
    let result = client
        ._get(format!("{}/app/hook/deliveries", fake.url()))
        .await
        .expect("the next request is answered");
    assert_eq!(result.status().as_u16(), 200);
    // Also on a kept-alive, pooled connection: the client does not retry, it errors.
    fake.push_fault(Fault::new(
        "/app/hook/deliveries",
        FaultKind::DropConnection,
    ));
    let result = client
        ._get(format!("{}/app/hook/deliveries", fake.url()))
        .await;
    let err = result.expect_err("expected a transport error on a pooled connection");
    assert!(format!("{err:?}").contains("IncompleteMessage"), "{err}");
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![0, 200, 0, 200, 0]);
    // octocrab's bare client sends no `Accept`; the contract check notices.
    let violations = fake.take_contract_violations();
    assert!(
        violations.iter().all(|v| v.contains("`Accept` is []")),
        "{violations:?}"
    );
}
