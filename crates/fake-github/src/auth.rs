//! Who a request is: the `Authorization` header, App JWTs, personal access tokens and
//! installation tokens, and the access rules of each area.

use std::collections::HashSet;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation, decode};
use serde_json::Value;

use crate::apps::Grant;
use crate::http::Ctx;
use crate::http::reply::Reply;
use crate::state::{Inner, Shared};
use crate::{
    AuthSeen, BAD_CREDENTIALS, DOC_REST, DOC_VARIABLES, FakeGitHub, FakeToken, Hook, JWT_MESSAGE,
    NOT_ACCESSIBLE,
};

pub(crate) enum AuthHeader {
    Missing,
    Bearer(String),
    Token(String),
    Other,
}

pub(crate) fn parse_authorization(headers: &HeaderMap) -> AuthHeader {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return AuthHeader::Missing;
    };
    let Ok(value) = value.to_str() else {
        return AuthHeader::Other;
    };
    let Some((scheme, credential)) = value.trim().split_once(' ') else {
        return AuthHeader::Other;
    };
    let credential = credential.trim().to_owned();
    if credential.is_empty() {
        AuthHeader::Other
    } else if scheme.eq_ignore_ascii_case("bearer") {
        AuthHeader::Bearer(credential)
    } else if scheme.eq_ignore_ascii_case("token") {
        AuthHeader::Token(credential)
    } else {
        AuthHeader::Other
    }
}

impl Shared {
    /// Whether the `Authorization` is a JWT this App signed, valid at `now`.
    pub(crate) fn is_valid_jwt(&self, auth_header: &AuthHeader, now: DateTime<Utc>) -> bool {
        match auth_header {
            AuthHeader::Bearer(token) if token.split('.').count() == 3 => {
                self.verify_jwt(token, now.timestamp())
            }
            _ => false,
        }
    }

    fn verify_jwt(&self, token: &str, now: i64) -> bool {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let claims = match decode::<Value>(token, &self.decoding_key, &validation) {
            Ok(data) => data.claims,
            Err(_) => return false,
        };
        let iss_ok = match claims.get("iss") {
            Some(Value::Number(n)) => n.as_u64() == Some(self.app_id),
            Some(Value::String(s)) => *s == self.client_id || *s == self.app_id.to_string(),
            _ => false,
        };
        let (Some(iat), Some(exp)) = (numeric_date(&claims, "iat"), numeric_date(&claims, "exp"))
        else {
            return false;
        };
        iss_ok && exp > now && exp >= iat && exp - iat <= 660 && iat <= now + 60 && exp <= now + 660
    }
}

fn numeric_date(claims: &Value, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

pub(crate) enum Principal {
    Pat(FakeToken),
    Installation(Grant),
}

impl Inner {
    pub(crate) fn classify(
        &self,
        header: &AuthHeader,
        jwt_valid: bool,
        now: DateTime<Utc>,
    ) -> AuthSeen {
        match header {
            AuthHeader::Missing => AuthSeen::None,
            AuthHeader::Other => AuthSeen::Invalid,
            AuthHeader::Bearer(_) if jwt_valid => AuthSeen::AppJwt,
            AuthHeader::Bearer(token) | AuthHeader::Token(token) => {
                let known = self.tokens.contains_key(token)
                    || self
                        .grants
                        .get(token)
                        .is_some_and(|grant| grant.expires_at > now);
                if known {
                    AuthSeen::Token(token.clone())
                } else {
                    AuthSeen::Invalid
                }
            }
        }
    }

    /// For routes that take a PAT or an installation token.
    pub(crate) fn principal(&self, auth: &AuthSeen, doc: &str) -> Result<Principal, Reply> {
        match auth {
            AuthSeen::Token(token) => {
                if let Some(pat) = self.tokens.get(token) {
                    Ok(Principal::Pat(pat.clone()))
                } else if let Some(grant) = self.grants.get(token) {
                    Ok(Principal::Installation(grant.clone()))
                } else {
                    Err(Reply::error(401, BAD_CREDENTIALS, doc))
                }
            }
            AuthSeen::None => Err(Reply::error(401, "Requires authentication", doc)),
            AuthSeen::AppJwt | AuthSeen::Invalid => Err(Reply::error(401, BAD_CREDENTIALS, doc)),
        }
    }
}

pub(crate) fn require_jwt(ctx: &Ctx<'_>) -> Result<(), Reply> {
    if *ctx.auth == AuthSeen::AppJwt {
        Ok(())
    } else {
        Err(Reply::error(401, JWT_MESSAGE, DOC_REST))
    }
}

pub(crate) fn require_hook_access(inner: &Inner, ctx: &Ctx<'_>, hook: &Hook) -> Result<(), Reply> {
    let doc = hook.doc();
    let allowed = match inner.principal(ctx.auth, doc)? {
        Principal::Pat(pat) => match hook {
            Hook::App => false,
            Hook::Org { org, .. } => contains_ci(&pat.admin_orgs, org),
            Hook::Repo { owner, repo, .. } => {
                contains_ci(&pat.admin_orgs, owner)
                    || contains_ci(&pat.admin_repos, &format!("{owner}/{repo}"))
            }
        },
        // An App's installation token, with the "Webhooks" (repository) or "Organization
        // webhooks" permission, on the installation's own repositories or organization.
        Principal::Installation(grant) => {
            let needed = if ctx.method == "GET" { 1 } else { 2 };
            let level = |key: &str| {
                grant
                    .permissions
                    .get(key)
                    .and_then(Value::as_str)
                    .map_or(0, permission_level)
            };
            match hook {
                Hook::App => false,
                Hook::Org { org, .. } => {
                    level("organization_hooks") >= needed
                        && inner
                            .account_of_installation(grant.installation_id)
                            .as_deref()
                            == Some(org.to_ascii_lowercase().as_str())
                }
                Hook::Repo { owner, repo, .. } => {
                    level("repository_hooks") >= needed
                        && contains_ci(&grant.repos, &format!("{owner}/{repo}"))
                }
            }
        }
    };
    if allowed {
        Ok(())
    } else {
        // GitHub hides what the token may not see.
        Err(Reply::not_found(doc))
    }
}

pub(crate) fn require_variables(
    inner: &Inner,
    ctx: &Ctx<'_>,
    repo: &str,
    write: bool,
) -> Result<(), Reply> {
    let allowed = match inner.principal(ctx.auth, DOC_VARIABLES)? {
        Principal::Pat(pat) if contains_ci(&pat.hidden_repos, repo) => {
            return Err(Reply::not_found(DOC_VARIABLES));
        }
        Principal::Pat(pat) => pat.variables_write,
        Principal::Installation(grant) => {
            let level = grant
                .permissions
                .get("actions_variables")
                .and_then(Value::as_str)
                .map_or(0, permission_level);
            let needed = if write { 2 } else { 1 };
            level >= needed && contains_ci(&grant.repos, repo)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Reply::error(403, NOT_ACCESSIBLE, DOC_VARIABLES))
    }
}

pub(crate) fn contains_ci(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(item))
}

pub(crate) fn permission_level(level: &str) -> u8 {
    match level {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

impl FakeGitHub {
    /// A personal access token the fake accepts (replaces one with the same string).
    pub fn add_token(&self, token: FakeToken) {
        let mut inner = self.shared.lock();
        inner.tokens.insert(token.token.clone(), token);
    }
}
