//! Requests by kind and the class of their answer: the JSON report, the benchmark and the
//! tests check that no request is spent needlessly; `--listen`'s metrics show them.

use std::time::Duration;

use http::StatusCode;

use super::GitHubClient;

/// What a request was for, to count requests by kind (the benchmark and the tests check
/// that no request is spent needlessly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    List,
    Redeliver,
    Other,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] = [
        RequestKind::List,
        RequestKind::Redeliver,
        RequestKind::Other,
    ];

    /// The name of the kind, as the JSON report and the metrics spell it.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::List => "list",
            RequestKind::Redeliver => "redeliver",
            RequestKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    pub list: u32,
    pub redeliver: u32,
    pub other: u32,
    /// Answers by kind and status class, for `--listen`'s metrics (not in the JSON report).
    #[serde(skip)]
    pub answers: AnswerCounts,
    /// Rate-limit waits taken, and their total, for the metrics too.
    #[serde(skip)]
    pub rate_limit_waits: u32,
    #[serde(skip)]
    pub rate_limit_waited: Duration,
}

/// Attempts by [`RequestKind`] and the class of their answer: `2xx` ... `5xx`, `other`, or
/// `none` when no answer came (a dropped connection, a timeout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerCounts([[u32; STATUS_CLASSES.len()]; RequestKind::ALL.len()]);

/// The status classes [`AnswerCounts`] tells apart.
pub const STATUS_CLASSES: [&str; 6] = ["2xx", "3xx", "4xx", "5xx", "other", "none"];

impl AnswerCounts {
    fn add(&mut self, kind: RequestKind, status: Option<StatusCode>) {
        let class = match status.map(|status| status.as_u16() / 100) {
            Some(2) => 0,
            Some(3) => 1,
            Some(4) => 2,
            Some(5) => 3,
            Some(_) => 4,
            None => 5,
        };
        self.0[kind as usize][class] += 1;
    }

    /// `(kind, class, count)` for every pair seen.
    pub fn iter(&self) -> impl Iterator<Item = (RequestKind, &'static str, u32)> + '_ {
        RequestKind::ALL.into_iter().flat_map(move |kind| {
            STATUS_CLASSES
                .iter()
                .zip(self.0[kind as usize])
                .filter(|(_, count)| *count > 0)
                .map(move |(class, count)| (kind, *class, count))
        })
    }
}

impl GitHubClient {
    pub(super) fn count(&self, kind: RequestKind) {
        if let Ok(mut counts) = self.counts.lock() {
            match kind {
                RequestKind::List => counts.list += 1,
                RequestKind::Redeliver => counts.redeliver += 1,
                RequestKind::Other => counts.other += 1,
            }
        }
    }

    /// Counts an attempt's answer (`None`: it got none) by its status class.
    pub(super) fn count_answer(&self, kind: RequestKind, status: Option<StatusCode>) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.answers.add(kind, status);
        }
    }
}
