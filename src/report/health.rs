//! The chart of the job summary's delivery health: a Mermaid `xychart-beta` of first deliveries
//! per hour, the failed ones on top in red, which GitHub renders in the job summary.
//! <https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/creating-diagrams>
//!
//! What it promises, each checked by `tests/health_chart.rs` over windows that start and
//! end on the same hour, cross midnight and span several days:
//! - **One slot per hour** (or per bin of hours), each with a label of its own: Mermaid
//!   draws one slot per distinct label, so a label used twice stacks two hours in one slot.
//!   Up to [`MAX_HOURLY`] clock hours are drawn hour by hour, labelled `14`, with the date
//!   where a day starts (`Dec 7`) and the window's start time on the first slot (`10:37`),
//!   since in a 25-hour window its hour comes back at the end. Longer windows are drawn in
//!   bins of several hours aligned to midnight, each labelled with its date (`Dec 7 06h`).
//! - **Nothing drawn for a zero.** Mermaid starts every bar a few pixels below the axis'
//!   zero (the padding for the lowest tick label), so a zero is a stub. A third series of
//!   zeros in the chart's background colour, drawn last, covers exactly that sliver of every
//!   slot: bars start at zero, and a zero shows nothing.
//! - **Whole numbers on the axis**: Mermaid's ticks are d3's, ten or so over the axis, so the
//!   axis goes at least to 10 and ends on a tick ([`axis_top`]).
//! - **A visible outage**: each slot's bar is its first deliveries, the failed ones the red
//!   top part (the red series is the total, the green one drawn over it the delivered part),
//!   and the title gives the share that failed.
//! - **Readable labels**: the chart is as wide as GitHub's summary pane, without a legend
//!   (the x-axis' title names the colours), its labels small enough to keep apart
//!   ([`label_room`]).

use chrono::{DateTime, Utc};

use crate::domain::health::DeliveryHealth;

/// Clock hours drawn one slot each: a day's window that starts and ends in the same hour.
pub const MAX_HOURLY: i64 = 25;

/// Slots of a chart in bins: a dated label is longer than an hour's.
pub const MAX_BINNED: i64 = 12;

/// The chart's width in pixels: GitHub's summary pane is about 1,000 wide.
pub const WIDTH: u32 = 940;

/// The labels' font size in pixels.
const LABEL_FONT: u32 = 12;

/// Hours a bin of a multi-day window may hold: aligned to midnight, so every day starts a
/// bin. Past these, whole days.
const BINS: [i64; 7] = [2, 3, 4, 6, 8, 12, 24];

/// GitHub's colours: failed red, delivered green, and the background (see the module doc).
const FAILED: &str = "#cf222e";
const DELIVERED: &str = "#2da44e";
const BACKGROUND: &str = "#ffffff";
const TEXT: &str = "#1f2328";

/// One slot of the x-axis: its label and the first deliveries of its hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub label: String,
    pub deliveries: u64,
    pub failures: u64,
}

/// The slots from the hour of `from` to the hour of `to` (UTC), hours without deliveries
/// included as zeros, and the hours a slot holds.
pub fn slots(health: &DeliveryHealth, from: DateTime<Utc>, to: DateTime<Utc>) -> (Vec<Slot>, i64) {
    let first = from.timestamp().div_euclid(3600);
    let last = to.timestamp().div_euclid(3600).max(first);
    let bin = bin_hours(last - first + 1);
    let mut slots = Vec::new();
    let mut start = if bin == 1 {
        first
    } else {
        first.div_euclid(bin) * bin
    };
    while start <= last {
        let end = start + bin;
        let (mut deliveries, mut failures) = (0, 0);
        for hour in start.max(first)..end.min(last + 1) {
            let counts = health.hour(hour);
            deliveries += counts.deliveries;
            failures += counts.failures;
        }
        let label = if bin == 1 {
            hour_label(start, start == first, from)
        } else {
            bin_label(start, bin)
        };
        slots.push(Slot {
            label,
            deliveries,
            failures,
        });
        start = end;
    }
    (slots, bin)
}

