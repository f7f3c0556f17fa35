//! What the drain keeps while it runs (`Progress`), and what it hands back: each hook's
//! outcome, each receiver's, and what the next run must settle (a receiver's sent prefix,
//! per-event pending records beyond it).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::base::clock::Clock;
use crate::base::log::{Level, Log};
use crate::domain::checkpoint::{SentPrefix, member};
use crate::domain::delivery::DeliveryId;
use crate::domain::plan::EventSummary;
use crate::report::{
    HookError, NotTakenRedelivery, PaceReport, ReceiverVerdict, RedeliveredEvent, RefusedRedelivery,
};

use super::results::{Listed, ReReads, Verdict};
use super::{CHECK_EVERY, CHECK_INTERVAL, ReceiverQueue, unsent};
use crate::run::pace::Pace;

/// Redeliveries in a row GitHub did not take before it looks down as a whole and the drain
/// stops: one or two are that delivery's trouble, three in a row (different events) are
/// GitHub's.
pub const GITHUB_DOWN_AFTER: usize = 3;

/// From this many unseen redeliveries a sent prefix stands for them instead of a pending
/// record each (about 70 bytes each; a prefix costs about 120).
const PREFIX_FROM: usize = 20;

/// Why the drain ended before a hook's backlog did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// The receiver is still (or again) down: the rest is held back, nothing is wrong.
    ReceiverDown(String),
    /// The time budget ended: the rest is for the next run.
    Budget,
    /// A shutdown was asked for.
    Shutdown,
    /// GitHub has not listed a canary's result within [`super::RESULT_WAIT`]: its queue is
    /// slow, not the receiver down. The rest waits; no attempt was spent on it.
    ResultsNotListed,
    /// GitHub failed (after retries) or rate-limited beyond `max-wait`.
    Failed(HookError),
}

/// What the drain did for one hook.
#[derive(Debug, Default)]
pub struct DrainOutcome {
    pub redelivered: Vec<RedeliveredEvent>,
    pub refused: Vec<RefusedRedelivery>,
    /// Redeliveries GitHub did not take (a 5xx or no answer after retries): open for the
    /// next run, no attempt spent.
    pub not_taken: Vec<NotTakenRedelivery>,
    /// The events GitHub did not take, like-refused ones included: their streak of runs.
    pub not_taken_guids: Vec<String>,
    /// The pace the run's drain ended at, for a hook it posted to.
    pub pace: Option<PaceReport>,
    /// Open events this run did not redeliver (held back, out of budget, stopped).
    pub not_reached: Vec<EventSummary>,
    pub halt: Option<Halt>,
    /// This run's redeliveries whose results the run did not see listed and that its
    /// receiver's sent prefix does not cover (GUID, when accepted): pending records.
    pub unlisted: Vec<(String, DateTime<Utc>)>,
    /// This run's redeliveries whose results the run did not see listed, prefix or not.
    pub awaiting_results: usize,
}

/// What the drain found of one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverOutcome {
    pub verdict: ReceiverVerdict,
    /// Redeliveries to it whose listed result says it was down.
    pub spent_while_down: usize,
    pub redelivered: usize,
    pub held_back: usize,
    pub awaiting_results: usize,
    /// What was sent to it and not seen listed, as a prefix of its queue.
    pub sent: Option<SentPrefix>,
}

/// What a run's drain did.
#[derive(Debug)]
pub struct RunDrainOutcome {
    /// By hook, in the run's order.
    pub hooks: Vec<DrainOutcome>,
    /// By receiver, in the order of the queues.
    pub receivers: Vec<ReceiverOutcome>,
    /// The pace the drain ended at (slower than `redelivery-interval` after rate limits),
    /// for the next run to start from.
    pub pace: Pace,
    /// List requests made beyond the scan.
    pub rereads: usize,
}

/// The redeliveries GitHub did not take since it last answered one (accepted or refused),
/// counting only those it had not failed to take in an earlier run.
#[derive(Debug, Default)]
pub(super) struct NotTakenStreak {
    fresh: usize,
}

