//! GitHub's REST API as this tool uses it, one module per area. Each owns its routes, its
//! request bodies, the credential it needs and the advice its errors carry; the transport
//! underneath (authentication, retries, rate limits) is [`crate::client`].
//!
//! Every request and answer of the test suite is checked against GitHub's OpenAPI
//! description of these operations (`crates/fake-github/openapi`).

pub mod deliveries;
pub mod hooks;
pub mod installations;
pub mod repositories;
pub mod variables;

use std::collections::HashSet;

use crate::client::{ApiError, Credential, GitHubClient, ListPage};

/// Every page of a page-numbered list (`page`, `per_page`, `Link`), from `first` on, each
/// page's items taken by `items`; `what` names the list in errors. Stops with an error when
/// a `next` link repeats a page or the list runs past `max_pages`: a server that keeps
/// sending `next` is not one to trust.
pub async fn all_pages<T>(
    client: &GitHubClient,
    first: String,
    credential: Credential,
    max_pages: u32,
    what: &str,
    items: impl Fn(&ListPage) -> Result<Vec<T>, ApiError>,
) -> Result<Vec<T>, ApiError> {
    let request = format!("GET {}", first.split('?').next().unwrap_or(&first));
    let mut all = Vec::new();
    let mut next = Some(first);
    let mut seen = HashSet::new();
    let mut pages = 0;
    while let Some(route) = next.take() {
        if !seen.insert(route.clone()) {
            return Err(ApiError::Transport {
                request,
                detail: "the next page's link repeats an earlier page; the listing would never end"
                    .to_owned(),
            });
        }
        if pages >= max_pages {
            return Err(ApiError::Transport {
                request,
                detail: format!(
                    "more than {max_pages} pages of {what}, more than GitHub allows; refusing to go on"
                ),
            });
        }
        pages += 1;
        let page = client.get_page(&route, credential).await?;
        all.extend(items(&page)?);
        next = page.next;
    }
    Ok(all)
}
