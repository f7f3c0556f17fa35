//! The pure planning core: given the deliveries of one hook, the checkpoint document's
//! bookkeeping for that hook, the clock reading and the options, decide what to redeliver.
//!
//! Nothing here does I/O, reads the clock or the environment, so every rule is tested
//! with plain tables of cases (see `tests/plan_tests.rs`).
//!
//! The rules, in the order they apply to each event (GUID) seen in the window:
//! 1. a GUID with any `"OK"` delivery in the window needs nothing;
//! 2. a GUID filtered out by `events`/`exclude-events` is counted as *filtered*;
//! 3. a GUID given up by an earlier run is left alone for good;
//! 4. a GUID an earlier replay sent (see [`crate::domain::replay`]) is left to it: not sent
//!    again, never given up here, pending or not;
//! 5. a GUID whose first failure in the window is older than `max_age` is *too old*: not
//!    redelivered, never an attempt nor given up, and the checkpoint may move past it;
//! 6. a GUID with a redelivery GitHub accepted but has not listed a result of yet is
//!    *pending*: not sent again until the result is listed or [`PENDING_HORIZON`] has
//!    passed with GitHub's queue moving past it ([`STALLED_QUEUE_HORIZON`] when it does
//!    not); then that redelivery counts as an attempt GitHub lost, and the event goes on by
//!    the next rules;
//! 7. a GUID whose attempts (failed redeliveries in the list, whoever made them: this tool,
//!    the docs script, a person; plus refusals and lost redeliveries from the bookkeeping)
//!    reach `max_attempts` is *given up* now;
//! 8. everything else is *open*: redelivered once, oldest first (closest to GitHub's
//!    retention), up to `max_redeliveries`; the rest is *deferred* to the next run.
//!
//! A redelivery GitHub does not take (a 5xx or no answer to the POST, after the client's
//! retries) leaves its event open without spending an attempt, and the drain goes on; only
//! from the [`NOT_TAKEN_RUNS`]th run in a row that this happens to one event is it reported
//! like a refusal, an attempt ([`not_taken_verdict`]): an event GitHub never takes ends up
//! given up, instead of being tried forever.
//!
//! Attempts are counted from the list, not from our own bookkeeping, so they survive a lost
//! state file and include redeliveries made by others. That needs every open event's whole
//! history in the window: the checkpoint never passes an open event ([`next_checkpoint`]),
//! so the next run scans from its first failure again.
//!
//! **A replay** (`replay-since`, [`Replays::current`]) has rules of its own: every event
//! whose original delivery failed in its window, allowed by its filters and causes, and not
//! pending (an earlier run's record, a receiver's sent prefix, an earlier replay's), is
//! redelivered once, oldest first, given up or not, whatever `max-attempts` and `max-age`
//! say; everything else in the window is left as it is (`rules.rs`, `replays.rs`).

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::checkpoint::HookState;
use crate::domain::delivery::{Delivery, DeliveryId, failure_means_down};
use crate::domain::filter::EventFilter;
use crate::domain::health::{DeliveryHealth, failure_cause};
use crate::domain::replay::Replays;

mod pending;
mod replays;
mod rules;

use pending::{Listing, Pending, pending_verdict, sent_unlisted};
use rules::{Facts, Rules};

/// GitHub's clock and ours differ a little, and GitHub records times to the second: a
/// delivery this close before our redelivery counts as its result.
pub const CLOCK_TOLERANCE: Duration = Duration::seconds(5);

/// How long a redelivery GitHub accepted may go unlisted before it is taken to be lost and
/// sent again: GitHub lists results within seconds (its docs say deliveries "can take a few
/// minutes"), and a "webhooks delayed" incident can hold the queue back longer. An hour is
/// far past the normal lag, and short enough that a lost redelivery is retried well within
/// the 3-day retention. The price of a horizon that is too short is one event delivered
/// twice; of one too long, an event that waits.
pub const PENDING_HORIZON: Duration = Duration::hours(1);

/// How long a pending redelivery waits when GitHub's queue lists nothing newer than it
/// either: the queue may be stalled (an incident), not the redelivery lost, and sending it
/// again would deliver the event twice once the queue catches up. Past a day it is sent
/// again all the same, well within the 3-day retention, so a lost one is never lost for
/// good.
pub const STALLED_QUEUE_HORIZON: Duration = Duration::hours(24);

/// How recent a listed redelivery result must be to tell, without a new canary, that the
/// receiver answers now.
pub const EVIDENCE_FRESHNESS: Duration = Duration::minutes(10);

