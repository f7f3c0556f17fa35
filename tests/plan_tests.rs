//! Table tests of the pure planning core: no I/O, no clock.

use chrono::{DateTime, Duration, Utc};
use redeliver_action::domain::checkpoint::HookState;
use redeliver_action::domain::delivery::{Delivery, DeliveryId};
use redeliver_action::domain::plan::{PlanOptions, next_checkpoint, plan_redeliveries};
use redeliver_action::domain::window::{WindowOptions, in_window, scan_window};

fn now() -> DateTime<Utc> {
    "2026-11-28T12:00:00Z".parse().expect("valid time")
}

fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    now() - Duration::minutes(minutes)
}

fn delivery(id: u64, guid: &str, minutes: i64, status: &str) -> Delivery<'static> {
    Delivery {
        id: DeliveryId(id),
        guid: guid.to_owned().into(),
        delivered_at: minutes_ago(minutes),
        redelivery: false,
        status: status.to_owned().into(),
        status_code: if status == "OK" { 200 } else { 503 },
        event: "push".into(),
        action: None,
        duration: Some(0.5),
    }
}

/// A failed redelivery of `guid`: one attempt, whoever made it.
fn failed_redelivery(id: u64, guid: &str, minutes: i64) -> Delivery<'static> {
    Delivery {
        redelivery: true,
        ..failed(id, guid, minutes)
    }
}

fn ok(id: u64, guid: &str, minutes: i64) -> Delivery<'static> {
    delivery(id, guid, minutes, "OK")
}

fn failed(id: u64, guid: &str, minutes: i64) -> Delivery<'static> {
    delivery(id, guid, minutes, "Invalid HTTP Response: 503")
}

fn options() -> PlanOptions {
    crate::util::plan_options(&[("max-attempts", "3"), ("max-redeliveries", "100")])
}

/// The delivery ids the plan redelivers.
fn redelivered_ids(
    deliveries: Vec<Delivery>,
    state: &HookState,
    options: &PlanOptions,
) -> Vec<u64> {
    plan_redeliveries(deliveries, state, now(), options)
        .redeliver
        .iter()
        .map(|planned| planned.delivery_id.0)
        .collect()
}

#[test]
fn table_of_windows() {
    let big = 3_804_004_623_172_239_366_u64;
    let cases: Vec<(&str, Vec<Delivery>, Vec<u64>)> = vec![
        ("empty window", vec![], vec![]),
        (
            "all OK",
            vec![ok(3, "a", 1), ok(2, "b", 2), ok(1, "c", 3)],
            vec![],
        ),
        (
            "failed then OK",
            vec![ok(2, "a", 1), failed(1, "a", 5)],
            vec![],
        ),
        (
            "failed several times: the newest failure is redelivered once",
            vec![failed(3, "a", 1), failed(2, "a", 3), failed(1, "a", 5)],
            vec![3],
        ),
        (
            "OK then failed (a manual redelivery failed later): already delivered",
            vec![failed(2, "a", 1), ok(1, "a", 5)],
            vec![],
        ),
        (
            "several events: oldest first",
            vec![failed(3, "new", 1), ok(2, "fine", 2), failed(1, "old", 9)],
            vec![1, 3],
        ),
        (
            "ids above 2^53 come through exactly",
            vec![failed(big + 1, "a", 1), failed(big, "b", 2)],
            vec![big, big + 1],
        ),
        (
            "same time: the larger id is the newer",
            vec![failed(big, "a", 1), failed(big + 2, "a", 1)],
            vec![big + 2],
        ),
    ];
    for (name, deliveries, expected) in cases {
        assert_eq!(
            redelivered_ids(deliveries, &HookState::default(), &options()),
            expected,
            "{name}"
        );
    }
}

#[test]
fn a_delivery_exactly_at_the_window_start_is_in_the_window() {
    // The listing (`run.rs`) keeps a delivery when `in_window` says so, and stops at the
    // first one it refuses: the start is inclusive, to the nanosecond.
    let window = scan_window(
        Some(minutes_ago(60)),
        now(),
        &WindowOptions {
            first_run_lookback: Duration::hours(24),
            overlap: Duration::minutes(5),
            retention: Duration::days(3),
        },
    );
    assert_eq!(window.since, minutes_ago(65));
    let cases = [
        ("exactly at the start", window.since, true),
        (
            "a nanosecond after",
            window.since + Duration::nanoseconds(1),
            true,
        ),
        (
            "a nanosecond before",
            window.since - Duration::nanoseconds(1),
            false,
        ),
        (
            "a second before",
            window.since - Duration::seconds(1),
            false,
        ),
        ("now", now(), true),
        (
            "after the checkpoint, within the overlap",
            minutes_ago(62),
            true,
        ),
    ];
    for (name, delivered_at, expected) in cases {
        assert_eq!(in_window(delivered_at, window.since), expected, "{name}");
    }
}