impl NotTakenStreak {
    /// GitHub answered a redelivery: the streak ends, and the ones in it were those
    /// deliveries' trouble.
    pub(super) fn answered(&mut self) {
        self.fresh = 0;
    }

    /// GitHub did not take a redelivery, which it did not take in an earlier run either
    /// (`again`) or not: true when that makes GitHub look down as a whole.
    pub(super) fn not_taken(&mut self, again: bool) -> bool {
        if !again {
            self.fresh += 1;
        }
        self.fresh >= GITHUB_DOWN_AFTER
    }
}

/// One redelivery GitHub accepted.
#[derive(Debug, Clone)]
struct Sent {
    hook: usize,
    guid: String,
    /// The delivery redelivered: the newest of its event when the scan listed it.
    delivery_id: DeliveryId,
    first_failed_at: DateTime<Utc>,
    accepted_at: DateTime<Utc>,
}

/// One receiver while the drain runs.
#[derive(Debug)]
pub(super) struct ReceiverProgress {
    verdict: ReceiverVerdict,
    down_reason: Option<String>,
    /// Indexes of its queue tried (accepted, refused, failed).
    tried: HashSet<usize>,
    sent: Vec<Sent>,
    /// Results seen listed, by GUID.
    seen: HashMap<String, Verdict>,
    /// Indexes of its queue sent as canaries.
    pub(super) canaries: Vec<usize>,
    /// The first failures of the events GitHub did not take: they are not sent, so the
    /// sent prefix stops before them.
    not_taken_first_failures: Vec<DateTime<Utc>>,
    last_check: Instant,
    since_check: usize,
}

impl ReceiverProgress {
    fn new(now: Instant) -> Self {
        Self {
            verdict: ReceiverVerdict::Unchecked,
            down_reason: None,
            tried: HashSet::new(),
            sent: Vec::new(),
            seen: HashMap::new(),
            canaries: Vec::new(),
            not_taken_first_failures: Vec::new(),
            last_check: now,
            since_check: 0,
        }
    }

    pub(super) fn verdict(&self) -> ReceiverVerdict {
        self.verdict
    }

    pub(super) fn set_verdict(&mut self, verdict: ReceiverVerdict) {
        self.verdict = verdict;
    }

    /// Whether its events may go out: it answers, or nothing says otherwise.
    pub(super) fn may_drain(&self) -> bool {
        matches!(
            self.verdict,
            ReceiverVerdict::Up | ReceiverVerdict::Unchecked
        )
    }

    pub(super) fn down(&mut self, reason: String) {
        self.verdict = ReceiverVerdict::Down;
        self.down_reason = Some(reason);
    }

    pub(super) fn check_due(&self, now: Instant) -> bool {
        !self.sent.is_empty()
            && (self.since_check >= CHECK_EVERY || now - self.last_check >= CHECK_INTERVAL)
    }

    pub(super) fn checked(&mut self, now: Instant) {
        self.last_check = now;
        self.since_check = 0;
    }

    /// The hook it last got a redelivery on.
    pub(super) fn last_hook(&self) -> Option<usize> {
        self.sent.last().map(|sent| sent.hook)
    }

    pub(super) fn first_sent_at(&self) -> Option<DateTime<Utc>> {
        self.sent.iter().map(|sent| sent.accepted_at).min()
    }

    /// Notes the results on a page of hook `hook`: a redelivery of one of its events with
    /// a larger id than the delivery this run redelivered is this run's (ids grow; an
    /// earlier run's result of the same event, listed moments before, has a smaller one).
    pub(super) fn saw(&mut self, hook: usize, listed: &Listed) {
        for sent in self.sent.iter().filter(|sent| sent.hook == hook) {
            if let Some(result) = listed.get(&sent.guid)
                && result.id > sent.delivery_id
            {
                self.seen.insert(sent.guid.clone(), result.verdict.clone());
            }
        }
    }

