//! Deliveries: pagination, the listing's parameters, redeliveries.

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use fake_github::*;

use crate::client::{get, list_all, send};
use crate::{REPO, admin_token, app_jwt};

#[tokio::test]
async fn pagination_of_250_deliveries_in_pages_of_100_follows_link() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    fake.add_token(admin_token());
    let hook = Hook::repo(REPO, 7);
    let start = Utc::now() - TimeDelta::hours(10);
    // Oldest first, several in the same second, every third failed.
    let ids = fake.add_deliveries(
        &hook,
        (0..250).map(|i| {
            let at = start + TimeDelta::seconds(i / 3);
            let guid = format!("guid-{i}");
            if i % 3 == 0 {
                NewDelivery::failed(guid, at)
            } else {
                NewDelivery::ok(guid, at)
            }
        }),
    );
    assert!(ids.iter().all(|&id| id >= BIG_ID_BASE));

    let first = format!("{}?per_page=100", hook.deliveries_path());
    let (items, sizes) = list_all(&base, &first, "ghp_admin", |_| {}).await;
    assert_eq!(sizes, vec![100, 100, 50]);
    let got: Vec<u64> = items
        .iter()
        .map(|d| d["id"].as_u64().expect("u64 id"))
        .collect();
    let mut expected = ids.clone();
    expected.reverse(); // newest first; same second -> higher id first
    assert_eq!(got, expected);
    assert_eq!(items, fake.deliveries(&hook));

    // Exact 64-bit ids in the JSON text.
    let page = get(&base, &first, Some("ghp_admin")).await;
    let text = String::from_utf8_lossy(&page.body).into_owned();
    assert!(
        text.contains(&format!("\"id\":{}", ids[249])),
        "{text:.200}"
    );
    let list = page.json();
    let failed = &list[0]; // 249 % 3 == 0
    assert_eq!(failed["guid"], "guid-249");
    assert_eq!(failed["redelivery"], false);
    assert_eq!(failed["status"], "Invalid HTTP Response: 503");
    assert_eq!(failed["status_code"], 503);
    assert_eq!(failed["event"], "push");
    assert_eq!(failed["action"], Value::Null);
    assert_eq!(failed["throttled_at"], Value::Null);
    assert!(failed["duration"].is_number());
    assert_eq!(failed["repository_id"], 1);
    assert!(
        failed["delivered_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') && s.len() == 20)
    );
    let ok = &list[1];
    assert_eq!(ok["guid"], "guid-248");
    assert_eq!(ok["status"], "OK");
    assert_eq!(ok["status_code"], 200);
    assert!(fake.unexpected_requests().is_empty());
}

#[tokio::test]
async fn pagination_survives_redeliveries_inserted_between_pages() {
    let fake = FakeGitHub::start(FakeOptions {
        path_prefix: "/api/v3".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    let base = fake.url();
    assert!(base.ends_with("/api/v3"));
    let jwt = app_jwt();
    let now = Utc::now();
    let ids = fake.add_deliveries(
        &Hook::App,
        (0..250).map(|i| NewDelivery::failed(format!("g{i}"), now - TimeDelta::minutes(300 - i))),
    );
    let fake_ref = &fake;
    let (items, sizes) = list_all(&base, "/app/hook/deliveries?per_page=100", &jwt, |_| {
        // A new delivery arrives at the front while the client pages.
        fake_ref.add_delivery(&Hook::App, NewDelivery::ok("late", Utc::now()));
    })
    .await;
    assert_eq!(sizes, vec![100, 100, 50]);
    let got: Vec<u64> = items
        .iter()
        .map(|d| d["id"].as_u64().expect("id"))
        .collect();
    let mut expected = ids;
    expected.reverse();
    assert_eq!(got, expected, "no repeats, no skips");
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r.full_path.starts_with("/api/v3/")));
    assert!(requests.iter().all(|r| r.path == "/app/hook/deliveries"));
    assert!(requests.iter().all(|r| r.auth == AuthSeen::AppJwt));
}

