//! Self-tests of the fake GitHub.
//!
//! It talks to the fake with hyper's client (one request per connection), and with octocrab
//! where a real GitHub client's view matters.

mod client;
mod table;

mod apps;
mod auth;
mod deliveries;
mod faults;
mod hooks;
mod server;
mod variables;

use chrono::Utc;
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

const REPO: &str = "acme/widgets";

fn admin_token() -> FakeToken {
    FakeToken::new("ghp_admin")
        .admin_repo(REPO)
        .variables_write(true)
}
