//! GitHub is slow too: scenarios of hours and days in simulated time (the run and the fake
//! share one simulated clock, so none of them sleeps). Each checks the two promises: no
//! event is redelivered twice, and none that GitHub still keeps is lost.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_github::{ContentLimit, FakeGitHub, Hook, LimitAnswer};

use crate::util::*;

const HOUR: Duration = Duration::from_secs(3600);

/// Successful redeliveries listed, by GUID.
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

/// Every one of `guids` delivered exactly once, and nothing else delivered.
#[track_caller]
fn assert_each_delivered_once(fake: &FakeGitHub, guids: &[String]) {
    let delivered = delivered(fake);
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    let missing: Vec<_> = guids
        .iter()
        .filter(|guid| !delivered.contains_key(*guid))
        .collect();
    assert!(
        missing.is_empty(),
        "never delivered: {} {missing:?}",
        missing.len()
    );
    assert_eq!(delivered.len(), guids.len());
}

fn list_requests(fake: &FakeGitHub) -> usize {
    count_requests(fake, "GET", "/app/hook/deliveries")
}

/// Three days of outage on the documented 6-hour schedule: 12 runs while the receiver is
/// down, each spending at most 3 canaries (never the same event twice), then one run after
/// it is back delivers everything GitHub still keeps, each event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_day_outage_on_a_six_hour_schedule() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    fake.set_receiver_down(true);
    let mut guids = Vec::new();
    for run in 0..12 {
        // The 6 hours before this run: 50 events failed.
        let start = fake.now() - chrono::Duration::hours(6) + chrono::Duration::minutes(1);
        guids.extend(failed_events(
            &fake,
            &format!("{run:02}"),
            50,
            start,
            chrono::Duration::minutes(7),
        ));
        let down = run_in_process(&fake, raw_settings(&fake)).await;
        assert!(down.report.succeeded(), "run {run}: {}", down.log);
        assert!(down.report.receiver_down(), "run {run}");
        assert!(down.report.redelivered_count() <= 3, "run {run}");
        clock.advance(6 * HOUR);
    }
    let canaries = redelivered_guids(&fake);
    assert!(
        canaries.values().all(|n| *n == 1),
        "a canary twice: {canaries:?}"
    );

    fake.set_receiver_down(false);
    let back = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(back.report.succeeded(), "{}", back.log);
    assert!(!back.report.receiver_down());
    clock.advance(HOUR);
    // Nothing twice. Every event of the last 2.5 days of the outage is delivered; only
    // events older than GitHub keeps (the first half day's, unless a canary gave them a
    // newer failed delivery to redeliver) can be gone.
    let delivered = delivered(&fake);
    assert!(delivered.values().all(|n| *n == 1), "{delivered:?}");
    let recent: Vec<&String> = guids.iter().filter(|guid| guid.as_str() >= "02").collect();
    assert_eq!(recent.len(), 500);
    let missing: Vec<_> = recent
        .iter()
        .filter(|guid| !delivered.contains_key(guid.as_str()))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    // At most one canary of the outage and one redelivery after it, per event.
    assert!(redelivered_guids(&fake).values().all(|n| *n <= 2));
}

/// GitHub accepts redeliveries but lists their results only 7 hours later, past the next
/// scheduled run; the receiver is fine. No run takes that for a dead receiver, no event is
/// sent twice, each run's wait costs about 10 list requests, and everything is delivered
/// once the results show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_queue_delayed_across_two_runs() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    fake.set_redelivery_result_delay(7 * HOUR);
    let guids = failed_events(
        &fake,
        "q",
        34,
        fake.now() - chrono::Duration::hours(2),
        chrono::Duration::minutes(1),
    );
    let mut runs = Vec::new();
    for _ in 0..5 {
        let before = list_requests(&fake);
        let run = run_in_process(&fake, raw_settings(&fake)).await;
        assert!(run.report.succeeded(), "{}", run.log);
        assert!(!run.report.receiver_down(), "{}", run.log);
        assert!(
            list_requests(&fake) - before <= 13,
            "{} list requests",
            list_requests(&fake) - before
        );
        runs.push(run);
        clock.advance(6 * HOUR);
    }
    // Run 1: three canaries, awaited together, not listed in time: the rest held back,
    // said so, not "down".
    let first = &runs[0];
    assert_eq!(first.report.redelivered_count(), 3);
    assert!(first.report.results_delayed());
    assert_eq!(first.report.held_back_count(), 31);
    assert_eq!(first.report.pending_count(), 3);
    let outputs = first.report.outputs().expect("outputs");
    assert!(outputs.contains(&("results-delayed", "true".to_owned())));
    assert!(outputs.contains(&("receiver-down", "false".to_owned())));
    assert!(first.report.summary_markdown().contains(
        "> **GitHub has not listed the canaries' results for the receiver of `app` yet**: 31 events held back; the receiver is not known to be down"
    ));
    // Run 2: the first canaries are still pending (GitHub's queue has not moved past
    // them), so they are not sent again; three new canaries, held back again.
    assert_eq!(runs[1].report.redelivered_count(), 3);
    assert_eq!(runs[1].report.pending_count(), 6);
    // Run 3: the first canaries are listed as delivered: the receiver is up, no canary
    // wait.
    assert_eq!(runs[2].report.redelivered_count(), 28, "{}", runs[2].log);
    assert!(
        runs[2].waits.is_empty(),
        "no canary wait: {:?}",
        runs[2].waits
    );
    assert!(
        redelivered_guids(&fake).values().all(|n| *n == 1),
        "{:?}",
        redelivered_guids(&fake)
    );
    assert_each_delivered_once(&fake, &guids);
    assert_eq!(runs[4].report.pending_count(), 0);
}

