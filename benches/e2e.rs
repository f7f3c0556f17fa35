//! `cargo bench --bench e2e`: the release binary against the fake GitHub, as the action runs.
//!
//! For each case it prints the median and the spread (min–max) over several runs of wall
//! time, peak RSS of the child (from `wait4`), the requests by kind, the ideal time for
//! the case (list pages × latency + redeliveries × pacing) and the ratio to it.
//! It also replays the same requests from a bare client, so that what the fake GitHub and
//! loopback cost is told apart from what the binary adds. Nothing is asserted: these
//! machines are shared and noisy. `BENCH_RUNS` sets the runs; `BENCH_CASES` picks cases
//! (`scan,busy`, `fleet`, `fleet-outage`, `outage`: see `selected`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use fake_github::{FakeGitHub, FakeOptions, FakeToken, Hook, NewDelivery};

mod fleet;
mod fleet_outage;

const BINARY: &str = env!("CARGO_BIN_EXE_redeliver");
const KEY: &str = include_str!("../tests/resources/app-key.pem");
const TOKEN: &str = "ghp_benchtoken0123456789abcdefghijkl";

struct Case {
    name: &'static str,
    deliveries: usize,
    failed_ratio: f64,
    latency: Duration,
    pacing: Duration,
}

#[derive(Default, Clone, Copy)]
struct Sample {
    wall: Duration,
    /// User + system CPU time of the binary.
    cpu: Duration,
    peak_rss_kib: i64,
    list: usize,
    redeliver: usize,
    other: usize,
    /// The same requests, replayed one at a time by a bare octocrab client that only reads
    /// each answer: what the fake GitHub and loopback cost, before the binary does anything.
    floor: Duration,
}

/// Runs `command` and returns its wall time, peak RSS (KiB), exit code and CPU time.
///
/// The command runs under a launcher: this benchmark re-executed with `--measure`, which
/// starts it and reads its rusage with `wait4`. The launcher is small, so the figure is the
/// child's own; a child forked straight from this process (which holds the fake GitHub's
/// data) would report this process's RSS as its peak, since Linux carries the high-water
/// mark across `exec`.
fn measure(command: &mut Command) -> (Duration, i64, i32, Duration) {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|arg| arg.to_owned()).collect();
    let envs: Vec<_> = command
        .get_envs()
        .filter_map(|(key, value)| Some((key.to_owned(), value?.to_owned())))
        .collect();
    let mut launcher = Command::new(std::env::current_exe().expect("the bench's own path"));
    launcher
        .env_clear()
        .envs(envs)
        .arg("--measure")
        .arg(program)
        .args(args);
    if let Some(dir) = command.get_current_dir() {
        launcher.current_dir(dir);
    }
    let output = launcher
        .stderr(Stdio::inherit())
        .output()
        .expect("the launcher runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<i64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert_eq!(fields.len(), 4, "launcher said {text:?}");
    (
        Duration::from_nanos(fields[0] as u64),
        fields[1],
        fields[2] as i32,
        Duration::from_micros(fields[3] as u64),
    )
}

