//! The drain keeps going (issue 31): a redelivery GitHub does not take does not stop the
//! queue behind it, only GitHub looking down as a whole does; a pace slowed by a limit
//! speeds up again. In simulated time: every wait is measured on the clock the run and the
//! fake share, never slept.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use fake_github::{FakeGitHub, Fault, FaultKind, Hook};
use redeliver_action::domain::checkpoint::HookState;
use redeliver_action::domain::plan::{NOT_TAKEN_RUNS, NotTaken, not_taken_verdict};
use redeliver_action::report::PaceReason;

use crate::util::*;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// The id of the first failed delivery of `guid`: what the drain redelivers while the event
/// has never been redelivered.
fn delivery_id(fake: &FakeGitHub, guid: &str) -> u64 {
    fake.deliveries(&Hook::App)
        .iter()
        .find(|delivery| delivery["guid"] == guid && delivery["redelivery"] == false)
        .and_then(|delivery| delivery["id"].as_u64())
        .expect("the event's delivery")
}

/// The POST redelivering `guid` answers 500 every time, retries included.
fn never_taken(fake: &FakeGitHub, guid: &str) {
    let path = Hook::App.attempts_path(delivery_id(fake, guid));
    fake.push_fault(
        Fault::new(&path, FaultKind::Status(500))
            .method("POST")
            .times(usize::MAX / 2),
    );
}

/// Successful deliveries of redeliveries listed, by GUID.
fn delivered(fake: &FakeGitHub) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for delivery in fake.deliveries(&Hook::App) {
        if delivery["redelivery"] == true && delivery["status"] == "OK" {
            let guid = delivery["guid"].as_str().expect("a guid").to_owned();
            *counts.entry(guid).or_insert(0) += 1;
        }
    }
    counts
}

fn stored_event(fake: &FakeGitHub, guid: &str) -> serde_json::Value {
    stored_document(fake)["hooks"]["app"]["events"][guid].clone()
}

/// The run's settings at the default pace, one redelivery a second, with `flags`.
fn settings(fake: &FakeGitHub, flags: &[(&str, &str)]) -> Args {
    let mut raw = raw_settings(fake);
    raw.set("redelivery-interval", "1s");
    for (flag, value) in flags {
        raw.set(flag, *value);
    }
    raw
}

/// The rule in the planner: two runs in a row cost nothing, the third is like a refusal.
#[test]
fn not_taken_three_runs_in_a_row_is_like_a_refusal() {
    assert_eq!(NOT_TAKEN_RUNS, 3);
    assert_eq!(not_taken_verdict(0), NotTaken::Open);
    assert_eq!(not_taken_verdict(1), NotTaken::Open);
    assert_eq!(not_taken_verdict(2), NotTaken::LikeRefused);
    assert_eq!(not_taken_verdict(u32::MAX), NotTaken::LikeRefused);
    let mut state = HookState::default();
    let at = Utc::now();
    state.record_not_taken("g", at);
    state.record_not_taken("g", at);
    assert_eq!(state.not_taken_runs("g"), 2);
    state.drop_what_the_list_tells();
    assert_eq!(
        state.not_taken_runs("g"),
        2,
        "kept: the list cannot tell it"
    );
    state.record_taken("g");
    assert_eq!(state.not_taken_runs("g"), 0);
    state.drop_what_the_list_tells();
    assert!(state.events.is_empty());
}

