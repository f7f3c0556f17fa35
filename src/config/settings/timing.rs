//! The drain's pace and bounds: `redelivery-interval`, `max-wait`, `max-duration`.

use std::time::Duration;

use super::Problems;
use crate::config::inputs::Cli;

/// The drain settings, resolved: (interval, max wait, max duration).
pub(super) fn resolve(cli: &Cli, problems: &mut Problems) -> (Duration, Duration, Duration) {
    (
        problems.take(&cli.redelivery_interval).unwrap_or_default(),
        problems.take(&cli.max_wait).unwrap_or_default(),
        problems.take(&cli.max_duration).unwrap_or_default(),
    )
}
