//! The drain's looks at the list for its own redeliveries' results: a canary's, the
//! receiver's newest ones, and the sweep at the end.
//! <https://docs.github.com/en/rest/webhooks/repo-deliveries#list-deliveries-for-a-repository-webhook>

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Drain, DrainOutcome, Halt, RESULT_WAIT};
use crate::domain::delivery::{Delivery, failure_means_down};
use crate::domain::plan::CLOCK_TOLERANCE;
use crate::github::deliveries;
use crate::report::HookError;

/// The first pause before looking at the list for a result; each next pause is
/// [`RESULT_POLL_GROWTH`] times longer, so one wait costs at most about 10 list requests.
const RESULT_POLL: std::time::Duration = std::time::Duration::from_secs(1);
const RESULT_POLL_GROWTH: f64 = 1.5;
/// Pages read by the sweep at the end of a drain for its redeliveries' results.
const SWEEP_PAGES: u32 = 100;
/// A drain sweeps the list for its own results only after this many redeliveries: fewer
/// pending records cost the document little, and a fleet's are settled by the run's one
/// concurrent look after every drain (a look per hook here would double a fleet's run).
const SWEEP_FROM: usize = 20;
/// Pages looked at for a result: a busy App may push it off the first.
const RESULT_PAGES: u32 = 3;

/// What a redelivery's result in the list says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Delivered,
    /// The receiver gave no answer or a 5xx: it is down.
    Down(String),
    /// The receiver answered 4xx (or 3xx): it refused this event.
    Refused(String),
    /// No result was listed in time.
    Unknown,
    /// An earlier run's pending redelivery (this GUID) is listed as delivered meanwhile: the
    /// receiver is up, whatever the canary's own result will be.
    EarlierDelivered(String),
}

impl Drain<'_> {
    /// Waits for the result of the redelivery of `guid` accepted at `accepted_at`, looking
    /// at the list with growing pauses (1 s, 1.5 s, 2.25 s, ...) for at most
    /// [`RESULT_WAIT`]: about 10 list requests, not one every half second. An `earlier`
    /// run's pending redelivery listed as delivered meanwhile tells as much as the canary.
    pub(super) async fn await_result(
        &self,
        guid: &str,
        earlier: &HashSet<&str>,
        accepted_at: DateTime<Utc>,
    ) -> Result<Verdict, Halt> {
        let clock = self.client.clock();
        let since = accepted_at - CLOCK_TOLERANCE;
        let until = clock.instant() + RESULT_WAIT;
        let mut pause = RESULT_POLL;
        loop {
            let left = until.saturating_duration_since(clock.instant());
            if left.is_zero() {
                return Ok(Verdict::Unknown);
            }
            self.client.pause(pause.min(left)).await;
            if let Some(halt) = self.should_halt() {
                return Err(halt);
            }
            let results = self.recent_redeliveries(since, RESULT_PAGES).await?;
            if let Some((_, status_code, status)) =
                results.iter().find(|(result_guid, ..)| result_guid == guid)
            {
                return Ok(judge(*status_code, status));
            }
            if let Some((earlier_guid, ..)) = results.iter().find(|(result_guid, _, status)| {
                status == "OK" && earlier.contains(result_guid.as_str())
            }) {
                return Ok(Verdict::EarlierDelivered(earlier_guid.clone()));
            }
            pause = pause.mul_f64(RESULT_POLL_GROWTH);
        }
    }

    /// Looks at the newest results of this run's redeliveries: if the last few all failed
    /// as a down receiver fails, the receiver fell over again.
    pub(super) async fn check_receiver(&self, outcome: &DrainOutcome) -> Option<Halt> {
        let since = outcome.first_redelivery? - CLOCK_TOLERANCE;
        let ours: HashSet<&str> = outcome
            .redelivered
            .iter()
            .map(|event| event.event.guid.as_str())
            .collect();
        let results = match self.recent_redeliveries(since, RESULT_PAGES).await {
            Ok(results) => results,
            Err(halt) => return Some(halt),
        };
        let newest: Vec<Verdict> = results
            .iter()
            .filter(|(guid, ..)| ours.contains(guid.as_str()))
            .take(3)
            .map(|(_, status_code, status)| judge(*status_code, status))
            .collect();
        let all_down = newest.len() == 3 && newest.iter().all(|v| matches!(v, Verdict::Down(_)));
        match newest.first() {
            Some(Verdict::Down(status)) if all_down => Some(Halt::ReceiverDown(status.clone())),
            _ => None,
        }
    }

    /// Redeliveries listed since `since`, newest first, on at most `max_pages` pages:
    /// (guid, status code, status). A list page that fails after retries is a failed read:
    /// GitHub looks down, and the drain stops.
    async fn recent_redeliveries(
        &self,
        since: DateTime<Utc>,
        max_pages: u32,
    ) -> Result<Vec<(String, u16, String)>, Halt> {
        let mut pages = deliveries::pages(self.client, self.hook, self.credential);
        let mut found = Vec::new();
        while let Some(page) = pages
            .next_page()
            .await
            .map_err(|error| Halt::Failed(HookError::explain(error, self.hook)))?
        {
            let items = page
                .items::<Delivery>()
                .map_err(|error| Halt::Failed(error.into()))?;
            for delivery in items {
                if delivery.delivered_at < since {
                    pages.stop();
                } else if delivery.redelivery {
                    found.push((
                        delivery.guid.into_owned(),
                        delivery.status_code,
                        delivery.status.into_owned(),
                    ));
                }
            }
            if pages.pages() >= max_pages {
                pages.stop();
            }
        }
        Ok(found)
    }

    /// At the end of a drain, one look at the list for the results of its redeliveries:
    /// those listed are not pending, and the checkpoint document stays small. A failure
    /// here costs nothing: the redeliveries just stay pending.
    pub(super) async fn sweep_results(&self, outcome: &mut DrainOutcome) {
        let Some(first) = outcome.first_redelivery else {
            return;
        };
        if self.stop.is_requested() || outcome.redelivered.len() < SWEEP_FROM {
            return;
        }
        let Ok(results) = self
            .recent_redeliveries(first - CLOCK_TOLERANCE, SWEEP_PAGES)
            .await
        else {
            return;
        };
        let listed: HashSet<&str> = results.iter().map(|(guid, ..)| guid.as_str()).collect();
        outcome
            .unlisted
            .retain(|(guid, _)| !listed.contains(guid.as_str()));
    }
}

fn judge(status_code: u16, status: &str) -> Verdict {
    if status == "OK" {
        Verdict::Delivered
    } else if failure_means_down(status_code) {
        Verdict::Down(status.to_owned())
    } else {
        Verdict::Refused(status.to_owned())
    }
}
