//! The run seen the way an operator thinks: by receiver (the URL hooks deliver to), the
//! unit of health. Each receiver gathers its hooks; its state and counts come from the
//! run's [`ReceiverReport`] when there is one, else from its hooks' own findings (a hook
//! whose receiver was not read is a receiver of its own, named by the hook).

use super::table::{Align, Table, close_details, open_details, short_time, unbroken};
use crate::domain::receiver::Receiver;
use crate::report::{HookReport, ReceiverReport, ReceiverVerdict, RunReport, code};

/// One receiver and its hooks in this run.
#[derive(Debug)]
pub(crate) struct ReceiverView<'a> {
    /// Its shown form (scheme, host and fingerprint; or "the receiver of `hook`").
    pub name: String,
    /// What the run found of it, when the run judged receivers.
    pub report: Option<&'a ReceiverReport>,
    pub hooks: Vec<&'a HookReport>,
    pub state: ReceiverVerdict,
}

impl<'a> ReceiverView<'a> {
    /// Down in the previous run, answering in this one.
    pub fn is_back(&self) -> bool {
        self.report.is_some_and(ReceiverReport::is_back)
    }

    fn sum(&self, count: impl Fn(&HookReport) -> usize) -> usize {
        self.hooks.iter().map(|hook| count(hook)).sum()
    }

    pub fn failing(&self) -> usize {
        self.sum(|hook| hook.found.failing)
    }

    pub fn redelivered(&self) -> usize {
        self.report.map_or_else(
            || self.sum(|hook| hook.redelivered.len()),
            |report| report.redelivered,
        )
    }

    pub fn held_back(&self) -> usize {
        self.report.map_or_else(
            || self.sum(|hook| hook.held_back.len()),
            |report| report.held_back,
        )
    }

    /// Redeliveries spent on it while it was down: its canaries.
    pub fn spent_while_down(&self) -> usize {
        match self.report {
            Some(report) => report.spent_while_down,
            None => self.sum(|hook| {
                if hook.receiver_down {
                    hook.redelivered.len()
                } else {
                    0
                }
            }),
        }
    }

    pub fn pending(&self) -> usize {
        self.report.map_or_else(
            || self.sum(|hook| hook.found.pending.len() + hook.awaiting_results),
            |report| report.pending,
        )
    }

    pub fn given_up(&self) -> usize {
        self.sum(|hook| hook.found.given_up.len())
    }

    /// Failing events older than `max-age`: not sent.
    pub fn too_old(&self) -> usize {
        self.sum(|hook| hook.found.too_old.len())
    }

    /// Failing events the event filters leave alone.
    pub fn filtered(&self) -> usize {
        self.sum(|hook| hook.found.filtered.len())
    }

    pub fn left_for_later(&self) -> usize {
        self.sum(|hook| hook.found.deferred.len() + hook.refused.len())
    }

    /// Its name in a sentence: `Receiver `https://ci.example.test …3f9a``, or `The receiver
    /// of `app`` for a hook whose URL was not read.
    pub fn subject(&self) -> String {
        if self.name.contains('`') {
            capitalized(&self.name)
        } else {
            format!("Receiver {}", code(&self.name))
        }
    }

    /// Its name after a verb.
    pub fn cell(&self) -> String {
        if self.name.contains('`') {
            self.name.clone()
        } else {
            code(&self.name)
        }
    }

    /// Its name in a table cell: on one line (no break at the space before the fingerprint,
    /// nor after its ellipsis).
    pub fn table_cell(&self) -> String {
        unbroken(&self.cell())
    }

    /// The state as the receivers table says it.
    fn state_text(&self) -> String {
        let since = self
            .report
            .and_then(|report| report.down_since)
            .map(|at| format!(" since {}", short_time(at)))
            .unwrap_or_default();
        match self.state {
            ReceiverVerdict::Down => format!("**down**{since}"),
            ReceiverVerdict::Up if self.is_back() => "**back** (was down)".to_owned(),
            ReceiverVerdict::Up => "up".to_owned(),
            ReceiverVerdict::ResultsDelayed => "results delayed".to_owned(),
            ReceiverVerdict::Unchecked => "not checked".to_owned(),
        }
    }
}

/// `The receiver of …` from `the receiver of …`.
pub(crate) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The receiver a hook delivers to, as shown.
pub(crate) fn receiver_of(hook: &HookReport) -> String {
    hook.receiver
        .clone()
        .unwrap_or_else(|| Receiver::of_hook(&hook.hook).shown().to_owned())
}

/// What a hook's own findings say of its receiver, when they say anything.
pub(crate) fn hook_verdict(hook: &HookReport) -> Option<ReceiverVerdict> {
    if hook.receiver_down {
        Some(ReceiverVerdict::Down)
    } else if hook.results_delayed {
        Some(ReceiverVerdict::ResultsDelayed)
    } else {
        None
    }
}

