//! Delivery health in the job summary: a day with a 3-hour outage shows in the chart (through
//! the built binary, as the runner runs it), and every chart the summary can hold parses
//! with Mermaid's own parser, the one GitHub renders it with.
//!
//! The parser is the `mermaid` npm package (with jsdom for the window it expects), run by
//! `scripts/mermaid-parse.mjs`. `.ci/run` installs both and names them in
//! `REDELIVER_MERMAID_MODULES`; then a missing node or package fails the test. Without the
//! variable it looks in `.ci/run`'s tools directory, and skips loudly when node or the
//! packages are not there.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use fake_github::{Hook, NewDelivery, Outcome};
use redeliver_action::domain::delivery::{Delivery, DeliveryId};
use redeliver_action::domain::health::DeliveryHealth;
use redeliver_action::report::health::{label_room, mermaid_chart};

use crate::util::*;

/// A delivery every 5 minutes over the 24 hours from `start`, all delivered but from hour
/// 9 to hour 12 after it: the receiver was down (refused connections, and a few timeouts as
/// it fell over). Durations vary as a receiver's do. `(time, outcome, duration)`.
fn a_day_with_a_three_hour_outage(start: DateTime<Utc>) -> Vec<(DateTime<Utc>, Outcome, f64)> {
    let outage = start + Duration::hours(9)..start + Duration::hours(12);
    (0..24 * 12)
        .map(|index| {
            let at = start + Duration::minutes(5 * index);
            let outcome = if !outage.contains(&at) {
                Outcome::Delivered(200)
            } else if at < outage.start + Duration::minutes(15) {
                Outcome::TimedOut
            } else {
                Outcome::FailedToConnect
            };
            let duration = match outcome {
                Outcome::TimedOut => 10.0,
                Outcome::FailedToConnect => 0.01,
                _ => 0.2 + 0.05 * (index % 7) as f64,
            };
            (at, outcome, duration)
        })
        .collect()
}

fn health_of(deliveries: &[(DateTime<Utc>, Outcome, f64)]) -> DeliveryHealth {
    let mut health = DeliveryHealth::new();
    for (index, (at, outcome, duration)) in deliveries.iter().enumerate() {
        let (status, status_code) = match outcome {
            Outcome::Delivered(code) => ("OK".to_owned(), *code),
            Outcome::HttpStatus(code) => (format!("Invalid HTTP Response: {code}"), *code),
            Outcome::TimedOut => ("timed out".to_owned(), 0),
            Outcome::FailedToConnect => ("failed to connect".to_owned(), 0),
        };
        health.observe(&Delivery {
            id: DeliveryId(index as u64),
            guid: format!("g{index}").into(),
            delivered_at: *at,
            redelivery: false,
            status: status.into(),
            status_code,
            event: "push".into(),
            action: None,
            duration: Some(*duration),
        });
    }
    health
}

/// A chart's x-axis labels and its `bar` series, parsed from its text.
pub struct ParsedChart {
    pub labels: Vec<String>,
    pub series: Vec<Vec<u64>>,
}

impl ParsedChart {
    pub fn parse(chart: &str) -> Self {
        let list = |line: &str| -> Option<String> {
            let (_, rest) = line.split_once('[')?;
            Some(rest.strip_suffix(']')?.to_owned())
        };
        let x_axis = chart
            .lines()
            .find(|line| line.trim().starts_with("x-axis"))
            .and_then(list)
            .unwrap_or_else(|| panic!("no x-axis labels in\n{chart}"));
        let labels = x_axis
            .split(", ")
            .map(|label| {
                label
                    .strip_prefix('"')
                    .and_then(|label| label.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("an unquoted label `{label}` in\n{chart}"))
                    .to_owned()
            })
            .collect();
        let series = chart
            .lines()
            .filter(|line| line.trim().starts_with("bar"))
            .map(|line| {
                list(line)
                    .unwrap_or_else(|| panic!("a bar without values in\n{chart}"))
                    .split(", ")
                    .map(|value| value.parse().expect("a count"))
                    .collect()
            })
            .collect();
        Self { labels, series }
    }

    /// First deliveries and failed ones per slot: the red series is the total, the green
    /// one drawn over it the delivered part, the third the mask of zeros.
    pub fn deliveries_and_failures(&self) -> (Vec<u64>, Vec<u64>) {
        let [totals, delivered, mask] = self.series.as_slice() else {
            panic!("not three `bar` series: {:?}", self.series);
        };
        assert!(mask.iter().all(|&zero| zero == 0), "{mask:?}");
        let failures = totals.iter().zip(delivered).map(|(t, d)| t - d).collect();
        (totals.clone(), failures)
    }
}

