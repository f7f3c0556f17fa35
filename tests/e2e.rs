//! The built binary, run as the Actions runner runs a Docker action, against the fake GitHub.

use chrono::{Duration, Utc};

use crate::util::*;
use fake_github::{AuthSeen, FakeOptions, Hook, NewDelivery};

/// A first run (no variable yet) over a window with every kind of event: failed once,
/// failed twice (the second a redelivery), recovered by a redelivery, delivered, and one
/// older than the first run's 24 hours. Returns the fake, the run and when it started.
async fn first_run() -> (fake_github::FakeGitHub, Run, chrono::DateTime<Utc>) {
    let fake = fake().await;
    let app = Hook::App;
    fake.add_delivery(
        &app,
        NewDelivery::failed("g-failed-once", minutes_ago(50)).event("push", None),
    );
    fake.add_delivery(
        &app,
        NewDelivery::failed("g-failed-twice", minutes_ago(40))
            .event("workflow_job", Some("queued")),
    );
    fake.add_delivery(
        &app,
        NewDelivery::failed("g-failed-twice", minutes_ago(30))
            .event("workflow_job", Some("queued"))
            .redelivery(true),
    );
    fake.add_delivery(&app, NewDelivery::failed("g-recovered", minutes_ago(20)));
    fake.add_delivery(
        &app,
        NewDelivery::ok("g-recovered", minutes_ago(10)).redelivery(true),
    );
    fake.add_delivery(&app, NewDelivery::ok("g-fine", minutes_ago(5)));
    fake.add_delivery(&app, NewDelivery::failed("g-too-old", minutes_ago(25 * 60)));
    let started = Utc::now();
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    (fake, run, started)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_redelivers_each_failed_event_once() {
    let (fake, run, _) = first_run().await;
    assert_eq!(run.count("redelivered-count"), 2);
    assert_eq!(run.count("failed-count"), 2);
    assert_eq!(run.count("scanned-count"), 6);
    assert_eq!(run.count("given-up-count"), 0);
    let mut guids: Vec<String> =
        serde_json::from_value(run.json_output("redelivered-guids")).expect("array");
    guids.sort();
    assert_eq!(guids, ["g-failed-once", "g-failed-twice"]);

    // Each failing event once, the newest failed delivery of it.
    let redeliveries = fake.redeliveries();
    assert_eq!(redeliveries.len(), 2);
    let twice = fake
        .deliveries(&Hook::App)
        .into_iter()
        .filter(|d| d["guid"] == "g-failed-twice" && d["redelivery"] == true && d["status"] != "OK")
        .collect::<Vec<_>>();
    assert!(redeliveries.iter().any(|r| r.guid == "g-failed-twice"
        && Some(r.delivery_id) == twice.last().and_then(|d| d["id"].as_u64())));
}

/// The window of a first run is the last 24 hours; the checkpoint stays at the first failure
/// of the oldest event still open (just redelivered, result not yet seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_scans_a_day_and_holds_the_checkpoint_at_the_oldest_open_event() {
    let (fake, run, started) = first_run().await;
    let since: chrono::DateTime<Utc> = run.output("since").parse().expect("RFC 3339");
    assert!(
        (started - Duration::hours(24) - since).num_seconds().abs() < 60,
        "{since}"
    );
    let checkpoint: chrono::DateTime<Utc> = run.output("checkpoint").parse().expect("RFC 3339");
    assert!(
        (checkpoint - (started - Duration::minutes(50)))
            .num_seconds()
            .abs()
            < 60,
        "{checkpoint}"
    );
    assert_eq!(
        stored_checkpoint(&fake, "app").timestamp(),
        checkpoint.timestamp()
    );
}

