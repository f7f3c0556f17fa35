//! Installations and their tokens.

use chrono::Utc;
use serde_json::{Value, json};

use fake_github::*;

use crate::client::RawResponse;
use crate::table::{Api, Row};
use crate::{REPO, admin_token, app_jwt};

/// Asks for a token of installation `id` with `body`, and what GitHub answers.
fn mint(id: u64, body: Option<Value>, status: u16) -> Row {
    let row = Row::post(format!("/app/installations/{id}/access_tokens"), status).auth(app_jwt());
    match body {
        Some(body) => row.label(&body).body(body),
        None => row,
    }
}

/// The token of a 201: GitHub's format, its expiry, and what it was asked for.
fn check_minted(fake: &FakeGitHub, res: &RawResponse, ask: Value) -> String {
    let minted = res.json();
    let token = minted["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    assert!(token[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(minted["expires_at"].is_string());
    assert_eq!(
        minted["permissions"],
        json!({ "actions_variables": "write" })
    );
    assert_eq!(minted["repositories"][0]["full_name"], REPO);
    assert_eq!(
        fake.minted_tokens(),
        vec![MintedToken {
            token: token.clone(),
            installation_id: 77,
            body: ask
        }]
    );
    token
}

#[tokio::test]
async fn installation_tokens_can_maintain_variables() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    fake.set_installation(REPO, 77);
    fake.set_installation("acme/other", 77);
    let installation = format!("/repos/{REPO}/installation");
    // `variables` is not GitHub's key: refused, like any unknown key.
    let wrong = json!({ "repositories": ["widgets"], "permissions": { "variables": "write" } });
    api.run(&[
        Row::get("/repos/acme/nothere/installation", 404).auth(app_jwt()),
        Row::get(&installation, 200)
            .auth(app_jwt())
            .field("/id", json!(77)),
        Row::get(&installation, 401),
        mint(78, None, 404),
        mint(77, Some(wrong), 422),
    ])
    .await;
    let violations = fake.take_contract_violations();
    assert!(
        violations
            .iter()
            .any(|v| v.contains("'variables' was unexpected")),
        "{violations:?}"
    );
    let ask =
        json!({ "repositories": ["widgets"], "permissions": { "actions_variables": "write" } });
    let res = api.one(&mint(77, Some(ask.clone()), 201)).await;
    let token = check_minted(&fake, &res, ask);

    let cp = json!({ "name": "CP", "value": "1" });
    let answers = api
        .run(&[
            Row::post(format!("/repos/{REPO}/actions/variables"), 201)
                .auth(&token)
                .body(cp.clone()),
            // Not for the other repository (narrowed).
            Row::post("/repos/acme/other/actions/variables", 403)
                .auth(&token)
                .body(cp),
            // Asking for more than the installation has, or a foreign repository: 422.
            mint(
                77,
                Some(json!({ "permissions": { "administration": "write" } })),
                422,
            ),
            mint(77, Some(json!({ "repositories": ["elsewhere"] })), 422),
            // Read-only variables: cannot write.
            mint(
                77,
                Some(json!({ "permissions": { "actions_variables": "read" } })),
                201,
            ),
        ])
        .await;
    let read_only = answers[4].json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let variable = format!("/repos/{REPO}/actions/variables/CP");
    // Without the "Webhooks" permission, installation tokens cannot see repository hooks.
    fake.add_hook(&Hook::repo(REPO, 1));
    api.run(&[
        Row::get(&variable, 200).auth(&read_only),
        Row::patch(&variable, 403)
            .auth(&read_only)
            .body(json!({ "value": "2" }))
            .message("Resource not accessible by integration"),
        Row::get(Hook::repo(REPO, 1).deliveries_path(), 404).auth(&token),
    ])
    .await;
}

#[tokio::test]
async fn installation_tokens_with_webhook_permissions_reach_hooks() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    fake.set_installation(REPO, 77);
    let permissions = json!({ "repository_hooks": "write", "organization_hooks": "read" });
    fake.set_installation_permissions(77, permissions.clone());
    let repo_hook = Hook::repo(REPO, 1);
    let org_hook = Hook::org("acme", 9);
    let now = Utc::now();
    let a = fake.add_delivery(&repo_hook, NewDelivery::failed("A", now));
    let c = fake.add_delivery(&org_hook, NewDelivery::failed("C", now));
    let res = api
        .one(&mint(77, Some(json!({ "permissions": permissions })), 201))
        .await;
    let token = res.json()["token"].as_str().expect("token").to_owned();
    // Another organization's hooks are out of reach.
    let other = Hook::org("elsewhere", 3);
    fake.add_hook(&other);
    fake.add_token(admin_token());
    api.run(&[
        Row::get(repo_hook.deliveries_path(), 200).auth(&token),
        Row::post(repo_hook.attempts_path(a), 202).auth(&token),
        // Read on organization hooks lists but cannot redeliver.
        Row::get(org_hook.deliveries_path(), 200).auth(&token),
        Row::post(org_hook.attempts_path(c), 404).auth(&token),
        Row::get(other.deliveries_path(), 404).auth(&token),
        // A hook that does not exist is a 404 even for its owner's admin.
        Row::get(Hook::repo(REPO, 404).deliveries_path(), 404).auth("ghp_admin"),
    ])
    .await;
}
