//! Redelivering one hook's open events, for the moment the tool exists for: a receiver was
//! down, thousands of events failed, and all must arrive once it is back, without hammering
//! a receiver that is still down.
//!
//! - **A canary first.** When several events are open, one is redelivered and its result
//!   awaited in the list (GitHub records it within the receiver's timeout: 10 s, 30 s on
//!   GHES), polling with backoff. Delivered, or refused with a 4xx (the receiver answers;
//!   that event is bad): the drain goes on. Failed without an HTTP answer or with a 5xx:
//!   another canary is tried, up to [`CANARIES`], those never redelivered first; when all
//!   failed so, the receiver is still down, and every other event is held back without
//!   spending an attempt. No result listed within [`RESULT_WAIT`] is *not* "down": GitHub's
//!   queue is slow, so the rest is held back without spending more canaries, and the
//!   canary stays pending (see [`crate::domain::plan::PENDING_HORIZON`]).
//! - **No canary when the list already tells**: a redelivery listed within
//!   [`crate::domain::plan::EVIDENCE_FRESHNESS`] that the receiver answered (an earlier run's, made
//!   moments ago) shows it is up.
//! - **Then a paced drain**, oldest first, one request at a time, `redelivery-interval`
//!   apart, until the backlog is empty or the run's time budget (`max-duration`) ends. A
//!   rate limit GitHub answers sets the pace: the drain waits until the time GitHub gives,
//!   then goes on at a pace slow enough not to hit it again, and tries faster again after
//!   a quiet stretch (see `pace`); a pace learned within the hour is where it starts.
//! - **One redelivery GitHub does not take does not stop the queue** (`not_taken`): a POST
//!   that still fails after the client's retries (a 5xx, no answer) leaves its event open
//!   for the next run and the drain goes on; only [`GITHUB_DOWN_AFTER`] in a
//!   row, or a failed read of the list, stop it (GitHub looks down).
//! - **Watching the receiver**: every [`CHECK_EVERY`] redeliveries (or minute), the newest
//!   page shows how this run's redeliveries went; if the last ones all failed as a down
//!   receiver fails, the drain stops and holds the rest back.
//!
//! Nothing here moves the checkpoint: every open event keeps it (see
//! [`crate::domain::plan::next_checkpoint`]), so whatever is not delivered now is seen again.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::base::clock::{Stop, format_duration};
use crate::base::log::{Level, Log};
use crate::domain::checkpoint::LearnedPace;
use crate::domain::hook::Hook;
use crate::domain::plan::{EventSummary, PlannedRedelivery, ReceiverEvidence};
use crate::github::client::{ApiError, Credential, GitHubClient};
use crate::github::deliveries;
use crate::report::{HookError, NotTakenRedelivery, RedeliveredEvent, RefusedRedelivery};
use crate::run::pace::{Pace, PaceChange};

mod not_taken;
mod results;

pub use not_taken::GITHUB_DOWN_AFTER;
use not_taken::{NotTakenStreak, is_not_taken};
use results::Verdict;

/// Events tried as canaries before the receiver is taken to be up despite refusals.
pub const CANARIES: usize = 3;
/// How long a redelivery's result may take to be listed: GitHub gives a receiver 10 s (30 s
/// on GHES) and queues the redelivery first.
pub const RESULT_WAIT: Duration = Duration::from_secs(45);
/// The receiver is checked again after this many redeliveries...
pub const CHECK_EVERY: usize = 100;
/// ...or this long, whichever comes first.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// A progress line after this many redeliveries or this long.
const PROGRESS_EVERY: usize = 100;
const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

/// What the drain needs to know and touch.
pub struct Drain<'a> {
    pub hook: &'a Hook,
    pub credential: Credential,
    pub client: &'a GitHubClient,
    pub log: &'a Log,
    /// `redelivery-interval`: the pace, and the fastest a pace after limits comes back to.
    pub interval: Duration,
    /// The pace an earlier drain (of this run or the last) learned from GitHub's limits:
    /// started from while it is recent (see `Pace::resume`).
    pub learned_pace: Option<&'a LearnedPace>,
    pub max_attempts: u32,
    /// When the run's time budget ends.
    pub deadline: Instant,
    /// Set when a shutdown was asked for (SIGTERM, SIGINT).
    pub stop: &'a Stop,
}