    /// The result of the redelivery of `guid`, when seen.
    pub(super) fn result(&self, guid: &str) -> Option<&Verdict> {
        self.seen.get(guid)
    }

    /// The last three results seen, newest redeliveries first, all failed as a down
    /// receiver fails: the newest one's status.
    pub(super) fn fell_over(&self) -> Option<String> {
        // In the order sent, newest first (their times may tie at a second).
        let verdicts: Vec<&Verdict> = self
            .sent
            .iter()
            .rev()
            .filter_map(|sent| self.seen.get(&sent.guid))
            .take(3)
            .collect();
        match verdicts.as_slice() {
            [Verdict::Down(status), rest @ ..]
                if verdicts.len() == 3 && rest.iter().all(|v| matches!(v, Verdict::Down(_))) =>
            {
                Some(status.clone())
            }
            _ => None,
        }
    }

    fn unseen(&self) -> impl Iterator<Item = &Sent> {
        self.sent
            .iter()
            .filter(|sent| !self.seen.contains_key(&sent.guid))
    }
}

/// The drain's state while it runs.
pub(super) struct Progress {
    pub(super) hooks: Vec<DrainOutcome>,
    pub(super) receivers: Vec<ReceiverProgress>,
    pub(super) pace: Pace,
    pub(super) rereads: ReReads,
    /// Redeliveries in a row GitHub did not take: GitHub as a whole looks down at three.
    pub(super) streak: NotTakenStreak,
    accepted: usize,
    hook_halts: Vec<Option<Halt>>,
    global_halt: Option<Halt>,
}

impl Progress {
    pub(super) fn new(hooks: usize, queues: &[ReceiverQueue], pace: Pace, clock: &Clock) -> Self {
        let now = clock.instant();
        Self {
            hooks: (0..hooks).map(|_| DrainOutcome::default()).collect(),
            receivers: queues.iter().map(|_| ReceiverProgress::new(now)).collect(),
            pace,
            rereads: ReReads::default(),
            streak: NotTakenStreak::default(),
            accepted: 0,
            hook_halts: vec![None; hooks],
            global_halt: None,
        }
    }

    /// Redeliveries GitHub accepted so far.
    pub(super) fn sent_count(&self) -> usize {
        self.accepted
    }

    pub(super) fn was_sent(&self, receiver: usize, index: usize) -> bool {
        self.receivers[receiver].tried.contains(&index)
    }

    /// GitHub did not take the redelivery of the `index`th event of `receiver`: it is not
    /// reached again in this run (it is reported as not taken), and not sent.
    pub(super) fn not_taken(
        &mut self,
        receiver: usize,
        index: usize,
        first_failed_at: DateTime<Utc>,
    ) {
        self.tried(receiver, index);
        self.receivers[receiver]
            .not_taken_first_failures
            .push(first_failed_at);
    }

    pub(super) fn tried(&mut self, receiver: usize, index: usize) {
        self.receivers[receiver].tried.insert(index);
    }

    pub(super) fn accepted(
        &mut self,
        receiver: usize,
        index: usize,
        queued: &super::Queued,
        accepted_at: DateTime<Utc>,
    ) {
        self.tried(receiver, index);
        self.accepted += 1;
        let state = &mut self.receivers[receiver];
        state.since_check += 1;
        state.sent.push(Sent {
            hook: queued.hook,
            guid: queued.planned.summary.guid.clone(),
            delivery_id: queued.planned.delivery_id,
            first_failed_at: queued.planned.summary.first_failed_at,
            accepted_at,
        });
    }

    pub(super) fn hook_halted(&self, hook: usize) -> bool {
        self.hook_halts[hook].is_some()
    }

    pub(super) fn halt_hook(&mut self, hook: usize, halt: Halt) {
        self.hook_halts[hook].get_or_insert(halt);
    }

    pub(super) fn halt_all(&mut self, halt: Halt) {
        self.global_halt.get_or_insert(halt);
    }

