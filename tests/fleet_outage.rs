//! One receiver, one outage (issue 27): a fleet whose hooks all deliver to one receiver
//! recovers as cheaply as one hook. While the receiver is down the whole fleet spends at
//! most three redeliveries and one canary wait; once it is back every event is delivered
//! exactly once; the checkpoint fits one variable after every run.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_github::{FakeGitHub, Hook, NewDelivery, Outcome};
use redeliver_action::domain::checkpoint::MAX_DOCUMENT_BYTES;
use redeliver_action::report::ReceiverVerdict;

use crate::util::*;

const CI_URL: &str = "https://ci.example.test/hooks/s3cr3t-t0ken";
const HOUR: Duration = Duration::from_secs(3600);

/// `repos` repositories of `acme`, each with the CI hook; hook `i` holds `1 + i % 2`
/// events that failed while the receiver was down, the oldest 6 hours ago.
fn seed(fake: &FakeGitHub, repos: u64) -> Vec<String> {
    let mut guids = Vec::new();
    for i in 1..=repos {
        let hook = Hook::repo(&format!("acme/r{i}"), 1000 + i);
        fake.add_hook_with_url(&hook, CI_URL);
        for k in 0..(1 + i % 2) {
            let guid = format!("{i:06}-{k:04}-4000-8000-000000000000");
            let at = minutes_ago(360) + chrono::Duration::seconds((i * 7 + k) as i64);
            fake.add_delivery(
                &hook,
                NewDelivery::failed(&guid, at).outcome(Outcome::FailedToConnect),
            );
            guids.push(guid);
        }
    }
    guids
}

fn settings(fake: &FakeGitHub) -> Args {
    raw_settings(fake)
        .with("hooks", format!("repo/acme/*/{CI_URL}"))
        .with("redelivery-interval", "1s")
}