/// The run in a row in which GitHub did not take an event's redelivery from which on that
/// counts like a refusal (an attempt): two runs are GitHub's passing trouble with that one
/// delivery, and cost the event nothing; the third says GitHub may never take it, and
/// `max-attempts` must then bound it like any event that keeps failing.
pub const NOT_TAKEN_RUNS: u32 = 3;

/// What a redelivery GitHub did not take means for its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotTaken {
    /// Open for the next run, no attempt spent.
    Open,
    /// Reported like a refusal: an attempt, and the run says so.
    LikeRefused,
}

/// The verdict on a redelivery GitHub did not take, given the runs in a row before this
/// one in which it did not take one of the same event (`earlier_runs`, from the
/// bookkeeping).
pub fn not_taken_verdict(earlier_runs: u32) -> NotTaken {
    if earlier_runs.saturating_add(1) >= NOT_TAKEN_RUNS {
        NotTaken::LikeRefused
    } else {
        NotTaken::Open
    }
}

/// What the list already shows of the receiver, so that the drain needs no canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverEvidence {
    /// An earlier run's redelivery, pending until now, is listed as delivered.
    PendingDelivered { guid: String },
    /// A redelivery (by anyone) listed within [`EVIDENCE_FRESHNESS`] was answered.
    RecentAnswer { at: DateTime<Utc> },
}

impl std::fmt::Display for ReceiverEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiverEvidence::PendingDelivered { guid } => write!(
                f,
                "{guid}, redelivered by an earlier run, is listed as delivered"
            ),
            ReceiverEvidence::RecentAnswer { at } => write!(
                f,
                "a redelivery listed at {} was answered",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        }
    }
}

/// Knobs of the planning rules.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// How many redeliveries one event gets before it is given up.
    pub max_attempts: u32,
    /// The most redeliveries in one run (`usize::MAX`: no cap; the run's time budget bounds
    /// it instead).
    pub max_redeliveries: usize,
    pub filter: EventFilter,
    /// Events whose first failure in the window is older than this are not redelivered
    /// (`max-age`): an old `workflow_job.queued` may describe a state that no longer exists.
    /// `None`: no bound.
    pub max_age: Option<Duration>,
    /// How long a pending redelivery waits to be listed while GitHub lists newer ones
    /// (`pending-horizon`, [`PENDING_HORIZON`] by default).
    pub pending_horizon: Duration,
    /// The replay this run makes, if it is one, and the earlier ones the checkpoint
    /// document remembers (see the module's documentation).
    pub replays: Replays,
}

/// What is known of one failing event (GUID) from the deliveries in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FailureHistory {
    event: String,
    action: Option<String>,
    /// The newest failed delivery (time, id): the one to redeliver.
    newest: (DateTime<Utc>, DeliveryId),
    /// The oldest failure in the window: shown in the summary, and where the checkpoint
    /// must stay if the event is left for later.
    first_at: DateTime<Utc>,
    first_status: String,
    /// The first failure's cause, in the health table's words (`HTTP 400`, `timed out`).
    first_cause: String,
    /// The original delivery (`redelivery: false`) when the window holds it: when it
    /// failed, and its cause. A replay selects by it.
    original: Option<(DateTime<Utc>, String)>,
    /// Failed redeliveries listed: the attempts made so far, by anyone.
    failed_redeliveries: u32,
    /// When the newest failed redelivery listed was made: a pending redelivery older than
    /// it (less [`CLOCK_TOLERANCE`]) has its result listed.
    newest_redelivery: Option<DateTime<Utc>>,
}

/// A GUID as a compact set key: GitHub's GUIDs are UUIDs, 16 bytes instead of a 36-byte
/// string. Delivered events are only ever looked up, so that is all that is kept of them.
///
/// GUIDs are compared exactly as GitHub sends them: `ABC…` and `abc…` are two events. So only
/// the canonical form (hyphenated, lower case, which is what GitHub writes) is packed; any
/// other spelling stays text, and the two can never share a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GuidKey {
    Uuid(u128),
    Text(Box<str>),
}

impl GuidKey {
    /// Only the hyphenated lower-case form is packed, so that two different strings never
    /// share a key (a packed key stands for exactly one string).
    fn of(guid: &str) -> Self {
        let canonical = guid.len() == 36 && !guid.bytes().any(|b| b.is_ascii_uppercase());
        match uuid::Uuid::try_parse(guid) {
            Ok(uuid) if canonical => GuidKey::Uuid(uuid.as_u128()),
            _ => GuidKey::Text(guid.into()),
        }
    }
}

