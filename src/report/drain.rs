//! What a drain tells beyond its redeliveries: the redeliveries GitHub did not take, and the
//! pace it ended at and why.

use std::fmt;

use serde::Serialize;

use crate::domain::delivery::DeliveryId;
use crate::domain::plan::EventSummary;

/// A redelivery GitHub did not take: its POST still failed after the client's retries (a
/// 5xx, or no answer). The event stays open for the next run and no attempt is spent on it;
/// the drain went on with the next event.
#[derive(Debug, Clone, Serialize)]
pub struct NotTakenRedelivery {
    pub delivery_id: DeliveryId,
    /// What GitHub answered (or that it did not).
    pub error: String,
    /// Runs in a row, this one included, in which GitHub did not take a redelivery of this
    /// event.
    pub runs: u32,
    #[serde(flatten)]
    pub event: EventSummary,
}

/// Why a drain goes at the pace it ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaceReason {
    /// `redelivery-interval`: no limit answer, or the drain is back to it.
    Configured,
    /// Started from the pace the previous run learned from GitHub's limits (within the
    /// hour), unchanged since.
    Learned,
    /// Slowed by a limit answer, not faster again since.
    Limited,
    /// Faster again after a stretch without a limit answer, still slower than
    /// `redelivery-interval`.
    Recovering,
}

impl fmt::Display for PaceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaceReason::Configured => "`redelivery-interval`",
            PaceReason::Learned => "learned from GitHub's limits by the previous run",
            PaceReason::Limited => "slowed by GitHub's limit answers",
            PaceReason::Recovering => "faster again after a stretch without limit answers",
        })
    }
}

/// The pace a drain ended at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PaceReport {
    /// Seconds between redeliveries.
    pub interval_seconds: f64,
    pub reason: PaceReason,
    /// Limit answers GitHub gave to this drain's redeliveries.
    pub limit_answers: u32,
}
