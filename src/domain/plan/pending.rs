//! Where an earlier redelivery whose result was not listed stands: by the event's own
//! pending record, or the receiver's sent prefix; listed, still waiting, or lost.

use chrono::{DateTime, Utc};

use super::{CLOCK_TOLERANCE, PlanOptions, STALLED_QUEUE_HORIZON};
use crate::domain::checkpoint::{EventRecord, HookState};

/// Where a pending redelivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    /// Its result is listed: a failed redelivery at or after it shows.
    Listed,
    /// Not listed yet, within its horizon: not sent again.
    Waiting,
    /// Never listed within its horizon: an attempt GitHub lost.
    Lost,
}

/// When an earlier run's redelivery of an event, not listed yet, was sent: by the event's
/// own pending record, or within the receiver's sent prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SentUnlisted {
    pub(super) earliest: DateTime<Utc>,
    pub(super) latest: DateTime<Utc>,
    pub(super) by_prefix: bool,
}

/// The earlier redelivery of an event whose result is not known: its own pending record
/// first; else, when the receiver's sent record names it (its prefix covers its first
/// failure, or its GUID is among the others sent), that record.
pub(super) fn sent_unlisted(
    guid: &str,
    state: &HookState,
    first_failed_at: DateTime<Utc>,
) -> Option<SentUnlisted> {
    if let Some(sent) = state.events.get(guid).and_then(EventRecord::pending_since) {
        return Some(SentUnlisted {
            earliest: sent,
            latest: sent,
            by_prefix: false,
        });
    }
    let prefix = state.receiver_sent.as_ref()?;
    prefix
        .covers(guid, first_failed_at)
        .then_some(SentUnlisted {
            earliest: prefix.from,
            latest: prefix.to,
            by_prefix: true,
        })
}

/// What the list shows of an event's redeliveries and of GitHub's queue, at `now`.
pub(super) struct Listing {
    /// The event's newest failed redelivery listed.
    pub(super) event_newest: Option<DateTime<Utc>>,
    /// The newest redelivery listed, of any event.
    pub(super) queue_newest: Option<DateTime<Utc>>,
    pub(super) now: DateTime<Utc>,
}

/// The verdict on a redelivery sent (at the latest) at `sent.latest`: listed once a failed
/// redelivery of the event at or after `sent.earliest` shows; otherwise waiting for
/// `pending-horizon`, or for [`STALLED_QUEUE_HORIZON`] while GitHub's queue lists nothing
/// newer than it either; lost after that.
pub(super) fn pending_verdict(
    sent: &SentUnlisted,
    listing: &Listing,
    options: &PlanOptions,
) -> Pending {
    // Checked: the times come from the stored document.
    let early = sent
        .earliest
        .checked_sub_signed(CLOCK_TOLERANCE)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let late = sent
        .latest
        .checked_add_signed(CLOCK_TOLERANCE)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let (event_newest, queue_newest, now) =
        (listing.event_newest, listing.queue_newest, listing.now);
    if event_newest.is_some_and(|newest| newest >= early) {
        return Pending::Listed;
    }
    let waited = now.signed_duration_since(sent.latest);
    let queue_moved_past = queue_newest.is_some_and(|newest| newest > late);
    let horizon = if queue_moved_past {
        options.pending_horizon
    } else {
        STALLED_QUEUE_HORIZON.max(options.pending_horizon)
    };
    if waited < horizon {
        Pending::Waiting
    } else {
        Pending::Lost
    }
}
