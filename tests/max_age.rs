//! `max-age`: events that first failed too long ago are reported, not redelivered.

use crate::util::*;
use fake_github::{Hook, NewDelivery};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_older_than_max_age_are_reported_and_not_redelivered() {
    let fake = fake().await;
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("thirteen-hours", minutes_ago(13 * 60)),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("eleven-hours", minutes_ago(11 * 60)),
    );
    let run = run_action(&fake, &[("max-age", "12h")]).await;
    run.assert_code(0);
    assert_eq!(
        run.json_output("redelivered-guids"),
        serde_json::json!(["eleven-hours"])
    );
    assert_eq!(run.count("too-old-count"), 1);
    assert_eq!(run.count("failed-count"), 2);
    // Never given up, never an attempt, never held for later.
    assert_eq!(run.count("given-up-count"), 0);
    assert_eq!(run.count("deferred-count"), 0);
    let report = run.json_output("report");
    let too_old = &report["hooks"][0]["too_old"];
    assert_eq!(too_old.as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(too_old[0]["guid"], "thirteen-hours");
    assert!(
        run.summary
            .contains("<b>Too old to redeliver (<code>max-age</code>)</b>: 1 event")
            && run.summary.contains("`thirteen-hours`"),
        "{}",
        run.summary
    );
    let redelivered: Vec<String> = fake.redeliveries().into_iter().map(|r| r.guid).collect();
    assert_eq!(redelivered, ["eleven-hours"]);
    // The checkpoint moves past the too-old event, and it has no bookkeeping.
    let document = stored_document(&fake);
    assert!(document["hooks"]["app"]["checkpoint"].is_string());
    assert!(
        document["hooks"]["app"]["events"]
            .get("thirteen-hours")
            .is_none(),
        "{document}"
    );
    // The checkpoint passes the too-old event; it stays at the open one's first failure.
    let checkpoint = stored_checkpoint(&fake, "app");
    assert!(
        (checkpoint - minutes_ago(11 * 60)).num_seconds().abs() <= 2,
        "{checkpoint}"
    );
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_max_age_old_failures_are_redelivered() {
    let fake = fake().await;
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("thirteen-hours", minutes_ago(13 * 60)),
    );
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 1);
    assert_eq!(run.count("too-old-count"), 0);
    assert!(!run.summary.contains("Too old"), "{}", run.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_max_age_and_reports_too_old_events_in_json() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("old", minutes_ago(3 * 60)));
    let folder = tempfile::tempdir().expect("temp dir");
    let args = app_on_command_line(&fake.url(), folder.path()).with("max-age", "2h");
    // `--json` is a switch: no `=value`.
    let mut argv = args.argv();
    argv.push("--json".to_owned());
    let run = run_cli(folder.path(), &argv, &[]).await;
    run.assert_code(0);
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(report["hooks"][0]["too_old"][0]["guid"], "old", "{report}");
    assert!(fake.redeliveries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_max_age_is_one_line_and_no_request() {
    let fake = fake().await;
    for (value, expected) in [
        (
            "12x",
            "::error::input `max-age` must be a duration such as `1s`, `500ms` or `5m` (got `12x`)",
        ),
        (
            "-1h",
            "::error::input `max-age` must be a duration such as `1s`, `500ms` or `5m` (got `-1h`)",
        ),
        (
            "0s",
            "::error::input `max-age` must be longer than zero; leave it empty for no bound",
        ),
        // The fake is not github.com: the retention defaults to GHES's 7 days.
        (
            "8d",
            "::error::input `max-age` is longer than GitHub keeps deliveries (7 days)",
        ),
    ] {
        let run = run_action(&fake, &[("max-age", value)]).await;
        run.assert_code(2);
        assert!(run.stdout.contains(expected), "{value}: {}", run.stdout);
        assert_eq!(run.stdout.matches("::error::").count(), 1, "{}", run.stdout);
    }
    let run = run_action(&fake, &[("max-age", "3d"), ("retention-days", "2")]).await;
    run.assert_code(2);
    assert!(
        run.stdout
            .contains("::error::input `max-age` is longer than GitHub keeps deliveries (2 days)"),
        "{}",
        run.stdout
    );
    assert!(fake.requests().is_empty());
}
