//! What the document remembers of each replay run (format version 3): one record per replay,
//! never one per event, so that a fleet's document still fits one variable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Extra;

/// One replay: its window and filters, when it ran, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRecord {
    /// When the replay ran.
    pub at: DateTime<Utc>,
    /// The window of original failures it replayed.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_events: Vec<String>,
    /// The original failures' causes, in the health table's words (`HTTP 400`, `HTTP 5xx`,
    /// `timed out`, `failed to connect`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    /// How many redeliveries it sent.
    #[serde(default)]
    pub sent: u64,
    /// The prefix it reached, oldest first (see [`super::SentPrefix`]): every matching event
    /// that first failed at or before this was sent. None: it sent nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<DateTime<Utc>>,
    /// Unknown fields, kept (see [`super::CheckpointDocument::extra`]).
    #[serde(flatten)]
    pub extra: Extra,
}
