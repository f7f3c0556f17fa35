//! Self-tests of the fake GitHub.
//!
//! It talks to the fake with hyper's client (one request per connection), and with octocrab
//! where a real GitHub client's view matters.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use chrono::{TimeDelta, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use fake_github::*;

const _: () = assert!(BIG_ID_BASE > 1 << 53, "ids must not fit in an f64 exactly");

const APP_KEY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/resources/app-key.pem"
));
const WRONG_KEY: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/resources/wrong-key.pem"
));

// ---------------------------------------------------------------------------------------------
// An HTTP client: hyper's, one connection per request
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or("").to_owned()
    }

    /// The `rel="next"` URL of the `Link` header.
    fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        link.split(',').find_map(|part| {
            let (url, rel) = part.split_once(';')?;
            rel.contains("rel=\"next\"").then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// A client that keeps no connection between requests, so that a dropped connection is seen
/// by the request it belongs to.
fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

/// `target` is an absolute `http://host:port/path?query` URL, or a path appended to `base`.
/// The headers GitHub wants are sent, then `extra` (appended: a name may repeat).
async fn exchange(
    base: &str,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Result<RawResponse, hyper_util::client::legacy::Error> {
    let url = if target.starts_with("http://") {
        target.to_owned()
    } else {
        format!("{base}{target}")
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(url)
        .header("user-agent", "fake-github-selftest")
        .header("accept", "application/vnd.github+json");
    if !extra
        .iter()
        .any(|(name, _)| *name == "x-github-api-version")
    {
        builder = builder.header("x-github-api-version", "2022-11-28");
    }
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    if let Some(auth) = auth {
        builder = builder.header("authorization", format!("Bearer {auth}"));
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Full::new(Bytes::from(body.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = client()
        .request(builder.body(body).expect("a valid request"))
        .await?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes().to_vec())
        .unwrap_or_default();
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

async fn request(
    base: &str,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Result<RawResponse, hyper_util::client::legacy::Error> {
    exchange(base, method, target, auth, body, &[]).await
}

async fn get(base: &str, target: &str, auth: Option<&str>) -> RawResponse {
    request(base, "GET", target, auth, None)
        .await
        .unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

async fn send(
    base: &str,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> RawResponse {
    request(base, method, target, auth, body.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// JWTs
// ---------------------------------------------------------------------------------------------

fn jwt_with(key: &[u8], claims: Value) -> String {
    let key = EncodingKey::from_rsa_pem(key).expect("test RSA key");
    encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign JWT")
}

/// A JWT for the default options' App, the way GitHub recommends it.
fn app_jwt() -> String {
    let now = Utc::now().timestamp();
    jwt_with(
        APP_KEY,
        json!({ "iat": now - 60, "exp": now + 540, "iss": "Iv23liFakeClientId" }),
    )
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const REPO: &str = "acme/widgets";

fn admin_token() -> FakeToken {
    FakeToken::new("ghp_admin")
        .admin_repo(REPO)
        .variables_write(true)
}

/// Collects every page by following `Link: rel="next"`; returns the items and the pages' sizes.
async fn list_all(
    base: &str,
    first: &str,
    auth: &str,
    between_pages: impl Fn(usize),
) -> (Vec<Value>, Vec<usize>) {
    let mut items = Vec::new();
    let mut sizes = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(target) = next {
        let page = get(base, &target, Some(auth)).await;
        assert_eq!(page.status, 200, "{target}: {:?}", page.json());
        let list = page.json().as_array().expect("a JSON array").clone();
        sizes.push(list.len());
        items.extend(list);
        next = page.next_link();
        if let Some(url) = &next {
            assert!(
                url.starts_with(base),
                "absolute next URL under the base: {url}"
            );
        }
        between_pages(sizes.len());
        assert!(sizes.len() < 100, "runaway pagination");
    }
    (items, sizes)
}

#[tokio::test]
async fn pagination_of_250_deliveries_in_pages_of_100_follows_link() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    fake.add_token(admin_token());
    let hook = Hook::repo(REPO, 7);
    let start = Utc::now() - TimeDelta::hours(10);
    // Oldest first, several in the same second, every third failed.
    let ids = fake.add_deliveries(
        &hook,
        (0..250).map(|i| {
            let at = start + TimeDelta::seconds(i / 3);
            let guid = format!("guid-{i}");
            if i % 3 == 0 {
                NewDelivery::failed(guid, at)
            } else {
                NewDelivery::ok(guid, at)
            }
        }),
    );
    assert!(ids.iter().all(|&id| id >= BIG_ID_BASE));

    let first = format!("{}?per_page=100", hook.deliveries_path());
    let (items, sizes) = list_all(&base, &first, "ghp_admin", |_| {}).await;
    assert_eq!(sizes, vec![100, 100, 50]);
    let got: Vec<u64> = items
        .iter()
        .map(|d| d["id"].as_u64().expect("u64 id"))
        .collect();
    let mut expected = ids.clone();
    expected.reverse(); // newest first; same second -> higher id first
    assert_eq!(got, expected);
    assert_eq!(items, fake.deliveries(&hook));

    // Exact 64-bit ids in the JSON text.
    let page = get(&base, &first, Some("ghp_admin")).await;
    let text = String::from_utf8_lossy(&page.body).into_owned();
    assert!(
        text.contains(&format!("\"id\":{}", ids[249])),
        "{text:.200}"
    );
    let list = page.json();
    let failed = &list[0]; // 249 % 3 == 0
    assert_eq!(failed["guid"], "guid-249");
    assert_eq!(failed["redelivery"], false);
    assert_eq!(failed["status"], "Invalid HTTP Response: 503");
    assert_eq!(failed["status_code"], 503);
    assert_eq!(failed["event"], "push");
    assert_eq!(failed["action"], Value::Null);
    assert_eq!(failed["throttled_at"], Value::Null);
    assert!(failed["duration"].is_number());
    assert_eq!(failed["repository_id"], 1);
    assert!(
        failed["delivered_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') && s.len() == 20)
    );
    let ok = &list[1];
    assert_eq!(ok["guid"], "guid-248");
    assert_eq!(ok["status"], "OK");
    assert_eq!(ok["status_code"], 200);
    assert!(fake.unexpected_requests().is_empty());
}

#[tokio::test]
async fn pagination_survives_redeliveries_inserted_between_pages() {
    let fake = FakeGitHub::start(FakeOptions {
        path_prefix: "/api/v3".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    let base = fake.url();
    assert!(base.ends_with("/api/v3"));
    let jwt = app_jwt();
    let now = Utc::now();
    let ids = fake.add_deliveries(
        &Hook::App,
        (0..250).map(|i| NewDelivery::failed(format!("g{i}"), now - TimeDelta::minutes(300 - i))),
    );
    let fake_ref = &fake;
    let (items, sizes) = list_all(&base, "/app/hook/deliveries?per_page=100", &jwt, |_| {
        // A new delivery arrives at the front while the client pages.
        fake_ref.add_delivery(&Hook::App, NewDelivery::ok("late", Utc::now()));
    })
    .await;
    assert_eq!(sizes, vec![100, 100, 50]);
    let got: Vec<u64> = items
        .iter()
        .map(|d| d["id"].as_u64().expect("id"))
        .collect();
    let mut expected = ids;
    expected.reverse();
    assert_eq!(got, expected, "no repeats, no skips");
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r.full_path.starts_with("/api/v3/")));
    assert!(requests.iter().all(|r| r.path == "/app/hook/deliveries"));
    assert!(requests.iter().all(|r| r.auth == AuthSeen::AppJwt));
}

#[tokio::test]
async fn listing_parameters_and_empty_lists() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    let jwt = app_jwt();
    // Empty: [] and no next.
    let empty = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.next_link(), None);
    assert_eq!(
        empty.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let now = Utc::now();
    fake.add_deliveries(
        &Hook::App,
        (0..150).map(|i| NewDelivery::ok(format!("g{i}"), now - TimeDelta::seconds(i))),
    );
    // Default 30.
    let page = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    assert_eq!(page.json().as_array().map(Vec::len), Some(30));
    assert!(page.next_link().is_some_and(|l| l.contains("per_page=30")));
    // Clamped to 100.
    let page = get(&base, "/app/hook/deliveries?per_page=500", Some(&jwt)).await;
    assert_eq!(page.json().as_array().map(Vec::len), Some(100));
    let next = page.next_link().expect("next");
    assert!(next.contains("per_page=100"), "{next}");
    // Invalid per_page, unknown cursor.
    for bad in [
        "per_page=abc",
        "per_page=-1",
        "per_page=0",
        "cursor=nope",
        "cursor=",
    ] {
        let page = get(&base, &format!("/app/hook/deliveries?{bad}"), Some(&jwt)).await;
        assert_eq!(page.status, 422, "{bad}");
        assert_eq!(page.message(), "Validation Failed");
    }
    // A client that sends these breaks GitHub's description, and the contract check says so.
    let violations = fake.take_contract_violations();
    for bad in [
        "`per_page`=500",
        "`per_page`=abc",
        "`per_page`=-1",
        "`per_page`=0",
    ] {
        assert!(
            violations.iter().any(|v| v.contains(bad)),
            "{bad}: {violations:?}"
        );
    }
    assert_eq!(violations.len(), 4, "{violations:?}");
    // The last page has no next.
    let last = get(&base, &next, Some(&jwt)).await;
    assert_eq!(last.json().as_array().map(Vec::len), Some(50));
    assert_eq!(last.next_link(), None);
}

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

#[tokio::test]
async fn redeliveries_append_new_deliveries() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    fake.add_token(admin_token());
    fake.add_token(FakeToken::new("ghp_org_owner").admin_org("Acme"));
    fake.add_token(FakeToken::new("ghp_nobody"));
    let hook = Hook::repo(REPO, 1);
    let now = Utc::now();
    let a = fake.add_delivery(&hook, NewDelivery::failed("A", now - TimeDelta::hours(1)));
    let b = fake.add_delivery(
        &hook,
        NewDelivery::failed("B", now - TimeDelta::hours(2)).event("workflow_job", Some("queued")),
    );
    let old = fake.add_delivery(&hook, NewDelivery::failed("OLD", now - TimeDelta::days(4)));
    fake.set_receiver_failing("B", true);

    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
    assert_eq!(res.json(), json!({}));
    // Org owners reach their repositories' hooks.
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(b),
        Some("ghp_org_owner"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(old),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 422);
    assert_eq!(res.message(), "Validation Failed");
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a + 1000),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 404);
    // The f64-rounded id of a big id is a different, unknown delivery.
    let rounded = (a as f64) as u64;
    if rounded != a {
        let res = send(
            &base,
            "POST",
            &hook.attempts_path(rounded),
            Some("ghp_admin"),
            None,
        )
        .await;
        assert_eq!(res.status, 404);
    }
    // No admin: 404 (hidden). No such hook for this token either.
    let res = get(&base, &hook.deliveries_path(), Some("ghp_nobody")).await;
    assert_eq!(res.status, 404);
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a),
        Some("ghp_nobody"),
        None,
    )
    .await;
    assert_eq!(res.status, 404);

    // GitHub queues a redelivery: its result is listed only once the receiver answered.
    assert_eq!(fake.deliveries(&hook).len(), 3);
    fake.record_queued_results();
    assert_eq!(
        fake.redeliveries(),
        vec![
            Redelivery {
                hook: hook.clone(),
                delivery_id: a,
                guid: "A".to_owned()
            },
            Redelivery {
                hook: hook.clone(),
                delivery_id: b,
                guid: "B".to_owned()
            },
        ]
    );
    let list = fake.deliveries(&hook);
    assert_eq!(list.len(), 5);
    assert_eq!(list[1]["guid"], "A");
    assert_eq!(list[1]["redelivery"], true);
    assert_eq!(list[1]["status"], "OK");
    assert_eq!(list[0]["guid"], "B");
    assert_eq!(list[0]["redelivery"], true);
    assert_eq!(list[0]["status"], "Invalid HTTP Response: 500");
    assert_eq!(list[0]["event"], "workflow_job");
    assert_eq!(list[0]["action"], "queued");
    assert!(list[0]["id"].as_u64().is_some_and(|id| id > a && id > b));

    fake.set_receiver_down(true);
    let res = send(
        &base,
        "POST",
        &hook.attempts_path(a),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
    fake.record_queued_results();
    // A receiver that is down gives no HTTP answer at all.
    assert_eq!(fake.deliveries(&hook)[0]["status"], "failed to connect");
    assert_eq!(fake.deliveries(&hook)[0]["status_code"], 0);

    // Org hooks need the org.
    let org_hook = Hook::org("acme", 9);
    let c = fake.add_delivery(&org_hook, NewDelivery::failed("C", now));
    let res = send(
        &base,
        "POST",
        &org_hook.attempts_path(c),
        Some("ghp_admin"),
        None,
    )
    .await;
    assert_eq!(res.status, 404);
    let res = send(
        &base,
        "POST",
        &org_hook.attempts_path(c),
        Some("ghp_org_owner"),
        None,
    )
    .await;
    assert_eq!(res.status, 202);
}

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

#[tokio::test]
async fn faults_apply_then_clear() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    let jwt = app_jwt();
    let path = "/app/hook/deliveries";

    fake.push_fault(Fault::new("/hook/deliveries", FaultKind::Status(500)).method("GET"));
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 500);
    assert_eq!(res.message(), "Server Error");
    assert!(res.json()["documentation_url"].is_string());
    assert!(res.header("x-ratelimit-remaining").is_some());
    assert_eq!(fake.pending_faults(), 0);
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 200, "the fault is used up");

    // skip 1, then 2 times; other paths and methods untouched.
    fake.push_fault(
        Fault::new("deliveries", FaultKind::Status(503))
            .method("GET")
            .skip(1)
            .times(2),
    );
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(get(&base, path, Some(&jwt)).await.status);
        }
        v
    };
    assert_eq!(statuses, vec![200, 503, 503, 200]);
    fake.push_fault(Fault::new("deliveries", FaultKind::Status(500)).times(100));
    fake.clear_faults();
    assert_eq!(get(&base, path, Some(&jwt)).await.status, 200);

    // Secondary and primary rate limits.
    fake.push_fault(Fault::new(
        path,
        FaultKind::SecondaryRateLimit {
            status: 429,
            retry_after: Some(7),
        },
    ));
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), Some("7"));
    assert!(res.message().contains("secondary rate limit"));
    fake.push_fault(Fault::new(
        path,
        FaultKind::PrimaryExhausted { reset_in_secs: 30 },
    ));
    let res = get(&base, path, Some(&jwt)).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.header("x-ratelimit-remaining"), Some("0"));
    let reset: i64 = res
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .expect("reset");
    let expected = Utc::now().timestamp() + 30;
    assert!(
        (expected - 2..=expected + 1).contains(&reset),
        "{reset} vs {expected}"
    );
    assert!(res.message().starts_with("API rate limit exceeded for"));

    // ApplyThenStatus: the redelivery happens, the client sees 502.
    let id = fake.add_delivery(&Hook::App, NewDelivery::failed("X", Utc::now()));
    fake.push_fault(Fault::new("/attempts", FaultKind::ApplyThenStatus(502)).method("POST"));
    let res = send(
        &base,
        "POST",
        &Hook::App.attempts_path(id),
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(res.status, 502);
    assert_eq!(fake.redeliveries().len(), 1);
    fake.record_queued_results();
    assert_eq!(fake.deliveries(&Hook::App).len(), 2);

    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![500, 200, 200, 503, 503, 200, 200, 429, 403, 502]
    );
}

