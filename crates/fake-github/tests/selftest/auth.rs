//! Who may ask: App JWTs, and the headers GitHub refuses.

use chrono::Utc;
use serde_json::{Value, json};

use fake_github::*;

use crate::table::{Api, Row};
use crate::{APP_KEY, REPO, WRONG_KEY, admin_token, app_jwt, jwt_with};

const DELIVERIES: &str = "/app/hook/deliveries";

/// The App's deliveries with a JWT of `key` and `claims`, and what GitHub answers.
fn with_jwt(key: &[u8], claims: Value, status: u16) -> Row {
    Row::get(DELIVERIES, status)
        .auth(jwt_with(key, claims.clone()))
        .label(claims)
}

#[tokio::test]
async fn app_jwts_are_checked() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    let now = Utc::now().timestamp();
    let good = [
        json!({ "iat": now - 60, "exp": now + 540, "iss": "Iv23liFakeClientId" }),
        json!({ "iat": now - 60, "exp": now + 540, "iss": 4242 }),
        json!({ "iat": now - 60, "exp": now + 540, "iss": "4242" }),
        json!({ "iat": now, "exp": now + 600, "iss": 4242 }),
    ];
    api.run(&good.map(|claims| with_jwt(APP_KEY, claims, 200)))
        .await;
    let bad = [
        (
            WRONG_KEY,
            json!({ "iat": now - 60, "exp": now + 540, "iss": 4242 }),
        ),
        (
            APP_KEY,
            json!({ "iat": now - 60, "exp": now + 540, "iss": 4243 }),
        ),
        (
            APP_KEY,
            json!({ "iat": now - 60, "exp": now + 540, "iss": "Iv23liOther" }),
        ),
        (APP_KEY, json!({ "iat": now - 60, "exp": now + 540 })),
        (APP_KEY, json!({ "exp": now + 540, "iss": 4242 })),
        (APP_KEY, json!({ "iat": now - 60, "iss": 4242 })),
        // expired
        (
            APP_KEY,
            json!({ "iat": now - 700, "exp": now - 10, "iss": 4242 }),
        ),
        // 12 min
        (
            APP_KEY,
            json!({ "iat": now - 60, "exp": now + 660, "iss": 4242 }),
        ),
        // future iat
        (
            APP_KEY,
            json!({ "iat": now + 120, "exp": now + 600, "iss": 4242 }),
        ),
    ];
    api.run(&bad.map(|(key, claims)| {
        with_jwt(key, claims, 401)
            .message("A JSON web token could not be decoded")
            .documented()
    }))
    .await;
    // No auth, garbage, a PAT: 401 on App routes. A JWT on a token route: 401.
    fake.add_token(admin_token());
    api.run(&[
        Row::get(DELIVERIES, 401),
        Row::get(DELIVERIES, 401).auth("not.a.jwt"),
        Row::get(DELIVERIES, 401).auth("ghp_admin"),
        Row::get(format!("/repos/{REPO}/actions/variables/CHECKPOINT"), 401)
            .auth(app_jwt())
            .message("Bad credentials"),
    ])
    .await;
    let seen: Vec<AuthSeen> = fake.requests().into_iter().map(|r| r.auth).collect();
    assert_eq!(seen[..4], vec![AuthSeen::AppJwt; 4][..]);
    assert!(seen[4..13].iter().all(|a| *a == AuthSeen::Invalid));
    assert_eq!(seen[13], AuthSeen::None);
    assert_eq!(seen[15], AuthSeen::Token("ghp_admin".to_owned()));
    assert_eq!(seen[16], AuthSeen::AppJwt);
}

#[tokio::test]
async fn github_refuses_repeated_headers_and_unsupported_versions() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    let list = |status| Row::get(DELIVERIES, status).auth(app_jwt());
    const VERSION: &str = "x-github-api-version";
    api.run(&[
        list(400)
            .header(VERSION, "2022-11-28")
            .header(VERSION, "2022-11-28")
            .message_contains("2022-11-28, 2022-11-28"),
        list(400).header(VERSION, "2019-01-01"),
        list(400).header("user-agent", "second"),
    ])
    .await;
    let violations = fake.take_contract_violations();
    for expected in [
        "`x-github-api-version` sent 2 times",
        "unsupported API version `2019-01-01`",
        "`user-agent` sent 2 times",
    ] {
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{expected}: {violations:?}"
        );
    }
    // The well-formed request is answered.
    api.one(&list(200)).await;
}
