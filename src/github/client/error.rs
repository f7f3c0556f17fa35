//! What a request that did not succeed tells the user: GitHub's message and docs link, a
//! rate limit's reset, a redirect's target, or that no answer came.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ApiResponse;

/// Rate-limit answers to one request waited out before the run stops: GitHub's limits
/// clear after the wait it asks for, so a server that keeps answering one is not GitHub's
/// limit, and must not hold the run for its whole time budget.
pub const MAX_LIMIT_WAITS_PER_REQUEST: u32 = 10;

/// A request that did not succeed, with what the user needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// GitHub answered with an error status (after any retries).
    Status {
        request: String,
        status: u16,
        message: String,
        documentation_url: Option<String>,
    },
    /// A rate limit that resets later than the run may wait: past `max-wait`, or past the
    /// end of the run's time budget.
    RateLimited {
        request: String,
        retry_at: DateTime<Utc>,
        /// How long GitHub asked to wait.
        wait: Duration,
        /// What the wait would outlast.
        outlasts: Outlasts,
    },
    /// A stop was requested (SIGTERM, SIGINT) while the request waited to be sent again.
    Stopped { request: String },
    /// No answer (after retries): connection refused or dropped, timeout, unreadable body.
    Transport { request: String, detail: String },
    /// A redirect: GitHub's REST API answers 2xx; a 3xx comes from a proxy, an SSO page or
    /// a wrong `api-url`, and is never taken as success or followed.
    Redirected {
        request: String,
        status: u16,
        location: String,
    },
}

/// What a rate-limit wait the run did not take would have outlasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outlasts {
    /// `max-wait`: longer than any wait GitHub honestly asks for.
    MaxWait,
    /// The run's time budget (`max-duration`): the next run goes on where this one stopped.
    Budget,
    /// [`MAX_LIMIT_WAITS_PER_REQUEST`] waits for the one request: no honest limit goes on
    /// so.
    Patience,
}

impl ApiError {
    /// Whether this is a rate limit the run could not wait out within its time budget: the
    /// work left is for the next run, and nothing failed.
    pub fn outlasts_budget(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited {
                outlasts: Outlasts::Budget,
                ..
            }
        )
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status {
                request,
                status,
                message,
                documentation_url,
            } => {
                write!(f, "{request} answered {status}: {message}")?;
                if let Some(url) = documentation_url {
                    write!(f, " ({url})")?;
                }
                Ok(())
            }
            // GitHub's limits reset within the hour; a wait of days is a broken or hostile
            // answer, and its date would be nonsense.
            ApiError::RateLimited { request, wait, .. } if *wait > Duration::from_secs(86_400) => {
                write!(
                    f,
                    "{request} hit a rate limit whose wait ({} s) is beyond anything GitHub asks; stopping, the next run goes on",
                    wait.as_secs()
                )
            }
            ApiError::RateLimited {
                request,
                retry_at,
                outlasts: Outlasts::MaxWait,
                ..
            } => write!(
                f,
                "{request} hit GitHub's rate limit, which resets at {}, later than `max-wait` allows waiting; run again after that",
                retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            ApiError::RateLimited {
                request,
                outlasts: Outlasts::Patience,
                ..
            } => write!(
                f,
                "{request} was answered with a rate limit {MAX_LIMIT_WAITS_PER_REQUEST} times in a row, after each wait GitHub asked for; stopping, the next run goes on"
            ),
            ApiError::RateLimited {
                request,
                retry_at,
                outlasts: Outlasts::Budget,
                ..
            } => write!(
                f,
                "{request} hit GitHub's rate limit, which resets at {}, after the run's time budget (`max-duration`) ends; the next run goes on",
                retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            ApiError::Stopped { request } => write!(
                f,
                "{request} was not sent again: the run was asked to stop while it waited"
            ),
            ApiError::Transport { request, detail } => {
                write!(f, "{request} got no answer: {detail}")
            }
            ApiError::Redirected {
                request,
                status,
                location,
            } => write!(
                f,
                "{request} answered {status}, a redirect to {location}: GitHub's REST API does not redirect, so `api-url` (or a proxy) is wrong; nothing was taken from this answer"
            ),
        }
    }
}

impl std::error::Error for ApiError {}

/// GitHub's error body.
/// <https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api>
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    documentation_url: Option<String>,
}

/// GitHub's error message and documentation link from a failed answer's body, or the
/// status's own reason when the body is not GitHub's error document.
pub(super) fn error_message(answer: &ApiResponse) -> (String, Option<String>) {
    let error_body: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
    let message = error_body
        .as_ref()
        .and_then(|body| body.message.clone())
        .unwrap_or_else(|| {
            answer
                .status
                .canonical_reason()
                .unwrap_or("error")
                .to_owned()
        });
    (message, error_body.and_then(|body| body.documentation_url))
}
