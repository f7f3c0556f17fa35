//! Property tests of the two parsers that read what this tool is told: a page of
//! deliveries from GitHub, and the stored checkpoint document. Arbitrary bytes and
//! arbitrary JSON must give a value or an error, never a panic; and whatever parses keeps
//! the invariants the rest of the tool relies on:
//! - a document that parses encodes, and its encoding parses and re-encodes to the same
//!   text;
//! - each failing GUID of a plan lands in exactly one of the plan's lists (or is counted as
//!   given up by an earlier run);
//! - the next checkpoint never passes the first failure of an open event (redelivered now,
//!   deferred or pending), nor the listing's time.
//!
//! A third generator makes histories rather than bytes (`fuzz_plan_of_histories`): a few
//! events with original deliveries, failed and successful redeliveries (`"redelivery":
//! true`), and bookkeeping with pending records (inside and past the horizons), refusals,
//! redeliveries GitHub never listed (`unlisted`) and given-up marks. Its invariants restate
//! the planner's rules (`src/domain/plan.rs`, NOTES.md "Pending") from the inputs alone:
//! - nothing delivered is sent, and nothing given up by an earlier run;
//! - nothing pending inside its horizon is sent: it is listed as pending instead;
//! - an event sent has fewer attempts than `max-attempts` (failed redeliveries in the list,
//!   plus refusals and unlisted ones from the bookkeeping, plus a pending or lost one), and
//!   the plan's count is that count; an event given up now has at least that many;
//! - a pending record is settled only when a failed redelivery at or after it is listed,
//!   taken as lost only past its horizon;
//! - the checkpoint never passes an open event, pending ones included.
//!
//! `cargo test` runs 256 cases of each; `PROPTEST_CASES=100000 cargo test --locked -- fuzz`
//! runs longer (proptest reads the variable).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use redeliver_action::domain::checkpoint::{
    CheckpointDocument, EventRecord, HookState, MAX_DOCUMENT_BYTES,
};
use redeliver_action::domain::delivery::{Delivery, DeliveryId};
use redeliver_action::domain::plan::{
    CLOCK_TOLERANCE, Plan, PlanOptions, STALLED_QUEUE_HORIZON, next_checkpoint, plan_redeliveries,
};
use redeliver_action::domain::window::{WindowOptions, scan_window};

/// Arbitrary JSON, biased towards what the parsers look for.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("version".to_owned()),
        Just("hooks".to_owned()),
        Just("app".to_owned()),
        Just("checkpoint".to_owned()),
        Just("events".to_owned()),
        Just("attempts".to_owned()),
        Just("last_attempt".to_owned()),
        Just("given_up".to_owned()),
        Just("id".to_owned()),
        Just("guid".to_owned()),
        Just("delivered_at".to_owned()),
        Just("status".to_owned()),
        Just("event".to_owned()),
        Just("action".to_owned()),
        Just("redelivery".to_owned()),
        Just("pending".to_owned()),
        Just("unlisted".to_owned()),
        Just("refused".to_owned()),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just(DateTime::<Utc>::MIN_UTC.timestamp()),
            Just(DateTime::<Utc>::MAX_UTC.timestamp()),
            Just(0),
            Just(1),
        ]
        .prop_map(serde_json::Value::from),
        prop_oneof![
            Just("OK".to_owned()),
            Just("2026-11-28T11:00:00Z".to_owned()),
            Just("-262143-01-01T00:00:00Z".to_owned()),
            Just("+262142-12-31T23:59:59Z".to_owned()),
            Just("0000-01-01T00:00:00Z".to_owned()),
            Just("9999-12-31T23:59:59Z".to_owned()),
            ".{0,24}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A delivery-shaped object with arbitrary field values, so that many cases parse.
fn delivery_like() -> impl Strategy<Value = serde_json::Value> {
    (
        any::<u64>(),
        prop_oneof![Just("g".to_owned()), ".{0,40}"],
        prop_oneof![
            Just("2026-11-28T11:00:00Z".to_owned()),
            Just("+262142-12-31T23:59:59Z".to_owned()),
            Just("-262143-01-01T00:00:00Z".to_owned()),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})",
        ],
        prop_oneof![Just("OK".to_owned()), ".{0,12}"],
        ".{0,12}",
        json(),
        any::<bool>(),
    )
        .prop_map(|(id, guid, at, status, event, action, redelivery)| {
            serde_json::json!({"id": id, "guid": guid, "delivered_at": at, "status": status,
                               "event": event, "action": action, "redelivery": redelivery})
        })
}

