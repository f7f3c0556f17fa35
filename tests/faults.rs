//! What happens when things go wrong: GitHub's errors, dropped connections, rate limits,
//! runs that die midway, receivers that stay broken. Waits are recorded, not slept.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use crate::util::*;
use fake_github::{FakeGitHub, Fault, FaultKind, Hook, NewDelivery};

/// Eight failed events and some delivered ones, with fixed ids so two fakes match.
fn seed(fake: &FakeGitHub) {
    for i in 0..250u64 {
        let at = minutes_ago(300 - i as i64);
        let guid = format!("event-{i:03}");
        let delivery = if i % 31 == 0 {
            NewDelivery::failed(guid, at)
        } else {
            NewDelivery::ok(guid, at)
        };
        fake.add_delivery(&Hook::App, delivery.id(9_007_199_254_740_993 + i));
    }
}

/// The bookkeeping's attempt counts by GUID (times differ between runs).
fn attempts(fake: &FakeGitHub) -> BTreeMap<String, u64> {
    stored_events(fake)
        .as_object()
        .map(|events| {
            events
                .iter()
                .filter_map(|(guid, record)| Some((guid.clone(), record["attempts"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn stored_events(fake: &FakeGitHub) -> serde_json::Value {
    stored_document(fake)["hooks"]["app"]["events"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scattered_transient_faults_give_the_same_result_as_a_clean_run() {
    let clean = fake().await;
    seed(&clean);
    let clean_run = run_in_process(&clean, raw_settings(&clean)).await;
    assert!(clean_run.report.succeeded(), "{}", clean_run.log);
    // Its only waits are the canary's looks at the list (simulated time).
    assert_eq!(clean_run.report.requests.rate_limit_waits, 0);

    let faulty = fake().await;
    seed(&faulty);
    faulty.push_fault(Fault::new("/actions/variables/", FaultKind::Status(502)).method("GET"));
    faulty.push_fault(
        Fault::new("/app/hook/deliveries", FaultKind::Status(500))
            .method("GET")
            .skip(1),
    );
    faulty.push_fault(
        Fault::new("/app/hook/deliveries", FaultKind::DropConnection)
            .method("GET")
            .skip(2),
    );
    faulty.push_fault(Fault::new("/attempts", FaultKind::Status(503)).skip(1));
    faulty.push_fault(Fault::new("/attempts", FaultKind::DropConnection).skip(3));
    faulty.push_fault(
        Fault::new("/attempts", FaultKind::Status(504))
            .skip(5)
            .times(2),
    );
    faulty.push_fault(Fault::new("/actions/variables", FaultKind::Status(500)).method("POST"));
    let faulty_run = run_in_process(&faulty, raw_settings(&faulty)).await;
    assert!(faulty_run.report.succeeded(), "{}", faulty_run.log);
    assert_eq!(faulty.pending_faults(), 0, "every fault was hit");

    assert_eq!(redelivered_guids(&faulty), redelivered_guids(&clean));
    assert_eq!(redelivered_guids(&clean).len(), 9);
    // Attempts are counted from the list: nothing of them is kept.
    assert!(attempts(&clean).is_empty());
    assert!(redelivered_guids(&clean).values().all(|count| *count == 1));
    assert_eq!(attempts(&faulty), attempts(&clean));
    assert_eq!(
        faulty_run.report.redelivered_count(),
        clean_run.report.redelivered_count()
    );
    // Every retry waited, with backoff, and said so: 8 waits more than the clean run's.
    assert_eq!(
        faulty_run.waits.len(),
        clean_run.waits.len() + 8,
        "{:?} vs {:?}",
        faulty_run.waits,
        clean_run.waits
    );
    assert!(
        faulty_run
            .log
            .contains("answered 503 Service Unavailable; retry 1 of 4"),
        "{}",
        faulty_run.log
    );
    assert_no_unexpected(&faulty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_dies_midway_is_finished_by_the_next_without_repeats() {
    let fake = fake().await;
    seed(&fake);
    // GitHub starts failing after three redeliveries, for longer than the retries last.
    fake.push_fault(
        Fault::new("/attempts", FaultKind::Status(500))
            .skip(3)
            .times(1000),
    );
    let broken = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(!broken.report.succeeded());
    assert_eq!(broken.report.redelivered_count(), 3);
    assert_eq!(broken.report.deferred_count(), 6);
    assert!(
        broken.report.errors[0].contains("answered 500"),
        "{:?}",
        broken.report.errors
    );
    // The checkpoint was not set; what was redelivered is told by the list, and the
    // redeliveries whose results GitHub had not listed yet are pending: a run right after
    // does not send them again.
    let document = stored_document(&fake);
    assert!(document["hooks"]["app"].get("checkpoint").is_none());
    let events = stored_events(&fake);
    let pending: Vec<&String> = events
        .as_object()
        .map(|events| {
            events
                .iter()
                .filter(|(_, record)| record["pending"] == true)
                .map(|(guid, _)| guid)
                .collect()
        })
        .unwrap_or_default();
    // (The retries' backoff gave GitHub time to list some: those are not pending.)
    assert!(pending.len() <= 2, "{events}");
    assert!(
        pending
            .iter()
            .all(|guid| broken.report.redelivered_guids().contains(&guid.as_str()))
    );

    fake.clear_faults();
    fake.record_queued_results();
    let next = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(next.report.succeeded(), "{}", next.log);
    assert_eq!(next.report.redelivered_count(), 6);
    let counts = redelivered_guids(&fake);
    assert_eq!(counts.len(), 9);
    assert!(counts.values().all(|count| *count == 1), "{counts:?}");
    fake.record_queued_results();
    let third = run_in_process(&fake, raw_settings(&fake)).await;
    assert_eq!(third.report.redelivered_count(), 0);
    assert_eq!(stored_events(&fake), serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_recorded_late_is_caught_by_the_next_run() {
    let scenario = Scenario::new().await;
    let first = scenario.run(&[]).await;
    assert!(first.report.succeeded());
    let checkpoint = stored_checkpoint(&scenario.fake, "app");
    // It started 40 s before the checkpoint, but GitHub recorded it after the first run.
    let late = checkpoint - chrono::Duration::seconds(40);
    scenario
        .fake
        .add_delivery(&Hook::App, NewDelivery::failed("late", late));
    let second = scenario.run(&[]).await;
    assert_eq!(second.redelivered, ["late"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_keeps_failing_is_redelivered_max_attempts_times_then_given_up() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("stubborn", minutes_ago(30)));
    fake.add_delivery(&Hook::App, NewDelivery::failed("healed", minutes_ago(29)));
    fake.set_receiver_failing("stubborn", true);

    let mut given_up_reported = Vec::new();
    for run_number in 1..=5 {
        fake.record_queued_results();
        let run = run_action(&fake, &[("max-attempts", "3")]).await;
        // `fail-on: given-up` by default: the run that gives up fails the step.
        run.assert_code(if run_number == 4 { 4 } else { 0 });
        given_up_reported.push(run.count("given-up-count"));
        if run_number == 4 {
            assert_eq!(
                run.json_output("given-up-guids"),
                serde_json::json!(["stubborn"])
            );
            assert!(
                run.stdout
                    .contains("::warning::giving up on push event stubborn"),
                "{}",
                run.stdout
            );
            assert!(
                run.summary
                    .contains("### Given up after 3 attempts: 1 event"),
                "{}",
                run.summary
            );
            assert!(run.summary.contains("`stubborn`"));
        }
    }
    assert_eq!(given_up_reported, [0, 0, 0, 1, 0]);
    let counts = redelivered_guids(&fake);
    assert_eq!(counts.get("stubborn"), Some(&3));
    assert_eq!(counts.get("healed"), Some(&1));
    // Attempts are counted from the list; the bookkeeping only says "given up".
    let record = &stored_events(&fake)["stubborn"];
    assert_eq!(record["given_up"], true);
    assert!(record.get("attempts").is_none(), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_are_paced() {
    let scenario = Scenario::new().await;
    for i in 0..4 {
        scenario.failed(&Hook::App, &format!("g{i}"), 10 + i);
    }
    let run = scenario.run(&[("redelivery-interval", "1s")]).await;
    assert!(run.report.succeeded());
    assert_eq!(run.redelivered, ["g3", "g2", "g1", "g0"]);
    // Three canaries a second apart, their first look two seconds later (every result is
    // listed by then), then a second before the fourth.
    assert_eq!(
        run.waits,
        [1, 1, 2, 1].map(Duration::from_secs),
        "{:?}",
        run.waits
    );
    assert!(
        run.log
            .contains("Redelivering 4 event(s) to 1 receiver(s), 1s apart."),
        "{}",
        run.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_leaves_the_rest_queued_and_the_checkpoint_before_them() {
    let scenario = Scenario::new().await;
    let g0_failed_at = scenario.ago(50);
    for i in 0..5 {
        scenario.failed(&Hook::App, &format!("g{i}"), 50 - i * 10);
    }
    let capped = [("max-redeliveries", "2")];
    let first = scenario.run(&capped).await;
    assert!(first.report.succeeded());
    assert_eq!(first.redelivered, ["g0", "g1"]);
    assert_eq!(first.report.deferred_count(), 3);
    // Every open event holds the checkpoint, the two just redelivered too: their results
    // and their attempts are seen by the next run.
    let checkpoint = stored_checkpoint(&scenario.fake, "app");
    assert!(
        (checkpoint - g0_failed_at).num_seconds().abs() <= 1,
        "{checkpoint} vs {g0_failed_at}"
    );
    scenario.advance(Duration::from_secs(60));
    assert_eq!(scenario.run(&capped).await.redelivered, ["g2", "g3"]);
    scenario.advance(Duration::from_secs(60));
    assert_eq!(scenario.run(&capped).await.redelivered, ["g4"]);
    assert!(
        redelivered_guids(&scenario.fake)
            .values()
            .all(|count| *count == 1)
    );
    // Once the last one is seen delivered, nothing is open and the checkpoint moves on.
    scenario.advance(Duration::from_secs(60));
    assert!(scenario.run(&capped).await.redelivered.is_empty());
    assert!(stored_checkpoint(&scenario.fake, "app") > scenario.ago(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_rate_limit_within_max_wait_is_waited_out() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(10)));
    fake.push_fault(Fault::new(
        "/attempts",
        FaultKind::PrimaryExhausted { reset_in_secs: 20 },
    ));
    let run = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert_eq!(run.waits.len(), 1);
    assert!(
        (19..=22).contains(&run.waits[0].as_secs()),
        "{:?}",
        run.waits
    );
    assert_eq!(run.report.requests.rate_limit_waits, 1);
    assert_eq!(redelivered_guids(&fake).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_rate_limit_beyond_max_wait_stops_cleanly() {
    let fake = fake().await;
    for i in 0..3 {
        fake.add_delivery(
            &Hook::App,
            NewDelivery::failed(format!("g{i}"), minutes_ago(30 - i)),
        );
    }
    let stored = minutes_ago(60);
    fake.set_variable(REPO, VARIABLE, &stored.timestamp_millis().to_string());
    fake.push_fault(
        Fault::new(
            "/attempts",
            FaultKind::PrimaryExhausted {
                reset_in_secs: 3600,
            },
        )
        .skip(1)
        .times(10),
    );
    let run = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(!run.report.succeeded());
    assert!(
        run.waits.iter().all(|wait| *wait < Duration::from_secs(60)),
        "no wait beyond max-wait: {:?}",
        run.waits
    );
    let error = &run.report.errors[0];
    assert!(
        error.contains("rate limit") && error.contains("run again after that"),
        "{error}"
    );
    assert_eq!(run.report.redelivered_count(), 1);
    assert_eq!(run.report.deferred_count(), 2);
    // The checkpoint stays where it was; the one redelivery (the first canary: the second
    // met the limit) is pending at most, since the run stopped before its result showed.
    let document = stored_document(&fake);
    let kept: chrono::DateTime<Utc> = document["hooks"]["app"]["checkpoint"]
        .as_str()
        .expect("kept")
        .parse()
        .expect("time");
    assert!(
        (kept - stored).num_seconds().abs() <= 1,
        "{kept} vs {stored}"
    );
    let events = document["hooks"]["app"]["events"].as_object();
    assert!(
        events.is_none_or(|events| events.len() == 1 && events["g0"]["pending"] == true),
        "{document}"
    );

    fake.clear_faults();
    fake.record_queued_results();
    let next = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(next.report.succeeded());
    assert_eq!(next.report.redelivered_guids(), ["g1", "g2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_rate_limits_honour_retry_after_or_wait_a_minute() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(10)));
    fake.push_fault(Fault::new(
        "/attempts",
        FaultKind::SecondaryRateLimit {
            status: 403,
            retry_after: Some(7),
        },
    ));
    fake.push_fault(Fault::new(
        "/attempts",
        FaultKind::SecondaryRateLimit {
            status: 429,
            retry_after: None,
        },
    ));
    let run = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(run.report.succeeded(), "{}", run.log);
    assert_eq!(
        run.waits,
        vec![Duration::from_secs(7), Duration::from_secs(120)]
    );
    assert_eq!(run.report.requests.rate_limit_waits, 2);
    assert_eq!(redelivered_guids(&fake).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_accepted_then_answered_502_is_sent_twice_the_documented_window() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(10)));
    fake.push_fault(Fault::new("/attempts", FaultKind::ApplyThenStatus(502)));
    let run = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(run.report.succeeded());
    // GitHub queued the first POST before failing to answer; the retry queues another.
    // Both carry the same X-GitHub-Delivery GUID, so a receiver that dedupes is safe.
    assert_eq!(redelivered_guids(&fake).get("g"), Some(&2));
    assert_eq!(run.report.redelivered_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_failures_never_move_the_checkpoint() {
    let fake = fake().await;
    let before = minutes_ago(90);
    fake.set_variable(REPO, VARIABLE, &before.timestamp_millis().to_string());
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(10)));
    fake.push_fault(
        Fault::new("/app/hook/deliveries", FaultKind::Status(502))
            .method("GET")
            .times(100),
    );
    let run = run_in_process(&fake, raw_settings(&fake)).await;
    assert!(!run.report.succeeded());
    assert_eq!(
        run.waits.len(),
        4,
        "four retries, then give up: {:?}",
        run.waits
    );
    assert!(fake.redeliveries().is_empty());
    let kept = stored_checkpoint(&fake, "app");
    assert!((kept - before).num_seconds().abs() <= 1);
}
