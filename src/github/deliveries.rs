//! A webhook's deliveries: the list, newest first, page by page, and redelivery.
//! - <https://docs.github.com/en/rest/apps/webhooks#list-deliveries-for-an-app-webhook>
//! - <https://docs.github.com/en/rest/orgs/webhooks#list-deliveries-for-an-organization-webhook>
//! - <https://docs.github.com/en/rest/repos/webhooks#list-deliveries-for-a-repository-webhook>

use super::Pages;
use crate::domain::delivery::DeliveryId;
use crate::domain::hook::Hook;
use crate::github::client::{ApiError, Credential, GitHubClient, RequestKind};
use crate::report::HookError;

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

/// A hook's endpoint's error, with advice for this hook where there is some.
pub fn explain(error: ApiError, hook: &Hook) -> HookError {
    let advice = match (error.status(), hook) {
        (Some(401), Hook::App) => Some("GitHub refused the App's JWT: check `app-id` (or `client-id`) and that `private-key` is this App's current key".to_owned()),
        (Some(401), _) => Some("GitHub refused the token: it is invalid, expired or revoked".to_owned()),
        (Some(404), Hook::Repo { owner, repo, .. }) => Some(format!(
            "hook not found: check the hook id, and that the token has admin on {owner}/{repo} (GitHub answers 404 to tokens without it; an App needs \"Webhooks\" on the repository)"
        )),
        (Some(404), Hook::Org { org, .. }) => Some(format!(
            "hook not found: check the hook id, and that the token belongs to an owner of {org} with `admin:org_hook` (an App needs \"Organization webhooks\")"
        )),
        (Some(403), Hook::Org { org, .. }) => Some(format!(
            "the token may not manage the hooks of {org}: it needs `admin:org_hook` (classic) or \"Webhooks\" (fine-grained) as an owner"
        )),
        (Some(403), Hook::Repo { owner, repo, .. }) => Some(format!(
            "the token may not manage the hooks of {owner}/{repo}: it needs admin on the repository"
        )),
        _ => None,
    };
    HookError::Api { error, advice }
}
