//! The hooks table. In a run of a few hooks each has its row; at fleet size a hook is shown
//! on its own only when it needs a person beyond its receiver's row (events given up or
//! refused, an error, an expired checkpoint, a listing not finished, or a state that differs
//! from its receiver's). The rest, quiet or busy alike, are folded into a `<details>` block.

use std::fmt::Write as _;

use super::receivers::{ReceiverView, hook_verdict, receiver_of, redelivered_header};
use super::table::{Align, Table, close_details, open_details, short_time, unbroken};
use super::verdict::count;
use crate::report::{HookReport, ReceiverVerdict, RunReport, cell, code};

/// Up to this many hooks, every hook has a visible row.
pub(crate) const SMALL_RUN: usize = 5;

/// Visible rows of hooks that need a person; the others of them are folded.
const MAX_VISIBLE_ROWS: usize = 30;

/// Rows of a folded table of hooks: the summary must stay well under 1 MiB.
const MAX_FOLDED_ROWS: usize = 300;

/// Characters of a hook's error shown in its row (the errors section has it whole).
const ERROR_SHOWN: usize = 160;

/// Writes the hooks section.
pub(crate) fn write_hooks(report: &RunReport, views: &[ReceiverView], md: &mut String) {
    if report.hooks.is_empty() {
        return;
    }
    md.push_str("### Hooks\n\n");
    for fleet in &report.fleets {
        let _ = writeln!(
            md,
            "- {}: {} repositories, {} archived (skipped), {} hooks",
            code(&fleet.selector),
            fleet.repositories,
            fleet.archived,
            fleet.hooks
        );
    }
    if !report.fleets.is_empty() {
        md.push('\n');
    }
    // A receiver column only when there are several to tell apart.
    let rows = Rows {
        report,
        receiver: views.len() > 1 && report.hooks.iter().any(|hook| hook.receiver.is_some()),
    };
    if report.hooks.len() <= SMALL_RUN {
        let hooks: Vec<&HookReport> = report.hooks.iter().collect();
        rows.table(&hooks).write(md);
        return;
    }
    let state_of = |hook: &HookReport| {
        let name = receiver_of(hook);
        views
            .iter()
            .find(|view| view.name == name)
            .map_or(ReceiverVerdict::Unchecked, |view| view.state)
    };
    let (attention, others): (Vec<&HookReport>, Vec<&HookReport>) = report
        .hooks
        .iter()
        .partition(|hook| needs_a_person(hook, state_of(hook)));
    if attention.is_empty() {
        md.push_str("No hook needs a look beyond its receiver's row.\n\n");
    } else {
        let shown = attention.len().min(MAX_VISIBLE_ROWS);
        rows.table(&attention[..shown]).write(md);
        if attention.len() > shown {
            let more = &attention[shown..attention.len().min(MAX_FOLDED_ROWS)];
            let title = format!("{} more hooks that need a look", attention.len() - shown);
            open_details(md, &title);
            rows.table(more).write(md);
            close_details(md);
        }
    }
    if !others.is_empty() {
        open_details(md, &others_summary(&others, attention.is_empty()));
        rows.folded(&others).write(md);
        close_details(md);
    }
}

/// A hook that a person should look at on its own, beyond its receiver's row.
fn needs_a_person(hook: &HookReport, receiver: ReceiverVerdict) -> bool {
    let differs = hook_verdict(hook).is_some_and(|verdict| verdict != receiver);
    hook.error.is_some()
        || !hook.found.given_up.is_empty()
        || !hook.refused.is_empty()
        || hook.checkpoint_expired
        || !hook.scan_complete
        || differs
}

/// Nothing to say, nothing pending.
fn is_quiet(hook: &HookReport) -> bool {
    hook.is_quiet() && hook.found.pending.is_empty() && hook.awaiting_results == 0
}

/// What a folded hook did, for the block's one line.
fn kind(hook: &HookReport) -> &'static str {
    if !hook.held_back.is_empty() {
        "held back"
    } else if !hook.redelivered.is_empty() {
        "redelivered"
    } else if !hook.found.pending.is_empty() || hook.awaiting_results > 0 {
        "pending"
    } else if !hook.found.deferred.is_empty() {
        "left for later"
    } else if is_quiet(hook) {
        "quiet"
    } else {
        "too old or filtered out"
    }
}

