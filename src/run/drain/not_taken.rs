//! A redelivery GitHub does not take, kept from stopping the queue behind it.
//!
//! GitHub can keep failing the POST of one delivery (a 5xx, or no answer, after the client's
//! retries) for a while during an incident, and the drain goes oldest first: if that stopped
//! the run, every run would stop at the same event and the whole backlog behind it would
//! wait, until it aged out of GitHub's retention. So such an event is left open for the
//! next run, without spending an attempt, and the drain goes on. Only when
//! [`GITHUB_DOWN_AFTER`] redeliveries in a row were not taken does GitHub as a whole look
//! down: the drain stops as it did before, with the checkpoint held. An event GitHub did
//! not take in an earlier run either is expected to fail again: it does not count towards
//! GitHub looking down, or three such events next to each other in the queue would stop
//! every run at the same place again.
//!
//! An event GitHub does not take in several runs in a row is reported like a refusal
//! ([`crate::domain::plan::not_taken_verdict`]): it cannot loop forever.

use super::outcome::{GITHUB_DOWN_AFTER, Progress};
use super::{Drain, Halt, Queued};
use crate::base::log::Level;
use crate::domain::plan::{NotTaken, not_taken_verdict};
use crate::github::client::ApiError;
use crate::report::{HookError, NotTakenRedelivery, RefusedRedelivery};

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
    /// GitHub did not take the redelivery of `queued` (the `index`th event of receiver
    /// `receiver`): leaves it open (or, in its [`crate::domain::plan::NOT_TAKEN_RUNS`]th
    /// run in a row, reports it like a refusal), and stops the drain when GitHub looks down
    /// as a whole.
    pub(super) fn not_taken(
        &self,
        at: (usize, usize),
        queued: &Queued,
        error: ApiError,
        progress: &mut Progress,
    ) -> Result<(), Halt> {
        let (receiver, index) = at;
        let planned = &queued.planned;
        let hook = self.hooks[queued.hook].hook;
        let guid = &planned.summary.guid;
        let runs = planned.not_taken_runs.saturating_add(1);
        progress.not_taken(receiver, index, planned.summary.first_failed_at);
        let outcome = &mut progress.hooks[queued.hook];
        outcome.not_taken_guids.push(guid.clone());
        match not_taken_verdict(planned.not_taken_runs) {
            NotTaken::LikeRefused => {
                let reason =
                    format!("GitHub did not take it in {runs} runs in a row, the last: {error}");
                self.log_refused(hook, planned, &reason);
                outcome.refused.push(RefusedRedelivery {
                    delivery_id: planned.delivery_id,
                    reason,
                    event: planned.summary.clone(),
                });
            }
            NotTaken::Open => {
                self.log.line(
                    Level::Warning,
                    &format!(
                        "GitHub did not take the redelivery of {guid} of `{hook}` (delivery {}): {error}; the event stays open for the next run, without an attempt",
                        planned.delivery_id
                    ),
                    &[
                        ("hook", hook.to_string().into()),
                        ("event", planned.summary.event.as_str().into()),
                        ("guid", guid.as_str().into()),
                        ("delivery_id", planned.delivery_id.into()),
                        ("runs", runs.into()),
                    ],
                );
                outcome.not_taken.push(NotTakenRedelivery {
                    delivery_id: planned.delivery_id,
                    error: error.to_string(),
                    runs,
                    event: planned.summary.clone(),
                });
            }
        }
        if progress.streak.not_taken(planned.not_taken_runs > 0) {
            self.log.warning(&format!(
                "GitHub did not take {GITHUB_DOWN_AFTER} redeliveries in a row (the last: {error}): it looks down, so the drain stops and the rest is left for the next run"
            ));
            return Err(Halt::Failed(HookError::explain(error, hook)));
        }
        Ok(())
    }
}
