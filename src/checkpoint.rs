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
//!     or [`crate::plan::PENDING_HORIZON`] has passed;
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

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The newest format this build reads and writes (2: a shared checkpoint). A document with
/// a larger `version` is refused.
pub const FORMAT_VERSION: u32 = 2;

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
            legacy_checkpoint: None,
            extra: Extra::new(),
        }
    }
}

/// The state of one hook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<DateTime<Utc>>,
    /// Older builds: the last run's last redelivery. Read as a pending record of that event
    /// (see [`CheckpointDocument::hook`]), never written.
    #[serde(default, skip_serializing)]
    pub last_redelivery: Option<LastRedelivery>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, EventRecord>,
    /// Unknown fields, kept (see [`CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One checkpoint for many hooks: those named in `hooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCheckpoint {
    pub checkpoint: DateTime<Utc>,
    /// The hooks' keys as [`member`]s, written sorted as 8 base64url characters each.
    #[serde(with = "members")]
    pub hooks: std::collections::BTreeSet<u64>,
    /// Unknown fields, kept (see [`CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A hook's key as the shared checkpoint knows it: 48 bits of FNV-1a (mixed by SplitMix64's
/// finalizer) over the key in lower case. Two keys share these bits by chance once in
/// 2^48 / hooks (over 28 billion for 10,000 hooks); a new hook taken so for a known one
/// would start at the shared checkpoint instead of the first-run look-back.
pub fn member(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (hash ^ (hash >> 31)) & 0xffff_ffff_ffff
}

/// The shared hooks as one string: each member's 6 bytes, big-endian, in base64url.
mod members {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::collections::BTreeSet;

