//! Transient failures and rate limits, as GitHub's guidance asks:
//! <https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately>
//! The decision is pure ([`classify_failure`], table-tested in `tests/client_rules.rs`);
//! the waits go through the run's clock, so a stop ends them and tests simulate them.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::header::HeaderMap;
use http::{Method, StatusCode};
use rand::Rng;

use super::error::{MAX_LIMIT_WAITS_PER_REQUEST, error_message};
use super::transport::{AttemptError, REQUEST_DEADLINE, redirect_target};
use super::{ApiError, ApiResponse, Credential, GitHubClient, Outlasts, RequestKind, describe};
use crate::base::clock::format_duration;
use crate::base::log::Level;

/// How transient failures and rate limits are handled.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of one request after a transient failure (connection error, timeout, 5xx).
    pub max_retries: u32,
    /// The first backoff; it doubles on each retry, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest single wait for a rate limit (`max-wait`): a longer one is not a time
    /// GitHub would ask for, and the run stops cleanly instead. Waits within it are taken
    /// as often as GitHub asks: a content limit sets the drain's pace, it does not end it.
    pub max_wait: Duration,
    /// A secondary rate limit without `retry-after`: GitHub says wait at least a minute.
    pub secondary_min_wait: Duration,
    /// The longest one attempt may take, answer body included ([`REQUEST_DEADLINE`]); a
    /// field so that tests of stalling servers take a second, not half a minute.
    pub request_deadline: Duration,
}

impl RetryPolicy {
    /// GitHub's guidance, with the run's `max-wait` (the settings table holds its default).
    pub fn with_max_wait(max_wait: Duration) -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_wait,
            secondary_min_wait: Duration::from_secs(60),
            request_deadline: REQUEST_DEADLINE,
        }
    }
}

impl GitHubClient {
    /// Sends one request, retrying transient failures and waiting out rate limits.
    pub(super) async fn send(
        &self,
        method: Method,
        route: &str,
        credential: Credential,
        body: Option<&serde_json::Value>,
        kind: RequestKind,
    ) -> Result<ApiResponse, ApiError> {
        let request = describe(&method, route);
        let mut retries = 0;
        let mut secondary_waits = 0;
        loop {
            let answer = match self.attempt(&method, route, credential, body, kind).await {
                Ok(answer) => answer,
                Err(AttemptError::Fatal(detail)) => {
                    return Err(ApiError::Transport { request, detail });
                }
                Err(AttemptError::NoAnswer(detail)) => {
                    if self
                        .wait_before_retry(&mut retries, &request, &detail)
                        .await
                    {
                        continue;
                    }
                    return Err(ApiError::Transport { request, detail });
                }
            };
            if answer.status.is_success() {
                return Ok(answer);
            }
            if answer.status.is_redirection() {
                return Err(ApiError::Redirected {
                    request,
                    status: answer.status.as_u16(),
                    location: redirect_target(&answer.headers),
                });
            }
            let (message, documentation_url) = error_message(&answer);
            let failed = FailedAnswer {
                status: answer.status,
                headers: &answer.headers,
                message: &message,
            };
            match classify_failure(&failed, self.clock.now(), &self.policy, secondary_waits) {
                Failure::RateLimited { wait, reason } => {
                    if secondary_waits >= MAX_LIMIT_WAITS_PER_REQUEST {
                        return Err(ApiError::RateLimited {
                            request,
                            retry_at: self.clock.now(),
                            wait,
                            outlasts: Outlasts::Patience,
                        });
                    }
                    self.wait_out_rate_limit(&request, wait, &reason).await?;
                    secondary_waits += 1;
                }
                Failure::Transient
                    if self
                        .wait_before_retry(
                            &mut retries,
                            &request,
                            &format!("answered {}", answer.status),
                        )
                        .await => {}
                Failure::Transient | Failure::Final => {
                    return Err(ApiError::Status {
                        request,
                        status: answer.status.as_u16(),
                        message,
                        documentation_url,
                    });
                }
            }
        }
    }

    /// Waits `wait` for a rate limit, saying why; an error when `max-wait` would be passed
    /// (the run stops cleanly) or a stop was asked for meanwhile.
    async fn wait_out_rate_limit(
        &self,
        request: &str,
        wait: Duration,
        reason: &str,
    ) -> Result<(), ApiError> {
        if let Some(outlasts) = self.wait_outlasts(wait) {
            let retry_at = self
                .clock
                .now()
                .checked_add_signed(
                    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
                )
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            return Err(ApiError::RateLimited {
                request: request.to_owned(),
                retry_at,
                wait,
                outlasts,
            });
        }
        self.book_rate_limit_wait(wait);
        self.log.line(
            Level::Warning,
            &format!(
                "{request}: {reason}; waiting {} before going on",
                format_duration(wait)
            ),
            &[
                ("wait_seconds", wait.as_secs_f64().into()),
                ("reason", reason.into()),
            ],
        );
        if self.pause(wait).await {
            Ok(())
        } else {
            Err(ApiError::Stopped {
                request: request.to_owned(),
            })
        }
    }

    /// What a rate-limit wait of `wait` would outlast, if anything: `max-wait` (a guard
    /// against an absurd answer), or the end of the run's time budget.
    fn wait_outlasts(&self, wait: Duration) -> Option<Outlasts> {
        if wait > self.policy.max_wait {
            return Some(Outlasts::MaxWait);
        }
        let ends = self.clock.instant().checked_add(wait);
        match (self.deadline, ends) {
            (Some(deadline), Some(ends)) if ends > deadline => Some(Outlasts::Budget),
            (Some(_), None) => Some(Outlasts::Budget),
            _ => None,
        }
    }

