//! Redelivering a run's open events, for the moment the tool exists for: a receiver was
//! down, thousands of events failed (on one hook or on every hook of a fleet that delivers
//! to it), and all must arrive once it is back, without spending attempts on a receiver
//! that is still down.
//!
//! **The receiver is the unit of health** ([`crate::domain::receiver`]): hooks that deliver
//! to one URL share one verdict.
//! - **Canaries first** (`canary.rs`): for each receiver with several open events and no
//!   evidence in the list that it answers, up to [`CANARIES`] events are redelivered
//!   (never-redelivered ones first, from as few hooks as possible), then their results are
//!   awaited together, and every receiver's at the same time: a fleet of N receivers costs
//!   about one wait, not N. Delivered, or refused with a 4xx (the receiver answers): up.
//!   All failed without an HTTP answer or with a 5xx: down, and every event of every hook
//!   that delivers to it is held back without an attempt. No result within
//!   [`RESULT_WAIT`] is *not* "down": GitHub's queue is slow; its events wait too.
//! - **Then one paced drain** over every receiver that answers, oldest first over all
//!   hooks (the events nearest GitHub's retention first), one request at a time,
//!   `redelivery-interval` apart, slowed by GitHub's limits (`pace`), until the backlog is
//!   empty or the run's time budget ends.
//! - **Watching each receiver**: every [`CHECK_EVERY`] redeliveries to it (or minute), the
//!   newest page of the hook it last got a redelivery on shows how the run's redeliveries
//!   went; if the last ones all failed as a down receiver fails, its remaining events are
//!   held back, and the others go on.
//! - **Every list request beyond the scan** (canary polls, checks, the last look) counts
//!   against one budget of 10 + 4 % of the run's redeliveries (`results.rs`): a fleet's run
//!   costs about its scan. What the run did not see listed is remembered compactly (a
//!   receiver's sent prefix, NOTES.md "Checkpoint format 3") for the next run to settle.
//!
//! Nothing here moves a checkpoint: every open event keeps its hook's (see
//! [`crate::domain::plan::next_checkpoint`]), so whatever is not delivered now is seen again.

mod canary;
mod not_taken;
mod outcome;
mod results;

use not_taken::is_not_taken;
pub use outcome::GITHUB_DOWN_AFTER;
pub use outcome::{DrainOutcome, Halt, ReceiverOutcome, RunDrainOutcome};

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::base::clock::{Stop, format_duration};
use crate::base::log::{Level, Log};
use crate::domain::checkpoint::LearnedPace;
use crate::domain::hook::Hook;
use crate::domain::plan::{PlannedRedelivery, ReceiverEvidence};
use crate::domain::receiver::Receiver;
use crate::github::client::{ApiError, Credential, GitHubClient};
use crate::github::deliveries;
use crate::report::{HookError, RedeliveredEvent, RefusedRedelivery};

use super::pace::{Pace, PaceChange};
use outcome::Progress;

/// Events tried as canaries of one receiver.
pub const CANARIES: usize = 3;
/// How long a redelivery's result may take to be listed: GitHub gives a receiver 10 s (30 s
/// on GHES) and queues the redelivery first.
pub const RESULT_WAIT: Duration = Duration::from_secs(45);
/// A receiver is checked again after this many redeliveries to it...
pub const CHECK_EVERY: usize = 100;
/// ...or this long, whichever comes first.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// A progress line after this many redeliveries or this long.
const PROGRESS_EVERY: usize = 100;
const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

/// One hook as the drain sees it.
#[derive(Debug, Clone, Copy)]
pub struct DrainHook<'a> {
    pub hook: &'a Hook,
    pub credential: Credential,
}

/// One open event, with the index of its hook in the run.
#[derive(Debug, Clone)]
pub struct Queued {
    pub hook: usize,
    pub planned: PlannedRedelivery,
}

/// One receiver's part of the drain.
#[derive(Debug, Clone)]
pub struct ReceiverQueue {
    pub receiver: Receiver,
    /// Its hooks' open events, oldest first.
    pub open: Vec<Queued>,
    /// What its hooks' lists already show of it answering: no canary needed.
    pub evidence: Option<ReceiverEvidence>,
    /// Earlier runs' redeliveries to it still pending (hook, GUID): one listed as
    /// delivered during the canaries' wait shows it is up too.
    pub earlier_pending: Vec<(usize, String)>,
    /// Open events its hooks have beyond the queue (over `max-redeliveries`), the oldest
    /// first failure: what this run sends stops before it in the sent prefix.
    pub oldest_unqueued: Option<DateTime<Utc>>,
    /// The earliest of its hooks' listings, less the overlap: a delivery recorded late may
    /// fall after it unseen, so the sent prefix never reaches past it.
    pub scan_floor: DateTime<Utc>,
}