/// Collects the deliveries of one hook, page by page, keeping only what planning needs:
/// the set of delivered events, and the history of the failing ones.
///
/// Pages come newest first; the planner does not depend on that order.
#[derive(Debug, Default)]
pub struct Planner {
    delivered: HashSet<GuidKey>,
    failing: HashMap<String, FailureHistory>,
    scanned: usize,
    /// The newest redelivery listed (by anyone): when, and whether the receiver answered.
    newest_redelivery: Option<(DateTime<Utc>, bool)>,
    /// What every delivery of the window says about the receiver, in bounded memory.
    health: DeliveryHealth,
}

/// An event, as it is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    /// The status of the first failed delivery in the window.
    pub first_failure_status: String,
    /// Its cause, in the health table's words (`HTTP 400`, `timed out`): what a replay's
    /// summary counts by. Not in the JSON report, which has the status.
    #[serde(skip)]
    pub first_failure_cause: String,
    pub first_failed_at: DateTime<Utc>,
    /// Failed redeliveries of the event in the list before this run (by this tool, the
    /// docs script or a person).
    pub previous_attempts: u32,
}

/// One redelivery to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRedelivery {
    /// The delivery to redeliver: the newest failed one of the event.
    pub delivery_id: DeliveryId,
    #[serde(flatten)]
    pub summary: EventSummary,
    /// Runs in a row before this one in which GitHub did not take a redelivery of the event
    /// (see [`not_taken_verdict`]).
    #[serde(skip)]
    pub not_taken_runs: u32,
}

/// What the plan found of the window's events besides what it redelivers: the lists and
/// counts a hook's report shows as they are (it embeds this).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings {
    /// Deliveries examined in the window.
    pub scanned: usize,
    /// Events with no successful delivery in the window.
    pub failing: usize,
    /// Given up in this run: `max_attempts` redeliveries all failed.
    pub given_up: Vec<EventSummary>,
    /// Left alone because of the event filters.
    pub filtered: Vec<EventSummary>,
    /// Over `max_redeliveries`: for the next run (the report adds what the drain did not
    /// reach).
    pub deferred: Vec<EventSummary>,
    /// First failed longer ago than `max_age`: reported, not redelivered, never counted as
    /// an attempt or as given up.
    pub too_old: Vec<EventSummary>,
    /// Redelivered earlier, GitHub has not listed the result yet: not sent again now.
    pub pending: Vec<EventSummary>,
    /// Given up by an earlier run and still failing.
    pub already_given_up: usize,
    /// Sent by an earlier replay (issue 29): its result is pending or failed again, and the
    /// replay was the owner's word on it, so it is neither sent again nor given up here.
    #[serde(skip_serializing_if = "is_zero")]
    pub replayed_before: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// The decision for one hook.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// What it found, as the report shows it.
    pub found: Findings,
    /// To redeliver now, oldest first.
    pub redeliver: Vec<PlannedRedelivery>,
    /// Events in the bookkeeping that are now delivered: their entries can go.
    pub resolved: Vec<String>,
    /// Pending redeliveries whose (failed) result is listed now: the list counts them.
    pub settled: Vec<String>,
    /// Pending redeliveries never listed within [`PENDING_HORIZON`]: lost, counted as
    /// attempts in the bookkeeping.
    pub lost: Vec<String>,
    /// Lost redeliveries that the receiver's sent prefix covered (no record of their own),
    /// with when they were sent at the latest: their records start here.
    pub lost_from_prefix: Vec<(String, DateTime<Utc>)>,
    /// Redeliveries the receiver's sent prefix covers that are still pending: each gets a
    /// record of its own (sent at the prefix's latest), since the prefix lives one run.
    pub pending_from_prefix: Vec<(String, DateTime<Utc>)>,
    /// The first failure of the oldest open event (to redeliver, pending or deferred): the
    /// checkpoint must not move past it, whatever this run's redeliveries bring.
    pub oldest_open_at: Option<DateTime<Utc>>,
    /// What the list shows of the receiver being up, if anything: the drain then needs no
    /// canary.
    pub receiver_up: Option<ReceiverEvidence>,
    /// Every delivery of the window, counted by hour, cause and duration: the summary's
    /// delivery health, at no extra request.
    pub health: DeliveryHealth,
}

