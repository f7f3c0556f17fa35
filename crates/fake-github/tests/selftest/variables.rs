//! Actions variables.

use serde_json::json;

use fake_github::*;

use crate::client::{get, send};
use crate::{REPO, admin_token};

#[tokio::test]
async fn variables_get_create_conflict_update() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    fake.add_token(admin_token());
    fake.add_token(FakeToken::new("ghp_reader").admin_repo(REPO));
    let auth = Some("ghp_admin");
    let var = format!("/repos/{REPO}/actions/variables/redeliver_checkpoint");
    let create = format!("/repos/{REPO}/actions/variables");

    let res = get(&base, &var, auth).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.message(), "Not Found");

    let body = json!({ "name": "REDELIVER_CHECKPOINT", "value": "1700000000000" });
    let res = send(&base, "POST", &create, auth, Some(body.clone())).await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json(), json!({}));
    assert_eq!(
        fake.variable(REPO, "Redeliver_Checkpoint").as_deref(),
        Some("1700000000000")
    );

    let res = send(&base, "POST", &create, auth, Some(body)).await;
    assert_eq!(res.status, 409);

    let res = get(&base, &var, auth).await;
    assert_eq!(res.status, 200);
    let got = res.json();
    assert_eq!(got["name"], "REDELIVER_CHECKPOINT");
    assert_eq!(got["value"], "1700000000000");
    assert!(got["created_at"].is_string() && got["updated_at"].is_string());

    let res = send(
        &base,
        "PATCH",
        &var,
        auth,
        Some(json!({ "value": "2026-11-28T12:00:00Z" })),
    )
    .await;
    assert_eq!(res.status, 204);
    assert!(res.body.is_empty());
    assert_eq!(
        fake.variable("ACME/Widgets", "REDELIVER_CHECKPOINT")
            .as_deref(),
        Some("2026-11-28T12:00:00Z")
    );

    let absent = format!("/repos/{REPO}/actions/variables/OTHER");
    let res = send(&base, "PATCH", &absent, auth, Some(json!({ "value": "x" }))).await;
    assert_eq!(res.status, 404);

    for name in ["1ABC", "GITHUB_X", "github_x", "A-B", ""] {
        let res = send(
            &base,
            "POST",
            &create,
            auth,
            Some(json!({ "name": name, "value": "v" })),
        )
        .await;
        assert_eq!(res.status, 422, "{name:?}");
    }
    let big = "x".repeat(MAX_VARIABLE_VALUE_BYTES + 1);
    let res = send(
        &base,
        "POST",
        &create,
        auth,
        Some(json!({ "name": "BIG", "value": big })),
    )
    .await;
    assert_eq!(res.status, 422);
    let res = send(&base, "PATCH", &var, auth, Some(json!({ "value": big }))).await;
    assert_eq!(res.status, 422);
    let fits = "x".repeat(MAX_VARIABLE_VALUE_BYTES);
    let res = send(&base, "PATCH", &var, auth, Some(json!({ "value": fits }))).await;
    assert_eq!(res.status, 204);

    // Without variables permission: 403; unknown token: 401.
    let res = get(&base, &var, Some("ghp_reader")).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.message(), "Resource not accessible by integration");
    let res = get(&base, &var, Some("ghp_unknown")).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.message(), "Bad credentials");

    fake.set_variable(REPO, "seeded", "42");
    let res = get(
        &base,
        &format!("/repos/{REPO}/actions/variables/SEEDED"),
        auth,
    )
    .await;
    assert_eq!(res.json()["value"], "42");
}
