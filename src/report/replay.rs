//! What a replay tells (issue 29): what it selected, by hook, event and cause with the
//! oldest and newest original failure (a dry run's estimate), what it sent, and what became
//! of it by the end of the run (delivered, failed again, not listed yet). The job summary
//! gets a compact section ([`write_section`]); the `replay` output is this as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{HookReport, RunReport, cell, code, rfc3339};
use crate::domain::plan::EventSummary;
use crate::domain::replay::ReplayScope;

/// Hooks named in `by_hook`; the others are counted in `other_hooks`, so that a fleet's
/// replay stays a small output.
pub const MAX_HOOKS_NAMED: usize = 100;

/// A replay, as the run tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The window of original failures it replayed.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_events: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    pub dry_run: bool,
    /// Events it selected: sent, refused or not taken by GitHub, held back or left for
    /// later (in a dry run: to send).
    pub selected: usize,
    pub by_hook: BTreeMap<String, usize>,
    /// Hooks with selected events beyond the [`MAX_HOOKS_NAMED`] named.
    #[serde(skip_serializing_if = "is_zero")]
    pub other_hooks: usize,
    pub by_event: BTreeMap<String, usize>,
    pub by_cause: BTreeMap<String, usize>,
    /// The oldest and newest original failure selected.
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    /// In the window and its filters, but an earlier run's or replay's redelivery of them is
    /// pending: not sent again.
    pub pending: usize,
    /// Redeliveries GitHub accepted (in a dry run: that it would be asked for).
    pub redelivered: usize,
    /// Redeliveries GitHub refused.
    pub refused: usize,
    /// Selected but not sent: the receiver still fails, the time budget ended, GitHub did
    /// not take the redelivery, a hook failed.
    pub not_sent: usize,
    pub receiver_down: bool,
    /// What became of the redeliveries by the end of the run; none in a dry run.
    pub results: Option<ReplayResults>,
}

/// What became of a replay's redeliveries, as the list showed at the end of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayResults {
    pub delivered: usize,
    pub failed_again: usize,
    /// GitHub had not listed the result yet: the next run (or the list) tells.
    pub not_listed: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl ReplayReport {
    /// Counts what the hooks' reports hold of a replay of `scope`: what each selected (sent,
    /// refused, held back, left for later; a dry run's "would redeliver"), by hook, event
    /// and original cause. The results are the caller's, once it has looked.
    pub fn tally(scope: &ReplayScope, hooks: &[HookReport], dry_run: bool) -> ReplayReport {
        let words = |patterns: &[crate::domain::filter::EventPattern]| {
            patterns.iter().map(ToString::to_string).collect()
        };
        let mut report = ReplayReport {
            since: scope.since,
            until: scope.until,
            events: words(&scope.filter.include),
            exclude_events: words(&scope.filter.exclude),
            causes: scope.causes.iter().map(ToString::to_string).collect(),
            dry_run,
            selected: 0,
            by_hook: BTreeMap::new(),
            other_hooks: 0,
            by_event: BTreeMap::new(),
            by_cause: BTreeMap::new(),
            oldest: None,
            newest: None,
            pending: 0,
            redelivered: 0,
            refused: 0,
            not_sent: 0,
            receiver_down: false,
            results: None,
        };
        for hook in hooks {
            report.add(hook);
        }
        report
    }

    fn add(&mut self, hook: &HookReport) {
        let sent = hook.redelivered.iter().map(|event| &event.event);
        let refused = hook.refused.iter().map(|event| &event.event);
        let not_taken = hook.not_taken.iter().map(|event| &event.event);
        let not_sent = hook.held_back.iter().chain(&hook.found.deferred);
        let selected: Vec<&EventSummary> = sent
            .chain(refused)
            .chain(not_taken)
            .chain(not_sent)
            .collect();
        self.pending += hook.found.pending.len();
        self.receiver_down |= hook.receiver_down;
        self.redelivered += hook.redelivered.len();
        self.refused += hook.refused.len();
        self.not_sent += hook.held_back.len() + hook.found.deferred.len() + hook.not_taken.len();
        if selected.is_empty() {
            return;
        }
        self.selected += selected.len();
        if self.by_hook.len() < MAX_HOOKS_NAMED {
            self.by_hook.insert(hook.hook.clone(), selected.len());
        } else {
            self.other_hooks += 1;
        }
        for event in selected {
            *self.by_event.entry(event.event.clone()).or_default() += 1;
            *self
                .by_cause
                .entry(event.first_failure_cause.clone())
                .or_default() += 1;
            let at = Some(event.first_failed_at);
            self.oldest = self.oldest.min(at).or(at);
            self.newest = self.newest.max(at);
        }
    }
}

