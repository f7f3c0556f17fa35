//! Property tests of the two parsers that read what this tool is told: a page of
//! deliveries from GitHub, and the stored checkpoint document. Arbitrary bytes and
//! arbitrary JSON must give a value or an error, never a panic; and whatever parses keeps
//! the invariants the rest of the tool relies on:
//! - a document that parses encodes, and its encoding parses and re-encodes to the same
//!   text;
//! - each failing GUID of a plan lands in exactly one of the plan's lists (or is counted as
//!   given up by an earlier run);
//! - the next checkpoint never passes the first failure of an open event (redelivered now
//!   or deferred), nor the listing's time.
//!
//! `cargo test` runs 256 cases of each; `PROPTEST_CASES=100000 cargo test --locked -- fuzz`
//! runs longer (proptest reads the variable).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use redeliver_action::domain::checkpoint::{CheckpointDocument, MAX_DOCUMENT_BYTES};
use redeliver_action::domain::delivery::Delivery;
use redeliver_action::domain::plan::{Plan, PlanOptions, next_checkpoint, plan_redeliveries};
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
    )
        .prop_map(|(id, guid, at, status, event, action)| {
            serde_json::json!({"id": id, "guid": guid, "delivered_at": at, "status": status,
                               "event": event, "action": action, "redelivery": false})
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
    let open = plan
        .redeliver
        .iter()
        .map(|planned| &planned.summary)
        .chain(&plan.found.deferred);
    for event in open {
        assert!(
            checkpoint <= event.first_failed_at,
            "the checkpoint {checkpoint} passes the open event {} first failing at {}",
            event.guid,
            event.first_failed_at
        );
    }
}

/// Redelivered now, given up now, filtered, deferred, too old, or given up before: one each.
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
