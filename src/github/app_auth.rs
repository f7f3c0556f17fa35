//! GitHub App authentication: reading the private key the way users paste it, and signing
//! the short-lived RS256 JWT that GitHub expects.
//!
//! <https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app>

use std::sync::Mutex;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// Who the JWT says it is: the App ID, or the client ID that GitHub now recommends
/// (GHES supports it from 3.18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Issuer {
    AppId(u64),
    ClientId(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a Issuer,
}

/// Back-dating `iat` absorbs clock drift between this machine and GitHub.
const CLOCK_DRIFT: Duration = Duration::seconds(60);
/// GitHub accepts at most 10 minutes; 9 leaves room for drift.
const JWT_LIFETIME: Duration = Duration::minutes(9);
/// A cached JWT is replaced this long before it expires.
const RENEW_BEFORE: Duration = Duration::seconds(60);

/// Signs App JWTs, reusing one until shortly before it expires.
pub struct AppSigner {
    key: EncodingKey,
    issuer: Issuer,
    cached: Mutex<Option<CachedJwt>>,
}

struct CachedJwt {
    token: SecretString,
    expires: DateTime<Utc>,
    /// Whether it was handed out already (and so masked by the caller).
    handed_out: bool,
}

impl std::fmt::Debug for AppSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSigner")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A JWT, and whether it was just signed (and so must be masked before use).
pub struct SignedJwt {
    pub token: SecretString,
    pub fresh: bool,
}

impl AppSigner {
    /// Reads the key and proves it can sign, so a bad key fails before any request.
    ///
    /// The error is a sentence for the user about the `private-key` input; it never quotes
    /// the key.
    pub fn new(private_key: &SecretString, issuer: Issuer) -> Result<Self, String> {
        let pem = normalize_private_key(private_key.expose_secret())?;
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            "is not a readable RSA private key (truncated or damaged?): paste the whole .pem file GitHub gave you".to_owned()
        })?;
        let signer = Self {
            key,
            issuer,
            cached: Mutex::new(None),
        };
        // Any time will do to prove the key signs; the JWT is signed again, on the run's
        // clock, before its first use.
        let probe = signer.sign(DateTime::<Utc>::UNIX_EPOCH).map_err(|_| {
            "could not sign with this key: it must be the App's RSA private key (.pem)".to_owned()
        })?;
        drop(probe);
        Ok(signer)
    }

    fn sign(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(SecretString, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let expires = now + JWT_LIFETIME;
        let claims = Claims {
            iat: (now - CLOCK_DRIFT).timestamp(),
            exp: expires.timestamp(),
            iss: &self.issuer,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)?;
        Ok((SecretString::from(token), expires))
    }

    /// A valid JWT for a request made at `now`.
    pub fn bearer(&self, now: DateTime<Utc>) -> anyhow::Result<SignedJwt> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| anyhow::anyhow!("failed to lock the JWT cache"))?;
        if let Some(jwt) = cached.as_mut()
            && now + RENEW_BEFORE < jwt.expires
        {
            let fresh = !jwt.handed_out;
            jwt.handed_out = true;
            return Ok(SignedJwt {
                token: jwt.token.clone(),
                fresh,
            });
        }
        let (token, expires) = self
            .sign(now)
            .map_err(|_| anyhow::anyhow!("failed to sign the App JWT"))?;
        *cached = Some(CachedJwt {
            token: token.clone(),
            expires,
            handed_out: true,
        });
        Ok(SignedJwt { token, fresh: true })
    }
}