    const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn serialize<S: Serializer>(
        hooks: &BTreeSet<u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = hooks
            .iter()
            .flat_map(|member| member.to_be_bytes()[2..].to_vec())
            .collect();
        serializer.serialize_str(&ENGINE.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeSet<u64>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = ENGINE
            .decode(text.as_bytes())
            .map_err(|_| D::Error::custom("`shared.hooks` is not base64url"))?;
        if bytes.len() % 6 != 0 {
            return Err(D::Error::custom(
                "`shared.hooks` is not a list of 6-byte members",
            ));
        }
        Ok(bytes
            .chunks(6)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[2..].copy_from_slice(chunk);
                u64::from_be_bytes(word)
            })
            .collect())
    }
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
    /// Unknown fields, kept (see [`CheckpointDocument::extra`]).
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

    /// The smallest document `hooks` hooks can have: every one in the shared checkpoint.
    pub fn smallest_size(hooks: usize) -> usize {
        hooks * SHARED_BYTES_PER_HOOK + 100
    }

    /// The document as it is written: the hooks with nothing but a checkpoint close to the
    /// others' share one (see the module's documentation) once there are [`SHARE_FROM`] of
    /// them; version 1 otherwise. The shared hooks are those with an entry now: a hook
    /// shared before and not processed since (no longer selected) is left out.
    fn written(&self, span: Duration) -> CheckpointDocument {
        let plain = |state: &HookState| {
            state.last_redelivery.is_none() && state.events.is_empty() && state.extra.is_empty()
        };
        let latest = self
            .hooks
            .values()
            .filter(|state| plain(state))
            .filter_map(|state| state.checkpoint)
            .max();
        let shareable = |state: &HookState| {
            plain(state)
                && state
                    .checkpoint
                    .zip(latest)
                    .is_some_and(|(at, latest)| at >= latest - span)
        };
        let shared: Vec<(&String, &HookState)> = self
            .hooks
            .iter()
            .filter(|(_, state)| shareable(state))
            .collect();
        let (Some(checkpoint), true) = (
            shared
                .iter()
                .filter_map(|(_, state)| state.checkpoint)
                .min(),
            shared.len() >= SHARE_FROM,
        ) else {
            return CheckpointDocument {
                version: PLAIN_FORMAT_VERSION,
                shared: None,
                ..self.clone()
            };
        };
        CheckpointDocument {
            version: FORMAT_VERSION,
            shared: Some(SharedCheckpoint {
                checkpoint,
                hooks: shared.iter().map(|(key, _)| member(key)).collect(),
                extra: self
                    .shared
                    .as_ref()
                    .map(|shared| shared.extra.clone())
                    .unwrap_or_default(),
            }),
            hooks: self
                .hooks
                .iter()
                .filter(|(_, state)| !shareable(state) && **state != HookState::default())
                .map(|(key, state)| (key.clone(), state.clone()))
                .collect(),
            legacy_checkpoint: None,
            extra: self.extra.clone(),
        }
    }

    pub fn set_hook(&mut self, key: &str, state: HookState) {
        self.hooks.insert(key.to_owned(), state);
    }

    /// Serializes the document, first dropping bookkeeping GitHub no longer needs (older than
    /// the retention) and then, if it is still over `limit` bytes, the oldest entries.
    ///
    /// Returns the JSON and how many entries had to be dropped for size: those events may be
    /// retried more than `max-attempts` times, which the caller should warn about.
    pub fn encode(
        &mut self,
        now: DateTime<Utc>,
        retention: Duration,
        limit: usize,
    ) -> anyhow::Result<(String, usize)> {
        let horizon = now - retention;
        for state in self.hooks.values_mut() {
            state
                .events
                .retain(|_, record| record.last_attempt >= horizon);
        }
        // Too big with one entry per hook whose checkpoint is its own (held back by an
        // event redelivered in this run, say): wider spans share more, and a hook whose
        // checkpoint moves back only scans again what it already handled. Bookkeeping
        // goes last, oldest first.
        for span in WIDER_SPANS {
            let json = serde_json::to_string(&self.written(span))
                .context("failed to encode the checkpoint")?;
            if json.len() <= limit {
                return Ok((json, 0));
            }
        }
        let widest = retention.max(SHARE_SPAN);
        let mut dropped = 0;
        loop {
            let json = serde_json::to_string(&self.written(widest))
                .context("failed to encode the checkpoint")?;
            if json.len() <= limit {
                return Ok((json, dropped));
            }
            // Drop roughly what is over the limit at once, oldest first, then check again.
            let average = json.len() / self.event_count().max(1);
            let excess = (json.len() - limit).div_ceil(average.max(1)).max(1);
            let removed = self.drop_oldest_events(excess);
            if removed == 0 {
                bail!(
                    "the checkpoint document of {} hooks is {} bytes, over the {limit} bytes its store holds, even without bookkeeping: keep it in a file (`--state file:PATH`, up to 1 MiB), or split the hooks over several steps, each with its own `variable-name`",
                    self.hooks.len(),
                    json.len()
                );
            }
            dropped += removed;
        }
    }

    fn event_count(&self) -> usize {
        self.hooks.values().map(|state| state.events.len()).sum()
    }

    /// Drops `count` entries: the ones that cost least to lose first (a pending or refused
    /// record may at worst bring one redelivery more; a given-up one a retry of a poison
    /// event), the oldest first within each kind.
    fn drop_oldest_events(&mut self, count: usize) -> usize {
        let mut all: Vec<(bool, DateTime<Utc>, String, String)> = self
            .hooks
            .iter()
            .flat_map(|(hook, state)| {
                state.events.iter().map(move |(guid, record)| {
                    (
                        record.given_up,
                        record.last_attempt,
                        hook.clone(),
                        guid.clone(),
                    )
                })
            })
            .collect();
        all.sort();
        let mut removed = 0;
        for (_, _, hook, guid) in all.into_iter().take(count) {
            if let Some(state) = self.hooks.get_mut(&hook) {
                state.events.remove(&guid);
                removed += 1;
            }
        }
        removed
    }
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

    /// Refusals of `guid` recorded so far.
    pub fn refusals(&self, guid: &str) -> u32 {
        self.events.get(guid).map_or(0, |record| record.refused)
    }

    /// Keeps only what the list cannot tell (given up, refused, pending, unlisted): an
    /// older build's own attempt counts are dropped.
    pub fn drop_what_the_list_tells(&mut self) {
        self.events.retain(|_, record| {
            record.given_up || record.refused > 0 || record.pending || record.unlisted > 0
        });
    }

    /// Records that GitHub accepted a redelivery of `guid` at `at` and has not listed its
    /// result yet.
    pub fn record_pending(&mut self, guid: &str, at: DateTime<Utc>) {
        let record = self.record(guid, at);
        record.pending = true;
        record.last_attempt = at;
    }

    /// The pending redelivery of `guid` is listed now: the list counts it from here on.
    pub fn settle_pending(&mut self, guid: &str) {
        if let Some(record) = self.events.get_mut(guid) {
            record.pending = false;
        }
    }

    /// The pending redelivery of `guid` was never listed within the horizon: it stays an
    /// attempt, counted here, and the event may be sent again.
    pub fn record_unlisted(&mut self, guid: &str) {
        if let Some(record) = self.events.get_mut(guid) {
            record.pending = false;
            record.unlisted = record.unlisted.saturating_add(1);
        }
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

    fn record(&mut self, guid: &str, at: DateTime<Utc>) -> &mut EventRecord {
        self.events.entry(guid.to_owned()).or_insert(EventRecord {
            attempts: 0,
            refused: 0,
            last_attempt: at,
            given_up: false,
            pending: false,
            unlisted: 0,
            extra: Extra::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid time")
    }

    #[test]
    fn empty_value_is_a_first_run() {
        for text in ["", "  ", "\n"] {
            let doc = CheckpointDocument::parse(text).expect("parses");
            assert_eq!(doc.hook("app"), HookState::default());
        }
    }

    #[test]
    fn docs_script_milliseconds_apply_to_every_hook() {
        let doc = CheckpointDocument::parse("1764342000123").expect("parses");
        let expected = Some(at("2025-11-28T15:00:00.123Z"));
        assert_eq!(doc.hook("app").checkpoint, expected);
        assert_eq!(doc.hook("org/acme/1").checkpoint, expected);
    }

    #[test]
    fn garbage_and_newer_versions_are_refused() {
        let err = CheckpointDocument::parse("yesterday").expect_err("refused");
        assert!(format!("{err:#}").contains("fix or delete it"), "{err:#}");
        let err = CheckpointDocument::parse("{\"version\":").expect_err("refused");
        assert!(format!("{err:#}").contains("fix or delete it"), "{err:#}");
        let err = CheckpointDocument::parse(r#"{"version":3,"hooks":{}}"#).expect_err("refused");
        assert!(format!("{err:#}").contains("newer"), "{err:#}");
    }

    #[test]
    fn round_trip() {
        let mut doc = CheckpointDocument::default();
        let mut state = HookState {
            checkpoint: Some(at("2026-11-28T15:00:00Z")),
            ..HookState::default()
        };
        state.record_pending("g0", at("2026-11-28T14:45:00Z"));
        state.record_refusal("g1", at("2026-11-28T14:00:00Z"));
        state.record_refusal("g1", at("2026-11-28T14:30:00Z"));
        state.record_given_up("g2", at("2026-11-28T14:00:00Z"));
        state.record_pending("g3", at("2026-11-28T13:00:00Z"));
        state.record_unlisted("g3");
        doc.set_hook("app", state.clone());
        let (json, dropped) = doc
            .encode(
                at("2026-11-28T15:00:00Z"),
                Duration::days(3),
                MAX_DOCUMENT_BYTES,
            )
            .expect("encodes");
        assert_eq!(dropped, 0);
        assert_eq!(
            json,
            r#"{"version":1,"hooks":{"app":{"checkpoint":"2026-11-28T15:00:00Z","events":{"g0":{"last_attempt":1795877100,"pending":true},"g1":{"refused":2,"last_attempt":1795876200},"g2":{"last_attempt":1795874400,"given_up":true},"g3":{"last_attempt":1795870800,"unlisted":1}}}}}"#
        );
        let back = CheckpointDocument::parse(&json).expect("parses");
        assert_eq!(back.hook("app"), state);
    }

    /// Older builds wrote the last run's last redelivery; it is read as what it is, a
    /// redelivery whose result may not be listed yet, and written as a pending record.
    #[test]
    fn an_older_builds_last_redelivery_becomes_a_pending_record() {
        let text =
            r#"{"version":1,"hooks":{"app":{"last_redelivery":{"guid":"g0","at":1795877100}}}}"#;
        let state = CheckpointDocument::parse(text).expect("parses").hook("app");
        assert_eq!(state.last_redelivery, None);
        assert_eq!(
            state.events["g0"].pending_since(),
            Some(at("2026-11-28T14:45:00Z"))
        );
    }

    #[test]
    fn unknown_fields_of_a_newer_minor_version_survive_a_rewrite() {
        let text = r#"{"version":1,"note":{"by":"v1.9"},"hooks":{"app":{"checkpoint":"2026-11-28T15:00:00Z","lag":3,"events":{"g1":{"refused":1,"last_attempt":1795874400,"via":"x"}}}}}"#;
        let mut doc = CheckpointDocument::parse(text).expect("parses");
        let mut state = doc.hook("app");
        state.record_refusal("g1", at("2026-11-28T15:00:00Z"));
        doc.set_hook("app", state);
        let (json, _) = doc
            .encode(
                at("2026-11-28T15:00:00Z"),
                Duration::days(3),
                MAX_DOCUMENT_BYTES,
            )
            .expect("encodes");
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(value["note"]["by"], "v1.9", "{json}");
        assert_eq!(value["hooks"]["app"]["lag"], 3, "{json}");
        assert_eq!(value["hooks"]["app"]["events"]["g1"]["via"], "x", "{json}");
        assert_eq!(
            value["hooks"]["app"]["events"]["g1"]["refused"], 2,
            "{json}"
        );
    }

    /// Older builds counted their own redeliveries in `attempts`; the list tells that now,
    /// so the count is read, dropped with its entry, and never written again.
    #[test]
    fn an_older_builds_attempt_counts_are_read_and_dropped() {
        let text = r#"{"version":1,"hooks":{"app":{"events":{"g":{"attempts":2,"last_attempt":1795874400},"h":{"attempts":3,"last_attempt":1795874400,"given_up":true}}}}}"#;
        let mut state = CheckpointDocument::parse(text).expect("parses").hook("app");
        assert_eq!(state.events["g"].attempts, 2);
        state.drop_what_the_list_tells();
        assert!(!state.events.contains_key("g"));
        assert!(state.events["h"].given_up);
        let mut doc = CheckpointDocument::default();
        doc.set_hook("app", state);
        let (json, _) = doc
            .encode(
                at("2026-11-28T15:00:00Z"),
                Duration::days(3),
                MAX_DOCUMENT_BYTES,
            )
            .expect("encodes");
        assert!(!json.contains("attempts"), "{json}");
    }

    #[test]
    fn an_attempt_count_at_its_maximum_does_not_overflow() {
        let text = format!(
            r#"{{"version":1,"hooks":{{"app":{{"events":{{"g":{{"refused":{},"last_attempt":0}}}}}}}}}}"#,
            u32::MAX
        );
        let mut state = CheckpointDocument::parse(&text)
            .expect("parses")
            .hook("app");
        state.record_refusal("g", at("2026-11-28T15:00:00Z"));
        assert_eq!(state.events["g"].refused, u32::MAX);
    }

    #[test]
    fn encode_prunes_by_retention_then_by_size() {
        let now = at("2026-11-28T15:00:00Z");
        let mut state = HookState::default();
        state.record_given_up("expired", now - Duration::days(4));
        for i in 0..2000 {
            state.record_given_up(&format!("{i:036}"), now - Duration::seconds(2000 - i));
        }
        let mut doc = CheckpointDocument::default();
        doc.set_hook("app", state);
        let (json, dropped) = doc
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect("encodes");
        assert!(json.len() <= MAX_DOCUMENT_BYTES, "{}", json.len());
        assert!(dropped > 0);
        let events = &doc.hooks["app"].events;
        assert!(!events.contains_key("expired"));
        assert_eq!(events.len(), 2000 - dropped);
        // The newest survive.
        assert!(events.contains_key(&format!("{:036}", 1999)));
        assert!(!events.contains_key(&format!("{:036}", 0)));
    }

    /// A fleet: `count` quiet hooks whose checkpoints are seconds apart, as one run leaves
    /// them, and `busy` hooks with bookkeeping or an earlier checkpoint.
    fn fleet(count: usize, busy: usize, now: DateTime<Utc>) -> CheckpointDocument {
        let mut doc = CheckpointDocument::default();
        for i in 0..count {
            doc.set_hook(
                &format!("repo/acme/service-{i:05}/{}", 400_000_000 + i),
                HookState {
                    checkpoint: Some(now - Duration::seconds((i % 90) as i64)),
                    ..HookState::default()
                },
            );
        }
        for i in 0..busy {
            let mut state = HookState {
                checkpoint: Some(now - Duration::hours(3)),
                ..HookState::default()
            };
            state.record_given_up(&format!("{i:08}-0000-4000-8000-000000000000"), now);
            doc.set_hook(&format!("repo/acme/busy-{i}/{}", 500_000_000 + i), state);
        }
        doc
    }

    #[test]
    fn a_fleet_of_2000_hooks_shares_one_checkpoint_and_fits_a_variable() {
        let now = at("2026-11-28T15:00:00Z");
        let mut doc = fleet(2000, 20, now);
        let (json, dropped) = doc
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect("encodes");
        assert_eq!(dropped, 0);
        assert!(json.len() < 20_000, "{} bytes", json.len());
        let back = CheckpointDocument::parse(&json).expect("parses");
        assert_eq!(back.version, 2);
        assert_eq!(back.hooks.len(), 20, "only the busy hooks have an entry");
        for (key, state) in &doc.hooks {
            let read = back.hook(key);
            let (own, shared) = (
                state.checkpoint.expect("set"),
                read.checkpoint.expect("read"),
            );
            // Never later than the hook's own, never more than the span earlier.
            assert!(shared <= own && shared >= own - SHARE_SPAN, "{key}");
            assert_eq!(read.events, state.events, "{key}");
        }
        // A hook that was not there is new: the first-run look-back.
        assert_eq!(back.hook("repo/acme/new/1").checkpoint, None);
        // Keys compare without case, as GitHub's names do.
        assert_eq!(
            back.hook("repo/ACME/service-00007/400000007").checkpoint,
            Some(now - Duration::seconds(89))
        );
    }

    /// 2,000 hooks, each held back at its own event's failure (spread over a day): one entry
    /// each would be 140 KB; a wider span shares them, no bookkeeping is lost.
    #[test]
    fn a_fleet_held_back_everywhere_shares_a_wider_span_before_dropping_anything() {
        let now = at("2026-11-28T15:00:00Z");
        let mut doc = CheckpointDocument::default();
        for i in 0..2000 {
            doc.set_hook(
                &format!("repo/acme/service-{i:05}/{}", 400_000_000 + i),
                HookState {
                    checkpoint: Some(now - Duration::seconds(i * 43)),
                    ..HookState::default()
                },
            );
        }
        let (json, dropped) = doc
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect("encodes");
        assert_eq!(dropped, 0);
        assert!(json.len() <= MAX_DOCUMENT_BYTES, "{}", json.len());
        let back = CheckpointDocument::parse(&json).expect("parses");
        for (key, state) in &doc.hooks {
            let read = back.hook(key).checkpoint.expect("a checkpoint");
            assert!(read <= state.checkpoint.expect("set"), "{key}");
        }
    }

    #[test]
    fn sizes_of_fleets_and_a_clear_error_past_the_limit() {
        let now = at("2026-11-28T15:00:00Z");
        let mut sizes = Vec::new();
        for count in [100, 1_000, 5_000] {
            let (json, _) = fleet(count, 0, now)
                .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
                .expect("encodes");
            assert!(
                json.len() <= CheckpointDocument::smallest_size(count),
                "{count}"
            );
            sizes.push(json.len());
        }
        assert_eq!(sizes, [882, 8082, 40082]);
        let error = fleet(10_000, 0, now)
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect_err("too big");
        assert!(
            format!("{error:#}").contains("keep it in a file (`--state file:PATH`"),
            "{error:#}"
        );
        // A few hooks are written as before, as version 1.
        let (json, _) = fleet(3, 0, now)
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect("encodes");
        assert!(json.starts_with(r#"{"version":1,"hooks":{"#), "{json}");
    }

    #[test]
    fn a_shared_checkpoint_keeps_unknown_fields_and_drops_hooks_not_processed() {
        let now = at("2026-11-28T15:00:00Z");
        let (json, _) = fleet(40, 0, now)
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect("encodes");
        let mut value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        value["shared"]["by"] = "v2.1".into();
        value["note"] = 1.into();
        let mut doc = CheckpointDocument::parse(&value.to_string()).expect("parses");
        // This run processes 35 of the 40 hooks again.
        let mut fresh = CheckpointDocument {
            shared: doc.shared.take(),
            extra: doc.extra.clone(),
            ..CheckpointDocument::default()
        };
        for (key, _) in fleet(35, 0, now).hooks {
            let state = fresh.hook(&key);
            assert!(state.checkpoint.is_some(), "{key}");
            fresh.set_hook(&key, state);
        }
        let (json, _) = fresh
            .encode(now, Duration::days(3), MAX_DOCUMENT_BYTES)
            .expect("encodes");
        let back = CheckpointDocument::parse(&json).expect("parses");
        let shared = back.shared.as_ref().expect("shared");
        assert_eq!(shared.hooks.len(), 35);
        assert_eq!(shared.extra["by"], "v2.1");
        assert_eq!(back.extra["note"], 1);
        let gone = fleet(40, 0, now).hooks.into_keys().last().expect("a key");
        assert_eq!(back.hook(&gone).checkpoint, None);
    }
}
