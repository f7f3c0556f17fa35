//! The window a run scans: from a safety margin before the checkpoint (or the first-run
//! look-back), never older than GitHub keeps deliveries. Pure: the caller gives `now`.

use chrono::{DateTime, Duration, Utc};

/// How far back a run scans.
#[derive(Debug, Clone)]
pub struct WindowOptions {
    /// Where a first run (no checkpoint yet) starts: this long before now.
    pub first_run_lookback: Duration,
    /// How far before the checkpoint the scan starts again, so that deliveries GitHub
    /// recorded a little after they started (receivers get 10 s, 30 s on GHES) are not missed.
    pub overlap: Duration,
    /// How long GitHub keeps deliveries: nothing older can be listed or redelivered.
    pub retention: Duration,
}

/// The start of the window a run scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: DateTime<Utc>,
    /// The checkpoint is older than GitHub's retention: events in between are lost for good.
    pub checkpoint_expired: bool,
}

/// Computes the window from the checkpoint: a safety margin before it, never older than
/// the retention, and `first_run_lookback` when there is no checkpoint.
///
/// The durations come from outside (`since`, `retention-days`) and the checkpoint from the
/// stored document, so the arithmetic is checked: a result chrono cannot represent is
/// clamped to the earliest time it can, and the retention then bounds the window.
pub fn scan_window(
    checkpoint: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    options: &WindowOptions,
) -> Window {
    let minus = |at: DateTime<Utc>, duration: Duration| {
        at.checked_sub_signed(duration)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let oldest_listed = minus(now, options.retention);
    let since = match checkpoint {
        Some(checkpoint) => minus(checkpoint, options.overlap),
        None => minus(now, options.first_run_lookback),
    };
    Window {
        since: since.max(oldest_listed),
        checkpoint_expired: checkpoint.is_some_and(|checkpoint| checkpoint < oldest_listed),
    }
}

/// Whether a delivery made at `delivered_at` belongs to the window that starts at `since`.
///
/// The start is inclusive: the checkpoint is a time whose deliveries were not all handled
/// (see [`crate::domain::plan::next_checkpoint`]), so a delivery exactly at the window's start must be planned.
/// The listing stops at the first delivery this refuses (pages come newest first).
pub fn in_window(delivered_at: DateTime<Utc>, since: DateTime<Utc>) -> bool {
    delivered_at >= since
}

/// The window of a replay (issue 29): from its start, never older than GitHub keeps
/// deliveries. It lists everything since, newer than the replay's end too, to see which
/// events were delivered since and which redeliveries are pending. The checkpoint has no
/// say, and is never expired for it.
pub fn replay_window(since: DateTime<Utc>, now: DateTime<Utc>, retention: Duration) -> Window {
    let oldest_listed = now
        .checked_sub_signed(retention)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    Window {
        since: since.max(oldest_listed),
        checkpoint_expired: false,
    }
}
