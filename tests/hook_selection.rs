//! Choosing hooks the way users think: a hook by its receiver URL, and every hook of an
//! organization or a repository (`*`), resolved once by listing the hooks before any
//! redelivery, each with its own checkpoint entry keyed by the hook's id.

use crate::util::*;
use fake_github::{FakeToken, Hook, NewDelivery};
use redeliver_action::domain::receiver::Receiver;

const CI_URL: &str = "https://ci.example.com/hook";
const OTHER_URL: &str = "https://other.example.com/hook";

fn posts_to(fake: &fake_github::FakeGitHub, path: &str) -> usize {
    count_requests(fake, "POST", path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_hook_named_by_its_url_is_found_and_keeps_its_place_when_renamed() {
    let fake = fake().await;
    let ci = Hook::repo(REPO, 22);
    let other = Hook::repo(REPO, 23);
    fake.add_hook_with_url(&ci, CI_URL);
    fake.add_hook_with_url(&other, OTHER_URL);
    fake.add_delivery(&ci, NewDelivery::failed("ci-event", minutes_ago(30)));
    fake.add_delivery(&other, NewDelivery::failed("other-event", minutes_ago(20)));
    let line = format!("repo/octo/demo/{CI_URL}");
    let run = run_action(&fake, &[("hooks", &line)]).await;
    run.assert_code(0);
    assert_eq!(
        run.json_output("redelivered-guids"),
        serde_json::json!(["ci-event"])
    );
    assert_eq!(posts_to(&fake, "/repos/octo/demo/hooks/22/"), 1);
    // The other hook of the repository is left alone: not even listed.
    assert_eq!(
        count_requests(&fake, "GET", "/repos/octo/demo/hooks/23/"),
        0
    );
    assert_eq!(posts_to(&fake, "/repos/octo/demo/hooks/23/"), 0);
    // The URL resolved to the hook's id: the report's one hook is it.
    let hooks: Vec<serde_json::Value> = run.json_output("report")["hooks"]
        .as_array()
        .expect("the report's hooks")
        .iter()
        .map(|hook| hook["hook"].clone())
        .collect();
    assert_eq!(hooks, [serde_json::json!("repo/octo/demo/22")]);
    // The checkpoint is keyed by the hook's id, not its URL.
    let document = stored_document(&fake);
    let keys: Vec<&String> = document["hooks"]
        .as_object()
        .expect("hooks")
        .keys()
        .collect();
    assert_eq!(keys, ["repo/octo/demo/22"]);
    let first = stored_checkpoint(&fake, "repo/octo/demo/22");

    // The receiver moves: the same hook, a new URL, and the same place in the checkpoint.
    fake.add_hook_with_url(&ci, "https://ci.example.com/v2/hook");
    fake.record_queued_results();
    let run = run_action(
        &fake,
        &[("hooks", "repo/octo/demo/https://ci.example.com/v2/hook")],
    )
    .await;
    run.assert_code(0);
    let report = run.json_output("report");
    assert_eq!(report["hooks"][0]["hook"], "repo/octo/demo/22");
    let since: chrono::DateTime<chrono::Utc> = report["hooks"][0]["since"]
        .as_str()
        .expect("since")
        .parse()
        .expect("RFC 3339");
    assert_eq!(since, first - chrono::Duration::minutes(5));
    assert_eq!(posts_to(&fake, "/repos/octo/demo/hooks/23/"), 0);
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_url_fails_before_any_redelivery_naming_the_urls_there() {
    let fake = fake().await;
    fake.add_hook_with_url(&Hook::repo(REPO, 22), CI_URL);
    fake.add_hook_with_url(&Hook::repo(REPO, 23), OTHER_URL);
    fake.add_delivery(
        &Hook::repo(REPO, 22),
        NewDelivery::failed("ci-event", minutes_ago(30)),
    );
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("app-event", minutes_ago(30)),
    );
    let run = run_action(
        &fake,
        &[("hooks", "app\nrepo/octo/demo/https://ci.example.com/hook/")],
    )
    .await;
    run.assert_code(1);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("::error::"))
        .collect();
    assert_eq!(
        errors,
        [
            // URLs read from GitHub are shown as receivers (a URL may hold a secret); the
            // one typed is echoed as typed.
            format!(
                "::error::input `hooks` has `repo/octo/demo/https://ci.example.com/hook/`, but no webhook of the repository octo/demo has the URL `https://ci.example.com/hook/` (compared exactly); the URLs there are `{}`, `{}`: write one of them, or the hook's id",
                Receiver::from_url(CI_URL),
                Receiver::from_url(OTHER_URL)
            )
        ],
        "{}",
        run.stdout
    );
    // Nothing redelivered, not even for the `app` hook named before it.
    assert!(fake.redeliveries().is_empty());
    assert_eq!(count_requests(&fake, "GET", "/deliveries"), 0);
    assert_eq!(run.output("scan-complete"), "false");
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_of_several_hooks_selects_them_all_and_says_so() {
    let fake = fake().await;
    for id in [31, 32] {
        let hook = Hook::repo(REPO, id);
        fake.add_hook_with_url(&hook, CI_URL);
        fake.add_delivery(
            &hook,
            NewDelivery::failed(format!("event-{id}"), minutes_ago(10)),
        );
    }
    fake.add_hook_with_url(&Hook::repo(REPO, 33), OTHER_URL);
    let line = format!("repo/octo/demo/{CI_URL}");
    let run = run_action(&fake, &[("hooks", &line)]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 2);
    assert!(
        run.stdout.contains(&format!(
            "::warning::`{line}`: 2 webhooks of the repository octo/demo have this URL; each is processed: repo/octo/demo/31, repo/octo/demo/32"
        )),
        "{}",
        run.stdout
    );
    let document = stored_document(&fake);
    assert!(document["hooks"]["repo/octo/demo/31"]["checkpoint"].is_string());
    assert!(document["hooks"]["repo/octo/demo/32"]["checkpoint"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hook_of_an_organization_is_found_and_redelivered_on() {
    let fake = fake().await;
    for id in [11, 12, 13] {
        let hook = Hook::org("acme", id);
        fake.add_hook(&hook);
        fake.add_delivery(
            &hook,
            NewDelivery::failed(format!("org-{id}"), minutes_ago(10)),
        );
    }
    // Named twice (by id and by `*`): processed once, in the order first named.
    let run = run_action(&fake, &[("hooks", "org/acme/12\norg/acme/*")]).await;
    run.assert_code(0);
    let report = run.json_output("report");
    let rows: Vec<&str> = report["hooks"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["hook"].as_str().expect("a name"))
        .collect();
    assert_eq!(rows, ["org/acme/12", "org/acme/11", "org/acme/13"]);
    let mut redelivered: Vec<String> = fake.redeliveries().into_iter().map(|r| r.guid).collect();
    redelivered.sort();
    assert_eq!(redelivered, ["org-11", "org-12", "org-13"]);
    for id in [11, 12, 13] {
        assert_eq!(posts_to(&fake, &format!("/orgs/acme/hooks/{id}/")), 1);
        assert!(
            stored_document(&fake)["hooks"][format!("org/acme/{id}")]["checkpoint"].is_string()
        );
    }
    // One list of the organization's hooks, with the token, asking for full pages.
    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/orgs/acme/hooks")
        .collect();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].query_param("per_page").as_deref(), Some("100"));
    assert!(
        run.stdout
            .contains("`org/acme/*`: 3 webhook(s) in the organization acme"),
        "{}",
        run.stdout
    );
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_hook_leaves_the_checkpoint_and_a_new_one_starts_with_the_look_back() {
    let fake = fake().await;
    let (kept, removed, added) = (
        Hook::org("acme", 11),
        Hook::org("acme", 12),
        Hook::org("acme", 13),
    );
    fake.add_hook(&kept);
    fake.add_hook(&removed);
    // Another organization's entry is none of `org/acme/*`'s business.
    fake.set_variable(
        REPO,
        VARIABLE,
        r#"{"version":1,"hooks":{"org/other/5":{"checkpoint":"2026-11-28T15:00:00Z"}}}"#,
    );
    let run = run_action(&fake, &[("hooks", "org/acme/*")]).await;
    run.assert_code(0);
    assert!(stored_document(&fake)["hooks"]["org/acme/12"].is_object());

    fake.remove_hook(&removed);
    fake.add_hook(&added);
    let run = run_action(&fake, &[("hooks", "org/acme/*")]).await;
    run.assert_code(0);
    let document = stored_document(&fake);
    let keys: Vec<&String> = document["hooks"]
        .as_object()
        .expect("hooks")
        .keys()
        .collect();
    assert_eq!(
        keys,
        ["org/acme/11", "org/acme/13", "org/other/5"],
        "{document}"
    );
    assert!(
        run.stdout
            .contains("Hook `org/acme/12` no longer exists: its checkpoint entry is dropped."),
        "{}",
        run.stdout
    );
    let report = run.json_output("report");
    let new = report["hooks"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["hook"] == "org/acme/13")
        .expect("the new hook is processed");
    let since: chrono::DateTime<chrono::Utc> = new["since"]
        .as_str()
        .expect("since")
        .parse()
        .expect("RFC 3339");
    // The first-run look-back (`since`, 24 h), not the other hooks' checkpoints.
    assert!(since < minutes_ago(23 * 60), "{since}");
    assert_eq!(count_requests(&fake, "GET", "/orgs/acme/hooks/12/"), 1);
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_permission_to_list_hooks_names_the_scope_before_any_redelivery() {
    let fake = fake().await;
    const WEAK: &str = "ghp_weaktoken0123456789abcdefghijklm";
    fake.add_token(FakeToken::new(WEAK).variables_write(true));
    fake.add_hook(&Hook::org("acme", 11));
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("app-event", minutes_ago(30)),
    );
    let run = run_action(&fake, &[("hooks", "app\norg/acme/*"), ("token", WEAK)]).await;
    run.assert_code(1);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("::error::"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(
        errors[0].starts_with("::error::failed to list the webhooks of the organization acme: no permission to list the webhooks of acme (GitHub answers 404 to tokens without it): a token needs `admin:org_hook`"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("\"Organization webhooks: read\""));
    assert!(fake.redeliveries().is_empty());

    let run = run_action(&fake, &[("hooks", "repo/octo/demo/*"), ("token", WEAK)]).await;
    run.assert_code(1);
    assert!(
        run.stdout.contains("no permission to list the webhooks of octo/demo (GitHub answers 404 to tokens without it): a token needs admin on the repository (classic: `repo`) or the repository permission \"Webhooks: read\" (fine-grained); the App's installation needs \"Webhooks: read\""),
        "{}",
        run.stdout
    );
    assert!(fake.redeliveries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_apps_installation_lists_the_repositorys_hooks() {
    let fake = fake().await;
    fake.set_installation(REPO, 777);
    fake.set_installation_permissions(
        777,
        serde_json::json!({ "metadata": "read", "actions_variables": "write", "repository_hooks": "write" }),
    );
    let hook = Hook::repo(REPO, 22);
    fake.add_hook_with_url(&hook, CI_URL);
    fake.add_delivery(&hook, NewDelivery::failed("ci-event", minutes_ago(30)));
    let run = run_action(&fake, &[("hooks", "repo/octo/demo/*"), ("token", "")]).await;
    run.assert_code(0);
    assert_eq!(run.count("redelivered-count"), 1);
    let minted = fake.minted_tokens();
    assert_eq!(minted.len(), 1);
    let list = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/repos/octo/demo/hooks")
        .expect("the hooks are listed");
    assert_eq!(
        list.auth,
        fake_github::AuthSeen::Token(minted[0].token.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_lists_are_followed_page_by_page() {
    let fake = fake().await;
    for id in 1..=120 {
        fake.add_hook_with_url(
            &Hook::repo(REPO, id),
            &format!("https://ci.example.com/{id}"),
        );
    }
    let target = Hook::repo(REPO, 117);
    fake.add_delivery(&target, NewDelivery::failed("late-event", minutes_ago(10)));
    let run = run_action(
        &fake,
        &[("hooks", "repo/octo/demo/https://ci.example.com/117")],
    )
    .await;
    run.assert_code(0);
    assert_eq!(
        run.json_output("redelivered-guids"),
        serde_json::json!(["late-event"])
    );
    let pages: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/repos/octo/demo/hooks")
        .map(|r| r.query_param("page"))
        .collect();
    assert_eq!(pages, [None, Some("2".to_owned())]);
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_help_shows_the_hook_forms_and_max_age() {
    let folder = tempfile::tempdir().expect("temp dir");
    let run = run_cli(folder.path(), &["--help"], &[]).await;
    run.assert_code(0);
    for text in ["--max-age", "receiver URL", "`*`"] {
        assert!(run.stdout.contains(text), "{text}: {}", run.stdout);
    }
}