/// One delivery whose POST always answers 500 (after the client's retries) is left open
/// for the next run, with its error in the report; the 200 behind it are redelivered, the
/// run succeeds, and the checkpoint stays before the open event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_delivery_github_never_takes_does_not_stop_the_200_behind_it() {
    let fake = fake().await;
    let first = fake.now() - chrono::Duration::hours(3);
    let guids = failed_events(&fake, "a", 201, first, chrono::Duration::seconds(30));
    never_taken(&fake, &guids[0]);
    let run = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(
        run.report.succeeded(),
        "{:?}\n{}",
        run.report.errors,
        run.log
    );
    assert_eq!(run.report.redelivered_count(), 200);
    assert!(!run.report.redelivered_guids().contains(&guids[0].as_str()));
    let hook = &run.report.hooks[0];
    assert_eq!(hook.not_taken.len(), 1);
    let not_taken = &hook.not_taken[0];
    assert_eq!(not_taken.event.guid, guids[0]);
    assert_eq!(not_taken.runs, 1);
    assert!(
        not_taken.error.contains("answered 500"),
        "{}",
        not_taken.error
    );
    assert!(hook.refused.is_empty() && hook.found.given_up.is_empty());
    let outputs = run.report.outputs().expect("outputs");
    assert!(outputs.contains(&("not-taken-count", "1".to_owned())));
    assert!(outputs.contains(&("deferred-count", "1".to_owned())));
    assert!(
        run.log.contains(&format!(
            "GitHub did not take the redelivery of {}",
            guids[0]
        )),
        "{}",
        run.log
    );
    // Open: the checkpoint stays at its first failure, and the bookkeeping counts the run.
    assert!(stored_checkpoint(&fake, "app") <= first);
    assert_eq!(stored_event(&fake, &guids[0])["not_taken"], 1);
    // 5 POSTs of the event (4 retries), 201 others' and no more.
    assert_eq!(count_requests(&fake, "POST", "/attempts"), 5 + 200);
    let report: serde_json::Value =
        serde_json::from_str(&run.report.report_output().expect("report")).expect("json");
    assert_eq!(
        report["hooks"][0]["not_taken"][0]["guid"],
        guids[0].as_str()
    );
    assert_eq!(report["hooks"][0]["not_taken"][0]["runs"], 1);
    assert_no_unexpected(&fake);
}

/// An event GitHub never takes costs nothing for two runs, is reported like a refusal
/// (an attempt, the run fails) from the third on, and is given up after `max-attempts`: it
/// can neither block the queue nor loop forever. GitHub taking it once ends the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_github_never_takes_is_refused_from_its_third_run_then_given_up() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let guids = failed_events(
        &fake,
        "n",
        3,
        fake.now() - chrono::Duration::hours(1),
        chrono::Duration::minutes(1),
    );
    never_taken(&fake, &guids[0]);
    let raw = settings(&fake, &[("max-attempts", "2")]);
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(run_in_process(&fake, raw.clone()).await);
        clock.advance(6 * HOUR);
    }
    let runs_of = |run: &InProcess| run.report.hooks[0].not_taken.first().map(|n| n.runs);
    assert_eq!(runs_of(&runs[0]), Some(1));
    assert_eq!(runs[0].report.redelivered_count(), 2);
    assert!(runs[0].report.succeeded());
    assert_eq!(runs_of(&runs[1]), Some(2));
    assert!(runs[1].report.succeeded(), "{}", runs[1].log);
    for run in &runs[2..4] {
        let refused = &run.report.hooks[0].refused;
        assert_eq!(refused.len(), 1, "{}", run.log);
        assert!(
            refused[0].reason.contains("did not take it in"),
            "{}",
            refused[0].reason
        );
        assert!(run.report.hooks[0].not_taken.is_empty());
        assert!(!run.report.succeeded(), "like a refusal: exit 1");
    }
    assert_eq!(
        runs[3].report.hooks[0].refused[0].event.previous_attempts,
        1
    );
    assert_eq!(runs[4].report.given_up_guids(), [guids[0].as_str()]);
    assert!(runs[4].report.succeeded());
    assert_eq!(count_requests(&fake, "POST", "/attempts"), 2 + 4 * 5);
    // A sixth run: nothing left to try.
    fake.clear_requests();
    let sixth = run_in_process(&fake, raw).await;
    assert_eq!(
        count_requests(&fake, "POST", "/attempts"),
        0,
        "{}",
        sixth.log
    );
}

/// Three redeliveries in a row not taken: GitHub looks down, and the run stops as before
/// (exit 1, the checkpoint held); the three are open for the next run, which goes on
/// without repeating anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_redeliveries_in_a_row_not_taken_stop_the_run_as_before() {
    let fake = fake().await;
    let before = fake.now() - chrono::Duration::hours(2);
    fake.set_variable(REPO, VARIABLE, &before.timestamp_millis().to_string());
    let guids = failed_events(
        &fake,
        "d",
        10,
        fake.now() - chrono::Duration::hours(1),
        chrono::Duration::minutes(1),
    );
    fake.push_fault(
        Fault::new("/attempts", FaultKind::Status(502))
            .method("POST")
            .skip(3)
            .times(3 * 5),
    );
    let broken = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(!broken.report.succeeded());
    assert!(
        broken.report.errors[0].contains("answered 502"),
        "{:?}",
        broken.report.errors
    );
    assert!(broken.log.contains("it looks down"), "{}", broken.log);
    assert_eq!(broken.report.redelivered_count(), 3);
    assert_eq!(broken.report.not_taken_count(), 3);
    assert_eq!(broken.report.deferred_count(), 7);
    assert_eq!(count_requests(&fake, "POST", "/attempts"), 3 + 3 * 5);
    let kept = stored_checkpoint(&fake, "app");
    assert!((kept - before).num_seconds().abs() <= 1, "held: {kept}");
    for guid in &guids[3..6] {
        assert_eq!(stored_event(&fake, guid)["not_taken"], 1);
    }

    fake.record_queued_results();
    let next = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(next.report.succeeded(), "{}", next.log);
    assert_eq!(next.report.redelivered_count(), 7);
    assert!(redelivered_guids(&fake).values().all(|n| *n == 1));
    assert_eq!(redelivered_guids(&fake).len(), 10);
    for guid in &guids[3..6] {
        assert!(
            stored_event(&fake, guid).get("not_taken").is_none(),
            "taken"
        );
    }
}