/// The job summary's replay section: the window and filters, what it selected (the
/// estimate of a dry run) and what became of it. For a scheduled run, one line when it left
/// events to an earlier replay; nothing otherwise.
pub fn write_section(report: &RunReport, md: &mut String) {
    let Some(replay) = &report.replay else {
        let left: usize = report
            .hooks
            .iter()
            .map(|hook| hook.found.replayed_before)
            .sum();
        if left > 0 {
            let _ = writeln!(
                md,
                "{left} failing event(s) were sent by an earlier replay: left to it, neither sent again nor given up.\n"
            );
        }
        return;
    };
    let title = if replay.dry_run {
        "Replay (dry run: nothing was sent)"
    } else {
        "Replay"
    };
    let _ = writeln!(md, "### {title}\n");
    let list = |words: &[String]| {
        words
            .iter()
            .map(|word| code(word))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut scope = format!(
        "Original failures from {} to {}",
        rfc3339(replay.since),
        rfc3339(replay.until)
    );
    for (name, words) in [
        ("events", &replay.events),
        ("except", &replay.exclude_events),
        ("causes", &replay.causes),
    ] {
        if !words.is_empty() {
            let _ = write!(scope, "; {name} {}", list(words));
        }
    }
    let _ = writeln!(md, "{scope}.\n");
    write_outcome(replay, md);
    if replay.selected > 0 {
        write_tally(replay, md);
    }
}

/// What was selected and what became of it, in a sentence or two.
fn write_outcome(replay: &ReplayReport, md: &mut String) {
    let span = match (replay.oldest, replay.newest) {
        (Some(oldest), Some(newest)) => {
            format!(", first failed {} to {}", rfc3339(oldest), rfc3339(newest))
        }
        _ => String::new(),
    };
    if replay.dry_run {
        let _ = write!(md, "Would send **{}** event(s){span}.", replay.redelivered);
        if replay.not_sent > 0 {
            let _ = write!(
                md,
                " {} more over `max-redeliveries`, for another replay.",
                replay.not_sent
            );
        }
    } else {
        let _ = write!(md, "Selected **{}** event(s){span}.", replay.selected);
    }
    if replay.pending > 0 {
        let _ = write!(
            md,
            " {} more pending from an earlier run or replay: not sent again.",
            replay.pending
        );
    }
    md.push_str("\n\n");
    if let Some(results) = &replay.results {
        let _ = writeln!(
            md,
            "Sent **{}**: **{}** delivered, **{}** failed again, **{}** not listed yet. GitHub refused {}; {} not sent.\n",
            replay.redelivered,
            results.delivered,
            results.failed_again,
            results.not_listed,
            replay.refused,
            replay.not_sent
        );
    }
    if replay.receiver_down {
        let _ = writeln!(
            md,
            "> [!WARNING]\n> The receiver still fails (down, or rejecting what it rejected): the replay sent its canaries only and held {} event(s) back. Run the replay again once it takes them.\n",
            replay.not_sent
        );
    }
}

/// The counts by hook, event and cause.
fn write_tally(replay: &ReplayReport, md: &mut String) {
    let _ = writeln!(md, "| By | | Events |\n|---|---|---:|");
    for (hook, count) in &replay.by_hook {
        let _ = writeln!(md, "| hook | {} | {count} |", code(hook));
    }
    if replay.other_hooks > 0 {
        let _ = writeln!(md, "| hook | … {} more | |", replay.other_hooks);
    }
    for (event, count) in &replay.by_event {
        let _ = writeln!(md, "| event | {} | {count} |", cell(event));
    }
    for (cause, count) in &replay.by_cause {
        let _ = writeln!(md, "| cause | {} | {count} |", cell(cause));
    }
    md.push('\n');
}
