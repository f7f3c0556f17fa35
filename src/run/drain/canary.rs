//! The canaries of every receiver: sent first, then awaited together, so that a fleet of
//! N receivers costs about one wait.

use std::time::Duration;

use crate::base::clock::format_duration;
use crate::base::log::Level;
use crate::report::ReceiverVerdict;

use super::outcome::Progress;
use super::results::Verdict;
use super::{CANARIES, Drain, Halt, Posted, RESULT_WAIT, ReceiverQueue};

/// When the canaries' results are looked for, after the last canary went out: GitHub lists
/// a result within the receiver's timeout (10 s, 30 s on GHES) and its queue's lag, so the
/// looks thin out; eight looks in [`RESULT_WAIT`].
const LOOKS: [Duration; 8] = [
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(7),
    Duration::from_secs(11),
    Duration::from_secs(17),
    Duration::from_secs(26),
    Duration::from_secs(37),
    RESULT_WAIT,
];

impl Drain<'_> {
    /// Judges every receiver: the list's evidence, or canaries sent and awaited together.
    /// `Err` when the whole drain must stop.
    pub(super) async fn canaries(
        &self,
        queues: &[ReceiverQueue],
        progress: &mut Progress,
    ) -> Result<(), Halt> {
        let mut awaiting = Vec::new();
        for (index, queue) in queues.iter().enumerate() {
            if let Some(evidence) = queue.evidence.as_ref().filter(|_| !queue.open.is_empty()) {
                self.log.info(&format!(
                    "{} is up: {evidence}; no canary needed.",
                    queue.receiver
                ));
                progress.receivers[index].set_verdict(ReceiverVerdict::Up);
            } else if queue.open.len() > 1 && self.send_canaries(index, queue, progress).await? {
                awaiting.push(index);
            }
        }
        if !awaiting.is_empty() {
            self.await_canaries(queues, &awaiting, progress).await?;
        }
        Ok(())
    }

    /// Sends up to [`CANARIES`] events of one receiver; `true` when GitHub accepted one.
    async fn send_canaries(
        &self,
        index: usize,
        queue: &ReceiverQueue,
        progress: &mut Progress,
    ) -> Result<bool, Halt> {
        let picks = pick(queue);
        self.log.info(&format!(
            "{}: {} open event(s) on {} hook(s); {} canary(ies) first.",
            queue.receiver,
            queue.open.len(),
            hooks_of(queue),
            picks.len()
        ));
        for pick in picks {
            self.pause(progress).await;
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            let queued = &queue.open[pick];
            match self.send((index, pick), queued, progress).await {
                Ok(Posted::Accepted(at)) => {
                    progress.accepted(index, pick, queued, at);
                    progress.receivers[index].canaries.push(pick);
                }
                Ok(Posted::NotAccepted) => {}
                Err(Halt::Failed(error)) if !error.is_rate_limit() => {
                    progress.halt_hook(queued.hook, Halt::Failed(error));
                }
                Err(halt) => return Err(halt),
            }
        }
        // Every canary refused by GitHub itself: nothing is known of the receiver, and
        // the others go out.
        Ok(!progress.receivers[index].canaries.is_empty())
    }

    /// Looks for the canaries' results, every receiver's in each look, until each is
    /// judged or [`RESULT_WAIT`] has passed. Each look reads one page of one hook per
    /// receiver not judged yet, within the run's re-read budget (the last look always).
    async fn await_canaries(
        &self,
        queues: &[ReceiverQueue],
        awaiting: &[usize],
        progress: &mut Progress,
    ) -> Result<(), Halt> {
        let clock = self.client.clock();
        let started = clock.instant();
        let mut open: Vec<usize> = awaiting.to_vec();
        for (look, offset) in LOOKS.iter().enumerate() {
            let wait = (started + *offset).saturating_duration_since(clock.instant());
            self.client.pause(wait).await;
            if self.stop.is_requested() {
                return Err(Halt::Shutdown);
            }
            let last = look + 1 == LOOKS.len();
            for &index in &open {
                if !last && !progress.rereads.allows(progress.sent_count()) {
                    break;
                }
                self.look_at_canaries(index, &queues[index], progress)
                    .await?;
            }
            open.retain(|&index| progress.receivers[index].verdict() == ReceiverVerdict::Unchecked);
            if open.is_empty() {
                return Ok(());
            }
        }
        for index in open {
            self.log.info(&format!(
                "GitHub has not listed the results of the canaries of {} within {}.",
                queues[index].receiver,
                format_duration(RESULT_WAIT)
            ));
            progress.receivers[index].set_verdict(ReceiverVerdict::ResultsDelayed);
        }
        Ok(())
    }

    /// One look at the page of the hook of the receiver's first canary not seen yet, and
    /// the verdict when it tells.
    /// A list page GitHub fails to answer (after retries) stops the drain, as any failed
    /// read during it does.
    async fn look_at_canaries(
        &self,
        index: usize,
        queue: &ReceiverQueue,
        progress: &mut Progress,
    ) -> Result<(), Halt> {
        let state = &progress.receivers[index];
        let Some(&first_unseen) = state.canaries.iter().find(|&&pick| {
            state
                .result(&queue.open[pick].planned.summary.guid)
                .is_none()
        }) else {
            return Ok(());
        };
        let hook = queue.open[first_unseen].hook;
        let Some(since) = state.first_sent_at() else {
            return Ok(());
        };
        let listed = self
            .newest_results(hook, since, &mut progress.rereads)
            .await?;
        if let Some((_, guid)) = queue.earlier_pending.iter().find(|(pending_hook, guid)| {
            *pending_hook == hook
                && listed
                    .get(guid)
                    .is_some_and(|result| result.verdict == Verdict::Delivered)
        }) {
            self.log.info(&format!(
                "{} is up: {guid}, redelivered by an earlier run, is listed as delivered now.",
                queue.receiver
            ));
            progress.receivers[index].set_verdict(ReceiverVerdict::Up);
            return Ok(());
        }
        progress.saw_everywhere(hook, &listed);
        self.judge_canaries(index, queue, progress);
        Ok(())
    }

    /// Up when a canary was delivered or refused with an answer; down when every canary's
    /// result is listed and each failed as a down receiver fails (in a replay, refused
    /// too: see [`Drain::refusal_fails_canary`]).
    fn judge_canaries(&self, index: usize, queue: &ReceiverQueue, progress: &mut Progress) {
        let state = &mut progress.receivers[index];
        let results: Vec<(&str, Option<&Verdict>)> = state
            .canaries
            .iter()
            .map(|&pick| {
                let guid = queue.open[pick].planned.summary.guid.as_str();
                (guid, state.result(guid))
            })
            .collect();
        for (guid, result) in &results {
            match result {
                Some(Verdict::Delivered) => {
                    self.log.info(&format!(
                        "{} is up: canary {guid} was delivered.",
                        queue.receiver
                    ));
                    state.set_verdict(ReceiverVerdict::Up);
                    return;
                }
                Some(Verdict::Refused(status)) if !self.refusal_fails_canary => {
                    self.log.info(&format!(
                        "Canary {guid} was refused by {} ({status}): the receiver answers, so the others go out.",
                        queue.receiver
                    ));
                    state.set_verdict(ReceiverVerdict::Up);
                    return;
                }
                Some(Verdict::Down(_) | Verdict::Refused(_)) | None => {}
            }
        }
        if results.iter().all(|(_, result)| result.is_some()) {
            let status = results
                .iter()
                .find_map(|(_, result)| match result {
                    Some(Verdict::Down(status) | Verdict::Refused(status)) => Some(status.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            self.log.line(
                Level::Info,
                &format!(
                    "{} canary(ies) of {} failed ({status}).",
                    results.len(),
                    queue.receiver
                ),
                &[("receiver", queue.receiver.shown().into())],
            );
            state.down(status);
        }
    }
}

/// Up to [`CANARIES`] events of a receiver to try first: never-redelivered ones first (the
/// oldest failing event is often a poison event), oldest first, from the hook of the first
/// of them first, so that one page shows their results.
fn pick(queue: &ReceiverQueue) -> Vec<usize> {
    let open = &queue.open;
    let mut order: Vec<usize> = (0..open.len()).collect();
    // Stable sorts: oldest first within each group; events GitHub takes first.
    let tried_before = |i: usize| {
        (
            open[i].planned.not_taken_runs > 0,
            open[i].planned.summary.previous_attempts > 0,
        )
    };
    order.sort_by_key(|&i| tried_before(i));
    let first_hook = order.first().map(|&i| open[i].hook);
    order.sort_by_key(|&i| (tried_before(i), Some(open[i].hook) != first_hook));
    order.truncate(CANARIES);
    order
}

fn hooks_of(queue: &ReceiverQueue) -> usize {
    let mut hooks: Vec<usize> = queue.open.iter().map(|queued| queued.hook).collect();
    hooks.sort_unstable();
    hooks.dedup();
    hooks.len()
}