/// Three events GitHub never takes, next to each other in the queue: the first run cannot
/// tell them from GitHub being down and stops there; the next one knows them, goes past
/// them and drains the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_events_github_never_takes_stop_one_run_not_every_run() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let guids = failed_events(
        &fake,
        "t",
        50,
        fake.now() - chrono::Duration::hours(1),
        chrono::Duration::seconds(30),
    );
    for guid in &guids[10..13] {
        never_taken(&fake, guid);
    }
    let first = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(!first.report.succeeded());
    assert_eq!(first.report.redelivered_count(), 10);
    clock.advance(6 * HOUR);
    let second = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(second.report.succeeded(), "{}", second.log);
    assert_eq!(second.report.redelivered_count(), 37);
    let runs: Vec<u32> = second.report.hooks[0]
        .not_taken
        .iter()
        .map(|event| event.runs)
        .collect();
    assert_eq!(runs, [2, 2, 2]);
    assert!(redelivered_guids(&fake).values().all(|n| *n == 1));
}

/// A list page that fails after retries during the drain (here: the canary's result) is a
/// failed read: GitHub looks down, and the run stops as before with the checkpoint held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_read_during_the_drain_stops_the_run_as_before() {
    let fake = fake().await;
    let before = fake.now() - chrono::Duration::hours(2);
    fake.set_variable(REPO, VARIABLE, &before.timestamp_millis().to_string());
    failed_events(
        &fake,
        "r",
        10,
        fake.now() - chrono::Duration::hours(1),
        chrono::Duration::minutes(1),
    );
    // The scan's one page goes through; every look after it fails.
    fake.push_fault(
        Fault::new("/app/hook/deliveries", FaultKind::Status(503))
            .method("GET")
            .skip(1)
            .times(1000),
    );
    let run = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(!run.report.succeeded());
    assert!(
        run.report.errors[0].contains("answered 503"),
        "{:?}",
        run.report.errors
    );
    assert_eq!(run.report.redelivered_count(), 3, "the canaries only");
    assert_eq!(run.report.deferred_count(), 7);
    let kept = stored_checkpoint(&fake, "app");
    assert!((kept - before).num_seconds().abs() <= 1, "held: {kept}");
}

/// Runs a drain of `count` events at `redelivery-interval: 1s` with `faults`, on a fake of
/// its own, and returns how long it took on the simulated clock, and the run.
async fn timed_drain(count: usize, faults: &[Fault]) -> (Duration, InProcess, FakeGitHub) {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let guids = failed_events(
        &fake,
        "p",
        count,
        fake.now() - chrono::Duration::hours(20),
        chrono::Duration::seconds(30),
    );
    for fault in faults {
        fake.push_fault(fault.clone());
    }
    let started = clock.instant();
    let run = run_in_process(&fake, settings(&fake, &[])).await;
    let took = clock.instant() - started;
    assert!(run.report.succeeded(), "{}", run.log);
    assert_eq!(run.report.redelivered_count(), count);
    clock.advance(HOUR);
    let delivered = delivered(&fake);
    assert!(guids.iter().all(|guid| delivered.get(guid) == Some(&1)));
    (took, run, fake)
}

fn limit_after(posts: usize) -> Fault {
    Fault::new(
        "/attempts",
        FaultKind::SecondaryRateLimit {
            status: 403,
            retry_after: Some(2),
        },
    )
    .method("POST")
    .skip(posts)
}

