//! What the document remembers of each receiver (format version 3): its last state, so
//! that the next run can say "back", and what a drain sent to it as a prefix of its open
//! events, so that a fleet's pending redeliveries cost a few bytes instead of one record
//! each.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Extra;

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
/// `from` and `to`": a drain goes oldest first, so what it sent is a prefix of its queue.
/// Such an event is pending until a redelivery of it at or after `from` is listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentPrefix {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub through: DateTime<Utc>,
}

impl SentPrefix {
    /// Whether an open event that first failed at `first_failed_at` is one this prefix sent.
    pub fn covers(&self, first_failed_at: DateTime<Utc>) -> bool {
        first_failed_at <= self.through
    }
}