/// What every chart promises: exactly one label per value in every series, no label twice
/// (Mermaid would draw two slots in one), labels that keep apart at the chart's width, and
/// whole-number ticks on the y-axis.
pub fn assert_chart_is_sound(chart: &str) {
    let parsed = ParsedChart::parse(chart);
    assert!(!parsed.labels.is_empty(), "{chart}");
    for series in &parsed.series {
        assert_eq!(
            series.len(),
            parsed.labels.len(),
            "one label per value:\n{chart}"
        );
    }
    let unique: std::collections::BTreeSet<&String> = parsed.labels.iter().collect();
    assert_eq!(unique.len(), parsed.labels.len(), "a label twice:\n{chart}");
    // At most 7 px a character and 3.5 a space at the labels' 12 px: two neighbours'
    // halves and a gap fit between their centres.
    let room = label_room(parsed.labels.len()) as f64;
    let px = |label: &str| -> f64 {
        label
            .chars()
            .map(|c| if c == ' ' { 3.5 } else { 7.0 })
            .sum()
    };
    for pair in parsed.labels.windows(2) {
        let width = (px(&pair[0]) + px(&pair[1])) / 2.0 + 4.0;
        assert!(
            width <= room,
            "{pair:?} run together ({width} of {room} px):\n{chart}"
        );
    }
    let top: u64 = chart
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("y-axis \"first deliveries\" 0 --> ")
        })
        .and_then(|top| top.parse().ok())
        .unwrap_or_else(|| panic!("no y-axis from 0 in\n{chart}"));
    assert!(top >= 10, "{chart}");
    assert!(
        parsed.series.iter().flatten().all(|&value| value <= top),
        "{chart}"
    );
}