/// Why the drain ended before the backlog did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// The receiver is still (or again) down: the rest is held back, nothing is wrong.
    ReceiverDown(String),
    /// The time budget ended: the rest is for the next run.
    Budget,
    /// A shutdown was asked for.
    Shutdown,
    /// GitHub has not listed a canary's result within [`RESULT_WAIT`]: its queue is slow,
    /// not the receiver down. The rest waits; no attempt was spent on it.
    ResultsNotListed,
    /// GitHub looks down (redeliveries not taken several times in a row, a list page that
    /// failed after retries), refused the run's credentials, or rate-limited beyond
    /// `max-wait`.
    Failed(HookError),
}

/// What a drain did.
#[derive(Debug)]
pub struct DrainOutcome {
    pub redelivered: Vec<RedeliveredEvent>,
    pub refused: Vec<RefusedRedelivery>,
    /// Redeliveries GitHub did not take, their events left open (no attempt spent).
    pub not_taken: Vec<NotTakenRedelivery>,
    /// Every event whose redelivery GitHub did not take in this run, also those reported
    /// like a refusal: one more run in a row, for the bookkeeping.
    pub not_taken_guids: Vec<String>,
    /// Open events this run did not redeliver (held back, out of budget, stopped).
    pub not_reached: Vec<EventSummary>,
    pub halt: Option<Halt>,
    /// When the first redelivery of this run was accepted.
    pub first_redelivery: Option<DateTime<Utc>>,
    /// This run's redeliveries whose results GitHub had not listed when it ended (GUID,
    /// when accepted): pending, for the checkpoint.
    pub unlisted: Vec<(String, DateTime<Utc>)>,
    /// The pace the drain ended at (slower than `redelivery-interval` after rate limits).
    pub pace: Pace,
}

/// A drain under way: what was sent (by index in the queue), what it did, the streak of
/// redeliveries GitHub did not take.
struct Progress {
    sent: HashSet<usize>,
    outcome: DrainOutcome,
    streak: NotTakenStreak,
}

/// What GitHub did with one redelivery's POST.
enum Posted {
    Accepted(DateTime<Utc>),
    /// Refused (a 4xx), or not taken (a 5xx, no answer): the drain goes on.
    NotAccepted,
}

