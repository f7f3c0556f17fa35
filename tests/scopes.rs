//! Org and repository hooks, several hooks in one run, the installation token, event filters.

use crate::util::*;
use fake_github::{AuthSeen, FakeToken, Hook, NewDelivery};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scope_end_to_end_with_its_own_checkpoint() {
    let fake = fake().await;
    let org = Hook::org("acme", 11);
    let repo = Hook::repo(REPO, 22);
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("app-event", minutes_ago(10)),
    );
    fake.add_delivery(&org, NewDelivery::failed("org-event", minutes_ago(20)));
    fake.add_delivery(&org, NewDelivery::ok("org-fine", minutes_ago(15)));
    fake.add_delivery(&repo, NewDelivery::failed("repo-event", minutes_ago(30)));
    let hooks = "app\norg/acme/11\nrepo/octo/demo/22";
    let run = run_action(&fake, &[("hooks", hooks)]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 3);
    assert_eq!(run.count("scanned-count"), 4);
    let report = run.json_output("report");
    let rows: Vec<(&str, usize)> = report["hooks"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["hook"].as_str().expect("name"),
                row["redelivered"].as_array().expect("list").len(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("app", 1), ("org/acme/11", 1), ("repo/octo/demo/22", 1)]
    );
    for (path, auth) in [
        ("/app/hook/deliveries/", AuthSeen::AppJwt),
        (
            "/orgs/acme/hooks/11/deliveries/",
            AuthSeen::Token(TOKEN.into()),
        ),
        (
            "/repos/octo/demo/hooks/22/deliveries/",
            AuthSeen::Token(TOKEN.into()),
        ),
    ] {
        let posts: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.starts_with(path))
            .collect();
        assert_eq!(posts.len(), 1, "{path}");
        assert_eq!(posts[0].auth, auth, "{path}");
    }
    let document = stored_document(&fake);
    for key in ["app", "org/acme/11", "repo/octo/demo/22"] {
        assert!(
            document["hooks"][key]["checkpoint"].is_string(),
            "{key}: {document}"
        );
    }
    // Three hooks: a row each.
    for hook in ["app", "org/acme/11", "repo/octo/demo/22"] {
        assert!(
            run.summary.contains(&format!("| `{hook}` |")),
            "{}",
            run.summary
        );
    }
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_and_repo_hooks_need_no_app() {
    let fake = fake().await;
    let repo = Hook::repo(REPO, 22);
    fake.add_delivery(&repo, NewDelivery::failed("repo-event", minutes_ago(30)));
    let run = run_action(
        &fake,
        &[
            ("hooks", "repo/octo/demo/22"),
            ("app-id", ""),
            ("private-key", ""),
        ],
    )
    .await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 1);
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.auth == AuthSeen::Token(TOKEN.into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_scope_does_not_stop_the_others() {
    let fake = fake().await;
    // The token has no admin on octo/other: GitHub answers 404, not 403.
    fake.add_delivery(
        &Hook::repo("octo/other", 5),
        NewDelivery::failed("hidden", minutes_ago(5)),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("app-event", minutes_ago(10)),
    );
    let run = run_action(&fake, &[("hooks", "repo/octo/other/5\napp")]).await;
    run.assert_code(1);
    assert_eq!(
        run.json_output("redelivered-guids"),
        serde_json::json!(["app-event"])
    );
    assert!(
        run.stdout.contains("::error::hook `repo/octo/other/5`: hook not found: check the hook id, and that the token has admin on octo/other"),
        "{}",
        run.stdout
    );
    let document = stored_document(&fake);
    assert!(document["hooks"]["app"]["checkpoint"].is_string());
    assert!(
        document["hooks"]["repo/octo/other/5"]
            .get("checkpoint")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_apps_installation_token_keeps_the_checkpoint() {
    let fake = fake().await;
    fake.set_installation(REPO, 777);
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(10)));
    let run = run_action(&fake, &[("token", "")]).await;
    run.assert_code(0);
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].installation_id, 777);
    assert_eq!(
        minted[0].body,
        serde_json::json!({ "repositories": ["demo"], "permissions": { "actions_variables": "write" } })
    );
    let token = &minted[0].token;
    // Masked before anything could print it, and never printed otherwise.
    let mask = format!("::add-mask::{token}");
    let mask_at = run.stdout.find(&mask).expect("the token is masked");
    assert_eq!(
        run.everything().matches(token.as_str()).count(),
        1,
        "{}",
        run.everything()
    );
    assert!(
        mask_at
            < run
                .stdout
                .find("::group::Checkpoint")
                .expect("checkpoint group")
    );
    // Two requests for the token, then the variable with it: GET (404), a list of one
    // (absent, not hidden), POST.
    let variable_requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/actions/variables"))
        .collect();
    assert_eq!(variable_requests.len(), 3);
    assert!(
        variable_requests
            .iter()
            .all(|r| r.auth == AuthSeen::Token(token.clone()))
    );
    assert!(fake.variable(REPO, VARIABLE).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_not_installed_on_the_repository_is_explained() {
    let fake = fake().await;
    let run = run_action(&fake, &[("token", "")]).await;
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("the App is not installed on octo/demo: install it there, or pass a `token`"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_variables_permission_is_explained() {
    let fake = fake().await;
    fake.add_token(FakeToken::new("ghp_readonlytoken0123456789").admin_repo(REPO));
    let run = run_action(&fake, &[("token", "ghp_readonlytoken0123456789")]).await;
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("the token needs \"Variables: write\" on octo/demo"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_explained_as_a_jwt_problem() {
    let fake = fake().await;
    let wrong = include_str!("resources/wrong-key.pem");
    let run = run_action(&fake, &[("private-key", wrong)]).await;
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("GitHub refused the App's JWT: check `app-id`"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_id_can_be_the_jwt_issuer() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(10)));
    let run = run_action(
        &fake,
        &[("app-id", ""), ("client-id", "Iv23liFakeClientId")],
    )
    .await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_filters_choose_and_count_what_they_leave_out() {
    let fake = fake().await;
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("push-1", minutes_ago(40)).event("push", None),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("queued-1", minutes_ago(30)).event("workflow_job", Some("queued")),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("done-1", minutes_ago(20)).event("workflow_job", Some("completed")),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("ping-1", minutes_ago(10)).event("ping", None),
    );
    let run = run_action(
        &fake,
        &[
            ("events", "workflow_job, ping"),
            ("exclude-events", "workflow_job.completed"),
        ],
    )
    .await;
    run.assert_code(0);
    assert_eq!(
        run.json_output("redelivered-guids"),
        serde_json::json!(["queued-1", "ping-1"])
    );
    assert_eq!(run.count("filtered-count"), 2);
    assert_eq!(run.count("failed-count"), 4);
    assert!(
        run.summary.contains(
            "<b>Filtered out by <code>events</code> / <code>exclude-events</code></b>: 2 events"
        ),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("`done-1`") && run.summary.contains("`push-1`"));
}
