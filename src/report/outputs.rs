//! The step outputs (`$GITHUB_OUTPUT`) and the `report` output, within GitHub's 1 MB per
//! output: lists are cut short, with their lengths kept, when the whole would not fit.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{HookReport, RunReport, rfc3339};
use crate::domain::health::{DeliveryHealth, round};

impl RunReport {
    /// The report as the `report` output: the `--json` document when it fits in
    /// [`MAX_REPORT_OUTPUT_BYTES`]; otherwise the lists of events are cut short (fewer and
    /// fewer rows until it fits), each hook keeps their full lengths as `<list>_count`, and
    /// `"truncated": true` says so. `--json` always has the whole report.
    pub fn report_output(&self) -> anyhow::Result<String> {
        let full = serde_json::to_string(self)?;
        if full.len() <= MAX_REPORT_OUTPUT_BYTES {
            return Ok(full);
        }
        let whole = serde_json::to_value(self)?;
        for keep in [1000, 100, 10, 0] {
            let mut value = whole.clone();
            truncate_lists(&mut value, keep);
            if keep == 0 {
                truncate_errors(&mut value);
            }
            let json = serde_json::to_string(&value)?;
            if json.len() <= MAX_REPORT_OUTPUT_BYTES {
                return Ok(json);
            }
        }
        self.fleet_report_output(whole)
    }

    /// The `report` output of a fleet too large even without its lists: the quiet hooks
    /// leave `hooks` (`quiet_hooks_count` says how many), then, if need be, the others
    /// after as many as fit (`hooks_count` has the whole number).
    fn fleet_report_output(&self, whole: serde_json::Value) -> anyhow::Result<String> {
        let mut value = whole;
        truncate_lists(&mut value, 0);
        truncate_errors(&mut value);
        let quiet = self.hooks.iter().filter(|hook| hook.is_quiet()).count();
        let mut flags = self.hooks.iter().map(HookReport::is_quiet);
        if let Some(hooks) = value.get_mut("hooks").and_then(|h| h.as_array_mut()) {
            hooks.retain(|_| !flags.next().unwrap_or(false));
        }
        value["quiet_hooks_count"] = quiet.into();
        value["hooks_count"] = self.hooks.len().into();
        let errors = self.errors.len();
        if let Some(list) = value.get_mut("errors").and_then(|e| e.as_array_mut()) {
            list.truncate(MAX_ERRORS_SHOWN);
        }
        value["errors_count"] = errors.into();
        let mut json = serde_json::to_string(&value)?;
        while json.len() > MAX_REPORT_OUTPUT_BYTES {
            let Some(hooks) = value.get_mut("hooks").and_then(|h| h.as_array_mut()) else {
                break;
            };
            if hooks.is_empty() {
                break;
            }
            let keep = hooks.len() * MAX_REPORT_OUTPUT_BYTES / json.len() * 9 / 10;
            hooks.truncate(keep.min(hooks.len() - 1));
            json = serde_json::to_string(&value)?;
        }
        Ok(json)
    }

    /// The step outputs, in the order `action.yml` declares them.
    pub fn outputs(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let time = |at: Option<DateTime<Utc>>| at.map(rfc3339).unwrap_or_default();
        Ok(vec![
            ("redelivered-count", self.redelivered_count().to_string()),
            (
                "redelivered-guids",
                serde_json::to_string(&self.redelivered_guids())?,
            ),
            ("failed-count", self.failed_count().to_string()),
            ("scanned-count", self.scanned_count().to_string()),
            ("given-up-count", self.given_up_count().to_string()),
            (
                "given-up-guids",
                serde_json::to_string(&self.given_up_guids())?,
            ),
            ("filtered-count", self.filtered_count().to_string()),
            ("deferred-count", self.deferred_count().to_string()),
            ("not-taken-count", self.not_taken_count().to_string()),
            ("held-back-count", self.held_back_count().to_string()),
            ("receiver-down", self.receiver_down().to_string()),
            ("pending-count", self.pending_count().to_string()),
            ("results-delayed", self.results_delayed().to_string()),
            ("receivers", self.receivers_json()?),
            ("too-old-count", self.too_old_count().to_string()),
            ("since", time(self.since())),
            ("checkpoint", time(self.checkpoint())),
            ("scan-complete", self.scan_complete().to_string()),
            // Delivery health (issue 24): the share that failed, the oldest open event, and
            // the figures of the summary's health section as JSON.
            (
                "failure-rate",
                round(self.health().failure_rate(), 4).to_string(),
            ),
            (
                "oldest-open-age",
                self.oldest_open_age_seconds().to_string(),
            ),
            ("health", self.health_json()?),
            // A replay's estimate and results (issue 29); empty for a scheduled run.
            (
                "replay",
                match &self.replay {
                    Some(replay) => serde_json::to_string(replay)?,
                    None => String::new(),
                },
            ),
            ("error", self.error_lines()),
            ("report", self.report_output()?),
        ])
    }

