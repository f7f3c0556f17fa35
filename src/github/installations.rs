//! The App's installations, and the installation access tokens that spare users a personal
//! access token: for the checkpoint variable, and for organization and repository hooks.

use std::collections::BTreeSet;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::client::{ApiError, Credential, GitHubClient};

/// What a run needs an installation token for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Write the checkpoint variable: the repository permission "Variables".
    Variables,
    /// List and redeliver a repository hook's deliveries: "Webhooks".
    RepositoryHooks,
    /// List and redeliver an organization hook's deliveries: "Organization webhooks".
    OrganizationHooks,
}

impl Need {
    /// GitHub's keys for the permission, as installations report them in `permissions`.
    /// GitHub's key for "Variables" is `actions_variables` (the OpenAPI description lists
    /// none); `variables` is accepted only if an installation reports it.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Need::Variables => &["actions_variables", "variables"],
            Need::RepositoryHooks => &["repository_hooks"],
            Need::OrganizationHooks => &["organization_hooks"],
        }
    }

    /// Where the permission is set, as the App's settings page names it.
    fn setting(self) -> &'static str {
        match self {
            Need::Variables => "Repository permissions → Variables",
            Need::RepositoryHooks => "Repository permissions → Webhooks",
            Need::OrganizationHooks => "Organization permissions → Webhooks",
        }
    }
}

/// The App's installation on an account.
/// <https://docs.github.com/en/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app>
#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: u64,
    /// What the installation was granted: `{"actions_variables": "write", ...}`.
    #[serde(default)]
    pub permissions: Map<String, Value>,
}

impl Installation {
    /// The installation's key for `need` with write access, if it has it.
    fn write_key(&self, need: Need) -> Option<&'static str> {
        need.keys()
            .iter()
            .find(|key| self.permissions.get(**key).and_then(Value::as_str) == Some("write"))
            .copied()
    }
}

/// The App's installation on `repository` (`owner/name`).
pub async fn for_repository(
    client: &GitHubClient,
    repository: &str,
) -> anyhow::Result<Installation> {
    client
        .get_json(
            &format!("/repos/{repository}/installation"),
            Credential::AppJwt,
        )
        .await
        .map_err(|error| explain(error, repository))
        .with_context(|| format!("failed to find the App's installation on {repository}"))
}

/// Mints a token of `installation` narrowed to `repositories` (names without the owner;
/// none: all the installation's) and to write access for `needs`. Refuses, before asking,
/// when the installation lacks one of them, and says which App setting to change.
/// <https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app>
pub async fn mint_token(
    client: &GitHubClient,
    installation: &Installation,
    account: &str,
    repositories: &BTreeSet<String>,
    needs: &BTreeSet<Need>,
) -> anyhow::Result<SecretString> {
    let mut permissions = Map::new();
    for need in needs {
        let key = installation.write_key(*need).ok_or_else(|| {
            anyhow::anyhow!(
                "the App's installation on {account} cannot write what this run needs: in the App's settings set \"{}: Read and write\", then accept the new permissions on the installation (or pass a `token`)",
                need.setting()
            )
        })?;
        permissions.insert(key.to_owned(), json!("write"));
    }
    let mut body = json!({ "permissions": permissions });
    if !repositories.is_empty() {
        body["repositories"] = json!(repositories);
    }
    #[derive(Deserialize)]
    struct Token {
        token: String,
    }
    let token: Token = client
        .post_json(
            &format!("/app/installations/{}/access_tokens", installation.id),
            Credential::AppJwt,
            &body,
        )
        .await
        .map_err(|error| match error.status() {
            Some(403) | Some(422) => anyhow::Error::new(error).context(format!(
                "GitHub would not grant the installation on {account} the permissions this run needs: check the App's settings and accept its new permissions on the installation"
            )),
            _ => explain(error, account),
        })
        .with_context(|| format!("failed to get an installation token for {account}"))?;
    Ok(SecretString::from(token.token))
}

fn explain(error: ApiError, target: &str) -> anyhow::Error {
    match error.status() {
        Some(401) => anyhow::Error::new(error)
            .context("GitHub refused the App's JWT: check `app-id` (or `client-id`) and that `private-key` is this App's current key"),
        Some(404) => anyhow::Error::new(error).context(format!(
            "the App is not installed on {target}: install it there, or pass a `token`"
        )),
        _ => anyhow::Error::new(error),
    }
}
