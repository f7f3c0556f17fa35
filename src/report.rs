//! What a run tells its caller: step outputs (`$GITHUB_OUTPUT`), the job summary
//! (`$GITHUB_STEP_SUMMARY`) and the JSON report (`--json`, and the `report` output).
//!
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#setting-an-output-parameter>
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary>

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::client::RequestCounts;
use crate::delivery_health::{DeliveryHealth, round};
use crate::plan::EventSummary;

/// The result of one hook in one run.
#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    pub hook: String,
    /// Start of the scanned window.
    pub since: DateTime<Utc>,
    /// The checkpoint after this run (the previous one when it was not advanced).
    pub checkpoint: Option<DateTime<Utc>>,
    pub checkpoint_advanced: bool,
    /// The checkpoint was older than GitHub's retention: deliveries in between are lost.
    pub checkpoint_expired: bool,
    /// The window was listed to its end: `scanned` and `failing` are the whole truth. A
    /// hook whose listing failed has them at zero without having looked.
    pub scan_complete: bool,
    pub scanned: usize,
    pub failing: usize,
    /// Redelivered (in a dry run: would be redelivered).
    pub redelivered: Vec<RedeliveredEvent>,
    pub given_up: Vec<EventSummary>,
    pub filtered: Vec<EventSummary>,
    /// Left for a later run: over `max-redeliveries`, out of `max-duration`, or not reached
    /// because of an error or a shutdown.
    pub deferred: Vec<EventSummary>,
    /// Not redelivered because the receiver is still down (a canary, or the last
    /// redeliveries, failed without an answer or with a 5xx). No attempt was spent on them.
    pub held_back: Vec<EventSummary>,
    /// The receiver was found down: the run held its events back.
    pub receiver_down: bool,
    /// GitHub did not list a canary's result in time: the run held its events back (in
    /// `held_back`) without taking the receiver to be down.
    pub results_delayed: bool,
    /// Redelivered by an earlier run, whose result GitHub has not listed yet: not sent
    /// again now.
    pub pending: Vec<EventSummary>,
    /// This run's redeliveries whose results GitHub had not listed when it ended.
    pub awaiting_results: usize,
    /// First failed longer ago than `max-age`: not redelivered, never counted as an attempt
    /// or as given up.
    pub too_old: Vec<EventSummary>,
    pub already_given_up: usize,
    /// Redeliveries GitHub refused.
    pub refused: Vec<RefusedRedelivery>,
    pub error: Option<String>,
    /// GitHub's time when the window was listed (`None`: it was not listed to its end). The
    /// health figures below are as of then.
    pub scanned_at: Option<DateTime<Utc>>,
    /// The first failure of the oldest event still open after the scan (redelivered now,
    /// held back, left for later): how long the receiver's oldest loss has lasted.
    pub oldest_open_at: Option<DateTime<Utc>>,
    /// What the scanned deliveries say about the receiver (the summary's chart and causes).
    pub health: DeliveryHealth,
}

impl HookReport {
    /// Nothing to say: listed to its end, nothing redelivered, given up, refused, held
    /// back, left, too old or filtered out, no error and no warning. At fleet size the job
    /// summary gives such hooks one line between them.
    pub fn is_quiet(&self) -> bool {
        self.scan_complete
            && self.error.is_none()
            && !self.receiver_down
            && !self.checkpoint_expired
            && self.redelivered.is_empty()
            && self.given_up.is_empty()
            && self.filtered.is_empty()
            && self.deferred.is_empty()
            && self.held_back.is_empty()
            && self.too_old.is_empty()
            && self.refused.is_empty()
    }

    /// The report of `hook` before anything was done: its window starts at `since`, its
    /// checkpoint is still `checkpoint`.
    pub fn new(hook: String, since: DateTime<Utc>, checkpoint: Option<DateTime<Utc>>) -> Self {
        Self {
            hook,
            since,
            checkpoint,
            checkpoint_advanced: false,
            checkpoint_expired: false,
            scan_complete: false,
            scanned: 0,
            failing: 0,
            redelivered: Vec::new(),
            given_up: Vec::new(),
            filtered: Vec::new(),
            deferred: Vec::new(),
            held_back: Vec::new(),
            receiver_down: false,
            results_delayed: false,
            pending: Vec::new(),
            awaiting_results: 0,
            too_old: Vec::new(),
            already_given_up: 0,
            refused: Vec::new(),
            error: None,
            scanned_at: None,
            oldest_open_at: None,
            health: DeliveryHealth::new(),
        }
    }

