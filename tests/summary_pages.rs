//! The job summary as a person reads it: the verdict first, a table per receiver, only the
//! hooks that need a person, and charts that tell the truth. Hand-made reports of a day's
//! run and of a fleet of hooks on one receiver, in an outage (run 1) and once it is back
//! (run 2), at 150 and 1,500 hooks.
//!
//! Each page is also written to `target/tmp/summary-pages/` and kept as a reviewed snapshot;
//! `scripts/render-health-chart.sh` renders the snapshots as GitHub does, into `docs/`.

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use redeliver_action::domain::checkpoint::ReceiverState;
use redeliver_action::domain::delivery::{Delivery, DeliveryId};
use redeliver_action::domain::plan::EventSummary;
use redeliver_action::domain::receiver::Receiver;
use redeliver_action::github::client::RequestCounts;
use redeliver_action::report::{
    FleetReport, HookReport, ReceiverReport, ReceiverVerdict, RedeliveredEvent, RunReport,
};

use crate::health_chart::{assert_chart_is_sound, mermaid_blocks};

/// The most non-empty lines a person may have to read outside `<details>` blocks.
const MAX_VISIBLE_LINES: usize = 120;

/// The receiver every hook of the fleet delivers to; a secret in its URL is never shown.
const CI_URL: &str = "https://ci.example.test/github/webhook?token=s3cr3t-t0ken";

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, hour, minute, 0).unwrap()
}

/// The non-empty lines outside `<details>` blocks: what GitHub shows unfolded, a folded
/// block's `<summary>` line included.
pub fn visible_lines(markdown: &str) -> Vec<&str> {
    let mut depth = 0usize;
    let mut visible = Vec::new();
    for line in markdown.lines() {
        let opens = line.matches("<details").count();
        let closes = line.matches("</details>").count();
        if depth == 0 && !line.trim().is_empty() {
            visible.push(line);
        }
        depth = (depth + opens).saturating_sub(closes);
    }
    visible
}

fn event(guid: String, at: DateTime<Utc>, status: &str) -> EventSummary {
    EventSummary {
        guid,
        event: "push".to_owned(),
        action: None,
        first_failure_status: status.to_owned(),
        first_failure_cause: status.to_owned(),
        first_failed_at: at,
        previous_attempts: 0,
    }
}

/// A first delivery (`redelivery: false`) or a redelivery, as the scan lists it.
fn delivery(id: u64, at: DateTime<Utc>, ok: bool, redelivery: bool) -> Delivery<'static> {
    let (status, status_code, duration) = if ok {
        ("OK", 200, 0.25 + 0.05 * (id % 5) as f64)
    } else {
        ("failed to connect", 0, 0.01)
    };
    Delivery {
        id: DeliveryId(id),
        guid: format!("g{id}").into(),
        delivered_at: at,
        redelivery,
        status: status.into(),
        status_code,
        event: "push".into(),
        action: None,
        duration: Some(duration),
    }
}

/// Hook `i` of the fleet, scanned from `since` to `scanned_at`: a push every hour at a
/// minute of its own, failed while the receiver was down (07:20 to 12:00); its failing
/// events in `held_back`, for the run to share out.
fn fleet_hook(i: usize, since: DateTime<Utc>, scanned_at: DateTime<Utc>) -> HookReport {
    let id = 400_000_000 + i as u64;
    let down = at(7, 20)..at(12, 0);
    let mut hook = HookReport {
        scan_complete: true,
        ..HookReport::new(format!("repo/acme/service-{i:04}/{id}"), since, Some(since))
    };
    let mut t = at(0, 0) + Duration::minutes((i as i64 * 7) % 60);
    while t < scanned_at {
        if t >= since {
            let ok = !down.contains(&t);
            let failed = hook.held_back.len();
            hook.health
                .observe(&delivery(id * 100 + failed as u64, t, ok, false));
            if !ok {
                let guid = format!("{i:04}{failed:04}-0000-4000-8000-000000000000");
                hook.held_back.push(event(guid, t, "failed to connect"));
            }
        }
        t += Duration::hours(1);
    }
    hook.found.scanned = hook.health.deliveries() as usize;
    hook.found.failing = hook.held_back.len();
    hook.scanned_at = Some(scanned_at);
    hook.oldest_open_at = hook.held_back.first().map(|event| event.first_failed_at);
    hook
}

