//! `fail-on`, measured from outside: the built binary run as the Actions runner runs it.
//! A run that ends in a listed state exits 4, after every output, the summary and the
//! checkpoint are written; `never` keeps exit 0; a bad value is one line and no request.

use std::collections::BTreeSet;

use fake_github::{Hook, NewDelivery, Outcome};

use crate::util::*;

/// An event whose one redelivery already failed: with `max-attempts: 1` it is given up.
fn an_event_to_give_up(fake: &fake_github::FakeGitHub) {
    fake.add_delivery(&Hook::App, NewDelivery::failed("stubborn", minutes_ago(30)));
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("stubborn", minutes_ago(20)).redelivery(true),
    );
    fake.add_delivery(&Hook::App, NewDelivery::ok("fine", minutes_ago(10)));
}

fn declared_outputs() -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml"))
        .expect("action.yml is readable");
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    yaml["outputs"]
        .as_mapping()
        .expect("outputs")
        .keys()
        .map(|key| key.as_str().expect("a name").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_fails_the_step_by_default_after_everything_is_written() {
    let fake = fake().await;
    an_event_to_give_up(&fake);
    let run = run_action(&fake, &[("max-attempts", "1")]).await;
    run.assert_code(4);
    let written: BTreeSet<String> = run.outputs.keys().cloned().collect();
    assert_eq!(written, declared_outputs());
    assert_eq!(run.count("given-up-count"), 1);
    assert_eq!(run.output("error"), "", "the run itself did not fail");
    // First deliveries: `stubborn` failed, `fine` did not; the failed redelivery is apart.
    assert_eq!(run.output("failure-rate"), "0.5");
    assert!(
        run.stdout.contains(
            "::error::the run ended in a state `fail-on` lists: 1 event(s) given up after 1 redeliveries (`given-up`); exit code 4"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.summary
            .contains("> This step fails with exit code 4 (`fail-on`): 1 event(s) given up"),
        "{}",
        run.summary
    );
    let document = stored_document(&fake);
    assert_eq!(
        document["hooks"]["app"]["events"]["stubborn"]["given_up"], true,
        "the checkpoint is saved as usual: {document}"
    );
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_keeps_exit_zero_and_the_same_outputs() {
    let fake = fake().await;
    an_event_to_give_up(&fake);
    let run = run_action(&fake, &[("max-attempts", "1"), ("fail-on", "never")]).await;
    run.assert_code(0);
    assert_eq!(run.count("given-up-count"), 1);
    assert!(!run.summary.contains("exit code 4"), "{}", run.summary);
    assert!(!run.stdout.contains("::error::"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_and_too_old_fail_only_when_listed() {
    let down_fake = fake().await;
    for (guid, minutes) in [("a", 50), ("b", 40), ("c", 30)] {
        down_fake.add_delivery(
            &Hook::App,
            NewDelivery::failed(guid, minutes_ago(minutes)).outcome(Outcome::FailedToConnect),
        );
    }
    down_fake.set_receiver_down(true);
    let down = run_action(&down_fake, &[("fail-on", "given-up, receiver-down")]).await;
    down.assert_code(4);
    assert_eq!(down.output("receiver-down"), "true");
    assert!(down.stdout.contains("(`receiver-down`)"), "{}", down.stdout);

    // The default does not fail on a receiver that is down: that is not a loss yet.
    let old = fake().await;
    old.add_delivery(&Hook::App, NewDelivery::failed("old", minutes_ago(120)));
    let default = run_action(&old, &[("max-age", "1h"), ("dry-run", "true")]).await;
    default.assert_code(0);
    assert_eq!(default.count("too-old-count"), 1);
    let too_old = run_action(
        &old,
        &[
            ("max-age", "1h"),
            ("dry-run", "true"),
            ("fail-on", "too-old"),
        ],
    )
    .await;
    too_old.assert_code(4);
    assert!(
        too_old
            .stdout
            .contains("1 event(s) too old to redeliver (`too-old`)"),
        "{}",
        too_old.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_fail_on_is_one_line_before_any_request() {
    let fake = fake().await;
    let run = run_action(&fake, &[("fail-on", "given-up, everything")]).await;
    run.assert_code(2);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("::error"))
        .collect();
    assert_eq!(
        errors,
        [
            "::error::input `fail-on` has `everything`: use `given-up`, `receiver-down`, `refused`, `too-old` (comma separated), or `never`"
        ],
        "{}",
        run.stdout
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
}