fn options() -> PlanOptions {
    crate::util::plan_options(&[("max-attempts", "3"), ("max-redeliveries", "5")])
}

fn now() -> DateTime<Utc> {
    "2026-11-28T12:00:00Z".parse().expect("a time")
}

/// Parses a page as `ListPage::items` does, and plans what parses with `state_text`'s
/// bookkeeping: whatever GitHub and the store say, no panic.
fn page_then_plan(page: &[u8], state_text: &str) {
    let Ok(deliveries) = serde_json::from_slice::<Vec<Delivery>>(page) else {
        return;
    };
    let document = CheckpointDocument::parse(state_text).unwrap_or_default();
    let state = document.hook("app");
    let window = scan_window(
        state.checkpoint,
        now(),
        &WindowOptions {
            first_run_lookback: Duration::days(400),
            overlap: Duration::minutes(5),
            retention: Duration::days(90),
        },
    );
    let plan = plan_redeliveries(deliveries, &state, now(), &options());
    assert_each_failing_guid_in_one_list(&plan);
    let listed_at = window.since.max(now());
    let checkpoint = next_checkpoint(&plan, listed_at);
    assert!(checkpoint <= listed_at);
    assert_checkpoint_holds_open_events(&plan, checkpoint);
}

/// The checkpoint is at or before the first failure of every open event: redelivered now,
/// deferred, or pending.
#[track_caller]
fn assert_checkpoint_holds_open_events(plan: &Plan, checkpoint: DateTime<Utc>) {
    let open = plan
        .redeliver
        .iter()
        .map(|planned| &planned.summary)
        .chain(&plan.found.deferred)
        .chain(&plan.found.pending);
    for event in open {
        assert!(
            checkpoint <= event.first_failed_at,
            "the checkpoint {checkpoint} passes the open event {} first failing at {}",
            event.guid,
            event.first_failed_at
        );
    }
}

/// Redelivered now, given up now, filtered, deferred, too old, pending, or given up before:
/// one each.
#[track_caller]
fn assert_each_failing_guid_in_one_list(plan: &Plan) {
    let listed: Vec<&str> = plan
        .redeliver
        .iter()
        .map(|planned| planned.summary.guid.as_str())
        .chain(
            [
                &plan.found.given_up,
                &plan.found.filtered,
                &plan.found.deferred,
                &plan.found.too_old,
                &plan.found.pending,
            ]
            .into_iter()
            .flatten()
            .map(|event| event.guid.as_str()),
        )
        .collect();
    let distinct: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        listed.len(),
        "a GUID in two lists: {plan:#?}"
    );
    assert_eq!(
        listed.len() + plan.found.already_given_up,
        plan.found.failing,
        "a failing GUID in no list: {plan:#?}"
    );
}

/// Parses a stored value and encodes it back: what parses encodes, and the encoding is
/// a fixed point (it parses, and encodes to the same text again).
fn document_round_trip(text: &str) {
    let Ok(mut document) = CheckpointDocument::parse(text) else {
        return;
    };
    let encode = |document: &mut CheckpointDocument| {
        document
            .encode(now(), Duration::days(7), MAX_DOCUMENT_BYTES)
            .expect("what parses encodes")
    };
    let (first, _) = encode(&mut document);
    let mut again = CheckpointDocument::parse(&first).expect("the encoding parses");
    let (second, dropped) = encode(&mut again);
    assert_eq!(first, second, "re-encoding changed the document");
    assert_eq!(dropped, 0, "the encoding was already within the limit");
}

/// One delivery of a generated history: which event, how long before now, whether it is a
/// redelivery, and whether it succeeded.
#[derive(Debug, Clone)]
struct Listed {
    event: usize,
    minutes_ago: i64,
    redelivery: bool,
    ok: bool,
}

/// The bookkeeping of one generated event.
#[derive(Debug, Clone)]
struct Kept {
    pending: bool,
    /// When the pending redelivery (or the last attempt) was made: across the 1-hour and
    /// 24-hour horizons.
    minutes_ago: i64,
    refused: u32,
    unlisted: u32,
    given_up: bool,
}

const GUIDS: [&str; 5] = ["a", "b", "c", "d", "e"];

fn listed() -> impl Strategy<Value = Listed> {
    (
        0..GUIDS.len(),
        0..1_800i64,
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(event, minutes_ago, redelivery, ok)| Listed {
            event,
            minutes_ago,
            redelivery,
            ok,
        })
}