/// `All 150 hooks: 148 held back, 2 quiet`, or `The other 140 hooks: …`.
fn others_summary(others: &[&HookReport], all: bool) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for hook in others {
        let kind = kind(hook);
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds.sort_by_key(|kind| std::cmp::Reverse(kind.1));
    let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let which = if all { "All" } else { "The other" };
    format!(
        "{which} {}: {}",
        count(others.len(), "hook"),
        parts.join(", ")
    )
}

/// Writes rows of hooks.
struct Rows<'a> {
    report: &'a RunReport,
    /// With a column naming each hook's receiver.
    receiver: bool,
}

impl Rows<'_> {
    /// The folded hooks: a row each (at most [`MAX_FOLDED_ROWS`]), the quiet ones in one row.
    fn folded(&self, hooks: &[&HookReport]) -> Table {
        let (quiet, busy): (Vec<&HookReport>, Vec<&HookReport>) =
            hooks.iter().partition(|hook| is_quiet(hook));
        let mut table = self.table(&busy[..busy.len().min(MAX_FOLDED_ROWS)]);
        if busy.len() > MAX_FOLDED_ROWS {
            table.row(vec![format!(
                "… {} more hooks (the `report` output has each)",
                busy.len() - MAX_FOLDED_ROWS
            )]);
        }
        if !quiet.is_empty() {
            let scanned: usize = quiet.iter().map(|hook| hook.found.scanned).sum();
            let mut row = vec![format!(
                "{}: nothing to redeliver",
                count(quiet.len(), "quiet hook")
            )];
            row.resize(4, String::new());
            row.push(scanned.to_string());
            table.row(row);
        }
        table
    }

    /// A row per hook.
    fn table(&self, hooks: &[&HookReport]) -> Table {
        let mut table = Table::new(&[
            ("Hook", Align::Left),
            ("Receiver", Align::Left),
            ("Note", Align::Left),
            ("Scanned since (UTC)", Align::Left),
            ("Deliveries scanned", Align::Right),
            ("Events failing", Align::Right),
            (redelivered_header(self.report.dry_run), Align::Right),
            ("Given up", Align::Right),
            ("Refused", Align::Right),
            ("Held back", Align::Right),
            ("Pending", Align::Right),
            ("Left for later", Align::Right),
            ("Too old", Align::Right),
            ("Filtered out", Align::Right),
            ("Checkpoint (UTC)", Align::Left),
        ]);
        for hook in hooks {
            let mut row = hook_row(hook);
            if !self.receiver {
                row[1].clear();
            }
            table.row(row);
        }
        table
    }
}

fn hook_row(hook: &HookReport) -> Vec<String> {
    let checkpoint = match (hook.checkpoint, hook.checkpoint_advanced) {
        (Some(at), true) => short_time(at),
        (Some(at), false) => format!("{} (kept)", short_time(at)),
        (None, _) => "none".to_owned(),
    };
    vec![
        format!("`{}`", hook.hook),
        hook.receiver
            .as_deref()
            .map(|receiver| unbroken(&code(receiver)))
            .unwrap_or_default(),
        look(hook),
        short_time(hook.since),
        hook.found.scanned.to_string(),
        hook.found.failing.to_string(),
        hook.redelivered.len().to_string(),
        hook.found.given_up.len().to_string(),
        hook.refused.len().to_string(),
        hook.held_back.len().to_string(),
        (hook.found.pending.len() + hook.awaiting_results).to_string(),
        hook.found.deferred.len().to_string(),
        hook.found.too_old.len().to_string(),
        hook.found.filtered.len().to_string(),
        checkpoint,
    ]
}

/// Why a hook needs a look, in a few words.
fn look(hook: &HookReport) -> String {
    let mut why = Vec::new();
    if let Some(error) = &hook.error {
        let text: String = error.to_string().chars().take(ERROR_SHOWN).collect();
        why.push(format!("error: {}", cell(&text)));
    }
    if hook.checkpoint_expired {
        why.push("checkpoint older than GitHub's retention: events lost".to_owned());
    }
    if !hook.scan_complete && hook.error.is_none() {
        why.push("not scanned to the end".to_owned());
    }
    if hook.receiver_down {
        why.push("receiver down".to_owned());
    }
    if hook.results_delayed {
        why.push("results delayed".to_owned());
    }
    why.join("; ")
}
