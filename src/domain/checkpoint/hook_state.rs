//! One hook's part of the document: its checkpoint and the bookkeeping of its failing
//! events that GitHub's list cannot tell.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Extra, SentPrefix};

/// The state of one hook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<DateTime<Utc>>,
    /// Older builds: the last run's last redelivery. Read as a pending record of that event
    /// (see [`super::CheckpointDocument::hook`]), never written.
    #[serde(default, skip_serializing)]
    pub last_redelivery: Option<LastRedelivery>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, EventRecord>,
    /// What the last run sent to this hook's receiver (its sent prefix, stored with the
    /// receiver): an open event it covers and that has no record of its own is pending.
    /// Set when the state is read for a run, never written here.
    #[serde(skip)]
    pub receiver_sent: Option<SentPrefix>,
    /// Unknown fields, kept (see [`super::CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// Older builds: a redelivery, by the event's GUID and when GitHub accepted it (epoch
/// seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRedelivery {
    pub guid: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub at: DateTime<Utc>,
}

/// The retry bookkeeping of one failing event (GUID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Older builds: redeliveries this tool made. Read, ignored (the list tells), never
    /// written.
    #[serde(default, skip_serializing)]
    pub attempts: u32,
    /// Redeliveries GitHub refused (4xx to the POST): they count as attempts, but leave no
    /// delivery in the list.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: u32,
    /// When the event was last tried or given up (epoch seconds, to keep the document
    /// small); entries older than the retention are dropped.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub last_attempt: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub given_up: bool,
    /// GitHub accepted a redelivery at `last_attempt` and had not listed its result when
    /// the run ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// Redeliveries GitHub accepted and never listed a result of within the horizon.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted: u32,
    /// Runs in which GitHub did not take a redelivery of it (a 5xx or no answer to the POST,
    /// after the client's retries), since it last accepted one: from
    /// [`crate::domain::plan::NOT_TAKEN_RUNS`] on, each such run counts like a refusal.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_taken: u32,
    /// Unknown fields, kept (see [`super::CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

impl EventRecord {
    /// When GitHub accepted a redelivery whose result is not listed yet, if there is one.
    pub fn pending_since(&self) -> Option<DateTime<Utc>> {
        self.pending.then_some(self.last_attempt)
    }
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl HookState {
    /// Counts one redelivery of `guid` that GitHub refused.
    pub fn record_refusal(&mut self, guid: &str, at: DateTime<Utc>) {
        let record = self.record(guid, at);
        // Saturating: the count comes from the stored document, which may hold `u32::MAX`.
        record.refused = record.refused.saturating_add(1);
        record.last_attempt = at;
        record.pending = false;
    }

    /// Marks `guid` as given up: it is never redelivered again.
    pub fn record_given_up(&mut self, guid: &str, at: DateTime<Utc>) {
        self.record(guid, at).given_up = true;
    }

    /// Keeps only what the list cannot tell (given up, refused, pending, unlisted, not
    /// taken): an older build's own attempt counts are dropped.
    pub fn drop_what_the_list_tells(&mut self) {
        self.events.retain(|_, record| {
            record.given_up
                || record.refused > 0
                || record.pending
                || record.unlisted > 0
                || record.not_taken > 0
        });
    }

    /// Records that GitHub accepted a redelivery of `guid` at `at` and has not listed its
    /// result yet.
    pub fn record_pending(&mut self, guid: &str, at: DateTime<Utc>) {
        let record = self.record(guid, at);
        record.pending = true;
        record.last_attempt = at;
    }

    /// GitHub accepted a redelivery of `guid`: the runs in a row in which it did not take
    /// one end.
    pub fn record_taken(&mut self, guid: &str) {
        if let Some(record) = self.events.get_mut(guid) {
            record.not_taken = 0;
        }
    }

    /// Counts one more run in which GitHub did not take the redelivery of `guid` (a 5xx or
    /// no answer to the POST, after retries): the event stays open, and the planner reads
    /// the count (see [`crate::domain::plan::not_taken_verdict`]).
    pub fn record_not_taken(&mut self, guid: &str, at: DateTime<Utc>) {
        let record = self.record(guid, at);
        // Saturating: the count comes from the stored document.
        record.not_taken = record.not_taken.saturating_add(1);
        record.last_attempt = at;
    }

    /// Runs in a row in which GitHub did not take a redelivery of `guid`.
    pub fn not_taken_runs(&self, guid: &str) -> u32 {
        self.events.get(guid).map_or(0, |record| record.not_taken)
    }

    /// The pending redelivery of `guid` is listed now: the list counts it from here on.
    pub fn settle_pending(&mut self, guid: &str) {
        if let Some(record) = self.events.get_mut(guid) {
            record.pending = false;
        }
    }

    /// The pending redelivery of `guid` (sent at `sent`, by its own record or the
    /// receiver's sent prefix) was never listed within the horizon: it stays an attempt,
    /// counted here, and the event may be sent again.
    pub fn record_unlisted(&mut self, guid: &str, sent: DateTime<Utc>) {
        let record = self.record(guid, sent);
        record.pending = false;
        record.unlisted = record.unlisted.saturating_add(1);
    }

    /// Attempts the list does not show: refusals and redeliveries never listed.
    pub fn unseen_attempts(&self, guid: &str) -> u32 {
        self.events
            .get(guid)
            .map_or(0, |record| record.refused.saturating_add(record.unlisted))
    }

    /// Forgets `guid`: it has been delivered.
    pub fn forget(&mut self, guid: &str) {
        self.events.remove(guid);
    }

    pub(super) fn record(&mut self, guid: &str, at: DateTime<Utc>) -> &mut EventRecord {
        self.events.entry(guid.to_owned()).or_insert(EventRecord {
            attempts: 0,
            refused: 0,
            last_attempt: at,
            given_up: false,
            pending: false,
            unlisted: 0,
            not_taken: 0,
            extra: Extra::new(),
        })
    }
}