/// Which run of the fleet's outage.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// 10:20: the receiver has been down since 07:20; the canaries fail, the rest is held
    /// back.
    Down,
    /// 16:20: it came back at 12:00; everything failed is redelivered.
    Back,
}

/// A fleet of `count` repositories with one hook each, all delivering to [`CI_URL`]: a
/// push every hour on each, at a minute of its own. The receiver fails every delivery from
/// 07:20 to 12:00. `receivers` says whether the run judged receivers and read the hooks'
/// URLs (issue 27), or only the hooks' own findings are there.
pub fn fleet(count: usize, run: Run, receivers: bool) -> RunReport {
    let receiver = Receiver::from_url(CI_URL);
    let (since, scanned_at) = match run {
        Run::Down => (at(4, 0), at(10, 20)),
        Run::Back => (at(7, 20), at(16, 20)),
    };
    let hooks: Vec<HookReport> = (0..count)
        .map(|i| {
            let mut hook = HookReport {
                receiver: receivers.then(|| receiver.shown().to_owned()),
                ..fleet_hook(i, since, scanned_at)
            };
            let mut failing = std::mem::take(&mut hook.held_back);
            match run {
                Run::Down => {
                    hook.receiver_down = !failing.is_empty();
                    // Three canaries for the whole receiver, on the first three hooks.
                    if i < 3 && !failing.is_empty() {
                        hook.redelivered.push(redelivered(failing.remove(0), 1));
                    }
                    hook.held_back = failing;
                }
                Run::Back => {
                    // Run 1's canaries, listed as failed redeliveries: not first deliveries.
                    if i < 3 {
                        let id = 400_000_000 + i as u64;
                        hook.health
                            .observe(&delivery(id * 100 + 99, at(10, 21), false, true));
                    }
                    hook.redelivered = failing
                        .into_iter()
                        .map(|event| redelivered(event, if i < 3 { 2 } else { 1 }))
                        .collect();
                    hook.checkpoint_advanced = true;
                    hook.checkpoint = Some(scanned_at - Duration::minutes(5));
                    hook.oldest_open_at = None;
                }
            }
            hook
        })
        .collect();
    let receiver_report = receiver_report(run, &hooks);
    let redelivered = receiver_report.redelivered;
    RunReport {
        dry_run: false,
        max_attempts: 3,
        fleets: vec![FleetReport {
            selector: "repo/acme/*/https://ci.example.test/github/webhook?token=***".to_owned(),
            repositories: count,
            archived: 0,
            hooks: count,
        }],
        hooks,
        receivers: if receivers {
            vec![receiver_report]
        } else {
            Vec::new()
        },
        requests: RequestCounts {
            list: 2 + count as u32 * 2,
            redeliver: redelivered as u32,
            other: 3,
            ..RequestCounts::default()
        },
        checkpoint_saved: true,
        errors: Vec::new(),
        replay: None,
    }
}

/// What the run found of the fleet's receiver (issue 27's report).
fn receiver_report(run: Run, hooks: &[HookReport]) -> ReceiverReport {
    let redelivered: usize = hooks.iter().map(|hook| hook.redelivered.len()).sum();
    let (state, previous) = match run {
        Run::Down => (ReceiverVerdict::Down, ReceiverState::Up),
        Run::Back => (ReceiverVerdict::Up, ReceiverState::Down),
    };
    ReceiverReport {
        receiver: Receiver::from_url(CI_URL).shown().to_owned(),
        state,
        previous: Some(previous),
        down_since: (run == Run::Down).then_some(at(10, 20)),
        hooks: hooks.len(),
        held_back: hooks.iter().map(|hook| hook.held_back.len()).sum(),
        redelivered,
        spent_while_down: if run == Run::Down { redelivered } else { 0 },
        pending: if run == Run::Back { 12 } else { 0 },
    }
}

fn redelivered(event: EventSummary, attempt: u32) -> RedeliveredEvent {
    RedeliveredEvent {
        delivery_id: DeliveryId(3_804_004_623_172_239_366 + u64::from(attempt)),
        attempt,
        event,
    }
}

