//! The one way a list is read: page after page through the `Link` header's `next` (a
//! cursor for deliveries, page numbers for the others), with guards against a server that
//! loops (a page seen before) or never ends (past a list's own bound).
//! <https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api>

use std::collections::HashSet;

use crate::github::client::{ApiError, Credential, GitHubClient, ListPage};

/// The pages of one list, from its first route on.
pub struct Pages<'a> {
    client: &'a GitHubClient,
    credential: Credential,
    next: Option<String>,
    seen: HashSet<String>,
    pages: u32,
    max_pages: u32,
    /// The list in errors ("deliveries", "repositories").
    what: &'static str,
}

impl<'a> Pages<'a> {
    /// The pages of the list at `first` (with its `per_page`), at most `max_pages` of them.
    pub fn new(
        client: &'a GitHubClient,
        first: String,
        credential: Credential,
        max_pages: u32,
        what: &'static str,
    ) -> Self {
        Self {
            client,
            credential,
            next: Some(first),
            seen: HashSet::new(),
            pages: 0,
            max_pages,
            what,
        }
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<ListPage>, ApiError> {
        let Some(route) = self.next.take() else {
            return Ok(None);
        };
        let request = format!("GET {}", route.split('?').next().unwrap_or(&route));
        if !self.seen.insert(route.clone()) {
            return Err(ApiError::Transport {
                request,
                detail: "the next page's link repeats an earlier page; the listing would never end"
                    .to_owned(),
            });
        }
        if self.pages >= self.max_pages {
            return Err(ApiError::Transport {
                request,
                detail: format!(
                    "more than {} pages of {}, more than GitHub keeps; refusing to go on",
                    self.max_pages, self.what
                ),
            });
        }
        self.pages += 1;
        let page = self.client.get_page(&route, self.credential).await?;
        self.next = page.next.clone();
        Ok(Some(page))
    }

    /// Stops after the current page: it reached back far enough.
    pub fn stop(&mut self) {
        self.next = None;
    }

    /// Pages read so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Every page of the list, each page's items taken by `items`.
    pub async fn all_items<T>(
        mut self,
        items: impl Fn(&ListPage) -> Result<Vec<T>, ApiError>,
    ) -> Result<Vec<T>, ApiError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(items(&page)?);
        }
        Ok(all)
    }
}