    /// The `receivers` output: each receiver's state and counts, in its shown form (never
    /// its URL), at most [`MAX_RECEIVERS_SHOWN`] (a fleet has a handful).
    fn receivers_json(&self) -> anyhow::Result<String> {
        let shown = &self.receivers[..self.receivers.len().min(MAX_RECEIVERS_SHOWN)];
        Ok(serde_json::to_string(shown)?)
    }

    /// The `error` output: one error a line, at most [`MAX_ERRORS_SHOWN`] (a rate limit
    /// over a fleet fails every hook after it), then how many more.
    fn error_lines(&self) -> String {
        let mut lines: Vec<String> = self.errors.iter().take(MAX_ERRORS_SHOWN).cloned().collect();
        if self.errors.len() > MAX_ERRORS_SHOWN {
            lines.push(format!(
                "… and {} more errors",
                self.errors.len() - MAX_ERRORS_SHOWN
            ));
        }
        lines.join("\n")
    }

    /// The `health` output: the run's [`DeliveryHealth`] and the age of its oldest open
    /// event.
    fn health_json(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct HealthOutput {
            #[serde(flatten)]
            health: DeliveryHealth,
            oldest_open_age_seconds: i64,
        }
        Ok(serde_json::to_string(&HealthOutput {
            health: self.health(),
            oldest_open_age_seconds: self.oldest_open_age_seconds(),
        })?)
    }
}

/// Errors shown in the summary and the `error` output; the others are counted.
pub(super) const MAX_ERRORS_SHOWN: usize = 100;

/// Receivers in the `receivers` output: far more than a fleet's (one URL on every hook is
/// one receiver), few enough that the output stays small.
const MAX_RECEIVERS_SHOWN: usize = 200;

/// The most the `report` output holds. GitHub takes at most 1 MB per output, and the other
/// outputs (GUID lists) share the file: half of it leaves room for them.
/// <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idoutputs>
pub const MAX_REPORT_OUTPUT_BYTES: usize = 512 * 1024;

/// The lists of events in a hook's report, cut by [`RunReport::report_output`].
const HOOK_LISTS: [&str; 8] = [
    "redelivered",
    "given_up",
    "filtered",
    "deferred",
    "held_back",
    "too_old",
    "refused",
    "not_taken",
];

/// Keeps at most `keep` entries of each hook's lists, recording their full lengths.
fn truncate_lists(report: &mut serde_json::Value, keep: usize) {
    if let Some(object) = report.as_object_mut() {
        object.insert("truncated".to_owned(), serde_json::Value::Bool(true));
    }
    let Some(hooks) = report.get_mut("hooks").and_then(|h| h.as_array_mut()) else {
        return;
    };
    for hook in hooks.iter_mut().filter_map(|hook| hook.as_object_mut()) {
        for list in HOOK_LISTS {
            let length = match hook.get_mut(list).and_then(|l| l.as_array_mut()) {
                Some(items) => {
                    let length = items.len();
                    items.truncate(keep);
                    length
                }
                None => continue,
            };
            hook.insert(format!("{list}_count"), length.into());
        }
        // The causes by event are the health's only list; the totals by cause stay whole.
        if let Some(causes) = hook
            .get_mut("health")
            .and_then(|health| health.get_mut("causes_by_event"))
            .and_then(|causes| causes.as_array_mut())
        {
            causes.truncate(keep);
        }
    }
}

/// Cuts every error message to a few hundred characters: the last resort when even empty
/// lists do not fit (error bodies are GitHub's, of any length).
fn truncate_errors(report: &mut serde_json::Value) {
    const KEEP: usize = 500;
    let shorten = |text: &mut serde_json::Value| {
        if let Some(message) = text.as_str()
            && message.chars().count() > KEEP
        {
            let short: String = message.chars().take(KEEP).collect();
            *text = serde_json::Value::String(format!("{short}…"));
        }
    };
    if let Some(errors) = report.get_mut("errors").and_then(|e| e.as_array_mut()) {
        errors.iter_mut().for_each(shorten);
    }
    if let Some(hooks) = report.get_mut("hooks").and_then(|h| h.as_array_mut()) {
        for hook in hooks {
            if let Some(error) = hook.get_mut("error") {
                shorten(error);
            }
        }
    }
}

/// Formats outputs for `$GITHUB_OUTPUT`: `name=value`, or the heredoc form with a random
/// delimiter for values that hold a newline.
pub fn format_outputs(outputs: &[(&str, String)]) -> String {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let delimiter = loop {
                let candidate = format!("ghadelimiter_{:032x}", rand::random::<u128>());
                if !value.contains(&candidate) {
                    break candidate;
                }
            };
            let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
        } else {
            let _ = writeln!(text, "{name}={value}");
        }
    }
    text
}

/// Appends `text` to the file the runner named, in one write.
pub fn append_to_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("failed to write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_heredocs_only_for_multiline_values() {
        let text = format_outputs(&[("count", "3".to_owned()), ("text", "a\nb".to_owned())]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("count=3"));
        let opener = lines.next().expect("heredoc opener");
        let delimiter = opener.strip_prefix("text<<").expect("heredoc");
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(lines.next(), Some("a"));
        assert_eq!(lines.next(), Some("b"));
        assert_eq!(lines.next(), Some(delimiter));
        assert!(text.ends_with('\n'));
    }
}
