//! Why a hook's part of a run failed, kept as a value until it is told: "was it a rate
//! limit?" is a match on it, and its text is its one `Display`.

use std::fmt;

use serde::Serializer;

use crate::domain::hook::Hook;
use crate::github::client::ApiError;

/// A hook's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    /// GitHub answered with an error, or not at all, after retries; with what to do about
    /// it for this hook when there is advice (a 401, a 404 that means "no access").
    Api {
        error: ApiError,
        advice: Option<String>,
    },
    /// Not tried: an earlier hook found GitHub's rate limit spent.
    NotTried,
    /// GitHub refused some redeliveries (a 4xx to the POST): they count as attempts and go
    /// out again next run.
    Refused,
}

impl HookError {
    /// An error of a hook's delivery endpoints, with advice for this hook where there is
    /// some (a 401, a 404 that means "no access").
    pub fn explain(error: ApiError, hook: &Hook) -> Self {
        let advice = match (error.status(), hook) {
            (Some(401), Hook::App) => Some("GitHub refused the App's JWT: check `app-id` (or `client-id`) and that `private-key` is this App's current key".to_owned()),
            (Some(401), _) => Some("GitHub refused the token: it is invalid, expired or revoked".to_owned()),
            (Some(404), Hook::Repo { owner, repo, .. }) => Some(format!(
                "hook not found: check the hook id, and that the token has admin on {owner}/{repo} (GitHub answers 404 to tokens without it; an App needs \"Webhooks\" on the repository)"
            )),
            (Some(404), Hook::Org { org, .. }) => Some(format!(
                "hook not found: check the hook id, and that the token belongs to an owner of {org} with `admin:org_hook` (an App needs \"Organization webhooks\")"
            )),
            (Some(403), Hook::Org { org, .. }) => Some(format!(
                "the token may not manage the hooks of {org}: it needs `admin:org_hook` (classic) or \"Webhooks\" (fine-grained) as an owner"
            )),
            (Some(403), Hook::Repo { owner, repo, .. }) => Some(format!(
                "the token may not manage the hooks of {owner}/{repo}: it needs admin on the repository"
            )),
            _ => None,
        };
        HookError::Api { error, advice }
    }

    /// GitHub's rate limit outlasted what the run may wait: the hooks after this one with
    /// something to redeliver are not tried.
    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            HookError::Api {
                error: ApiError::RateLimited { .. },
                ..
            }
        )
    }
}

impl From<ApiError> for HookError {
    fn from(error: ApiError) -> Self {
        HookError::Api {
            error,
            advice: None,
        }
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookError::Api {
                error,
                advice: Some(advice),
            } => write!(f, "{advice}: {error}"),
            HookError::Api { error, advice: None } => write!(f, "{error}"),
            HookError::NotTried => f.write_str("not tried: GitHub's rate limit is spent"),
            HookError::Refused => f.write_str(
                "GitHub refused some redeliveries; they are retried next run, and count as attempts",
            ),
        }
    }
}

impl std::error::Error for HookError {}

/// A hook's error in the JSON report: its text.
pub(super) fn as_text<S: Serializer>(
    error: &Option<HookError>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match error {
        Some(error) => serializer.collect_str(error),
        None => serializer.serialize_none(),
    }
}
