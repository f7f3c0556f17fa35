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
//!   then goes on at a pace slow enough not to hit it again (see `pace`).
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
use crate::domain::delivery::{Delivery, failure_means_down};
use crate::domain::hook::Hook;
use crate::domain::plan::{CLOCK_TOLERANCE, EventSummary, PlannedRedelivery, ReceiverEvidence};
use crate::github::client::{ApiError, Credential, GitHubClient};
use crate::github::deliveries;
use crate::report::{HookError, RedeliveredEvent, RefusedRedelivery};
use crate::run::pace::Pace;

/// Events tried as canaries before the receiver is taken to be up despite refusals.
pub const CANARIES: usize = 3;
/// How long a redelivery's result may take to be listed: GitHub gives a receiver 10 s (30 s
/// on GHES) and queues the redelivery first.
pub const RESULT_WAIT: Duration = Duration::from_secs(45);
/// The first pause before looking at the list for a result; each next pause is
/// [`RESULT_POLL_GROWTH`] times longer, so one wait costs at most about 10 list requests.
const RESULT_POLL: Duration = Duration::from_secs(1);
const RESULT_POLL_GROWTH: f64 = 1.5;
/// Pages read by the sweep at the end of a drain for its redeliveries' results.
const SWEEP_PAGES: u32 = 100;
/// A drain sweeps the list for its own results only after this many redeliveries: fewer
/// pending records cost the document little, and a fleet's are settled by the run's one
/// concurrent look after every drain (a look per hook here would double a fleet's run).
const SWEEP_FROM: usize = 20;
/// Pages looked at for a result: a busy App may push it off the first.
const RESULT_PAGES: u32 = 3;
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
    pub interval: Duration,
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
    /// GitHub failed (after retries) or rate-limited beyond `max-wait`.
    Failed(HookError),
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct DrainOutcome {
    pub redelivered: Vec<RedeliveredEvent>,
    pub refused: Vec<RefusedRedelivery>,
    /// Open events this run did not redeliver (held back, out of budget, stopped).
    pub not_reached: Vec<EventSummary>,
    pub halt: Option<Halt>,
    /// When the first redelivery of this run was accepted.
    pub first_redelivery: Option<DateTime<Utc>>,
    /// This run's redeliveries whose results GitHub had not listed when it ended (GUID,
    /// when accepted): pending, for the checkpoint.
    pub unlisted: Vec<(String, DateTime<Utc>)>,
    /// The pace the drain ended at (slower than `redelivery-interval` after rate limits).
    pub pace: Duration,
}

