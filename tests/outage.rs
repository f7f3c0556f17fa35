//! The moment the tool exists for: a receiver was down, many events failed, and all must
//! arrive once it is back, without spending attempts while it is still down.

use std::time::Duration;

use fake_github::{Hook, NewDelivery, Outcome};

use crate::util::*;

/// `count` events that failed because the receiver was down, oldest first.
fn outage(fake: &fake_github::FakeGitHub, count: usize) {
    fake.add_deliveries(
        &Hook::App,
        (0..count).map(|i| {
            NewDelivery::failed(
                format!("{i:08}-0000-4000-8000-000000000000"),
                minutes_ago(120) + chrono::Duration::seconds(i as i64),
            )
            .outcome(Outcome::FailedToConnect)
        }),
    );
}

fn fast(fake: &fake_github::FakeGitHub) -> Args {
    raw_settings(fake).with("redelivery-interval", "0s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_still_down_costs_one_canary_and_the_rest_waits_for_it() {
    let fake = fake().await;
    outage(&fake, 1_200);
    fake.set_receiver_down(true);

    let down = run_in_process(&fake, fast(&fake)).await;
    assert!(down.report.succeeded(), "{}", down.log);
    assert!(down.report.receiver_down());
    assert!(
        fake.redeliveries().len() <= 3,
        "{}",
        fake.redeliveries().len()
    );
    assert_eq!(down.report.redelivered_count(), fake.redeliveries().len());
    assert_eq!(
        down.report.held_back_count() + down.report.redelivered_count(),
        1_200
    );
    assert!(
        down.log
            .contains("is still down (failed to connect): holding back"),
        "{}",
        down.log
    );
    // The checkpoint stays before every held-back event.
    let checkpoint = stored_checkpoint(&fake, "app");
    assert!(checkpoint <= minutes_ago(120) + chrono::Duration::seconds(1));
    let outputs = down.report.outputs().expect("outputs");
    let output = |name: &str| {
        outputs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(output("receiver-down"), "true");
    assert_eq!(
        output("held-back-count"),
        (1_200 - fake.redeliveries().len()).to_string()
    );
    assert!(
        down.report
            .summary_markdown()
            .contains("Held back: the receiver is still down")
    );

    // The receiver is back: the next run delivers everything, each event once more.
    fake.set_receiver_down(false);
    fake.record_queued_results();
    let back = run_in_process(&fake, fast(&fake)).await;
    assert!(back.report.succeeded(), "{}", back.log);
    assert!(!back.report.receiver_down(), "{}", back.log);
    assert_eq!(back.report.given_up_count(), 0);
    let counts = redelivered_guids(&fake);
    assert_eq!(counts.len(), 1_200);
    assert!(counts.values().all(|count| *count <= 2));
    fake.record_queued_results();
    let after = run_in_process(&fake, fast(&fake)).await;
    assert_eq!(after.report.redelivered_count(), 0);
    assert_eq!(after.report.failed_count(), 0);
}

/// The oldest failing event is often one the receiver rejects every time: it must not pass
/// for a receiver that is down, nor hold the others back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_does_not_hold_back_the_rest() {
    let fake = fake().await;
    fake.set_redelivery_result_delay(Duration::ZERO);
    // The oldest: already refused twice (by someone's earlier redeliveries).
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("poison-old", minutes_ago(90)),
    );
    for minutes in [80, 70] {
        fake.add_delivery(
            &Hook::App,
            NewDelivery::failed("poison-old", minutes_ago(minutes))
                .redelivery(true)
                .outcome(Outcome::HttpStatus(400)),
        );
    }
    fake.set_receiver_refusing("poison-old");
    // The next oldest: never redelivered, refused with 400 too.
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("poison-new", minutes_ago(60)),
    );
    fake.set_receiver_refusing("poison-new");
    for i in 0..5 {
        fake.add_delivery(
            &Hook::App,
            NewDelivery::failed(format!("fine-{i}"), minutes_ago(50 - i)),
        );
    }
    let run = run_in_process(&fake, fast(&fake)).await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert!(!run.report.receiver_down(), "{}", run.log);
    assert_eq!(run.report.redelivered_count(), 7);
    // The never-redelivered event was the first canary; refused, it did not stop the run.
    let first = &fake.redeliveries()[0];
    assert_eq!(first.guid, "poison-new");
    assert!(
        run.log
            .contains("Canary poison-new was refused by the receiver")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_falls_over_mid_drain_stops_the_drain() {
    let fake = fake().await;
    fake.set_redelivery_result_delay(Duration::ZERO);
    outage(&fake, 400);
    fake.set_receiver_down_after(120);
    let run = run_in_process(&fake, fast(&fake)).await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert!(run.report.receiver_down(), "{}", run.log);
    let sent = run.report.redelivered_count();
    assert!((120..=201).contains(&sent), "{sent}");
    assert_eq!(run.report.held_back_count(), 400 - sent);
}

/// Failed redeliveries GitHub lists count as attempts, whoever made them: the docs script,
/// a person, or this tool with a lost state file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_made_before_this_tool_count() {
    let fake = fake().await;
    fake.set_redelivery_result_delay(Duration::ZERO);
    for (guid, earlier) in [("tried-2", 2), ("tried-3", 3), ("tried-5", 5)] {
        fake.add_delivery(&Hook::App, NewDelivery::failed(guid, minutes_ago(100)));
        for attempt in 0..earlier {
            fake.add_delivery(
                &Hook::App,
                NewDelivery::failed(guid, minutes_ago(90 - attempt * 10)).redelivery(true),
            );
        }
        fake.set_receiver_failing(guid, true);
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        fake.record_queued_results();
        runs.push(run_in_process(&fake, fast(&fake)).await);
    }
    // One redelivery in all: the third attempt of `tried-2`.
    let counts = redelivered_guids(&fake);
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts.get("tried-2"), Some(&1));
    let given_up: Vec<Vec<&str>> = runs.iter().map(|run| run.report.given_up_guids()).collect();
    assert_eq!(given_up[0], ["tried-3", "tried-5"]);
    assert_eq!(given_up[1], ["tried-2"]);
    assert!(given_up[2..].iter().all(Vec::is_empty));
}

/// A busy App: 356 failures among thousands of deliveries go out in one run at the
/// defaults (no count cap; the time budget is hours).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_apps_failures_go_out_in_one_run() {
    let fake = fake().await;
    fake.add_deliveries(
        &Hook::App,
        (0..5_000).map(|i| {
            let at = minutes_ago(600) + chrono::Duration::seconds(i as i64 * 7);
            let guid = format!("{i:08}-0000-4000-8000-000000000000");
            if i % 14 == 3 && i < 14 * 356 {
                NewDelivery::failed(guid, at)
            } else {
                NewDelivery::ok(guid, at)
            }
        }),
    );
    let run = run_in_process(&fake, fast(&fake)).await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert_eq!(run.report.failed_count(), 356);
    assert_eq!(run.report.redelivered_count(), 356);
    assert_eq!(run.report.deferred_count(), 0);
}
