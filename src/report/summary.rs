//! The job summary (`$GITHUB_STEP_SUMMARY`), in Markdown: a table per hook (one row for the
//! quiet ones), alerts, a section per kind of event, delivery health, errors, requests.
//! Text from GitHub goes through [`super::cell`] or [`super::code`]: it cannot dress up
//! the summary.

use std::fmt::Write as _;

use super::outputs::MAX_ERRORS_SHOWN;
use super::{HookReport, RunReport, cell, code, rfc3339};
use crate::domain::plan::EventSummary;

impl RunReport {
    /// The job summary, in Markdown: the table per hook, alerts, delivery health (chart,
    /// figures, failure causes), a section per kind of event, errors, and the requests made.
    pub fn summary_markdown(&self) -> String {
        let mut md = String::new();
        self.summary_table(&mut md);
        self.summary_fleets(&mut md);
        self.summary_alerts(&mut md);
        crate::report::health::write_section(self, &mut md);
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
                quiet.iter().map(|hook| hook.found.scanned).sum::<usize>(),
                quiet.iter().map(|hook| hook.found.failing).sum::<usize>(),
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
                hook.found.pending.len() + hook.awaiting_results,
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
            self.rows(|hook| with_note(&hook.found.given_up, "never retried again")),
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
                &hook.found.pending
            }),
            ("Left for the next run", |hook| &hook.found.deferred),
            ("Too old to redeliver (`max-age`)", |hook| {
                &hook.found.too_old
            }),
            ("Filtered out by `events` / `exclude-events`", |hook| {
                &hook.found.filtered
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

/// GitHub takes at most 1 MiB of job summary per step; past this the summary is cut at a
/// line, and says so.
const MAX_SUMMARY_BYTES: usize = 1024 * 1024 - 16 * 1024;

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
        hook.found.scanned,
        hook.found.failing,
        hook.redelivered.len(),
        hook.found.given_up.len(),
        hook.found.filtered.len(),
        hook.held_back.len(),
        hook.found.deferred.len() + hook.refused.len(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