/// What a redelivery's result in the list says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Delivered,
    /// The receiver gave no answer or a 5xx: it is down.
    Down(String),
    /// The receiver answered 4xx (or 3xx): it refused this event.
    Refused(String),
    /// No result was listed in time.
    Unknown,
    /// An earlier run's pending redelivery (this GUID) is listed as delivered meanwhile: the
    /// receiver is up, whatever the canary's own result will be.
    EarlierDelivered(String),
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
        let mut pace = Pace::new(self.interval, clock.instant());
        let mut outcome = DrainOutcome::default();
        let mut sent: HashSet<usize> = HashSet::new();
        if open.len() > 1 && !self.interval.is_zero() {
            let first = if receiver_up.is_some() {
                ""
            } else {
                ", a canary first"
            };
            self.log.info(&format!(
                "Redelivering {} event(s), {} apart{first}.",
                open.len(),
                format_duration(self.interval),
            ));
        }
        let earlier: HashSet<&str> = pending.iter().map(|event| event.guid.as_str()).collect();
        if let Some(evidence) = receiver_up.filter(|_| open.len() > 1) {
            self.log.info(&format!(
                "The receiver is up: {evidence}; no canary needed."
            ));
        } else if open.len() > 1
            && let Err(halt) = self
                .canary(open, &earlier, &mut sent, &mut outcome, &mut pace)
                .await
        {
            return self.finish(open, &sent, outcome, Some(halt), pace).await;
        }
        let halt = self.drain(open, &mut sent, &mut outcome, &mut pace).await;
        self.finish(open, &sent, outcome, halt, pace).await
    }

    /// The paced drain of what the canary left.
    async fn drain(
        &self,
        open: &[PlannedRedelivery],
        sent: &mut HashSet<usize>,
        outcome: &mut DrainOutcome,
        pace: &mut Pace,
    ) -> Option<Halt> {
        let clock = self.client.clock();
        let remaining: Vec<usize> = (0..open.len()).filter(|i| !sent.contains(i)).collect();
        let total = remaining.len();
        let started = clock.instant();
        let mut last_check = started;
        let mut last_progress = started;
        for (done, &index) in remaining.iter().enumerate() {
            // Paced first, so that a stop asked for during the pause is seen before the POST.
            if (done > 0 || !outcome.redelivered.is_empty()) && !pace.interval().is_zero() {
                self.client.pause(pace.interval()).await;
            }
            if let Some(halt) = self.should_halt() {
                return Some(halt);
            }
            let now = clock.instant();
            if (done > 0 && done % CHECK_EVERY == 0) || now - last_check >= CHECK_INTERVAL {
                if let Some(halt) = self.check_receiver(outcome).await {
                    return Some(halt);
                }
                last_check = clock.instant();
            }
            if let Err(halt) = self.send(&open[index], outcome, pace).await {
                return Some(halt);
            }
            sent.insert(index);
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

    /// Tries up to [`CANARIES`] events, never-redelivered ones first (the oldest failing
    /// event is often a poison event). One delivered, or refused with an answer (a 4xx: that
    /// event is bad, the receiver is up): the others go out. The receiver is taken to be down
    /// only when every canary tried failed as a down receiver fails (no answer, a 5xx): one
    /// event whose own delivery keeps failing must not hold everything back. A canary whose
    /// result is not listed in time ends the canaries: GitHub is slow, and another canary
    /// would only be slow too.
    async fn canary(
        &self,
        open: &[PlannedRedelivery],
        earlier: &HashSet<&str>,
        sent: &mut HashSet<usize>,
        outcome: &mut DrainOutcome,
        pace: &mut Pace,
    ) -> Result<(), Halt> {
        let mut order: Vec<usize> = (0..open.len()).collect();
        // Stable: oldest first within each group.
        order.sort_by_key(|&i| open[i].summary.previous_attempts > 0);
        let mut down = None;
        for &index in order.iter().take(CANARIES) {
            if !outcome.redelivered.is_empty() && !pace.interval().is_zero() {
                self.client.pause(pace.interval()).await;
            }
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            let planned = &open[index];
            let accepted_at = self.send(planned, outcome, pace).await?;
            sent.insert(index);
            let Some(accepted_at) = accepted_at else {
                continue; // GitHub refused this redelivery; try another event.
            };
            let guid = &planned.summary.guid;
            let verdict = self.await_result(guid, earlier, accepted_at).await?;
            if matches!(
                verdict,
                Verdict::Delivered | Verdict::Refused(_) | Verdict::Down(_)
            ) {
                // Its own result is listed: not pending.
                outcome.unlisted.retain(|(sent, _)| sent != guid);
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

    /// One redelivery: `Ok(Some(accepted_at))`, `Ok(None)` when GitHub refused it (the
    /// drain goes on), `Err` when the drain must stop. A rate limit GitHub answered on the
    /// way (and the client waited out) slows the pace.
    async fn send(
        &self,
        planned: &PlannedRedelivery,
        outcome: &mut DrainOutcome,
        pace: &mut Pace,
    ) -> Result<Option<DateTime<Utc>>, Halt> {
        let limits_before = self.client.counts().rate_limit_waits;
        let result = self.post(planned, outcome).await;
        pace.sent();
        if self.client.counts().rate_limit_waits > limits_before {
            pace.limited(self.client.clock().instant());
            self.log.line(
                Level::Notice,
                &format!(
                    "GitHub limits the pace of redeliveries: going on at one every {}.",
                    format_duration(pace.interval())
                ),
                &[("pace_seconds", pace.interval().as_secs_f64().into())],
            );
        }
        result
    }

    /// The POST of one redelivery, and what its answer means for the drain.
    async fn post(
        &self,
        planned: &PlannedRedelivery,
        outcome: &mut DrainOutcome,
    ) -> Result<Option<DateTime<Utc>>, Halt> {
        let attempt = planned.summary.previous_attempts + 1;
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
                Ok(Some(accepted_at))
            }
            Err(ApiError::Status {
                status, message, ..
            }) if (400..500).contains(&status) && status != 401 && status != 403 => {
                self.refused(planned, format!("{status}: {message}"), outcome);
                Ok(None)
            }
            Err(error) if error.outlasts_budget() => {
                self.log.notice(&format!("{error}"));
                Err(Halt::Budget)
            }
            Err(ApiError::Stopped { .. }) => Err(Halt::Shutdown),
            Err(error) => Err(Halt::Failed(HookError::explain(error, self.hook))),
        }
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

    /// Waits for the result of the redelivery of `guid` accepted at `accepted_at`, looking
    /// at the list with growing pauses (1 s, 1.5 s, 2.25 s, ...) for at most
    /// [`RESULT_WAIT`]: about 10 list requests, not one every half second. An `earlier`
    /// run's pending redelivery listed as delivered meanwhile tells as much as the canary.
    async fn await_result(
        &self,
        guid: &str,
        earlier: &HashSet<&str>,
        accepted_at: DateTime<Utc>,
    ) -> Result<Verdict, Halt> {
        let clock = self.client.clock();
        let since = accepted_at - CLOCK_TOLERANCE;
        let until = clock.instant() + RESULT_WAIT;
        let mut pause = RESULT_POLL;
        loop {
            let left = until.saturating_duration_since(clock.instant());
            if left.is_zero() {
                return Ok(Verdict::Unknown);
            }
            self.client.pause(pause.min(left)).await;
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            let results = self.recent_redeliveries(since, RESULT_PAGES).await?;
            if let Some((_, status_code, status)) =
                results.iter().find(|(result_guid, ..)| result_guid == guid)
            {
                return Ok(judge(*status_code, status));
            }
            if let Some((earlier_guid, ..)) = results.iter().find(|(result_guid, _, status)| {
                status == "OK" && earlier.contains(result_guid.as_str())
            }) {
                return Ok(Verdict::EarlierDelivered(earlier_guid.clone()));
            }
            pause = pause.mul_f64(RESULT_POLL_GROWTH);
        }
    }

    /// Looks at the newest results of this run's redeliveries: if the last few all failed
    /// as a down receiver fails, the receiver fell over again.
    async fn check_receiver(&self, outcome: &DrainOutcome) -> Option<Halt> {
        let since = outcome.first_redelivery? - CLOCK_TOLERANCE;
        let ours: HashSet<&str> = outcome
            .redelivered
            .iter()
            .map(|event| event.event.guid.as_str())
            .collect();
        let results = match self.recent_redeliveries(since, RESULT_PAGES).await {
            Ok(results) => results,
            Err(halt) => return Some(halt),
        };
        let newest: Vec<Verdict> = results
            .iter()
            .filter(|(guid, ..)| ours.contains(guid.as_str()))
            .take(3)
            .map(|(_, status_code, status)| judge(*status_code, status))
            .collect();
        let all_down = newest.len() == 3 && newest.iter().all(|v| matches!(v, Verdict::Down(_)));
        match newest.first() {
            Some(Verdict::Down(status)) if all_down => Some(Halt::ReceiverDown(status.clone())),
            _ => None,
        }
    }

    /// Redeliveries listed since `since`, newest first, on at most `max_pages` pages:
    /// (guid, status code, status).
    async fn recent_redeliveries(
        &self,
        since: DateTime<Utc>,
        max_pages: u32,
    ) -> Result<Vec<(String, u16, String)>, Halt> {
        let mut pages = deliveries::pages(self.client, self.hook, self.credential);
        let mut found = Vec::new();
        while let Some(page) = pages
            .next_page()
            .await
            .map_err(|error| Halt::Failed(HookError::explain(error, self.hook)))?
        {
            let items = page
                .items::<Delivery>()
                .map_err(|error| Halt::Failed(error.into()))?;
            for delivery in items {
                if delivery.delivered_at < since {
                    pages.stop();
                } else if delivery.redelivery {
                    found.push((
                        delivery.guid.into_owned(),
                        delivery.status_code,
                        delivery.status.into_owned(),
                    ));
                }
            }
            if pages.pages() >= max_pages {
                pages.stop();
            }
        }
        Ok(found)
    }

    /// At the end of a drain, one look at the list for the results of its redeliveries:
    /// those listed are not pending, and the checkpoint document stays small. A failure
    /// here costs nothing: the redeliveries just stay pending.
    async fn sweep_results(&self, outcome: &mut DrainOutcome) {
        let Some(first) = outcome.first_redelivery else {
            return;
        };
        if self.stop.is_requested() || outcome.redelivered.len() < SWEEP_FROM {
            return;
        }
        let Ok(results) = self
            .recent_redeliveries(first - CLOCK_TOLERANCE, SWEEP_PAGES)
            .await
        else {
            return;
        };
        let listed: HashSet<&str> = results.iter().map(|(guid, ..)| guid.as_str()).collect();
        outcome
            .unlisted
            .retain(|(guid, _)| !listed.contains(guid.as_str()));
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
        sent: &HashSet<usize>,
        mut outcome: DrainOutcome,
        halt: Option<Halt>,
        pace: Pace,
    ) -> DrainOutcome {
        self.sweep_results(&mut outcome).await;
        outcome.pace = pace.interval();
        outcome.not_reached = open
            .iter()
            .enumerate()
            .filter(|(index, _)| !sent.contains(index))
            .map(|(_, planned)| planned.summary.clone())
            .collect();
        if let Some(halt) = &halt {
            self.log_halt(halt, outcome.not_reached.len(), outcome.unlisted.len());
        }
        outcome.halt = halt;
        outcome
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

fn judge(status_code: u16, status: &str) -> Verdict {
    if status == "OK" {
        Verdict::Delivered
    } else if failure_means_down(status_code) {
        Verdict::Down(status.to_owned())
    } else {
        Verdict::Refused(status.to_owned())
    }
}
