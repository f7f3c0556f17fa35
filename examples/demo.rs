//! `cargo run --example demo`: a real run of the action against a local fake GitHub.
//!
//! It seeds the fake with a day of deliveries of a GitHub App, some of them failed, and two
//! webhooks of the repository `octo/demo`, and runs the action's own code twice as the
//! Actions runner would (inputs as `INPUT_*`, file commands in a temporary folder), printing
//! the log, the step outputs and the job summary. The `hooks` input names the App's hook and
//! one repository hook by its receiver URL; `max-age: 12h` leaves older failures alone.
//! No GitHub App, token or network is needed.

use chrono::{Duration, Utc};
use fake_github::demo::{DEMO_TOKEN, seed};
use fake_github::{FakeGitHub, FakeOptions, Hook, NewDelivery};
use redeliver_action::base::log::{Log, Sink};
use redeliver_action::config::inputs::{Cli, Environment};
use redeliver_action::config::settings::Settings;
use redeliver_action::driver::execute;

const KEY: &str = include_str!("../tests/resources/app-key.pem");
/// The receiver the repository hook chosen by URL delivers to.
const CI_URL: &str = "https://ci.example.com/hook";

async fn run_as_the_runner(fake: &FakeGitHub, number: usize) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let output = folder.path().join("set_output");
    let summary = folder.path().join("step_summary");
    let env: Environment = [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_REPOSITORY", "octo/demo".to_owned()),
        ("GITHUB_API_URL", fake.url()),
        ("GITHUB_OUTPUT", output.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
        ("INPUT_APP-ID", "4242".to_owned()),
        ("INPUT_PRIVATE-KEY", KEY.to_owned()),
        ("INPUT_TOKEN", DEMO_TOKEN.to_owned()),
        ("INPUT_REDELIVERY-INTERVAL", "100ms".to_owned()),
        ("INPUT_MAX-ATTEMPTS", "1".to_owned()),
        ("INPUT_HOOKS", format!("app\nrepo/octo/demo/{CI_URL}")),
        ("INPUT_MAX-AGE", "12h".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    println!("\n========== run {number}: the step's log ==========");
    let raw = match Cli::parse_from_env(&["redeliver".to_owned()], &env) {
        Ok(raw) => raw,
        Err(refused) => panic!("inputs are read: {}", refused.message()),
    };
    let settings = Settings::resolve(&raw).expect("inputs are valid");
    let exit = execute(settings, Log::new(true, false, Sink::Console)).await;
    println!(
        "\n========== run {number}: exit code {} ==========",
        exit as u8
    );
    println!("---------- $GITHUB_OUTPUT ----------");
    print!("{}", std::fs::read_to_string(&output).unwrap_or_default());
    println!("---------- $GITHUB_STEP_SUMMARY ----------");
    print!("{}", std::fs::read_to_string(&summary).unwrap_or_default());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    seed(&fake);
    // Two webhooks of octo/demo: the one named by its URL, and another left alone.
    let ci = Hook::repo("octo/demo", 101);
    let other = Hook::repo("octo/demo", 102);
    fake.add_hook_with_url(&ci, CI_URL);
    fake.add_hook_with_url(&other, "https://chat.example.com/hook");
    for (guid, hours_ago) in [
        ("c1c1c1c1-0000-4000-8000-000000000001", 2),
        ("c1c1c1c1-0000-4000-8000-000000000002", 20),
    ] {
        fake.add_delivery(
            &ci,
            NewDelivery::failed(guid, Utc::now() - Duration::hours(hours_ago))
                .event("pull_request", Some("synchronize")),
        );
    }
    fake.add_delivery(
        &other,
        NewDelivery::failed(
            "0f0f0f0f-0000-4000-8000-000000000001",
            Utc::now() - Duration::hours(1),
        ),
    );
    println!(
        "Fake GitHub at {} with {} deliveries of the App, and webhooks 101 ({CI_URL}) and 102 of octo/demo.",
        fake.url(),
        fake.deliveries(&Hook::App).len()
    );
    println!(
        "hooks: `app` and `repo/octo/demo/{CI_URL}` (found by listing the repository's webhooks); max-age: 12h (older failures are reported as too old, not redelivered)."
    );
    run_as_the_runner(&fake, 1).await;
    println!(
        "\n(The receiver is back for every event but one; the next scheduled run comes. With `max-attempts: 1`, the one still failing is given up.)"
    );
    run_as_the_runner(&fake, 2).await;
    println!(
        "\nCheckpoint variable afterwards:\n{}",
        fake.variable("octo/demo", "WEBHOOK_REDELIVERY_CHECKPOINT")
            .unwrap_or_default()
    );
}