/// What the drain needs to know and touch.
pub struct Drain<'a> {
    pub hooks: &'a [DrainHook<'a>],
    /// The pace an earlier run learned from GitHub's limits, if recent: the drain starts
    /// from it.
    pub learned_pace: Option<&'a LearnedPace>,
    pub client: &'a GitHubClient,
    pub log: &'a Log,
    pub interval: Duration,
    pub max_attempts: u32,
    /// A replay's canaries (issue 29) ask whether the receiver takes what it rejected, not
    /// only whether it answers: a canary refused with a 4xx fails like one without an
    /// answer, so a receiver that still rejects costs at most [`CANARIES`] redeliveries.
    pub refusal_fails_canary: bool,
    /// When the run's time budget ends.
    pub deadline: Instant,
    /// Set when a shutdown was asked for (SIGTERM, SIGINT).
    pub stop: &'a Stop,
}

/// One POST's answer, as the drain sees it.
enum Posted {
    Accepted(DateTime<Utc>),
    /// GitHub refused this one redelivery (a 4xx), or did not take it (a 5xx or no answer
    /// after retries): the drain goes on.
    NotAccepted,
}

impl Drain<'_> {
    /// Redelivers the open events of every receiver: canaries, then one paced drain.
    pub async fn run(&self, queues: &[ReceiverQueue]) -> RunDrainOutcome {
        let clock = self.client.clock();
        let pace = Pace::resume(
            self.interval,
            self.learned_pace,
            clock.now(),
            clock.instant(),
        );
        let mut progress = Progress::new(self.hooks.len(), queues, pace, clock);
        self.log_start(queues, &progress.pace);
        if let Err(halt) = self.canaries(queues, &mut progress).await {
            progress.halt_all(halt);
        } else {
            let halt = self.drain(queues, &mut progress).await;
            if let Some(halt) = halt {
                progress.halt_all(halt);
            }
        }
        self.last_look(&mut progress).await;
        progress.finish(queues, self.log)
    }

    fn log_start(&self, queues: &[ReceiverQueue], pace: &Pace) {
        let total: usize = queues.iter().map(|queue| queue.open.len()).sum();
        if total > 1 && !pace.interval().is_zero() {
            let learned = if pace.interval() > self.interval {
                " (the pace GitHub's limits left within the hour)"
            } else {
                ""
            };
            self.log.info(&format!(
                "Redelivering {total} event(s) to {} receiver(s), {} apart{learned}.",
                queues.iter().filter(|queue| !queue.open.is_empty()).count(),
                format_duration(pace.interval()),
            ));
        }
    }

    /// The paced drain of what the canaries left, oldest first over every receiver that
    /// answers. `Some` when the whole drain must stop.
    async fn drain(&self, queues: &[ReceiverQueue], progress: &mut Progress) -> Option<Halt> {
        let clock = self.client.clock();
        let mut order: Vec<(usize, usize)> = queues
            .iter()
            .enumerate()
            .flat_map(|(receiver, queue)| (0..queue.open.len()).map(move |i| (receiver, i)))
            .filter(|&(receiver, i)| !progress.was_sent(receiver, i))
            .filter(|&(receiver, _)| progress.receivers[receiver].may_drain())
            .collect();
        order.sort_by(|&(ra, ia), &(rb, ib)| {
            let (a, b) = (&queues[ra].open[ia].planned, &queues[rb].open[ib].planned);
            (a.summary.first_failed_at, &a.summary.guid)
                .cmp(&(b.summary.first_failed_at, &b.summary.guid))
        });
        let total = order.len();
        let started = clock.instant();
        let mut last_progress = started;
        for (done, (receiver, index)) in order.into_iter().enumerate() {
            let queued = &queues[receiver].open[index];
            if !progress.receivers[receiver].may_drain() || progress.hook_halted(queued.hook) {
                continue;
            }
            // Paced first, so that a stop asked for during the pause is seen before the POST.
            self.pause(progress).await;
            if let Some(halt) = self.should_halt() {
                return Some(halt);
            }
            if progress.receivers[receiver].check_due(clock.instant()) {
                let checked = self.check_receiver(receiver, &queues[receiver], progress);
                if let Err(halt) = checked.await {
                    return Some(halt);
                }
                if !progress.receivers[receiver].may_drain() {
                    continue;
                }
            }
            match self.send((receiver, index), queued, progress).await {
                Ok(Posted::Accepted(at)) => progress.accepted(receiver, index, queued, at),
                Ok(Posted::NotAccepted) => {}
                Err(Halt::Failed(error)) if !error.is_rate_limit() => {
                    progress.halt_hook(queued.hook, Halt::Failed(error));
                }
                Err(halt) => return Some(halt),
            }
            let now = clock.instant();
            if total >= PROGRESS_EVERY
                && ((done + 1) % PROGRESS_EVERY == 0 || now - last_progress >= PROGRESS_INTERVAL)
            {
                self.progress(done + 1, total, now - started);
                last_progress = now;
            }
        }
        None
    }

    /// The pause before a POST, at the pace: none before the first.
    async fn pause(&self, progress: &Progress) {
        if progress.pace.sent_any() && !progress.pace.interval().is_zero() {
            self.client.pause(progress.pace.interval()).await;
        }
    }

    /// One redelivery (the `at.1`th event of receiver `at.0`): accepted, not accepted (the
    /// drain goes on), or `Err` when it must stop. A rate limit GitHub answered on the way
    /// (and the client waited out) slows the pace; a stretch without one speeds it up.
    async fn send(
        &self,
        at: (usize, usize),
        queued: &Queued,
        progress: &mut Progress,
    ) -> Result<Posted, Halt> {
        let before = self.client.counts();
        let result = self.post(at, queued, progress).await;
        let after = self.client.counts();
        let limit_wait = (after.rate_limit_waits > before.rate_limit_waits).then(|| {
            after
                .rate_limit_waited
                .saturating_sub(before.rate_limit_waited)
        });
        let now = self.client.clock().instant();
        if let Some(change) = progress.pace.after_send(now, limit_wait) {
            self.log_pace_change(change, &progress.pace);
        }
        result
    }

    /// The POST of one redelivery, and what its answer means for the drain.
    async fn post(
        &self,
        at: (usize, usize),
        queued: &Queued,
        progress: &mut Progress,
    ) -> Result<Posted, Halt> {
        let planned = &queued.planned;
        let target = self.hooks[queued.hook];
        match deliveries::redeliver(
            self.client,
            target.hook,
            target.credential,
            planned.delivery_id,
        )
        .await
        {
            Ok(()) => {
                // Taken after the 202 (a rate-limit wait may come before it), less the
                // tolerance wherever it is compared: GitHub records the redelivery then.
                let accepted_at = self.client.clock().now();
                let redelivered = RedeliveredEvent::of(planned);
                self.log_redelivered(target.hook, &redelivered);
                progress.hooks[queued.hook].redelivered.push(redelivered);
                progress.streak.answered();
                Ok(Posted::Accepted(accepted_at))
            }
            Err(ApiError::Status {
                status, message, ..
            }) if (400..500).contains(&status) && status != 401 && status != 403 => {
                let reason = format!("{status}: {message}");
                self.log_refused(target.hook, planned, &reason);
                progress.hooks[queued.hook].refused.push(RefusedRedelivery {
                    delivery_id: planned.delivery_id,
                    reason,
                    event: planned.summary.clone(),
                });
                progress.tried(at.0, at.1);
                progress.streak.answered();
                Ok(Posted::NotAccepted)
            }
            Err(error) if error.outlasts_budget() => {
                self.log.notice(&format!("{error}"));
                Err(Halt::Budget)
            }
            Err(ApiError::Stopped { .. }) => Err(Halt::Shutdown),
            Err(error) if is_not_taken(&error) => {
                self.not_taken(at, queued, error, progress)?;
                Ok(Posted::NotAccepted)
            }
            Err(error) => Err(Halt::Failed(HookError::explain(error, target.hook))),
        }
    }

    /// Looks at the newest results of the run's redeliveries to receiver `receiver` (one
    /// page of the hook it last got one on), when the budget allows: if the last few all
    /// failed as a down receiver fails, it fell over again and its other events wait.
    /// A list page GitHub fails to answer (after retries) while redeliveries go out is
    /// GitHub in trouble as a whole: the drain stops (`Err`), as for three POSTs in a row.
    async fn check_receiver(
        &self,
        receiver: usize,
        queue: &ReceiverQueue,
        progress: &mut Progress,
    ) -> Result<(), Halt> {
        let now = self.client.clock().instant();
        let state = &mut progress.receivers[receiver];
        state.checked(now);
        let (Some(hook), Some(since)) = (state.last_hook(), state.first_sent_at()) else {
            return Ok(());
        };
        if !progress.rereads.allows(progress.sent_count()) {
            return Ok(());
        }
        let listed = self
            .newest_results(hook, since, &mut progress.rereads)
            .await?;
        progress.saw_everywhere(hook, &listed);
        let state = &mut progress.receivers[receiver];
        if let Some(status) = state.fell_over() {
            self.log.line(
                Level::Warning,
                &format!(
                    "{} fails again ({status}): holding back its other events without spending an attempt",
                    queue.receiver
                ),
                &[
                    ("receiver", queue.receiver.shown().into()),
                    ("reason", status.as_str().into()),
                ],
            );
            state.down(status);
        }
        Ok(())
    }

    /// At the end, the pages of the hooks with the most unseen redeliveries, while the
    /// budget allows: each result seen is one pending record fewer for the next run.
    async fn last_look(&self, progress: &mut Progress) {
        if self.stop.is_requested() {
            return;
        }
        for (hook, since) in progress.hooks_with_unseen() {
            if !progress.rereads.allows(progress.sent_count()) {
                break;
            }
            if let Ok(listed) = self
                .newest_results(hook, since, &mut progress.rereads)
                .await
            {
                progress.saw_everywhere(hook, &listed);
            }
        }
    }

    fn should_halt(&self) -> Option<Halt> {
        if self.stop.is_requested() {
            Some(Halt::Shutdown)
        } else if self.client.clock().instant() >= self.deadline {
            Some(Halt::Budget)
        } else {
            None
        }
    }

    fn progress(&self, done: usize, total: usize, elapsed: Duration) {
        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
        let left = Duration::from_secs_f64((total - done) as f64 / rate.max(0.001));
        self.log.info(&format!(
            "Redelivered {done} of {total} ({}%), {rate:.1}/s, about {} left.",
            done * 100 / total.max(1),
            format_duration(Duration::from_secs(left.as_secs()))
        ));
    }

    fn log_pace_change(&self, change: PaceChange, pace: &Pace) {
        let interval = format_duration(pace.interval());
        let message = match change {
            PaceChange::Slower => {
                format!("GitHub limits the pace of redeliveries: going on at one every {interval}.")
            }
            PaceChange::Faster if pace.interval() > self.interval => format!(
                "No limit answer for a while: trying one redelivery every {interval} (`redelivery-interval` is {}).",
                format_duration(self.interval)
            ),
            PaceChange::Faster => {
                format!("No limit answer for a while: back to one redelivery every {interval}.")
            }
        };
        let level = match change {
            PaceChange::Slower => Level::Notice,
            PaceChange::Faster => Level::Info,
        };
        self.log.line(
            level,
            &message,
            &[("pace_seconds", pace.interval().as_secs_f64().into())],
        );
    }

    fn log_redelivered(&self, hook: &Hook, redelivered: &RedeliveredEvent) {
        let RedeliveredEvent {
            delivery_id,
            attempt,
            event,
        } = redelivered;
        self.log.line(
            Level::Info,
            &format!(
                "Redelivered {} {} of `{hook}` (delivery {delivery_id}, attempt {attempt} of {}).",
                event.event, event.guid, self.max_attempts
            ),
            &[
                ("hook", hook.to_string().into()),
                ("event", event.event.as_str().into()),
                ("action", event.action.clone().into()),
                ("guid", event.guid.as_str().into()),
                ("delivery_id", (*delivery_id).into()),
                ("attempt", (*attempt).into()),
                ("max_attempts", self.max_attempts.into()),
            ],
        );
    }

    /// This one delivery is refused (too old, gone, validation): it counts as an attempt
    /// (in the bookkeeping: it leaves nothing in the list), and the drain goes on.
    fn log_refused(&self, hook: &Hook, planned: &PlannedRedelivery, reason: &str) {
        self.log.line(
            Level::Warning,
            &format!(
                "GitHub refused to redeliver {} of `{hook}` (delivery {}): {reason}",
                planned.summary.guid, planned.delivery_id
            ),
            &[
                ("hook", hook.to_string().into()),
                ("event", planned.summary.event.as_str().into()),
                ("guid", planned.summary.guid.as_str().into()),
                ("delivery_id", planned.delivery_id.into()),
                ("reason", reason.into()),
            ],
        );
    }
}

/// The events of `queue` that this run did not send, by hook: held back, left for the next
/// run.
fn unsent<'q>(
    queue: &'q ReceiverQueue,
    sent: &'q HashSet<usize>,
) -> impl Iterator<Item = &'q Queued> + 'q {
    queue
        .open
        .iter()
        .enumerate()
        .filter(move |(index, _)| !sent.contains(index))
        .map(|(_, queued)| queued)
}

#[cfg(test)]
mod tests {
    use super::results::Verdict;

    #[test]
    fn a_result_without_an_answer_or_with_a_5xx_means_down() {
        assert_eq!(Verdict::of(200, "OK"), Verdict::Delivered);
        assert!(matches!(Verdict::of(0, "timed out"), Verdict::Down(_)));
        assert!(matches!(
            Verdict::of(502, "Invalid HTTP Response: 502"),
            Verdict::Down(_)
        ));
        assert!(matches!(
            Verdict::of(400, "Invalid HTTP Response: 400"),
            Verdict::Refused(_)
        ));
    }
}
