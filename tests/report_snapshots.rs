//! The job summary and the outputs as specifications: a run with every kind of event, on
//! two hooks, rendered and compared whole with a reviewed snapshot.

use chrono::{DateTime, Utc};
use redeliver_action::domain::delivery::{Delivery, DeliveryId};
use redeliver_action::domain::health::DeliveryHealth;
use redeliver_action::domain::plan::EventSummary;
use redeliver_action::github::client::RequestCounts;
use redeliver_action::report::{HookReport, RedeliveredEvent, RefusedRedelivery, RunReport};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("a time")
}

fn event(guid: &str, event: &str, action: Option<&str>, status: &str) -> EventSummary {
    EventSummary {
        guid: guid.to_owned(),
        event: event.to_owned(),
        action: action.map(str::to_owned),
        first_failure_status: status.to_owned(),
        first_failure_cause: status.to_owned(),
        first_failed_at: at("2026-11-28T10:00:00Z"),
        previous_attempts: 0,
    }
}

fn hook(name: &str) -> HookReport {
    HookReport {
        checkpoint_advanced: true,
        scan_complete: true,
        ..HookReport::new(
            name.to_owned(),
            at("2026-11-28T09:55:00Z"),
            Some(at("2026-11-28T10:00:00Z")),
        )
    }
}

/// The health of deliveries made at `(time, status, status_code, event, duration)`.
fn health(deliveries: &[(&str, &str, u16, &str, f64)]) -> DeliveryHealth {
    let mut health = DeliveryHealth::new();
    for (index, (time, status, status_code, event, duration)) in deliveries.iter().enumerate() {
        health.observe(&Delivery {
            id: DeliveryId(index as u64),
            guid: format!("g{index}").into(),
            delivered_at: at(time),
            redelivery: false,
            status: (*status).into(),
            status_code: *status_code,
            event: (*event).into(),
            action: None,
            duration: Some(*duration),
        });
    }
    health
}

/// Every section of the summary: redelivered, given up, refused, held back, left for later,
/// too old, filtered out, errors; a receiver down and an expired checkpoint.
fn a_run_with_everything() -> RunReport {
    let mut app = hook("app");
    app.found.scanned = 240;
    app.found.failing = 6;
    app.redelivered = vec![RedeliveredEvent {
        delivery_id: DeliveryId(3_804_004_623_172_239_366),
        attempt: 2,
        event: EventSummary {
            previous_attempts: 1,
            ..event(
                "0b989ba4-242f-11e5-81e1-c7b6966d2516",
                "push",
                None,
                "timed out",
            )
        },
    }];
    app.found.given_up = vec![event(
        "deadbeef-0000-4000-8000-000000000001",
        "workflow_job",
        Some("queued"),
        "Invalid HTTP Response: 500",
    )];
    app.refused = vec![RefusedRedelivery {
        delivery_id: DeliveryId(7),
        reason: "422: Validation Failed".to_owned(),
        event: event(
            "g-refused",
            "issues",
            Some("opened"),
            "Invalid HTTP Response: 503",
        ),
    }];
    app.found.deferred = vec![event("g-later", "push", None, "failed to connect")];
    app.found.too_old = vec![event(
        "g-old",
        "pull_request",
        Some("synchronize"),
        "Invalid HTTP Response: 502",
    )];
    app.found.filtered = vec![event(
        "g-filtered",
        "workflow_job",
        Some("completed"),
        "Invalid HTTP Response: 503",
    )];
    // A status with Markdown and HTML in it stays inert in a cell.
    app.found.filtered[0].first_failure_status = "Invalid | <b>HTTP</b> `Response`".to_owned();
    app.scanned_at = Some(at("2026-11-28T12:10:00Z"));
    app.oldest_open_at = Some(at("2026-11-28T10:00:00Z"));
    app.health = health(&[
        ("2026-11-28T09:58:00Z", "OK", 200, "push", 0.25),
        ("2026-11-28T10:00:00Z", "timed out", 0, "push", 10.0),
        (
            "2026-11-28T10:20:00Z",
            "Invalid HTTP Response: 503",
            503,
            "issues",
            0.5,
        ),
        (
            "2026-11-28T10:40:00Z",
            "Invalid HTTP Response: 503",
            503,
            "issues",
            0.5,
        ),
        (
            "2026-11-28T11:05:00Z",
            "Invalid | <b>HTTP</b> `Response`",
            0,
            "workflow_job",
            0.5,
        ),
        ("2026-11-28T11:30:00Z", "OK", 200, "push", 0.25),
        ("2026-11-28T12:05:00Z", "OK", 200, "push", 0.25),
    ]);

    let mut repo = hook("repo/octo/demo/22");
    repo.found.scanned = 3;
    repo.found.failing = 2;
    repo.receiver_down = true;
    repo.checkpoint_expired = true;
    repo.checkpoint_advanced = false;
    repo.scanned_at = Some(at("2026-11-28T12:10:00Z"));
    repo.oldest_open_at = Some(at("2026-11-28T10:00:00Z"));
    repo.health = health(&[
        ("2026-11-28T11:00:00Z", "failed to connect", 0, "push", 0.01),
        ("2026-11-28T11:01:00Z", "failed to connect", 0, "push", 0.01),
        ("2026-11-28T11:02:00Z", "OK", 200, "ping", 0.2),
    ]);
    repo.held_back = vec![
        event("g-held-1", "push", None, "failed to connect"),
        event("g-held-2", "push", None, "failed to connect"),
    ];
    RunReport {
        fleets: Vec::new(),
        dry_run: false,
        max_attempts: 3,
        hooks: vec![app, repo],
    receivers: Vec::new(),
        requests: RequestCounts {
            list: 4,
            redeliver: 2,
            other: 2,
            ..RequestCounts::default()
        },
        checkpoint_saved: true,
        errors: vec!["hook `app`: GitHub refused some redeliveries; they are retried next run, and count as attempts".to_owned()],
        replay: None,
    }
}

#[test]
fn the_job_summary() {
    insta::assert_snapshot!(a_run_with_everything().summary_markdown());
}

#[test]
fn the_outputs() {
    let outputs = a_run_with_everything().outputs().expect("outputs");
    let text: String = outputs
        .iter()
        .filter(|(name, _)| *name != "report")
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    insta::assert_snapshot!(text);
}
