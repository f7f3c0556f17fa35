//! What the document remembers of each receiver (format version 3): its last state, so
//! that the next run can say "back", and what a drain sent to it as a prefix of its open
//! events, so that a fleet's pending redeliveries cost a few bytes instead of one record
//! each.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Extra, member};

/// A receiver's last verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverState {
    /// It answered: delivered, or refused one event with an HTTP answer.
    Up,
    /// Every canary failed without an answer or with a 5xx.
    Down,
    /// GitHub had not listed a canary's result in time: nothing is known of the receiver.
    Delayed,
}

/// One receiver, keyed in the document by its fingerprint (never by its URL, which may
/// hold a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverRecord {
    pub state: ReceiverState,
    /// When a run first found the receiver in `state`.
    pub since: DateTime<Utc>,
    /// What the last drain sent to it and GitHub may not have listed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SentPrefix>,
    /// Unknown fields, kept (see [`super::CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// "Every open event whose first failure is at or before `through` was redelivered between
/// `from` and `to`, and so were the events in `also`": a drain goes oldest first, so most of
/// what it sent is a prefix of its queue; the few it sent past the prefix's bound (events
/// newer than the scan's floor, where a delivery recorded late could lie unsent) are named
/// by 48 bits of their GUID, 8 characters each. Such an event is pending until a
/// redelivery of it at or after `from` is listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentPrefix {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// None: nothing was sent within a prefix, only the events in `also`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<DateTime<Utc>>,
    /// The GUIDs sent beyond the prefix, as [`member`]s.
    #[serde(
        default,
        skip_serializing_if = "BTreeSet::is_empty",
        with = "super::shared::members"
    )]
    pub also: BTreeSet<u64>,
}

impl SentPrefix {
    /// Whether the open event `guid`, first failed at `first_failed_at`, is one this record
    /// names as sent.
    pub fn covers(&self, guid: &str, first_failed_at: DateTime<Utc>) -> bool {
        self.through
            .is_some_and(|through| first_failed_at <= through)
            || self.also.contains(&member(guid))
    }
}