fn kept() -> impl Strategy<Value = Kept> {
    (
        prop::bool::weighted(0.6),
        prop_oneof![0..70i64, 50..200i64, 1_400..1_500i64],
        0..3u32,
        0..3u32,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(pending, minutes_ago, refused, unlisted, given_up)| Kept {
            pending,
            minutes_ago,
            refused,
            unlisted,
            given_up,
        })
}

fn minutes_before_now(minutes: i64) -> DateTime<Utc> {
    now() - Duration::minutes(minutes)
}

/// The deliveries of `history`, as GitHub lists them (newest first, ids in order of time).
fn deliveries_of(history: &[Listed]) -> Vec<Delivery<'static>> {
    let mut sorted = history.to_vec();
    sorted.sort_by_key(|listed| std::cmp::Reverse(listed.minutes_ago));
    let mut deliveries: Vec<Delivery<'static>> = sorted
        .iter()
        .enumerate()
        .map(|(index, listed)| Delivery {
            id: DeliveryId(index as u64 + 1),
            guid: GUIDS[listed.event].into(),
            delivered_at: minutes_before_now(listed.minutes_ago),
            redelivery: listed.redelivery,
            status: if listed.ok {
                "OK"
            } else {
                "Invalid HTTP Response: 503"
            }
            .into(),
            status_code: if listed.ok { 200 } else { 503 },
            event: "push".into(),
            action: None,
            duration: Some(0.5),
        })
        .collect();
    deliveries.reverse();
    deliveries
}

fn state_of(kept: &BTreeMap<usize, Kept>) -> HookState {
    let mut state = HookState::default();
    for (event, kept) in kept {
        state.events.insert(
            GUIDS[*event].to_owned(),
            EventRecord {
                attempts: 0,
                refused: kept.refused,
                last_attempt: minutes_before_now(kept.minutes_ago),
                given_up: kept.given_up,
                pending: kept.pending,
                unlisted: kept.unlisted,
                not_taken: 0,
                extra: Default::default(),
            },
        );
    }
    state
}

/// What the rules say of one failing event, worked out from the history alone.
#[derive(Debug)]
struct Expected {
    /// A pending record whose result is not listed, inside its horizon.
    waiting: bool,
    /// A pending record whose result is listed now.
    settled: bool,
    /// A pending record never listed, past its horizon.
    lost: bool,
    attempts: u32,
    given_up_before: bool,
}

fn expected(
    guid: &str,
    deliveries: &[Delivery],
    state: &HookState,
    options: &PlanOptions,
) -> Expected {
    let failed_redeliveries: Vec<DateTime<Utc>> = deliveries
        .iter()
        .filter(|d| d.guid == guid && d.redelivery && !d.is_ok())
        .map(|d| d.delivered_at)
        .collect();
    let queue_newest = deliveries
        .iter()
        .filter(|d| d.redelivery)
        .map(|d| d.delivered_at)
        .max();
    let record = state.events.get(guid);
    let pending_since = record.and_then(EventRecord::pending_since);
    let settled = pending_since.is_some_and(|sent| {
        failed_redeliveries
            .iter()
            .any(|at| *at >= sent - CLOCK_TOLERANCE)
    });
    let unsettled = pending_since.filter(|_| !settled);
    let horizon = |sent: DateTime<Utc>| {
        if queue_newest.is_some_and(|newest| newest > sent + CLOCK_TOLERANCE) {
            options.pending_horizon
        } else {
            STALLED_QUEUE_HORIZON.max(options.pending_horizon)
        }
    };
    let waiting = unsettled.is_some_and(|sent| now() - sent < horizon(sent));
    let lost = unsettled.is_some() && !waiting;
    Expected {
        waiting,
        settled,
        lost,
        attempts: failed_redeliveries.len() as u32
            + state.unseen_attempts(guid)
            + u32::from(waiting || lost),
        given_up_before: record.is_some_and(|record| record.given_up),
    }
}

