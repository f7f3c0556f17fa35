//! The planner's rules for one failing event: what the bookkeeping says of it ([`Facts`]),
//! and the decision, by the scheduled loop's rules or a replay's (see the parent module's
//! documentation).

use chrono::{DateTime, Utc};

use super::pending::{Listing, Pending};
use super::{EventSummary, FailureHistory, Plan, PlanOptions, PlannedRedelivery, replays};
use crate::domain::checkpoint::HookState;
use crate::domain::replay::{Coverage, Original, ReplayDecision, Seen};

/// The rules of one plan: its options and the `max-age` bound.
pub(super) struct Rules<'a> {
    pub(super) options: &'a PlanOptions,
    pub(super) too_old_before: Option<DateTime<Utc>>,
}

/// What the bookkeeping and the list say of one failing event, besides its history.
pub(super) struct Facts {
    given_up: bool,
    /// An earlier run's redelivery of it is pending (its own record, or a receiver's sent
    /// prefix).
    still_pending: bool,
    pub(super) attempts: u32,
    /// Runs in a row in which GitHub did not take a redelivery of it.
    pub(super) not_taken_runs: u32,
}

impl Facts {
    /// The facts of `guid`, whose earlier redelivery not listed yet stands as `pending`.
    pub(super) fn of(
        guid: &str,
        state: &HookState,
        pending: Option<Pending>,
        history: &FailureHistory,
    ) -> Facts {
        let still_pending = pending == Some(Pending::Waiting);
        let lost = pending == Some(Pending::Lost);
        Facts {
            given_up: state.events.get(guid).is_some_and(|record| record.given_up),
            still_pending,
            // Refusals and lost redeliveries leave nothing in the list; the bookkeeping has
            // them. A pending or lost redelivery is an attempt too.
            attempts: history
                .failed_redeliveries
                .saturating_add(state.unseen_attempts(guid))
                .saturating_add(u32::from(still_pending || lost)),
            not_taken_runs: state.not_taken_runs(guid),
        }
    }
}

/// What becomes of one failing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Outside a replay's window (or its original delivery is not in the list): not this
    /// run's business.
    Outside,
    Filtered,
    GivenUpBefore,
    ReplayedBefore,
    TooOld,
    Pending,
    GiveUp,
    /// To redeliver, in the order of this time (its first failure).
    Open(DateTime<Utc>),
}

impl Rules<'_> {
    pub(super) fn decide(
        &self,
        history: &FailureHistory,
        facts: &Facts,
        listing: &Listing,
    ) -> Decision {
        let seen = Seen {
            event: &history.event,
            action: history.action.as_deref(),
            original: history
                .original
                .as_ref()
                .map(|(at, cause)| Original { at: *at, cause }),
            newest_failed_redelivery: history.newest_redelivery,
        };
        let coverage = replays::coverage(&self.options.replays, &seen, listing, self.options);
        match &self.options.replays.current {
            Some(scope) => match scope.decide(&seen, facts.still_pending, coverage) {
                ReplayDecision::Outside => Decision::Outside,
                ReplayDecision::Filtered => Decision::Filtered,
                ReplayDecision::Pending => Decision::Pending,
                ReplayDecision::Send(original_at) => Decision::Open(original_at),
            },
            None => self.scheduled_decision(history, facts, coverage, &seen),
        }
    }

    /// The scheduled loop's rules (the module's documentation, 2 to 8). An event an
    /// earlier run has pending stays pending even when a replay covers it too.
    fn scheduled_decision(
        &self,
        history: &FailureHistory,
        facts: &Facts,
        coverage: Option<Coverage>,
        seen: &Seen<'_>,
    ) -> Decision {
        let options = self.options;
        if !options.filter.allows(seen.event, seen.action) {
            Decision::Filtered
        } else if facts.given_up {
            Decision::GivenUpBefore
        } else if coverage.is_some() && !facts.still_pending {
            Decision::ReplayedBefore
        } else if self
            .too_old_before
            .is_some_and(|bound| history.first_at < bound)
        {
            Decision::TooOld
        } else if facts.still_pending {
            Decision::Pending
        } else if facts.attempts >= options.max_attempts {
            Decision::GiveUp
        } else {
            Decision::Open(history.first_at)
        }
    }
}

impl Plan {
    /// Files one failing event where `decision` puts it.
    pub(super) fn file(
        &mut self,
        decision: Decision,
        guid: String,
        history: FailureHistory,
        facts: &Facts,
        candidates: &mut Vec<(DateTime<Utc>, PlannedRedelivery)>,
    ) {
        let summary = EventSummary {
            guid,
            event: history.event,
            action: history.action,
            first_failure_status: history.first_status,
            first_failure_cause: history.first_cause,
            first_failed_at: history.first_at,
            previous_attempts: facts.attempts,
        };
        let found = &mut self.found;
        match decision {
            Decision::Outside => {}
            Decision::Filtered => found.filtered.push(summary),
            Decision::GivenUpBefore => found.already_given_up += 1,
            Decision::ReplayedBefore => found.replayed_before += 1,
            Decision::TooOld => found.too_old.push(summary),
            Decision::Pending => found.pending.push(summary),
            Decision::GiveUp => found.given_up.push(summary),
            Decision::Open(first_at) => candidates.push((
                first_at,
                PlannedRedelivery {
                    delivery_id: history.newest.1,
                    not_taken_runs: facts.not_taken_runs,
                    summary,
                },
            )),
        }
    }
}
