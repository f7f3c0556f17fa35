//! The replay (issue 29): `replay-since`, `replay-until` and `replay-causes`, checked before
//! any request. A window that lies in the future, ends before it starts or lies wholly
//! before GitHub's retention is refused; one that starts before the retention is narrowed,
//! with a warning. A replay is one run: `--every` refuses it.

use chrono::{DateTime, Utc};

use super::Problems;
use crate::config::inputs::Cli;
use crate::domain::filter::EventFilter;
use crate::domain::replay::{ReplayScope, resolve_window, stamp};

/// A replay, resolved: what it sends and when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySettings {
    /// Its window (within the retention) and filters (`events`, `exclude-events`,
    /// `replay-causes`).
    pub scope: ReplayScope,
    /// When the settings were resolved, before any request: every redelivery of the
    /// replay is listed at or after it.
    pub at: DateTime<Utc>,
    /// The warning when the window was narrowed to the retention.
    pub narrowed: Option<String>,
}

impl ReplaySettings {
    /// The replay the inputs ask for, `None` for a scheduled run (or when they are wrong:
    /// each problem is one line in `problems`). `filter` is the run's `events` and
    /// `exclude-events`; `now` is when the run starts.
    pub(super) fn resolve(
        cli: &Cli,
        filter: &EventFilter,
        retention: chrono::Duration,
        now: DateTime<Utc>,
        problems: &mut Problems,
    ) -> Option<ReplaySettings> {
        let retention_days = retention.num_days();
        let given = [
            ("replay-since", cli.replay_since.is_some()),
            ("replay-until", cli.replay_until.is_some()),
            ("replay-causes", cli.replay_causes.is_some()),
        ];
        let first_given = given
            .iter()
            .find(|(_, given)| *given)
            .map(|(name, _)| *name);
        let since = problems.take_given(&cli.replay_since);
        let until = problems.take_given(&cli.replay_until);
        let causes = problems.take_given(&cli.replay_causes).unwrap_or_default();
        if let Some(input) = first_given.filter(|_| cli.every.is_some()) {
            problems.fail(
                input,
                "cannot go with `--every`: a replay is one run, after a fix; run it once, without `--every`".to_owned(),
            );
            return None;
        }
        if cli.replay_since.is_none() {
            if let Some(input) = first_given {
                problems.fail(
                    input,
                    "needs `replay-since`: the start of the window of failures to replay, e.g. `6h` or `2026-12-07T01:00:00Z`".to_owned(),
                );
            }
            return None;
        }
        let until = match (&cli.replay_until, until) {
            (Some(_), None) => return None,
            (_, until) => until,
        };
        match resolve_window(&since?, until.as_ref(), now, retention_days) {
            Ok(window) => Some(ReplaySettings {
                narrowed: window.narrowed_from.map(|given| {
                    format!(
                        "{} ({}) is older than GitHub keeps deliveries ({retention_days} days): the replay starts at {} instead",
                        problems.name("replay-since"),
                        stamp(given),
                        stamp(window.since)
                    )
                }),
                scope: ReplayScope {
                    since: window.since,
                    until: window.until,
                    filter: filter.clone(),
                    causes,
                },
                at: now,
            }),
            Err(refused) => {
                problems.fail(refused.input, refused.problem);
                None
            }
        }
    }
}
