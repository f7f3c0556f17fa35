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
use redeliver_action::report::health::mermaid_chart;

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

/// The deliveries and the failures of each point of a chart: its two `bar` series.
fn series(chart: &str) -> (Vec<u64>, Vec<u64>) {
    let mut bars = chart.lines().filter_map(|line| {
        let values = line.trim().strip_prefix("bar [")?.strip_suffix(']')?;
        Some(
            values
                .split(", ")
                .map(|value| value.parse().expect("a count"))
                .collect::<Vec<u64>>(),
        )
    });
    match (bars.next(), bars.next(), bars.next()) {
        (Some(deliveries), Some(failures), None) => (deliveries, failures),
        _ => panic!("not two `bar` series in\n{chart}"),
    }
}

/// The Mermaid blocks of a Markdown text.
fn mermaid_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```mermaid\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_owned()))
        .collect()
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
    // Written for `scripts/render-health-chart.sh`, which renders docs/health-chart-outage.png.
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("health-chart");
    std::fs::create_dir_all(&folder).expect("a folder");
    std::fs::write(folder.join("outage-day.mmd"), &chart).expect("written");
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
    let (bars, line) = series(&charts[0]);
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

#[test]
fn every_kind_of_chart_parses_with_mermaid_s_own_parser() {
    let Some((node, modules)) = mermaid_parser() else {
        return;
    };
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
    assert_eq!(series(&charts[1].1).0.len(), 36, "{}", charts[1].1);
}
