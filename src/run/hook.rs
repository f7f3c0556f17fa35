//! One hook's part of a run: its scan (list and plan) and its drain (redeliver, record, move
//! its checkpoint), and how each is logged and reported.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use crate::base::log::{Deferred, Level, Log};
use crate::config::settings::Settings;
use crate::domain::checkpoint::{CheckpointDocument, HookState};
use crate::domain::hook::Hook;
use crate::domain::plan::{Plan, Planner, next_checkpoint};
use crate::domain::window::{Window, WindowOptions, replay_window, scan_window};
use crate::github::client::{ApiError, Credential, GitHubClient};
use crate::github::deliveries;
use crate::report::{HookError, HookReport, RedeliveredEvent, RunReport, rfc3339};
use crate::run::drain::{DrainOutcome, Halt};

use super::{OVERLAP, RunContext, Scanned};

/// One hook's part of a run: list, plan, redeliver, and move its checkpoint.
pub(super) struct HookRun<'a> {
    pub(super) hook: &'a Hook,
    pub(super) credential: Credential,
    pub(super) client: &'a GitHubClient,
    pub(super) settings: &'a Settings,
    pub(super) context: &'a RunContext,
}

impl HookRun<'_> {
    /// Lists the hook's window and plans, without redelivering or touching the bookkeeping.
    /// A scan that starts after GitHub's rate limit was found spent is not tried.
    pub(super) async fn scan(
        &self,
        state: HookState,
        rate_limited: &AtomicBool,
        lines: Deferred,
    ) -> Scanned {
        let listed_at = self.now();
        let mut scanned = Scanned {
            report: self.empty_report(&state, state.checkpoint.unwrap_or(listed_at), false),
            state,
            planned: None,
            lines,
        };
        if rate_limited.load(Ordering::Relaxed) {
            scanned.report.error = Some(HookError::NotTried);
            return scanned;
        }
        let window = self.window(&scanned.state, listed_at);
        scanned.report = self.empty_report(&scanned.state, window.since, window.checkpoint_expired);
        match self
            .list_and_plan(&scanned.state, window.since, listed_at)
            .await
        {
            Ok((mut plan, checkpoint_at)) => {
                let report = &mut scanned.report;
                report.scan_complete = true;
                // Health as of GitHub's time of the listing, which the plan was made at.
                report.scanned_at = Some(checkpoint_at);
                report.oldest_open_at = plan.oldest_open_at;
                report.health = std::mem::take(&mut plan.health);
                self.report_plan(&plan, report);
                scanned.planned = Some((plan, checkpoint_at));
            }
            Err(error) => {
                let error = HookError::explain(error, self.hook);
                rate_limited.fetch_or(error.is_rate_limit(), Ordering::Relaxed);
                scanned.report.error = Some(error);
            }
        }
        scanned
    }

    /// Before the run's drain: unless this hook may not be drained (a dry run; an earlier
    /// hook found GitHub's rate limit spent and this one has something to redeliver), puts
    /// the plan's verdicts on earlier runs' bookkeeping into its state and hands back its
    /// open events. From here on, the bookkeeping records what is done, as it is done.
    pub(super) fn prepare(&self, scanned: &mut Scanned, rate_limited: bool) -> bool {
        let Some((plan, _)) = &scanned.planned else {
            return false;
        };
        if self.settings.dry_run {
            return false;
        }
        if rate_limited && !plan.redeliver.is_empty() {
            scanned.report.error = Some(HookError::NotTried);
            return false;
        }
        apply_plan(plan, &mut scanned.state, self.now());
        true
    }

    /// The run's wall time.
    fn now(&self) -> DateTime<Utc> {
        self.context.clock.now()
    }

    /// The window this run scans, said in the log (loudly when the checkpoint is older
    /// than GitHub keeps deliveries).
    fn window(&self, state: &HookState, listed_at: chrono::DateTime<Utc>) -> Window {
        let log = &self.context.log;
        let window = match &self.settings.replay {
            Some(replay) => {
                replay_window(replay.scope.since, listed_at, self.settings.scan.retention)
            }
            None => scan_window(
                state.checkpoint,
                listed_at,
                &WindowOptions {
                    first_run_lookback: self.settings.scan.first_run_lookback,
                    overlap: OVERLAP,
                    retention: self.settings.scan.retention,
                },
            ),
        };
        if window.checkpoint_expired {
            log.warning(&format!(
                "the checkpoint of `{}` ({}) is older than GitHub's {}-day retention: failed events from before {} are lost for good; schedule this job more often",
                self.hook,
                state.checkpoint.map(rfc3339).unwrap_or_default(),
                self.settings.scan.retention.num_days(),
                rfc3339(window.since)
            ));
        }
        log.info(&format!(
            "Scanning deliveries since {}.",
            rfc3339(window.since)
        ));
        window
    }

    /// Lists the window and plans; also returns the time the checkpoint may move to.
    async fn list_and_plan(
        &self,
        state: &HookState,
        since: chrono::DateTime<Utc>,
        listed_at: chrono::DateTime<Utc>,
    ) -> Result<(Plan, chrono::DateTime<Utc>), ApiError> {
        let log = &self.context.log;
        let (planner, github_time) =
            list_deliveries(self.hook, self.credential, since, self.client, log).await?;
        // The checkpoint is compared with GitHub's `delivered_at`, so it is GitHub's time: a
        // runner whose clock is ahead would otherwise move it past deliveries GitHub records
        // next. A GitHub clock ahead of ours changes nothing (the earlier of the two is kept).
        let checkpoint_at = github_time.map_or(listed_at, |github| github.min(listed_at));
        let plan = planner.plan(state, checkpoint_at, self.settings.plan_options());
        Ok((plan, checkpoint_at))
    }

    /// Every open event keeps the checkpoint at its first failure (see `next_checkpoint`),
    /// whatever the drain did. After an error it stays where it was all the same, so that
    /// a failing run is simple to reason about.
    fn move_checkpoint(
        &self,
        plan: &Plan,
        checkpoint_at: chrono::DateTime<Utc>,
        state: &mut HookState,
        report: &mut HookReport,
    ) {
        if report.error.is_none() {
            let checkpoint = next_checkpoint(plan, checkpoint_at);
            state.checkpoint = Some(checkpoint);
            report.checkpoint = Some(checkpoint);
            report.checkpoint_advanced = true;
        } else {
            self.context.log.warning(&format!(
                "the checkpoint of `{}` stays at {}: the next run scans this window again",
                self.hook,
                state
                    .checkpoint
                    .map(rfc3339)
                    .unwrap_or_else(|| "its first-run look-back".to_owned())
            ));
        }
    }

    /// The hook's turn before the drain, in its group: what its scan said.
    pub(super) fn tell_scan(&self, scanned: &Scanned) {
        let log = &self.context.log;
        let _group = log.hook_group(&self.hook.to_string());
        log.replay(&scanned.lines);
    }

    /// After the drain: what it did for this hook into the bookkeeping and the report, the
    /// checkpoint moved (or held after an error), and the state back into `document`.
    pub(super) fn conclude(
        &self,
        mut scanned: Scanned,
        drained: Option<DrainOutcome>,
        document: &mut CheckpointDocument,
        report: &mut RunReport,
    ) {
        let log = &self.context.log;
        let key = self.hook.to_string();
        if let (Some(outcome), Some((plan, checkpoint_at))) = (drained, &scanned.planned) {
            self.record_outcome(outcome, &mut scanned.state, &mut scanned.report);
            // A replay never moves the scheduled checkpoint.
            if self.settings.replay.is_none() {
                let (state, report) = (&mut scanned.state, &mut scanned.report);
                self.move_checkpoint(plan, *checkpoint_at, state, report);
            }
        }
        if let Some(error) = &scanned.report.error {
            log.error(&format!("hook `{key}`: {error}"));
            report.errors.push(format!("hook `{key}`: {error}"));
        }
        report.hooks.push(scanned.report);
        document.set_hook(&key, scanned.state);
    }

    fn empty_report(
        &self,
        state: &HookState,
        since: chrono::DateTime<Utc>,
        checkpoint_expired: bool,
    ) -> HookReport {
        HookReport {
            checkpoint_expired,
            ..HookReport::new(self.hook.to_string(), since, state.checkpoint)
        }
    }

    /// Logs the plan and puts what it decided (all but the redeliveries) into the report.
    fn report_plan(&self, plan: &Plan, report: &mut HookReport) {
        let log = &self.context.log;
        log_plan(plan, log);
        report.found = plan.found.clone();
        if !plan.found.pending.is_empty() {
            log.info(&format!(
                "{} event(s) redelivered earlier wait for GitHub to list the result: not sent again.",
                plan.found.pending.len()
            ));
        }
        if !plan.found.too_old.is_empty() {
            log.info(&format!(
                "{} event(s) first failed longer ago than `max-age`: too old to redeliver, left alone.",
                plan.found.too_old.len()
            ));
        }
        for event in &plan.found.given_up {
            log.line(
                Level::Warning,
                &format!(
                    "giving up on {} event {} of `{}` after {} failed redeliveries (first failure: {})",
                    event.event,
                    event.guid,
                    self.hook,
                    event.previous_attempts,
                    event.first_failure_status
                ),
                &[
                    ("event", event.event.as_str().into()),
                    ("guid", event.guid.as_str().into()),
                    ("attempts", event.previous_attempts.into()),
                    ("reason", event.first_failure_status.as_str().into()),
                ],
            );
        }
        if self.settings.dry_run {
            report.redelivered = plan.redeliver.iter().map(RedeliveredEvent::of).collect();
            for planned in &plan.redeliver {
                log.line(
                    Level::Info,
                    &format!(
                        "Would redeliver {} {} (delivery {}).",
                        planned.summary.event, planned.summary.guid, planned.delivery_id
                    ),
                    &[
                        ("event", planned.summary.event.as_str().into()),
                        ("guid", planned.summary.guid.as_str().into()),
                        ("delivery_id", planned.delivery_id.into()),
                    ],
                );
            }
        }
    }

    /// Puts what the drain did into the bookkeeping and the report.
    fn record_outcome(
        &self,
        outcome: DrainOutcome,
        state: &mut HookState,
        report: &mut HookReport,
    ) {
        for refused in &outcome.refused {
            state.record_refusal(&refused.event.guid, self.now());
        }
        for (guid, accepted_at) in &outcome.unlisted {
            state.record_pending(guid, *accepted_at);
        }
        for redelivered in &outcome.redelivered {
            state.record_taken(&redelivered.event.guid);
        }
        for guid in &outcome.not_taken_guids {
            state.record_not_taken(guid, self.now());
        }
        report.not_taken = outcome.not_taken;
        report.pace = outcome.pace;
        report.awaiting_results = outcome.awaiting_results;
        if !outcome.refused.is_empty() {
            report.error = Some(HookError::Refused);
        }
        report.redelivered = outcome.redelivered;
        report.refused = outcome.refused;
        match outcome.halt {
            Some(Halt::ReceiverDown(_)) => {
                report.receiver_down = true;
                report.held_back = outcome.not_reached;
            }
            Some(Halt::ResultsNotListed) => {
                report.results_delayed = true;
                report.held_back = outcome.not_reached;
            }
            Some(Halt::Failed(error)) => {
                report.error = Some(error);
                report.found.deferred.extend(outcome.not_reached);
            }
            Some(Halt::Budget | Halt::Shutdown) | None => {
                report.found.deferred.extend(outcome.not_reached);
            }
        }
    }
}

