//! The job summary's delivery health: figures per hook (per receiver at fleet size), a
//! Mermaid chart of first deliveries and failures per hour ([`crate::report::health`]), and
//! the failure causes by event.
//!
//! Every figure counts **first deliveries** (GitHub's own send of each event; see
//! [`crate::domain::health`]): a redelivery that fails while the receiver is down is not a
//! new failure of its health. Everything comes from the report's [`DeliveryHealth`], which
//! the scan filled at no extra request. The chart's text must parse: `.ci/run` checks it
//! with Mermaid's own parser (`tests/health_chart.rs`).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::hooks::SMALL_RUN;
use super::receivers::{MAX_VISIBLE_RECEIVERS, ReceiverView, receiver_of, receivers_known};
use super::table::{Align, Table, close_details, html_text, open_details, short_time, unbroken};
use crate::domain::health::DeliveryHealth;
use crate::report::health::mermaid_chart;
use crate::report::{HookReport, RunReport, cell, code};

/// Up to this many hooks get a chart each; past it, a chart per receiver up to this many
/// receivers, else one chart for the whole run.
const CHART_PER_HOOK_UP_TO: usize = SMALL_RUN;

/// Rows of the failure causes table.
const MAX_CAUSE_ROWS: usize = 20;

/// Rows of a folded figures table.
const MAX_HOOK_ROWS: usize = 300;

/// Writes the section, or nothing when no hook was scanned.
pub(crate) fn write_section(report: &RunReport, views: &[ReceiverView], md: &mut String) {
    let scanned: Vec<&HookReport> = report
        .hooks
        .iter()
        .filter(|hook| hook.scanned_at.is_some())
        .collect();
    if scanned.is_empty() {
        return;
    }
    let health = report.health();
    let _ = writeln!(md, "### Delivery health\n");
    let _ = writeln!(
        md,
        "Figures of first deliveries (GitHub's own send of each event); redeliveries are not counted{}.\n",
        match health.redeliveries() {
            0 => String::new(),
            n => format!(
                " ({n} in the window, {} of them failed)",
                health.redelivery_failures()
            ),
        }
    );
    if report.hooks.len() <= SMALL_RUN {
        figures_by_hook(&report.hooks.iter().collect::<Vec<_>>(), false).write(md);
        for hook in &scanned {
            if let Some(to) = hook.scanned_at {
                fenced_chart(&hook.hook, &hook.health, hook.since, to, md);
            }
        }
    } else {
        figures_by_receiver(report, views).write(md);
        fleet_charts(&scanned, views, md);
        let failing: Vec<&HookReport> = report
            .hooks
            .iter()
            .filter(|hook| hook.health.failures() > 0 || hook.oldest_open_at.is_some())
            .collect();
        if !failing.is_empty() {
            open_details(
                md,
                &format!("Per hook: {} with failures or an open event", failing.len()),
            );
            let shown = &failing[..failing.len().min(MAX_HOOK_ROWS)];
            figures_by_hook(shown, true).write(md);
            if failing.len() > MAX_HOOK_ROWS {
                let _ = writeln!(md, "… and {} more.\n", failing.len() - MAX_HOOK_ROWS);
            }
            close_details(md);
        }
    }
    causes(&scanned, md);
}

/// A figures table, its first column naming hooks or receivers.
fn figures_table(first: &str) -> Table {
    Table::new(&[
        (first, Align::Left),
        ("First deliveries", Align::Right),
        ("Failed", Align::Right),
        ("Failure share", Align::Right),
        ("Duration p50", Align::Right),
        ("Duration p95", Align::Right),
        ("Oldest open event", Align::Left),
    ])
}

/// A row per hook; with `receiver`, its receiver too.
fn figures_by_hook(hooks: &[&HookReport], fleet: bool) -> Table {
    let mut table = figures_table("Hook");
    for hook in hooks {
        let name = if fleet && hook.receiver.is_some() {
            let receiver = unbroken(&code(&receiver_of(hook)));
            format!("`{}` → {receiver}", hook.hook)
        } else {
            format!("`{}`", hook.hook)
        };
        if hook.scanned_at.is_none() {
            table.row(vec![name, "not scanned to the end".to_owned()]);
            continue;
        }
        table.row(figures_row(name, &hook.health, oldest_open([*hook])));
    }
    table
}

/// A row per receiver with failures or an open event, when the run knows its receivers and
/// they are few, and a total when there is not just one row.
fn figures_by_receiver(report: &RunReport, views: &[ReceiverView]) -> Table {
    let mut table = figures_table("Receiver");
    let mut rows: Vec<&ReceiverView> = views
        .iter()
        .filter(|view| {
            view.hooks
                .iter()
                .any(|hook| hook.health.failures() > 0 || hook.oldest_open_at.is_some())
        })
        .collect();
    if !receivers_known(report) || rows.len() > MAX_VISIBLE_RECEIVERS {
        rows.clear();
    }
    for view in &rows {
        let mut health = DeliveryHealth::new();
        for hook in &view.hooks {
            health.merge(&hook.health);
        }
        let name = format!("{} ({} hooks)", view.table_cell(), view.hooks.len());
        table.row(figures_row(
            name,
            &health,
            oldest_open(view.hooks.iter().copied()),
        ));
    }
    if rows.len() != 1 || views.len() > 1 {
        let name = format!("**All {} hooks**", report.hooks.len());
        table.row(figures_row(
            name,
            &report.health(),
            oldest_open(report.hooks.iter()),
        ));
    }
    table
}

/// The oldest open event over `hooks`: its age as of its scan, and when it first failed.
fn oldest_open<'a>(
    hooks: impl IntoIterator<Item = &'a HookReport>,
) -> Option<(chrono::Duration, DateTime<Utc>)> {
    hooks
        .into_iter()
        .filter_map(|hook| Some((hook.oldest_open_age()?, hook.oldest_open_at?)))
        .max_by_key(|(age, _)| *age)
}