/// One list page (per_page=100, JWT), one POST per event, GET 404 + a list of one + POST of
/// the variable with the token; and looks at the newest page for the canary's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_sends_the_requests_it_needs_with_the_right_credentials() {
    let (fake, _, _) = first_run().await;
    let scan_pages = requests_without_result_polls(&fake)
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/app/hook/deliveries")
        .count();
    assert_eq!(scan_pages, 1);
    assert_eq!(count_requests(&fake, "POST", "/attempts"), 2);
    assert_eq!(count_requests(&fake, "GET", "/actions/variables/"), 1);
    assert_eq!(count_requests(&fake, "POST", "/actions/variables"), 1);
    assert_eq!(count_requests(&fake, "PATCH", "/actions/variables/"), 0);
    for request in fake.requests() {
        if request.path.starts_with("/app/") {
            assert_eq!(request.auth, AuthSeen::AppJwt, "{request:?}");
            assert_eq!(
                request
                    .query_param("per_page")
                    .filter(|_| request.method == "GET")
                    .as_deref()
                    .unwrap_or("100"),
                "100"
            );
        } else {
            assert_eq!(
                request.auth,
                AuthSeen::Token(TOKEN.to_owned()),
                "{request:?}"
            );
        }
    }
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_tables_what_it_redelivered_in_the_summary_and_groups_its_log() {
    let (_, run, _) = first_run().await;
    assert!(
        run.summary.contains("## Webhook redelivery"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("| `app` |"), "{}", run.summary);
    assert!(
        run.summary.contains("g-failed-once") && run.summary.contains("Invalid HTTP Response: 503")
    );
    assert!(
        run.summary.contains("workflow_job | queued"),
        "{}",
        run.summary
    );
    assert!(run.stdout.contains("::group::Hook `app`") && run.stdout.contains("::endgroup::"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_run_reads_the_docs_scripts_checkpoint_and_patches_it() {
    let fake = fake().await;
    let checkpoint = minutes_ago(120);
    fake.set_variable(REPO, VARIABLE, &checkpoint.timestamp_millis().to_string());
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("before-checkpoint", minutes_ago(180)),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("after-checkpoint", minutes_ago(60)),
    );

    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 1);
    assert_eq!(
        run.json_output("redelivered-guids"),
        serde_json::json!(["after-checkpoint"])
    );
    let since: chrono::DateTime<Utc> = run.output("since").parse().expect("RFC 3339");
    assert_eq!(
        since.timestamp(),
        (checkpoint - Duration::minutes(5)).timestamp()
    );
    assert_eq!(count_requests(&fake, "PATCH", "/actions/variables/"), 1);
    assert_eq!(count_requests(&fake, "POST", "/actions/variables"), 0);
    assert_eq!(stored_document(&fake)["version"], 1);

    // A second run finds the redelivery delivered and does nothing.
    fake.clear_requests();
    let again = run_action(&fake, &[]).await;
    again.assert_code(0);
    assert_eq!(again.count("redelivered-count"), 0);
    assert_eq!(fake.redeliveries().len(), 1);
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_with_no_deliveries_is_a_normal_run() {
    let fake = fake().await;
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert_eq!(run.count("scanned-count"), 0);
    assert_eq!(run.count("redelivered-count"), 0);
    assert_eq!(run.json_output("redelivered-guids"), serde_json::json!([]));
    assert_eq!(count_requests(&fake, "GET", "/app/hook/deliveries"), 1);
    assert!(fake.variable(REPO, VARIABLE).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_variable_is_a_first_run_not_an_error() {
    let fake = fake().await;
    fake.set_variable(REPO, VARIABLE, "");
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(30)));
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 1);
    assert_eq!(count_requests(&fake, "PATCH", "/actions/variables/"), 1);
}

/// 1,050 deliveries in the window, a failure every 100th: 11 pages of at most 100.
async fn eleven_pages(prefix: &str) {
    let fake = fake_with(FakeOptions {
        path_prefix: prefix.to_owned(),
        ..FakeOptions::default()
    })
    .await;
    for i in 0..1050 {
        let at = Utc::now() - Duration::seconds(10 + i * 30);
        let delivery = if i % 100 == 7 {
            NewDelivery::failed(format!("guid-{i}"), at)
        } else {
            NewDelivery::ok(format!("guid-{i}"), at)
        };
        fake.add_delivery(&Hook::App, delivery);
    }
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert_eq!(run.count("scanned-count"), 1050);
    assert_eq!(run.count("failed-count"), 11);
    assert_eq!(run.count("redelivered-count"), 11);
    let scan = requests_without_result_polls(&fake);
    let lists: Vec<_> = scan
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/app/hook/deliveries")
        .collect();
    assert_eq!(lists.len(), 11);
    for list in &lists {
        assert_eq!(list.query_param("per_page").as_deref(), Some("100"));
        assert_eq!(
            list.auth,
            AuthSeen::AppJwt,
            "credentials kept on every page"
        );
        assert!(list.full_path.starts_with(prefix));
    }
    assert!(lists[0].query_param("cursor").is_none());
    // The minimum and nothing more: the pages, one POST per failing event, and for the
    // variable GET (404), a list of one (absent, not hidden from the token) and POST.
    assert_eq!(scan.len(), 11 + 11 + 3);
    assert!(lists[1..].iter().all(|r| r.query_param("cursor").is_some()));
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_eleven_pages_of_deliveries() {
    eleven_pages("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_with_a_path_prefix_survives_pagination() {
    eleven_pages("/api/v3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_at_the_first_page_that_reaches_the_checkpoint() {
    let fake = fake().await;
    // 1,000 deliveries, one a minute: the newest 60 minutes fill one page, overlap included.
    for i in 0..1000 {
        fake.add_delivery(&Hook::App, NewDelivery::ok(format!("g{i}"), minutes_ago(i)));
    }
    fake.set_variable(
        REPO,
        VARIABLE,
        &minutes_ago(60).timestamp_millis().to_string(),
    );
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert_eq!(count_requests(&fake, "GET", "/app/hook/deliveries"), 1);
    // 60 minutes plus the 5-minute overlap, inclusive.
    let scanned = run.count("scanned-count");
    assert!((65..=66).contains(&scanned), "{scanned}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_what_it_would_do_and_changes_nothing() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
    fake.add_delivery(&Hook::App, NewDelivery::failed("g2", minutes_ago(20)));
    let run = run_action(&fake, &[("dry-run", "true")]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 2);
    assert_eq!(
        run.json_output("redelivered-guids"),
        serde_json::json!(["g1", "g2"])
    );
    assert_eq!(run.json_output("report")["dry_run"], true);
    assert!(run.summary.contains("dry run"), "{}", run.summary);
    assert!(run.summary.contains("Would redeliver"));
    assert!(fake.redeliveries().is_empty());
    assert_eq!(count_requests(&fake, "POST", ""), 0);
    assert_eq!(count_requests(&fake, "PATCH", ""), 0);
    assert!(fake.variable(REPO, VARIABLE).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_above_2_pow_53_reach_the_redelivery_path_unchanged() {
    let fake = fake().await;
    let id = 3_804_004_623_172_239_366_u64;
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("big", minutes_ago(10)).id(id),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::ok("neighbour", minutes_ago(9)).id(id + 1),
    );
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/attempts"))
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, format!("/app/hook/deliveries/{id}/attempts"));
    assert_eq!(
        run.json_output("report")["hooks"][0]["redelivered"][0]["delivery_id"].as_u64(),
        Some(id)
    );
}