/// A 500-an-hour content limit (403 with `retry-after`): the drain waits until GitHub
/// allows more, slows to the pace the limit allows, and drains a backlog of 1,200 in one
/// run within `max-duration`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_limit_of_500_an_hour_paces_the_drain() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    fake.set_content_limit(Some(ContentLimit {
        max: 500,
        per: HOUR,
        answer: LimitAnswer::Forbidden,
    }));
    let guids = failed_events(
        &fake,
        "c",
        1_200,
        fake.now() - chrono::Duration::hours(20),
        chrono::Duration::seconds(30),
    );
    let mut raw = raw_settings(&fake);
    raw.set("redelivery-interval", "1s");
    let started = clock.instant();
    let run = run_in_process(&fake, raw).await;
    let took = clock.instant() - started;
    assert!(run.report.succeeded(), "{}", run.log);
    assert_eq!(run.report.redelivered_count(), 1_200);
    assert!(took < 5 * HOUR, "within max-duration: {took:?}");
    assert!(took > 2 * HOUR, "500 an hour: {took:?}");
    // Few limits hit: after the first, the pace is what the limit allows.
    assert!(
        fake.content_limit_refusals() <= 5,
        "{} refusals",
        fake.content_limit_refusals()
    );
    clock.advance(HOUR);
    assert_each_delivered_once(&fake, &guids);
}

/// The same with the 422 "endpoint has been spammed" answer, which has no `retry-after`:
/// a limit to wait out, never an attempt spent on the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spammed_answer_is_a_limit_not_a_refusal() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    fake.set_content_limit(Some(ContentLimit {
        max: 80,
        per: Duration::from_secs(60),
        answer: LimitAnswer::Spammed,
    }));
    let guids = failed_events(
        &fake,
        "s",
        300,
        fake.now() - chrono::Duration::hours(3),
        chrono::Duration::seconds(30),
    );
    let run = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert_eq!(run.report.redelivered_count(), 300);
    assert!(run.report.hooks[0].refused.is_empty());
    assert!(fake.content_limit_refusals() > 0);
    clock.advance(HOUR);
    assert_each_delivered_once(&fake, &guids);
}

/// A backlog whose oldest events reach GitHub's retention while the drain is under way:
/// GitHub refuses those (too old); the drain goes on with the rest, every event still kept
/// is delivered once, and the next run does not try the expired ones again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_expiring_in_the_middle_of_a_backlog() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let now = fake.now();
    // 200 events a minute from expiry, then 300 recent ones.
    let old = failed_events(
        &fake,
        "o",
        200,
        now - chrono::Duration::days(3) + chrono::Duration::minutes(1),
        chrono::Duration::milliseconds(100),
    );
    let recent = failed_events(
        &fake,
        "r",
        300,
        now - chrono::Duration::hours(1),
        chrono::Duration::seconds(5),
    );
    let mut raw = raw_settings(&fake);
    raw.set("redelivery-interval", "1s");
    raw.set("since", "3d");
    let run = run_in_process(&fake, raw.clone()).await;
    let refused = run.report.hooks[0].refused.len();
    assert!(refused > 100, "{refused} refused: {}", run.log);
    assert!(
        run.report.hooks[0]
            .refused
            .iter()
            .all(|r| r.event.guid.starts_with('o'))
    );
    clock.advance(6 * HOUR);
    let next = run_in_process(&fake, raw).await;
    assert!(next.report.succeeded(), "{}", next.log);
    assert_eq!(next.report.redelivered_count(), 0, "{}", next.log);
    let delivered = delivered(&fake);
    let in_time: Vec<String> = old
        .iter()
        .filter(|guid| delivered.contains_key(*guid))
        .cloned()
        .chain(recent.iter().cloned())
        .collect();
    assert_eq!(in_time.len(), 500 - refused);
    assert_each_delivered_once(&fake, &in_time);
    assert!(redelivered_guids(&fake).values().all(|n| *n == 1));
}

/// A run stopped (SIGTERM) right after its first redelivery, whose result GitHub has not
/// listed yet, and a rerun at once: the rerun does not wait for that result, does not send
/// that event again, and delivers the other nine; each event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_and_its_rerun_deliver_each_event_once() {
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let guids = failed_events(
        &fake,
        "t",
        10,
        fake.now() - chrono::Duration::hours(1),
        chrono::Duration::minutes(1),
    );
    let stopped = run_in_process_with(&fake, raw_settings(&fake), |context| {
        let stop = context.stop.clone();
        fake.on_redelivery(move |accepted| {
            if accepted == 1 {
                stop.request();
            }
        });
    })
    .await;
    assert_eq!(stopped.report.redelivered_count(), 1);
    assert_eq!(stopped.report.pending_count(), 1);
    assert_eq!(
        stored_document(&fake)["hooks"]["app"]["events"][&guids[0]]["pending"],
        true
    );

    let started = clock.instant();
    let rerun = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(rerun.report.succeeded(), "{}", rerun.log);
    assert_eq!(rerun.report.redelivered_count(), 9, "{}", rerun.log);
    assert!(
        clock.instant() - started < Duration::from_secs(30),
        "the rerun does not stall: {:?}",
        clock.instant() - started
    );
    clock.advance(HOUR);
    assert_each_delivered_once(&fake, &guids);
    assert!(redelivered_guids(&fake).values().all(|n| *n == 1));
    let after = run_in_process(&fake, raw_settings(&fake)).await;
    assert_eq!(after.report.redelivered_count(), 0);
    assert_eq!(after.report.pending_count(), 0);
}