/// One hook's day: a push every 5 minutes from 10:37 yesterday to 10:37 today, the
/// receiver down from 01:00 to 04:00 (a window that starts and ends in the same hour, and
/// crosses midnight). The run redelivers the 36 failed events.
pub fn a_day() -> RunReport {
    let from = Utc.with_ymd_and_hms(2026, 12, 6, 10, 37, 0).unwrap();
    let to = from + Duration::hours(24);
    let (down_from, down_to) = (at(1, 0), at(4, 0));
    let mut hook = HookReport {
        scan_complete: true,
        checkpoint_advanced: true,
        ..HookReport::new("app".to_owned(), from, Some(to - Duration::minutes(5)))
    };
    let mut t = from;
    let mut index = 0u64;
    while t < to {
        let ok = !(down_from..down_to).contains(&t);
        hook.health.observe(&delivery(index, t, ok, false));
        if !ok {
            let guid = format!("{index:08}-0000-4000-8000-000000000000");
            hook.redelivered
                .push(redelivered(event(guid, t, "failed to connect"), 1));
        }
        index += 1;
        t += Duration::minutes(5);
    }
    hook.found.scanned = hook.health.deliveries() as usize;
    hook.found.failing = hook.redelivered.len();
    hook.scanned_at = Some(to);
    hook.oldest_open_at = Some(down_from);
    RunReport {
        dry_run: false,
        max_attempts: 3,
        fleets: Vec::new(),
        hooks: vec![hook],
        receivers: Vec::new(),
        requests: RequestCounts {
            list: 3,
            redeliver: 36,
            other: 1,
            ..RequestCounts::default()
        },
        checkpoint_saved: true,
        errors: Vec::new(),
        replay: None,
    }
}

/// Writes a page for `scripts/render-health-chart.sh` and checks what every page promises.
fn page(name: &str, report: &RunReport) -> String {
    let summary = report.summary_markdown();
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("summary-pages");
    std::fs::create_dir_all(&folder).expect("a folder");
    std::fs::write(folder.join(format!("{name}.md")), &summary).expect("written");
    assert!(
        summary.len() < 1024 * 1024,
        "{name}: {} bytes",
        summary.len()
    );
    let visible = visible_lines(&summary);
    assert!(
        visible.len() <= MAX_VISIBLE_LINES,
        "{name}: {} lines outside <details>:\n{}",
        visible.len(),
        visible.join("\n")
    );
    for chart in mermaid_blocks(&summary) {
        assert_chart_is_sound(&chart);
    }
    assert!(!summary.contains("s3cr3t"), "{name}");
    summary
}

/// The verdict: the alert's lines right under the title.
fn verdict(summary: &str) -> Vec<&str> {
    summary
        .lines()
        .skip_while(|line| !line.starts_with("> [!"))
        .skip(1)
        .take_while(|line| line.starts_with("> "))
        .collect()
}

#[test]
fn a_fleet_in_an_outage_names_its_down_receiver_first() {
    let summary = page("fleet-outage", &fleet(150, Run::Down, true));
    let shown = Receiver::from_url(CI_URL).shown().to_owned();
    assert!(
        summary.starts_with("## Webhook redelivery\n\n> [!WARNING]\n"),
        "{summary}"
    );
    let verdict = verdict(&summary);
    assert_eq!(verdict.len(), 1, "{summary}");
    let held = fleet(150, Run::Down, true).held_back_count();
    assert_eq!(
        verdict[0],
        format!(
            "> **Receiver `{shown}` is still down**: {held} events held back, 3 attempts spent; the next run tries again at GitHub's pace."
        )
    );
    // No hook needs a look on its own: they all share the receiver's state.
    assert!(summary.contains("No hook needs a look beyond its receiver's row."));
    assert!(
        summary.contains("<details><summary>All 150 hooks: 150 held back</summary>"),
        "{summary}"
    );
    insta::assert_snapshot!("fleet_outage", summary);
}

#[test]
fn the_same_fleet_once_its_receiver_is_back_says_so() {
    let report = fleet(150, Run::Back, true);
    let summary = page("fleet-back", &report);
    let shown = Receiver::from_url(CI_URL).shown().to_owned();
    assert!(
        summary.starts_with("## Webhook redelivery\n\n> [!NOTE]\n"),
        "{summary}"
    );
    assert_eq!(
        verdict(&summary),
        [format!(
            "> **All {} failed events redelivered, receiver `{shown}` back.**",
            report.redelivered_count()
        )]
    );
    // The canaries that failed in run 1 are redeliveries: not counted as failures again.
    let health = report.health();
    assert_eq!(health.redeliveries(), 3);
    assert_eq!(health.failures() as usize, report.redelivered_count());
    assert!(summary.contains("redeliveries are not counted (3 in the window, 3 of them failed)"));
    insta::assert_snapshot!("fleet_back", summary);
}

