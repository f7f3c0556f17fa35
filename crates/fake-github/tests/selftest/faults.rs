//! Injected faults and dropped connections.

use chrono::Utc;

use fake_github::*;

use crate::app_jwt;
use crate::client::{get, request};
use crate::table::{Api, Row};

const DELIVERIES: &str = "/app/hook/deliveries";

#[tokio::test]
async fn faults_apply_then_clear() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    let list = |status| Row::get(DELIVERIES, status).auth(app_jwt());

    fake.push_fault(Fault::new("/hook/deliveries", FaultKind::Status(500)).method("GET"));
    api.one(
        &list(500)
            .message("Server Error")
            .documented()
            .answer_has_header("x-ratelimit-remaining"),
    )
    .await;
    assert_eq!(fake.pending_faults(), 0);
    api.one(&list(200).label("the fault is used up")).await;

    // skip 1, then 2 times; other paths and methods untouched.
    fake.push_fault(
        Fault::new("deliveries", FaultKind::Status(503))
            .method("GET")
            .skip(1)
            .times(2),
    );
    api.run(&[list(200), list(503), list(503), list(200)]).await;
    fake.push_fault(Fault::new("deliveries", FaultKind::Status(500)).times(100));
    fake.clear_faults();
    api.one(&list(200)).await;

    // Secondary and primary rate limits.
    fake.push_fault(Fault::new(
        DELIVERIES,
        FaultKind::SecondaryRateLimit {
            status: 429,
            retry_after: Some(7),
        },
    ));
    api.one(
        &list(429)
            .answer_header("retry-after", "7")
            .message_contains("secondary rate limit"),
    )
    .await;
    fake.push_fault(Fault::new(
        DELIVERIES,
        FaultKind::PrimaryExhausted { reset_in_secs: 30 },
    ));
    let res = api
        .one(
            &list(403)
                .answer_header("x-ratelimit-remaining", "0")
                .message_starts("API rate limit exceeded for"),
        )
        .await;
    let reset: i64 = res
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .expect("reset");
    let expected = Utc::now().timestamp() + 30;
    assert!(
        (expected - 2..=expected + 1).contains(&reset),
        "{reset} vs {expected}"
    );

    // ApplyThenStatus: the redelivery happens, the client sees 502.
    let id = fake.add_delivery(&Hook::App, NewDelivery::failed("X", Utc::now()));
    fake.push_fault(Fault::new("/attempts", FaultKind::ApplyThenStatus(502)).method("POST"));
    api.one(&Row::post(Hook::App.attempts_path(id), 502).auth(app_jwt()))
        .await;
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