/// Every receiver of the run: those the run judged first, in their order, then those only
/// its hooks name, in the order of the hooks.
pub(crate) fn receiver_views(report: &RunReport) -> Vec<ReceiverView<'_>> {
    let mut views: Vec<ReceiverView> = report
        .receivers
        .iter()
        .map(|receiver| ReceiverView {
            name: receiver.receiver.clone(),
            report: Some(receiver),
            hooks: Vec::new(),
            state: receiver.state,
        })
        .collect();
    for hook in &report.hooks {
        let name = receiver_of(hook);
        match views.iter_mut().find(|view| view.name == name) {
            Some(view) => view.hooks.push(hook),
            None => views.push(ReceiverView {
                name,
                report: None,
                hooks: vec![hook],
                state: ReceiverVerdict::Unchecked,
            }),
        }
    }
    for view in views.iter_mut().filter(|view| view.report.is_none()) {
        view.state = derived_verdict(&view.hooks);
    }
    views
}

/// A receiver's state from its hooks: down when one found it down, delayed when one waited
/// in vain for results, up when one redelivered to it, else not judged.
fn derived_verdict(hooks: &[&HookReport]) -> ReceiverVerdict {
    let verdicts: Vec<ReceiverVerdict> = hooks.iter().filter_map(|h| hook_verdict(h)).collect();
    if verdicts.contains(&ReceiverVerdict::Down) {
        ReceiverVerdict::Down
    } else if verdicts.contains(&ReceiverVerdict::ResultsDelayed) {
        ReceiverVerdict::ResultsDelayed
    } else if hooks.iter().any(|hook| !hook.redelivered.is_empty()) {
        ReceiverVerdict::Up
    } else {
        ReceiverVerdict::Unchecked
    }
}

/// Rows of the receivers table shown; the others are folded.
pub(crate) const MAX_VISIBLE_RECEIVERS: usize = 20;

/// Rows of the receivers table in all: the others are counted.
const MAX_RECEIVER_ROWS: usize = 300;

/// The table per receiver: its state, hooks and counts, those that need a person first (at
/// most [`MAX_VISIBLE_RECEIVERS`] shown, the rest folded). Only when the run knows its
/// receivers ([`receivers_known`]).
pub(crate) fn receivers_table(report: &RunReport, views: &[ReceiverView], md: &mut String) {
    if !receivers_known(report) || views.is_empty() {
        return;
    }
    // Those that need a person first: down, delayed, with given-up events.
    let mut ordered: Vec<&ReceiverView> = views.iter().collect();
    ordered.sort_by_key(|view| {
        (
            view.state != ReceiverVerdict::Down,
            view.given_up() == 0,
            view.state != ReceiverVerdict::ResultsDelayed,
        )
    });
    md.push_str("### Receivers\n\n");
    let shown = ordered.len().min(MAX_VISIBLE_RECEIVERS);
    receiver_rows(report, &ordered[..shown]).write(md);
    if ordered.len() > shown {
        let rest = &ordered[shown..ordered.len().min(MAX_RECEIVER_ROWS)];
        open_details(
            md,
            &format!("The other {} receivers", ordered.len() - shown),
        );
        receiver_rows(report, rest).write(md);
        if ordered.len() > MAX_RECEIVER_ROWS {
            md.push_str(&format!(
                "… and {} more (the `report` output has each).\n\n",
                ordered.len() - MAX_RECEIVER_ROWS
            ));
        }
        close_details(md);
    }
}

/// The run judged its receivers, or read its hooks' URLs: otherwise each hook is a receiver
/// of its own, and the hooks table says it all.
pub(crate) fn receivers_known(report: &RunReport) -> bool {
    !report.receivers.is_empty() || report.hooks.iter().any(|hook| hook.receiver.is_some())
}

fn receiver_rows(report: &RunReport, views: &[&ReceiverView]) -> Table {
    let mut table = Table::new(&[
        ("Receiver", Align::Left),
        ("State", Align::Left),
        ("Hooks", Align::Right),
        ("Events failing", Align::Right),
        (redelivered_header(report.dry_run), Align::Right),
        ("Held back", Align::Right),
        ("Attempts spent while down", Align::Right),
        ("Pending", Align::Right),
        ("Given up", Align::Right),
        ("Left for later", Align::Right),
    ]);
    for view in views {
        table.row(vec![
            view.table_cell(),
            view.state_text(),
            view.report
                .map_or(view.hooks.len(), |report| report.hooks)
                .to_string(),
            view.failing().to_string(),
            view.redelivered().to_string(),
            view.held_back().to_string(),
            view.spent_while_down().to_string(),
            view.pending().to_string(),
            view.given_up().to_string(),
            view.left_for_later().to_string(),
        ]);
    }
    table
}

pub(crate) fn redelivered_header(dry_run: bool) -> &'static str {
    if dry_run {
        "Would redeliver"
    } else {
        "Redelivered"
    }
}
