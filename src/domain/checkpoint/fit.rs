//! Fitting the document into its store: the quiet hooks share a checkpoint, bookkeeping
//! GitHub no longer keeps goes, and only then, oldest first, the rest (with a warning).

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};

use super::{
    CheckpointDocument, FORMAT_VERSION, HookState, PLAIN_FORMAT_VERSION, SHARE_FROM, SHARE_SPAN,
    SHARED_BYTES_PER_HOOK, SHARED_FORMAT_VERSION, SharedCheckpoint, WIDER_SPANS, member,
};

impl CheckpointDocument {
    /// The smallest document `hooks` hooks can have: every one in the shared checkpoint.
    pub fn smallest_size(hooks: usize) -> usize {
        hooks * SHARED_BYTES_PER_HOOK + 100
    }

    /// The version a document is written as: the oldest that holds everything in it, so
    /// that older builds keep reading what they can.
    fn written_version(&self, without_format_3: u32) -> u32 {
        if self.receivers.is_empty() && self.replays.is_empty() && self.pace.is_none() {
            without_format_3
        } else {
            FORMAT_VERSION
        }
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
                && state.checkpoint.zip(latest).is_some_and(|(at, latest)| {
                    // Checked: the times come from the stored document.
                    at >= latest
                        .checked_sub_signed(span)
                        .unwrap_or(DateTime::<Utc>::MIN_UTC)
                })
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
                version: self.written_version(PLAIN_FORMAT_VERSION),
                shared: None,
                ..self.clone()
            };
        };
        CheckpointDocument {
            version: self.written_version(SHARED_FORMAT_VERSION),
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
            receivers: self.receivers.clone(),
            replays: self.replays.clone(),
            pace: self.pace.clone(),
            legacy_checkpoint: None,
            extra: self.extra.clone(),
        }
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
        let horizon = now
            .checked_sub_signed(retention)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        for state in self.hooks.values_mut() {
            state
                .events
                .retain(|_, record| record.last_attempt >= horizon);
        }
        self.forget_what_github_no_longer_keeps(horizon);
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

    /// Replays whose window GitHub no longer keeps, and sent prefixes older than that, are
    /// no longer of use: nothing they cover can be listed or sent again.
    fn forget_what_github_no_longer_keeps(&mut self, horizon: DateTime<Utc>) {
        self.replays.retain(|replay| replay.until >= horizon);
        for receiver in self.receivers.values_mut() {
            if receiver.sent.as_ref().is_some_and(|sent| sent.to < horizon) {
                receiver.sent = None;
            }
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
