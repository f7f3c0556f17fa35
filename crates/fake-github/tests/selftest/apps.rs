//! Installations and their tokens.

use chrono::Utc;
use serde_json::json;

use fake_github::*;

use crate::client::{get, send};
use crate::{REPO, admin_token, app_jwt};

#[tokio::test]
async fn installation_tokens_can_maintain_variables() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    fake.set_installation(REPO, 77);
    fake.set_installation("acme/other", 77);
    let jwt = app_jwt();

    let res = get(&base, "/repos/acme/nothere/installation", Some(&jwt)).await;
    assert_eq!(res.status, 404);
    let res = get(&base, &format!("/repos/{REPO}/installation"), Some(&jwt)).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["id"], 77);
    let res = get(&base, &format!("/repos/{REPO}/installation"), None).await;
    assert_eq!(res.status, 401);

    let res = send(
        &base,
        "POST",
        "/app/installations/78/access_tokens",
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(res.status, 404);
    // `variables` is not GitHub's key: refused, like any unknown key.
    let wrong = json!({ "repositories": ["widgets"], "permissions": { "variables": "write" } });
    let res = send(
        &base,
        "POST",
        "/app/installations/77/access_tokens",
        Some(&jwt),
        Some(wrong),
    )
    .await;
    assert_eq!(res.status, 422);
    let violations = fake.take_contract_violations();
    assert!(
        violations
            .iter()
            .any(|v| v.contains("'variables' was unexpected")),
        "{violations:?}"
    );
    let ask =
        json!({ "repositories": ["widgets"], "permissions": { "actions_variables": "write" } });
    let res = send(
        &base,
        "POST",
        "/app/installations/77/access_tokens",
        Some(&jwt),
        Some(ask.clone()),
    )
    .await;
    assert_eq!(res.status, 201);
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

    let create = format!("/repos/{REPO}/actions/variables");
    let res = send(
        &base,
        "POST",
        &create,
        Some(&token),
        Some(json!({ "name": "CP", "value": "1" })),
    )
    .await;
    assert_eq!(res.status, 201);
    // Not for the other repository (narrowed).
    let res = send(
        &base,
        "POST",
        "/repos/acme/other/actions/variables",
        Some(&token),
        Some(json!({ "name": "CP", "value": "1" })),
    )
    .await;
    assert_eq!(res.status, 403);
    // Asking for more than the installation has, or a foreign repository: 422.
    let res = send(
        &base,
        "POST",
        "/app/installations/77/access_tokens",
        Some(&jwt),
        Some(json!({ "permissions": { "administration": "write" } })),
    )
    .await;
    assert_eq!(res.status, 422);
    let res = send(
        &base,
        "POST",
        "/app/installations/77/access_tokens",
        Some(&jwt),
        Some(json!({ "repositories": ["elsewhere"] })),
    )
    .await;
    assert_eq!(res.status, 422);
    // Read-only variables: cannot write.
    let res = send(
        &base,
        "POST",
        "/app/installations/77/access_tokens",
        Some(&jwt),
        Some(json!({ "permissions": { "actions_variables": "read" } })),
    )
    .await;
    let read_only = res.json()["token"].as_str().expect("token").to_owned();
    let res = get(
        &base,
        &format!("/repos/{REPO}/actions/variables/CP"),
        Some(&read_only),
    )
    .await;
    assert_eq!(res.status, 200);
    let res = send(
        &base,
        "PATCH",
        &format!("/repos/{REPO}/actions/variables/CP"),
        Some(&read_only),
        Some(json!({ "value": "2" })),
    )
    .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.message(), "Resource not accessible by integration");
    // Without the "Webhooks" permission, installation tokens cannot see repository hooks.
    fake.add_hook(&Hook::repo(REPO, 1));
    let res = get(&base, &Hook::repo(REPO, 1).deliveries_path(), Some(&token)).await;
    assert_eq!(res.status, 404);
}

#[tokio::test]
async fn installation_tokens_with_webhook_permissions_reach_hooks() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    fake.set_installation(REPO, 77);
    fake.set_installation_permissions(
        77,
        json!({ "repository_hooks": "write", "organization_hooks": "read" }),
    );
    let repo_hook = Hook::repo(REPO, 1);
    let org_hook = Hook::org("acme", 9);
    let now = Utc::now();
    let a = fake.add_delivery(&repo_hook, NewDelivery::failed("A", now));
    let c = fake.add_delivery(&org_hook, NewDelivery::failed("C", now));
    let res = send(
        &base,
        "POST",
        "/app/installations/77/access_tokens",
        Some(&app_jwt()),
        Some(
            json!({ "permissions": { "repository_hooks": "write", "organization_hooks": "read" } }),
        ),
    )
    .await;
    assert_eq!(res.status, 201);
    let token = res.json()["token"].as_str().expect("token").to_owned();
    assert_eq!(
        get(&base, &repo_hook.deliveries_path(), Some(&token))
            .await
            .status,
        200
    );
    let res = send(
        &base,
        "POST",
        &repo_hook.attempts_path(a),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
    // Read on organization hooks lists but cannot redeliver.
    assert_eq!(
        get(&base, &org_hook.deliveries_path(), Some(&token))
            .await
            .status,
        200
    );
    let res = send(
        &base,
        "POST",
        &org_hook.attempts_path(c),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(res.status, 404);
    // Another organization's hooks are out of reach.
    let other = Hook::org("elsewhere", 3);
    fake.add_hook(&other);
    assert_eq!(
        get(&base, &other.deliveries_path(), Some(&token))
            .await
            .status,
        404
    );
    // A hook that does not exist is a 404 even for its owner's admin.
    fake.add_token(admin_token());
    assert_eq!(
        get(
            &base,
            &Hook::repo(REPO, 404).deliveries_path(),
            Some("ghp_admin")
        )
        .await
        .status,
        404
    );
}
