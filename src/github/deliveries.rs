//! A webhook's deliveries: the list, newest first, page by page, and redelivery.
//! - <https://docs.github.com/en/rest/apps/webhooks#list-deliveries-for-an-app-webhook>
//! - <https://docs.github.com/en/rest/orgs/webhooks#list-deliveries-for-an-organization-webhook>
//! - <https://docs.github.com/en/rest/repos/webhooks#list-deliveries-for-a-repository-webhook>

use chrono::{DateTime, Utc};

use super::Pages;
use crate::domain::delivery::{Delivery, DeliveryId};
use crate::domain::hook::Hook;
use crate::domain::window::in_window;
use crate::github::client::{ApiError, Credential, GitHubClient, RequestKind};

/// GitHub's maximum page size for delivery lists.
pub const PER_PAGE: u32 = 100;

/// Most pages one listing may take: 5,000 pages are 500,000 deliveries, a delivery every
/// half second for the whole 3-day retention (7 on GHES: one every 1.2 s). A server that
/// keeps sending `next` past that is not one to trust.
pub const MAX_PAGES: u32 = 5_000;

/// The pages of one hook's delivery list, newest first.
pub fn pages<'a>(client: &'a GitHubClient, hook: &Hook, credential: Credential) -> Pages<'a> {
    Pages::new(
        client,
        format!("{}?per_page={PER_PAGE}", hook.deliveries_path()),
        credential,
        MAX_PAGES,
        "deliveries",
    )
}

/// What a [`walk`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// GitHub's clock at the first answer (its `Date` header).
    pub github_time: Option<DateTime<Utc>>,
    /// Pages read.
    pub pages: u32,
}

/// The one walk of a hook's deliveries, for the scan, the drain's checks and the last look:
/// newest first, page by page, each delivery at or after `since` handed to `visit`,
/// stopping at the first page that reaches back past `since`, or after `max_pages`; no page
/// is fetched that the walk does not need.
pub async fn walk(
    pages: Pages<'_>,
    since: DateTime<Utc>,
    max_pages: u32,
    mut visit: impl FnMut(Delivery<'_>),
) -> Result<Walked, ApiError> {
    let mut pages = pages;
    let mut github_time = None;
    while let Some(page) = pages.next_page().await? {
        github_time = github_time.or(page.date);
        for delivery in page.items::<Delivery>()? {
            if in_window(delivery.delivered_at, since) {
                visit(delivery);
            } else {
                pages.stop();
            }
        }
        if pages.pages() >= max_pages {
            pages.stop();
        }
    }
    Ok(Walked {
        github_time,
        pages: pages.pages(),
    })
}

/// Asks GitHub to redeliver one delivery (202: queued).
/// - <https://docs.github.com/en/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook>
/// - <https://docs.github.com/en/rest/orgs/webhooks#redeliver-a-delivery-for-an-organization-webhook>
/// - <https://docs.github.com/en/rest/repos/webhooks#redeliver-a-delivery-for-a-repository-webhook>
pub async fn redeliver(
    client: &GitHubClient,
    hook: &Hook,
    credential: Credential,
    delivery_id: DeliveryId,
) -> Result<(), ApiError> {
    client
        .post(
            &hook.redelivery_path(delivery_id),
            credential,
            None,
            RequestKind::Redeliver,
        )
        .await
        .map(|_| ())
}
