//! A run's hooks grouped by receiver: the drain's queues, and what is remembered and
//! reported of each receiver (its state, since when, what was sent to it).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::checkpoint::{CheckpointDocument, ReceiverRecord, ReceiverState, SentPrefix};
use crate::domain::receiver::Receiver;
use crate::report::{ReceiverReport, ReceiverVerdict};
use crate::run::drain::{Queued, ReceiverOutcome, ReceiverQueue};

use super::{OVERLAP, Scanned};

/// The run's receivers, in the order their first hook comes, and each hook's.
pub(super) struct Receivers {
    pub(super) list: Vec<Receiver>,
    /// For each hook of the run, the index of its receiver in `list`.
    pub(super) of_hook: Vec<usize>,
}

impl Receivers {
    pub(super) fn group(receivers_of_hooks: Vec<Receiver>) -> Self {
        let mut list: Vec<Receiver> = Vec::new();
        let mut index: HashMap<Receiver, usize> = HashMap::new();
        let of_hook = receivers_of_hooks
            .into_iter()
            .map(|receiver| {
                *index.entry(receiver.clone()).or_insert_with(|| {
                    list.push(receiver);
                    list.len() - 1
                })
            })
            .collect();
        Self { list, of_hook }
    }

    /// The sent prefix the last run left for `hook`'s receiver.
    pub(super) fn sent_prefix(
        &self,
        hook: usize,
        document: &CheckpointDocument,
    ) -> Option<SentPrefix> {
        let receiver = &self.list[*self.of_hook.get(hook)?];
        document.receivers.get(receiver.key())?.sent.clone()
    }

    /// One queue per receiver: its hooks' open events (those `drained` allows), oldest
    /// first, with what their lists already tell.
    pub(super) fn queues(&self, scans: &[Scanned], drained: &[bool]) -> Vec<ReceiverQueue> {
        let mut queues: Vec<ReceiverQueue> = self
            .list
            .iter()
            .map(|receiver| ReceiverQueue {
                receiver: receiver.clone(),
                open: Vec::new(),
                evidence: None,
                earlier_pending: Vec::new(),
                oldest_unqueued: None,
                scan_floor: DateTime::<Utc>::MAX_UTC,
            })
            .collect();
        for (hook, scanned) in scans.iter().enumerate() {
            let Some((plan, checkpoint_at)) = &scanned.planned else {
                continue;
            };
            let queue = &mut queues[self.of_hook[hook]];
            queue.scan_floor = queue.scan_floor.min(*checkpoint_at - OVERLAP);
            let unqueued = plan
                .found
                .deferred
                .iter()
                .map(|event| event.first_failed_at);
            queue.oldest_unqueued = queue.oldest_unqueued.into_iter().chain(unqueued).min();
            if !drained[hook] {
                let oldest = plan
                    .redeliver
                    .iter()
                    .map(|p| p.summary.first_failed_at)
                    .min();
                queue.oldest_unqueued = queue.oldest_unqueued.into_iter().chain(oldest).min();
                continue;
            }
            if queue.evidence.is_none() {
                queue.evidence = plan.receiver_up.clone();
            }
            queue.earlier_pending.extend(
                plan.found
                    .pending
                    .iter()
                    .map(|event| (hook, event.guid.clone())),
            );
            queue
                .open
                .extend(plan.redeliver.iter().map(|planned| Queued {
                    hook,
                    planned: planned.clone(),
                }));
        }
        for queue in &mut queues {
            queue.open.sort_by(|a, b| {
                let (a, b) = (&a.planned.summary, &b.planned.summary);
                (a.first_failed_at, &a.guid).cmp(&(b.first_failed_at, &b.guid))
            });
        }
        queues
    }

    /// Remembers each receiver in `document` and reports it. A receiver this run did not
    /// judge keeps what the last run found; one no hook of this run delivers to is
    /// forgotten, unless a run's sent prefix is still to be settled.
    pub(super) fn remember(
        &self,
        outcomes: &[ReceiverOutcome],
        document: &mut CheckpointDocument,
        now: DateTime<Utc>,
    ) -> Vec<ReceiverReport> {
        let mut reports = Vec::new();
        let keys: Vec<&str> = self.list.iter().map(Receiver::key).collect();
        document
            .receivers
            .retain(|key, record| keys.contains(&key.as_str()) || record.sent.is_some());
        for (index, (receiver, outcome)) in self.list.iter().zip(outcomes).enumerate() {
            let previous = document.receivers.get(receiver.key()).cloned();
            let state = match outcome.verdict {
                ReceiverVerdict::Up => Some(ReceiverState::Up),
                ReceiverVerdict::Down => Some(ReceiverState::Down),
                ReceiverVerdict::ResultsDelayed => Some(ReceiverState::Delayed),
                ReceiverVerdict::Unchecked => previous.as_ref().map(|record| record.state),
            };
            // Only what the next run needs: an outage to say "back" after, a delayed
            // queue, or a sent prefix to settle. A receiver that answers costs nothing.
            let needed = matches!(state, Some(ReceiverState::Down | ReceiverState::Delayed))
                || outcome.sent.is_some();
            let record = state.filter(|_| needed).map(|state| ReceiverRecord {
                state,
                since: previous
                    .as_ref()
                    .filter(|record| record.state == state)
                    .map_or(now, |record| record.since),
                sent: outcome.sent.clone(),
                extra: previous
                    .as_ref()
                    .map(|r| r.extra.clone())
                    .unwrap_or_default(),
            });
            let record = record.or_else(|| {
                outcome.sent.clone().map(|sent| ReceiverRecord {
                    state: ReceiverState::Up,
                    since: now,
                    sent: Some(sent),
                    extra: Default::default(),
                })
            });
            let down_since = record
                .as_ref()
                .filter(|record| record.state == ReceiverState::Down)
                .map(|record| record.since);
            match record {
                Some(record) => document.receivers.insert(receiver.key().to_owned(), record),
                None => document.receivers.remove(receiver.key()),
            };
            reports.push(ReceiverReport {
                receiver: receiver.shown().to_owned(),
                state: outcome.verdict,
                previous: previous.map(|record| record.state),
                down_since,
                hooks: self.of_hook.iter().filter(|&&of| of == index).count(),
                held_back: outcome.held_back,
                redelivered: outcome.redelivered,
                spent_while_down: outcome.spent_while_down,
                pending: outcome.awaiting_results,
            });
        }
        reports
    }
}

/// No drain ran (a dry run, a stateless run that still drains, every hook skipped): each
/// receiver as not judged.
pub(super) fn not_judged(receivers: usize) -> Vec<ReceiverOutcome> {
    (0..receivers)
        .map(|_| ReceiverOutcome {
            verdict: ReceiverVerdict::Unchecked,
            spent_while_down: 0,
            redelivered: 0,
            held_back: 0,
            awaiting_results: 0,
            sent: None,
        })
        .collect()
}
