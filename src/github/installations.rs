//! The App's installations, and the installation access tokens that spare users a personal
//! access token: for the checkpoint variable, and for organization and repository hooks.

use std::collections::BTreeSet;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::github::client::{ApiError, Credential, GitHubClient};

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
    /// The level (`read`, `write`) the installation has for `need`, if any.
    pub fn level(&self, need: Need) -> Option<&str> {
        need.keys()
            .iter()
            .find_map(|key| self.permissions.get(*key).and_then(Value::as_str))
    }

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

/// Most pages of the App's installations list: 100,000 installations.
const MAX_INSTALLATION_PAGES: u32 = 1_000;

/// One installation of the App, as the App's list shows it.
/// <https://docs.github.com/en/rest/apps/apps#list-installations-for-the-authenticated-app>
#[derive(Debug, Clone, Deserialize)]
pub struct ListedInstallation {
    pub id: u64,
    /// `null` for an installation on an enterprise.
    #[serde(default)]
    pub account: Option<Account>,
    /// `Organization` or `User`.
    #[serde(default)]
    pub target_type: Option<String>,
    #[serde(default)]
    pub permissions: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub login: String,
}

impl ListedInstallation {
    pub fn login(&self) -> Option<&str> {
        self.account.as_ref().map(|account| account.login.as_str())
    }

    pub fn installation(&self) -> Installation {
        Installation {
            id: self.id,
            permissions: self.permissions.clone(),
        }
    }

    fn on_organization(&self) -> bool {
        self.target_type.as_deref() == Some("Organization")
    }
}

/// Every installation of the App (App JWT), page by page.
pub async fn list(client: &GitHubClient) -> anyhow::Result<Vec<ListedInstallation>> {
    super::Pages::new(
        client,
        "/app/installations?per_page=100".to_owned(),
        Credential::AppJwt,
        MAX_INSTALLATION_PAGES,
        "installations",
    )
    .all_items(|page: &crate::github::client::ListPage| page.items::<ListedInstallation>())
    .await
    .map_err(|error| explain(error, "any account"))
    .context("failed to list the App's installations")
}

/// An account whose hooks `app/*` covers: the App's installation there may redeliver its
/// organization hooks, its repository hooks, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetAccount {
    pub login: String,
    pub organization_hooks: bool,
    pub repository_hooks: bool,
}

/// The accounts of `app/*`: installations whose permissions include "Organization
/// webhooks" (on an organization) or "Webhooks", with write access (redelivering is a
/// write). Returns them, and one line for each installation that may only read its hooks.
pub fn fleet_accounts(installations: &[ListedInstallation]) -> (Vec<FleetAccount>, Vec<String>) {
    let mut accounts = Vec::new();
    let mut read_only = Vec::new();
    for listed in installations {
        let Some(login) = listed.login() else {
            continue;
        };
        let installation = listed.installation();
        let level = |need| installation.level(need);
        let org = listed
            .on_organization()
            .then(|| level(Need::OrganizationHooks))
            .flatten();
        let repo = level(Need::RepositoryHooks);
        let account = FleetAccount {
            login: login.to_owned(),
            organization_hooks: org == Some("write"),
            repository_hooks: repo == Some("write"),
        };
        if [org, repo].contains(&Some("read")) {
            read_only.push(format!(
                "the App's installation on {login} may only read some of its webhooks: those are left out of `app/*`, since redelivering needs \"Webhooks: Read and write\" (or \"Organization permissions → Webhooks\")"
            ));
        }
        if account.organization_hooks || account.repository_hooks {
            accounts.push(account);
        }
    }
    (accounts, read_only)
}