impl Drain<'_> {
    /// Redelivers `open` (oldest first), canary first unless `receiver_up` (what the list
    /// already shows) tells the receiver is up. `pending` are earlier runs' redeliveries
    /// whose results are not listed yet: one of them listed as delivered during the canary's
    /// wait shows the receiver is up too.
    pub async fn run(
        &self,
        open: &[PlannedRedelivery],
        receiver_up: Option<&ReceiverEvidence>,
        pending: &[EventSummary],
    ) -> DrainOutcome {
        let clock = self.client.clock();
        let pace = Pace::resume(
            self.interval,
            self.learned_pace,
            clock.now(),
            clock.instant(),
        );
        let mut progress = Progress {
            sent: HashSet::new(),
            outcome: DrainOutcome {
                redelivered: Vec::new(),
                refused: Vec::new(),
                not_taken: Vec::new(),
                not_taken_guids: Vec::new(),
                not_reached: Vec::new(),
                halt: None,
                first_redelivery: None,
                unlisted: Vec::new(),
                pace,
            },
            streak: NotTakenStreak::default(),
        };
        self.log_start(open, receiver_up, &progress.outcome.pace);
        let earlier: HashSet<&str> = pending.iter().map(|event| event.guid.as_str()).collect();
        if let Some(evidence) = receiver_up.filter(|_| open.len() > 1) {
            self.log.info(&format!(
                "The receiver is up: {evidence}; no canary needed."
            ));
        } else if open.len() > 1
            && let Err(halt) = self.canary(open, &earlier, &mut progress).await
        {
            return self.finish(open, progress, Some(halt)).await;
        }
        let halt = self.drain(open, &mut progress).await;
        self.finish(open, progress, halt).await
    }

    fn log_start(
        &self,
        open: &[PlannedRedelivery],
        receiver_up: Option<&ReceiverEvidence>,
        pace: &Pace,
    ) {
        if open.len() > 1 && !pace.interval().is_zero() {
            let first = if receiver_up.is_some() {
                ""
            } else {
                ", a canary first"
            };
            let learned = if pace.interval() > self.interval {
                " (the pace GitHub's limits left within the hour)"
            } else {
                ""
            };
            self.log.info(&format!(
                "Redelivering {} event(s), {} apart{learned}{first}.",
                open.len(),
                format_duration(pace.interval()),
            ));
        }
    }

    /// The paced drain of what the canary left.
    async fn drain(&self, open: &[PlannedRedelivery], progress: &mut Progress) -> Option<Halt> {
        let clock = self.client.clock();
        let remaining: Vec<usize> = (0..open.len())
            .filter(|i| !progress.sent.contains(i))
            .collect();
        let total = remaining.len();
        let started = clock.instant();
        let mut last_check = started;
        let mut last_progress = started;
        for (done, &index) in remaining.iter().enumerate() {
            // Paced first, so that a stop asked for during the pause is seen before the POST.
            self.pause(&progress.outcome.pace).await;
            if let Some(halt) = self.should_halt() {
                return Some(halt);
            }
            let now = clock.instant();
            if (done > 0 && done % CHECK_EVERY == 0) || now - last_check >= CHECK_INTERVAL {
                if let Some(halt) = self.check_receiver(&progress.outcome).await {
                    return Some(halt);
                }
                last_check = clock.instant();
            }
            if let Err(halt) = self.send(open, index, progress).await {
                return Some(halt);
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

    /// The pause between two redeliveries: none before the first.
    async fn pause(&self, pace: &Pace) {
        if pace.sent_any() && !pace.interval().is_zero() {
            self.client.pause(pace.interval()).await;
        }
    }

    /// Tries up to [`CANARIES`] events, never-redelivered ones first (the oldest failing
    /// event is often a poison event). One delivered, or refused with an answer (a 4xx: that
    /// event is bad, the receiver is up): the others go out. The receiver is taken to be down
    /// only when every canary tried failed as a down receiver fails (no answer, a 5xx): one
    /// event whose own delivery keeps failing must not hold everything back. A canary whose
    /// result is not listed in time ends the canaries: GitHub is slow, and another canary
    /// would only be slow too. A canary GitHub refused or did not take tells nothing of the
    /// receiver: another is tried.
    async fn canary(
        &self,
        open: &[PlannedRedelivery],
        earlier: &HashSet<&str>,
        progress: &mut Progress,
    ) -> Result<(), Halt> {
        let mut order: Vec<usize> = (0..open.len()).collect();
        // Stable: oldest first within each group; events GitHub did not take in an earlier
        // run last (a canary GitHub does not take tells nothing).
        order.sort_by_key(|&i| {
            (
                open[i].not_taken_runs > 0,
                open[i].summary.previous_attempts > 0,
            )
        });
        let mut down = None;
        for &index in order.iter().take(CANARIES) {
            self.pause(&progress.outcome.pace).await;
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            let Posted::Accepted(accepted_at) = self.send(open, index, progress).await? else {
                continue;
            };
            let guid = &open[index].summary.guid;
            let verdict = self.await_result(guid, earlier, accepted_at).await?;
            if matches!(
                verdict,
                Verdict::Delivered | Verdict::Refused(_) | Verdict::Down(_)
            ) {
                // Its own result is listed: not pending.
                progress.outcome.unlisted.retain(|(sent, _)| sent != guid);
            }
            match verdict {
                Verdict::Delivered => {
                    self.log
                        .info(&format!("The receiver is up: canary {guid} was delivered."));
                    return Ok(());
                }
                Verdict::EarlierDelivered(earlier) => {
                    self.log.info(&format!(
                        "The receiver is up: {earlier}, redelivered by an earlier run, is listed as delivered now."
                    ));
                    return Ok(());
                }
                Verdict::Refused(status) => {
                    // An answer, even a refusal, means the receiver is up.
                    self.log.info(&format!(
                        "Canary {guid} was refused by the receiver ({status}): the receiver answers, so the others go out."
                    ));
                    return Ok(());
                }
                Verdict::Down(status) => {
                    self.log.info(&format!("Canary {guid} failed ({status})."));
                    down = Some(status);
                }
                Verdict::Unknown => {
                    self.log.info(&format!(
                        "GitHub has not listed the result of canary {guid} within {}.",
                        format_duration(RESULT_WAIT)
                    ));
                    return Err(Halt::ResultsNotListed);
                }
            }
        }
        match down {
            Some(status) => Err(Halt::ReceiverDown(status)),
            // Every canary was refused by GitHub itself: nothing is known of the receiver.
            None => Ok(()),
        }
    }

    /// One redelivery, `open[index]`: what GitHub did with it, or `Err` when the drain must
    /// stop. A rate limit GitHub answered on the way (and the client waited out) slows the
    /// pace; a stretch without one lets it speed up again.
    async fn send(
        &self,
        open: &[PlannedRedelivery],
        index: usize,
        progress: &mut Progress,
    ) -> Result<Posted, Halt> {
        let before = self.client.counts();
        let result = self.post(open, index, progress).await;
        let after = self.client.counts();
        let limit_wait = (after.rate_limit_waits > before.rate_limit_waits).then(|| {
            after
                .rate_limit_waited
                .saturating_sub(before.rate_limit_waited)
        });
        let pace = &mut progress.outcome.pace;
        if let Some(change) = pace.after_send(self.client.clock().instant(), limit_wait) {
            self.log_pace_change(change, pace);
        }
        if result.is_ok() {
            progress.sent.insert(index);
        }
        result
    }

    /// The POST of one redelivery, and what its answer means for the drain.
    async fn post(
        &self,
        open: &[PlannedRedelivery],
        index: usize,
        progress: &mut Progress,
    ) -> Result<Posted, Halt> {
        let planned = &open[index];
        let attempt = planned.summary.previous_attempts + 1;
        let outcome = &mut progress.outcome;
        match deliveries::redeliver(self.client, self.hook, self.credential, planned.delivery_id)
            .await
        {
            Ok(()) => {
                // Taken after the 202 (a rate-limit wait may come before it), less the
                // tolerance wherever it is compared: GitHub records the redelivery then.
                let accepted_at = self.client.clock().now();
                self.log_redelivered(planned, attempt);
                outcome.redelivered.push(RedeliveredEvent {
                    delivery_id: planned.delivery_id,
                    attempt,
                    event: planned.summary.clone(),
                });
                outcome.first_redelivery.get_or_insert(accepted_at);
                outcome
                    .unlisted
                    .push((planned.summary.guid.clone(), accepted_at));
                progress.streak.answered();
                Ok(Posted::Accepted(accepted_at))
            }
            Err(ApiError::Status {
                status, message, ..
            }) if (400..500).contains(&status) && status != 401 && status != 403 => {
                self.refused(planned, format!("{status}: {message}"), outcome);
                progress.streak.answered();
                Ok(Posted::NotAccepted)
            }
            Err(error) if error.outlasts_budget() => {
                self.log.notice(&format!("{error}"));
                Err(Halt::Budget)
            }
            Err(ApiError::Stopped { .. }) => Err(Halt::Shutdown),
            Err(error) if is_not_taken(&error) => {
                self.not_taken(index, planned, error, progress)?;
                Ok(Posted::NotAccepted)
            }
            Err(error) => Err(Halt::Failed(HookError::explain(error, self.hook))),
        }
    }

    /// Says a change of pace, once.
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

    fn log_redelivered(&self, planned: &PlannedRedelivery, attempt: u32) {
        self.log.line(
            Level::Info,
            &format!(
                "Redelivered {} {} (delivery {}, attempt {attempt} of {}).",
                planned.summary.event, planned.summary.guid, planned.delivery_id, self.max_attempts
            ),
            &[
                ("event", planned.summary.event.as_str().into()),
                ("action", planned.summary.action.clone().into()),
                ("guid", planned.summary.guid.as_str().into()),
                ("delivery_id", planned.delivery_id.into()),
                ("attempt", attempt.into()),
                ("max_attempts", self.max_attempts.into()),
            ],
        );
    }

    /// This one delivery is refused (too old, gone, validation): it counts as an attempt
    /// (in the bookkeeping: it leaves nothing in the list), and the drain goes on with the
    /// others.
    fn refused(&self, planned: &PlannedRedelivery, reason: String, outcome: &mut DrainOutcome) {
        self.log.line(
            Level::Warning,
            &format!(
                "GitHub refused to redeliver {} (delivery {}): {reason}",
                planned.summary.guid, planned.delivery_id
            ),
            &[
                ("event", planned.summary.event.as_str().into()),
                ("guid", planned.summary.guid.as_str().into()),
                ("delivery_id", planned.delivery_id.into()),
                ("reason", reason.as_str().into()),
            ],
        );
        outcome.refused.push(RefusedRedelivery {
            delivery_id: planned.delivery_id,
            reason,
            event: planned.summary.clone(),
        });
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

    /// Ends the drain: everything not sent is reported as not reached, and this run's
    /// redeliveries whose results are not listed yet stay pending.
    async fn finish(
        &self,
        open: &[PlannedRedelivery],
        progress: Progress,
        halt: Option<Halt>,
    ) -> DrainOutcome {
        let Progress {
            sent, mut outcome, ..
        } = progress;
        self.sweep_results(&mut outcome).await;
        outcome.not_reached = open
            .iter()
            .enumerate()
            .filter(|(index, _)| !sent.contains(index))
            .map(|(_, planned)| planned.summary.clone())
            .collect();
        if let Some(halt) = &halt {
            self.log_halt(halt, outcome.not_reached.len(), outcome.unlisted.len());
        }
        self.log_end_pace(&outcome.pace);
        outcome.halt = halt;
        outcome
    }

    /// The pace the drain ended at, when GitHub's limits had a say in it.
    fn log_end_pace(&self, pace: &Pace) {
        let report = pace.report();
        if pace.interval() > self.interval || report.limit_answers > 0 {
            self.log.line(
                Level::Info,
                &format!(
                    "The drain of `{}` ended at one redelivery every {} ({}), after {} limit answer(s).",
                    self.hook,
                    format_duration(pace.interval()),
                    report.reason,
                    report.limit_answers
                ),
                &[
                    ("pace_seconds", report.interval_seconds.into()),
                    ("limit_answers", report.limit_answers.into()),
                ],
            );
        }
    }

    fn log_halt(&self, halt: &Halt, left: usize, unlisted: usize) {
        match halt {
            Halt::ReceiverDown(status) => self.log.line(
                Level::Warning,
                &format!(
                    "the receiver of `{}` is still down ({status}): holding back {left} event(s) without spending an attempt; the next run tries again",
                    self.hook
                ),
                &[("held_back", left.into()), ("reason", status.as_str().into())],
            ),
            Halt::ResultsNotListed => self.log.line(
                Level::Warning,
                &format!(
                    "GitHub has not listed the results of {unlisted} redelivery(ies) yet; holding back {left} event(s) of `{}`: the next run goes on once they are listed",
                    self.hook
                ),
                &[("held_back", left.into()), ("pending", unlisted.into())],
            ),
            Halt::Budget => self.log.notice(&format!(
                "the time budget (`max-duration`) is spent: {left} event(s) of `{}` left for the next run",
                self.hook
            )),
            Halt::Shutdown => self.log.notice(&format!(
                "stopping redeliveries of `{}` (shutdown requested); {left} event(s) left for the next run",
                self.hook
            )),
            Halt::Failed(_) => {}
        }
    }
}