    /// How long the oldest open event has been failing, as of the scan: `None` when no event
    /// is open (or the window was not listed).
    pub fn oldest_open_age(&self) -> Option<chrono::Duration> {
        let (scanned_at, oldest) = (self.scanned_at?, self.oldest_open_at?);
        Some((scanned_at - oldest).max(chrono::Duration::zero()))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RedeliveredEvent {
    pub delivery_id: u64,
    /// The attempt this was, counting this tool's redeliveries of the event.
    pub attempt: u32,
    #[serde(flatten)]
    pub event: EventSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefusedRedelivery {
    pub delivery_id: u64,
    pub reason: String,
    #[serde(flatten)]
    pub event: EventSummary,
}

/// What one fleet (`repo/<owner>/*/<hook>`) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetReport {
    /// The line, as the input gave it.
    pub selector: String,
    /// Repositories listed, archived ones included.
    pub repositories: usize,
    /// Archived repositories, skipped: their hooks deliver nothing.
    pub archived: usize,
    /// Hooks selected on the others.
    pub hooks: usize,
}

/// The result of one run, over all hooks.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub dry_run: bool,
    pub max_attempts: u32,
    /// The fleets (`repo/<owner>/*/<hook>`) and what each found; not in the JSON when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fleets: Vec<FleetReport>,
    pub hooks: Vec<HookReport>,
    pub requests: RequestCounts,
    pub checkpoint_saved: bool,
    pub errors: Vec<String>,
}

impl RunReport {
    fn sum(&self, count: impl Fn(&HookReport) -> usize) -> usize {
        self.hooks.iter().map(count).sum()
    }

    pub fn redelivered_count(&self) -> usize {
        self.sum(|hook| hook.redelivered.len())
    }

    pub fn failed_count(&self) -> usize {
        self.sum(|hook| hook.failing)
    }

    pub fn scanned_count(&self) -> usize {
        self.sum(|hook| hook.scanned)
    }

    pub fn given_up_count(&self) -> usize {
        self.sum(|hook| hook.given_up.len())
    }

    pub fn filtered_count(&self) -> usize {
        self.sum(|hook| hook.filtered.len())
    }

    pub fn deferred_count(&self) -> usize {
        self.sum(|hook| hook.deferred.len() + hook.refused.len())
    }

    /// Events held back because their receiver is still down.
    pub fn held_back_count(&self) -> usize {
        self.sum(|hook| hook.held_back.len())
    }

    /// A receiver was found still down.
    pub fn receiver_down(&self) -> bool {
        self.hooks.iter().any(|hook| hook.receiver_down)
    }

    /// GitHub did not list a canary's result in time, and events were held back for it.
    pub fn results_delayed(&self) -> bool {
        self.hooks.iter().any(|hook| hook.results_delayed)
    }

    /// Redeliveries GitHub accepted and has not listed the results of yet: earlier runs'
    /// (not sent again) and this run's.
    pub fn pending_count(&self) -> usize {
        self.sum(|hook| hook.pending.len() + hook.awaiting_results)
    }

    pub fn too_old_count(&self) -> usize {
        self.sum(|hook| hook.too_old.len())
    }

    /// The delivery health of every hook that was scanned, merged.
    pub fn health(&self) -> DeliveryHealth {
        let mut health = DeliveryHealth::new();
        for hook in &self.hooks {
            health.merge(&hook.health);
        }
        health
    }

    /// The age of the oldest open event over all hooks, in whole seconds (0: none open).
    pub fn oldest_open_age_seconds(&self) -> i64 {
        self.hooks
            .iter()
            .filter_map(HookReport::oldest_open_age)
            .map(|age| age.num_seconds())
            .max()
            .unwrap_or(0)
    }

    pub fn redelivered_guids(&self) -> Vec<&str> {
        self.hooks
            .iter()
            .flat_map(|hook| hook.redelivered.iter().map(|r| r.event.guid.as_str()))
            .collect()
    }

    pub fn given_up_guids(&self) -> Vec<&str> {
        self.hooks
            .iter()
            .flat_map(|hook| hook.given_up.iter().map(|e| e.guid.as_str()))
            .collect()
    }

    /// The oldest window start over all hooks.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.hooks.iter().map(|hook| hook.since).min()
    }

