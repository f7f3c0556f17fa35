//! The planner's rules: `dry-run`, `max-attempts`, `max-redeliveries`, the event
//! filters and `pending-horizon` (`max-age` once the retention is known).

use super::Problems;
use super::to_chrono;
use crate::config::inputs::Cli;
use crate::domain::filter::EventFilter;
use crate::domain::plan::PlanOptions;

/// The plan settings, resolved.
pub(super) struct Plan {
    pub(super) dry_run: bool,
    pub(super) options: PlanOptions,
}

/// The plan settings but `max-age`, which is checked against the retention once the API URL
/// tells it.
pub(super) fn resolve(cli: &Cli, problems: &mut Problems) -> Plan {
    let dry_run = problems.take(&cli.dry_run).unwrap_or_default();
    let filter = EventFilter {
        include: problems.take_given(&cli.events).unwrap_or_default(),
        exclude: problems.take_given(&cli.exclude_events).unwrap_or_default(),
    };
    let max_attempts = problems.take(&cli.max_attempts).unwrap_or(1);
    // No cap by default: the time budget bounds a run, and a cap would strand events.
    let max_redeliveries = problems
        .take_given(&cli.max_redeliveries)
        .unwrap_or(usize::MAX);
    Plan {
        dry_run,
        options: PlanOptions {
            max_attempts,
            max_redeliveries,
            filter,
            max_age: None,
            pending_horizon: to_chrono(problems.take(&cli.pending_horizon).unwrap_or_default()),
        },
    }
}