#[test]
fn a_day_s_run_of_one_hook() {
    let summary = page("day", &a_day());
    assert_eq!(
        verdict(&summary),
        ["> **All 36 failed events redelivered.**"]
    );
    insta::assert_snapshot!("day", summary);
}

#[test]
fn fifteen_hundred_hooks_in_an_outage_fit_on_a_screen_or_two() {
    for receivers in [true, false] {
        for run in [Run::Down, Run::Back] {
            let report = fleet(1_500, run, receivers);
            let summary = page("fleet-1500", &report);
            let first = verdict(&summary).join("\n");
            match (run, receivers) {
                (Run::Down, true) => assert!(first.contains("is still down"), "{first}"),
                // Without the run's receivers, each hook is a receiver of its own.
                (Run::Down, false) => {
                    assert!(first.contains("1500 receivers are still down"), "{first}")
                }
                (Run::Back, true) => assert!(first.contains(" back.**"), "{first}"),
                (Run::Back, false) => assert!(first.contains("All "), "{first}"),
            }
        }
    }
}

#[test]
fn a_hook_that_needs_a_person_gets_its_own_row_and_the_verdict_says_what_to_do() {
    let mut report = fleet(150, Run::Back, true);
    let hook = &mut report.hooks[7];
    let given_up: Vec<EventSummary> = hook.redelivered.drain(..).map(|r| r.event).collect();
    let lost = given_up.len();
    hook.found.given_up = given_up;
    report.receivers[0].redelivered -= lost;
    let name = hook.hook.clone();
    let oldest = hook.found.given_up[0].first_failed_at;
    let summary = page("fleet-given-up", &report);
    let verdict = verdict(&summary);
    assert!(
        summary.starts_with("## Webhook redelivery\n\n> [!CAUTION]\n"),
        "{summary}"
    );
    assert_eq!(
        verdict[0],
        format!(
            "> **{} events given up after 3 attempts**: fix the receiver, then replay them with the input `replay-since: {}`.",
            report.hooks[7].found.given_up.len(),
            oldest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
    // Its row in the hooks table, and its events in the given-up table.
    let visible = visible_lines(&summary).join("\n");
    let given_up = report.hooks[7].found.given_up.len();
    assert_eq!(
        visible.matches(&format!("| `{name}` |")).count(),
        1 + given_up,
        "{visible}"
    );
    assert!(
        visible.contains("<details><summary>The other 149 hooks: 149 redelivered</summary>"),
        "{visible}"
    );
}

#[test]
fn the_verdict_of_runs_with_nothing_to_do_a_dry_run_and_two_receivers_down() {
    let mut dry = a_day();
    dry.dry_run = true;
    assert_eq!(
        verdict(&dry.summary_markdown()),
        [
            "> **Dry run: 36 events would be redelivered**: nothing was sent; run without `dry-run` to send them."
        ]
    );

    let mut quiet = a_day();
    quiet.hooks[0].redelivered.clear();
    quiet.hooks[0].found.failing = 0;
    assert_eq!(
        verdict(&quiet.summary_markdown()),
        ["> **Nothing to redeliver**: no delivery failed since Dec\u{a0}6\u{a0}10:37 UTC."]
    );

    // Two hooks whose URLs were not read, each down: each is a receiver of its own.
    let mut down = a_day();
    let mut other = down.hooks[0].clone();
    other.hook = "org/acme/11".to_owned();
    down.hooks.push(other);
    for hook in &mut down.hooks {
        hook.receiver_down = true;
        hook.held_back = hook.redelivered.drain(1..).map(|r| r.event).collect();
    }
    let summary = down.summary_markdown();
    assert!(
        summary.starts_with("## Webhook redelivery\n\n> [!WARNING]\n"),
        "{summary}"
    );
    assert_eq!(
        verdict(&summary),
        [
            "> **2 receivers are still down (the receiver of `app`, the receiver of `org/acme/11`)**: 70 events held back, 2 attempts spent; the next run tries again at GitHub's pace."
        ]
    );
    // Without the receivers the run judged, no receivers table: the hooks table says it.
    assert!(!summary.contains("### Receivers"), "{summary}");
}
