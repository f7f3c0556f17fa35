//! The job summary's delivery health: a table of figures per hook, a Mermaid `xychart-beta`
//! of deliveries and failures per hour, and the failure causes by event.
//!
//! GitHub renders Mermaid in Markdown, job summaries included, so a person sees at a glance
//! when the receiver fell over and when it came back. Everything comes from the report's
//! [`DeliveryHealth`], which the scan filled at no extra request. The chart's text must
//! parse: `.ci/run` checks it with Mermaid's own parser (`tests/health_chart.rs`).
//! <https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/creating-diagrams>

use std::fmt::Write as _;

use chrono::{DateTime, Timelike as _, Utc};

use crate::domain::health::{DeliveryHealth, HourCounts};
use crate::report::{HookReport, RunReport, rfc3339};

/// Up to this many hooks get a chart each; a fleet gets one chart for the whole run (and a
/// table row only for the hooks with failures).
pub const CHART_PER_HOOK_UP_TO: usize = 5;

/// The most points on a chart's x-axis: a longer window is shown in bins of several hours,
/// so that the labels stay legible (a 3-day window: 72 hours in 36 bins of 2 hours).
pub const MAX_POINTS: i64 = 48;

/// Rows of the failure causes table.
const MAX_CAUSE_ROWS: usize = 20;

/// Rows of the figures table at fleet size.
const MAX_HOOK_ROWS: usize = 300;

/// Writes the section, or nothing when no hook was scanned.
pub fn write_section(report: &RunReport, md: &mut String) {
    let scanned: Vec<&HookReport> = report
        .hooks
        .iter()
        .filter(|hook| hook.scanned_at.is_some())
        .collect();
    if scanned.is_empty() {
        return;
    }
    let fleet = report.hooks.len() > CHART_PER_HOOK_UP_TO;
    let _ = writeln!(md, "### Delivery health\n");
    figures_table(report, fleet, md);
    if fleet {
        let health = report.health();
        let from = scanned.iter().map(|hook| hook.since).min();
        let to = scanned.iter().filter_map(|hook| hook.scanned_at).max();
        if let (Some(from), Some(to)) = (from, to) {
            let title = format!("all {} hooks", scanned.len());
            fenced_chart(&title, &health, from, to, md);
        }
    } else {
        for hook in &scanned {
            if let Some(to) = hook.scanned_at {
                fenced_chart(&hook.hook, &hook.health, hook.since, to, md);
            }
        }
    }
    causes_table(&scanned, md);
}

/// One row per hook: deliveries, failures, their share, p50/p95 `duration`, the oldest
/// open event. At fleet size only hooks with failures or an open event, and a total.
fn figures_table(report: &RunReport, fleet: bool, md: &mut String) {
    let _ = writeln!(
        md,
        "| Hook | Deliveries | Failed | Failure share | Duration p50 | Duration p95 | Oldest open event |\n|---|---:|---:|---:|---:|---:|---|"
    );
    let shown: Vec<&HookReport> = report
        .hooks
        .iter()
        .filter(|hook| !fleet || hook.health.failures() > 0 || hook.oldest_open_at.is_some())
        .collect();
    for hook in shown.iter().take(MAX_HOOK_ROWS) {
        if hook.scanned_at.is_none() {
            let _ = writeln!(md, "| `{}` | not scanned to the end | | | | | |", hook.hook);
            continue;
        }
        figures_row(&format!("`{}`", hook.hook), &hook.health, hook, md);
    }
    let quiet = report.hooks.len() - shown.len();
    if fleet {
        let health = report.health();
        let oldest = report
            .hooks
            .iter()
            .filter(|hook| hook.oldest_open_age().is_some())
            .max_by_key(|hook| hook.oldest_open_age());
        let mut total = HookReport::new(String::new(), report.hooks[0].since, None);
        if let Some(oldest) = oldest {
            total.scanned_at = oldest.scanned_at;
            total.oldest_open_at = oldest.oldest_open_at;
        }
        figures_row("**Total**", &health, &total, md);
    }
    md.push('\n');
    if shown.len() > MAX_HOOK_ROWS {
        let _ = writeln!(md, "… and {} more.\n", shown.len() - MAX_HOOK_ROWS);
    }
    if fleet && quiet > 0 {
        let _ = writeln!(md, "{quiet} hook(s) had no failure and no open event.\n");
    }
}

fn figures_row(name: &str, health: &DeliveryHealth, hook: &HookReport, md: &mut String) {
    let duration = |q| {
        health
            .duration_quantile(q)
            .map_or_else(|| "–".to_owned(), format_seconds)
    };
    let oldest = match (hook.oldest_open_age(), hook.oldest_open_at) {
        (Some(age), Some(at)) => format!("{} (first failed {})", format_age(age), rfc3339(at)),
        _ => "none".to_owned(),
    };
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {} | {} | {} | {oldest} |",
        health.deliveries(),
        health.failures(),
        format_share(health.failure_rate()),
        duration(0.5),
        duration(0.95),
    );
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

