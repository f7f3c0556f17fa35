//! The summary's first lines: what happened and what, if anything, the owner should do, in
//! one or two sentences above everything else. A person who reads nothing more knows
//! whether to act: "Receiver `https://ci.example.test …3f9a` is still down: 460 events held
//! back, 3 attempts spent; the next run tries again at GitHub's pace."

use std::fmt::Write as _;

use super::receivers::{ReceiverView, capitalized};
use super::table::short_time;
use crate::report::{ReceiverVerdict, RunReport, rfc3339};

/// How loud a finding is: GitHub's alert boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tone {
    /// Something was lost or failed: a person must act.
    Caution,
    /// Something is wrong, and the tool handles it: a person may want to look.
    Warning,
    /// All is well, or nothing is known yet.
    Note,
}

/// One sentence of the verdict: what happened (shown bold), then what to do.
#[derive(Debug)]
struct Finding {
    tone: Tone,
    headline: String,
    advice: String,
}

impl Finding {
    fn new(tone: Tone, headline: String, advice: impl Into<String>) -> Self {
        Self {
            tone,
            headline,
            advice: advice.into(),
        }
    }
}

/// The sentences shown: the most urgent findings.
const SHOWN: usize = 2;

/// Writes the verdict: a GitHub alert of the most urgent finding's tone, with the most
/// urgent one or two findings, one a line.
pub(crate) fn write_verdict(report: &RunReport, views: &[ReceiverView], md: &mut String) {
    let mut findings: Vec<Finding> = [
        stopped(report),
        failed(report),
        given_up(report),
        expired(report),
        down(views),
        refused(report),
        delayed(views),
    ]
    .into_iter()
    .flatten()
    .collect();
    findings.extend(progress(report, views));
    if findings.is_empty() {
        findings.push(nothing_to_do(report));
    }
    // Stable: among equals, the order above.
    findings.sort_by_key(|finding| finding.tone);
    let Some(first) = findings.first() else {
        return;
    };
    let tone = match first.tone {
        Tone::Caution => "CAUTION",
        Tone::Warning => "WARNING",
        Tone::Note => "NOTE",
    };
    let _ = writeln!(md, "> [!{tone}]");
    for finding in findings.iter().take(SHOWN) {
        if finding.advice.is_empty() {
            let _ = writeln!(md, "> **{}.**", finding.headline);
        } else {
            let _ = writeln!(md, "> **{}**: {}.", finding.headline, finding.advice);
        }
    }
    md.push('\n');
}

/// `1 event`, `460 events`.
pub(crate) fn count(n: usize, what: &str) -> String {
    count_of(n, what, &format!("{what}s"))
}

