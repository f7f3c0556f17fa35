//! The drain's pace and bounds: `redelivery-interval`, `max-wait`, `max-duration`.

use std::time::Duration;

use super::Problems;
use crate::config::inputs::Cli;

/// How fast the drain goes and how long a run may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainTiming {
    /// `redelivery-interval`: the pause between two redeliveries.
    pub(crate) redelivery_interval: Duration,
    /// `max-wait`: the longest single rate-limit wait; a longer one stops the run.
    pub(crate) max_wait: Duration,
    /// `max-duration`: the run's time budget; no redelivery starts after it.
    pub(crate) max_duration: Duration,
}

pub(super) fn resolve(cli: &Cli, problems: &mut Problems) -> Option<DrainTiming> {
    let redelivery_interval = problems.take(&cli.redelivery_interval);
    let max_wait = problems.take(&cli.max_wait);
    let max_duration = problems.take(&cli.max_duration);
    Some(DrainTiming {
        redelivery_interval: redelivery_interval?,
        max_wait: max_wait?,
        max_duration: max_duration?,
    })
}