#[tokio::test]
async fn drop_connection_gives_a_transport_error() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let base = fake.url();
    let jwt = app_jwt();
    fake.push_fault(Fault::new(
        "/app/hook/deliveries",
        FaultKind::DropConnection,
    ));
    let err = request(&base, "GET", "/app/hook/deliveries", Some(&jwt), None)
        .await
        .expect_err("no response at all");
    assert!(
        format!("{err:?}").contains("IncompleteMessage") || err.is_connect(),
        "{err:?}"
    );
    let recorded = fake.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, 0);
    // The server goes on serving.
    assert_eq!(
        get(&base, "/app/hook/deliveries", Some(&jwt)).await.status,
        200
    );

    // A real client (octocrab, hyper) sees an error too, not a response.
    fake.push_fault(Fault::new(
        "/app/hook/deliveries",
        FaultKind::DropConnection,
    ));
    let client = octocrab::Octocrab::builder()
        .base_uri(fake.url())
        .expect("base uri")
        .personal_token(jwt.clone())
        .build()
        .expect("octocrab client");
    let result = client
        ._get(format!("{}/app/hook/deliveries", fake.url()))
        .await;
    let err = result.expect_err("expected a transport error");
    assert!(format!("{err:?}").contains("IncompleteMessage"), "{err}");
    let result = client
        ._get(format!("{}/app/hook/deliveries", fake.url()))
        .await
        .expect("the next request is answered");
    assert_eq!(result.status().as_u16(), 200);
    // Also on a kept-alive, pooled connection: the client does not retry, it errors.
    fake.push_fault(Fault::new(
        "/app/hook/deliveries",
        FaultKind::DropConnection,
    ));
    let result = client
        ._get(format!("{}/app/hook/deliveries", fake.url()))
        .await;
    let err = result.expect_err("expected a transport error on a pooled connection");
    assert!(format!("{err:?}").contains("IncompleteMessage"), "{err}");
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![0, 200, 0, 200, 0]);
    // octocrab's bare client sends no `Accept`; the contract check notices.
    let violations = fake.take_contract_violations();
    assert!(
        violations.iter().all(|v| v.contains("`Accept` is []")),
        "{violations:?}"
    );
}