#[tokio::test]
async fn listing_parameters_and_empty_lists() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    let jwt = app_jwt();
    // Empty: [] and no next.
    let empty = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.next_link(), None);
    assert_eq!(
        empty.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let now = Utc::now();
    fake.add_deliveries(
        &Hook::App,
        (0..150).map(|i| NewDelivery::ok(format!("g{i}"), now - TimeDelta::seconds(i))),
    );
    // Default 30.
    let page = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    assert_eq!(page.json().as_array().map(Vec::len), Some(30));
    assert!(page.next_link().is_some_and(|l| l.contains("per_page=30")));
    // Clamped to 100.
    let page = get(&base, "/app/hook/deliveries?per_page=500", Some(&jwt)).await;
    assert_eq!(page.json().as_array().map(Vec::len), Some(100));
    let next = page.next_link().expect("next");
    assert!(next.contains("per_page=100"), "{next}");
    // Invalid per_page, unknown cursor.
    for bad in [
        "per_page=abc",
        "per_page=-1",
        "per_page=0",
        "cursor=nope",
        "cursor=",
    ] {
        let page = get(&base, &format!("/app/hook/deliveries?{bad}"), Some(&jwt)).await;
        assert_eq!(page.status, 422, "{bad}");
        assert_eq!(page.message(), "Validation Failed");
    }
    // A client that sends these breaks GitHub's description, and the contract check says so.
    let violations = fake.take_contract_violations();
    for bad in [
        "`per_page`=500",
        "`per_page`=abc",
        "`per_page`=-1",
        "`per_page`=0",
    ] {
        assert!(
            violations.iter().any(|v| v.contains(bad)),
            "{bad}: {violations:?}"
        );
    }
    assert_eq!(violations.len(), 4, "{violations:?}");
    // The last page has no next.
    let last = get(&base, &next, Some(&jwt)).await;
    assert_eq!(last.json().as_array().map(Vec::len), Some(50));
    assert_eq!(last.next_link(), None);
}

#[tokio::test]
async fn redeliveries_append_new_deliveries() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    fake.add_token(admin_token());
    fake.add_token(FakeToken::new("ghp_org_owner").admin_org("Acme"));
    fake.add_token(FakeToken::new("ghp_nobody"));
    let hook = Hook::repo(REPO, 1);
    let now = Utc::now();
    let a = fake.add_delivery(&hook, NewDelivery::failed("A", now - TimeDelta::hours(1)));
    let b = fake.add_delivery(
        &hook,
        NewDelivery::failed("B", now - TimeDelta::hours(2)).event("workflow_job", Some("queued")),
    );
    let old = fake.add_delivery(&hook, NewDelivery::failed("OLD", now - TimeDelta::days(4)));
    fake.set_receiver_failing("B", true);

    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
    assert_eq!(res.json(), json!({}));
    // Org owners reach their repositories' hooks.
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(b),
        Some("ghp_org_owner"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(old),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 422);
    assert_eq!(res.message(), "Validation Failed");
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a + 1000),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 404);
    // The f64-rounded id of a big id is a different, unknown delivery.
    let rounded = (a as f64) as u64;
    if rounded != a {
        let res = send(
            &base,
            "POST",
            &hook.attempts_path(rounded),
            Some("ghp_admin"),
            None,
        )
        .await;
        assert_eq!(res.status, 404);
    }
    // No admin: 404 (hidden). No such hook for this token either.
    let res = get(&base, &hook.deliveries_path(), Some("ghp_nobody")).await;
    assert_eq!(res.status, 404);
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a),
        Some("ghp_nobody"),
        None,
    )
    .await;
    assert_eq!(res.status, 404);

    // GitHub queues a redelivery: its result is listed only once the receiver answered.
    assert_eq!(fake.deliveries(&hook).len(), 3);
    fake.record_queued_results();
    assert_eq!(
        fake.redeliveries(),
        vec![
            Redelivery {
                hook: hook.clone(),
                delivery_id: a,
                guid: "A".to_owned()
            },
            Redelivery {
                hook: hook.clone(),
                delivery_id: b,
                guid: "B".to_owned()
            },
        ]
    );
    let list = fake.deliveries(&hook);
    assert_eq!(list.len(), 5);
    assert_eq!(list[1]["guid"], "A");
    assert_eq!(list[1]["redelivery"], true);
    assert_eq!(list[1]["status"], "OK");
    assert_eq!(list[0]["guid"], "B");
    assert_eq!(list[0]["redelivery"], true);
    assert_eq!(list[0]["status"], "Invalid HTTP Response: 500");
    assert_eq!(list[0]["event"], "workflow_job");
    assert_eq!(list[0]["action"], "queued");
    assert!(list[0]["id"].as_u64().is_some_and(|id| id > a && id > b));

    fake.set_receiver_down(true);
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
    fake.record_queued_results();
    // A receiver that is down gives no HTTP answer at all.
    assert_eq!(fake.deliveries(&hook)[0]["status"], "failed to connect");
    assert_eq!(fake.deliveries(&hook)[0]["status_code"], 0);

    // Org hooks need the org.
    let org_hook = Hook::org("acme", 9);
    let c = fake.add_delivery(&org_hook, NewDelivery::failed("C", now));
    let res = send(
        &base,
        "POST",
        &org_hook.attempts_path(c),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 404);
    let res = send(
        &base,
        "POST",
        &org_hook.attempts_path(c),
        Some("ghp_org_owner"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
}
