//! The planner's rules: `max-attempts`, `max-redeliveries`, the event filters, `max-age`
//! (within the retention) and `pending-horizon`, resolved into the planner's own
//! [`PlanOptions`].

use super::{Problems, scan, to_chrono};
use crate::config::inputs::Cli;
use crate::domain::filter::EventFilter;
use crate::domain::plan::PlanOptions;
use crate::domain::replay::Replays;

/// The planner's options; `max-age` is checked against `retention` when the scan settings
/// tell it (they have a problem of their own otherwise).
pub(super) fn resolve(
    cli: &Cli,
    retention: Option<chrono::Duration>,
    problems: &mut Problems,
) -> Option<PlanOptions> {
    let filter = EventFilter {
        include: problems.take_given(&cli.events).unwrap_or_default(),
        exclude: problems.take_given(&cli.exclude_events).unwrap_or_default(),
    };
    let max_attempts = problems.take(&cli.max_attempts);
    // No cap by default: the time budget bounds a run, and a cap would strand events.
    let max_redeliveries = problems
        .take_given(&cli.max_redeliveries)
        .unwrap_or(usize::MAX);
    let pending_horizon = problems.take(&cli.pending_horizon);
    let mut max_age = problems.take_given(&cli.max_age);
    if let Some(retention) = retention {
        max_age = scan::max_age_within_retention(cli, max_age, retention.num_days(), problems);
    }
    Some(PlanOptions {
        max_attempts: max_attempts?,
        max_redeliveries,
        filter,
        max_age: max_age.map(to_chrono),
        pending_horizon: to_chrono(pending_horizon?),
        replays: Replays::default(),
    })
}
