//! The checkpoint document: the one piece of state a run hands to the next.
//!
//! It is the same JSON document in every store (repository variable, file), versioned, and
//! keyed by hook so one variable serves several hooks:
//!
//! ```json
//! {"version":1,"hooks":{"app":{"checkpoint":"2026-11-28T15:00:00Z",
//!   "events":{"0b989ba4-242f-11e5-81e1-c7b6966d2516":{"last_attempt":1764342000,"given_up":true},
//!             "9d1b0a2e-242f-11e5-81e1-c7b6966d2516":{"last_attempt":1764342300,"pending":true}}}}}
//! ```
//!
//! - `checkpoint`: every delivery before it (less the overlap margin) has been handled; it
//!   never passes an event that is still open, so each run sees every open event's history.
//! - `events`: only what GitHub's list cannot tell:
//!   - `given_up`: the event is never redelivered again;
//!   - `refused`: redeliveries GitHub refused (a 4xx to the POST), which leave nothing in
//!     the list;
//!   - `pending`: a redelivery GitHub accepted at `last_attempt` whose result it had not
//!     listed when the run ended (GitHub lists results seconds later, hours during an
//!     incident). It counts as an attempt, and is not sent again until its result is listed
//!     or [`crate::domain::plan::PENDING_HORIZON`] has passed;
//!   - `unlisted`: redeliveries whose result GitHub never listed within that horizon; they
//!     count as attempts, so `max-attempts` bounds an event GitHub keeps losing.
//!
//!   Other attempts are counted from the list. Entries go when the event is delivered, or
//!   when GitHub no longer keeps it (the retention).
//!
//! Older builds wrote `attempts` (their own redeliveries, now counted from the list; read
//! and dropped) and `last_redelivery {guid, at}` (read as a pending record of that event).
//!
//! The bare epoch-milliseconds value that GitHub's docs script writes is read too, as the
//! checkpoint of every hook, so users can switch without losing their place.
//!
//! **A fleet shares one checkpoint.** One variable holds 48 KB, and a fleet of thousands of
//! hooks would not fit with an entry each. So from [`SHARE_FROM`] hooks on, the hooks with
//! nothing but a checkpoint, all within [`SHARE_SPAN`] of each other (a run lists them
//! within seconds), share one: `shared.checkpoint` is the earliest of theirs (moving a
//! checkpoint back only scans again what the overlap scans anyway), and `shared.hooks`
//! names them by 48 bits of a hash of their key, 8 characters each (format version 2). When
//! that is still too big (every hook held back at its own redelivered event, say), the
//! span widens (1 h, 6 h, a day, the retention) before any bookkeeping is dropped:
//!
//! ```json
//! {"version":2,"shared":{"checkpoint":"2026-11-28T15:00:00Z","hooks":"q1Xh0V3a9Bc-Lm2Z"},
//!   "hooks":{"repo/acme/api/1001":{"checkpoint":"2026-11-28T09:12:00Z"}}}
//! ```
//!
//! Only the hooks with something of their own (an earlier checkpoint held by an open event,
//! bookkeeping such as a pending redelivery) have an entry. A hook in neither is new: it starts with
//! the first-run look-back. A document that needs no sharing is written as version 1, which
//! earlier builds read.
//!
//! **Format version 3** adds what a run remembers beyond hooks: `receivers` (each
//! receiver's last state and what a drain sent to it, as a prefix of its queue),
//! `replays` (one record per replay run) and `pace` (the pace GitHub's limits left). A
//! document is written as 3 only when it holds one of them. NOTES.md "Checkpoint format 3"
//! has the whole design.

mod fit;
mod hook_state;
mod pace;
mod receivers;
mod replays;
mod shared;