/// 1 up to [`MAX_HOURLY`] hours, then the smallest bin of [`BINS`] that keeps the slots to
/// [`MAX_BINNED`] (a bin aligned to midnight can add one), then whole days.
fn bin_hours(hours: i64) -> i64 {
    if hours <= MAX_HOURLY {
        return 1;
    }
    let slots = |bin: i64| (hours + bin - 1) / bin;
    let fits = |bin: i64| slots(bin) < MAX_BINNED;
    BINS.into_iter()
        .find(|&bin| fits(bin))
        .unwrap_or_else(|| 24 * slots(24 * (MAX_BINNED - 1)))
}

fn at_hour(hour: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(hour.checked_mul(3600)?, 0)
}

/// An hourly slot's label: the window's start time on the first slot (`10:37`), the date
/// where a day starts (`Dec 7`), else the hour (`14`).
fn hour_label(hour: i64, first: bool, from: DateTime<Utc>) -> String {
    if first {
        from.format("%H:%M").to_string()
    } else if hour.rem_euclid(24) == 0 {
        at_hour(hour).map_or_else(String::new, |at| at.format("%b %-d").to_string())
    } else {
        at_hour(hour).map_or_else(String::new, |at| at.format("%H").to_string())
    }
}

/// A bin's label: its date, and its hour unless it starts the day (`Dec 7`, `Dec 7 06h`).
fn bin_label(start: i64, bin: i64) -> String {
    let Some(at) = at_hour(start) else {
        return String::new();
    };
    if bin % 24 == 0 || start.rem_euclid(24) == 0 {
        at.format("%b %-d").to_string()
    } else {
        at.format("%b %-d %Hh").to_string()
    }
}

/// The top of the y-axis: at least 10, rounded up to the step of d3's ticks, so that every
/// tick is a whole number and the axis ends on one.
pub fn axis_top(max: u64) -> u64 {
    if max <= 10 {
        return 10;
    }
    let step = tick_step(max);
    max.div_ceil(step) * step
}

/// d3's `tickIncrement(0, top, 10)`: 1, 2 or 5 times a power of ten, about a tenth of `top`.
fn tick_step(top: u64) -> u64 {
    let raw = top as f64 / 10.0;
    let power = 10f64.powf(raw.log10().floor());
    let error = raw / power;
    let factor = if error >= 50f64.sqrt() {
        10.0
    } else if error >= 10f64.sqrt() {
        5.0
    } else if error >= 2f64.sqrt() {
        2.0
    } else {
        1.0
    };
    ((factor * power).round() as u64).max(1)
}

/// Pixels of the x-axis each slot has, about: the chart's width less the y-axis.
pub fn label_room(slots: usize) -> u32 {
    (WIDTH - 90) / u32::try_from(slots.max(1)).unwrap_or(u32::MAX)
}

/// The chart of `health` from `from` to `to`, titled with `name`.
pub fn mermaid_chart(
    name: &str,
    health: &DeliveryHealth,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    let (slots, bin) = slots(health, from, to);
    let top = axis_top(slots.iter().map(|slot| slot.deliveries).max().unwrap_or(0));
    let per = if bin == 1 {
        "hour".to_owned()
    } else if bin % 24 == 0 {
        format!("{} days", bin / 24)
    } else {
        format!("{bin} hours")
    };
    let join = |value: fn(&Slot) -> String| slots.iter().map(value).collect::<Vec<_>>().join(", ");
    let labels = join(|slot| format!("\"{}\"", slot.label));
    let totals = join(|slot| slot.deliveries.to_string());
    let delivered = join(|slot| (slot.deliveries - slot.failures.min(slot.deliveries)).to_string());
    let zeros = join(|_| "0".to_owned());
    let failed = health.failures();
    let share = match health.deliveries() {
        0 => String::new(),
        all => format!(" ({:.0} %)", failed as f64 * 100.0 / all as f64),
    };
    format!(
        "{init}\nxychart-beta\n    title \"{name}: {failed} of {all} first deliveries failed{share}, per {per}\"\n    x-axis \"UTC, {from} to {to} (green: delivered, red: failed)\" [{labels}]\n    y-axis \"first deliveries\" 0 --> {top}\n    bar \"failed\" [{totals}]\n    bar \"delivered\" [{delivered}]\n    bar [{zeros}]\n",
        init = init(),
        name = mermaid_text(name),
        all = health.deliveries(),
        from = from.format("%Y-%m-%d %H:%M"),
        to = to.format("%Y-%m-%d %H:%M"),
    )
}

