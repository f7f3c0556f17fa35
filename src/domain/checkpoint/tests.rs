use super::*;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid time")
}

#[test]
fn empty_value_is_a_first_run() {
    for text in ["", "  ", "\n"] {
        let doc = CheckpointDocument::parse(text).expect("parses");
        assert_eq!(doc.hook("app"), HookState::default());
    }
}

#[test]
fn docs_script_milliseconds_apply_to_every_hook() {
    let doc = CheckpointDocument::parse("1764342000123").expect("parses");
    let expected = Some(at("2025-11-28T15:00:00.123Z"));
    assert_eq!(doc.hook("app").checkpoint, expected);
    assert_eq!(doc.hook("org/acme/1").checkpoint, expected);
}

#[test]
fn garbage_and_newer_versions_are_refused() {
    let err = CheckpointDocument::parse("yesterday").expect_err("refused");
    assert!(format!("{err:#}").contains("fix or delete it"), "{err:#}");
    let err = CheckpointDocument::parse("{\"version\":").expect_err("refused");
    assert!(format!("{err:#}").contains("fix or delete it"), "{err:#}");
    let err = CheckpointDocument::parse(r#"{"version":4,"hooks":{}}"#).expect_err("refused");
    assert!(format!("{err:#}").contains("newer"), "{err:#}");
}

#[test]
fn round_trip() {
    let mut doc = CheckpointDocument::default();
    let mut state = HookState {
        checkpoint: Some(at("2026-11-28T15:00:00Z")),
        ..HookState::default()
    };
    state.record_pending("g0", at("2026-11-28T14:45:00Z"));
    state.record_refusal("g1", at("2026-11-28T14:00:00Z"));
    state.record_refusal("g1", at("2026-11-28T14:30:00Z"));
    state.record_given_up("g2", at("2026-11-28T14:00:00Z"));
    state.record_pending("g3", at("2026-11-28T13:00:00Z"));
    state.record_unlisted("g3", at("2026-11-28T13:00:00Z"));
    doc.set_hook("app", state.clone());
    let (json, dropped) = doc
        .encode(
            at("2026-11-28T15:00:00Z"),
            Duration::days(3),
            MAX_DOCUMENT_BYTES,
        )
        .expect("encodes");
    assert_eq!(dropped, 0);
    assert_eq!(
        json,
        r#"{"version":1,"hooks":{"app":{"checkpoint":"2026-11-28T15:00:00Z","events":{"g0":{"last_attempt":1795877100,"pending":true},"g1":{"refused":2,"last_attempt":1795876200},"g2":{"last_attempt":1795874400,"given_up":true},"g3":{"last_attempt":1795870800,"unlisted":1}}}}}"#
    );
    let back = CheckpointDocument::parse(&json).expect("parses");
    assert_eq!(back.hook("app"), state);
}

/// Older builds wrote the last run's last redelivery; it is read as what it is, a
/// redelivery whose result may not be listed yet, and written as a pending record.
#[test]
fn an_older_builds_last_redelivery_becomes_a_pending_record() {
    let text = r#"{"version":1,"hooks":{"app":{"last_redelivery":{"guid":"g0","at":1795877100}}}}"#;
    let state = CheckpointDocument::parse(text).expect("parses").hook("app");
    assert_eq!(state.last_redelivery, None);
    assert_eq!(
        state.events["g0"].pending_since(),
        Some(at("2026-11-28T14:45:00Z"))
    );
}

#[test]
fn unknown_fields_of_a_newer_minor_version_survive_a_rewrite() {
    let text = r#"{"version":1,"note":{"by":"v1.9"},"hooks":{"app":{"checkpoint":"2026-11-28T15:00:00Z","lag":3,"events":{"g1":{"refused":1,"last_attempt":1795874400,"via":"x"}}}}}"#;
    let mut doc = CheckpointDocument::parse(text).expect("parses");
    let mut state = doc.hook("app");
    state.record_refusal("g1", at("2026-11-28T15:00:00Z"));
    doc.set_hook("app", state);
    let (json, _) = doc
        .encode(
            at("2026-11-28T15:00:00Z"),
            Duration::days(3),
            MAX_DOCUMENT_BYTES,
        )
        .expect("encodes");
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(value["note"]["by"], "v1.9", "{json}");
    assert_eq!(value["hooks"]["app"]["lag"], 3, "{json}");
    assert_eq!(value["hooks"]["app"]["events"]["g1"]["via"], "x", "{json}");
    assert_eq!(
        value["hooks"]["app"]["events"]["g1"]["refused"], 2,
        "{json}"
    );
}

/// Older builds counted their own redeliveries in `attempts`; the list tells that now,
/// so the count is read, dropped with its entry, and never written again.
#[test]
fn an_older_builds_attempt_counts_are_read_and_dropped() {
    let text = r#"{"version":1,"hooks":{"app":{"events":{"g":{"attempts":2,"last_attempt":1795874400},"h":{"attempts":3,"last_attempt":1795874400,"given_up":true}}}}}"#;
    let mut state = CheckpointDocument::parse(text).expect("parses").hook("app");
    assert_eq!(state.events["g"].attempts, 2);
    state.drop_what_the_list_tells();
    assert!(!state.events.contains_key("g"));
    assert!(state.events["h"].given_up);
    let mut doc = CheckpointDocument::default();
    doc.set_hook("app", state);
    let (json, _) = doc
        .encode(
            at("2026-11-28T15:00:00Z"),
            Duration::days(3),
            MAX_DOCUMENT_BYTES,
        )
        .expect("encodes");
    assert!(!json.contains("attempts"), "{json}");
}

#[test]
fn an_attempt_count_at_its_maximum_does_not_overflow() {
    let text = format!(
        r#"{{"version":1,"hooks":{{"app":{{"events":{{"g":{{"refused":{},"last_attempt":0}}}}}}}}}}"#,
        u32::MAX
    );
    let mut state = CheckpointDocument::parse(&text)
        .expect("parses")
        .hook("app");
    state.record_refusal("g", at("2026-11-28T15:00:00Z"));
    assert_eq!(state.events["g"].refused, u32::MAX);
}

#[test]
fn encode_prunes_by_retention_then_by_size() {
    let now = at("2026-11-28T15:00:00Z");
    let mut state = HookState::default();
    state.record_given_up("expired", now - Duration::days(4));
    for i in 0..2000 {
        state.record_given_up(&format!("{i:036}"), now - Duration::seconds(2000 - i));
    }
    let mut doc = CheckpointDocument::default();
    doc.set_hook("app", state);
    let (json, dropped) = doc
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    assert!(json.len() <= MAX_DOCUMENT_BYTES, "{}", json.len());
    assert!(dropped > 0);
    let events = &doc.hooks["app"].events;
    assert!(!events.contains_key("expired"));
    assert_eq!(events.len(), 2000 - dropped);
    // The newest survive.
    assert!(events.contains_key(&format!("{:036}", 1999)));
    assert!(!events.contains_key(&format!("{:036}", 0)));
}

/// A fleet: `count` quiet hooks whose checkpoints are seconds apart, as one run leaves
/// them, and `busy` hooks with bookkeeping or an earlier checkpoint.
fn fleet(count: usize, busy: usize, now: DateTime<Utc>) -> CheckpointDocument {
    let mut doc = CheckpointDocument::default();
    for i in 0..count {
        doc.set_hook(
            &format!("repo/acme/service-{i:05}/{}", 400_000_000 + i),
            HookState {
                checkpoint: Some(now - Duration::seconds((i % 90) as i64)),
                ..HookState::default()
            },
        );
    }
    for i in 0..busy {
        let mut state = HookState {
            checkpoint: Some(now - Duration::hours(3)),
            ..HookState::default()
        };
        state.record_given_up(&format!("{i:08}-0000-4000-8000-000000000000"), now);
        doc.set_hook(&format!("repo/acme/busy-{i}/{}", 500_000_000 + i), state);
    }
    doc
}

#[test]
fn a_fleet_of_2000_hooks_shares_one_checkpoint_and_fits_a_variable() {
    let now = at("2026-11-28T15:00:00Z");
    let mut doc = fleet(2000, 20, now);
    let (json, dropped) = doc
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    assert_eq!(dropped, 0);
    assert!(json.len() < 20_000, "{} bytes", json.len());
    let back = CheckpointDocument::parse(&json).expect("parses");
    assert_eq!(back.version, 2);
    assert_eq!(back.hooks.len(), 20, "only the busy hooks have an entry");
    for (key, state) in &doc.hooks {
        let read = back.hook(key);
        let (own, shared) = (
            state.checkpoint.expect("set"),
            read.checkpoint.expect("read"),
        );
        // Never later than the hook's own, never more than the span earlier.
        assert!(shared <= own && shared >= own - SHARE_SPAN, "{key}");
        assert_eq!(read.events, state.events, "{key}");
    }
    // A hook that was not there is new: the first-run look-back.
    assert_eq!(back.hook("repo/acme/new/1").checkpoint, None);
    // Keys compare without case, as GitHub's names do.
    assert_eq!(
        back.hook("repo/ACME/service-00007/400000007").checkpoint,
        Some(now - Duration::seconds(89))
    );
}

/// 2,000 hooks, each held back at its own event's failure (spread over a day): one entry
/// each would be 140 KB; a wider span shares them, no bookkeeping is lost.
#[test]
fn a_fleet_held_back_everywhere_shares_a_wider_span_before_dropping_anything() {
    let now = at("2026-11-28T15:00:00Z");
    let mut doc = CheckpointDocument::default();
    for i in 0..2000 {
        doc.set_hook(
            &format!("repo/acme/service-{i:05}/{}", 400_000_000 + i),
            HookState {
                checkpoint: Some(now - Duration::seconds(i * 43)),
                ..HookState::default()
            },
        );
    }
    let (json, dropped) = doc
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    assert_eq!(dropped, 0);
    assert!(json.len() <= MAX_DOCUMENT_BYTES, "{}", json.len());
    let back = CheckpointDocument::parse(&json).expect("parses");
    for (key, state) in &doc.hooks {
        let read = back.hook(key).checkpoint.expect("a checkpoint");
        assert!(read <= state.checkpoint.expect("set"), "{key}");
    }
}

#[test]
fn sizes_of_fleets_and_a_clear_error_past_the_limit() {
    let now = at("2026-11-28T15:00:00Z");
    let mut sizes = Vec::new();
    for count in [100, 1_000, 5_000] {
        let (json, _) = fleet(count, 0, now)
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect("encodes");
        assert!(
            json.len() <= CheckpointDocument::smallest_size(count),
            "{count}"
        );
        sizes.push(json.len());
    }
    assert_eq!(sizes, [882, 8082, 40082]);
    let error = fleet(10_000, 0, now)
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect_err("too big");
    assert!(
        format!("{error:#}").contains("keep it in a file (`--state file:PATH`"),
        "{error:#}"
    );
    // A few hooks are written as before, as version 1.
    let (json, _) = fleet(3, 0, now)
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    assert!(json.starts_with(r#"{"version":1,"hooks":{"#), "{json}");
}

#[test]
fn a_shared_checkpoint_keeps_unknown_fields_and_drops_hooks_not_processed() {
    let now = at("2026-11-28T15:00:00Z");
    let (json, _) = fleet(40, 0, now)
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    value["shared"]["by"] = "v2.1".into();
    value["note"] = 1.into();
    let mut doc = CheckpointDocument::parse(&value.to_string()).expect("parses");
    // This run processes 35 of the 40 hooks again.
    let mut fresh = CheckpointDocument {
        shared: doc.shared.take(),
        extra: doc.extra.clone(),
        ..CheckpointDocument::default()
    };
    for (key, _) in fleet(35, 0, now).hooks {
        let state = fresh.hook(&key);
        assert!(state.checkpoint.is_some(), "{key}");
        fresh.set_hook(&key, state);
    }
    let (json, _) = fresh
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    let back = CheckpointDocument::parse(&json).expect("parses");
    let shared = back.shared.as_ref().expect("shared");
    assert_eq!(shared.hooks.len(), 35);
    assert_eq!(shared.extra["by"], "v2.1");
    assert_eq!(back.extra["note"], 1);
    let gone = fleet(40, 0, now).hooks.into_keys().last().expect("a key");
    assert_eq!(back.hook(&gone).checkpoint, None);
}

#[test]
fn format_3_parts_round_trip_and_raise_the_version_only_when_present() {
    let text = r#"{"version":3,"hooks":{"app":{"checkpoint":"2026-12-07T06:00:00Z"}},"receivers":{"3f9a0c1d2b4e":{"state":"down","since":"2026-12-07T00:10:00Z","sent":{"from":"2026-12-07T06:00:05Z","to":"2026-12-07T06:20:00Z","through":"2026-12-07T01:00:00Z"}}},"replays":[{"at":"2026-12-07T09:00:00Z","since":"2026-12-07T01:00:00Z","until":"2026-12-07T03:00:00Z","events":["pull_request"],"causes":["HTTP 400"],"sent":12,"through":"2026-12-07T02:59:00Z"}],"pace":{"interval_ms":4000,"at":"2026-12-07T06:20:00Z"}}"#;
    let mut doc = CheckpointDocument::parse(text).expect("parses");
    let receiver = &doc.receivers["3f9a0c1d2b4e"];
    assert_eq!(receiver.state, ReceiverState::Down);
    let sent = receiver.sent.as_ref().expect("a sent prefix");
    assert!(sent.covers("g", at("2026-12-07T01:00:00Z")));
    assert!(!sent.covers("g", at("2026-12-07T01:00:01Z")));
    assert_eq!(doc.replays[0].sent, 12);
    assert_eq!(doc.pace.as_ref().map(|pace| pace.interval_ms), Some(4000));
    let now = at("2026-12-07T10:00:00Z");
    let (json, _) = doc
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    assert_eq!(json, text);

    doc.receivers.clear();
    doc.replays.clear();
    doc.pace = None;
    let (json, _) = doc
        .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
        .expect("encodes");
    assert!(json.starts_with(r#"{"version":1,"#), "{json}");
}

#[test]
fn replays_and_sent_prefixes_past_the_retention_are_forgotten() {
    let text = r#"{"version":3,"receivers":{"r":{"state":"up","since":"2026-12-01T00:00:00Z","sent":{"from":"2026-12-01T00:00:00Z","to":"2026-12-01T01:00:00Z","through":"2026-11-30T00:00:00Z"}}},"replays":[{"at":"2026-12-01T09:00:00Z","since":"2026-11-30T01:00:00Z","until":"2026-11-30T03:00:00Z"}]}"#;
    let mut doc = CheckpointDocument::parse(text).expect("parses");
    let (json, _) = doc
        .encode(
            at("2026-12-07T10:00:00Z"),
            Duration::days(3),
            MAX_DOCUMENT_BYTES,
        )
        .expect("encodes");
    assert_eq!(
        json,
        r#"{"version":3,"hooks":{},"receivers":{"r":{"state":"up","since":"2026-12-01T00:00:00Z"}}}"#
    );
}

#[test]
fn a_sent_record_names_what_it_sent_past_its_prefix_by_48_bits_of_each_guid() {
    let sent = SentPrefix {
        from: at("2026-12-07T06:00:00Z"),
        to: at("2026-12-07T06:10:00Z"),
        through: Some(at("2026-12-07T01:00:00Z")),
        also: ["late-1", "late-2"].into_iter().map(member).collect(),
    };
    assert!(sent.covers("early", at("2026-12-07T00:59:00Z")));
    assert!(sent.covers("late-1", at("2026-12-07T05:59:00Z")));
    assert!(!sent.covers("late-3", at("2026-12-07T05:59:00Z")));
    let json = serde_json::to_string(&sent).expect("encodes");
    assert!(json.contains(r#""also":""#) && json.len() < 140, "{json}");
    assert_eq!(
        serde_json::from_str::<SentPrefix>(&json).expect("reads"),
        sent
    );
    let only_also = SentPrefix {
        through: None,
        ..sent
    };
    assert!(!only_also.covers("early", at("2026-12-07T00:59:00Z")));
}