pub use hook_state::{EventRecord, HookState, LastRedelivery};
pub use pace::LearnedPace;
pub use receivers::{ReceiverRecord, ReceiverState, SentPrefix};
pub use replays::ReplayRecord;
pub use shared::{SharedCheckpoint, member};

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The newest format this build reads and writes (3: receivers, replays, a learned pace; see
/// NOTES.md "Checkpoint format 3"). A document with a larger `version` is refused.
pub const FORMAT_VERSION: u32 = 3;

/// The format of a document with a shared checkpoint and nothing of version 3: what builds
/// since fleets read.
const SHARED_FORMAT_VERSION: u32 = 2;

/// The format of a document without a shared checkpoint: what builds before fleets read.
const PLAIN_FORMAT_VERSION: u32 = 1;

/// From this many hooks with only a checkpoint, they share one.
pub const SHARE_FROM: usize = 32;

/// How far apart the checkpoints that are shared may be: the later ones move back to the
/// earliest, so a hook scans at most this much again (the overlap already does).
pub const SHARE_SPAN: Duration = Duration::minutes(5);

/// The spans tried, narrowest first, until the document fits its store.
const WIDER_SPANS: [Duration; 4] = [
    SHARE_SPAN,
    Duration::hours(1),
    Duration::hours(6),
    Duration::days(1),
];

/// Bytes each hook adds to the shared checkpoint: 48 bits in base64.
pub const SHARED_BYTES_PER_HOOK: usize = 8;

/// GitHub keeps at most 48 KB in one Actions variable; staying under 48,000 bytes holds
/// whichever way "KB" is counted.
/// <https://docs.github.com/en/actions/reference/workflows-and-actions/variables#limits-for-configuration-variables>
pub const MAX_DOCUMENT_BYTES: usize = 48_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointDocument {
    pub version: u32,
    /// The checkpoint the hooks with nothing else to keep share (format version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedCheckpoint>,
    #[serde(default)]
    pub hooks: BTreeMap<String, HookState>,
    /// Each receiver's last state and what was sent to it, by fingerprint (format 3).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub receivers: BTreeMap<String, ReceiverRecord>,
    /// One record per replay run (format 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<ReplayRecord>,
    /// The pace the last run ended at after GitHub's limits (format 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<LearnedPace>,
    /// The docs script's checkpoint, for hooks that have none of their own yet.
    #[serde(skip)]
    pub legacy_checkpoint: Option<DateTime<Utc>>,
    /// Fields this build does not know, kept as they were: a newer minor version of the
    /// tool may add some, and an older one sharing the store must not drop them on rewrite.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Unknown fields of a part of the document, written back unchanged.
pub type Extra = serde_json::Map<String, serde_json::Value>;

impl Default for CheckpointDocument {
    fn default() -> Self {
        Self {
            version: PLAIN_FORMAT_VERSION,
            shared: None,
            hooks: BTreeMap::new(),
            receivers: BTreeMap::new(),
            replays: Vec::new(),
            pace: None,
            legacy_checkpoint: None,
            extra: Extra::new(),
        }
    }
}

impl CheckpointDocument {
    /// Reads a stored value: empty (first run), the docs script's epoch milliseconds, or
    /// this tool's JSON document.
    ///
    /// Anything else is an error: silently starting over would skip or repeat events.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::default());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let millis: i64 = text
                .parse()
                .with_context(|| format!("failed to read `{text}` as epoch milliseconds"))?;
            let checkpoint = Utc
                .timestamp_millis_opt(millis)
                .single()
                .with_context(|| format!("`{text}` is not a valid time in epoch milliseconds"))?;
            return Ok(Self {
                legacy_checkpoint: Some(checkpoint),
                ..Self::default()
            });
        }
        if !text.starts_with('{') {
            bail!(
                "the stored checkpoint is neither epoch milliseconds nor a redeliver-action document; fix or delete it"
            );
        }
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let VersionOnly { version } = serde_json::from_str(text)
            .context("failed to read the stored checkpoint document; fix or delete it")?;
        if version > FORMAT_VERSION {
            bail!(
                "the stored checkpoint is format version {version}, written by a newer redeliver-action; this one reads up to {FORMAT_VERSION}: upgrade the action"
            );
        }
        serde_json::from_str(text)
            .context("failed to read the stored checkpoint document; fix or delete it")
    }

    /// Refuses a checkpoint later than `latest` (now, plus the scan's overlap): a checkpoint
    /// is where a run's listing reached, on GitHub's clock, so one in the future was not
    /// written by a run, and honouring it would skip every event until then. Clamping it
    /// would guess where the last run stopped; a person should look instead.
    pub fn refuse_future_checkpoints(&self, latest: DateTime<Utc>) -> anyhow::Result<()> {
        let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Some(legacy) = self.legacy_checkpoint
            && legacy > latest
        {
            bail!(
                "the stored checkpoint (epoch milliseconds) is {}, in the future: it would skip every event until then; fix or delete it",
                stamp(legacy)
            );
        }
        if let Some(shared) = &self.shared
            && shared.checkpoint > latest
        {
            bail!(
                "the stored shared checkpoint is {}, in the future: it would skip every event until then; fix or delete it",
                stamp(shared.checkpoint)
            );
        }
        for (hook, state) in &self.hooks {
            if let Some(checkpoint) = state.checkpoint
                && checkpoint > latest
            {
                bail!(
                    "the stored checkpoint of `{hook}` is {}, in the future: it would skip every event until then; fix or delete it",
                    stamp(checkpoint)
                );
            }
        }
        Ok(())
    }

    /// The state of one hook: its own entry, else the shared checkpoint when it is one of
    /// its hooks, else the docs script's checkpoint (none: a first run). An older build's
    /// `last_redelivery` becomes the pending record it stands for.
    pub fn hook(&self, key: &str) -> HookState {
        let shared = self
            .shared
            .as_ref()
            .filter(|shared| shared.hooks.contains(&member(key)))
            .map(|shared| shared.checkpoint);
        let mut state = self.hooks.get(key).cloned().unwrap_or_else(|| HookState {
            checkpoint: shared.or(self.legacy_checkpoint),
            ..HookState::default()
        });
        if let Some(last) = state.last_redelivery.take() {
            let record = state.record(&last.guid, last.at);
            if last.at >= record.last_attempt {
                record.last_attempt = last.at;
                record.pending = true;
            }
        }
        state
    }

    /// Puts a hook's state back; what was only read for the run (its receiver's sent
    /// prefix) stays with the receiver.
    pub fn set_hook(&mut self, key: &str, mut state: HookState) {
        state.receiver_sent = None;
        self.hooks.insert(key.to_owned(), state);
    }
}

#[cfg(test)]
mod tests;
