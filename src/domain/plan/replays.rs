//! What an earlier replay did with an event, by its one record in the checkpoint document
//! ([`crate::domain::checkpoint::ReplayRecord`]): the prefix it reached, and the pending
//! rule of `pending.rs` from its start.

use chrono::{DateTime, Utc};

use super::pending::{Listing, Pending, SentUnlisted, pending_verdict};
use super::{CLOCK_TOLERANCE, PlanOptions};
use crate::domain::replay::{Coverage, Replays, Seen};

/// What the earlier replays did with `seen`. A replay covers an event its scope selects
/// whose original failed at or before its `through`; it waits for the result as a pending
/// redelivery does, and past the horizon without a result the replay is taken not to have
/// sent it (its drain stopped, its hook's list failed) and covers it no more. An event
/// whose original is not in the window (the scheduled window starts long after it) is
/// covered when the replay's filters allow it and a failed redelivery of it was listed
/// after the replay started: nothing but a replay sends such an event. One replay waiting
/// wins over another's listed result.
pub(super) fn coverage(
    replays: &Replays,
    seen: &Seen<'_>,
    listing: &Listing,
    options: &PlanOptions,
) -> Option<Coverage> {
    let mut found = None;
    for replay in &replays.earlier {
        let started = replay
            .at
            .checked_sub_signed(CLOCK_TOLERANCE)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let verdict = match &seen.original {
            Some(original) => {
                let sent = replay.through.is_some_and(|through| original.at <= through)
                    && replay.scope.selects(seen.event, seen.action, original);
                if !sent {
                    continue;
                }
                let at = SentUnlisted {
                    earliest: replay.at,
                    latest: replay.at,
                    by_prefix: true,
                };
                match pending_verdict(&at, listing, options) {
                    Pending::Waiting => Coverage::Waiting,
                    Pending::Listed => Coverage::Listed,
                    Pending::Lost => continue,
                }
            }
            None if replay.scope.filter.allows(seen.event, seen.action)
                && seen
                    .newest_failed_redelivery
                    .is_some_and(|newest| newest >= started) =>
            {
                Coverage::Listed
            }
            None => continue,
        };
        if verdict == Coverage::Waiting {
            return Some(Coverage::Waiting);
        }
        found = Some(verdict);
    }
    found
}
