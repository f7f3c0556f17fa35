//! Looking up this run's redeliveries in the lists, within the run's re-read budget: the
//! canaries' results, the receivers' periodic checks and the last look all read the newest
//! page of a hook, and every such page beyond the scan's counts against one budget.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::delivery::{DeliveryId, failure_means_down};
use crate::domain::plan::CLOCK_TOLERANCE;
use crate::github::deliveries;
use crate::report::HookError;

use super::{Drain, Halt};

/// List requests a run may make beyond its scan: this many...
const BASE_REREADS: usize = 10;
/// ...plus this many per 100 redeliveries.
const REREADS_PER_100: usize = 4;

/// What a redelivery's result in the list says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Delivered,
    /// The receiver gave no answer or a 5xx: it is down.
    Down(String),
    /// The receiver answered 4xx (or 3xx): it refused this event, it is up.
    Refused(String),
}

impl Verdict {
    pub(super) fn of(status_code: u16, status: &str) -> Self {
        if status == "OK" {
            Verdict::Delivered
        } else if failure_means_down(status_code) {
            Verdict::Down(status.to_owned())
        } else {
            Verdict::Refused(status.to_owned())
        }
    }
}

/// The list requests a run makes beyond its scan, against the budget of
/// [`BASE_REREADS`] + [`REREADS_PER_100`] % of its redeliveries.
#[derive(Debug, Default)]
pub(super) struct ReReads {
    used: usize,
}

impl ReReads {
    /// Whether one more page may be read, `redelivered` redeliveries into the run.
    pub(super) fn allows(&self, redelivered: usize) -> bool {
        self.used < BASE_REREADS + redelivered * REREADS_PER_100 / 100
    }

    pub(super) fn used(&self) -> usize {
        self.used
    }

    fn count(&mut self, pages: u32) {
        self.used += pages as usize;
    }
}

/// One redelivery listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListedResult {
    /// GitHub's id of the listed delivery: a redelivery made after the scan has a larger
    /// id than every delivery of its event the scan saw.
    pub(super) id: DeliveryId,
    pub(super) verdict: Verdict,
}

/// The redeliveries listed on the newest page of one hook since `since`: GUID → the newest
/// (largest id) of each GUID.
pub(super) type Listed = HashMap<String, ListedResult>;

impl Drain<'_> {
    /// Reads the newest page of hook `hook` for redeliveries since `since` (less the clock
    /// tolerance), counted against `rereads`.
    pub(super) async fn newest_results(
        &self,
        hook: usize,
        since: DateTime<Utc>,
        rereads: &mut ReReads,
    ) -> Result<Listed, Halt> {
        let target = &self.hooks[hook];
        let pages = deliveries::pages(self.client, target.hook, target.credential);
        let mut listed = Listed::new();
        let walked = deliveries::walk(pages, since - CLOCK_TOLERANCE, 1, |delivery| {
            if delivery.redelivery {
                let result = ListedResult {
                    id: delivery.id,
                    verdict: Verdict::of(delivery.status_code, &delivery.status),
                };
                let entry = listed
                    .entry(delivery.guid.into_owned())
                    .or_insert(result.clone());
                if result.id > entry.id {
                    *entry = result;
                }
            }
        })
        .await;
        match walked {
            Ok(walked) => {
                rereads.count(walked.pages);
                Ok(listed)
            }
            Err(error) => {
                rereads.count(1);
                Err(Halt::Failed(HookError::explain(error, target.hook)))
            }
        }
    }
}