/// The launcher: runs argv[2..] and prints `wall_ns max_rss_kib exit_code`.
fn launch_and_measure(args: &[String]) -> ! {
    let started = Instant::now();
    let child = Command::new(&args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; `pid` is our own child, not yet waited.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let cpu_micros = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
        + usage.ru_utime.tv_usec
        + usage.ru_stime.tv_usec;
    println!(
        "{} {} {code} {cpu_micros}",
        wall.as_nanos(),
        usage.ru_maxrss
    );
    std::process::exit(0);
}

async fn seeded(case: &Case) -> FakeGitHub {
    let fake = FakeGitHub::start(FakeOptions {
        latency: case.latency,
        ..FakeOptions::default()
    })
    .await;
    fake.add_token(
        FakeToken::new(TOKEN)
            .admin_repo("octo/demo")
            .variables_write(true),
    );
    let failed_every = if case.failed_ratio > 0.0 {
        (1.0 / case.failed_ratio).round() as usize
    } else {
        usize::MAX
    };
    let now = Utc::now();
    // Spread over the last 23 hours: all inside a first run's 24-hour window.
    let step = 23 * 3600 * 1000 / case.deliveries.max(1) as i64;
    for i in 0..case.deliveries {
        let at = now - chrono::Duration::milliseconds(1000 + step * i as i64);
        let guid = format!("{:08x}-0000-4000-8000-{:012x}", i, i);
        let delivery = if i % failed_every == failed_every / 2 {
            NewDelivery::failed(guid, at)
        } else {
            NewDelivery::ok(guid, at)
        }
        .event("workflow_job", Some("queued"));
        fake.add_delivery(&Hook::App, delivery);
    }
    fake
}

fn run_once(runtime: &tokio::runtime::Runtime, case: &Case) -> Sample {
    let fake = runtime.block_on(seeded(case));
    let folder = std::env::temp_dir().join(format!("redeliver-bench-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temp folder");
    let output = folder.join("output");
    let summary = folder.join("summary");
    std::fs::write(&output, "").expect("output file");
    std::fs::write(&summary, "").expect("summary file");
    let mut command = step_command(&folder, &fake);
    command.env(
        "INPUT_REDELIVERY-INTERVAL",
        format!("{}ms", case.pacing.as_millis()),
    );
    let (wall, peak_rss_kib, code, cpu) = measure(&mut command);
    assert_eq!(code, 0, "the run failed");
    let requests = fake.requests();
    let list = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/deliveries"))
        .count();
    let redeliver = requests
        .iter()
        .filter(|r| r.path.ends_with("/attempts"))
        .count();
    let floor = replay(&fake, &requests);
    Sample {
        wall,
        cpu,
        peak_rss_kib,
        list,
        redeliver,
        other: requests.len() - list - redeliver,
        floor,
    }
}

/// Sends `requests` again, in order, with their credentials and bodies, from a bare octocrab
/// client on a single-threaded runtime of its own (as the binary runs), and returns the time
/// it took. Only GitHub's side of a run costs anything here: no parsing, no planning.
fn replay(fake: &FakeGitHub, requests: &[fake_github::RecordedRequest]) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("replay runtime");
    runtime.block_on(async {
        let client = octocrab::Octocrab::builder()
            .base_uri(fake.url())
            .expect("the fake's URL")
            .build()
            .expect("a bare octocrab client");
        let started = Instant::now();
        for request in requests {
            let mut uri = format!("{}{}", fake.url(), request.full_path);
            if let Some(query) = &request.query {
                uri = format!("{uri}?{query}");
            }
            let mut builder = http::Request::builder()
                .method(request.method.as_str())
                .uri(uri);
            // octocrab's `build_request` adds `X-GitHub-Api-Version`, and its default stack
            // a `User-Agent`: each once, as GitHub wants.
            for name in ["authorization", "accept"] {
                if let Some(value) = request.header(name) {
                    builder = builder.header(name, value);
                }
            }
            let built = client
                .build_request(builder, request.body.as_ref())
                .expect("a replayed request");
            let response = client.execute(built).await.expect("the fake answers");
            let _ = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("the whole answer");
        }
        started.elapsed()
    })
}

/// The outage case: `events` failed while the receiver was down. Run 1 finds it still down,
/// run 2 finds it back, run 3 finds nothing left. At `redelivery-interval: 0s`, so the
/// drain at the default 1 s pace is computed from the redeliveries it took.
fn outage(runtime: &tokio::runtime::Runtime, events: usize) {
    let fake = runtime.block_on(async {
        let fake = FakeGitHub::start(FakeOptions::default()).await;
        fake.add_token(
            FakeToken::new(TOKEN)
                .admin_repo("octo/demo")
                .variables_write(true),
        );
        let start = Utc::now() - chrono::Duration::hours(20);
        for i in 0..events {
            let at = start + chrono::Duration::seconds(i as i64 * 2);
            let guid = format!("{:08x}-0000-4000-8000-{:012x}", i, i);
            fake.add_delivery(
                &Hook::App,
                NewDelivery::failed(guid, at)
                    .outcome(fake_github::Outcome::FailedToConnect)
                    .event("workflow_job", Some("queued")),
            );
        }
        fake.set_receiver_down(true);
        fake
    });
    let folder = std::env::temp_dir().join(format!("redeliver-outage-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temp folder");
    let run = |label: &str| {
        let before = fake.requests().len();
        let redelivered_before = fake.redeliveries().len();
        let mut command = step_command(&folder, &fake);
        command.env("INPUT_REDELIVERY-INTERVAL", "0s");
        let (wall, rss, code, cpu) = measure(&mut command);
        let requests = fake.requests().len() - before;
        let redelivered = fake.redeliveries().len() - redelivered_before;
        let document = fake
            .variable("octo/demo", "WEBHOOK_REDELIVERY_CHECKPOINT")
            .map_or(0, |value| value.len());
        println!(
            "{label:<28} exit {code}, {:>8.1} ms wall, {:>7.1} ms CPU, {:>5.1} MiB peak RSS, {requests:>5} requests, {redelivered:>5} redeliveries (at the default 1 s pace: {}), checkpoint document {document} bytes",
            wall.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0,
            humantime::format_duration(Duration::from_secs(redelivered as u64)),
        );
        (requests, redelivered)
    };
    println!("\noutage: {events} events failed with \"failed to connect\" over the last 20 hours");
    let (_, spent_down) = run("run 1, receiver still down");
    runtime.block_on(async {
        fake.set_receiver_down(false);
        fake.record_queued_results();
    });
    let (requests, drained) = run("run 2, receiver back");
    runtime.block_on(async { fake.record_queued_results() });
    let (_, left) = run("run 3");
    println!(
        "outage: run 1 spent {spent_down} redeliveries; run 2 delivered {drained} of {events} ({:.2} requests per event); run 3 redelivered {left}",
        requests as f64 / drained.max(1) as f64
    );
}

/// The binary as the Actions runner starts the step against `fake`: a clean environment,
/// the runner's variables (outputs and summary in `folder`), the App's and the token's
/// inputs. Each case adds its own inputs.
fn step_command(folder: &std::path::Path, fake: &FakeGitHub) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .current_dir(folder)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "octo/demo")
        .env("GITHUB_API_URL", fake.url())
        .env("GITHUB_OUTPUT", folder.join("output"))
        .env("GITHUB_STEP_SUMMARY", folder.join("summary"))
        .env("INPUT_APP-ID", "4242")
        .env("INPUT_PRIVATE-KEY", KEY)
        .env("INPUT_TOKEN", TOKEN);
    command
}