/// Turns what users paste into a PEM that `jsonwebtoken` reads: surrounding whitespace,
/// CRLF line ends, literal `\n` sequences (a key passed through an env var), and base64 of
/// the whole PEM are all accepted. Keys that can never work are named precisely.
pub fn normalize_private_key(raw: &str) -> Result<String, String> {
    let mut text = raw
        .trim()
        .replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .replace("\r\n", "\n");
    if text.is_empty() {
        return Err(
            "is empty: pass the App's private key, e.g. `${{ secrets.APP_PRIVATE_KEY }}`"
                .to_owned(),
        );
    }
    if !text.contains("-----BEGIN") {
        let compact: String = text.split_whitespace().collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|decoded| decoded.contains("-----BEGIN"));
        match decoded {
            Some(decoded) => text = decoded.trim().replace("\r\n", "\n"),
            None => {
                return Err("is not a PEM private key: it must start with `-----BEGIN RSA PRIVATE KEY-----` (the .pem file GitHub gave you)".to_owned());
            }
        }
    }
    if text.contains("ENCRYPTED") {
        return Err("is encrypted: GitHub Apps need the unencrypted key, as downloaded (decrypt it with `openssl pkcs8 -in key.pem -out plain.pem`)".to_owned());
    }
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return Err(
            "is an OpenSSH key: pass the App's private key (.pem) from the App's settings"
                .to_owned(),
        );
    }
    let label = ["RSA PRIVATE KEY", "PRIVATE KEY"]
        .into_iter()
        .find(|label| text.contains(&format!("-----BEGIN {label}-----")));
    let Some(label) = label else {
        if text.contains("PUBLIC KEY") || text.contains("CERTIFICATE") {
            return Err("is a public key or certificate, not the private key: pass the .pem file GitHub gave you".to_owned());
        }
        return Err(
            "is not a PEM private key: it must start with `-----BEGIN RSA PRIVATE KEY-----`"
                .to_owned(),
        );
    };
    if !text.contains(&format!("-----END {label}-----")) {
        return Err(format!(
            "is truncated: it has no `-----END {label}-----` line; paste the whole .pem file"
        ));
    }
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS1: &str = include_str!("../../tests/resources/app-key.pem");
    const PKCS8: &str = include_str!("../../tests/resources/app-key-pkcs8.pem");
    const ENCRYPTED: &str = include_str!("../../tests/resources/app-key-encrypted.pem");
    const PUBLIC: &str = include_str!("../../tests/resources/app-key.pub.pem");

    fn signer(key: &str) -> Result<AppSigner, String> {
        AppSigner::new(&SecretString::from(key.to_owned()), Issuer::AppId(1))
    }

    #[test]
    fn accepts_what_users_paste() {
        let literal_newlines = PKCS1.trim().replace('\n', "\\n");
        let crlf = PKCS1.replace('\n', "\r\n");
        let padded = format!("\n\n   {PKCS8}   \n");
        let base64_pem = base64::engine::general_purpose::STANDARD.encode(PKCS1);
        for key in [PKCS1, PKCS8, &literal_newlines, &crlf, &padded, &base64_pem] {
            assert!(signer(key).is_ok(), "refused: {:?}", &key[..40]);
        }
    }

    #[test]
    fn refuses_keys_that_cannot_work_with_a_precise_reason() {
        let truncated = &PKCS1[..PKCS1.len() / 2];
        let damaged = PKCS1.replacen("MII", "M!I", 1);
        let cases = [
            ("", "is empty"),
            (ENCRYPTED, "encrypted"),
            (PUBLIC, "public key"),
            (truncated, "truncated"),
            (&damaged, "RSA private key"),
            ("hello", "not a PEM"),
        ];
        for (key, expected) in cases {
            let err = signer(key).expect_err("refused");
            assert!(err.contains(expected), "{key:?}: {err}");
            assert!(!err.contains("MII"), "the error quotes the key: {err}");
        }
    }

    #[test]
    fn jwts_are_reused_until_shortly_before_they_expire() {
        let signer = signer(PKCS1).expect("valid key");
        let now: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().expect("a time");
        // The first JWT handed out is new, to be masked.
        let first = signer.bearer(now).expect("signs");
        assert!(first.fresh);
        let again = signer.bearer(now + Duration::minutes(5)).expect("signs");
        assert!(!again.fresh);
        assert_eq!(first.token.expose_secret(), again.token.expose_secret());
        let renewed = signer.bearer(now + Duration::minutes(8)).expect("signs");
        assert!(renewed.fresh);
    }
}