/// `1 redelivery`, `3 redeliveries`.
pub(crate) fn count_of(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn stopped(report: &RunReport) -> Option<Finding> {
    report.hooks.is_empty().then(|| {
        Finding::new(
            Tone::Caution,
            "The run stopped before it scanned any deliveries".to_owned(),
            "nothing was redelivered and failing events were not counted; the errors below say why",
        )
    })
}

fn failed(report: &RunReport) -> Option<Finding> {
    if report.hooks.is_empty() || report.errors.is_empty() {
        return None;
    }
    let failed = report.hooks.iter().filter(|h| h.error.is_some()).count();
    let headline = if failed == 0 {
        format!("The run ended with {}", count(report.errors.len(), "error"))
    } else {
        format!(
            "The run failed for {failed} of {}",
            count(report.hooks.len(), "hook")
        )
    };
    let advice = if report.checkpoint_saved {
        "what failed keeps its checkpoint, and the next run tries again; the errors below say why"
    } else {
        "the checkpoint was not saved, so the next run starts where this one did; the errors below say why"
    };
    Some(Finding::new(Tone::Caution, headline, advice))
}

fn given_up(report: &RunReport) -> Option<Finding> {
    let oldest = report
        .hooks
        .iter()
        .flat_map(|hook| &hook.found.given_up)
        .map(|event| event.first_failed_at)
        .min()?;
    Some(Finding::new(
        Tone::Caution,
        format!(
            "{} given up after {} attempts",
            count(report.given_up_count(), "event"),
            report.max_attempts
        ),
        format!(
            "fix the receiver, then replay them with the input `replay-since: {}`",
            rfc3339(oldest)
        ),
    ))
}

fn expired(report: &RunReport) -> Option<Finding> {
    let expired: Vec<&str> = report
        .hooks
        .iter()
        .filter(|hook| hook.checkpoint_expired)
        .map(|hook| hook.hook.as_str())
        .collect();
    let whose = match expired.as_slice() {
        [] => return None,
        [one] => format!("`{one}`"),
        many => count(many.len(), "hook"),
    };
    Some(Finding::new(
        Tone::Caution,
        format!("The checkpoint of {whose} was older than GitHub keeps deliveries"),
        "failed events from that gap are lost; run this job more often than the retention",
    ))
}

fn down(views: &[ReceiverView]) -> Option<Finding> {
    let down: Vec<&ReceiverView> = views
        .iter()
        .filter(|view| view.state == ReceiverVerdict::Down)
        .collect();
    let subject = match down.as_slice() {
        [] => return None,
        [one] => format!("{} is still down", one.subject()),
        many => format!("{} receivers are still down ({})", many.len(), names(many)),
    };
    let held: usize = down.iter().map(|view| view.held_back()).sum();
    let spent: usize = down.iter().map(|view| view.spent_while_down()).sum();
    let spent = match spent {
        0 => "no attempt spent".to_owned(),
        n => format!("{} spent", count(n, "attempt")),
    };
    Some(Finding::new(
        Tone::Warning,
        subject,
        format!(
            "{} held back, {spent}; the next run tries again at GitHub's pace",
            count(held, "event")
        ),
    ))
}

/// The first two receivers' names, and how many more.
fn names(views: &[&ReceiverView]) -> String {
    let mut shown: Vec<String> = views.iter().take(2).map(|view| view.cell()).collect();
    if views.len() > 2 {
        shown.push(format!("{} more", views.len() - 2));
    }
    shown.join(", ")
}

fn refused(report: &RunReport) -> Option<Finding> {
    let refused: usize = report.hooks.iter().map(|hook| hook.refused.len()).sum();
    (refused > 0).then(|| {
        Finding::new(
            Tone::Warning,
            format!(
                "GitHub refused {}",
                count_of(refused, "redelivery", "redeliveries")
            ),
            "the next run tries them again, and each refusal counts as an attempt",
        )
    })
}

fn delayed(views: &[ReceiverView]) -> Option<Finding> {
    let delayed: Vec<&ReceiverView> = views
        .iter()
        .filter(|view| view.state == ReceiverVerdict::ResultsDelayed)
        .collect();
    if delayed.is_empty() {
        return None;
    }
    let held: usize = delayed.iter().map(|view| view.held_back()).sum();
    Some(Finding::new(
        Tone::Note,
        format!(
            "GitHub has not listed the canaries' results for {} yet",
            names(&delayed)
        ),
        format!(
            "{} held back; the receiver is not known to be down, and the next run goes on once GitHub lists them",
            count(held, "event")
        ),
    ))
}

/// What was delivered: to receivers back after an outage, or to the others (a down
/// receiver's canaries are not progress).
fn progress(report: &RunReport, views: &[ReceiverView]) -> Vec<Finding> {
    let back: Vec<&ReceiverView> = views.iter().filter(|view| view.is_back()).collect();
    let canaries: usize = views
        .iter()
        .filter(|view| view.state == ReceiverVerdict::Down)
        .map(|view| view.redelivered())
        .sum();
    let redelivered = report.redelivered_count().saturating_sub(canaries);
    let left = report.deferred_count()
        + report.held_back_count()
        + report.too_old_count()
        + report.filtered_count();
    let mut findings = Vec::new();
    if report.dry_run && redelivered > 0 {
        findings.push(Finding::new(
            Tone::Note,
            format!(
                "Dry run: {} would be redelivered",
                count(redelivered, "event")
            ),
            "nothing was sent; run without `dry-run` to send them",
        ));
    } else if !back.is_empty() {
        findings.push(back_finding(&back, left));
    } else if redelivered > 0 {
        let headline = if left + report.given_up_count() == 0 {
            format!("All {} redelivered", count(redelivered, "failed event"))
        } else {
            format!("{} redelivered", count(redelivered, "event"))
        };
        let advice: Vec<String> = [
            (report.deferred_count(), "left for the next run"),
            (report.too_old_count(), "too old (`max-age`)"),
            (report.filtered_count(), "filtered out"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        findings.push(Finding::new(Tone::Note, headline, advice.join(", ")));
    }
    findings
}

/// Receivers back after an outage: what they were sent.
fn back_finding(back: &[&ReceiverView], left: usize) -> Finding {
    let redelivered: usize = back.iter().map(|view| view.redelivered()).sum();
    let sum = |count: &dyn Fn(&ReceiverView) -> usize| -> usize {
        back.iter().map(|view| count(view)).sum()
    };
    let not_delivered: Vec<String> = [
        (sum(&|view| view.given_up()), "given up"),
        (sum(&|view| view.held_back()), "held back"),
        (sum(&|view| view.left_for_later()), "left for the next run"),
        (sum(&|view| view.too_old()), "too old (`max-age`)"),
        (sum(&|view| view.filtered()), "filtered out"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let whose = match back {
        [one] => format!("receiver {} back", one.cell()),
        many => format!("{} receivers back ({})", many.len(), names(many)),
    };
    if not_delivered.is_empty() {
        let all = if left == 0 { "All " } else { "" };
        Finding::new(
            Tone::Note,
            format!(
                "{all}{} redelivered, {whose}",
                count(redelivered, "failed event")
            ),
            "",
        )
    } else {
        Finding::new(
            Tone::Note,
            format!(
                "{}: {} redelivered",
                capitalized(&whose),
                count(redelivered, "event")
            ),
            not_delivered.join(", "),
        )
    }
}

fn nothing_to_do(report: &RunReport) -> Finding {
    let pending = report.pending_count();
    if pending > 0 {
        return Finding::new(
            Tone::Note,
            "Nothing to redeliver".to_owned(),
            format!(
                "{} pending: GitHub has not listed their results yet, and the next run looks again",
                count_of(pending, "redelivery", "redeliveries")
            ),
        );
    }
    let since = report
        .since()
        .map(|at| format!(" since {} UTC", short_time(at)))
        .unwrap_or_default();
    let advice = match report.failed_count() {
        0 => format!("no delivery failed{since}"),
        failing => format!(
            "{} failing{since}, none to send now (filtered out, too old, pending or given up before)",
            count(failing, "event")
        ),
    };
    Finding::new(Tone::Note, "Nothing to redeliver".to_owned(), advice)
}
