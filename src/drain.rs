//! Redelivering one hook's open events, for the moment the tool exists for: a receiver was
//! down, thousands of events failed, and all must arrive once it is back, without hammering
//! a receiver that is still down.
//!
//! - **A canary first.** When several events are open, one is redelivered and its result
//!   awaited in the list (GitHub records it within the receiver's timeout: 10 s, 30 s on
//!   GHES). Delivered, or refused with a 4xx (the receiver answers; that event is bad): the
//!   drain goes on. Failed without an HTTP answer or with a 5xx: another canary is tried,
//!   up to [`CANARIES`], those never redelivered first; when all failed so, the receiver is
//!   still down, and every other event is held back without spending an attempt.
//! - **Then a paced drain**, oldest first, one request at a time, `redelivery-interval`
//!   apart, until the backlog is empty or the run's time budget (`max-duration`) ends.
//! - **Watching the receiver**: every [`CHECK_EVERY`] redeliveries (or minute), the newest
//!   page shows how this run's redeliveries went; if the last ones all failed as a down
//!   receiver fails, the drain stops and holds the rest back.
//!
//! Nothing here moves the checkpoint: every open event keeps it (see
//! [`crate::plan::next_checkpoint`]), so whatever is not delivered now is seen again.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::checkpoint::LastRedelivery;

use crate::client::{ApiError, Credential, GitHubClient, Stop, format_duration};
use crate::github::deliveries::{self, DeliveryPages};
use crate::hooks::Hook;
use crate::log::{Level, Log};
use crate::plan::{CLOCK_TOLERANCE, Delivery, EventSummary, PlannedRedelivery, failure_means_down};
use crate::report::{RedeliveredEvent, RefusedRedelivery};

/// Events tried as canaries before the receiver is taken to be up despite refusals.
pub const CANARIES: usize = 3;
/// How long a redelivery's result may take to be listed: GitHub gives a receiver 10 s (30 s
/// on GHES) and queues the redelivery first.
pub const RESULT_WAIT: Duration = Duration::from_secs(45);
/// Pause between two looks at the list while waiting for a result.
const RESULT_POLL: Duration = Duration::from_millis(500);
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
    /// GitHub failed (after retries) or rate-limited beyond `max-wait`.
    Failed { error: String, rate_limited: bool },
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct DrainOutcome {
    pub redelivered: Vec<RedeliveredEvent>,
    pub refused: Vec<RefusedRedelivery>,
    /// Open events this run did not redeliver (held back, out of budget, stopped).
    pub not_reached: Vec<EventSummary>,
    pub halt: Option<Halt>,
    /// When the first redelivery of this run was accepted, and the last one.
    pub first_redelivery: Option<DateTime<Utc>>,
    pub last_redelivery: Option<LastRedelivery>,
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
}

