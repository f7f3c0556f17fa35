//! Replay (issue 29), in simulated time: a receiver rejects `pull_request` events for two
//! hours and the loop gives them up; after the fix, a replay sends exactly those, once,
//! with an estimate first, and the scheduled runs afterwards leave them to it. Bad windows
//! are refused before any request; the planner's replay rules as a table.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use fake_github::{FakeGitHub, Hook, NewDelivery, Outcome};

use redeliver_action::domain::checkpoint::{HookState, ReplayRecord};
use redeliver_action::domain::delivery::{Delivery, DeliveryId};
use redeliver_action::domain::filter::{EventFilter, parse_event_list};
use redeliver_action::domain::plan::{PlanOptions, plan_redeliveries};
use redeliver_action::domain::replay::{EarlierReplay, ReplayScope, parse_causes};

use crate::util::*;

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A `pull_request` event whose original delivery the receiver answered `400`.
fn rejected(guid: &str, at: DateTime<Utc>) -> NewDelivery {
    NewDelivery::failed(guid, at)
        .outcome(Outcome::HttpStatus(400))
        .event("pull_request", Some("opened"))
}

/// Moves the simulated clock of `fake` (and its runs) to `at`.
fn advance_to(fake: &FakeGitHub, at: DateTime<Utc>) {
    let clock = sim_clock(fake);
    if let Ok(ahead) = (at - clock.now()).to_std() {
        clock.advance(ahead);
    }
}

/// The receiver's fix deployed: a GitHub holding everything `broken` held (deliveries,
/// ids, the checkpoint variable) at the same time, whose receiver takes what it rejected.
/// The fake cannot stop refusing an event (`set_receiver_refusing` has no way back), so
/// the history moves to a second one.
async fn after_the_fix(broken: &FakeGitHub) -> FakeGitHub {
    let fixed = fake().await;
    advance_to(&fixed, sim_clock(broken).now());
    broken.record_queued_results();
    for delivery in broken.deliveries(&Hook::App).into_iter().rev() {
        let text = |field: &str| delivery[field].as_str().map(str::to_owned);
        let code = u16::try_from(delivery["status_code"].as_u64().unwrap_or(0)).expect("a code");
        let outcome = match text("status").as_deref() {
            Some("OK") => Outcome::Delivered(code),
            Some("timed out") => Outcome::TimedOut,
            Some("failed to connect") => Outcome::FailedToConnect,
            _ => Outcome::HttpStatus(code),
        };
        fixed.add_delivery(
            &Hook::App,
            NewDelivery {
                guid: text("guid").expect("a guid"),
                delivered_at: text("delivered_at")
                    .expect("a time")
                    .parse()
                    .expect("RFC 3339"),
                outcome,
                event: text("event").expect("an event"),
                action: text("action"),
                redelivery: delivery["redelivery"].as_bool().unwrap_or(false),
                id: delivery["id"].as_u64(),
                duration: delivery["duration"].as_f64(),
            },
        );
    }
    if let Some(document) = broken.variable(REPO, VARIABLE) {
        fixed.set_variable(REPO, VARIABLE, &document);
    }
    fixed
}

