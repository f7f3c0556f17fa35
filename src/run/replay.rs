//! A replay run (issue 29), around the scheduled run's scan and drain: the planner selects
//! (its replay rules, [`crate::domain::replay`]), the drain sends (oldest first, each event
//! once), and this module does what is a replay's own:
//!
//! - the earlier replays the checkpoint document remembers go into this run's planning
//!   ([`with_earlier_replays`]): a scheduled run leaves what they sent to them, a replay
//!   does not send again what they have pending;
//! - its queues leave no receiver's sent prefix ([`queues`]): a replay sends a filtered
//!   part of a receiver's events, and a prefix would claim the others sent; its canaries
//!   ask whether the receiver takes what it rejected, not only whether it answers (the
//!   drain's `refusal_fails_canary`);
//! - its redeliveries pend under its one record, not under a record per event, and it
//!   moves no checkpoint ([`hold_results`]);
//! - at its end ([`ReplayRun::conclude`]) it looks for its own results (a handful of list
//!   requests), leaves its one record in the document, and tells what became of it.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::base::log::{Level, Log};
use crate::config::settings::{ReplaySettings, Settings, StoreSpec};
use crate::domain::checkpoint::CheckpointDocument;
use crate::domain::delivery::Delivery;
use crate::domain::hook::Hook;
use crate::domain::plan::CLOCK_TOLERANCE;
use crate::domain::replay::EarlierReplay;
use crate::github::client::GitHubClient;
use crate::github::deliveries;
use crate::report::replay::{ReplayReport, ReplayResults};
use crate::report::{HookReport, RunReport};
use crate::run::credentials::Credentials;
use crate::run::drain::{DrainOutcome, ReceiverQueue};

/// The pauses before each look for the replay's results: GitHub gives a receiver 10 s (30 s
/// on GHES) and lists the result once it answered.
const RESULT_LOOKS: [Duration; 2] = [Duration::from_secs(10), Duration::from_secs(20)];

/// List pages the looks may read in all: a handful, and one more for every 25
/// redeliveries (within issue 27's re-read budget of 10 + 4 % of a run's redeliveries).
fn page_budget(redelivered: usize) -> usize {
    5 + redelivered / 25
}

/// This run's settings, with the earlier replays the checkpoint document remembers in its
/// planning: a scheduled run leaves what they sent to them, and a replay does not send
/// again what they have pending. A record this build cannot read is left out.
pub(super) fn with_earlier_replays(settings: &Settings, document: &CheckpointDocument) -> Settings {
    let mut settings = settings.clone();
    settings.plan.replays.earlier = document
        .replays
        .iter()
        .filter_map(EarlierReplay::from_record)
        .collect();
    settings
}

/// A replay's queues: as the scheduled run's, but no receiver's sent prefix may come of
/// them (the scan floor is the earliest time, so a prefix covers nothing): the replay sends
/// only what its filters select, and a prefix would claim every open event of the receiver
/// up to it sent. Its own record names what it sent instead.
pub(super) fn queues(mut queues: Vec<ReceiverQueue>, settings: &Settings) -> Vec<ReceiverQueue> {
    if settings.replay.is_some() {
        for queue in &mut queues {
            queue.scan_floor = DateTime::<Utc>::MIN_UTC;
        }
    }
    queues
}

/// A replay's redeliveries pend under its one record (see [`ReplayRun::conclude`]), not
/// under a record per event: their pending records are left to it.
pub(super) fn hold_results(settings: &Settings, mut outcome: DrainOutcome) -> DrainOutcome {
    if settings.replay.is_some() {
        outcome.unlisted.clear();
    }
    outcome
}

/// What the end of a replay needs.
pub(super) struct ReplayRun<'a> {
    pub(super) hooks: &'a [Hook],
    pub(super) credentials: &'a Credentials,
    pub(super) client: &'a GitHubClient,
    pub(super) settings: &'a Settings,
    pub(super) log: &'a Log,
}