#[test]
fn windows_start_at_the_lookback_and_never_before_the_retention() {
    let options = WindowOptions {
        first_run_lookback: Duration::hours(24),
        overlap: Duration::minutes(5),
        retention: Duration::days(3),
    };
    let first = scan_window(None, now(), &options);
    assert_eq!(first.since, now() - Duration::hours(24));
    assert!(!first.checkpoint_expired);

    let stale = scan_window(Some(now() - Duration::days(5)), now(), &options);
    assert_eq!(stale.since, now() - Duration::days(3));
    assert!(stale.checkpoint_expired);
}

#[test]
fn attempts_are_counted_from_the_list_whoever_made_them() {
    // (failed redeliveries listed, refusals in the bookkeeping) -> redelivered?, attempt
    let cases = [
        (0, 0, true),
        (1, 0, true),
        (2, 0, true),
        (3, 0, false),
        (1, 1, true),
        (2, 1, false),
    ];
    for (listed, refused, expected) in cases {
        let mut state = HookState::default();
        for _ in 0..refused {
            state.record_refusal("g", minutes_ago(15));
        }
        let mut deliveries = vec![failed(1, "g", 60)];
        for attempt in 0..listed {
            deliveries.push(failed_redelivery(10 + attempt, "g", 50 - attempt as i64));
        }
        let plan = plan_redeliveries(deliveries, &state, now(), &options());
        assert_eq!(
            !plan.redeliver.is_empty(),
            expected,
            "{listed} listed, {refused} refused"
        );
        if expected {
            assert_eq!(
                plan.redeliver[0].summary.previous_attempts,
                (listed + refused) as u32
            );
            // The newest failure is the one redelivered.
            let newest = if listed == 0 { 1 } else { 10 + listed - 1 };
            assert_eq!(plan.redeliver[0].delivery_id, DeliveryId(newest));
        } else {
            assert_eq!(plan.found.given_up.len(), 1);
            assert_eq!(plan.found.given_up[0].previous_attempts, 3);
        }
    }
}

#[test]
fn given_up_events_are_never_tried_again() {
    let mut state = HookState::default();
    state.record_given_up("g", minutes_ago(30));
    let plan = plan_redeliveries(vec![failed(21, "g", 1)], &state, now(), &options());
    assert!(plan.redeliver.is_empty() && plan.found.given_up.is_empty());
    assert_eq!(plan.found.already_given_up, 1);
    // A delivered event leaves the bookkeeping.
    let plan = plan_redeliveries(
        vec![ok(22, "g", 1), failed(21, "g", 2)],
        &state,
        now(),
        &options(),
    );
    assert_eq!(plan.resolved, vec!["g".to_owned()]);
}

/// The checkpoint never passes an open event, whatever this run does with it: the next run
/// must see its whole history (its attempts) and its result.
#[test]
fn open_events_hold_the_checkpoint_at_their_first_failure() {
    let plan = plan_redeliveries(
        vec![
            failed(3, "new", 10),
            failed(2, "old", 40),
            failed_redelivery(4, "old", 5),
        ],
        &HookState::default(),
        now(),
        &options(),
    );
    assert_eq!(plan.redeliver.len(), 2);
    assert_eq!(plan.oldest_open_at, Some(minutes_ago(40)));
    assert_eq!(next_checkpoint(&plan, now()), minutes_ago(40));

    // Given up, delivered and filtered events do not hold it.
    let mut given_up = HookState::default();
    given_up.record_given_up("old", minutes_ago(20));
    let plan = plan_redeliveries(
        vec![
            failed(2, "old", 40),
            ok(5, "fine", 30),
            failed(6, "fine", 35),
        ],
        &given_up,
        now(),
        &options(),
    );
    assert_eq!(next_checkpoint(&plan, now()), now());
}