/// A Mermaid `xychart-beta` of the deliveries (green bars) and failures (red bars, drawn
/// over them, so an outage is a red stretch) per hour from the hour of `from` to the hour of
/// `to` (UTC), hours without deliveries included as zeros;
/// in bins of several hours past [`MAX_POINTS`] hours. Labels are the hour (`14`), or the
/// date (`11-28`) where a day starts.
pub fn mermaid_chart(
    name: &str,
    health: &DeliveryHealth,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let first = from.timestamp().div_euclid(3600);
    let last = to.timestamp().div_euclid(3600).max(first);
    let hours = last - first + 1;
    let bin = (hours + MAX_POINTS - 1) / MAX_POINTS;
    let (mut labels, mut deliveries, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    // The y-axis is given, from 0: Mermaid would otherwise start it at the lowest bar.
    let mut top = 1;
    let mut start = first;
    while start <= last {
        let end = (start + bin).min(last + 1);
        let mut counts = HourCounts::default();
        for hour in start..end {
            let hour = health.hour(hour);
            counts.deliveries += hour.deliveries;
            counts.failures += hour.failures;
        }
        top = top.max(counts.deliveries);
        labels.push(format!("\"{}\"", hour_label(start, end)));
        deliveries.push(counts.deliveries.to_string());
        failures.push(counts.failures.to_string());
        start = end;
    }
    let per = if bin == 1 {
        "hour".to_owned()
    } else {
        format!("{bin} hours")
    };
    // Green deliveries, red failures: GitHub's own colours for success and failure.
    format!(
        "%%{{init: {{\"themeVariables\": {{\"xyChart\": {{\"plotColorPalette\": \"#2da44e, #cf222e\"}}}}}}}}%%\nxychart-beta\n    title \"{}: deliveries (green) and failures (red) per {per}\"\n    x-axis \"UTC, {} to {}\" [{}]\n    y-axis \"deliveries\" 0 --> {top}\n    bar [{}]\n    bar [{}]\n",
        mermaid_text(name),
        at_hour(first),
        at_hour(last + 1),
        labels.join(", "),
        deliveries.join(", "),
        failures.join(", "),
    )
}

/// `2026-11-28 10:00` for an hour since the epoch.
fn at_hour(hour: i64) -> String {
    DateTime::from_timestamp(hour * 3600, 0)
        .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The label of the bin of hours `start..end`: the date where a day starts in it, else the
/// hour it starts at.
fn hour_label(start: i64, end: i64) -> String {
    let at = |hour: i64| DateTime::from_timestamp(hour * 3600, 0);
    match (start..end)
        .find(|hour| hour.rem_euclid(24) == 0)
        .and_then(at)
    {
        Some(midnight) => midnight.format("%m-%d").to_string(),
        None => at(start).map_or_else(String::new, |at| format!("{:02}", at.hour())),
    }
}

/// Text safe inside a Mermaid string: no quote, no line break, nothing Mermaid or the
/// Markdown around it reads as markup (hook names are ours, but a hook's key holds an owner
/// and a repository from the input).
fn mermaid_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " /-_.:*".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The failure causes by event, most first, over the hooks shown.
fn causes_table(hooks: &[&HookReport], md: &mut String) {
    let mut rows: Vec<(&str, &str, &str, u64)> = hooks
        .iter()
        .flat_map(|hook| {
            hook.health
                .causes()
                .into_iter()
                .map(move |(cause, event, count)| (hook.hook.as_str(), cause, event, count))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| b.3.cmp(&a.3).then((a.0, a.1, a.2).cmp(&(b.0, b.1, b.2))));
    let _ = writeln!(
        md,
        "#### Failure causes\n\n| Hook | Cause | Event | Failed deliveries |\n|---|---|---|---:|"
    );
    for (hook, cause, event, count) in rows.iter().take(MAX_CAUSE_ROWS) {
        let _ = writeln!(
            md,
            "| `{hook}` | {} | {} | {count} |",
            crate::report::cell(cause),
            crate::report::cell(event)
        );
    }
    if rows.len() > MAX_CAUSE_ROWS {
        let _ = writeln!(md, "\n… and {} more.", rows.len() - MAX_CAUSE_ROWS);
    }
    md.push('\n');
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
fn format_age(age: chrono::Duration) -> String {
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
    fn labels_mark_days_and_hours() {
        let hour = |text: &str| {
            text.parse::<DateTime<Utc>>()
                .expect("a time")
                .timestamp()
                .div_euclid(3600)
        };
        assert_eq!(
            hour_label(hour("2026-11-28T10:00:00Z"), hour("2026-11-28T11:00:00Z")),
            "10"
        );
        assert_eq!(
            hour_label(hour("2026-11-28T23:00:00Z"), hour("2026-11-29T01:00:00Z")),
            "11-29"
        );
        assert_eq!(mermaid_text("repo/a\"b\n/*"), "repo/a_b_/*");
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