impl ReplayRun<'_> {
    /// Ends a replay after its drains: looks for its results, leaves its record in
    /// `document` (unless a dry run or stateless), and puts what it did into `report`.
    /// Nothing for a scheduled run.
    pub(super) async fn conclude(&self, document: &mut CheckpointDocument, report: &mut RunReport) {
        let Some(replay) = &self.settings.replay else {
            return;
        };
        let dry_run = self.settings.dry_run;
        let mut told = ReplayReport::tally(&replay.scope, &report.hooks, dry_run);
        if !dry_run {
            // Its start on GitHub's clock as well: the listings' time when GitHub's is behind.
            let at = report
                .hooks
                .iter()
                .filter_map(|hook| hook.scanned_at)
                .fold(replay.at, DateTime::min);
            let (results, unlisted) = self.look_for_results(at, &mut report.hooks).await;
            told.results = Some(results);
            if self.settings.store != StoreSpec::None {
                record(replay, at, document, &report.hooks, &unlisted);
            }
        }
        self.log_outcome(&told);
        report.replay = Some(told);
    }

    fn log_outcome(&self, told: &ReplayReport) {
        let line = match &told.results {
            None => format!(
                "Replay (dry run): would send {} event(s); {} pending, not sent again.",
                told.redelivered, told.pending
            ),
            Some(results) => format!(
                "Replay: sent {} of {} selected event(s): {} delivered, {} failed again, {} not listed yet; {} pending from earlier, not sent again.",
                told.redelivered,
                told.selected,
                results.delivered,
                results.failed_again,
                results.not_listed,
                told.pending
            ),
        };
        let results = told.results.clone().unwrap_or_default();
        self.log.line(
            Level::Info,
            &line,
            &[
                ("selected", told.selected.into()),
                ("redelivered", told.redelivered.into()),
                ("delivered", results.delivered.into()),
                ("failed_again", results.failed_again.into()),
                ("not_listed", results.not_listed.into()),
            ],
        );
    }

    /// Looks at each hook's newest deliveries for the results of the replay's redeliveries
    /// (made at or after `started`), after a pause and once more if some are missing, within
    /// [`page_budget`]. Also returns, by hook (the order of `hooks`), the GUIDs not listed.
    async fn look_for_results(
        &self,
        started: DateTime<Utc>,
        hooks: &mut [HookReport],
    ) -> (ReplayResults, Vec<HashSet<String>>) {
        let since = started - CLOCK_TOLERANCE;
        let mut waiting: Vec<HashSet<String>> = hooks
            .iter()
            .map(|hook| {
                hook.redelivered
                    .iter()
                    .map(|sent| sent.event.guid.clone())
                    .collect()
            })
            .collect();
        let mut budget = page_budget(waiting.iter().map(HashSet::len).sum());
        let mut results = ReplayResults::default();
        for pause in RESULT_LOOKS {
            if budget == 0
                || waiting.iter().all(HashSet::is_empty)
                || !self.client.pause(pause).await
            {
                break;
            }
            for (hook, guids) in self.hooks.iter().zip(waiting.iter_mut()) {
                if !guids.is_empty() && budget > 0 {
                    budget = self.look(hook, since, guids, &mut results, budget).await;
                }
            }
        }
        for (report, guids) in hooks.iter_mut().zip(&waiting) {
            report.awaiting_results = guids.len();
            results.not_listed += guids.len();
        }
        (results, waiting)
    }

    /// One look at `hook`'s newest pages, back to `since`: each GUID of `guids` whose newest
    /// redelivery is listed leaves it, counted as delivered or failed again. Returns the
    /// budget left. A failed look costs nothing: those results are "not listed yet".
    async fn look(
        &self,
        hook: &Hook,
        since: DateTime<Utc>,
        guids: &mut HashSet<String>,
        results: &mut ReplayResults,
        mut budget: usize,
    ) -> usize {
        let mut pages = deliveries::pages(self.client, hook, self.credentials.for_hook(hook));
        while budget > 0 && !guids.is_empty() {
            let Ok(Some(page)) = pages.next_page().await else {
                break;
            };
            budget -= 1;
            let Ok(items) = page.items::<Delivery>() else {
                break;
            };
            for delivery in items {
                if delivery.delivered_at < since {
                    pages.stop();
                } else if delivery.redelivery && guids.remove(delivery.guid.as_ref()) {
                    if delivery.is_ok() {
                        results.delivered += 1;
                    } else {
                        results.failed_again += 1;
                    }
                }
            }
        }
        budget
    }
}

/// Leaves the replay's one record in `document`: its window, filters, start, how many it
/// sent, and the prefix it reached (`through`: every selected event that first failed at
/// or before it was sent, for the hooks whose selection is known). What it sent past that
/// prefix (canaries out of order, a hook drained in full while another stopped) and whose
/// result is not listed yet (`unlisted`, by hook) keeps a pending record per event, as a
/// scheduled run's redeliveries do.
/// `at` is when it started, on the earlier of the runner's and GitHub's clocks.
fn record(
    replay: &ReplaySettings,
    at: DateTime<Utc>,
    document: &mut CheckpointDocument,
    hooks: &[HookReport],
    unlisted: &[HashSet<String>],
) {
    let first_unsent = hooks
        .iter()
        .flat_map(|hook| {
            let not_taken = hook.not_taken.iter().map(|event| &event.event);
            hook.held_back
                .iter()
                .chain(&hook.found.deferred)
                .chain(not_taken)
        })
        .map(|event| event.first_failed_at)
        .min();
    let sent = || hooks.iter().flat_map(|hook| &hook.redelivered);
    let through = sent()
        .map(|sent| sent.event.first_failed_at)
        .filter(|at| first_unsent.is_none_or(|unsent| *at < unsent))
        .max();
    for (hook, unlisted) in hooks.iter().zip(unlisted) {
        let beyond = hook.redelivered.iter().filter(|sent| {
            unlisted.contains(&sent.event.guid)
                && through.is_none_or(|through| sent.event.first_failed_at > through)
        });
        for sent in beyond {
            if let Some(state) = document.hooks.get_mut(&hook.hook) {
                state.record_pending(&sent.event.guid, at);
            }
        }
    }
    let count = u64::try_from(sent().count()).unwrap_or(u64::MAX);
    document
        .replays
        .push(replay.scope.record(at, count, through));
}