#[test]
fn the_cap_defers_the_newest_and_holds_the_checkpoint_before_them() {
    let opts = crate::util::plan_options(&[("max-attempts", "3"), ("max-redeliveries", "2")]);
    let deliveries = vec![
        failed(4, "d", 10),
        failed(3, "c", 20),
        failed(2, "b", 30),
        failed(1, "a", 40),
    ];
    let plan = plan_redeliveries(deliveries, &HookState::default(), now(), &opts);
    let ids: Vec<u64> = plan.redeliver.iter().map(|p| p.delivery_id.0).collect();
    assert_eq!(ids, vec![1, 2]);
    let deferred: Vec<&str> = plan
        .found
        .deferred
        .iter()
        .map(|e| e.guid.as_str())
        .collect();
    assert_eq!(deferred, vec!["c", "d"]);
    // Redelivered or deferred, every open event holds the checkpoint.
    assert_eq!(next_checkpoint(&plan, now()), minutes_ago(40));

    let delivered = plan_redeliveries(
        vec![ok(2, "a", 30), failed(1, "a", 40)],
        &HookState::default(),
        now(),
        &opts,
    );
    assert_eq!(next_checkpoint(&delivered, now()), now());
}

#[test]
fn filters_count_what_they_leave_out() {
    let opts = crate::util::plan_options(&[
        ("max-attempts", "3"),
        ("max-redeliveries", "100"),
        ("events", "push, workflow_job.queued"),
    ]);
    let job = |id, guid: &str, action: &str| Delivery {
        event: "workflow_job".into(),
        action: Some(action.to_owned().into()),
        ..failed(id, guid, 5)
    };
    let plan = plan_redeliveries(
        vec![
            failed(1, "p", 3),
            job(2, "q", "queued"),
            job(3, "c", "completed"),
        ],
        &HookState::default(),
        now(),
        &opts,
    );
    let mut ids: Vec<u64> = plan.redeliver.iter().map(|p| p.delivery_id.0).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(plan.found.filtered.len(), 1);
    assert_eq!(plan.found.filtered[0].guid, "c");
    assert_eq!(plan.found.failing, 3);
}

#[test]
fn the_summary_shows_the_first_failure() {
    let plan = plan_redeliveries(
        vec![
            delivery(3, "g", 1, "timed out"),
            delivery(2, "g", 3, "failed to connect"),
            delivery(1, "g", 5, "Invalid HTTP Response: 502"),
        ],
        &HookState::default(),
        now(),
        &options(),
    );
    let summary = &plan.redeliver[0].summary;
    assert_eq!(summary.first_failure_status, "Invalid HTTP Response: 502");
    assert_eq!(summary.first_failed_at, minutes_ago(5));
    assert_eq!(plan.redeliver[0].delivery_id, DeliveryId(3));
    assert_eq!(plan.found.scanned, 3);
}

