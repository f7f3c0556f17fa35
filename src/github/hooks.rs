//! An organization's or a repository's webhooks: their list, from which a run resolves the
//! `hooks` input's selectors (`crate::run::resolve`).
//! - <https://docs.github.com/en/rest/orgs/webhooks#list-organization-webhooks>
//! - <https://docs.github.com/en/rest/repos/webhooks#list-repository-webhooks>
//!
//! Only `id` and `config.url` are read. The hooks' secrets are never requested (the list
//! shows none in the clear anyway) and never printed.

use serde::Deserialize;

use crate::domain::hook::{Hook, HookId, HookScope};
use crate::github::client::{ApiError, Credential, GitHubClient, ListPage};

/// GitHub's maximum page size for hook lists.
pub const PER_PAGE: u32 = 100;

/// Most pages one hook list may take. GitHub allows 20 webhooks per event on a repository
/// or organization: a few hundred hooks at most, a few pages. A server that keeps sending
/// `next` past this is not one to trust.
pub const MAX_PAGES: u32 = 50;

/// One webhook of the list, with what resolving needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedHook {
    pub id: HookId,
    #[serde(default)]
    pub config: HookConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HookConfig {
    /// The receiver's URL. Not a secret (the hook's settings page shows it); the hook's
    /// `secret` is not read.
    #[serde(default)]
    pub url: Option<String>,
}

/// Lists every webhook of `scope`, following the `Link` header's `next` page by page.
pub async fn list(
    client: &GitHubClient,
    scope: &HookScope,
    credential: Credential,
) -> Result<Vec<ListedHook>, ApiError> {
    super::Pages::new(
        client,
        format!("{}?per_page={PER_PAGE}", scope.hooks_path()),
        credential,
        MAX_PAGES,
        "webhooks",
    )
    .all_items(|page: &ListPage| page.items::<ListedHook>())
    .await
}

/// The receiver URL of one hook, read once for a hook given by id: the App hook's
/// configuration, or the org or repository hook (whose `config` holds the same `url`).
/// - <https://docs.github.com/en/rest/apps/webhooks#get-a-webhook-configuration-for-an-app>
/// - <https://docs.github.com/en/rest/orgs/webhooks#get-an-organization-webhook>
/// - <https://docs.github.com/en/rest/repos/webhooks#get-a-repository-webhook>
pub async fn receiver_url(
    client: &GitHubClient,
    hook: &Hook,
    credential: Credential,
) -> Result<Option<String>, ApiError> {
    let route = hook.settings_path();
    Ok(match hook {
        Hook::App => client.get_json::<HookConfig>(&route, credential).await?.url,
        Hook::Org { .. } | Hook::Repo { .. } => {
            client
                .get_json::<ListedHook>(&route, credential)
                .await?
                .config
                .url
        }
    })
}

/// Advice for the errors of a hook list: which token scope or App permission it needs.
pub fn explain(error: ApiError, scope: &HookScope) -> anyhow::Error {
    let advice = match (error.status(), scope) {
        (Some(401), _) => {
            Some("GitHub refused the token: it is invalid, expired or revoked".to_owned())
        }
        (Some(403) | Some(404), HookScope::Org { org }) => Some(format!(
            "no permission to list the webhooks of {org} (GitHub answers 404 to tokens without it): a token needs `admin:org_hook` (classic, as an owner of {org}) or the organization permission \"Webhooks: read\" (fine-grained); the App's installation needs \"Organization webhooks: read\""
        )),
        (Some(403) | Some(404), HookScope::Repo { owner, repo }) => Some(format!(
            "no permission to list the webhooks of {owner}/{repo} (GitHub answers 404 to tokens without it): a token needs admin on the repository (classic: `repo`) or the repository permission \"Webhooks: read\" (fine-grained); the App's installation needs \"Webhooks: read\""
        )),
        _ => None,
    };
    match advice {
        Some(advice) => anyhow::Error::new(error).context(advice),
        None => anyhow::Error::new(error),
    }
}