    /// The oldest checkpoint over all hooks: where the next run resumes at the latest.
    pub fn checkpoint(&self) -> Option<DateTime<Utc>> {
        self.hooks.iter().filter_map(|hook| hook.checkpoint).min()
    }

    pub fn succeeded(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every hook's window was listed to its end. A run that stopped before listing (the
    /// checkpoint could not be read) has no hooks and did not scan.
    pub fn scan_complete(&self) -> bool {
        !self.hooks.is_empty() && self.hooks.iter().all(|hook| hook.scan_complete)
    }

    /// The report of a run that stopped before it scanned anything (the checkpoint could not
    /// be read): nothing redelivered, the error, and no hooks, so that `scan-complete` is
    /// `false` and a workflow's `if:` on the outputs still has values to test.
    pub fn stopped_before_scan(dry_run: bool, max_attempts: u32, error: String) -> Self {
        Self {
            dry_run,
            max_attempts,
            fleets: Vec::new(),
            hooks: Vec::new(),
            requests: RequestCounts::default(),
            checkpoint_saved: false,
            errors: vec![error],
        }
    }

    /// The report as the `report` output: the `--json` document when it fits in
    /// [`MAX_REPORT_OUTPUT_BYTES`]; otherwise the lists of events are cut short (fewer and
    /// fewer rows until it fits), each hook keeps their full lengths as `<list>_count`, and
    /// `"truncated": true` says so. `--json` always has the whole report.
    pub fn report_output(&self) -> anyhow::Result<String> {
        let full = serde_json::to_string(self)?;
        if full.len() <= MAX_REPORT_OUTPUT_BYTES {
            return Ok(full);
        }
        let whole = serde_json::to_value(self)?;
        for keep in [1000, 100, 10, 0] {
            let mut value = whole.clone();
            truncate_lists(&mut value, keep);
            if keep == 0 {
                truncate_errors(&mut value);
            }
            let json = serde_json::to_string(&value)?;
            if json.len() <= MAX_REPORT_OUTPUT_BYTES {
                return Ok(json);
            }
        }
        self.fleet_report_output(whole)
    }

    /// The `report` output of a fleet too large even without its lists: the quiet hooks
    /// leave `hooks` (`quiet_hooks_count` says how many), then, if need be, the others
    /// after as many as fit (`hooks_count` has the whole number).
    fn fleet_report_output(&self, whole: serde_json::Value) -> anyhow::Result<String> {
        let mut value = whole;
        truncate_lists(&mut value, 0);
        truncate_errors(&mut value);
        let quiet = self.hooks.iter().filter(|hook| hook.is_quiet()).count();
        let mut flags = self.hooks.iter().map(HookReport::is_quiet);
        if let Some(hooks) = value.get_mut("hooks").and_then(|h| h.as_array_mut()) {
            hooks.retain(|_| !flags.next().unwrap_or(false));
        }
        value["quiet_hooks_count"] = quiet.into();
        value["hooks_count"] = self.hooks.len().into();
        let errors = self.errors.len();
        if let Some(list) = value.get_mut("errors").and_then(|e| e.as_array_mut()) {
            list.truncate(MAX_ERRORS_SHOWN);
        }
        value["errors_count"] = errors.into();
        let mut json = serde_json::to_string(&value)?;
        while json.len() > MAX_REPORT_OUTPUT_BYTES {
            let Some(hooks) = value.get_mut("hooks").and_then(|h| h.as_array_mut()) else {
                break;
            };
            if hooks.is_empty() {
                break;
            }
            let keep = hooks.len() * MAX_REPORT_OUTPUT_BYTES / json.len() * 9 / 10;
            hooks.truncate(keep.min(hooks.len() - 1));
            json = serde_json::to_string(&value)?;
        }
        Ok(json)
    }

    /// The step outputs, in the order `action.yml` declares them.
    pub fn outputs(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let time = |at: Option<DateTime<Utc>>| at.map(rfc3339).unwrap_or_default();
        Ok(vec![
            ("redelivered-count", self.redelivered_count().to_string()),
            (
                "redelivered-guids",
                serde_json::to_string(&self.redelivered_guids())?,
            ),
            ("failed-count", self.failed_count().to_string()),
            ("scanned-count", self.scanned_count().to_string()),
            ("given-up-count", self.given_up_count().to_string()),
            (
                "given-up-guids",
                serde_json::to_string(&self.given_up_guids())?,
            ),
            ("filtered-count", self.filtered_count().to_string()),
            ("deferred-count", self.deferred_count().to_string()),
            ("held-back-count", self.held_back_count().to_string()),
            ("receiver-down", self.receiver_down().to_string()),
            ("pending-count", self.pending_count().to_string()),
            ("results-delayed", self.results_delayed().to_string()),
            ("too-old-count", self.too_old_count().to_string()),
            ("since", time(self.since())),
            ("checkpoint", time(self.checkpoint())),
            ("scan-complete", self.scan_complete().to_string()),
            // Delivery health (issue 24): the share that failed, the oldest open event, and
            // the figures of the summary's health section as JSON.
            (
                "failure-rate",
                round(self.health().failure_rate(), 4).to_string(),
            ),
            (
                "oldest-open-age",
                self.oldest_open_age_seconds().to_string(),
            ),
            ("health", self.health_json()?),
            ("error", self.error_lines()),
            ("report", self.report_output()?),
        ])
    }

    /// The `error` output: one error a line, at most [`MAX_ERRORS_SHOWN`] (a rate limit
    /// over a fleet fails every hook after it), then how many more.
    fn error_lines(&self) -> String {
        let mut lines: Vec<String> = self.errors.iter().take(MAX_ERRORS_SHOWN).cloned().collect();
        if self.errors.len() > MAX_ERRORS_SHOWN {
            lines.push(format!(
                "… and {} more errors",
                self.errors.len() - MAX_ERRORS_SHOWN
            ));
        }
        lines.join("\n")
    }

    /// The `health` output: the run's [`DeliveryHealth`] and the age of its oldest open
    /// event.
    fn health_json(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct HealthOutput {
            #[serde(flatten)]
            health: DeliveryHealth,
            oldest_open_age_seconds: i64,
        }
        Ok(serde_json::to_string(&HealthOutput {
            health: self.health(),
            oldest_open_age_seconds: self.oldest_open_age_seconds(),
        })?)
    }

    /// The job summary, in Markdown: the table per hook, alerts, delivery health (chart,
    /// figures, failure causes), a section per kind of event, errors, and the requests made.
    pub fn summary_markdown(&self) -> String {
        let mut md = String::new();
        self.summary_table(&mut md);
        self.summary_fleets(&mut md);
        self.summary_alerts(&mut md);
        crate::health_summary::write_section(self, &mut md);
        self.summary_sections(&mut md);
        self.summary_footer(&mut md);
        if md.len() > MAX_SUMMARY_BYTES {
            let cut = md[..MAX_SUMMARY_BYTES].rfind('\n').unwrap_or(0);
            md.truncate(cut);
            md.push_str("\n\n… the summary is cut here, at GitHub's limit; the `report` output has the rest.\n");
        }
        md
    }

    fn summary_table(&self, md: &mut String) {
        let (title, redelivered_header) = if self.dry_run {
            (
                "Webhook redelivery (dry run: nothing was redelivered)",
                "Would redeliver",
            )
        } else {
            ("Webhook redelivery", "Redelivered")
        };
        let _ = writeln!(md, "## {title}\n");
        let _ = writeln!(
            md,
            "| Hook | Scanned since | Deliveries scanned | Events failing | {redelivered_header} | Given up | Filtered out | Held back | Left for later | Checkpoint |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        // Several hooks: the quiet ones share one row, the others have theirs (at most
        // MAX_HOOK_ROWS, so that a fleet's summary stays well under GitHub's 1 MiB).
        let collapse = self.hooks.len() > 1;
        let (quiet, rows): (Vec<&HookReport>, Vec<&HookReport>) = self
            .hooks
            .iter()
            .partition(|hook| collapse && hook.is_quiet());
        for hook in rows.iter().take(MAX_HOOK_ROWS) {
            hook_row(md, hook);
        }
        if rows.len() > MAX_HOOK_ROWS {
            let _ = writeln!(
                md,
                "| … {} more hooks with something to say (the `report` output has each) | | | | | | | | | |",
                rows.len() - MAX_HOOK_ROWS
            );
        }
        if !quiet.is_empty() {
            let _ = writeln!(
                md,
                "| {} quiet hook(s): nothing to redeliver | | {} | {} | 0 | 0 | 0 | 0 | 0 | |",
                quiet.len(),
                quiet.iter().map(|hook| hook.scanned).sum::<usize>(),
                quiet.iter().map(|hook| hook.failing).sum::<usize>(),
            );
        }
        if self.hooks.len() > 1 {
            let _ = writeln!(
                md,
                "| **Total** | | {} | {} | {} | {} | {} | {} | {} | |",
                self.scanned_count(),
                self.failed_count(),
                self.redelivered_count(),
                self.given_up_count(),
                self.filtered_count(),
                self.held_back_count(),
                self.deferred_count()
            );
        }
        md.push('\n');
    }

    /// A line per fleet: what its repository list held.
    fn summary_fleets(&self, md: &mut String) {
        for fleet in &self.fleets {
            let _ = writeln!(
                md,
                "- {}: {} repositories, {} archived (skipped), {} hooks",
                code(&fleet.selector),
                fleet.repositories,
                fleet.archived,
                fleet.hooks
            );
        }
        if !self.fleets.is_empty() {
            md.push('\n');
        }
    }

    fn summary_alerts(&self, md: &mut String) {
        if self.hooks.is_empty() {
            let _ = writeln!(
                md,
                "> [!CAUTION]\n> The run stopped before it scanned any deliveries: nothing was redelivered, and failing events were not counted.\n"
            );
        }
        let hooks_where = |flag: fn(&HookReport) -> bool| -> Vec<&str> {
            self.hooks
                .iter()
                .filter(|hook| flag(hook))
                .map(|hook| hook.hook.as_str())
                .collect()
        };
        let down = hooks_where(|hook| hook.receiver_down);
        if !down.is_empty() {
            let _ = writeln!(
                md,
                "> [!WARNING]\n> The receiver of {} is still down: its events were held back without spending an attempt, and the next run tries again.\n",
                down.join(", ")
            );
        }
        for hook in self.hooks.iter().filter(|hook| hook.results_delayed) {
            let _ = writeln!(
                md,
                "> [!NOTE]\n> GitHub has not listed the results of {} redelivery(ies) of `{}` yet; holding back {} event(s). GitHub's queue is slow, the receiver is not known to be down: the next run goes on once the results are listed.\n",
                hook.pending.len() + hook.awaiting_results,
                hook.hook,
                hook.held_back.len()
            );
        }
        let expired = hooks_where(|hook| hook.checkpoint_expired);
        if !expired.is_empty() {
            let _ = writeln!(
                md,
                "> [!WARNING]\n> The checkpoint of {} was older than GitHub keeps deliveries: failed events from that gap are lost. Run this job more often than the retention.\n",
                expired.join(", ")
            );
        }
    }

    /// A section per kind of event, in the order a reader needs them.
    fn summary_sections(&self, md: &mut String) {
        let redelivered = if self.dry_run {
            "Would redeliver"
        } else {
            "Redelivered"
        };
        event_section(
            md,
            redelivered,
            self.rows(|hook| {
                hook.redelivered
                    .iter()
                    .map(|r| {
                        (
                            &r.event,
                            format!("attempt {} of {}", r.attempt, self.max_attempts),
                        )
                    })
                    .collect()
            }),
        );
        event_section(
            md,
            &format!("Given up after {} redeliveries", self.max_attempts),
            self.rows(|hook| with_note(&hook.given_up, "never retried again")),
        );
        event_section(
            md,
            "Refused by GitHub",
            self.rows(|hook| {
                hook.refused
                    .iter()
                    .map(|r| (&r.event, r.reason.clone()))
                    .collect()
            }),
        );
        let plain: [(&str, EventList); 5] = [
            (
                "Held back: the receiver is still down, or its results are not listed yet",
                |hook| &hook.held_back,
            ),
            ("Pending: redelivered, result not listed yet", |hook| {
                &hook.pending
            }),
            ("Left for the next run", |hook| &hook.deferred),
            ("Too old to redeliver (`max-age`)", |hook| &hook.too_old),
            ("Filtered out by `events` / `exclude-events`", |hook| {
                &hook.filtered
            }),
        ];
        for (heading, list) in plain {
            event_section(md, heading, self.rows(|hook| with_note(list(hook), "")));
        }
    }

    /// The rows of every hook, `events` choosing each hook's (event, note) pairs.
    fn rows<'a>(
        &'a self,
        events: impl Fn(&'a HookReport) -> Vec<(&'a EventSummary, String)>,
    ) -> Vec<(&'a str, &'a EventSummary, String)> {
        self.hooks
            .iter()
            .flat_map(|hook| {
                events(hook)
                    .into_iter()
                    .map(move |(event, note)| (hook.hook.as_str(), event, note))
            })
            .collect()
    }

    fn summary_footer(&self, md: &mut String) {
        if !self.errors.is_empty() {
            let _ = writeln!(md, "### Errors\n");
            for error in self.errors.iter().take(MAX_ERRORS_SHOWN) {
                let _ = writeln!(md, "- {}", cell(error));
            }
            if self.errors.len() > MAX_ERRORS_SHOWN {
                let _ = writeln!(md, "- … and {} more", self.errors.len() - MAX_ERRORS_SHOWN);
            }
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "<sub>{} list, {} redelivery and {} other requests to GitHub.{}</sub>",
            self.requests.list,
            self.requests.redeliver,
            self.requests.other,
            if self.checkpoint_saved {
                ""
            } else {
                " The checkpoint was not saved."
            }
        );
    }
}

/// Rows per table in the summary: the summary must stay well under 1 MiB.
const MAX_SUMMARY_ROWS: usize = 300;

/// Rows of hooks with something to say in the summary's table; the others are counted.
const MAX_HOOK_ROWS: usize = 300;

/// Errors shown in the summary and the `error` output; the others are counted.
const MAX_ERRORS_SHOWN: usize = 100;

/// GitHub takes at most 1 MiB of job summary per step; past this the summary is cut at a
/// line, and says so.
const MAX_SUMMARY_BYTES: usize = 1024 * 1024 - 16 * 1024;

/// The most the `report` output holds. GitHub takes at most 1 MB per output, and the other
/// outputs (GUID lists) share the file: half of it leaves room for them.
/// <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idoutputs>
pub const MAX_REPORT_OUTPUT_BYTES: usize = 512 * 1024;

/// The lists of events in a hook's report, cut by [`RunReport::report_output`].
const HOOK_LISTS: [&str; 7] = [
    "redelivered",
    "given_up",
    "filtered",
    "deferred",
    "held_back",
    "too_old",
    "refused",
];

/// Keeps at most `keep` entries of each hook's lists, recording their full lengths.
fn truncate_lists(report: &mut serde_json::Value, keep: usize) {
    if let Some(object) = report.as_object_mut() {
        object.insert("truncated".to_owned(), serde_json::Value::Bool(true));
    }
    let Some(hooks) = report.get_mut("hooks").and_then(|h| h.as_array_mut()) else {
        return;
    };
    for hook in hooks.iter_mut().filter_map(|hook| hook.as_object_mut()) {
        for list in HOOK_LISTS {
            let length = match hook.get_mut(list).and_then(|l| l.as_array_mut()) {
                Some(items) => {
                    let length = items.len();
                    items.truncate(keep);
                    length
                }
                None => continue,
            };
            hook.insert(format!("{list}_count"), length.into());
        }
        // The causes by event are the health's only list; the totals by cause stay whole.
        if let Some(causes) = hook
            .get_mut("health")
            .and_then(|health| health.get_mut("causes_by_event"))
            .and_then(|causes| causes.as_array_mut())
        {
            causes.truncate(keep);
        }
    }
}

/// Cuts every error message to a few hundred characters: the last resort when even empty
/// lists do not fit (error bodies are GitHub's, of any length).
fn truncate_errors(report: &mut serde_json::Value) {
    const KEEP: usize = 500;
    let shorten = |text: &mut serde_json::Value| {
        if let Some(message) = text.as_str()
            && message.chars().count() > KEEP
        {
            let short: String = message.chars().take(KEEP).collect();
            *text = serde_json::Value::String(format!("{short}…"));
        }
    };
    if let Some(errors) = report.get_mut("errors").and_then(|e| e.as_array_mut()) {
        errors.iter_mut().for_each(shorten);
    }
    if let Some(hooks) = report.get_mut("hooks").and_then(|h| h.as_array_mut()) {
        for hook in hooks {
            if let Some(error) = hook.get_mut("error") {
                shorten(error);
            }
        }
    }
}

/// A hook's row in the summary's table.
fn hook_row(md: &mut String, hook: &HookReport) {
    let checkpoint = match (hook.checkpoint, hook.checkpoint_advanced) {
        (Some(at), true) => rfc3339(at),
        (Some(at), false) => format!("{} (kept)", rfc3339(at)),
        (None, _) => "none".to_owned(),
    };
    let _ = writeln!(
        md,
        "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        hook.hook,
        rfc3339(hook.since),
        hook.scanned,
        hook.failing,
        hook.redelivered.len(),
        hook.given_up.len(),
        hook.filtered.len(),
        hook.held_back.len(),
        hook.deferred.len() + hook.refused.len(),
        checkpoint
    );
}

/// Chooses one list of events of a hook's report.
type EventList = fn(&HookReport) -> &[EventSummary];

/// The same note on every event of `events`.
fn with_note<'a>(events: &'a [EventSummary], note: &str) -> Vec<(&'a EventSummary, String)> {
    events
        .iter()
        .map(|event| (event, note.to_owned()))
        .collect()
}