#[test]
fn table_of_max_age() {
    // (case, deliveries, bookkeeping of "a" (refused redeliveries, minutes ago), max_age in
    //  hours, redelivered ids, too-old GUIDs, given-up GUIDs, checkpoint minutes ago: open
    //  events hold it at their first failure, too-old ones never do)
    type Case = (
        &'static str,
        Vec<Delivery<'static>>,
        Option<(u32, i64)>,
        Option<i64>,
        Vec<u64>,
        Vec<&'static str>,
        Vec<&'static str>,
        i64,
    );
    let cases: Vec<Case> = vec![
        (
            "no bound: 13 h old is redelivered",
            vec![failed(1, "a", 13 * 60)],
            None,
            None,
            vec![1],
            vec![],
            vec![],
            13 * 60,
        ),
        (
            "13 h old with a 12 h bound is too old, 11 h old is not",
            vec![failed(2, "b", 11 * 60), failed(1, "a", 13 * 60)],
            None,
            Some(12),
            vec![2],
            vec!["a"],
            vec![],
            11 * 60,
        ),
        (
            "the first failure decides, not the newest",
            vec![failed(2, "a", 60), failed(1, "a", 13 * 60)],
            None,
            Some(12),
            vec![],
            vec!["a"],
            vec![],
            0,
        ),
        (
            "exactly at the bound is still redelivered",
            vec![failed(1, "a", 12 * 60)],
            None,
            Some(12),
            vec![1],
            vec![],
            vec![],
            12 * 60,
        ),
        (
            "an event out of attempts but too old is too old, not given up",
            vec![failed(2, "a", 20), failed(1, "a", 13 * 60)],
            Some((3, 60)),
            Some(12),
            vec![],
            vec!["a"],
            vec![],
            0,
        ),
        (
            "an event out of attempts within the bound is given up",
            vec![failed(2, "a", 20), failed(1, "a", 11 * 60)],
            Some((3, 60)),
            Some(12),
            vec![],
            vec![],
            vec!["a"],
            0,
        ),
        (
            "a delivered event is never too old",
            vec![ok(2, "a", 60), failed(1, "a", 13 * 60)],
            None,
            Some(12),
            vec![],
            vec![],
            vec![],
            0,
        ),
    ];
    for (name, deliveries, record, max_age, ids, too_old, given_up, checkpoint) in cases {
        let mut state = HookState::default();
        if let Some((attempts, minutes)) = record {
            for _ in 0..attempts {
                state.record_refusal("a", minutes_ago(minutes));
            }
        }
        let max_age = max_age.map(|hours| format!("{hours}h"));
        let mut flags = vec![("max-attempts", "3"), ("max-redeliveries", "100")];
        flags.extend(max_age.as_deref().map(|max_age| ("max-age", max_age)));
        let opts = crate::util::plan_options(&flags);
        let plan = plan_redeliveries(deliveries, &state, now(), &opts);
        let got_ids: Vec<u64> = plan.redeliver.iter().map(|p| p.delivery_id.0).collect();
        let got_too_old: Vec<&str> = plan.found.too_old.iter().map(|e| e.guid.as_str()).collect();
        let got_given_up: Vec<&str> = plan
            .found
            .given_up
            .iter()
            .map(|e| e.guid.as_str())
            .collect();
        assert_eq!(got_ids, ids, "{name}: redelivered");
        assert_eq!(got_too_old, too_old, "{name}: too old");
        assert_eq!(got_given_up, given_up, "{name}: given up");
        // Too-old events never hold the checkpoint back.
        assert_eq!(
            next_checkpoint(&plan, now()),
            minutes_ago(checkpoint),
            "{name}: checkpoint"
        );
        assert_eq!(plan.found.deferred.len(), 0, "{name}");
    }
}

/// A pending redelivery (sent 30 minutes ago, not listed) while GitHub lists a newer one:
/// left aside under the default hour, taken as lost (an attempt) and sent again under a
/// `pending-horizon` of 10 minutes; kept pending under either when GitHub lists nothing
/// newer (its queue may be stalled).
#[test]
fn the_pending_horizon_decides_when_an_unlisted_redelivery_is_lost() {
    let mut state = HookState::default();
    state.record_pending("p", minutes_ago(30));
    let moving = vec![
        failed(1, "p", 120),
        failed(2, "q", 100),
        failed_redelivery(3, "q", 5),
    ];
    let stalled = vec![failed(1, "p", 120)];
    let cases: [(&str, &Vec<Delivery>, bool); 4] = [
        ("1h", &moving, false),
        ("10m", &moving, true),
        ("1h", &stalled, false),
        ("10m", &stalled, false),
    ];
    for (horizon, deliveries, sent_again) in cases {
        let options = crate::util::plan_options(&[("pending-horizon", horizon)]);
        let plan = plan_redeliveries(deliveries.clone(), &state, now(), &options);
        let redelivered = plan.redeliver.iter().any(|p| p.summary.guid == "p");
        assert_eq!(redelivered, sent_again, "{horizon}: {plan:?}");
        assert_eq!(plan.lost == ["p"], sent_again, "{horizon}");
        assert_eq!(
            plan.found.pending.iter().any(|e| e.guid == "p"),
            !sent_again,
            "{horizon}"
        );
        if sent_again {
            assert_eq!(
                plan.redeliver[0].summary.previous_attempts, 1,
                "the lost one counts"
            );
        }
    }
}

/// A pending record at the edges of time (a stored document can hold any) neither panics
/// nor blocks the event for ever.
#[test]
fn pending_records_at_the_edges_of_time_do_not_overflow() {
    for sent in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        let mut state = HookState::default();
        state.record_pending("p", sent);
        let deliveries = vec![failed(1, "p", 60), failed_redelivery(2, "p", 30)];
        let plan = plan_redeliveries(deliveries, &state, now(), &options());
        assert_eq!(plan.found.failing, 1, "{sent}");
    }
}