impl Drain<'_> {
    /// Redelivers `open` (oldest first), canary first.
    pub async fn run(&self, open: &[PlannedRedelivery]) -> DrainOutcome {
        let mut outcome = DrainOutcome::default();
        let mut sent: HashSet<usize> = HashSet::new();
        if open.len() > 1 && !self.interval.is_zero() {
            self.log.info(&format!(
                "Redelivering {} event(s), {} apart, a canary first.",
                open.len(),
                format_duration(self.interval),
            ));
        }
        if open.len() > 1 {
            match self.canary(open, &mut sent, &mut outcome).await {
                Ok(()) => {}
                Err(halt) => return self.halt(open, &sent, outcome, halt),
            }
        }
        let remaining: Vec<usize> = (0..open.len()).filter(|i| !sent.contains(i)).collect();
        let total = remaining.len();
        let started = Instant::now();
        let mut last_check = Instant::now();
        let mut last_progress = Instant::now();
        for (done, &index) in remaining.iter().enumerate() {
            // Paced first, so that a stop asked for during the pause is seen before the POST.
            if (done > 0 || !outcome.redelivered.is_empty()) && !self.interval.is_zero() {
                self.client.pause(self.interval).await;
            }
            if let Some(halt) = self.should_halt() {
                return self.halt(open, &sent, outcome, halt);
            }
            if (done > 0 && done % CHECK_EVERY == 0) || last_check.elapsed() >= CHECK_INTERVAL {
                if let Some(halt) = self.check_receiver(&outcome).await {
                    return self.halt(open, &sent, outcome, halt);
                }
                last_check = Instant::now();
            }
            if let Err(halt) = self.send(&open[index], &mut outcome).await {
                return self.halt(open, &sent, outcome, halt);
            }
            sent.insert(index);
            if total >= PROGRESS_EVERY
                && ((done + 1) % PROGRESS_EVERY == 0
                    || last_progress.elapsed() >= PROGRESS_INTERVAL)
            {
                self.progress(done + 1, total, started.elapsed());
                last_progress = Instant::now();
            }
        }
        outcome
    }

    /// A run that starts soon after the last one first waits (at most until [`RESULT_WAIT`]
    /// after it) for the last run's redeliveries to be listed, so that their results, not
    /// their absence, are what this run counts.
    pub async fn await_earlier_results(&self, last: &LastRedelivery) -> Result<(), Halt> {
        let until = last.at + chrono::Duration::from_std(RESULT_WAIT).unwrap_or_default();
        if Utc::now() >= until {
            return Ok(());
        }
        self.log.info(&format!(
            "The last run redelivered moments ago: waiting up to {} for its results to be listed.",
            format_duration((until - Utc::now()).to_std().unwrap_or_default())
        ));
        while Utc::now() < until {
            if self
                .recent_redeliveries(last.at - CLOCK_TOLERANCE)
                .await?
                .iter()
                .any(|(guid, ..)| *guid == last.guid)
            {
                return Ok(());
            }
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            self.poll_pause().await;
        }
        Ok(())
    }

    /// Tries up to [`CANARIES`] events, never-redelivered ones first (the oldest failing
    /// event is often a poison event). One delivered, or refused with an answer (a 4xx: that
    /// event is bad, the receiver is up): the others go out. The receiver is taken to be down
    /// only when every canary tried failed as a down receiver fails (no answer, a 5xx) or got
    /// no result in time: one event whose own delivery keeps failing must not hold
    /// everything back.
    async fn canary(
        &self,
        open: &[PlannedRedelivery],
        sent: &mut HashSet<usize>,
        outcome: &mut DrainOutcome,
    ) -> Result<(), Halt> {
        let mut order: Vec<usize> = (0..open.len()).collect();
        // Stable: oldest first within each group.
        order.sort_by_key(|&i| open[i].summary.previous_attempts > 0);
        let mut down = None;
        for &index in order.iter().take(CANARIES) {
            if !outcome.redelivered.is_empty() && !self.interval.is_zero() {
                self.client.pause(self.interval).await;
            }
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            let planned = &open[index];
            let accepted_at = self.send(planned, outcome).await?;
            sent.insert(index);
            let Some(accepted_at) = accepted_at else {
                continue; // GitHub refused this redelivery; try another event.
            };
            let guid = &planned.summary.guid;
            match self.await_result(guid, accepted_at).await? {
                Verdict::Delivered => {
                    self.log
                        .info(&format!("The receiver is up: canary {guid} was delivered."));
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
                    let status = format!(
                        "no result of canary {guid} within {}",
                        format_duration(RESULT_WAIT)
                    );
                    self.log.info(&format!("{status}."));
                    down = Some(status);
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
    /// drain goes on), `Err` when the drain must stop.
    async fn send(
        &self,
        planned: &PlannedRedelivery,
        outcome: &mut DrainOutcome,
    ) -> Result<Option<DateTime<Utc>>, Halt> {
        let attempt = planned.summary.previous_attempts + 1;
        // Taken before the request: the redelivery GitHub records is never older.
        let attempted_at = Utc::now();
        match deliveries::redeliver(self.client, self.hook, self.credential, planned.delivery_id)
            .await
        {
            Ok(()) => {
                self.log.line(
                    Level::Info,
                    &format!(
                        "Redelivered {} {} (delivery {}, attempt {attempt} of {}).",
                        planned.summary.event,
                        planned.summary.guid,
                        planned.delivery_id,
                        self.max_attempts
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
                outcome.redelivered.push(RedeliveredEvent {
                    delivery_id: planned.delivery_id,
                    attempt,
                    event: planned.summary.clone(),
                });
                outcome.first_redelivery.get_or_insert(attempted_at);
                outcome.last_redelivery = Some(LastRedelivery {
                    guid: planned.summary.guid.clone(),
                    at: attempted_at,
                });
                Ok(Some(attempted_at))
            }
            Err(ApiError::Status {
                status, message, ..
            }) if (400..500).contains(&status) && status != 401 && status != 403 => {
                // This one delivery is refused (too old, gone, validation): it counts as an
                // attempt (in the bookkeeping: it leaves nothing in the list), and the
                // drain goes on with the others.
                let reason = format!("{status}: {message}");
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
                Ok(None)
            }
            Err(error) => Err(Halt::Failed {
                rate_limited: matches!(error, ApiError::RateLimited { .. }),
                error: format!("{:#}", deliveries::explain(error, self.hook)),
            }),
        }
    }

    /// Waits for the result of the redelivery of `guid` accepted at `accepted_at`.
    async fn await_result(&self, guid: &str, accepted_at: DateTime<Utc>) -> Result<Verdict, Halt> {
        let since = accepted_at - CLOCK_TOLERANCE;
        let waited = Instant::now();
        loop {
            let results = self.recent_redeliveries(since).await?;
            if let Some((_, status_code, status)) =
                results.iter().find(|(result_guid, ..)| result_guid == guid)
            {
                return Ok(judge(*status_code, status));
            }
            if waited.elapsed() >= RESULT_WAIT {
                return Ok(Verdict::Unknown);
            }
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            self.poll_pause().await;
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
        let results = match self.recent_redeliveries(since).await {
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

    /// Redeliveries listed since `since`, newest first: (guid, status code, status).
    async fn recent_redeliveries(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, u16, String)>, Halt> {
        let mut pages = DeliveryPages::new(self.client, self.hook, self.credential);
        let mut found = Vec::new();
        while let Some(page) = pages.next_page().await.map_err(|error| Halt::Failed {
            rate_limited: matches!(error, ApiError::RateLimited { .. }),
            error: format!("{:#}", deliveries::explain(error, self.hook)),
        })? {
            let items = page.items::<Delivery>().map_err(|error| Halt::Failed {
                rate_limited: false,
                error: error.to_string(),
            })?;
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
            if pages.pages() >= RESULT_PAGES {
                pages.stop();
            }
        }
        Ok(found)
    }

    /// The pause between two looks at the list; a stop ends it at once.
    async fn poll_pause(&self) {
        tokio::select! {
            _ = tokio::time::sleep(RESULT_POLL) => {}
            _ = self.stop.requested() => {}
        }
    }

    fn should_halt(&self) -> Option<Halt> {
        if self.stop.is_requested() {
            Some(Halt::Shutdown)
        } else if Instant::now() >= self.deadline {
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

    /// Ends the drain: everything not sent is reported as not reached.
    fn halt(
        &self,
        open: &[PlannedRedelivery],
        sent: &HashSet<usize>,
        mut outcome: DrainOutcome,
        halt: Halt,
    ) -> DrainOutcome {
        outcome.not_reached = open
            .iter()
            .enumerate()
            .filter(|(index, _)| !sent.contains(index))
            .map(|(_, planned)| planned.summary.clone())
            .collect();
        let left = outcome.not_reached.len();
        match &halt {
            Halt::ReceiverDown(status) => self.log.line(
                Level::Warning,
                &format!(
                    "the receiver of `{}` is still down ({status}): holding back {left} event(s) without spending an attempt; the next run tries again",
                    self.hook
                ),
                &[("held_back", left.into()), ("reason", status.as_str().into())],
            ),
            Halt::Budget => self.log.notice(&format!(
                "the time budget (`max-duration`) is spent: {left} event(s) of `{}` left for the next run",
                self.hook
            )),
            Halt::Shutdown => self.log.notice(&format!(
                "stopping redeliveries of `{}` (shutdown requested); {left} event(s) left for the next run",
                self.hook
            )),
            Halt::Failed { .. } => {}
        }
        outcome.halt = Some(halt);
        outcome
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
