//! A replay (issue 29): after a receiver is fixed, the owner sends again, once, every event
//! whose original delivery failed inside a window, whatever the scheduled loop did with it
//! (given up, at the attempt cap, too old for `max-age`).
//!
//! What it selects is pure and lives here: the window ([`resolve_window`], refused or
//! narrowed before any request), the causes it takes ([`Cause`], in the health table's
//! words), and what an earlier replay's one record in the checkpoint document covers
//! ([`EarlierReplay`]). A replay goes oldest first, so its record names what it sent as a
//! prefix (`through`) instead of one entry per event: an event it covers is pending until a
//! redelivery of it at or after the replay's start is listed (the pending rule of
//! [`crate::domain::plan`]), and the scheduled loop leaves it alone from then on.

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::domain::checkpoint::ReplayRecord;
use crate::domain::filter::{EventFilter, parse_event_list};

/// How far a replay's `replay-until` may reach into the future before it is refused: a time
/// typed from a clock a little ahead of the runner's is "now".
pub const FUTURE_TOLERANCE: Duration = Duration::minutes(5);

/// A time as `replay-since` and `replay-until` take it: RFC 3339, or an age before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayTime {
    At(DateTime<Utc>),
    Ago(std::time::Duration),
}

impl ReplayTime {
    /// The time `now` makes of it; an age past what chrono can represent is its earliest
    /// time (the retention then refuses or narrows the window).
    pub fn resolve(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            ReplayTime::At(at) => *at,
            ReplayTime::Ago(age) => Duration::from_std(*age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }
}

/// A failure cause a replay takes, in the words of the health table
/// ([`crate::domain::health::failure_cause`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// `HTTP 400`: exactly this answer.
    Status(u16),
    /// `HTTP 4xx`: any answer of this hundred (3, 4 or 5).
    Class(u16),
    /// `timed out` or `failed to connect`: no answer.
    NoAnswer(&'static str),
}

/// GitHub's words for a delivery without an answer.
const NO_ANSWER: [&str; 2] = ["timed out", "failed to connect"];

impl Cause {
    /// One cause as typed: `HTTP 400`, `HTTP 5xx`, `timed out`, `failed to connect` (any
    /// case, any spacing). The error says what is wrong, for the caller to prefix.
    pub fn parse(text: &str) -> Result<Cause, String> {
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let lower = words.to_ascii_lowercase();
        if let Some(known) = NO_ANSWER.iter().find(|known| **known == lower) {
            return Ok(Cause::NoAnswer(known));
        }
        let refused = || {
            format!(
                "has `{words}`: use `HTTP 400` (an answer), `HTTP 4xx` or `HTTP 5xx` (a class), `timed out` or `failed to connect`, comma separated"
            )
        };
        let code = lower
            .strip_prefix("http")
            .map(str::trim)
            .ok_or_else(refused)?;
        if let Some(hundred) = code.strip_suffix("xx") {
            return match hundred.parse::<u16>() {
                Ok(hundred @ 3..=5) => Ok(Cause::Class(hundred)),
                _ => Err(refused()),
            };
        }
        match code.parse::<u16>() {
            Ok(status @ 300..=599) if code.len() == 3 => Ok(Cause::Status(status)),
            Ok(status @ 200..=299) if code.len() == 3 => Err(format!(
                "has `{words}`: HTTP {status} is a success, never a failure's cause"
            )),
            _ => Err(refused()),
        }
    }

    /// Whether a delivery that failed with `cause` (as the health table words it) is one of
    /// these.
    pub fn matches(&self, cause: &str) -> bool {
        let status = cause
            .strip_prefix("HTTP ")
            .and_then(|code| code.parse::<u16>().ok());
        match self {
            Cause::Status(wanted) => status == Some(*wanted),
            Cause::Class(hundred) => status.is_some_and(|status| status / 100 == *hundred),
            Cause::NoAnswer(words) => status.is_none() && cause.trim().eq_ignore_ascii_case(words),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Status(status) => write!(f, "HTTP {status}"),
            Cause::Class(hundred) => write!(f, "HTTP {hundred}xx"),
            Cause::NoAnswer(words) => f.write_str(words),
        }
    }
}

/// A list of causes, comma or newline separated (`HTTP 400, timed out`).
pub fn parse_causes(text: &str) -> Result<Vec<Cause>, String> {
    let mut causes: Vec<Cause> = Vec::new();
    for entry in text.split([',', '\n', ';']).map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        let cause = Cause::parse(entry)?;
        if !causes.contains(&cause) {
            causes.push(cause);
        }
    }
    Ok(causes)
}

/// What a replay sends: events whose original delivery failed in `since..=until`, allowed by
/// `filter` (`events`, `exclude-events`), whose original failure is one of `causes` (all
/// when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayScope {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub filter: EventFilter,
    pub causes: Vec<Cause>,
}

impl ReplayScope {
    /// Whether the original delivery failed inside the window.
    pub fn in_window(&self, original_at: DateTime<Utc>) -> bool {
        self.since <= original_at && original_at <= self.until
    }

