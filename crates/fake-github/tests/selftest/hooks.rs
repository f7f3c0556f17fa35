//! A hook's receiver URL: one org or repo hook by id, and the App's hook configuration.

use chrono::Utc;
use serde_json::json;

use fake_github::*;

use crate::table::{Api, Row};
use crate::{APP_KEY, REPO, admin_token, app_jwt, jwt_with};

const CONFIG: &str = "/app/hook/config";
const JWT_MESSAGE: &str = "A JSON web token could not be decoded";

#[tokio::test]
async fn the_app_hook_config_needs_the_app_jwt_and_shows_the_receiver() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    fake.add_token(admin_token());
    let now = Utc::now().timestamp();
    let expired = jwt_with(
        APP_KEY,
        json!({ "iat": now - 700, "exp": now - 10, "iss": 4242 }),
    );
    api.run(&[
        Row::get(CONFIG, 401).message(JWT_MESSAGE).conforms(),
        Row::get(CONFIG, 401).auth("ghp_admin").message(JWT_MESSAGE),
        Row::get(CONFIG, 401).auth(expired).message(JWT_MESSAGE),
        Row::get(CONFIG, 200)
            .auth(app_jwt())
            .answer(json!({
                "content_type": "json",
                "insecure_ssl": "0",
                "secret": "********",
                "url": DEFAULT_APP_HOOK_URL,
            }))
            .conforms(),
    ])
    .await;
    let receiver = "https://hooks.example.com/github?token=s3cret";
    fake.set_app_hook_url(receiver);
    api.one(
        &Row::get(CONFIG, 200)
            .auth(app_jwt())
            .field("/url", json!(receiver))
            .field("/secret", json!("********"))
            .conforms(),
    )
    .await;
    // The App's deliveries do not change with it.
    api.one(&Row::get("/app/hook/deliveries", 200).auth(app_jwt()))
        .await;
}

#[tokio::test]
async fn the_app_hook_config_on_ghes() {
    let fake = FakeGitHub::start(FakeOptions {
        path_prefix: "/api/v3".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    fake.add_hook_with_url(&Hook::App, "https://ghes-receiver.example.test/hook");
    Api::of(&fake)
        .one(
            &Row::get(CONFIG, 200)
                .auth(app_jwt())
                .field("/url", json!("https://ghes-receiver.example.test/hook"))
                .conforms(),
        )
        .await;
}

/// An org hook and two repository hooks (one with a receiver of its own), and the tokens of
/// the organization's owner, the repository's admin and nobody.
fn hooks(fake: &FakeGitHub) {
    fake.add_token(admin_token());
    fake.add_token(FakeToken::new("ghp_org_owner").admin_org("Acme"));
    fake.add_token(FakeToken::new("ghp_nobody"));
    fake.add_hook_with_url(&Hook::org("acme", 9), "https://ci.example.com/org");
    fake.add_hook_with_url(&Hook::repo(REPO, 1), "https://ci.example.com/repo");
    fake.add_hook(&Hook::repo(REPO, 2));
}

#[tokio::test]
async fn one_hook_by_id_as_the_lists_show_it() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    hooks(&fake);
    let base = fake.url();
    let repo_hook = |id: u64, status| Row::get(format!("/repos/{REPO}/hooks/{id}"), status);
    let org_hook = |id: u64, status| Row::get(format!("/orgs/acme/hooks/{id}"), status);
    let answers = api
        .run(&[
            org_hook(9, 200)
                .auth("ghp_org_owner")
                .field("/id", json!(9))
                .field("/type", json!("Organization"))
                .field("/url", json!(format!("{base}/orgs/acme/hooks/9")))
                .field("/config/url", json!("https://ci.example.com/org"))
                .conforms(),
            repo_hook(1, 200)
                .auth("ghp_admin")
                .field("/id", json!(1))
                .field("/type", json!("Repository"))
                .field(
                    "/test_url",
                    json!(format!("{base}/repos/{REPO}/hooks/1/test")),
                )
                .field("/config/url", json!("https://ci.example.com/repo"))
                .conforms(),
            repo_hook(2, 200)
                .auth("ghp_admin")
                .field("/config/url", json!("https://receiver.example/hooks/2"))
                .conforms(),
            // An organization's owner reaches its repositories' hooks.
            repo_hook(1, 200).auth("ghp_org_owner").conforms(),
            Row::get(format!("/repos/{REPO}/hooks"), 200).auth("ghp_admin"),
        ])
        .await;
    // The hook by id is the list's hook.
    let listed = answers[4].json();
    assert_eq!(listed[0]["config"], answers[1].json()["config"]);
    assert_eq!(listed[0]["url"], answers[1].json()["url"]);
}

#[tokio::test]
async fn a_hook_that_does_not_exist_or_cannot_be_seen_is_a_404() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    hooks(&fake);
    let repo_hook = |id: &str, status| Row::get(format!("/repos/{REPO}/hooks/{id}"), status);
    let org_hook = |id: &str, status| Row::get(format!("/orgs/acme/hooks/{id}"), status);
    api.run(&[
        repo_hook("404", 404)
            .auth("ghp_admin")
            .message("Not Found")
            .conforms(),
        org_hook("10", 404).auth("ghp_org_owner").conforms(),
        // A repository's admin is not the organization's owner.
        org_hook("9", 404).auth("ghp_admin"),
        repo_hook("1", 404).auth("ghp_nobody").conforms(),
        org_hook("9", 404).auth("ghp_nobody"),
        repo_hook("1", 401).message("Requires authentication"),
        repo_hook("1", 401)
            .auth(app_jwt())
            .message("Bad credentials"),
    ])
    .await;
    fake.remove_hook(&Hook::repo(REPO, 1));
    api.one(&repo_hook("1", 404).auth("ghp_admin")).await;
    // Not a hook id at all: GitHub's 404, and a request that breaks the description.
    api.one(&repo_hook("one", 404).auth("ghp_admin")).await;
    let violations = fake.take_contract_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("`hook_id`=one"), "{violations:?}");
}

#[tokio::test]
async fn installation_tokens_see_one_hook_with_the_webhooks_permission() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    fake.set_installation(REPO, 77);
    fake.set_installation_permissions(
        77,
        json!({ "repository_hooks": "read", "actions_variables": "write" }),
    );
    fake.add_hook_with_url(&Hook::repo(REPO, 1), "https://ci.example.com/repo");
    let mint = |permissions| {
        Row::post("/app/installations/77/access_tokens", 201)
            .auth(app_jwt())
            .body(json!({ "permissions": permissions }))
    };
    let tokens = api
        .run(&[
            mint(json!({ "repository_hooks": "read" })),
            mint(json!({ "actions_variables": "write" })),
        ])
        .await;
    let token = |answer: usize| {
        tokens[answer].json()["token"]
            .as_str()
            .expect("token")
            .to_owned()
    };
    let hook = format!("/repos/{REPO}/hooks/1");
    api.run(&[
        Row::get(&hook, 200)
            .auth(token(0))
            .field("/config/url", json!("https://ci.example.com/repo"))
            .conforms(),
        Row::get(&hook, 404).auth(token(1)),
    ])
    .await;
}