/// Puts the plan's verdicts on earlier runs' bookkeeping into `state`, before the drain.
fn apply_plan(plan: &Plan, state: &mut HookState, now: DateTime<Utc>) {
    for guid in &plan.settled {
        state.settle_pending(guid);
    }
    for guid in &plan.lost {
        if let Some(sent) = state.events.get(guid).map(|record| record.last_attempt) {
            state.record_unlisted(guid, sent);
        }
    }
    for (guid, sent) in &plan.lost_from_prefix {
        state.record_unlisted(guid, *sent);
    }
    for (guid, sent) in &plan.pending_from_prefix {
        state.record_pending(guid, *sent);
    }
    for event in &plan.found.given_up {
        state.record_given_up(&event.guid, now);
    }
    for guid in &plan.resolved {
        state.forget(guid);
    }
    // Last: a settled record that says nothing else goes too.
    state.drop_what_the_list_tells();
}

/// Lists the hook's deliveries, newest first, page by page, and stops at the first page
/// that reaches back past `since`: no page is fetched that the window does not need.
async fn list_deliveries(
    hook: &Hook,
    credential: Credential,
    since: chrono::DateTime<Utc>,
    client: &GitHubClient,
    log: &Log,
) -> Result<(Planner, Option<chrono::DateTime<Utc>>), ApiError> {
    let mut planner = Planner::new();
    let pages = deliveries::pages(client, hook, credential);
    // No bound of the walk's own: past `MAX_PAGES` the pages themselves refuse, loudly.
    let walked =
        deliveries::walk(pages, since, u32::MAX, |delivery| planner.observe(delivery)).await?;
    log.line(
        Level::Info,
        &format!(
            "Scanned {} deliveries in {} page(s).",
            planner.scanned(),
            walked.pages
        ),
        &[
            ("scanned", planner.scanned().into()),
            ("pages", walked.pages.into()),
        ],
    );
    Ok((planner, walked.github_time))
}

fn log_plan(plan: &Plan, log: &Log) {
    log.line(
        Level::Info,
        &format!(
            "{} event(s) failing: {} to redeliver, {} given up now, {} filtered out, {} over `max-redeliveries`, {} given up before.",
            plan.found.failing,
            plan.redeliver.len(),
            plan.found.given_up.len(),
            plan.found.filtered.len(),
            plan.found.deferred.len(),
            plan.found.already_given_up
        ),
        &[
            ("failing", plan.found.failing.into()),
            ("to_redeliver", plan.redeliver.len().into()),
            ("given_up", plan.found.given_up.len().into()),
            ("filtered", plan.found.filtered.len().into()),
            ("deferred", plan.found.deferred.len().into()),
            ("given_up_before", plan.found.already_given_up.into()),
        ],
    );
}