/// Three limit answers (403, `retry-after: 2`) in the first minute and none after: the
/// pace slows, then speeds up again after quiet minutes, back to `redelivery-interval`; a
/// 1,000-event drain ends within 1.5 times what it takes at `redelivery-interval`, plus
/// the limits' waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pace_slowed_by_limits_in_the_first_minute_speeds_up_again() {
    let (at_interval, _, _) = timed_drain(1_000, &[]).await;
    let limits = [limit_after(5), limit_after(12), limit_after(20)];
    let (took, run, _fake) = timed_drain(1_000, &limits).await;
    let waits = 3 * Duration::from_secs(2);
    println!("1,000 events: {at_interval:?} at the interval, {took:?} after three limits");
    assert!(
        took <= at_interval.mul_f64(1.5) + waits,
        "{took:?} against {at_interval:?}\n{}",
        run.log
    );
    let pace = run.report.pace().expect("a pace");
    assert_eq!(pace.limit_answers, 3);
    assert_eq!(pace.reason, PaceReason::Configured);
    assert_eq!(pace.interval_seconds, 1.0);
    assert_eq!(run.log.matches("GitHub limits the pace").count(), 3);
    assert!(
        run.log
            .contains("No limit answer for a while: back to one redelivery every 1s."),
        "{}",
        run.log
    );
    // The limits came within the first minute of the drain.
    let first_limit = run.log.find("GitHub limits the pace").expect("a limit");
    assert!(run.log[..first_limit].matches("Redelivered ").count() < 10);
}

/// The pace a run ends at after limits is kept in the checkpoint: a run within the hour
/// starts from it (the minutes between count as a quiet stretch: one step faster), one
/// later from `redelivery-interval`; a run that ends at `redelivery-interval` leaves none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_learned_pace_is_carried_to_the_next_run_for_an_hour() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    failed_events(
        &fake,
        "l",
        20,
        fake.now() - chrono::Duration::hours(2),
        chrono::Duration::minutes(1),
    );
    fake.push_fault(limit_after(3));
    fake.push_fault(limit_after(8));
    let first = run_in_process(&fake, settings(&fake, &[])).await;
    let learned = stored_document(&fake)["pace"]["interval_ms"]
        .as_u64()
        .expect("a learned pace");
    assert!(learned >= 2_000, "{learned}");
    assert_eq!(stored_document(&fake)["version"], 3);
    assert_eq!(
        first.report.pace().map(|pace| pace.reason),
        Some(PaceReason::Limited)
    );

    clock.advance(5 * MINUTE);
    failed_events(
        &fake,
        "m",
        5,
        fake.now() - chrono::Duration::minutes(4),
        chrono::Duration::seconds(30),
    );
    let second = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(
        second
            .log
            .contains("apart (the pace GitHub's limits left within the hour)"),
        "{}",
        second.log
    );
    // One step faster than the learned pace (a quarter of one a second more), no further.
    let stepped = Duration::from_secs_f64(1.0 / (1000.0 / learned as f64 + 0.25));
    assert_eq!(second.waits.len(), 4, "{:?}\n{}", second.waits, second.log);
    for wait in &second.waits {
        assert!(
            wait.abs_diff(stepped) < Duration::from_millis(2),
            "{wait:?}"
        );
    }
    assert_eq!(
        second.report.pace().map(|pace| pace.reason),
        Some(PaceReason::Recovering)
    );

    clock.advance(2 * HOUR);
    failed_events(
        &fake,
        "o",
        5,
        fake.now() - chrono::Duration::minutes(5),
        chrono::Duration::seconds(30),
    );
    let third = run_in_process(&fake, settings(&fake, &[])).await;
    assert!(
        third.log.contains("5 event(s) to 1 receiver(s), 1s apart."),
        "{}",
        third.log
    );
    assert_eq!(
        third.report.pace().map(|pace| pace.reason),
        Some(PaceReason::Configured)
    );
    assert!(stored_document(&fake).get("pace").is_none());
    assert_eq!(stored_document(&fake)["version"], 1);
}

