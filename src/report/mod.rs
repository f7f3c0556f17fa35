//! What a run tells its caller: step outputs (`$GITHUB_OUTPUT`), the job summary
//! (`$GITHUB_STEP_SUMMARY`) and the JSON report (`--json`, and the `report` output).
//!
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#setting-an-output-parameter>
//! <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#adding-a-job-summary>

mod drain;
mod error;
pub(crate) mod fail_on;
pub mod health;
mod outputs;
pub mod replay;
mod summary;

pub use drain::{NotTakenRedelivery, PaceReason, PaceReport};
pub use error::HookError;

pub use outputs::{MAX_REPORT_OUTPUT_BYTES, append_to_file, format_outputs};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::checkpoint::ReceiverState;
use crate::domain::delivery::DeliveryId;
use crate::domain::health::DeliveryHealth;
use crate::domain::plan::{EventSummary, Findings, PlannedRedelivery};
use crate::github::client::RequestCounts;

/// The result of one hook in one run.
#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    pub hook: String,
    /// The receiver it delivers to, in its shown form; `None` when not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
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
    /// What the plan found (its lists as they are; `deferred` gains what the drain did not
    /// reach: out of `max-duration`, or after an error or a shutdown).
    #[serde(flatten)]
    pub found: Findings,
    /// Redelivered (in a dry run: would be redelivered).
    pub redelivered: Vec<RedeliveredEvent>,
    /// Not redelivered because the receiver is still down (a canary, or the last
    /// redeliveries, failed without an answer or with a 5xx). No attempt was spent on them.
    pub held_back: Vec<EventSummary>,
    /// The receiver was found down: the run held its events back.
    pub receiver_down: bool,
    /// GitHub did not list a canary's result in time: the run held its events back (in
    /// `held_back`) without taking the receiver to be down.
    pub results_delayed: bool,
    /// This run's redeliveries whose results GitHub had not listed when it ended.
    pub awaiting_results: usize,
    /// Redeliveries GitHub refused.
    pub refused: Vec<RefusedRedelivery>,
    /// Redeliveries GitHub did not take (a 5xx or no answer after retries): left open for
    /// the next run, without an attempt; the drain went on.
    pub not_taken: Vec<NotTakenRedelivery>,
    /// The pace the drain ended at and why; `None` when nothing was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pace: Option<PaceReport>,
    #[serde(serialize_with = "error::as_text")]
    pub error: Option<HookError>,
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
            && self.found.given_up.is_empty()
            && self.found.filtered.is_empty()
            && self.found.deferred.is_empty()
            && self.held_back.is_empty()
            && self.found.too_old.is_empty()
            && self.refused.is_empty()
            && self.not_taken.is_empty()
    }

    /// The report of `hook` before anything was done: its window starts at `since`, its
    /// checkpoint is still `checkpoint`.
    pub fn new(hook: String, since: DateTime<Utc>, checkpoint: Option<DateTime<Utc>>) -> Self {
        Self {
            hook,
            receiver: None,
            since,
            checkpoint,
            checkpoint_advanced: false,
            checkpoint_expired: false,
            scan_complete: false,
            found: Findings::default(),
            redelivered: Vec::new(),
            held_back: Vec::new(),
            receiver_down: false,
            results_delayed: false,
            awaiting_results: 0,
            refused: Vec::new(),
            not_taken: Vec::new(),
            pace: None,
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

/// One redelivery made (or, in a dry run, that would be made): the planned one and the
/// attempt it is.
#[derive(Debug, Clone, Serialize)]
pub struct RedeliveredEvent {
    pub delivery_id: DeliveryId,
    /// The attempt this was, counting this tool's redeliveries of the event.
    pub attempt: u32,
    #[serde(flatten)]
    pub event: EventSummary,
}

impl RedeliveredEvent {
    /// The record of `planned` sent: the attempt after the failed ones the list showed.
    pub fn of(planned: &PlannedRedelivery) -> Self {
        Self {
            delivery_id: planned.delivery_id,
            attempt: planned.summary.previous_attempts + 1,
            event: planned.summary.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RefusedRedelivery {
    pub delivery_id: DeliveryId,
    pub reason: String,
    #[serde(flatten)]
    pub event: EventSummary,
}

/// What the run found of one receiver (the URL hooks deliver to), over all its hooks: the
/// unit of health (issue 27). Named only in its shown form, never by its URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiverReport {
    /// Scheme and host, and a short fingerprint of the whole URL.
    pub receiver: String,
    /// What this run found.
    pub state: ReceiverVerdict,
    /// What the previous run found (from the checkpoint; `None` on a first run): `down`
    /// then and `up` now is "back".
    pub previous: Option<ReceiverState>,
    /// Since when it has been down, when it is (from the run that first found it down).
    pub down_since: Option<DateTime<Utc>>,
    /// Its hooks in this run.
    pub hooks: usize,
    /// Events held back: it is down, or GitHub is slow to list results.
    pub held_back: usize,
    /// Events redelivered to it.
    pub redelivered: usize,
    /// Redeliveries spent on it while it was down: its canaries.
    pub spent_while_down: usize,
    /// Redeliveries whose results GitHub has not listed yet.
    pub pending: usize,
}

impl ReceiverReport {
    /// Down in the previous run, answering in this one.
    pub fn is_back(&self) -> bool {
        self.state == ReceiverVerdict::Up && self.previous == Some(ReceiverState::Down)
    }
}

/// What a run found of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverVerdict {
    /// It answered (a canary delivered or refused with an HTTP answer, or the list showed a
    /// recent answer).
    Up,
    /// Every canary failed without an answer or with a 5xx: its events are held back.
    Down,
    /// GitHub did not list a canary's result in time: held back, nothing known.
    ResultsDelayed,
    /// Nothing to redeliver, or one event sent without a canary: not judged.
    Unchecked,
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
    /// Each receiver of the run's hooks, in the order first seen; not in the JSON when
    /// none was resolved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<ReceiverReport>,
    pub requests: RequestCounts,
    pub checkpoint_saved: bool,
    pub errors: Vec<String>,
    /// A replay (issue 29): what it selected and what became of it; not in the JSON of a
    /// scheduled run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<replay::ReplayReport>,
}

impl RunReport {
    fn sum(&self, count: impl Fn(&HookReport) -> usize) -> usize {
        self.hooks.iter().map(count).sum()
    }

    pub fn redelivered_count(&self) -> usize {
        self.sum(|hook| hook.redelivered.len())
    }

    pub fn failed_count(&self) -> usize {
        self.sum(|hook| hook.found.failing)
    }

    pub fn scanned_count(&self) -> usize {
        self.sum(|hook| hook.found.scanned)
    }

    pub fn given_up_count(&self) -> usize {
        self.sum(|hook| hook.found.given_up.len())
    }

    pub fn filtered_count(&self) -> usize {
        self.sum(|hook| hook.found.filtered.len())
    }

    pub fn deferred_count(&self) -> usize {
        self.sum(|hook| hook.found.deferred.len() + hook.refused.len() + hook.not_taken.len())
    }

    /// Redeliveries GitHub did not take (a 5xx or no answer after retries): their events are
    /// open for the next run.
    pub fn not_taken_count(&self) -> usize {
        self.sum(|hook| hook.not_taken.len())
    }

    /// The pace the run's last drain ended at, and why.
    pub fn pace(&self) -> Option<PaceReport> {
        self.hooks.iter().rev().find_map(|hook| hook.pace)
    }

    /// Events held back because their receiver is still down.
    pub fn held_back_count(&self) -> usize {
        self.sum(|hook| hook.held_back.len())
    }

    /// A receiver was found still down.
    pub fn receiver_down(&self) -> bool {
        self.hooks.iter().any(|hook| hook.receiver_down)
            || self
                .receivers
                .iter()
                .any(|receiver| receiver.state == ReceiverVerdict::Down)
    }

    /// GitHub did not list a canary's result in time, and events were held back for it.
    pub fn results_delayed(&self) -> bool {
        self.hooks.iter().any(|hook| hook.results_delayed)
    }

    /// Redeliveries GitHub accepted and has not listed the results of yet: earlier runs'
    /// (not sent again) and this run's.
    pub fn pending_count(&self) -> usize {
        self.sum(|hook| hook.found.pending.len() + hook.awaiting_results)
    }

    pub fn too_old_count(&self) -> usize {
        self.sum(|hook| hook.found.too_old.len())
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
            .flat_map(|hook| hook.found.given_up.iter().map(|e| e.guid.as_str()))
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
            receivers: Vec::new(),
            requests: RequestCounts::default(),
            checkpoint_saved: false,
            errors: vec![error],
            replay: None,
        }
    }
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
