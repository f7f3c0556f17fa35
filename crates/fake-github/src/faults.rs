//! Injected faults (statuses, dropped connections, rate limits) and GitHub's secondary limit
//! on content-creating requests.

use chrono::{DateTime, TimeDelta, Utc};

use crate::http::reply::Reply;
use crate::http::{Ctx, refuse_headers, route};
use crate::state::{Inner, Shared};
use crate::{
    BAD_CREDENTIALS, ContentLimit, DOC_PRIMARY_LIMIT, DOC_REST, DOC_SECONDARY_LIMIT, FakeGitHub,
    Fault, FaultKind, LimitAnswer, RATE_LIMIT,
};

/// A pushed fault and how many matching requests it has seen.
pub(crate) struct FaultSlot {
    fault: Fault,
    matched: usize,
}

impl Inner {
    /// Returns the fault to apply, if any, counting the matches.
    pub(crate) fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        for slot in &mut self.faults {
            let method_ok = slot
                .fault
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !method_ok || !path.contains(slot.fault.path_contains.as_str()) {
                continue;
            }
            if slot.matched < slot.fault.skip {
                slot.matched += 1;
                continue;
            }
            if slot.matched < slot.fault.skip + slot.fault.times {
                slot.matched += 1;
                return Some(slot.fault.kind.clone());
            }
        }
        None
    }
}

fn status_message(status: u16) -> &'static str {
    match status {
        400 => "Problems parsing JSON",
        401 => BAD_CREDENTIALS,
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        422 => "Validation Failed",
        429 => "Too Many Requests",
        500 => "Server Error",
        502 => "Server Error",
        503 => "Service Unavailable",
        504 => {
            "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists."
        }
        _ => "Error",
    }
}

/// An answer with its rate-limit headers' values, or a connection to drop instead.
pub(crate) struct Answered {
    pub(crate) reply: Reply,
    pub(crate) remaining: u64,
    pub(crate) used: u64,
    pub(crate) reset: i64,
    pub(crate) drop_connection: bool,
}

/// The answer to a request: GitHub's own (refused headers, or the route), or what an
/// injected fault makes of it.
pub(crate) fn answer_with_fault(
    shared: &Shared,
    inner: &mut Inner,
    ctx: &Ctx<'_>,
    fault: Option<FaultKind>,
    used: u64,
) -> Answered {
    let mut answered = Answered {
        reply: Reply::empty(500),
        remaining: RATE_LIMIT.saturating_sub(used).max(1),
        used,
        reset: shared.rate_reset,
        drop_connection: false,
    };
    answered.reply = match fault {
        None => match refuse_headers(ctx.headers) {
            Some(refusal) => refusal,
            None => route(shared, inner, ctx),
        },
        Some(FaultKind::Status(status)) => Reply::error(status, status_message(status), DOC_REST),
        Some(FaultKind::ApplyThenStatus(status)) => {
            let done = route(shared, inner, ctx);
            Reply {
                unexpected: done.unexpected,
                ..Reply::error(status, status_message(status), DOC_REST)
            }
        }
        Some(FaultKind::SecondaryRateLimit {
            status,
            retry_after,
        }) => {
            let mut reply = Reply::error(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000000:0000000:00000000.",
                DOC_SECONDARY_LIMIT,
            );
            if let Some(secs) = retry_after {
                reply.headers.push(("retry-after", secs.to_string()));
            }
            reply
        }
        Some(FaultKind::PrimaryExhausted { reset_in_secs }) => {
            answered.remaining = 0;
            answered.used = RATE_LIMIT;
            answered.reset =
                ctx.now.timestamp() + i64::try_from(reset_in_secs).unwrap_or(i64::MAX / 2);
            Reply::error(
                403,
                "API rate limit exceeded for installation ID 1. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000000:0000000:00000000.",
                DOC_PRIMARY_LIMIT,
            )
        }
        Some(FaultKind::DropConnection) => {
            answered.drop_connection = true;
            Reply::empty(500)
        }
    };
    answered
}

/// The content limit's answer to one more redelivery now, if it is over the limit;
/// otherwise the redelivery is counted in the window.
pub(crate) fn content_limit_reply(inner: &mut Inner, now: DateTime<Utc>) -> Option<Reply> {
    let limit = inner.content_limit.clone()?;
    let per = TimeDelta::from_std(limit.per).unwrap_or(TimeDelta::MAX);
    while inner
        .content_sent
        .front()
        .is_some_and(|sent| *sent + per <= now)
    {
        inner.content_sent.pop_front();
    }
    if inner.content_sent.len() < limit.max {
        inner.content_sent.push_back(now);
        return None;
    }
    inner.content_refusals += 1;
    let room_at = inner
        .content_sent
        .front()
        .map_or(now, |oldest| *oldest + per);
    let retry_after = u64::try_from((room_at - now).num_milliseconds().max(0))
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1);
    let reply = match limit.answer {
        LimitAnswer::Spammed => Reply::error(
            422,
            "Validation Failed: the endpoint has been spammed.",
            DOC_SECONDARY_LIMIT,
        ),
        LimitAnswer::Forbidden | LimitAnswer::TooManyRequests => {
            let status = if limit.answer == LimitAnswer::Forbidden {
                403
            } else {
                429
            };
            let mut reply = Reply::error(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000000:0000000:00000000.",
                DOC_SECONDARY_LIMIT,
            );
            reply.headers.push(("retry-after", retry_after.to_string()));
            reply
        }
    };
    Some(reply)
}

impl FakeGitHub {
    /// Limits accepted redeliveries to `limit.max` in any `limit.per`, as GitHub's
    /// secondary limit on content-creating requests does (80 a minute, 500 an hour); one
    /// over it gets `limit.answer`. `None` lifts the limit.
    pub fn set_content_limit(&self, limit: Option<ContentLimit>) {
        let mut inner = self.shared.lock();
        inner.content_limit = limit;
        inner.content_sent.clear();
    }

    /// Redeliveries refused by the content limit so far.
    pub fn content_limit_refusals(&self) -> usize {
        self.shared.lock().content_refusals
    }

    /// Sets how many requests count as used in the current rate-limit window, e.g. to make
    /// `x-ratelimit-remaining` low. Each request adds one; `x-ratelimit-remaining` is
    /// `5000 - used` but never below 1 (use [`FaultKind::PrimaryExhausted`] for 0).
    pub fn set_rate_used(&self, used: u64) {
        self.shared.lock().rate_used = used;
    }

    /// Faults are checked in push order before a request is handled.
    pub fn push_fault(&self, fault: Fault) {
        self.shared
            .lock()
            .faults
            .push(FaultSlot { fault, matched: 0 });
    }

    /// Removes every fault, applied or not.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// How many pushed faults have not been used up yet.
    pub fn pending_faults(&self) -> usize {
        self.shared
            .lock()
            .faults
            .iter()
            .filter(|slot| slot.matched < slot.fault.skip + slot.fault.times)
            .count()
    }
}