impl Planner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one delivery of the window.
    pub fn observe(&mut self, delivery: Delivery) {
        self.scanned += 1;
        self.health.observe(&delivery);
        let at = delivery.delivered_at;
        if delivery.redelivery && self.newest_redelivery.is_none_or(|(newest, _)| at > newest) {
            let answered = delivery.is_ok() || !failure_means_down(delivery.status_code);
            self.newest_redelivery = Some((at, answered));
        }
        if delivery.is_ok() {
            self.failing.remove(delivery.guid.as_ref());
            self.delivered.insert(GuidKey::of(&delivery.guid));
            return;
        }
        if self.delivered.contains(&GuidKey::of(&delivery.guid)) {
            return;
        }
        let cause = failure_cause(&delivery.status, delivery.status_code);
        match self.failing.entry(delivery.guid.into_owned()) {
            Entry::Vacant(vacant) => {
                vacant.insert(FailureHistory {
                    event: delivery.event.into_owned(),
                    action: delivery.action.map(Cow::into_owned),
                    newest: (at, delivery.id),
                    first_at: at,
                    first_status: delivery.status.into_owned(),
                    original: (!delivery.redelivery).then(|| (at, cause.clone())),
                    first_cause: cause,
                    failed_redeliveries: u32::from(delivery.redelivery),
                    newest_redelivery: delivery.redelivery.then_some(at),
                });
            }
            Entry::Occupied(mut occupied) => {
                let history = occupied.get_mut();
                history.failed_redeliveries = history
                    .failed_redeliveries
                    .saturating_add(u32::from(delivery.redelivery));
                if delivery.redelivery {
                    history.newest_redelivery = history.newest_redelivery.max(Some(at));
                }
                if !delivery.redelivery
                    && history
                        .original
                        .as_ref()
                        .is_none_or(|(first, _)| at < *first)
                {
                    history.original = Some((at, cause.clone()));
                }
                if at < history.first_at {
                    history.first_at = at;
                    history.first_status = delivery.status.into_owned();
                    history.first_cause = cause;
                }
                // Ties on time go to the larger id, which GitHub assigns later.
                history.newest = history.newest.max((at, delivery.id));
            }
        }
    }

    /// Number of deliveries observed so far.
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// Decides what to do for each event, given the bookkeeping of earlier runs (which
    /// only says what was given up) and GitHub's time `now` (for `max_age`).
    pub fn plan(mut self, state: &HookState, now: DateTime<Utc>, options: &PlanOptions) -> Plan {
        let mut plan = Plan {
            found: Findings {
                scanned: self.scanned,
                ..Findings::default()
            },
            health: std::mem::take(&mut self.health),
            ..Plan::default()
        };
        let mut candidates: Vec<(DateTime<Utc>, PlannedRedelivery)> = Vec::new();
        let rules = Rules {
            options,
            // Checked: `max_age` comes from the settings; a bound before chrono's earliest
            // time makes nothing too old.
            too_old_before: options
                .max_age
                .and_then(|max_age| now.checked_sub_signed(max_age)),
        };
        plan.resolved = state
            .events
            .keys()
            .filter(|guid| self.delivered.contains(&GuidKey::of(guid)))
            .cloned()
            .collect();
        // A replay is the owner's word after a fix: its canaries always go first.
        if options.replays.current.is_none() {
            plan.receiver_up = self.receiver_evidence(state, now);
        }
        let queue_newest = self.newest_redelivery.map(|(at, _)| at);
        for (guid, history) in self.failing {
            plan.found.failing += 1;
            let listing = Listing {
                event_newest: history.newest_redelivery,
                queue_newest,
                now,
            };
            let pending = plan.note_pending(&guid, state, &history, &listing, options);
            let facts = Facts::of(&guid, state, pending, &history);
            let decision = rules.decide(&history, &facts, &listing);
            plan.file(decision, guid, history, &facts, &mut candidates);
        }

        plan.order(candidates, options.max_redeliveries);
        plan
    }
}

impl Planner {
    /// What the list shows of the receiver being up: an earlier run's pending redelivery
    /// now delivered, or a redelivery answered within [`EVIDENCE_FRESHNESS`].
    fn receiver_evidence(&self, state: &HookState, now: DateTime<Utc>) -> Option<ReceiverEvidence> {
        let pending_delivered = state
            .events
            .iter()
            .find(|(guid, record)| record.pending && self.delivered.contains(&GuidKey::of(guid)))
            .map(|(guid, _)| ReceiverEvidence::PendingDelivered { guid: guid.clone() });
        let recent_answer = self
            .newest_redelivery
            .filter(|(at, answered)| {
                *answered && now.signed_duration_since(*at) < EVIDENCE_FRESHNESS
            })
            .map(|(at, _)| ReceiverEvidence::RecentAnswer { at });
        pending_delivered.or(recent_answer)
    }
}