/// The chart's look: GitHub's colours on a white background whatever the reader's theme
/// (the masking series is white), as wide as the summary pane, small labels. No legend: it
/// would take a tenth of the width from the slots; the x-axis' title names the colours.
fn init() -> String {
    let theme = format!(
        "\"plotColorPalette\": \"{FAILED}, {DELIVERED}, {BACKGROUND}\", \"backgroundColor\": \"{BACKGROUND}\", \"titleColor\": \"{TEXT}\", \"xAxisLabelColor\": \"{TEXT}\", \"xAxisTitleColor\": \"{TEXT}\", \"xAxisLineColor\": \"{TEXT}\", \"xAxisTickColor\": \"{TEXT}\", \"yAxisLabelColor\": \"{TEXT}\", \"yAxisTitleColor\": \"{TEXT}\", \"yAxisLineColor\": \"{TEXT}\", \"yAxisTickColor\": \"{TEXT}\", \"legendTextColor\": \"{TEXT}\""
    );
    let axis = format!("{{\"labelFontSize\": {LABEL_FONT}, \"titleFontSize\": 14}}");
    format!(
        "%%{{init: {{\"themeVariables\": {{\"xyChart\": {{{theme}}}}}, \"xyChart\": {{\"width\": {WIDTH}, \"height\": 360, \"titleFontSize\": 16, \"showLegend\": false, \"xAxis\": {axis}, \"yAxis\": {axis}}}}}}}%%"
    )
}

/// Text safe inside a Mermaid string: no quote, no line break, nothing Mermaid or the
/// Markdown around it reads as markup (hook names are ours, but a hook's key holds an owner
/// and a repository from the input).
pub(crate) fn mermaid_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " /-_.:*…".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(text: &str) -> i64 {
        text.parse::<DateTime<Utc>>()
            .expect("a time")
            .timestamp()
            .div_euclid(3600)
    }

    #[test]
    fn labels_mark_the_start_days_and_hours() {
        let from: DateTime<Utc> = "2026-12-06T10:37:00Z".parse().expect("a time");
        assert_eq!(
            hour_label(hour("2026-12-06T10:00:00Z"), true, from),
            "10:37"
        );
        assert_eq!(hour_label(hour("2026-12-06T23:00:00Z"), false, from), "23");
        assert_eq!(
            hour_label(hour("2026-12-07T00:00:00Z"), false, from),
            "Dec 7"
        );
        assert_eq!(bin_label(hour("2026-12-07T06:00:00Z"), 6), "Dec 7 06h");
        assert_eq!(bin_label(hour("2026-12-07T00:00:00Z"), 6), "Dec 7");
        assert_eq!(mermaid_text("repo/a\"b\n/*"), "repo/a_b_/*");
    }

    #[test]
    fn bins_keep_the_slots_few_and_axes_whole() {
        assert_eq!(bin_hours(1), 1);
        assert_eq!(bin_hours(25), 1);
        assert_eq!(bin_hours(26), 3);
        assert_eq!(bin_hours(49), 6);
        assert_eq!(bin_hours(73), 8);
        assert_eq!(bin_hours(7 * 24 + 1), 24);
        assert_eq!(bin_hours(90 * 24 + 1), 24 * 9);
        for (max, top) in [
            (0, 10),
            (1, 10),
            (10, 10),
            (11, 11),
            (12, 12),
            (17, 18),
            (173, 180),
            (460, 500),
            (1_234, 1_300),
        ] {
            assert_eq!(axis_top(max), top, "{max}");
        }
    }
}
