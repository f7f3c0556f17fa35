//! The pace a run ended at after GitHub's limits (format version 3), for the next run to
//! start from while it is recent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Extra;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedPace {
    /// Milliseconds between redeliveries.
    pub interval_ms: u64,
    /// When the pace last changed (a limit answer, or a step faster again): it is
    /// forgotten an hour later, and the time since counts as a quiet stretch.
    pub at: DateTime<Utc>,
    /// Unknown fields, kept (see [`super::CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}
