//! A redelivery GitHub does not take, kept from stopping the queue behind it.
//!
//! GitHub can keep failing the POST of one delivery (a 5xx, or no answer, after the client's
//! retries) for a while during an incident, and the drain goes oldest first: if that stopped
//! the run, every run would stop at the same event and the whole backlog behind it would
//! wait, until it aged out of GitHub's retention. So such an event is left open for the
//! next run, without spending an attempt, and the drain goes on. Only when
//! [`GITHUB_DOWN_AFTER`] redeliveries in a row were not taken does GitHub as a whole look
//! down: the drain stops as it did before, with the checkpoint held, and those events are
//! not charged to (they are left for the next run like every event not reached).
//!
//! An event GitHub does not take in several runs in a row is reported like a refusal
//! ([`crate::domain::plan::not_taken_verdict`]): it cannot loop forever.

use super::{Drain, Halt, Progress};
use crate::base::log::Level;
use crate::domain::plan::{NotTaken, PlannedRedelivery, not_taken_verdict};
use crate::github::client::ApiError;
use crate::report::{HookError, NotTakenRedelivery};

/// Redeliveries in a row GitHub did not take before it looks down as a whole and the drain
/// stops: one or two are that delivery's trouble, three in a row (different events) are
/// GitHub's.
pub const GITHUB_DOWN_AFTER: usize = 3;

/// The redeliveries GitHub did not take since it last answered one (accepted or refused),
/// by their index in the drain's queue.
#[derive(Debug, Default)]
pub(super) struct NotTakenStreak(Vec<usize>);

impl NotTakenStreak {
    /// GitHub answered a redelivery: the streak ends, and the ones in it were that
    /// delivery's trouble.
    pub(super) fn answered(&mut self) {
        self.0.clear();
    }

    /// GitHub did not take the redelivery at `index`: true when that makes GitHub look
    /// down as a whole.
    fn not_taken(&mut self, index: usize) -> bool {
        self.0.push(index);
        self.0.len() >= GITHUB_DOWN_AFTER
    }

    /// The streak's redeliveries, when GitHub looks down: they are not charged to their
    /// events.
    pub(super) fn take(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.0)
    }
}

/// A POST failure that leaves its event open and lets the drain go on: a 5xx or no answer
/// after the client's retries. Anything else (a 401, a 403 that is no rate limit, a
/// redirect) says the run itself is wrong, and stops it as before.
pub(super) fn is_not_taken(error: &ApiError) -> bool {
    match error {
        ApiError::Status { status, .. } => (500..600).contains(status),
        ApiError::Transport { .. } => true,
        _ => false,
    }
}

impl Drain<'_> {
    /// GitHub did not take the redelivery of `open[index]`: leaves it open (or, in its
    /// [`crate::domain::plan::NOT_TAKEN_RUNS`]th run in a row, reports it like a refusal),
    /// or stops the drain when GitHub looks down as a whole.
    pub(super) fn not_taken(
        &self,
        index: usize,
        planned: &PlannedRedelivery,
        error: ApiError,
        progress: &mut Progress,
    ) -> Result<(), Halt> {
        if progress.streak.not_taken(index) {
            self.log.warning(&format!(
                "GitHub did not take {GITHUB_DOWN_AFTER} redeliveries in a row (the last: {error}): it looks down, so the drain of `{}` stops and the rest is left for the next run",
                self.hook
            ));
            return Err(Halt::Failed(HookError::explain(error, self.hook)));
        }
        let guid = &planned.summary.guid;
        let runs = planned.not_taken_runs.saturating_add(1);
        progress.outcome.not_taken_guids.push(guid.clone());
        match not_taken_verdict(planned.not_taken_runs) {
            NotTaken::LikeRefused => {
                let reason =
                    format!("GitHub did not take it in {runs} runs in a row, the last: {error}");
                self.refused(planned, reason, &mut progress.outcome);
            }
            NotTaken::Open => {
                self.log.line(
                    Level::Warning,
                    &format!(
                        "GitHub did not take the redelivery of {} (delivery {}): {error}; the event stays open for the next run, without an attempt, and the drain goes on",
                        guid, planned.delivery_id
                    ),
                    &[
                        ("event", planned.summary.event.as_str().into()),
                        ("guid", guid.as_str().into()),
                        ("delivery_id", planned.delivery_id.into()),
                        ("runs", runs.into()),
                    ],
                );
                progress.outcome.not_taken.push(NotTakenRedelivery {
                    delivery_id: planned.delivery_id,
                    error: error.to_string(),
                    runs,
                    event: planned.summary.clone(),
                });
            }
        }
        Ok(())
    }

    /// GitHub looks down: the redeliveries of the streak it did not take are not charged
    /// to their events; they are left for the next run like the events not reached.
    pub(super) fn release_streak(&self, open: &[PlannedRedelivery], progress: &mut Progress) {
        for index in progress.streak.take() {
            progress.sent.remove(&index);
            let guid = open[index].summary.guid.as_str();
            let outcome = &mut progress.outcome;
            outcome.not_taken.retain(|event| event.event.guid != guid);
            outcome.refused.retain(|event| event.event.guid != guid);
            outcome.not_taken_guids.retain(|event| event != guid);
        }
    }
}
