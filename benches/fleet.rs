//! The fleet case of `cargo bench --bench e2e` (`BENCH_CASES=fleet`): an organization of
//! 500 repositories with one hook each (`repo/acme/*/https://ci.example.com/hook`), 20 ms
//! of latency per request, and 5 % of a day's deliveries failed (one event per hook).
//!
//! It prints, for the scan alone (a dry run: list and plan every hook) and for the whole
//! run (with the 500 redeliveries, one at a time): the wall time against the ideal
//! `ceil(pages / scan-concurrency) × latency` (plus, for the whole run, one latency per
//! redelivery, since redeliveries stay one at a time), the list requests against the pages
//! needed, the peak RSS and the checkpoint document's size. Nothing is asserted.

use std::time::Duration;

use chrono::Utc;
use fake_github::{FakeGitHub, FakeOptions, FakeToken, Hook, NewDelivery};

use super::{TOKEN, measure, median_and_spread, step_command};

pub const REPOSITORIES: usize = 500;
/// A day's deliveries per hook; one of them (5 %) failed.
pub const DELIVERIES_PER_HOOK: usize = 20;
pub const LATENCY: Duration = Duration::from_millis(20);
pub const CONCURRENCY: usize = 8;
pub const CI_URL: &str = "https://ci.example.com/hook";
pub const VARIABLE: &str = "WEBHOOK_REDELIVERY_CHECKPOINT";

async fn seeded() -> FakeGitHub {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    fake.add_token(
        FakeToken::new(TOKEN)
            .admin_org("acme")
            .variables_write(true),
    );
    let now = Utc::now();
    let step = 23 * 3600 * 1000 / DELIVERIES_PER_HOOK as i64;
    for r in 0..REPOSITORIES {
        let hook = Hook::repo(&format!("acme/service-{r:03}"), 100_000 + r as u64);
        fake.add_hook_with_url(&hook, CI_URL);
        let deliveries = (0..DELIVERIES_PER_HOOK).map(|i| {
            let at = now - chrono::Duration::milliseconds(60_000 + step * i as i64);
            let guid = format!("{r:08x}-0000-4000-8000-{i:012x}");
            // One failure per hook, at a different hour on each.
            if i == r % DELIVERIES_PER_HOOK {
                NewDelivery::failed(guid, at)
            } else {
                NewDelivery::ok(guid, at)
            }
            .event("push", None)
        });
        fake.add_deliveries(&hook, deliveries);
    }
    fake.set_latency(LATENCY);
    fake
}

/// One run of the action against a fresh fleet: wall, peak RSS (KiB), CPU, list and other
/// requests, redeliveries, and the checkpoint document's size.
struct Sample {
    wall: Duration,
    rss_kib: i64,
    cpu: Duration,
    lists: usize,
    posts: usize,
    other: usize,
    document: usize,
}

fn run(runtime: &tokio::runtime::Runtime, dry_run: bool, concurrency: usize) -> Sample {
    let fake = runtime.block_on(seeded());
    let folder = std::env::temp_dir().join(format!("redeliver-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temp folder");
    for file in ["output", "summary"] {
        std::fs::write(folder.join(file), "").expect("a file");
    }
    let mut command = step_command(&folder, &fake);
    command
        .env("INPUT_HOOKS", format!("repo/acme/*/{CI_URL}"))
        .env("INPUT_REDELIVERY-INTERVAL", "0s")
        .env("INPUT_SCAN-CONCURRENCY", concurrency.to_string())
        .env("INPUT_DRY-RUN", dry_run.to_string());
    let (wall, rss_kib, code, cpu) = measure(&mut command);
    assert_eq!(code, 0, "the fleet run failed");
    let requests = fake.requests();
    let lists = requests.iter().filter(|r| r.method == "GET").count();
    let posts = requests.iter().filter(|r| r.method == "POST").count();
    Sample {
        wall,
        rss_kib,
        cpu,
        lists,
        posts,
        other: requests.len() - lists - posts,
        document: fake
            .variable("octo/demo", VARIABLE)
            .map_or(0, |value| value.len()),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub fn bench(runtime: &tokio::runtime::Runtime, runs: usize) {
    // Pages a run needs: the repository list (100 a page), each repository's hooks, and
    // each hook's deliveries (one page: 20 deliveries).
    let pages = REPOSITORIES.div_ceil(100) + 2 * REPOSITORIES;
    let ideal = |concurrency: usize| LATENCY * pages.div_ceil(concurrency) as u32;
    println!(
        "\nfleet: {REPOSITORIES} repositories of acme, one hook each, {DELIVERIES_PER_HOOK} deliveries a day on each (5 % failed: {REPOSITORIES} events), {} ms per request",
        LATENCY.as_millis()
    );
    println!(
        "fleet: {pages} pages needed ({} of repositories, {REPOSITORIES} of hooks, {REPOSITORIES} of deliveries)",
        REPOSITORIES.div_ceil(100)
    );
    for (label, dry_run, concurrency, count) in [
        ("scan (dry run), 8 at once", true, CONCURRENCY, runs),
        ("whole run, 8 at once", false, CONCURRENCY, runs.min(2)),
        ("scan (dry run), 1 at a time", true, 1, 1),
    ] {
        let samples: Vec<Sample> = (0..count.max(1))
            .map(|_| run(runtime, dry_run, concurrency))
            .collect();
        let mut walls: Vec<f64> = samples.iter().map(|s| ms(s.wall)).collect();
        let (wall, min, max) = median_and_spread(&mut walls);
        let mut rss: Vec<f64> = samples.iter().map(|s| s.rss_kib as f64 / 1024.0).collect();
        let (rss, _, rss_max) = median_and_spread(&mut rss);
        let first = &samples[0];
        // Redeliveries go one at a time: each adds a latency to the whole run's ideal.
        let ideal_ms = ms(ideal(concurrency)) + first.posts as f64 * ms(LATENCY);
        println!(
            "fleet {label:<28} wall {wall:>8.1} ms ({min:.1}-{max:.1}), ideal {ideal_ms:>7.1} ms, ratio {:.3}; CPU {:.1} ms; peak RSS {rss:.1} MiB (max {rss_max:.1}); {} GET vs {pages} pages needed, {} POST, {} other; checkpoint document {} bytes",
            wall / ideal_ms,
            ms(first.cpu),
            first.lists,
            first.posts,
            first.other,
            first.document,
        );
    }
}