    /// The hooks with redeliveries not seen listed, most first, with the earliest of them.
    pub(super) fn hooks_with_unseen(&self) -> Vec<(usize, DateTime<Utc>)> {
        let mut by_hook: HashMap<usize, (usize, DateTime<Utc>)> = HashMap::new();
        for sent in self.receivers.iter().flat_map(ReceiverProgress::unseen) {
            let entry = by_hook.entry(sent.hook).or_insert((0, sent.accepted_at));
            entry.0 += 1;
            entry.1 = entry.1.min(sent.accepted_at);
        }
        let mut hooks: Vec<(usize, usize, DateTime<Utc>)> = by_hook
            .into_iter()
            .map(|(hook, (count, since))| (hook, count, since))
            .collect();
        hooks.sort_by_key(|&(hook, count, _)| (std::cmp::Reverse(count), hook));
        hooks
            .into_iter()
            .map(|(hook, _, since)| (hook, since))
            .collect()
    }

    pub(super) fn saw_everywhere(&mut self, hook: usize, listed: &Listed) {
        for receiver in &mut self.receivers {
            receiver.saw(hook, listed);
        }
    }

    /// Ends the drain: what was not sent, why, and what the next run must settle.
    pub(super) fn finish(mut self, queues: &[ReceiverQueue], log: &Log) -> RunDrainOutcome {
        let receivers = queues
            .iter()
            .enumerate()
            .map(|(index, queue)| self.finish_receiver(index, queue, log))
            .collect();
        let pace = self.pace.sent_any().then(|| self.pace.report());
        for (hook, outcome) in self.hooks.iter_mut().enumerate() {
            let posted = !outcome.redelivered.is_empty()
                || !outcome.refused.is_empty()
                || !outcome.not_taken_guids.is_empty()
                || self.hook_halts[hook].is_some();
            if posted {
                outcome.pace = pace;
            }
        }
        if let Some(halt) = &self.global_halt {
            log_global_halt(halt, &self.hooks, log);
        }
        RunDrainOutcome {
            hooks: self.hooks,
            receivers,
            pace: self.pace,
            rereads: self.rereads.used(),
        }
    }

    fn finish_receiver(
        &mut self,
        index: usize,
        queue: &ReceiverQueue,
        log: &Log,
    ) -> ReceiverOutcome {
        let state = &self.receivers[index];
        let receiver_halt = match state.verdict {
            ReceiverVerdict::Down => Some(Halt::ReceiverDown(
                state.down_reason.clone().unwrap_or_default(),
            )),
            ReceiverVerdict::ResultsDelayed => Some(Halt::ResultsNotListed),
            ReceiverVerdict::Up | ReceiverVerdict::Unchecked => None,
        };
        let mut held_back = 0;
        for queued in unsent(queue, &state.tried) {
            let outcome = &mut self.hooks[queued.hook];
            outcome.not_reached.push(queued.planned.summary.clone());
            let halt = self.hook_halts[queued.hook]
                .clone()
                .or_else(|| self.global_halt.clone())
                .or_else(|| receiver_halt.clone());
            held_back += usize::from(matches!(
                halt,
                Some(Halt::ReceiverDown(_) | Halt::ResultsNotListed)
            ));
            outcome.halt = outcome.halt.take().or(halt);
        }
        for (hook, halt) in self.hook_halts.iter().enumerate() {
            if let Some(halt) = halt
                && queue.open.iter().any(|queued| queued.hook == hook)
            {
                self.hooks[hook].halt.get_or_insert_with(|| halt.clone());
            }
        }
        let sent = self.prefix_and_pending(index, queue);
        let state = &self.receivers[index];
        log_receiver_halt(queue, state, held_back, log);
        ReceiverOutcome {
            verdict: state.verdict,
            spent_while_down: state
                .seen
                .values()
                .filter(|verdict| matches!(verdict, Verdict::Down(_)))
                .count(),
            redelivered: state.sent.len(),
            held_back,
            awaiting_results: state.unseen().count(),
            sent,
        }
    }