#[tokio::test]
async fn unknown_routes_are_recorded_and_headers_are_set() {
    let fake = FakeGitHub::start(FakeOptions {
        path_prefix: "/api/v3".to_owned(),
        ..FakeOptions::default()
    })
    .await;
    let base = fake.url();
    let origin = fake.origin();
    let jwt = app_jwt();
    let res = get(&base, "/app/hooks", Some(&jwt)).await;
    assert_eq!(res.status, 404);
    assert_eq!(res.message(), "Not Found");
    let res = send(&base, "DELETE", "/app/hook/deliveries", Some(&jwt), None).await;
    assert_eq!(res.status, 404);
    // Outside the prefix.
    let res = get(&origin, "/app/hook/deliveries", Some(&jwt)).await;
    assert_eq!(res.status, 404);
    let unexpected = fake.unexpected_requests();
    assert_eq!(unexpected.len(), 3);
    assert_eq!(unexpected[0].path, "/app/hooks");
    assert_eq!(unexpected[0].full_path, "/api/v3/app/hooks");
    assert_eq!(unexpected[1].method, "DELETE");
    assert_eq!(unexpected[2].full_path, "/app/hook/deliveries");
    let violations = fake.take_contract_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("GET /app/hooks matches no operation"));
    assert!(violations[2].contains("not under the API prefix"));

    let first = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    let second = get(&base, "/app/hook/deliveries", Some(&jwt)).await;
    for res in [&first, &second] {
        assert_eq!(res.header("x-ratelimit-limit"), Some("5000"));
        assert_eq!(res.header("x-ratelimit-resource"), Some("core"));
        assert!(res.header("x-ratelimit-used").is_some());
        assert!(
            res.header("x-ratelimit-reset")
                .and_then(|v| v.parse::<i64>().ok())
                .is_some()
        );
    }
    let remaining = |r: &RawResponse| -> u64 {
        r.header("x-ratelimit-remaining")
            .and_then(|v| v.parse().ok())
            .expect("remaining")
    };
    assert_eq!(remaining(&first), remaining(&second) + 1);
    let recorded = fake.requests();
    assert_eq!(
        recorded.last().and_then(|r| r.header("user-agent")),
        Some("fake-github-selftest")
    );
    fake.clear_requests();
    assert!(fake.requests().is_empty() && fake.unexpected_requests().is_empty());
}

#[tokio::test]
async fn latency_is_applied() {
    let fake = FakeGitHub::start(FakeOptions {
        latency: Duration::from_millis(300),
        ..FakeOptions::default()
    })
    .await;
    let jwt = app_jwt();
    let started = Instant::now();
    assert_eq!(
        get(&fake.url(), "/app/hook/deliveries", Some(&jwt))
            .await
            .status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    fake.set_latency(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(
        get(&fake.url(), "/app/hook/deliveries", Some(&jwt))
            .await
            .status,
        200
    );
    assert!(started.elapsed() < Duration::from_millis(300));
}