    /// Counts a rate-limit wait taken, for the report and the metrics.
    fn book_rate_limit_wait(&self, wait: Duration) {
        if let Ok(mut waited) = self.rate_limit_waited.lock() {
            *waited = waited.saturating_add(wait);
        }
        if let Ok(mut counts) = self.counts.lock() {
            counts.rate_limit_waits += 1;
        }
    }

    /// After a transient failure: waits (with backoff) and says so, or returns `false` when
    /// the retries are used up.
    async fn wait_before_retry(&self, retries: &mut u32, request: &str, what: &str) -> bool {
        if *retries >= self.policy.max_retries {
            return false;
        }
        *retries += 1;
        let delay = self.backoff(*retries);
        self.log.line(
            Level::Warning,
            &format!(
                "{request} {what}; retry {retries} of {} in {}",
                self.policy.max_retries,
                format_duration(delay)
            ),
            &[
                ("wait_seconds", delay.as_secs_f64().into()),
                ("reason", what.into()),
                ("retry", (*retries).into()),
            ],
        );
        self.pause(delay).await
    }

    /// Exponential backoff with equal jitter: half the delay fixed, half random.
    fn backoff(&self, retry: u32) -> Duration {
        let exponential = self
            .policy
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.policy.max_delay);
        let half = exponential / 2;
        half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// What a failed answer (not 2xx, not 3xx) calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A rate limit: wait this long, then send again.
    RateLimited { wait: Duration, reason: String },
    /// GitHub had trouble (500, 502, 503, 504): retry with backoff.
    Transient,
    /// The answer stands.
    Final,
}

/// A failed answer, as much of it as [`classify_failure`] reads.
#[derive(Debug, Clone, Copy)]
pub struct FailedAnswer<'a> {
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
    /// GitHub's `message`, from the body.
    pub message: &'a str,
}

/// GitHub's guidance on failed answers, as a pure function of the answer:
/// <https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately>
/// - `retry-after` is honoured;
/// - `x-ratelimit-remaining: 0` waits until `x-ratelimit-reset`;
/// - any other secondary limit waits at least a minute, doubling each time;
/// - a 422 whose message says the endpoint "has been spammed" is such a limit too.
pub fn classify_failure(
    answer: &FailedAnswer<'_>,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
    secondary_waits_so_far: u32,
) -> Failure {
    let FailedAnswer {
        status,
        headers,
        message,
    } = *answer;
    if matches!(status.as_u16(), 500 | 502 | 503 | 504) {
        return Failure::Transient;
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let retry_after = header("retry-after").and_then(|value| value.trim().parse::<u64>().ok());
    if status == StatusCode::UNPROCESSABLE_ENTITY && is_spam_answer(message) {
        // "Validation failed, or the endpoint has been spammed": the second is a pace GitHub
        // sets, not a verdict on the event, so it is waited out like a secondary limit.
        let wait = retry_after.map_or_else(
            || secondary_backoff(policy, secondary_waits_so_far),
            Duration::from_secs,
        );
        return Failure::RateLimited {
            wait,
            reason: "GitHub says the endpoint has been spammed".to_owned(),
        };
    }
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return Failure::Final;
    }
    if let Some(seconds) = retry_after {
        return Failure::RateLimited {
            wait: Duration::from_secs(seconds),
            reason: format!("secondary rate limit, GitHub asks to retry after {seconds} s"),
        };
    }
    if header("x-ratelimit-remaining") == Some("0") {
        // No reset: wait a minute. A reset that is not a time GitHub could mean: wait
        // "forever", which `max-wait` turns into a clean stop.
        let wait = match header("x-ratelimit-reset") {
            None => policy.secondary_min_wait,
            Some(value) => value
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|epoch| Utc.timestamp_opt(epoch, 0).single())
                .map_or(Duration::MAX, |reset| {
                    (reset - now).to_std().unwrap_or(Duration::ZERO)
                }),
        }
        .saturating_add(Duration::from_secs(1));
        let resource = header("x-ratelimit-resource").unwrap_or("core");
        return Failure::RateLimited {
            wait,
            reason: format!("primary rate limit for `{resource}` used up until its reset"),
        };
    }
    let secondary = status == StatusCode::TOO_MANY_REQUESTS
        || message
            .to_ascii_lowercase()
            .contains("secondary rate limit");
    if secondary {
        Failure::RateLimited {
            wait: secondary_backoff(policy, secondary_waits_so_far),
            reason: "secondary rate limit without retry-after".to_owned(),
        }
    } else {
        Failure::Final
    }
}

/// A secondary limit's wait without `retry-after`: at least a minute, doubling each time
/// (GitHub's guidance), up to [`SECONDARY_BACKOFF_CAP`], so that a limit counted per hour
/// is waited out in steps that stay within `max-wait`.
fn secondary_backoff(policy: &RetryPolicy, waits_so_far: u32) -> Duration {
    policy
        .secondary_min_wait
        .saturating_mul(2u32.saturating_pow(waits_so_far))
        .min(SECONDARY_BACKOFF_CAP.max(policy.secondary_min_wait))
}

/// The longest step of a secondary limit's backoff.
pub const SECONDARY_BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);

/// Whether a 422's message is the "endpoint has been spammed" one, not a validation failure
/// (GitHub documents both under the one status for `POST …/attempts`).
fn is_spam_answer(message: &str) -> bool {
    message.to_ascii_lowercase().contains("spam")
}
