//! No key, token or JWT ever shows: not in logs (even with debug on), errors, outputs or
//! the summary.

use crate::util::*;
use fake_github::{Fault, FaultKind, Hook, NewDelivery};

/// Lines of output that are not the runner's mask commands.
fn visible(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_anywhere_even_with_debug_logging() {
    let fake = fake().await;
    fake.set_installation(REPO, 5);
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(10)));
    fake.add_delivery(
        &Hook::org("acme", 3),
        NewDelivery::failed("o", minutes_ago(10)),
    );
    fake.push_fault(Fault::new("/attempts", FaultKind::Status(502)));
    fake.push_fault(
        Fault::new("/orgs/acme/hooks/3/deliveries", FaultKind::Status(401)).method("GET"),
    );

    let runs = [
        run_action_with_env(
            &fake,
            &[("hooks", "app\norg/acme/3")],
            &[("RUNNER_DEBUG", "1")],
        )
        .await,
        run_action_with_env(&fake, &[("token", "")], &[("RUNNER_DEBUG", "1")]).await,
        run_action_with_env(
            &fake,
            &[("private-key", include_str!("resources/wrong-key.pem"))],
            &[("RUNNER_DEBUG", "1")],
        )
        .await,
    ];
    let mut secrets: Vec<String> = vec![TOKEN.to_owned()];
    secrets.extend(fake.minted_tokens().into_iter().map(|minted| minted.token));
    for key in [APP_KEY, include_str!("resources/wrong-key.pem")] {
        secrets.extend(
            key.lines()
                .filter(|line| !line.starts_with("-----"))
                .map(str::to_owned),
        );
    }
    // Every JWT the fake saw.
    secrets.extend(fake.requests().into_iter().filter_map(|request| {
        request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::to_owned)
    }));
    assert!(
        secrets.iter().any(|secret| secret.starts_with("eyJ")),
        "JWTs are checked"
    );
    assert!(runs[0].stdout.contains("::debug::"), "debug logging was on");
    for run in &runs {
        let everything = visible(&run.everything());
        for secret in &secrets {
            assert!(
                !everything.contains(secret.as_str()),
                "a secret leaked: {}…",
                &secret[..8.min(secret.len())]
            );
        }
        assert!(!everything.contains("eyJ"), "something like a JWT leaked");
    }
    // The installation token and the JWTs were masked before use.
    let masks = runs[1]
        .stdout
        .lines()
        .filter(|line| line.starts_with("::add-mask::"))
        .count();
    assert!(masks >= 2, "{}", runs[1].stdout);
}
