//! The fleet-outage case of `cargo bench --bench e2e` (`BENCH_CASES=fleet-outage`, issue 27):
//! the fleet case's 500 repositories of `acme`, each with one hook delivering to ONE
//! receiver (`repo/acme/*/https://ci.example.com/hook`), 20 ms of latency per request,
//! `scan-concurrency` 8, `redelivery-interval` 0s. On each hook the newest 1–3 of a day's
//! 20 deliveries failed with "failed to connect" while the receiver was down.
//!
//! Run 1 finds the receiver still down, run 2 finds it back (the fake lists run 1's canary
//! results first), run 3 finds nothing left. For each run it prints the redeliveries (run 1:
//! spent on a receiver that is down, at most 3 for the fleet), the wall time against the
//! scan's ideal `ceil(pages / scan-concurrency) × latency` (plus, for a run that drains,
//! one latency per redelivery, since redeliveries go one at a time), the list requests
//! beyond the scan's pages against the re-read budget (10 + 4 % of the run's
//! redeliveries), the checkpoint document's size, and the receiver's state from the
//! `receivers` output. After run 2 it counts each event's successful redeliveries: every
//! event must be delivered exactly once. Real time, as the action runs: the fake lists a
//! redelivery's result 2 s after its 202, so run 1 costs the scan and one canary wait.
//! Nothing is asserted.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use fake_github::{FakeGitHub, FakeOptions, FakeToken, Hook, NewDelivery, Outcome};

use super::fleet::{CI_URL, CONCURRENCY, DELIVERIES_PER_HOOK, LATENCY, REPOSITORIES, VARIABLE};
use super::{TOKEN, measure, step_command};

/// The fleet's hooks, in the order they were seeded.
fn hooks() -> Vec<Hook> {
    (0..REPOSITORIES)
        .map(|r| Hook::repo(&format!("acme/service-{r:03}"), 100_000 + r as u64))
        .collect()
}

/// Seeds the fleet and returns the GUIDs of the events that failed in the outage.
async fn seeded() -> (FakeGitHub, Vec<String>) {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    fake.add_token(
        FakeToken::new(TOKEN)
            .admin_org("acme")
            .variables_write(true),
    );
    let now = Utc::now();
    let step = 23 * 3600 * 1000 / DELIVERIES_PER_HOOK as i64;
    let mut failed = Vec::new();
    for (r, hook) in hooks().iter().enumerate() {
        fake.add_hook_with_url(hook, CI_URL);
        // The newest 1–3 deliveries (the last 1 to 3.5 hours) failed: the outage, on every
        // hook at once; each repository's a few seconds apart.
        let outage = 1 + r % 3;
        let deliveries: Vec<NewDelivery> = (0..DELIVERIES_PER_HOOK)
            .map(|i| {
                let at = now
                    - chrono::Duration::milliseconds(60_000 + step * i as i64 + r as i64 * 1000);
                let guid = format!("{r:08x}-0000-4000-8000-{i:012x}");
                if i < outage {
                    failed.push(guid.clone());
                    NewDelivery::failed(guid, at).outcome(Outcome::FailedToConnect)
                } else {
                    NewDelivery::ok(guid, at)
                }
                .event("push", None)
            })
            .collect();
        fake.add_deliveries(hook, deliveries);
    }
    fake.set_latency(LATENCY);
    fake.set_receiver_down(true);
    (fake, failed)
}

/// What one run cost, from the fake's record and the step's outputs.
struct RunFigures {
    wall: Duration,
    cpu: Duration,
    rss_kib: i64,
    code: i32,
    delivery_lists: usize,
    other_gets: usize,
    redeliveries: usize,
    other: usize,
    document: usize,
    /// The `receivers` output's states, as `state` (and `previous` when there is one).
    receiver_states: Vec<String>,
}

/// Runs the action once against `fake`; keeps the checkpoint document it left in `folder`
/// as `checkpoint-<number>.json`, to read.
fn run(fake: &FakeGitHub, folder: &Path, number: usize) -> RunFigures {
    for file in ["output", "summary"] {
        std::fs::write(folder.join(file), "").expect("a file");
    }
    fake.clear_requests();
    let redeliveries_before = fake.redeliveries().len();
    let mut command = step_command(folder, fake);
    command
        .env("INPUT_HOOKS", format!("repo/acme/*/{CI_URL}"))
        .env("INPUT_REDELIVERY-INTERVAL", "0s")
        .env("INPUT_SCAN-CONCURRENCY", CONCURRENCY.to_string());
    let (wall, rss_kib, code, cpu) = measure(&mut command);
    if let Some(document) = fake.variable("octo/demo", VARIABLE) {
        let copy = folder.join(format!("checkpoint-{number}.json"));
        std::fs::write(copy, document).expect("the document's copy");
    }
    let requests = fake.requests();
    let gets = requests.iter().filter(|r| r.method == "GET");
    let delivery_lists = gets
        .clone()
        .filter(|r| r.path.ends_with("/deliveries"))
        .count();
    let other_gets = gets.count() - delivery_lists;
    let redeliveries = fake.redeliveries().len() - redeliveries_before;
    let posts_to_attempts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/attempts"))
        .count();
    RunFigures {
        wall,
        cpu,
        rss_kib,
        code,
        delivery_lists,
        other_gets,
        redeliveries,
        other: requests.len() - delivery_lists - other_gets - posts_to_attempts,
        document: fake
            .variable("octo/demo", VARIABLE)
            .map_or(0, |value| value.len()),
        receiver_states: receiver_states(&folder.join("output")),
    }
}

