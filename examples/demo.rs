//! `cargo run --example demo`: a real run of the action against a local fake GitHub.
//!
//! It seeds the fake with a day of deliveries of a GitHub App, some of them failed, and runs
//! the action's own code twice as the Actions runner would (inputs as `INPUT_*`, file
//! commands in a temporary folder), printing the log, the step outputs and the job summary.
//! No GitHub App, token or network is needed.

use fake_github::demo::{DEMO_TOKEN, seed};
use fake_github::{FakeGitHub, FakeOptions, Hook};
use redeliver_action::entry::execute;
use redeliver_action::inputs::{Cli, Environment, RawSettings};
use redeliver_action::log::{Log, Sink};
use redeliver_action::settings::Settings;

const KEY: &str = include_str!("../tests/resources/app-key.pem");

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
