//! GitHub's contract, end to end: what a strict GitHub refuses or answers, and what the
//! action then does. (Every exchange of every test is also checked against GitHub's OpenAPI
//! description by the fake itself; see `crates/fake-github/openapi/README.md`.)

use fake_github::{AuthSeen, FakeToken, Hook, NewDelivery, Outcome};
use serde_json::json;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_sends_each_header_once_with_our_user_agent() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(5)));
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    let requests = fake.requests();
    assert!(requests.len() >= 4, "{requests:?}");
    for request in &requests {
        for name in ["x-github-api-version", "user-agent", "accept"] {
            let values: Vec<_> = request.headers.iter().filter(|(n, _)| n == name).collect();
            assert_eq!(
                values.len(),
                1,
                "{name} in {} {}",
                request.method,
                request.path
            );
        }
        assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github+json")
        );
        assert!(
            request
                .header("user-agent")
                .is_some_and(|agent| agent.starts_with("redeliver-action/")),
            "{:?}",
            request.header("user-agent")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_without_an_http_answer_and_redirects_are_redelivered() {
    let fake = fake().await;
    for (guid, outcome) in [
        ("timed-out", Outcome::TimedOut),
        ("refused", Outcome::FailedToConnect),
        ("redirected", Outcome::HttpStatus(302)),
        ("rejected", Outcome::HttpStatus(400)),
    ] {
        fake.add_delivery(
            &Hook::App,
            NewDelivery::failed(guid, minutes_ago(5)).outcome(outcome),
        );
    }
    fake.add_delivery(
        &Hook::App,
        NewDelivery::ok("fine", minutes_ago(5)).outcome(Outcome::Delivered(204)),
    );
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    let mut redelivered: Vec<String> =
        serde_json::from_value(run.json_output("redelivered-guids")).expect("a list of GUIDs");
    redelivered.sort();
    assert_eq!(
        redelivered,
        ["redirected", "refused", "rejected", "timed-out"]
    );
}

/// With no `token`, the App's installation token does everything, org and repo hooks
/// included, with exactly the permissions the run needs, under GitHub's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_installation_tokens_reach_org_and_repo_hooks() {
    let fake = fake().await;
    fake.set_installation(REPO, 777);
    fake.set_installation_permissions(
        777,
        json!({ "metadata": "read", "actions_variables": "write",
                "repository_hooks": "write", "organization_hooks": "write" }),
    );
    let repo_hook = Hook::repo(REPO, 5);
    let org_hook = Hook::org("octo", 9);
    fake.add_delivery(
        &repo_hook,
        NewDelivery::failed("repo-event", minutes_ago(5)),
    );
    fake.add_delivery(&org_hook, NewDelivery::failed("org-event", minutes_ago(5)));
    let run = run_action(
        &fake,
        &[("token", ""), ("hooks", "repo/octo/demo/5\norg/octo/9")],
    )
    .await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 2);
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 1, "one token for the one installation");
    assert_eq!(
        minted[0].body,
        json!({ "repositories": ["demo"], "permissions": {
            "actions_variables": "write", "repository_hooks": "write",
            "organization_hooks": "write" } })
    );
    let token = minted[0].token.clone();
    for request in fake.requests() {
        if request.path.contains("/hooks/") || request.path.contains("/actions/variables") {
            assert_eq!(
                request.auth,
                AuthSeen::Token(token.clone()),
                "{}",
                request.path
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_without_variables_write_is_explained_before_minting() {
    let fake = fake().await;
    fake.set_installation(REPO, 777);
    fake.set_installation_permissions(
        777,
        json!({ "metadata": "read", "actions_variables": "read" }),
    );
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(5)));
    let run = run_action(&fake, &[("token", "")]).await;
    run.assert_code(1);
    assert!(
        run.stdout.contains(
            "in the App's settings set \"Repository permissions → Variables: Read and write\", then accept the new permissions on the installation"
        ),
        "{}",
        run.stdout
    );
    assert!(fake.minted_tokens().is_empty());
    assert!(fake.redeliveries().is_empty());
}

/// GitHub answers 404 both for a missing variable and to a token that cannot see the
/// repository's variables: the second must stop the run before it redelivers anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_cannot_see_the_variables_is_not_a_first_run() {
    let fake = fake().await;
    fake.add_token(
        FakeToken::new("ghp_blindtoken0123456789abcdefghij")
            .admin_repo(REPO)
            .hidden_repo(REPO),
    );
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(5)));
    let run = run_action(&fake, &[("token", "ghp_blindtoken0123456789abcdefghij")]).await;
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("the token cannot see the Actions variables of octo/demo"),
        "{}",
        run.stdout
    );
    assert!(fake.redeliveries().is_empty());
    assert_eq!(count_requests(&fake, "GET", "/actions/variables"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_does_not_exist_is_a_404_with_advice() {
    let fake = fake().await;
    let run = run_action(&fake, &[("hooks", "repo/octo/demo/12345")]).await;
    run.assert_code(1);
    assert!(
        run.stdout.contains("hook not found: check the hook id"),
        "{}",
        run.stdout
    );
}
