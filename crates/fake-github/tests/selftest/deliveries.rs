//! Deliveries: pagination, the listing's parameters, redeliveries.

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use fake_github::*;

use crate::client::{get, list_all};
use crate::table::{Api, Row, check_fields};
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
    check_fields(
        failed,
        &[
            ("/guid", json!("guid-249")),
            ("/redelivery", json!(false)),
            ("/status", json!("Invalid HTTP Response: 503")),
            ("/status_code", json!(503)),
            ("/event", json!("push")),
            ("/action", Value::Null),
            ("/throttled_at", Value::Null),
            ("/repository_id", json!(1)),
        ],
    );
    assert!(failed["duration"].is_number());
    assert!(
        failed["delivered_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') && s.len() == 20)
    );
    check_fields(
        &list[1],
        &[
            ("/guid", json!("guid-248")),
            ("/status", json!("OK")),
            ("/status_code", json!(200)),
        ],
    );
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
    let api = Api::of(&fake);
    let jwt = app_jwt();
    let list = |query: &str| Row::get(format!("/app/hook/deliveries{query}"), 200).auth(&jwt);
    // Empty: [] and no next.
    let empty = api
        .one(
            &list("")
                .answer(json!([]))
                .answer_header("content-type", "application/json; charset=utf-8"),
        )
        .await;
    assert_eq!(empty.next_link(), None);

    let now = Utc::now();
    fake.add_deliveries(
        &Hook::App,
        (0..150).map(|i| NewDelivery::ok(format!("g{i}"), now - TimeDelta::seconds(i))),
    );
    // Default 30; clamped to 100.
    let pages = api.run(&[list(""), list("?per_page=500")]).await;
    assert_eq!(pages[0].json().as_array().map(Vec::len), Some(30));
    assert!(
        pages[0]
            .next_link()
            .is_some_and(|l| l.contains("per_page=30"))
    );
    assert_eq!(pages[1].json().as_array().map(Vec::len), Some(100));
    let next = pages[1].next_link().expect("next");
    assert!(next.contains("per_page=100"), "{next}");
    // Invalid per_page, unknown cursor.
    let refused = [
        "per_page=abc",
        "per_page=-1",
        "per_page=0",
        "cursor=nope",
        "cursor=",
    ]
    .map(|bad| Row::get(format!("/app/hook/deliveries?{bad}"), 422).auth(&jwt));
    api.run(&refused.map(|row| row.message("Validation Failed")))
        .await;
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
    let last = api.one(&Row::get(next, 200).auth(&jwt)).await;
    assert_eq!(last.json().as_array().map(Vec::len), Some(50));
    assert_eq!(last.next_link(), None);
}

/// A repository hook with two failed deliveries (A, and B whose receiver keeps failing) and
/// one past GitHub's retention; the tokens of a repository admin, an organization owner
/// and nobody.
fn hook_with_failures(fake: &FakeGitHub) -> (Hook, [u64; 3]) {
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
    (hook, [a, b, old])
}

#[tokio::test]
async fn redeliveries_append_new_deliveries() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    let (hook, [a, b, old]) = hook_with_failures(&fake);
    let redeliver = |id: u64, status: u16, auth: &str| {
        Row::post(hook.attempts_path(id), status)
            .auth(auth)
            .label(format!("delivery {id}"))
    };
    let mut rows = vec![
        redeliver(a, 202, "ghp_admin").answer(json!({})),
        // Org owners reach their repositories' hooks.
        redeliver(b, 202, "ghp_org_owner"),
        // Past the retention.
        redeliver(old, 422, "ghp_admin").message("Validation Failed"),
        redeliver(a + 1000, 404, "ghp_admin"),
    ];
    // The f64-rounded id of a big id is a different, unknown delivery.
    let rounded = (a as f64) as u64;
    if rounded != a {
        rows.push(redeliver(rounded, 404, "ghp_admin"));
    }
    // No admin: 404 (hidden). No such hook for this token either.
    rows.push(Row::get(hook.deliveries_path(), 404).auth("ghp_nobody"));
    rows.push(redeliver(a, 404, "ghp_nobody"));
    api.run(&rows).await;

    // GitHub queues a redelivery: its result is listed only once the receiver answered.
    assert_eq!(fake.deliveries(&hook).len(), 3);
    fake.record_queued_results();
    let redelivered = |delivery_id, guid: &str| Redelivery {
        hook: hook.clone(),
        delivery_id,
        guid: guid.to_owned(),
    };
    assert_eq!(
        fake.redeliveries(),
        vec![redelivered(a, "A"), redelivered(b, "B")]
    );
    let list = fake.deliveries(&hook);
    assert_eq!(list.len(), 5);
    check_fields(
        &list[1],
        &[
            ("/guid", json!("A")),
            ("/redelivery", json!(true)),
            ("/status", json!("OK")),
        ],
    );
    check_fields(
        &list[0],
        &[
            ("/guid", json!("B")),
            ("/redelivery", json!(true)),
            ("/status", json!("Invalid HTTP Response: 500")),
            ("/event", json!("workflow_job")),
            ("/action", json!("queued")),
        ],
    );
    assert!(list[0]["id"].as_u64().is_some_and(|id| id > a && id > b));

    fake.set_receiver_down(true);
    api.one(&redeliver(a, 202, "ghp_admin")).await;
    fake.record_queued_results();
    // A receiver that is down gives no HTTP answer at all.
    assert_eq!(fake.deliveries(&hook)[0]["status"], "failed to connect");
    assert_eq!(fake.deliveries(&hook)[0]["status_code"], 0);

    // Org hooks need the org.
    let org_hook = Hook::org("acme", 9);
    let c = fake.add_delivery(&org_hook, NewDelivery::failed("C", Utc::now()));
    let org_redeliver = |status, auth| Row::post(org_hook.attempts_path(c), status).auth(auth);
    api.run(&[
        org_redeliver(404, "ghp_admin"),
        org_redeliver(202, "ghp_org_owner"),
    ])
    .await;
}