fn guids(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn sorted(mut guids: Vec<String>) -> Vec<String> {
    guids.sort();
    guids
}

/// The outage: originals from `start` on, the receiver rejecting every `pull_request`
/// redelivery (and the poison push `x1`) until the fix three hours later, the scheduled
/// loop every 20 minutes. Returns the events by name.
async fn two_hours_of_rejected_pull_requests(fake: &FakeGitHub, start: DateTime<Utc>) {
    let minutes = |m: i64| start + Duration::minutes(m);
    let mut deliveries = vec![
        // Before the replay's window.
        rejected("p0", minutes(-30)),
        // The other event, the other cause, one delivered since, one pending.
        NewDelivery::failed("x1", minutes(15))
            .outcome(Outcome::HttpStatus(400))
            .event("push", None),
        rejected("pt", minutes(35)).outcome(Outcome::TimedOut),
        rejected("pd", minutes(50)),
        rejected("pq", minutes(55)),
        // After the window: still open for the loop when the fix comes.
        rejected("late", minutes(150)),
        NewDelivery::ok("fine-1", minutes(10)),
        NewDelivery::ok("fine-2", minutes(70)),
    ];
    for (i, guid) in ["p1", "p2", "p3", "p4", "p5", "p6"].iter().enumerate() {
        deliveries.push(rejected(guid, minutes(5 + 20 * i as i64)));
    }
    fake.add_deliveries(&Hook::App, deliveries);
    for guid in [
        "p0", "p1", "p2", "p3", "p4", "p5", "p6", "pt", "pd", "pq", "late", "x1",
    ] {
        fake.set_receiver_refusing(guid);
    }
    for run in 1..=9 {
        advance_to(fake, minutes(20 * run));
        let loop_run = run_in_process(fake, raw_settings(fake)).await;
        assert!(loop_run.report.succeeded(), "{}", loop_run.log);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_fix_a_replay_sends_exactly_what_was_rejected_once() {
    let broken = fake().await;
    // Whole seconds, as GitHub records times.
    let start = sim_clock(&broken).now().trunc_subsecs(0);
    let minutes = |m: i64| start + Duration::minutes(m);
    two_hours_of_rejected_pull_requests(&broken, start).await;
    let document = stored_document(&broken);
    for guid in ["p1", "p2", "p3", "p4", "p5", "p6", "pq", "pt", "x1", "pd"] {
        assert_eq!(
            document["hooks"]["app"]["events"][guid]["given_up"], true,
            "{guid}: {document}"
        );
    }
    let checkpoint = stored_checkpoint(&broken, "app");

    // The fix; the owner checks one event by hand in GitHub's UI.
    let fixed = after_the_fix(&broken).await;
    advance_to(&fixed, minutes(182));
    fixed.add_delivery(
        &Hook::App,
        NewDelivery::ok("pd", minutes(182))
            .redelivery(true)
            .event("pull_request", Some("opened")),
    );
    // A first, narrow replay of `pq` whose result GitHub lists late: pending.
    advance_to(&fixed, minutes(185));
    fixed.set_redelivery_result_delay(std::time::Duration::from_secs(7200));
    let narrow = run_in_process(
        &fixed,
        raw_settings(&fixed)
            .with("replay-since", stamp(minutes(54)))
            .with("replay-until", stamp(minutes(56))),
    )
    .await;
    assert_eq!(
        narrow.report.redelivered_guids(),
        vec!["pq"],
        "{}",
        narrow.log
    );
    let results = narrow
        .report
        .replay
        .as_ref()
        .and_then(|r| r.results.clone());
    assert_eq!(results.map(|r| r.not_listed), Some(1));
    fixed.set_redelivery_result_delay(std::time::Duration::from_secs(2));

    // The estimate: ages, as a person types them.
    advance_to(&fixed, minutes(190));
    let age = |at: DateTime<Utc>| format!("{}s", (sim_clock(&fixed).now() - at).num_seconds());
    let replay = |since: String, until: String| {
        raw_settings(&fixed)
            .with("replay-since", since)
            .with("replay-until", until)
            .with("events", "pull_request")
            .with("replay-causes", "HTTP 400")
    };
    let requests_before = fixed.redeliveries().len();
    let estimate = run_in_process(
        &fixed,
        replay(age(start), age(minutes(120))).with("dry-run", "true"),
    )
    .await;
    let six = guids(&["p1", "p2", "p3", "p4", "p5", "p6"]);
    let would: Vec<String> = estimate
        .report
        .redelivered_guids()
        .iter()
        .map(|g| (*g).to_owned())
        .collect();
    assert_eq!(sorted(would), six, "{}", estimate.log);
    assert_eq!(
        fixed.redeliveries().len(),
        requests_before,
        "a dry run sends nothing"
    );
    let told = estimate.report.replay.clone().expect("a replay report");
    assert_eq!(told.selected, 6);
    assert_eq!(told.pending, 1, "pq is pending from the first replay");
    assert_eq!(
        told.by_event,
        BTreeMap::from([("pull_request".to_owned(), 6)])
    );
    assert_eq!(told.by_cause, BTreeMap::from([("HTTP 400".to_owned(), 6)]));
    assert_eq!(told.by_hook, BTreeMap::from([("app".to_owned(), 6)]));
    assert_eq!(told.oldest, Some(minutes(5)));
    assert_eq!(told.newest, Some(minutes(105)));
    assert_eq!(told.results, None);
    let summary = estimate.report.summary_markdown();
    assert!(
        summary.contains("### Replay (dry run: nothing was sent)"),
        "{summary}"
    );
    assert!(summary.contains("Would send **6** event(s)"), "{summary}");
    let outputs: BTreeMap<&str, String> = estimate
        .report
        .outputs()
        .expect("outputs")
        .into_iter()
        .collect();
    assert_eq!(outputs["redelivered-count"], "6");
    let output: serde_json::Value = serde_json::from_str(&outputs["replay"]).expect("JSON");
    assert_eq!(output["selected"], 6);
    assert_eq!(output["dry_run"], true);

    // The replay: one event still refused after the fix (p3).
    fixed.set_receiver_refusing("p3");
    let sent = run_in_process(&fixed, replay(stamp(start), stamp(minutes(120)))).await;
    assert!(sent.report.succeeded(), "{}", sent.log);
    let redelivered: Vec<String> = sent
        .report
        .redelivered_guids()
        .iter()
        .map(|g| (*g).to_owned())
        .collect();
    assert_eq!(sorted(redelivered), six, "{}", sent.log);
    let mut expected: BTreeMap<String, usize> = six.iter().map(|g| (g.clone(), 1)).collect();
    expected.insert("pq".to_owned(), 1);
    assert_eq!(
        redelivered_guids(&fixed),
        expected,
        "each exactly once, nothing else"
    );
    let told = sent.report.replay.clone().expect("a replay report");
    let results = told.results.expect("results");
    assert_eq!(
        (results.delivered, results.failed_again, results.not_listed),
        (5, 1, 0)
    );
    let outputs: BTreeMap<&str, String> = sent
        .report
        .outputs()
        .expect("outputs")
        .into_iter()
        .collect();
    let output: serde_json::Value = serde_json::from_str(&outputs["replay"]).expect("JSON");
    assert_eq!(output["results"]["failed_again"], 1);
    assert!(
        sent.report
            .summary_markdown()
            .contains("**5** delivered, **1** failed again")
    );
    // The scheduled checkpoint did not move; one record per replay.
    assert_eq!(stored_checkpoint(&fixed, "app"), checkpoint);
    let document = stored_document(&fixed);
    let replays = document["replays"].as_array().expect("replays");
    assert_eq!(replays.len(), 2, "{document}");
    assert_eq!(replays[1]["sent"], 6);
    assert_eq!(replays[1]["causes"], serde_json::json!(["HTTP 400"]));
    assert_eq!(replays[1]["events"], serde_json::json!(["pull_request"]));
    assert_eq!(replays[1]["through"], stamp(minutes(105)));

    // The next scheduled run sends none of them again and gives none up: only `late`,
    // which the loop still had open, goes.
    advance_to(&fixed, minutes(220));
    fixed.record_queued_results();
    let scheduled = run_in_process(&fixed, raw_settings(&fixed)).await;
    assert!(scheduled.report.succeeded(), "{}", scheduled.log);
    assert_eq!(
        scheduled.report.redelivered_guids(),
        vec!["late"],
        "{}",
        scheduled.log
    );
    assert_eq!(
        scheduled.report.given_up_count(),
        0,
        "fail-on's given-up stays quiet"
    );
    assert_eq!(redelivered_guids(&fixed).values().sum::<usize>(), 8);
    assert_no_unexpected(&fixed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_leaves_what_a_replay_sent_to_it() {
    // `old` is too old for the loop's `max-age`; `open` has one attempt of two left. Both
    // are replayed and rejected again: the loop neither sends them nor gives them up.
    let fake = fake().await;
    let start = sim_clock(&fake).now();
    let minutes = |m: i64| start + Duration::minutes(m);
    fake.add_deliveries(
        &Hook::App,
        [
            rejected("old", minutes(-180)),
            rejected("open", minutes(-10)),
        ],
    );
    fake.set_receiver_refusing("old");
    fake.set_receiver_refusing("open");
    let scheduled = || {
        raw_settings(&fake)
            .with("max-age", "1h")
            .with("max-attempts", "2")
    };
    let first = run_in_process(&fake, scheduled()).await;
    assert_eq!(first.report.redelivered_guids(), vec!["open"]);
    assert_eq!(first.report.too_old_count(), 1);

    advance_to(&fake, minutes(10));
    let replay = run_in_process(&fake, raw_settings(&fake).with("replay-since", "4h")).await;
    assert_eq!(
        sorted(
            replay
                .report
                .redelivered_guids()
                .iter()
                .map(|g| (*g).to_owned())
                .collect()
        ),
        guids(&["old", "open"])
    );
    let results = replay
        .report
        .replay
        .and_then(|r| r.results)
        .expect("results");
    assert_eq!(results.failed_again, 2);

    advance_to(&fake, minutes(30));
    let after = run_in_process(&fake, scheduled()).await;
    assert!(after.report.redelivered_guids().is_empty(), "{}", after.log);
    assert_eq!(after.report.given_up_count(), 0);
    assert_eq!(after.report.too_old_count(), 0);
    let replayed: usize = after
        .report
        .hooks
        .iter()
        .map(|hook| hook.found.replayed_before)
        .sum();
    assert_eq!(replayed, 2, "{}", after.log);
    assert!(
        after
            .report
            .summary_markdown()
            .contains("2 failing event(s) were sent by an earlier replay: left to it")
    );
    assert_eq!(
        redelivered_guids(&fake),
        BTreeMap::from([("old".to_owned(), 1), ("open".to_owned(), 2)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_down_receiver_costs_at_most_three_redeliveries() {
    let fake = fake().await;
    let start = sim_clock(&fake).now();
    fake.add_deliveries(
        &Hook::App,
        (0..40).map(|i| rejected(&format!("e{i:02}"), start - Duration::minutes(100 - i))),
    );
    fake.set_receiver_down(true);
    let run = run_in_process(&fake, raw_settings(&fake).with("replay-since", "2h")).await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert!(
        fake.redeliveries().len() <= 3,
        "{}",
        fake.redeliveries().len()
    );
    let told = run.report.replay.clone().expect("a replay report");
    assert!(told.receiver_down);
    assert_eq!(told.selected, 40);
    assert_eq!(told.not_sent + told.redelivered, 40);
    assert!(
        run.report
            .summary_markdown()
            .contains("The receiver still fails (down, or rejecting what it rejected)")
    );
    // Its canaries failed again (listed), the rest was never sent: the replay run again
    // once the receiver answers sends all of them, each once.
    fake.set_receiver_down(false);
    let canaries = fake.redeliveries().len();
    let again = run_in_process(&fake, raw_settings(&fake).with("replay-since", "2h")).await;
    assert!(again.report.succeeded(), "{}", again.log);
    assert_eq!(again.report.redelivered_count(), 40, "{}", again.log);
    assert_eq!(fake.redeliveries().len(), 40 + canaries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_still_rejecting_what_it_rejected_costs_at_most_three() {
    // The fix is not deployed yet: the receiver still answers 400.
    let fake = fake().await;
    let start = sim_clock(&fake).now();
    fake.add_deliveries(
        &Hook::App,
        (0..20).map(|i| rejected(&format!("e{i:02}"), start - Duration::minutes(100 - i))),
    );
    for i in 0..20 {
        fake.set_receiver_refusing(&format!("e{i:02}"));
    }
    let run = run_in_process(
        &fake,
        raw_settings(&fake)
            .with("replay-since", "2h")
            .with("replay-causes", "HTTP 400"),
    )
    .await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert_eq!(fake.redeliveries().len(), 3, "{}", run.log);
    assert!(
        run.log
            .contains("3 canary(ies) of the receiver of `app` failed (Invalid HTTP Response: 400)"),
        "{}",
        run.log
    );
    assert!(run.report.receiver_down());
    let told = run.report.replay.clone().expect("a replay report");
    assert_eq!((told.redelivered, told.not_sent), (3, 17));
    assert_eq!(told.results.map(|r| r.failed_again), Some(3));
    // The canaries were the oldest: the record's prefix names them exactly.
    let document = stored_document(&fake);
    assert_eq!(
        document["replays"][0]["through"],
        stamp(start.trunc_subsecs(0) - Duration::minutes(98))
    );
}

/// A bad window, as the runner passes inputs: exit 2, one `::error::` line naming the
/// input, and no request.
async fn refused(inputs: &[(&str, &str)], input: &str) {
    let fake = fake().await;
    let run = run_action(&fake, inputs).await;
    run.assert_code(2);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("::error::"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(
        errors[0].starts_with(&format!("::error::input `{input}` ")),
        "{}",
        errors[0]
    );
    assert!(
        fake.requests().is_empty(),
        "no request: {:?}",
        fake.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_window_is_refused_before_any_request_as_one_line() {
    // The fake is not github.com: GitHub Enterprise Server's 7 days.
    refused(
        &[("replay-since", "10d"), ("replay-until", "8d")],
        "replay-until",
    )
    .await;
    refused(&[("replay-since", "2099-01-01T00:00:00Z")], "replay-since").await;
    refused(
        &[
            ("replay-since", "2h"),
            ("replay-until", "2099-01-01T00:00:00Z"),
        ],
        "replay-until",
    )
    .await;
    refused(
        &[("replay-since", "1h"), ("replay-until", "2h")],
        "replay-until",
    )
    .await;
    refused(&[("replay-until", "1h")], "replay-until").await;
    refused(&[("replay-causes", "HTTP 400")], "replay-causes").await;
    refused(&[("replay-since", "yesterday")], "replay-since").await;
    refused(
        &[("replay-since", "6h"), ("replay-causes", "HTTP 200")],
        "replay-causes",
    )
    .await;

    let folder = tempfile::tempdir().expect("temp dir");
    let fake = fake().await;
    let run = run_cli(
        folder.path(),
        &[
            "--every",
            "5m",
            "--replay-since",
            "6h",
            "--token",
            TOKEN,
            "--hooks",
            "repo/octo/demo/1",
            "--api-url",
            &fake.url(),
        ],
        &[],
    )
    .await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("`--replay-since` cannot go with `--every`"),
        "{}",
        run.stderr
    );
    assert!(fake.requests().is_empty());
}

#[test]
fn a_window_partly_past_the_retention_is_narrowed_with_a_warning() {
    let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().expect("a time");
    let settings = Args::new()
        .with("token", TOKEN)
        .with("state", "none")
        .with("hooks", "repo/octo/demo/1")
        .with("replay-since", "5d")
        .cli();
    let settings = redeliver_action::config::settings::Settings::resolve_at(&settings, now)
        .expect("narrowed, not refused");
    assert_eq!(
        settings.warnings(),
        [
            "`--replay-since` (2026-12-02T12:00:00Z) is older than GitHub keeps deliveries (3 days): the replay starts at 2026-12-04T12:00:00Z instead"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_replays_as_the_runner_passes_the_inputs() {
    let fake = fake().await;
    fake.set_redelivery_result_delay(std::time::Duration::ZERO);
    fake.add_delivery(&Hook::App, rejected("gone", minutes_ago(90)));
    for minutes in [80, 70, 60] {
        fake.add_delivery(
            &Hook::App,
            rejected("gone", minutes_ago(minutes)).redelivery(true),
        );
    }
    fake.add_delivery(
        &Hook::App,
        rejected("other", minutes_ago(30)).outcome(Outcome::TimedOut),
    );
    let run = run_action(
        &fake,
        &[("replay-since", "2h"), ("replay-causes", "HTTP 4xx")],
    )
    .await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 1, "{}", run.stdout);
    assert_eq!(run.output("redelivered-guids"), r#"["gone"]"#);
    let replay = run.json_output("replay");
    assert_eq!(replay["causes"], serde_json::json!(["HTTP 4xx"]));
    assert_eq!(replay["results"]["delivered"], 1, "{replay}");
    assert!(run.summary.contains("### Replay"), "{}", run.summary);
    assert_eq!(
        redelivered_guids(&fake),
        BTreeMap::from([("gone".to_owned(), 1)])
    );
    assert_no_unexpected(&fake);
}

// --- The planner's replay rules, as a table.

fn at(minutes: i64) -> DateTime<Utc> {
    "2026-12-07T12:00:00Z"
        .parse::<DateTime<Utc>>()
        .expect("a time")
        + Duration::minutes(minutes)
}

fn delivery(id: u64, guid: &str, minutes: i64, status_code: u16) -> Delivery<'static> {
    Delivery {
        id: DeliveryId(id),
        guid: guid.to_owned().into(),
        delivered_at: at(minutes),
        redelivery: false,
        status: if status_code == 200 {
            "OK".into()
        } else if status_code == 0 {
            "timed out".into()
        } else {
            format!("Invalid HTTP Response: {status_code}").into()
        },
        status_code,
        event: "pull_request".into(),
        action: None,
        duration: None,
    }
}

fn scope(events: &str, causes: &str) -> ReplayScope {
    ReplayScope {
        since: at(-120),
        until: at(-60),
        filter: EventFilter {
            include: parse_event_list(events).expect("events"),
            exclude: Vec::new(),
        },
        causes: parse_causes(causes).expect("causes"),
    }
}

fn replaying(scope: ReplayScope, earlier: Vec<ReplayRecord>) -> PlanOptions {
    let mut options = plan_options(&[("max-attempts", "3"), ("max-age", "10m")]);
    options.replays.current = Some(scope);
    options.replays.earlier = earlier
        .iter()
        .filter_map(EarlierReplay::from_record)
        .collect();
    options
}

#[test]
fn a_replay_selects_by_window_event_and_cause_whatever_the_loop_did() {
    let redelivery = |id, guid, minutes, code| Delivery {
        redelivery: true,
        ..delivery(id, guid, minutes, code)
    };
    let push = |id, guid, minutes| Delivery {
        event: "push".into(),
        ..delivery(id, guid, minutes, 400)
    };
    let deliveries = vec![
        delivery(1, "before", -130, 400),
        delivery(2, "given-up", -110, 400),
        redelivery(3, "given-up", -100, 400),
        delivery(4, "at-the-cap", -105, 400),
        redelivery(5, "at-the-cap", -104, 400),
        redelivery(6, "at-the-cap", -103, 400),
        redelivery(7, "at-the-cap", -102, 400),
        delivery(8, "push", -100, 400),
        push(9, "a-push", -95),
        delivery(10, "timed-out", -90, 0),
        delivery(11, "delivered", -85, 400),
        redelivery(12, "delivered", -20, 200),
        delivery(13, "pending", -80, 400),
        delivery(14, "earlier-replay", -75, 400),
        delivery(15, "after", -50, 400),
        delivery(16, "a-503", -70, 503),
    ];
    let mut state = HookState::default();
    state.record_given_up("given-up", at(-90));
    state.record_pending("pending", at(-5));
    let earlier = ReplayRecord {
        since: at(-76),
        until: at(-74),
        through: Some(at(-75)),
        ..scope("pull_request", "HTTP 400").record(at(-3), 1, None)
    };
    let plan = plan_redeliveries(
        deliveries,
        &state,
        at(0),
        &replaying(scope("pull_request", "HTTP 4xx"), vec![earlier]),
    );
    let sent: Vec<&str> = plan
        .redeliver
        .iter()
        .map(|p| p.summary.guid.as_str())
        .collect();
    assert_eq!(
        sent,
        ["given-up", "at-the-cap", "push"],
        "oldest first, whatever the loop did"
    );
    let pending: Vec<&str> = plan.found.pending.iter().map(|e| e.guid.as_str()).collect();
    assert_eq!(pending, ["pending", "earlier-replay"]);
    let filtered: Vec<&str> = plan
        .found
        .filtered
        .iter()
        .map(|e| e.guid.as_str())
        .collect();
    assert_eq!(filtered, ["a-push", "timed-out", "a-503"]);
    assert!(plan.found.given_up.is_empty() && plan.found.too_old.is_empty());
    assert_eq!(
        plan.receiver_up, None,
        "a replay's canary always goes first"
    );

    // Once the earlier replay's result is listed (failed again), a new replay may send it.
    let listed = vec![
        delivery(14, "earlier-replay", -75, 400),
        redelivery(20, "earlier-replay", -2, 400),
    ];
    let earlier = ReplayRecord {
        through: Some(at(-75)),
        ..scope("", "").record(at(-3), 1, None)
    };
    let again = plan_redeliveries(
        listed,
        &HookState::default(),
        at(0),
        &replaying(scope("", ""), vec![earlier]),
    );
    assert_eq!(again.redeliver.len(), 1);
}