    /// Whether the original delivery's cause is one the replay takes.
    pub fn takes_cause(&self, cause: &str) -> bool {
        self.causes.is_empty() || self.causes.iter().any(|wanted| wanted.matches(cause))
    }

    /// Whether an event whose original delivery failed at `original_at` with `cause` is one
    /// this replay sends (when it is neither delivered nor pending).
    pub fn selects(&self, event: &str, action: Option<&str>, original: &Original<'_>) -> bool {
        self.in_window(original.at)
            && self.filter.allows(event, action)
            && self.takes_cause(original.cause)
    }

    /// The replay's one record in the checkpoint document.
    pub fn record(
        &self,
        at: DateTime<Utc>,
        sent: u64,
        through: Option<DateTime<Utc>>,
    ) -> ReplayRecord {
        let words = |patterns: &[crate::domain::filter::EventPattern]| {
            patterns.iter().map(ToString::to_string).collect()
        };
        ReplayRecord {
            at,
            since: self.since,
            until: self.until,
            events: words(&self.filter.include),
            exclude_events: words(&self.filter.exclude),
            causes: self.causes.iter().map(ToString::to_string).collect(),
            sent,
            through,
            extra: Default::default(),
        }
    }
}

/// What a replay does with one failing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayDecision {
    /// Its original delivery did not fail in the window (or is not in the list).
    Outside,
    /// In the window, but not one of the replay's events or causes.
    Filtered,
    /// An earlier run's or replay's redelivery of it is pending: not sent again.
    Pending,
    /// Sent, in the order of its original failure.
    Send(DateTime<Utc>),
}

impl ReplayScope {
    /// A replay's rules: every event whose original delivery failed in its window, allowed
    /// by its filters and causes, that no earlier run or replay has pending. Given up, at
    /// the attempt cap or older than `max-age`, it goes all the same: the owner decided.
    pub fn decide(
        &self,
        seen: &Seen<'_>,
        still_pending: bool,
        coverage: Option<Coverage>,
    ) -> ReplayDecision {
        let Some(original) = seen.original.filter(|original| self.in_window(original.at)) else {
            return ReplayDecision::Outside;
        };
        if !self.filter.allows(seen.event, seen.action) || !self.takes_cause(original.cause) {
            ReplayDecision::Filtered
        } else if still_pending || coverage == Some(Coverage::Waiting) {
            ReplayDecision::Pending
        } else {
            ReplayDecision::Send(original.at)
        }
    }
}

/// An event's original delivery (`redelivery: false`): when it failed, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Original<'a> {
    pub at: DateTime<Utc>,
    pub cause: &'a str,
}

/// An earlier replay, as its record tells: what it selected, when it started, and the prefix
/// of its selection it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierReplay {
    pub scope: ReplayScope,
    /// When it started: its redeliveries are listed at or after this.
    pub at: DateTime<Utc>,
    /// Every event it selected whose original failed at or before this was sent (none: it
    /// sent nothing in order).
    pub through: Option<DateTime<Utc>>,
}

impl EarlierReplay {
    /// The replay a record tells of; `None` when its filters are not in words this build
    /// reads (a newer build's): it is then left out, and its events go by the other rules.
    pub fn from_record(record: &ReplayRecord) -> Option<Self> {
        let patterns = |words: &[String]| parse_event_list(&words.join(",")).ok();
        let causes: Option<Vec<Cause>> = record
            .causes
            .iter()
            .map(|cause| Cause::parse(cause).ok())
            .collect();
        Some(EarlierReplay {
            scope: ReplayScope {
                since: record.since,
                until: record.until,
                filter: EventFilter {
                    include: patterns(&record.events)?,
                    exclude: patterns(&record.exclude_events)?,
                },
                causes: causes?,
            },
            at: record.at,
            through: record.through,
        })
    }
}

/// What a run knows of replays: the one it makes, if it is one, and the earlier ones the
/// checkpoint document remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replays {
    /// This run is a replay of this scope.
    pub current: Option<ReplayScope>,
    pub earlier: Vec<EarlierReplay>,
}

/// One failing event as the planner saw it, for an earlier replay's coverage.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub event: &'a str,
    pub action: Option<&'a str>,
    /// The original delivery, when the window holds it.
    pub original: Option<Original<'a>>,
    /// The newest failed redelivery listed.
    pub newest_failed_redelivery: Option<DateTime<Utc>>,
}

/// What an earlier replay did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// It sent the event and GitHub has not listed the result yet: not sent again.
    Waiting,
    /// It sent the event and the result is listed (failed again, else the event would be
    /// delivered): the replay was the owner's last word on it.
    Listed,
}

/// A replay window that is refused: which input, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowProblem {
    pub input: &'static str,
    pub problem: String,
}

/// A replay window, checked against now and GitHub's retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The window started before the retention and was narrowed: where it started as
    /// given.
    pub narrowed_from: Option<DateTime<Utc>>,
}

pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Checks a replay window before any request: refused when it starts at or after now, ends
/// in the future (past [`FUTURE_TOLERANCE`]) or before it starts, or lies wholly before
/// GitHub's retention; narrowed, with a warning, when it starts before the retention.
/// `until` defaults to now.
pub fn resolve_window(
    since: &ReplayTime,
    until: Option<&ReplayTime>,
    now: DateTime<Utc>,
    retention_days: i64,
) -> Result<ReplayWindow, WindowProblem> {
    let oldest = now
        .checked_sub_signed(Duration::days(retention_days))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let latest = now + FUTURE_TOLERANCE;
    let since_at = since.resolve(now);
    let until_at = until.map_or(now, |until| until.resolve(now));
    let refuse = |input, problem| Err(WindowProblem { input, problem });
    if since_at >= now {
        return refuse(
            "replay-since",
            format!(
                "is {}, not in the past: a replay sends events that already failed; give a time in the past or an age such as `6h`",
                stamp(since_at)
            ),
        );
    }
    if until_at > latest {
        return refuse(
            "replay-until",
            format!(
                "is {}, in the future: leave it empty to replay up to now",
                stamp(until_at)
            ),
        );
    }
    if until_at <= since_at {
        return refuse(
            "replay-until",
            format!(
                "is {}, not after the window's start ({}): the window would be empty",
                stamp(until_at),
                stamp(since_at)
            ),
        );
    }
    if until_at < oldest {
        return refuse(
            "replay-until",
            format!(
                "is {}, older than GitHub keeps deliveries ({retention_days} days, since {}): nothing in the window can be listed or redelivered",
                stamp(until_at),
                stamp(oldest)
            ),
        );
    }
    Ok(ReplayWindow {
        since: since_at.max(oldest),
        until: until_at.min(now),
        narrowed_from: (since_at < oldest).then_some(since_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_read_in_the_health_tables_words() {
        assert_eq!(
            parse_causes("HTTP 400, http 5XX\ntimed  out; Failed to connect"),
            Ok(vec![
                Cause::Status(400),
                Cause::Class(5),
                Cause::NoAnswer("timed out"),
                Cause::NoAnswer("failed to connect"),
            ])
        );
        assert!(parse_causes("HTTP 200").is_err_and(|e| e.contains("success")));
        assert!(parse_causes("timeout").is_err_and(|e| e.starts_with("has `timeout`")));
        assert!(parse_causes("HTTP 4000").is_err());
        assert!(parse_causes("HTTP 6xx").is_err());
        assert!(Cause::Status(400).matches("HTTP 400"));
        assert!(!Cause::Status(400).matches("HTTP 404"));
        assert!(Cause::Class(4).matches("HTTP 404"));
        assert!(!Cause::Class(4).matches("HTTP 503"));
        assert!(Cause::NoAnswer("timed out").matches("timed out"));
        assert!(!Cause::NoAnswer("timed out").matches("HTTP 504"));
        assert_eq!(Cause::Class(5).to_string(), "HTTP 5xx");
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    #[test]
    fn windows_are_refused_or_narrowed_before_any_request() {
        let now = at("2026-12-07T12:00:00Z");
        let hours = |h: u64| ReplayTime::Ago(std::time::Duration::from_secs(h * 3600));
        let window = resolve_window(&hours(6), Some(&hours(1)), now, 3).expect("a window");
        assert_eq!(window.since, at("2026-12-07T06:00:00Z"));
        assert_eq!(window.until, at("2026-12-07T11:00:00Z"));
        assert_eq!(window.narrowed_from, None);
        let narrowed = resolve_window(&hours(100), None, now, 3).expect("narrowed");
        assert_eq!(narrowed.since, at("2026-12-04T12:00:00Z"));
        assert_eq!(narrowed.narrowed_from, Some(at("2026-12-03T08:00:00Z")));
        let input =
            |result: Result<ReplayWindow, WindowProblem>| result.expect_err("refused").input;
        assert_eq!(
            input(resolve_window(&hours(100), Some(&hours(80)), now, 3)),
            "replay-until"
        );
        assert_eq!(
            input(resolve_window(
                &ReplayTime::At(at("2026-12-08T00:00:00Z")),
                None,
                now,
                3
            )),
            "replay-since"
        );
        assert_eq!(
            input(resolve_window(
                &hours(1),
                Some(&ReplayTime::At(at("2026-12-08T00:00:00Z"))),
                now,
                3
            )),
            "replay-until"
        );
        assert_eq!(
            input(resolve_window(&hours(1), Some(&hours(2)), now, 3)),
            "replay-until"
        );
        assert_eq!(
            input(resolve_window(&hours(0), None, now, 3)),
            "replay-since"
        );
        // Within the tolerance, a time a little ahead is now.
        let ahead = ReplayTime::At(at("2026-12-07T12:01:00Z"));
        assert_eq!(
            resolve_window(&hours(1), Some(&ahead), now, 3).map(|w| w.until),
            Ok(now)
        );
    }
}