fn median_and_spread<T: Copy + PartialOrd>(values: &mut [T]) -> (T, T, T) {
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// Whether `BENCH_CASES` (`only`: comma-separated parts, empty for all) picks the case
/// `name`: a part picks every case whose name holds it, so `fleet` picks `fleet` and
/// `fleet-outage`, `outage` picks `outage` and `fleet-outage`.
fn selected(only: &str, name: &str) -> bool {
    only.is_empty()
        || only
            .split(',')
            .map(str::trim)
            .any(|part| !part.is_empty() && name.contains(part))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        launch_and_measure(&args[2..]);
    }
    let only = std::env::var("BENCH_CASES").unwrap_or_default();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let cases = [
        Case {
            name: "scan only",
            deliveries: 10_000,
            failed_ratio: 0.0,
            latency: Duration::from_millis(20),
            pacing: Duration::ZERO,
        },
        // Not a target: shows what the binary itself spends on the same 100 pages.
        Case {
            name: "scan 0 ms",
            deliveries: 10_000,
            failed_ratio: 0.0,
            latency: Duration::ZERO,
            pacing: Duration::ZERO,
        },
        Case {
            name: "busy",
            deliveries: 30_000,
            failed_ratio: 0.05,
            latency: Duration::ZERO,
            pacing: Duration::ZERO,
        },
        Case {
            name: "small",
            deliveries: 50,
            failed_ratio: 0.2,
            latency: Duration::ZERO,
            pacing: Duration::ZERO,
        },
    ];
    println!(
        "machine: {} cores; {runs} runs per case; release binary {BINARY}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "binary size: {} bytes",
        std::fs::metadata(BINARY).map(|m| m.len()).unwrap_or(0)
    );
    println!();
    println!(
        "{:<10} {:>22} {:>7} {:>22} {:>6} {:>9} {:>6} {:>10} {:>7}",
        "case",
        "wall ms (min-max)",
        "CPU ms",
        "peak RSS MiB (min-max)",
        "list",
        "redeliver",
        "other",
        "ideal ms",
        "ratio"
    );
    for case in cases.iter().filter(|case| selected(&only, case.name)) {
        let samples: Vec<Sample> = (0..runs).map(|_| run_once(&runtime, case)).collect();
        let mut walls: Vec<f64> = samples
            .iter()
            .map(|s| s.wall.as_secs_f64() * 1000.0)
            .collect();
        let mut rss: Vec<f64> = samples
            .iter()
            .map(|s| s.peak_rss_kib as f64 / 1024.0)
            .collect();
        let (wall, wall_min, wall_max) = median_and_spread(&mut walls);
        let (peak, peak_min, peak_max) = median_and_spread(&mut rss);
        let mut cpu: Vec<f64> = samples
            .iter()
            .map(|s| s.cpu.as_secs_f64() * 1000.0)
            .collect();
        let (cpu, _, _) = median_and_spread(&mut cpu);
        let mut floor: Vec<f64> = samples
            .iter()
            .map(|s| s.floor.as_secs_f64() * 1000.0)
            .collect();
        let (floor, _, _) = median_and_spread(&mut floor);
        let first = samples[0];
        let ideal_ms = first.list as f64 * case.latency.as_secs_f64() * 1000.0
            + first.redeliver as f64 * case.pacing.as_secs_f64() * 1000.0;
        let ratio = if ideal_ms > 0.0 {
            format!("{:.3}", wall / ideal_ms)
        } else {
            "n/a".to_owned()
        };
        println!(
            "{:<10} {:>8.1} ({:>5.1}-{:>6.1}) {:>7.1} {:>8.1} ({:>4.1}-{:>4.1}) {:>6} {:>9} {:>6} {:>10.1} {:>7}",
            case.name,
            wall,
            wall_min,
            wall_max,
            cpu,
            peak,
            peak_min,
            peak_max,
            first.list,
            first.redeliver,
            first.other,
            ideal_ms,
            ratio
        );
        println!(
            "{:<10} the same {} requests from a bare client: {floor:.1} ms; the binary's own share: {:.1} ms",
            "",
            first.list + first.redeliver + first.other,
            wall - floor
        );
    }
    if selected(&only, "fleet") {
        fleet::bench(&runtime, runs);
    }
    if selected(&only, "fleet-outage") {
        fleet_outage::bench(&runtime);
    }
    if selected(&only, "outage") {
        let events: usize = std::env::var("BENCH_OUTAGE_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3_000);
        outage(&runtime, events);
    }
    let mut startup: Vec<f64> = (0..runs.max(20))
        .map(|_| {
            let (wall, _, code, _) = measure(Command::new(BINARY).arg("--version"));
            assert_eq!(code, 0);
            wall.as_secs_f64() * 1000.0
        })
        .collect();
    let (median, min, max) = median_and_spread(&mut startup);
    println!(
        "{:<10} {:>8.2} ({:>5.2}-{:>6.2})   (--version)",
        "start-up", median, min, max
    );
}