    /// The sent prefix of receiver `index` and the per-event pending records beyond it.
    ///
    /// Every open event of the receiver that first failed at or before `through` must have
    /// been sent: `through` stops before the oldest event not sent (held back, refused,
    /// failed, over `max-redeliveries`) and before the scan's floor (a delivery recorded
    /// late may lie after it unseen). Unseen redeliveries past it are named in `also`; below
    /// [`PREFIX_FROM`] unseen redeliveries, each keeps a pending record instead.
    fn prefix_and_pending(&mut self, index: usize, queue: &ReceiverQueue) -> Option<SentPrefix> {
        let state = &self.receivers[index];
        let oldest_unsent = unsent(queue, &state.tried)
            .map(|queued| queued.planned.summary.first_failed_at)
            .chain(queue.oldest_unqueued)
            .chain(state.not_taken_first_failures.iter().copied())
            .min();
        let unseen: Vec<Sent> = state.unseen().cloned().collect();
        let through = unseen
            .iter()
            .map(|sent| sent.first_failed_at)
            .max()
            .map(|newest| newest.min(queue.scan_floor))
            .map(|through| match oldest_unsent {
                Some(unsent) => through.min(unsent - chrono::Duration::seconds(1)),
                None => through,
            });
        // A few records cost less than a prefix, and keep the document readable by builds
        // before format 3.
        if unseen.len() < PREFIX_FROM {
            for sent in &unseen {
                let outcome = &mut self.hooks[sent.hook];
                outcome.awaiting_results += 1;
                outcome.unlisted.push((sent.guid.clone(), sent.accepted_at));
            }
            return None;
        }
        let within = |sent: &Sent| through.is_some_and(|through| sent.first_failed_at <= through);
        let mut also = BTreeSet::new();
        for sent in &unseen {
            self.hooks[sent.hook].awaiting_results += 1;
            if !within(sent) {
                also.insert(member(&sent.guid));
            }
        }
        Some(SentPrefix {
            from: unseen.iter().map(|sent| sent.accepted_at).min()?,
            to: unseen.iter().map(|sent| sent.accepted_at).max()?,
            through: through.filter(|_| unseen.iter().any(within)),
            also,
        })
    }
}

fn log_receiver_halt(queue: &ReceiverQueue, state: &ReceiverProgress, held_back: usize, log: &Log) {
    if held_back == 0 {
        return;
    }
    let hooks: HashSet<usize> = queue.open.iter().map(|queued| queued.hook).collect();
    match state.verdict {
        ReceiverVerdict::Down => log.line(
            Level::Warning,
            &format!(
                "{} is still down ({}): holding back {held_back} event(s) of {} hook(s) without spending an attempt; the next run tries again at GitHub's pace",
                queue.receiver,
                state.down_reason.as_deref().unwrap_or("no answer"),
                hooks.len()
            ),
            &[
                ("receiver", queue.receiver.shown().into()),
                ("held_back", held_back.into()),
            ],
        ),
        ReceiverVerdict::ResultsDelayed => log.line(
            Level::Warning,
            &format!(
                "GitHub has not listed the results of the canaries of {} yet; holding back {held_back} event(s) of {} hook(s): the next run goes on once they are listed",
                queue.receiver,
                hooks.len()
            ),
            &[
                ("receiver", queue.receiver.shown().into()),
                ("held_back", held_back.into()),
            ],
        ),
        ReceiverVerdict::Up | ReceiverVerdict::Unchecked => {}
    }
}

fn log_global_halt(halt: &Halt, hooks: &[DrainOutcome], log: &Log) {
    let left: usize = hooks.iter().map(|hook| hook.not_reached.len()).sum();
    match halt {
        Halt::Budget => log.notice(&format!(
            "the time budget (`max-duration`) is spent: {left} event(s) left for the next run"
        )),
        Halt::Shutdown => log.notice(&format!(
            "stopping redeliveries (shutdown requested); {left} event(s) left for the next run"
        )),
        Halt::ReceiverDown(_) | Halt::ResultsNotListed | Halt::Failed(_) => {}
    }
}