/// The `receivers` output of the step (`name=value` or GitHub's heredoc form), each
/// receiver's `state`, with `previous` when the checkpoint had one.
fn receiver_states(output: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let mut lines = text.lines();
    let mut value = None;
    while let Some(line) = lines.next() {
        if let Some(single) = line.strip_prefix("receivers=") {
            value = Some(single.to_owned());
            break;
        }
        if let Some(delimiter) = line.strip_prefix("receivers<<") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            value = Some(body.join("\n"));
            break;
        }
    }
    let parsed: serde_json::Value = value
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default();
    parsed
        .as_array()
        .map(|receivers| {
            receivers
                .iter()
                .map(|receiver| match receiver["previous"].as_str() {
                    Some(previous) => format!("{} (was {previous})", receiver["state"]),
                    None => receiver["state"].to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Successful redeliveries by GUID over the fleet's hooks, as GitHub lists them.
fn delivered(fake: &FakeGitHub) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for hook in hooks() {
        for delivery in fake.deliveries(&hook) {
            if delivery["redelivery"] == true && delivery["status"] == "OK" {
                let guid = delivery["guid"].as_str().unwrap_or_default().to_owned();
                *counts.entry(guid).or_insert(0) += 1;
            }
        }
    }
    counts
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn print_run(label: &str, figures: &RunFigures) {
    // Pages the scan needs: the repository list (100 a page), each repository's hooks, and
    // each hook's deliveries (one page: 20 deliveries, and a few redeliveries).
    let pages = REPOSITORIES.div_ceil(100) + 2 * REPOSITORIES;
    let scan_ideal = LATENCY * pages.div_ceil(CONCURRENCY) as u32;
    // Redeliveries go one at a time: each adds a latency.
    let ideal = scan_ideal + LATENCY * figures.redeliveries as u32;
    let rereads = figures.delivery_lists.saturating_sub(REPOSITORIES);
    let budget = 10 + figures.redeliveries * 4 / 100;
    let over = if rereads > budget { ": OVER" } else { "" };
    println!(
        "fleet-outage {label:<24} exit {}, receiver {}: {} redeliveries; wall {:.1} ms against the ideal {:.1} ms (scan {:.1} + {} redeliveries × {} ms), ratio {:.3}, {:.1} ms beyond it; {rereads} list requests beyond the scan's {REPOSITORIES} (budget {budget}{over}); {} other GET, {} other requests; CPU {:.1} ms, peak RSS {:.1} MiB; checkpoint document {} bytes",
        figures.code,
        figures.receiver_states.join(", "),
        figures.redeliveries,
        ms(figures.wall),
        ms(ideal),
        ms(scan_ideal),
        figures.redeliveries,
        LATENCY.as_millis(),
        ms(figures.wall) / ms(ideal),
        ms(figures.wall) - ms(ideal),
        figures.other_gets,
        figures.other,
        ms(figures.cpu),
        figures.rss_kib as f64 / 1024.0,
        figures.document,
    );
}

pub fn bench(runtime: &tokio::runtime::Runtime) {
    let (fake, failed) = runtime.block_on(seeded());
    let folder =
        std::env::temp_dir().join(format!("redeliver-fleet-outage-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temp folder");
    println!(
        "\nfleet-outage: {REPOSITORIES} repositories of acme, one hook each, all delivering to {CI_URL}; {} events failed with \"failed to connect\" (1–3 a hook) among {DELIVERIES_PER_HOOK} a day; {} ms per request, scan-concurrency {CONCURRENCY}, redelivery-interval 0s",
        failed.len(),
        LATENCY.as_millis(),
    );

    let down = run(&fake, &folder, 1);
    print_run("run 1, receiver down", &down);
    println!(
        "fleet-outage run 1 spent {} redeliveries while the receiver was down (goal: at most 3{})",
        down.redeliveries,
        if down.redeliveries > 3 {
            ": MISSED"
        } else {
            ""
        },
    );

    fake.set_receiver_down(false);
    // GitHub lists a redelivery's result within seconds: run 1's canaries are listed by
    // the next run.
    fake.record_queued_results();
    let back = run(&fake, &folder, 2);
    print_run("run 2, receiver back", &back);

    fake.record_queued_results();
    let counts = delivered(&fake);
    let once = failed
        .iter()
        .filter(|guid| counts.get(*guid) == Some(&1))
        .count();
    let twice = counts.values().filter(|n| **n > 1).count();
    let missing = failed
        .iter()
        .filter(|guid| !counts.contains_key(*guid))
        .count();
    println!(
        "fleet-outage after run 2: {once} of {} events delivered exactly once, {twice} more than once, {missing} not delivered{}",
        failed.len(),
        if once == failed.len() && twice == 0 {
            " (every event exactly once)"
        } else {
            ""
        },
    );

    let after = run(&fake, &folder, 3);
    print_run("run 3, all listed", &after);
    println!(
        "fleet-outage: the checkpoint documents are in {}",
        folder.display()
    );
}