/// Successful redeliveries by GUID, over the fleet's hooks.
fn delivered(fake: &FakeGitHub, repos: u64) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in 1..=repos {
        for delivery in fake.deliveries(&Hook::repo(&format!("acme/r{i}"), 1000 + i)) {
            if delivery["redelivery"] == true && delivery["status"] == "OK" {
                let guid = delivery["guid"].as_str().expect("a guid").to_owned();
                *counts.entry(guid).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Delivery list requests beyond one page per hook (the scan's): canary looks, checks.
fn rereads(fake: &FakeGitHub, hooks: u64) -> usize {
    count_requests(fake, "GET", "/deliveries").saturating_sub(hooks as usize)
}

fn stored_size(fake: &FakeGitHub) -> usize {
    fake.variable(REPO, VARIABLE).map_or(0, |value| value.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_1000_repositories_on_one_receiver_recovers_as_cheaply_as_one_hook() {
    const REPOS: u64 = 1_000;
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let guids = seed(&fake, REPOS);
    fake.set_receiver_down(true);

    // Run 1: the receiver is down. Three canaries for the whole fleet, one wait.
    let down = run_in_process(&fake, settings(&fake)).await;
    assert!(down.report.succeeded(), "{}", down.log);
    assert!(down.report.receiver_down());
    let spent = fake.redeliveries().len();
    assert!(
        spent <= 3,
        "{spent} redeliveries spent on a receiver that is down"
    );
    let [receiver] = down.report.receivers.as_slice() else {
        panic!("one receiver: {:?}", down.report.receivers);
    };
    assert_eq!(receiver.state, ReceiverVerdict::Down);
    assert_eq!(receiver.hooks, REPOS as usize);
    assert_eq!(receiver.held_back + spent, guids.len());
    assert_eq!(receiver.spent_while_down, spent);
    assert!(
        !receiver.receiver.contains("s3cr3t"),
        "{}",
        receiver.receiver
    );
    // The URL read from GitHub is never shown; the `hooks` line the user typed may be.
    let typed = format!("repo/acme/*/{CI_URL}");
    for line in down.log.lines().filter(|line| line.contains("s3cr3t")) {
        assert!(line.contains(&typed), "{line}");
    }
    let waited: Duration = down.waits.iter().sum();
    assert!(
        waited <= Duration::from_secs(50),
        "one canary wait: {waited:?}"
    );
    let reads = rereads(&fake, REPOS);
    eprintln!(
        "run 1: {spent} redeliveries, waited {waited:?}, {reads} list requests beyond the scan, {} requests in all, checkpoint {} bytes",
        fake.requests().len(),
        stored_size(&fake)
    );
    assert!(reads <= 10, "{reads} list requests beyond the scan");
    assert!(
        stored_size(&fake) < MAX_DOCUMENT_BYTES,
        "{} bytes",
        stored_size(&fake)
    );
    assert_eq!(
        stored_document(&fake)["receivers"]
            .as_object()
            .map(|r| r.len()),
        Some(1)
    );

    // Run 2, the next scheduled one: the receiver is back, everything goes out once.
    clock.advance(6 * HOUR);
    fake.set_receiver_down(false);
    fake.clear_requests();
    let back = run_in_process(&fake, settings(&fake)).await;
    assert!(back.report.succeeded(), "{}", back.log);
    assert!(!back.report.receiver_down());
    let [receiver] = back.report.receivers.as_slice() else {
        panic!("one receiver: {:?}", back.report.receivers);
    };
    assert!(receiver.is_back(), "{receiver:?}");
    assert_eq!(receiver.redelivered, guids.len());
    assert!(
        stored_size(&fake) < MAX_DOCUMENT_BYTES,
        "{} bytes",
        stored_size(&fake)
    );
    let reads = rereads(&fake, REPOS);
    let allowed = 10 + guids.len() * 4 / 100;
    eprintln!(
        "run 2: {} redelivered, {reads} list requests beyond the scan ({allowed} allowed), checkpoint {} bytes",
        receiver.redelivered,
        stored_size(&fake)
    );
    assert!(
        reads <= allowed,
        "{reads} list requests beyond the scan, {allowed} allowed"
    );

    // Run 3: the results are listed; nothing is sent again, nothing is pending.
    clock.advance(6 * HOUR);
    fake.record_queued_results();
    let after = run_in_process(&fake, settings(&fake)).await;
    assert!(after.report.succeeded(), "{}", after.log);
    assert_eq!(after.report.redelivered_count(), 0);
    assert_eq!(after.report.pending_count(), 0);
    let delivered = delivered(&fake, REPOS);
    assert_eq!(delivered.len(), guids.len(), "every event delivered");
    assert!(delivered.values().all(|n| *n == 1), "none twice");
    assert!(stored_size(&fake) < MAX_DOCUMENT_BYTES);
}

/// The summary a person reads (issue 30), from a real run over 150 repositories on one
/// receiver: its first lines name the down receiver, then say it is back and what was
/// delivered; at most 120 non-empty lines are visible outside `<details>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_summary_names_the_receiver_first_and_fits_a_screenful() {
    const REPOS: u64 = 150;
    let fake = fake().await;
    let clock = sim_clock(&fake);
    let guids = seed(&fake, REPOS);
    fake.set_receiver_down(true);
    let down = run_in_process(&fake, settings(&fake)).await;
    // The receiver as the summary writes it: its space may not break.
    let shown = down.report.receivers[0].receiver.replace(' ', "\u{a0}");
    let summary = down.report.summary_markdown();
    let visible = crate::summary_pages::visible_lines(&summary);
    let opening = visible[..3].join("\n").replace(' ', "\u{a0}");
    assert!(
        opening.contains(&format!("`{shown}`\u{a0}is\u{a0}still\u{a0}down")),
        "{opening}"
    );
    assert!(opening.contains("3\u{a0}attempts\u{a0}spent"), "{opening}");
    assert!(visible.len() <= 120, "{} lines:\n{summary}", visible.len());
    let typed = format!("repo/acme/*/{CI_URL}");
    for line in summary.lines().filter(|line| line.contains("s3cr3t")) {
        assert!(
            line.contains(&typed),
            "only the `hooks` line as typed: {line}"
        );
    }

    clock.advance(6 * HOUR);
    fake.set_receiver_down(false);
    let back = run_in_process(&fake, settings(&fake)).await;
    let summary = back.report.summary_markdown();
    let visible = crate::summary_pages::visible_lines(&summary);
    let opening = visible[..3].join("\n").replace(' ', "\u{a0}");
    let expected = format!(
        "All {} failed events redelivered, receiver `{shown}` back",
        guids.len()
    );
    assert!(
        opening.contains(&expected.replace(' ', "\u{a0}")),
        "{opening}"
    );
    assert!(visible.len() <= 120, "{} lines:\n{summary}", visible.len());
}

/// What a drain sent past its prefix's bound (events newer than the scan's floor, where a
/// delivery recorded late could lie unsent) is named in the receiver's record by 48 bits of
/// each GUID: a run right after sends none of them again while their results are not
/// listed, and the document stays small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_past_the_prefix_are_named_compactly_and_not_sent_again() {
    const REPOS: u64 = 40;
    let fake = fake().await;
    sim_clock(&fake);
    // The canaries' results show within their wait; the drain's, right after it, do not
    // before the run ends.
    fake.set_redelivery_result_delay(Duration::from_secs(20));
    let fast = || settings(&fake).with("redelivery-interval", "0s");
    let mut guids = Vec::new();
    for i in 1..=REPOS {
        let hook = Hook::repo(&format!("acme/r{i}"), 1000 + i);
        fake.add_hook_with_url(&hook, CI_URL);
        // Half failed 2 hours ago, half within the last 4 minutes.
        for (k, minutes) in [(0, 120), (1, 2 + (i % 3) as i64)] {
            let guid = format!("{i:06}-{k:04}-4000-8000-000000000000");
            fake.add_delivery(&hook, NewDelivery::failed(&guid, minutes_ago(minutes)));
            guids.push(guid);
        }
    }
    let first = run_in_process(&fake, fast()).await;
    assert!(first.report.succeeded(), "{}", first.log);
    assert_eq!(fake.redeliveries().len(), guids.len(), "{}", first.log);
    let document = stored_document(&fake);
    let sent = document["receivers"]
        .as_object()
        .and_then(|receivers| receivers.values().next())
        .map(|receiver| receiver["sent"].clone())
        .expect("a sent record");
    assert!(sent["through"].is_string(), "{sent}");
    // The recent half, less what the run saw listed (a canary's result): 8 characters each.
    let also = sent["also"].as_str().map_or(0, str::len);
    assert!(
        also.is_multiple_of(8) && (8 * (REPOS as usize - 3)..=8 * REPOS as usize).contains(&also),
        "{sent}"
    );
    let events: usize = document["hooks"]
        .as_object()
        .map(|hooks| {
            hooks
                .values()
                .map(|hook| hook["events"].as_object().map_or(0, |events| events.len()))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(events, 0, "no pending record per event: {document}");

    let again = run_in_process(&fake, fast()).await;
    assert!(again.report.succeeded(), "{}", again.log);
    assert_eq!(again.report.redelivered_count(), 0, "{}", again.log);
    assert_eq!(fake.redeliveries().len(), guids.len(), "none sent twice");
}
