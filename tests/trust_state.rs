//! Issue 16, "trust nothing it is told": the planner and the state file. GUIDs from GitHub, times in
//! the stored document and the state file itself are taken as they are, not as assumed.
//! Each test reproduces one finding of the issue.

use chrono::{DateTime, Duration, Utc};
use redeliver_action::domain::checkpoint::{EventRecord, HookState};
use redeliver_action::domain::delivery::{Delivery, DeliveryId};
use redeliver_action::domain::plan::{PlanOptions, plan_redeliveries};
use redeliver_action::domain::window::{WindowOptions, scan_window};

use crate::util::*;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid time")
}

fn plan_options() -> PlanOptions {
    crate::util::plan_options(&[("max-attempts", "3"), ("max-redeliveries", "100")])
}

fn delivery(id: u64, guid: &str, status: &str) -> Delivery<'static> {
    Delivery {
        id: DeliveryId(id),
        guid: guid.to_owned().into(),
        delivered_at: at("2026-11-28T11:00:00Z"),
        redelivery: false,
        status: status.to_owned().into(),
        status_code: if status == "OK" { 200 } else { 503 },
        event: "push".into(),
        action: None,
        duration: Some(0.5),
    }
}

/// Finding 5: GitHub's GUIDs are compared as GitHub sends them; the upper-case spelling of
/// a delivered event's UUID is another event, still failing.
#[test]
fn guids_that_differ_only_in_case_are_two_events() {
    let lower = "0b989ba4-242f-11e5-81e1-c7b6966d2516";
    let upper = lower.to_uppercase();
    for deliveries in [
        vec![delivery(1, lower, "OK"), delivery(2, &upper, "failed")],
        vec![delivery(2, &upper, "failed"), delivery(1, lower, "OK")],
    ] {
        let plan = plan_redeliveries(
            deliveries,
            &HookState::default(),
            at("2026-11-28T12:00:00Z"),
            &plan_options(),
        );
        assert_eq!(plan.found.failing, 1, "{plan:?}");
        assert_eq!(plan.redeliver.len(), 1, "{plan:?}");
        assert_eq!(plan.redeliver[0].summary.guid, upper);
    }
    // The bookkeeping of the upper-case event is not resolved by the lower-case delivery.
    let mut state = HookState::default();
    state.record_given_up(&upper, at("2026-11-28T10:00:00Z"));
    let plan = plan_redeliveries(
        vec![delivery(1, lower, "OK")],
        &state,
        at("2026-11-28T12:00:00Z"),
        &plan_options(),
    );
    assert!(plan.resolved.is_empty(), "{plan:?}");
}

/// Finding 9: durations from outside meet times with checked arithmetic; the earliest
/// instants chrono can hold (a hostile state document) do not panic the planner.
#[test]
fn extreme_durations_and_times_do_not_overflow_the_planner() {
    let now = at("2026-11-28T12:00:00Z");
    let window = scan_window(
        None,
        now,
        &WindowOptions {
            first_run_lookback: Duration::MAX,
            overlap: Duration::minutes(5),
            retention: Duration::days(3),
        },
    );
    assert_eq!(window.since, now - Duration::days(3));
    let window = scan_window(
        Some(DateTime::<Utc>::MIN_UTC),
        now,
        &WindowOptions {
            first_run_lookback: Duration::days(1),
            overlap: Duration::minutes(5),
            retention: Duration::MAX,
        },
    );
    assert_eq!(window.since, DateTime::<Utc>::MIN_UTC);

    let mut state = HookState::default();
    let earliest = DateTime::<Utc>::MIN_UTC.timestamp();
    let record: EventRecord =
        serde_json::from_str(&format!(r#"{{"attempts":1,"last_attempt":{earliest}}}"#))
            .expect("the earliest time is a valid record");
    state.events.insert("g".into(), record);
    let plan = plan_redeliveries(
        vec![delivery(1, "g", "failed")],
        &state,
        at("2026-11-28T12:00:00Z"),
        &plan_options(),
    );
    assert_eq!(plan.redeliver.len(), 1, "{plan:?}");
}

/// Runs the CLI against `fake` with the state in `state`.
async fn run_with_state(
    fake: &fake_github::FakeGitHub,
    folder: &std::path::Path,
    state: &std::path::Path,
) -> Run {
    let args = app_on_command_line(&fake.url(), folder)
        .with("state", format!("file:{}", state.display()))
        .with("redelivery-interval", "0s");
    let argv = args.argv();
    let run = run_cli(folder, &argv, &[]);
    // A guard against the hang this finding was about, not a timing assertion.
    tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the run ends")
}

fn mkfifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a C path");
    // SAFETY: `name` is a valid NUL-terminated path that outlives the call.
    let result = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
    assert_eq!(result, 0, "mkfifo");
}

/// Finding 15: the state file is only ever a regular file. A symbolic link was replaced by
/// a regular file (its target went stale), a FIFO hung the run, a link to `/dev/zero` read
/// until memory ran out, a `PATH.lock` link was followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_file_must_be_a_small_regular_file_and_links_are_never_followed() {
    let fake = fake().await;
    let folder = tempfile::tempdir().expect("temp dir");
    let dir = folder.path();

    let target = dir.join("real.json");
    std::fs::write(&target, r#"{"version":1,"hooks":{}}"#).expect("written");
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&target, &link).expect("a link");
    let run = run_with_state(&fake, dir, &link).await;
    run.assert_code(2);
    assert!(run.stderr.contains("a symbolic link"), "{}", run.stderr);
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("still there")
            .file_type()
            .is_symlink()
    );

    let zero = dir.join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("a link");
    let run = run_with_state(&fake, dir, &zero).await;
    run.assert_code(2);
    assert!(run.stderr.contains("a symbolic link"), "{}", run.stderr);

    let fifo = dir.join("fifo.json");
    mkfifo(&fifo);
    let run = run_with_state(&fake, dir, &fifo).await;
    run.assert_code(2);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);

    let locked = dir.join("locked.json");
    let elsewhere = dir.join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, dir.join("locked.json.lock")).expect("a link");
    let run = run_with_state(&fake, dir, &locked).await;
    run.assert_code(2);
    assert!(run.stderr.contains("the lock file"), "{}", run.stderr);
    assert!(!elsewhere.exists(), "the lock link was followed");

    let big = dir.join("big.json");
    std::fs::write(&big, vec![b' '; 2 * 1024 * 1024]).expect("written");
    let run = run_with_state(&fake, dir, &big).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("larger than 1024 KiB"),
        "{}",
        run.stderr
    );
    assert!(fake.redeliveries().is_empty());
}

/// Finding 15: fields a newer minor version writes survive this version's rewrite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_of_the_state_file_survive_a_run() {
    let fake = fake().await;
    let folder = tempfile::tempdir().expect("temp dir");
    let state = folder.path().join("state.json");
    let checkpoint = redeliver_action::report::rfc3339(minutes_ago(60));
    std::fs::write(
        &state,
        format!(
            r#"{{"version":1,"written_by":"v1.9","hooks":{{"app":{{"checkpoint":"{checkpoint}","cursor":"abc"}}}}}}"#
        ),
    )
    .expect("written");
    let run = run_with_state(&fake, folder.path(), &state).await;
    run.assert_code(0);
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("read")).expect("JSON");
    assert_eq!(value["written_by"], "v1.9", "{value}");
    assert_eq!(value["hooks"]["app"]["cursor"], "abc", "{value}");
    assert_ne!(
        value["hooks"]["app"]["checkpoint"],
        checkpoint.as_str(),
        "{value}"
    );
}