impl Plan {
    /// Where an earlier redelivery of `guid` whose result was not listed stands, noted in
    /// the plan (settled, lost, still pending by the receiver's sent prefix): `None` when
    /// there is none.
    fn note_pending(
        &mut self,
        guid: &str,
        state: &HookState,
        history: &FailureHistory,
        listing: &Listing,
        options: &PlanOptions,
    ) -> Option<Pending> {
        let sent = sent_unlisted(guid, state, history.first_at)?;
        let pending = pending_verdict(&sent, listing, options);
        match pending {
            Pending::Listed if !sent.by_prefix => self.settled.push(guid.to_owned()),
            Pending::Lost if sent.by_prefix => {
                self.lost_from_prefix.push((guid.to_owned(), sent.latest));
            }
            Pending::Lost => self.lost.push(guid.to_owned()),
            Pending::Waiting if sent.by_prefix => {
                self.pending_from_prefix
                    .push((guid.to_owned(), sent.latest));
            }
            Pending::Listed | Pending::Waiting => {}
        }
        Some(pending)
    }

    /// Puts the open events in order, oldest first (they are closest to falling out of
    /// GitHub's retention), up to `max_redeliveries` to redeliver and the rest deferred;
    /// notes where the checkpoint must stay; sorts the other lists.
    fn order(
        &mut self,
        mut candidates: Vec<(DateTime<Utc>, PlannedRedelivery)>,
        max_redeliveries: usize,
    ) {
        candidates.sort_by(|a, b| (a.0, &a.1.summary.guid).cmp(&(b.0, &b.1.summary.guid)));
        self.oldest_open_at = candidates
            .first()
            .map(|(first_at, _)| *first_at)
            .into_iter()
            .chain(self.found.pending.iter().map(|event| event.first_failed_at))
            .min();
        for (index, (_, planned)) in candidates.into_iter().enumerate() {
            if index < max_redeliveries {
                self.redeliver.push(planned);
            } else {
                self.found.deferred.push(planned.summary);
            }
        }
        sort_by_time(&mut self.found.given_up);
        sort_by_time(&mut self.found.filtered);
        sort_by_time(&mut self.found.too_old);
        sort_by_time(&mut self.found.pending);
        self.resolved.sort();
        self.settled.sort();
        self.lost.sort();
        self.lost_from_prefix.sort();
        self.pending_from_prefix.sort();
    }
}

fn sort_by_time(events: &mut [EventSummary]) {
    events.sort_by(|a, b| (a.first_failed_at, &a.guid).cmp(&(b.first_failed_at, &b.guid)));
}

/// Plans from a list of deliveries at once: the convenience form of [`Planner`].
pub fn plan_redeliveries<'a>(
    deliveries: impl IntoIterator<Item = Delivery<'a>>,
    state: &HookState,
    now: DateTime<Utc>,
    options: &PlanOptions,
) -> Plan {
    let mut planner = Planner::new();
    for delivery in deliveries {
        planner.observe(delivery);
    }
    planner.plan(state, now, options)
}

/// Where the next run's checkpoint goes, given that the listing started at `listed_at`.
///
/// This is the one place of the rule "the checkpoint never passes an event that is not
/// handled": an open event (redelivered in this run, held back, deferred, not reached) keeps
/// it at its first failure, so that the next run sees the event's whole history (its
/// attempts are counted from the list) and its result. Only delivered, given-up, filtered
/// events are passed. The window the next run scans starts a safety margin before it (see
/// [`crate::domain::window::scan_window`]).
pub fn next_checkpoint(plan: &Plan, listed_at: DateTime<Utc>) -> DateTime<Utc> {
    plan.oldest_open_at
        .map_or(listed_at, |oldest| oldest.min(listed_at))
}

#[cfg(test)]
mod tests {
    use super::GuidKey;

    #[test]
    fn uuids_become_compact_keys_and_other_guids_stay_text() {
        let uuid = "0b989ba4-242f-11e5-81e1-c7b6966d2516";
        assert_eq!(
            GuidKey::of(uuid),
            GuidKey::Uuid(0x0b989ba4_242f_11e5_81e1_c7b6966d2516)
        );
        assert_ne!(
            GuidKey::of(uuid),
            GuidKey::of("0b989ba4-242f-11e5-81e1-c7b6966d2517")
        );
        assert_eq!(GuidKey::of("event-7"), GuidKey::Text("event-7".into()));
        // 32 hex digits without hyphens are not a UUID string: kept as text.
        assert!(matches!(
            GuidKey::of("0b989ba4242f11e581e1c7b6966d2516"),
            GuidKey::Text(_)
        ));
    }
}
