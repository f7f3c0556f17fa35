//! The summary's lists of events. Given-up and refused events need a person, so their first
//! rows are shown; every other list (redelivered, held back, pending, left for later, too
//! old, filtered out) is folded into a `<details>` block with its count on its one line.

use super::table::{Align, Table, close_details, open_details, short_time};
use super::verdict::count;
use crate::domain::plan::EventSummary;
use crate::report::{HookReport, RunReport, cell, code};

/// Rows per list: the summary must stay well under 1 MiB.
const MAX_ROWS: usize = 300;

/// Rows of a list that needs a person shown unfolded; the rest of it is folded.
const MAX_VISIBLE_ROWS: usize = 10;

/// An event of a hook, with a note.
type Row<'a> = (&'a str, &'a EventSummary, String);

/// Writes every list that has events.
pub(crate) fn write_events(report: &RunReport, md: &mut String) {
    let given_up = rows(report, |hook| {
        with_note(&hook.found.given_up, "never retried by the schedule")
    });
    visible_list(
        md,
        &format!("Given up after {} attempts", report.max_attempts),
        &given_up,
    );
    let refused = rows(report, |hook| {
        hook.refused
            .iter()
            .map(|r| (&r.event, r.reason.clone()))
            .collect()
    });
    visible_list(md, "Refused by GitHub", &refused);
    let redelivered = rows(report, |hook| {
        hook.redelivered
            .iter()
            .map(|r| {
                (
                    &r.event,
                    format!("attempt {} of {}", r.attempt, report.max_attempts),
                )
            })
            .collect()
    });
    let heading = if report.dry_run {
        "Would redeliver"
    } else {
        "Redelivered"
    };
    folded_list(md, heading, &redelivered);
    let plain: [(&str, EventList); 5] = [
        (
            "Held back: the receiver is still down, or its results are not listed yet",
            |hook| &hook.held_back,
        ),
        ("Pending: redelivered, result not listed yet", |hook| {
            &hook.found.pending
        }),
        ("Left for the next run", |hook| &hook.found.deferred),
        ("Too old to redeliver (<code>max-age</code>)", |hook| {
            &hook.found.too_old
        }),
        (
            "Filtered out by <code>events</code> / <code>exclude-events</code>",
            |hook| &hook.found.filtered,
        ),
    ];
    for (heading, list) in plain {
        folded_list(md, heading, &rows(report, |hook| with_note(list(hook), "")));
    }
}

/// Chooses one list of events of a hook's report.
type EventList = fn(&HookReport) -> &[EventSummary];

/// The rows of every hook, `events` choosing each hook's (event, note) pairs.
fn rows<'a>(
    report: &'a RunReport,
    events: impl Fn(&'a HookReport) -> Vec<(&'a EventSummary, String)>,
) -> Vec<Row<'a>> {
    report
        .hooks
        .iter()
        .flat_map(|hook| {
            events(hook)
                .into_iter()
                .map(move |(event, note)| (hook.hook.as_str(), event, note))
        })
        .collect()
}

/// The same note on every event of `events`.
fn with_note<'a>(events: &'a [EventSummary], note: &str) -> Vec<(&'a EventSummary, String)> {
    events
        .iter()
        .map(|event| (event, note.to_owned()))
        .collect()
}

/// A list a person must see: a heading, its first rows, the rest folded.
fn visible_list(md: &mut String, heading: &str, events: &[Row]) {
    if events.is_empty() {
        return;
    }
    md.push_str(&format!(
        "### {heading}: {}\n\n",
        count(events.len(), "event")
    ));
    let shown = events.len().min(MAX_VISIBLE_ROWS);
    event_table(&events[..shown]).write(md);
    if events.len() > shown {
        open_details(
            md,
            &format!("The other {}", count(events.len() - shown, "event")),
        );
        event_table(&events[shown..events.len().min(MAX_ROWS)]).write(md);
        more(md, events.len());
        close_details(md);
    }
}

/// A list folded whole, its heading and count on the block's one line.
fn folded_list(md: &mut String, heading: &str, events: &[Row]) {
    if events.is_empty() {
        return;
    }
    open_details(
        md,
        &format!("<b>{heading}</b>: {}", count(events.len(), "event")),
    );
    event_table(&events[..events.len().min(MAX_ROWS)]).write(md);
    more(md, events.len());
    close_details(md);
}

fn more(md: &mut String, total: usize) {
    if total > MAX_ROWS {
        md.push_str(&format!(
            "… and {} more (the `report` output has each).\n\n",
            total - MAX_ROWS
        ));
    }
}

fn event_table(events: &[Row]) -> Table {
    let mut table = Table::new(&[
        ("Hook", Align::Left),
        ("Event", Align::Left),
        ("Action", Align::Left),
        ("GUID", Align::Left),
        ("First failure", Align::Left),
        ("First failed (UTC)", Align::Left),
        ("Note", Align::Left),
    ]);
    for (hook, event, note) in events {
        table.row(vec![
            format!("`{hook}`"),
            cell(&event.event),
            cell(event.action.as_deref().unwrap_or("")),
            code(&event.guid),
            cell(&event.first_failure_status),
            short_time(event.first_failed_at),
            cell(note),
        ]);
    }
    table
}
