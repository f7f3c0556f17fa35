//! `cargo run --example demo`: a real run of the action against a local fake GitHub.
//!
//! It seeds the fake with a day of deliveries of a GitHub App, some of them failed, and runs
//! the action's own code twice as the Actions runner would (inputs as `INPUT_*`, file
//! commands in a temporary folder), printing the log, the step outputs and the job summary.
//! No GitHub App, token or network is needed.

#[path = "../tests/support/fake_github.rs"]
mod fake_github;

use chrono::{Duration, Utc};
use fake_github::{FakeGitHub, FakeOptions, FakeToken, Hook, NewDelivery};
use redeliver_action::entry::execute;
use redeliver_action::inputs::{Cli, Environment, RawSettings};
use redeliver_action::log::{Log, Sink};
use redeliver_action::settings::Settings;

const KEY: &str = include_str!("../tests/resources/app-key.pem");
const TOKEN: &str = "ghp_demotoken0123456789abcdefghijklmn";

/// A day of deliveries: most delivered, a few failed, one whose receiver never recovers.
fn seed(fake: &FakeGitHub) {
    let now = Utc::now();
    let events = [
        ("push", None),
        ("workflow_job", Some("queued")),
        ("issues", Some("opened")),
    ];
    for i in 0..240i64 {
        let (event, action) = events[(i % 3) as usize];
        let at = now - Duration::minutes(6 * i + 3);
        let guid = format!("{:08x}-1f2e-11f0-8a3b-{:012x}", 0x5eed_0000 + i, i);
        let delivery = if i % 37 == 5 {
            NewDelivery::failed(guid, at)
        } else {
            NewDelivery::ok(guid, at)
        };
        fake.add_delivery(&Hook::App, delivery.event(event, action));
    }
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed(
            "deadbeef-0000-4000-8000-000000000001",
            now - Duration::minutes(90),
        )
        .event("workflow_job", Some("queued")),
    );
    fake.set_receiver_failing("deadbeef-0000-4000-8000-000000000001", true);
    fake.add_token(
        FakeToken::new(TOKEN)
            .admin_repo("octo/demo")
            .variables_write(true),
    );
}

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
        ("INPUT_TOKEN", TOKEN.to_owned()),
        ("INPUT_REDELIVERY-INTERVAL", "100ms".to_owned()),
        ("INPUT_MAX-ATTEMPTS", "1".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    println!("\n========== run {number}: the step's log ==========");
    let raw = RawSettings::gather(Cli::default(), &env).expect("inputs are read");
    let settings = Settings::from_raw(raw).expect("inputs are valid");
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
    println!(
        "Fake GitHub at {} with {} deliveries of the App.",
        fake.url(),
        fake.deliveries(&Hook::App).len()
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
