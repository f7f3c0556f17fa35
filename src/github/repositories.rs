//! The repositories of an organization or a user, for a fleet of hooks
//! (`repo/<owner>/*/<hook>`): listed once, at the start of a run, page by page.
//! - <https://docs.github.com/en/rest/repos/repos#list-organization-repositories>
//! - <https://docs.github.com/en/rest/repos/repos#list-repositories-for-a-user>
//! - <https://docs.github.com/en/rest/apps/installations#list-repositories-accessible-to-the-app-installation>
//!
//! With a token, the organization's list (every repository the token can see), or the
//! user's (their public repositories) when the owner is no organization. With an App
//! installation token, the installation's own list: what the App may reach, whatever the
//! account type. Only `full_name` and `archived` are read.

use serde::Deserialize;

use crate::github::client::{ApiError, Credential, GitHubClient, ListPage};

/// GitHub's maximum page size for repository lists.
pub const PER_PAGE: u32 = 100;

/// Most pages one repository list may take: 100,000 repositories.
pub const MAX_PAGES: u32 = 1_000;

/// One repository of a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedRepository {
    /// `owner/name`, as GitHub spells it.
    pub full_name: String,
    /// Archived repositories are read-only: their hooks deliver nothing.
    #[serde(default)]
    pub archived: bool,
}

impl ListedRepository {
    /// The owner and the name.
    pub fn owner_and_name(&self) -> Option<(&str, &str)> {
        self.full_name.split_once('/')
    }
}

/// The repositories of `owner`: through the installation's list when `credential` is an
/// installation token, otherwise the organization's, or the user's when `owner` is no
/// organization (GitHub answers 404 to the organization's list then).
pub async fn list(
    client: &GitHubClient,
    owner: &str,
    credential: Credential,
) -> Result<Vec<ListedRepository>, ApiError> {
    if let Credential::Installation(_) = credential {
        #[derive(Deserialize)]
        struct Repositories {
            repositories: Vec<ListedRepository>,
        }
        let all = super::Pages::new(
            client,
            format!("/installation/repositories?per_page={PER_PAGE}"),
            credential,
            MAX_PAGES,
            "repositories",
        )
        .all_items(|page: &ListPage| Ok(page.parse::<Repositories>()?.repositories))
        .await?;
        // An installation lives on one account; keep to `owner` all the same.
        return Ok(all
            .into_iter()
            .filter(|repo| {
                repo.owner_and_name()
                    .is_some_and(|(login, _)| login.eq_ignore_ascii_case(owner))
            })
            .collect());
    }
    let of = |path: String| {
        super::Pages::new(
            client,
            format!("{path}?per_page={PER_PAGE}"),
            credential,
            MAX_PAGES,
            "repositories",
        )
        .all_items(|page: &ListPage| page.items::<ListedRepository>())
    };
    match of(format!("/orgs/{owner}/repos")).await {
        Err(error) if error.status() == Some(404) => of(format!("/users/{owner}/repos")).await,
        listed => listed,
    }
}

/// Advice for the errors of a repository list.
pub fn explain(error: ApiError, owner: &str) -> anyhow::Error {
    let advice = match error.status() {
        Some(401) => Some("GitHub refused the token: it is invalid, expired or revoked".to_owned()),
        Some(403) | Some(404) => Some(format!(
            "no organization or user `{owner}` that this credential can see: check the name; a token needs to read the organization's repositories (fine-grained: \"Metadata: read\" on them), the App must be installed on {owner}"
        )),
        _ => None,
    };
    match advice {
        Some(advice) => anyhow::Error::new(error).context(advice),
        None => anyhow::Error::new(error),
    }
}