/// The planner's rules, checked on one generated history.
fn plan_keeps_the_rules(history: &[Listed], kept: &BTreeMap<usize, Kept>, options: &PlanOptions) {
    let deliveries = deliveries_of(history);
    let state = state_of(kept);
    let plan = plan_redeliveries(deliveries.clone(), &state, now(), options);
    assert_each_failing_guid_in_one_list(&plan);
    let sent: BTreeMap<&str, u32> = plan
        .redeliver
        .iter()
        .map(|planned| {
            (
                planned.summary.guid.as_str(),
                planned.summary.previous_attempts,
            )
        })
        .collect();
    let pending: BTreeSet<&str> = plan.found.pending.iter().map(|e| e.guid.as_str()).collect();
    let given_up: BTreeSet<&str> = plan
        .found
        .given_up
        .iter()
        .map(|e| e.guid.as_str())
        .collect();
    for guid in GUIDS {
        let delivered = deliveries.iter().any(|d| d.guid == guid && d.is_ok());
        let failing = !delivered && deliveries.iter().any(|d| d.guid == guid);
        let context = || format!("{guid}: {history:?}\n{kept:?}\n{plan:#?}");
        if !failing {
            assert!(
                !sent.contains_key(guid),
                "sent, yet delivered or unlisted: {}",
                context()
            );
            assert!(!plan.settled.iter().any(|g| g == guid), "{}", context());
            assert!(!plan.lost.iter().any(|g| g == guid), "{}", context());
            continue;
        }
        let expected = expected(guid, &deliveries, &state, options);
        let context = || format!("{expected:?}\n{}", context());
        assert_eq!(
            plan.settled.iter().any(|g| g == guid),
            expected.settled,
            "{}",
            context()
        );
        assert_eq!(
            plan.lost.iter().any(|g| g == guid),
            expected.lost,
            "{}",
            context()
        );
        if expected.given_up_before {
            assert!(
                !sent.contains_key(guid),
                "given up before, sent: {}",
                context()
            );
            continue;
        }
        assert_eq!(pending.contains(guid), expected.waiting, "{}", context());
        if let Some(previous) = sent.get(guid) {
            assert!(!expected.waiting, "sent while pending: {}", context());
            assert_eq!(*previous, expected.attempts, "{}", context());
            assert!(
                expected.attempts < options.max_attempts,
                "sent past max-attempts: {}",
                context()
            );
        }
        if given_up.contains(guid) {
            assert!(expected.attempts >= options.max_attempts, "{}", context());
        }
    }
    assert_checkpoint_holds_open_events(&plan, next_checkpoint(&plan, now()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn fuzz_list_page_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        page_then_plan(&bytes, "");
    }

    #[test]
    fn fuzz_list_page_arbitrary_json(value in json()) {
        page_then_plan(value.to_string().as_bytes(), "");
    }

    #[test]
    fn fuzz_list_page_of_delivery_shaped_items(
        items in prop::collection::vec(delivery_like(), 0..12),
        state in json(),
    ) {
        let page = serde_json::Value::from(items).to_string();
        let state = serde_json::json!({"version": 1, "hooks": {"app": state}}).to_string();
        page_then_plan(page.as_bytes(), &state);
    }

    #[test]
    fn fuzz_plan_of_histories(
        history in prop::collection::vec(listed(), 0..16),
        kept in prop::collection::btree_map(0..GUIDS.len(), kept(), 0..GUIDS.len()),
        max_attempts in 1..5u32,
        horizon in prop_oneof![Just("1h"), Just("30m"), Just("3h")],
        max_redeliveries in prop_oneof![Just("1"), Just("100")],
    ) {
        let options = crate::util::plan_options(&[
            ("max-attempts", &max_attempts.to_string()),
            ("max-redeliveries", max_redeliveries),
            ("pending-horizon", horizon),
        ]);
        plan_keeps_the_rules(&history, &kept, &options);
    }

    #[test]
    fn fuzz_checkpoint_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        document_round_trip(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn fuzz_checkpoint_arbitrary_json(value in json()) {
        document_round_trip(&value.to_string());
        let wrapped = serde_json::json!({"version": 1, "hooks": {"app": value}}).to_string();
        document_round_trip(&wrapped);
        page_then_plan(b"[]", &wrapped);
    }

    #[test]
    fn fuzz_checkpoint_of_bookkeeping_shaped_events(
        attempts in any::<u64>(),
        last_attempt in prop_oneof![
            any::<i64>(),
            Just(DateTime::<Utc>::MIN_UTC.timestamp()),
            Just(DateTime::<Utc>::MAX_UTC.timestamp()),
        ],
        checkpoint in prop_oneof![
            Just("-262143-01-01T00:00:00Z".to_owned()),
            Just("+262142-12-31T23:59:59Z".to_owned()),
            Just("2026-11-28T11:00:00Z".to_owned()),
        ],
        given_up in any::<bool>(),
    ) {
        let text = serde_json::json!({"version": 1, "hooks": {"app": {
            "checkpoint": checkpoint,
            "events": {"g": {"attempts": attempts, "last_attempt": last_attempt, "given_up": given_up}}
        }}})
        .to_string();
        document_round_trip(&text);
        let page = br#"[{"id":1,"guid":"g","delivered_at":"2026-11-28T11:00:00Z","status":"boom","event":"push"}]"#;
        page_then_plan(page, &text);
    }
}