/// A summary section: a heading and a table of events, at most [`MAX_SUMMARY_ROWS`] rows;
/// nothing when there are none.
fn event_section(md: &mut String, heading: &str, events: Vec<(&str, &EventSummary, String)>) {
    if events.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### {heading}\n\n| Hook | Event | Action | GUID | First failure | First failed at | Note |\n|---|---|---|---|---|---|---|"
    );
    let total = events.len();
    for (hook, event, note) in events.into_iter().take(MAX_SUMMARY_ROWS) {
        let _ = writeln!(
            md,
            "| `{hook}` | {} | {} | {} | {} | {} | {} |",
            cell(&event.event),
            cell(event.action.as_deref().unwrap_or("")),
            code(&event.guid),
            cell(&event.first_failure_status),
            rfc3339(event.first_failed_at),
            cell(&note)
        );
    }
    if total > MAX_SUMMARY_ROWS {
        let _ = writeln!(md, "\n… and {} more.", total - MAX_SUMMARY_ROWS);
    }
    md.push('\n');
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Makes text from GitHub (event names, statuses, error messages) inert in a Markdown
/// table cell: no cell or row break, no Markdown formatting or link, no HTML. A hostile
/// answer must not be able to dress up the job summary.
pub(crate) fn cell(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (index, &c) in chars.iter().enumerate() {
        match c {
            '|' => out.push_str("\\|"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '[' | ']' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            // An underscore inside a word is never emphasis (`workflow_job` stays as is).
            '_' => {
                let word = |i: Option<usize>| {
                    i.and_then(|i| chars.get(i))
                        .is_some_and(|c| c.is_alphanumeric())
                };
                if !(word(index.checked_sub(1)) && word(index.checked_add(1))) {
                    out.push('\\');
                }
                out.push('_');
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Shows text as code in a table cell: a code span fenced by more backticks than the text
/// holds in a row, so nothing in it can close the span; HTML and Markdown inside a code span
/// are shown, not rendered.
fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Formats outputs for `$GITHUB_OUTPUT`: `name=value`, or the heredoc form with a random
/// delimiter for values that hold a newline.
pub fn format_outputs(outputs: &[(&str, String)]) -> String {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let delimiter = loop {
                let candidate = format!("ghadelimiter_{:032x}", rand::random::<u128>());
                if !value.contains(&candidate) {
                    break candidate;
                }
            };
            let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
        } else {
            let _ = writeln!(text, "{name}={value}");
        }
    }
    text
}

/// Appends `text` to the file the runner named, in one write.
pub fn append_to_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("failed to write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_heredocs_only_for_multiline_values() {
        let text = format_outputs(&[("count", "3".to_owned()), ("text", "a\nb".to_owned())]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("count=3"));
        let opener = lines.next().expect("heredoc opener");
        let delimiter = opener.strip_prefix("text<<").expect("heredoc");
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(lines.next(), Some("a"));
        assert_eq!(lines.next(), Some("b"));
        assert_eq!(lines.next(), Some(delimiter));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn table_cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn table_cells_render_no_markdown_and_no_html() {
        assert_eq!(
            cell("<img src=x> **b** [l](u) `c` _i_ workflow_job"),
            "&lt;img src=x&gt; \\*\\*b\\*\\* \\[l\\](u) \\`c\\` \\_i\\_ workflow_job"
        );
        assert_eq!(code("0b98-ab"), "`0b98-ab`");
        assert_eq!(code("a`b|c\n"), "``a`b\\|c ``");
        assert_eq!(code("`x"), "`` `x ``");
    }
}