fn figures_row(
    name: String,
    health: &DeliveryHealth,
    oldest: Option<(chrono::Duration, DateTime<Utc>)>,
) -> Vec<String> {
    let duration = |q| {
        health
            .duration_quantile(q)
            .map_or_else(|| "–".to_owned(), format_seconds)
    };
    let oldest = match oldest {
        Some((age, at)) => format!("{} (since {})", format_age(age), short_time(at)),
        None => "none".to_owned(),
    };
    vec![
        name,
        health.deliveries().to_string(),
        health.failures().to_string(),
        format_share(health.failure_rate()),
        duration(0.5),
        duration(0.95),
        oldest,
    ]
}

/// At fleet size: a chart per receiver when there are few, else one for the whole run.
fn fleet_charts(scanned: &[&HookReport], views: &[ReceiverView], md: &mut String) {
    let window = |hooks: &[&HookReport]| {
        let from = hooks.iter().map(|hook| hook.since).min()?;
        let to = hooks.iter().filter_map(|hook| hook.scanned_at).max()?;
        Some((from, to))
    };
    if views.len() <= CHART_PER_HOOK_UP_TO {
        for view in views {
            let hooks: Vec<&HookReport> = view
                .hooks
                .iter()
                .copied()
                .filter(|hook| hook.scanned_at.is_some())
                .collect();
            let mut health = DeliveryHealth::new();
            for hook in &hooks {
                health.merge(&hook.health);
            }
            if let Some((from, to)) = window(&hooks) {
                fenced_chart(&view.name, &health, from, to, md);
            }
        }
    } else if let Some((from, to)) = window(scanned) {
        let mut health = DeliveryHealth::new();
        for hook in scanned {
            health.merge(&hook.health);
        }
        let title = format!("all {} hooks", scanned.len());
        fenced_chart(&title, &health, from, to, md);
    }
}

/// The chart in a fenced `mermaid` block.
fn fenced_chart(
    name: &str,
    health: &DeliveryHealth,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    md: &mut String,
) {
    let _ = writeln!(
        md,
        "```mermaid\n{}```\n",
        mermaid_chart(name, health, from, to)
    );
}

/// The failure causes by event, most first, folded, the main causes on its one line: per
/// hook in a small run, per receiver at fleet size.
fn causes(hooks: &[&HookReport], md: &mut String) {
    let fleet = hooks.len() > SMALL_RUN;
    let mut merged = DeliveryHealth::new();
    let mut rows: Vec<(String, String, String, u64)> = Vec::new();
    for hook in hooks {
        merged.merge(&hook.health);
        let whose = if fleet {
            unbroken(&code(&receiver_of(hook)))
        } else {
            format!("`{}`", hook.hook)
        };
        for (cause, event, count) in hook.health.causes() {
            let (cause, event) = (cell(cause), cell(event));
            match rows
                .iter_mut()
                .find(|row| row.0 == whose && row.1 == cause && row.2 == event)
            {
                Some(row) => row.3 += count,
                None => rows.push((whose.clone(), cause, event, count)),
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let mut totals: Vec<(&str, u64)> = merged.causes_total().into_iter().collect();
    totals.sort_by_key(|total| std::cmp::Reverse(total.1));
    let main: Vec<String> = totals
        .iter()
        .take(3)
        .map(|(cause, n)| format!("{} ({n})", html_text(cause)))
        .collect();
    open_details(md, &format!("<b>Failure causes</b>: {}", main.join(", ")));
    rows.sort_by(|a, b| {
        b.3.cmp(&a.3)
            .then((&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)))
    });
    let mut table = Table::new(&[
        (if fleet { "Receiver" } else { "Hook" }, Align::Left),
        ("Cause", Align::Left),
        ("Event", Align::Left),
        ("Failed first deliveries", Align::Right),
    ]);
    for (whose, cause, event, count) in rows.iter().take(MAX_CAUSE_ROWS) {
        table.row(vec![
            whose.clone(),
            cause.clone(),
            event.clone(),
            count.to_string(),
        ]);
    }
    table.write(md);
    if rows.len() > MAX_CAUSE_ROWS {
        let _ = writeln!(md, "… and {} more.\n", rows.len() - MAX_CAUSE_ROWS);
    }
    close_details(md);
}

/// `12.5 %`; `< 0.1 %` for a few failures among many, so that they do not read as none.
fn format_share(rate: f64) -> String {
    if rate == 0.0 {
        "0 %".to_owned()
    } else if rate < 0.001 {
        "< 0.1 %".to_owned()
    } else {
        format!("{:.1} %", rate * 100.0)
    }
}

/// `500 ms`, `2.5 s`, `10 s`.
fn format_seconds(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else {
        format!("{seconds:.0} s")
    }
}

/// `3h 12m`, to the minute (`45s` under a minute).
pub(crate) fn format_age(age: chrono::Duration) -> String {
    let seconds = age.num_seconds().max(0) as u64;
    let rounded = if seconds < 60 {
        seconds
    } else {
        seconds - seconds % 60
    };
    humantime::format_duration(std::time::Duration::from_secs(rounded)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_a_person_says_them() {
        assert_eq!(format_share(0.125), "12.5 %");
        assert_eq!(format_share(0.0001), "< 0.1 %");
        assert_eq!(format_seconds(0.5), "500 ms");
        assert_eq!(format_seconds(10.0), "10 s");
        assert_eq!(
            format_age(chrono::Duration::seconds(3 * 3600 + 12 * 60 + 5)),
            "3h 12m"
        );
    }
}