/// The Mermaid blocks of a Markdown text.
pub fn mermaid_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```mermaid\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_owned()))
        .collect()
}

/// Windows a chart must draw right: inside one hour, from and to the same hour of the
/// clock (25 clock hours), across midnight, on the hour, and over several days.
fn windows() -> Vec<(&'static str, DateTime<Utc>, DateTime<Utc>)> {
    let t = |text: &str| text.parse::<DateTime<Utc>>().expect("a time");
    vec![
        (
            "inside an hour",
            t("2026-12-07T10:05:00Z"),
            t("2026-12-07T10:40:00Z"),
        ),
        (
            "a day, same hour",
            t("2026-12-06T10:37:00Z"),
            t("2026-12-07T10:37:00Z"),
        ),
        (
            "a day on the hour",
            t("2026-12-06T10:00:00Z"),
            t("2026-12-07T10:00:00Z"),
        ),
        (
            "from midnight",
            t("2026-12-07T00:00:00Z"),
            t("2026-12-08T00:00:00Z"),
        ),
        (
            "across midnight",
            t("2026-12-06T21:10:00Z"),
            t("2026-12-07T03:50:00Z"),
        ),
        (
            "25 hours and a minute",
            t("2026-12-06T10:59:00Z"),
            t("2026-12-07T12:00:00Z"),
        ),
        (
            "two days",
            t("2026-12-05T10:37:00Z"),
            t("2026-12-07T10:37:00Z"),
        ),
        (
            "three days",
            t("2026-12-04T13:20:00Z"),
            t("2026-12-07T13:20:00Z"),
        ),
        (
            "a week",
            t("2026-11-30T08:00:00Z"),
            t("2026-12-07T08:00:00Z"),
        ),
        (
            "across a year",
            t("2026-12-30T18:00:00Z"),
            t("2027-01-02T06:00:00Z"),
        ),
        (
            "ninety days",
            t("2026-09-08T00:00:00Z"),
            t("2026-12-07T00:00:00Z"),
        ),
    ]
}

/// A delivery every 20 minutes over the window, those in its second quarter failed.
fn health_over(from: DateTime<Utc>, to: DateTime<Utc>) -> DeliveryHealth {
    let span = to - from;
    let outage = from + span / 4..from + span / 2;
    let mut deliveries = Vec::new();
    let mut at = from;
    while at <= to {
        let outcome = if outage.contains(&at) {
            Outcome::FailedToConnect
        } else {
            Outcome::Delivered(200)
        };
        deliveries.push((at, outcome, 0.3));
        at += Duration::minutes(20);
    }
    health_of(&deliveries)
}

#[test]
fn every_window_has_one_label_per_value_and_no_label_twice() {
    for (name, from, to) in windows() {
        let health = health_over(from, to);
        let chart = mermaid_chart(name, &health, from, to);
        assert_chart_is_sound(&chart);
        let parsed = ParsedChart::parse(&chart);
        let (deliveries, failures) = parsed.deliveries_and_failures();
        // Every delivery of the window is in a slot, once.
        assert_eq!(
            deliveries.iter().sum::<u64>(),
            health.deliveries(),
            "{name}"
        );
        assert_eq!(failures.iter().sum::<u64>(), health.failures(), "{name}");
        let hours = (to.timestamp().div_euclid(3600) - from.timestamp().div_euclid(3600)) + 1;
        if hours <= 25 {
            assert_eq!(
                parsed.labels.len() as i64,
                hours,
                "one slot per hour: {name}\n{chart}"
            );
        } else {
            assert!(parsed.labels.len() <= 12, "{name}\n{chart}");
        }
    }
    // A day on the hour: the first slot is the window's start, the hour comes back at the
    // end; the day changes at `Dec 7`.
    let (_, from, to) = windows()[2];
    let labels = ParsedChart::parse(&mermaid_chart("app", &health_over(from, to), from, to)).labels;
    assert_eq!(labels[0], "10:00");
    assert_eq!(labels[13..16], ["23", "Dec 7", "01"]);
    assert_eq!(labels[24], "10");
    // One delivery, failed: whole numbers, and the failure is the whole bar.
    let (_, from, to) = windows()[0];
    let one = health_of(&[(from, Outcome::TimedOut, 10.0)]);
    let chart = mermaid_chart("repo/octo/demo/9", &one, from, to);
    assert!(
        chart.contains("y-axis \"first deliveries\" 0 --> 10\n"),
        "{chart}"
    );
    assert!(
        chart.contains("1 of 1 first deliveries failed (100 %)"),
        "{chart}"
    );
    assert_eq!(
        ParsedChart::parse(&chart).deliveries_and_failures(),
        (vec![1], vec![1])
    );
}

#[test]
fn the_outage_day_chart() {
    let start = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap();
    let health = health_of(&a_day_with_a_three_hour_outage(start));
    let chart = mermaid_chart(
        "app",
        &health,
        start,
        start + Duration::hours(24) - Duration::seconds(1),
    );
    insta::assert_snapshot!(chart);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_a_day_with_a_three_hour_outage_shows_it_in_the_summary() {
    let fake = fake().await;
    let start = Utc::now()
        .duration_trunc(Duration::hours(1))
        .expect("an hour")
        - Duration::hours(23);
    let day = a_day_with_a_three_hour_outage(start);
    let failed = day
        .iter()
        .filter(|(_, outcome, _)| !outcome.is_ok())
        .count();
    fake.add_deliveries(
        &Hook::App,
        day.iter()
            .filter(|(at, _, _)| *at < Utc::now())
            .enumerate()
            .map(|(index, (at, outcome, duration))| {
                NewDelivery::failed(format!("{index:08}-0000-4000-8000-000000000000"), *at)
                    .outcome(*outcome)
                    .duration(*duration)
            }),
    );
    let run = run_action(&fake, &[("since", "24h")]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), failed);

    let charts = mermaid_blocks(&run.summary);
    assert_eq!(charts.len(), 1, "{}", run.summary);
    assert_chart_is_sound(&charts[0]);
    let (bars, line) = ParsedChart::parse(&charts[0]).deliveries_and_failures();
    // The outage is three hours whose every delivery failed, and no failure elsewhere.
    let down: Vec<usize> = (0..line.len()).filter(|&hour| line[hour] > 0).collect();
    assert_eq!(down.len(), 3, "{}", charts[0]);
    assert!(
        down.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{down:?}"
    );
    for hour in down {
        assert_eq!((bars[hour], line[hour]), (12, 12), "{}", charts[0]);
    }
    assert!(
        run.summary.contains("| failed to connect | push | 33 |"),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("| timed out | push | 3 |"),
        "{}",
        run.summary
    );

    let scanned = run.count("scanned-count") as f64;
    let rate: f64 = run.output("failure-rate").parse().expect("a number");
    assert!((rate - failed as f64 / scanned).abs() < 1e-4, "{rate}");
    let health = run.json_output("health");
    assert_eq!(health["causes"]["failed to connect"], 33);
    assert_eq!(health["causes"]["timed out"], 3);
    // 3 timeouts of 10 s among ~280 deliveries are past the 95th percentile.
    let p95 = health["duration_p95_seconds"].as_f64().expect("a p95");
    assert!((0.45..=0.55).contains(&p95), "{health}");
    assert!(
        health["duration_p50_seconds"]
            .as_f64()
            .is_some_and(|p50| p50 < 0.6),
        "{health}"
    );
    // The oldest open event is the outage's first failure, redelivered now: about 14 hours.
    let age: i64 = run.output("oldest-open-age").parse().expect("seconds");
    let expected = (Utc::now() - (start + Duration::hours(9))).num_seconds();
    assert!((age - expected).abs() < 120, "{age} vs {expected}");
    assert_eq!(health["oldest_open_age_seconds"], age);
}

/// Node and the folder of `mermaid` and `jsdom`, or `None` (said loudly) when not there and
/// not required.
fn mermaid_parser() -> Option<(String, PathBuf)> {
    let required = std::env::var_os("REDELIVER_MERMAID_MODULES").map(PathBuf::from);
    let modules = required.clone().unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
            .unwrap_or_default();
        cache.join("redeliver-action-ci/mermaid/node_modules")
    });
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let installed = modules.join("mermaid/package.json").is_file()
        && modules.join("jsdom/package.json").is_file();
    match (node && installed, &required) {
        (true, _) => Some(("node".to_owned(), modules)),
        (false, Some(_)) => panic!(
            "REDELIVER_MERMAID_MODULES is `{}`, but node or the packages are missing (node: {node}, packages: {installed})",
            modules.display()
        ),
        (false, None) => {
            // Past the test harness's capture (which swallows `eprintln!` of a passing test),
            // so that the skip shows in every `cargo test`.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n\n!!! SKIPPED: the Mermaid charts were NOT checked: {} missing. `bash .ci/run` installs them and runs this check for real.\n\n",
                if node {
                    format!("mermaid and jsdom in `{}` are", modules.display())
                } else {
                    "node is".to_owned()
                }
            );
            None
        }
    }
}

/// Charts of every kind: a day, three days, nothing, an odd name, a fleet, every window of
/// [`windows`], and every chart of the summaries a person reads.
fn every_kind_of_chart() -> Vec<(String, String)> {
    let start = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap();
    let day = health_of(&a_day_with_a_three_hour_outage(start));
    let end = start + Duration::hours(24) - Duration::seconds(1);
    let charts = [
        ("outage-day", mermaid_chart("app", &day, start, end)),
        // Three days, in bins of two hours.
        (
            "three-days",
            mermaid_chart("org/acme/123456", &day, start - Duration::hours(48), end),
        ),
        // Nothing delivered at all, and a window inside one hour.
        (
            "empty",
            mermaid_chart(
                "repo/octo/demo/9",
                &DeliveryHealth::new(),
                start,
                start + Duration::minutes(5),
            ),
        ),
        // A name with everything Mermaid could trip on.
        (
            "odd-name",
            mermaid_chart("repo/a\"b/c\n[d]; %%{init}%% #x", &day, start, end),
        ),
        ("fleet", mermaid_chart("all 500 hooks", &day, start, end)),
    ];
    let mut charts: Vec<(String, String)> = charts
        .into_iter()
        .map(|(name, chart)| (name.to_owned(), chart))
        .collect();
    for (index, (name, from, to)) in windows().into_iter().enumerate() {
        charts.push((
            format!("window-{index}"),
            mermaid_chart(name, &health_over(from, to), from, to),
        ));
    }
    // Every chart of the summaries a person reads.
    let pages = [
        crate::summary_pages::a_day(),
        crate::summary_pages::fleet(150, crate::summary_pages::Run::Down, true),
        crate::summary_pages::fleet(150, crate::summary_pages::Run::Back, true),
    ];
    for (index, page) in pages.iter().enumerate() {
        for (chart_index, chart) in mermaid_blocks(&page.summary_markdown())
            .into_iter()
            .enumerate()
        {
            charts.push((format!("page-{index}-{chart_index}"), chart));
        }
    }
    charts
}

#[test]
fn every_kind_of_chart_parses_with_mermaid_s_own_parser() {
    let Some((node, modules)) = mermaid_parser() else {
        return;
    };
    let charts = every_kind_of_chart();
    let folder = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (name, chart) in &charts {
        let file = folder.path().join(format!("{name}.mmd"));
        std::fs::write(&file, chart).expect("written");
        files.push(file);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mermaid-parse.mjs");
    let output = Command::new(node)
        .arg(script)
        .args(&files)
        .env("REDELIVER_MERMAID_MODULES", &modules)
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert_eq!(
        text.lines().filter(|line| line.starts_with("ok ")).count(),
        charts.len(),
        "{text}"
    );
    // Three days, in bins of 8 hours.
    assert_eq!(
        ParsedChart::parse(&charts[1].1).labels.len(),
        9,
        "{}",
        charts[1].1
    );
}