/// Five runs through compound faults, as a new user met them (issue 31): one App hook, 240
/// events failed while the receiver was down.
/// - Run 1: the receiver is still down (three canaries, the rest held back).
/// - Run 2: it is back. One redelivery takes effect and then answers 502 (the retry sends
///   it again: the documented window), two POSTs in a row answer 500 every time, a list page
///   answers 502 once. Every event but the two is redelivered, and the run succeeds.
/// - Run 3: 240 more events failed meanwhile (a second outage); GitHub answers content
///   limits (403, `retry-after: 2`) three times and still does not take the two. The drain
///   ends within 10 minutes.
/// - Run 4: GitHub takes the two again, but the checkpoint variable answers 500.
/// - Run 5: nothing left.
///
/// Across the runs nothing is delivered twice but the 502-after-effect, nothing is lost,
/// and no event is redelivered more than 3 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_runs_through_compound_faults_lose_nothing_and_send_nothing_twice() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let raw = settings(&fake, &[]);
    let mut guids = failed_events(
        &fake,
        "a",
        240,
        fake.now() - chrono::Duration::hours(2),
        chrono::Duration::seconds(30),
    );

    fake.set_receiver_down(true);
    let run1 = run_in_process(&fake, raw.clone()).await;
    assert!(run1.report.receiver_down() && run1.report.succeeded());
    assert_eq!(run1.report.redelivered_count(), 3);
    assert_eq!(run1.report.held_back_count(), 237);

    clock.advance(HOUR);
    fake.set_receiver_down(false);
    let failing = [guids[100].clone(), guids[101].clone()];
    for guid in &failing {
        never_taken(&fake, guid);
    }
    fake.push_fault(
        Fault::new("/attempts", FaultKind::ApplyThenStatus(502))
            .method("POST")
            .skip(50),
    );
    fake.push_fault(
        Fault::new("/app/hook/deliveries", FaultKind::Status(502))
            .method("GET")
            .skip(4),
    );
    let run2 = run_in_process(&fake, raw.clone()).await;
    assert!(run2.report.succeeded(), "{:?}", run2.report.errors);
    assert_eq!(run2.report.redelivered_count(), 238);
    let not_taken: Vec<&str> = run2.report.hooks[0]
        .not_taken
        .iter()
        .map(|event| event.event.guid.as_str())
        .collect();
    assert_eq!(not_taken, [failing[0].as_str(), failing[1].as_str()]);
    let twice: Vec<String> = redelivered_guids(&fake)
        .into_iter()
        .filter(|(guid, n)| *n == 2 && !run1.report.redelivered_guids().contains(&guid.as_str()))
        .map(|(guid, _)| guid)
        .collect();
    assert_eq!(twice.len(), 1, "the 502 after effect: {twice:?}");
    assert!(
        run2.log
            .contains("deliveries answered 502 Bad Gateway; retry 1 of 4"),
        "the list page's 502: {}",
        run2.log
    );

    clock.advance(3 * HOUR);
    guids.extend(failed_events(
        &fake,
        "b",
        240,
        fake.now() - chrono::Duration::hours(2),
        chrono::Duration::seconds(30),
    ));
    for posts in [20, 60, 100] {
        fake.push_fault(limit_after(posts));
    }
    let started = clock.instant();
    let run3 = run_in_process(&fake, raw.clone()).await;
    let took = clock.instant() - started;
    println!("run 3: 240 events and 3 limit answers in {took:?}");
    assert!(run3.report.succeeded(), "{:?}", run3.report.errors);
    assert_eq!(run3.report.redelivered_count(), 240);
    assert_eq!(run3.report.not_taken_count(), 2);
    assert_eq!(run3.report.pace().map(|pace| pace.limit_answers), Some(3));
    assert!(took < 10 * MINUTE, "{took:?}\n{}", run3.log);

    clock.advance(HOUR);
    fake.clear_faults();
    for method in ["PATCH", "POST"] {
        fake.push_fault(
            Fault::new("/actions/variables", FaultKind::Status(500))
                .method(method)
                .times(100),
        );
    }
    let run4 = run_in_process(&fake, raw.clone()).await;
    assert!(!run4.report.succeeded());
    assert!(!run4.report.checkpoint_saved);
    assert_eq!(run4.report.redelivered_count(), 2, "{}", run4.log);

    clock.advance(6 * HOUR);
    fake.clear_faults();
    let run5 = run_in_process(&fake, raw).await;
    assert!(run5.report.succeeded(), "{:?}", run5.report.errors);
    assert_eq!(run5.report.redelivered_count(), 0, "{}", run5.log);
    assert_eq!(run5.report.failed_count(), 0);

    let delivered = delivered(&fake);
    let missing: Vec<&String> = guids
        .iter()
        .filter(|g| !delivered.contains_key(*g))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    let more: Vec<_> = delivered
        .iter()
        .filter(|(guid, n)| **n > 1 && !twice.contains(guid))
        .collect();
    assert!(more.is_empty(), "delivered twice: {more:?}");
    assert_eq!(delivered[&twice[0]], 2);
    assert!(redelivered_guids(&fake).values().all(|n| *n <= 3));
    assert_no_unexpected(&fake);
}
