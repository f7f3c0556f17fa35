//! Issue 16, "trust nothing it is told": what a run tells. API data can issue no workflow command and
//! render nothing in the summary; outputs fit GitHub's limits and are written even when the
//! run stopped early.
//! Each test reproduces one finding of the issue.

use chrono::Duration;

use crate::util::*;

/// Finding 7: an event name or GUID from GitHub's answer holding a line break and a
/// workflow command was printed raw in "Redelivered …" and "Would redeliver …" lines, and
/// the summary rendered Markdown and HTML from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_data_can_neither_issue_workflow_commands_nor_dress_up_the_summary() {
    let fake = fake().await;
    fake.add_delivery(
        &fake_github::Hook::App,
        fake_github::NewDelivery::failed(
            "g-1\n::stop-commands::pwned\n::error::from the guid",
            minutes_ago(10),
        )
        .event(
            "push\r\n::error::from the event <img src=x> **b**",
            Some("x\n::warning::from the action"),
        ),
    );
    for dry_run in ["true", "false"] {
        let run = run_action(&fake, &[("dry-run", dry_run)]).await;
        run.assert_code(0);
        assert_eq!(run.count("redelivered-count"), 1);
        for line in run.stdout.lines() {
            for injected in ["::stop-commands::", "::error::from", "::warning::from"] {
                assert!(
                    !line.trim_start().starts_with(injected),
                    "a command from the data: {line}\n{}",
                    run.stdout
                );
            }
        }
        assert!(
            run.stdout.contains(" push%0D%0A::error::from the event"),
            "{}",
            run.stdout
        );
        assert!(!run.summary.contains("<img"), "{}", run.summary);
        assert!(!run.summary.contains("**b**"), "{}", run.summary);
        assert!(run.summary.contains("&lt;img src=x&gt;"), "{}", run.summary);
    }
}

/// Finding 14: with 10,000 failing events the `report` output was 2 MB, over GitHub's
/// 1 MB per output. It is cut to fit, keeps the counts and says so; `--json` keeps all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_output_fits_in_an_output_and_keeps_the_counts() {
    let fake = fake().await;
    fake.add_deliveries(
        &fake_github::Hook::App,
        (0..10_000).map(|i| {
            fake_github::NewDelivery::failed(
                format!("{i:08}-0000-4000-8000-000000000000"),
                minutes_ago(60) + Duration::seconds(i / 10),
            )
        }),
    );
    let mut raw = raw_settings(&fake);
    raw.set("dry-run", "true");
    raw.set("max-redeliveries", "200");
    let run = run_in_process(&fake, raw).await;
    let report = &run.report;
    assert_eq!(report.failed_count(), 10_000);
    let outputs = report.outputs().expect("outputs");
    let output = &outputs
        .iter()
        .find(|(name, _)| *name == "report")
        .expect("a report output")
        .1;
    assert!(output.len() <= 1_000_000, "{} bytes", output.len());
    let value: serde_json::Value = serde_json::from_str(output).expect("JSON");
    assert_eq!(value["truncated"], true);
    assert_eq!(value["hooks"][0]["failing"], 10_000);
    assert_eq!(value["hooks"][0]["redelivered_count"], 200);
    assert_eq!(value["hooks"][0]["deferred_count"], 9_800);
    assert!(
        value["hooks"][0]["deferred"]
            .as_array()
            .expect("a list")
            .len()
            < 9_800
    );

    let full: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(report).expect("JSON")).expect("JSON");
    assert!(full.get("truncated").is_none());
    assert_eq!(
        full["hooks"][0]["deferred"]
            .as_array()
            .expect("a list")
            .len(),
        9_800
    );

    // A small report is the `--json` document itself.
    let small = redeliver_action::report::RunReport {
        hooks: Vec::new(),
        receivers: Vec::new(),
        ..report.clone()
    };
    assert_eq!(
        small.report_output().expect("fits"),
        serde_json::to_string(&small).expect("JSON")
    );
}

/// Finding 16: a checkpoint that cannot be read left outputs and summary empty. They are
/// written now, with nothing redelivered, the error, and `scan-complete=false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_checkpoint_read_still_writes_outputs_that_say_nothing_was_scanned() {
    let fake = fake().await;
    fake.add_delivery(
        &fake_github::Hook::App,
        fake_github::NewDelivery::failed("g", minutes_ago(10)),
    );
    fake.set_variable(REPO, VARIABLE, "yesterday");
    let run = run_action(&fake, &[]).await;
    run.assert_code(1);
    assert_eq!(run.output("redelivered-count"), "0");
    assert_eq!(run.output("failed-count"), "0");
    assert_eq!(run.output("scan-complete"), "false");
    assert!(
        run.output("error").contains("fix or delete it"),
        "{:?}",
        run.outputs
    );
    assert_eq!(
        run.json_output("report")["errors"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        run.summary.contains("stopped before it scanned"),
        "{}",
        run.summary
    );
    assert!(fake.redeliveries().is_empty());

    // A run that scanned says so.
    fake.remove_variable(REPO, VARIABLE);
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert_eq!(run.output("scan-complete"), "true");
    assert_eq!(run.output("error"), "");
}
