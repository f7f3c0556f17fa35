//! Who may ask: App JWTs, and the headers GitHub refuses.

use chrono::Utc;
use serde_json::json;

use fake_github::*;

use crate::client::{exchange, get};
use crate::{APP_KEY, REPO, WRONG_KEY, admin_token, app_jwt, jwt_with};

#[tokio::test]
async fn app_jwts_are_checked() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    let now = Utc::now().timestamp();
    let good = [
        json!({ "iat": now - 60, "exp": now + 540, "iss": "Iv23liFakeClientId" }),
        json!({ "iat": now - 60, "exp": now + 540, "iss": 4242 }),
        json!({ "iat": now - 60, "exp": now + 540, "iss": "4242" }),
        json!({ "iat": now, "exp": now + 600, "iss": 4242 }),
    ];
    for claims in good {
        let res = get(
            &base,
            "/app/hook/deliveries",
            Some(&jwt_with(APP_KEY, claims.clone())),
        )
        .await;
        assert_eq!(res.status, 200, "{claims}");
    }
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
        (
            APP_KEY,
            json!({ "iat": now - 700, "exp": now - 10, "iss": 4242 }),
        ), // expired
        (
            APP_KEY,
            json!({ "iat": now - 60, "exp": now + 660, "iss": 4242 }),
        ), // 12 min
        (
            APP_KEY,
            json!({ "iat": now + 120, "exp": now + 600, "iss": 4242 }),
        ), // future iat
    ];
    for (key, claims) in bad {
        let res = get(
            &base,
            "/app/hook/deliveries",
            Some(&jwt_with(key, claims.clone())),
        )
        .await;
        assert_eq!(res.status, 401, "{claims}");
        assert_eq!(res.message(), "A JSON web token could not be decoded");
        assert!(res.json()["documentation_url"].is_string());
    }
    // No auth, garbage, a PAT: 401 on App routes.
    fake.add_token(admin_token());
    for auth in [None, Some("not.a.jwt"), Some("ghp_admin")] {
        let res = get(&base, "/app/hook/deliveries", auth).await;
        assert_eq!(res.status, 401, "{auth:?}");
    }
    // A JWT on a token route: 401.
    let res = get(
        &base,
        &format!("/repos/{REPO}/actions/variables/CHECKPOINT"),
        Some(&app_jwt()),
    )
    .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.message(), "Bad credentials");
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
    let base = fake.url();
    let jwt = app_jwt();
    let path = "/app/hook/deliveries";
    let answer = |extra: &'static [(&'static str, &'static str)]| {
        let (base, jwt) = (base.clone(), jwt.clone());
        async move {
            exchange(&base, "GET", path, Some(&jwt), None, extra)
                .await
                .expect("an answer")
        }
    };
    const VERSION: &str = "x-github-api-version";
    let twice = answer(&[(VERSION, "2022-11-28"), (VERSION, "2022-11-28")]).await;
    assert_eq!(twice.status, 400);
    assert!(
        twice.message().contains("2022-11-28, 2022-11-28"),
        "{}",
        twice.message()
    );
    let old = answer(&[(VERSION, "2019-01-01")]).await;
    assert_eq!(old.status, 400);
    let agents = answer(&[("user-agent", "second")]).await;
    assert_eq!(agents.status, 400);
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
    assert_eq!(answer(&[]).await.status, 200);
}
