//! Which credential each request of a run carries, and the installation tokens the App
//! mints for it: one per account, with exactly the permissions the run needs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::base::log::Log;
use crate::config::settings::Settings;
use crate::config::settings::StoreSpec;
use crate::domain::hook::{Hook, HookScope, HookSelector};
use crate::github::client::{Credential, GitHubClient};
use crate::github::installations::{self, Need};

/// Installation tokens are valid for an hour; past this age one is renewed before use.
const INSTALLATION_TOKEN_RENEW_AFTER: std::time::Duration = std::time::Duration::from_secs(50 * 60);

/// Which credential each request of a run carries. With `token`, the token does everything
/// but the App's own hook; without it, the App's installation tokens do, one per account,
/// narrowed to the repositories and permissions the run needs (no personal access token
/// anywhere).
pub(crate) struct Credentials {
    pub(crate) store: Credential,
    /// Installation ids by account (lower case), when no `token` is given.
    pub(crate) installations: HashMap<String, u64>,
    /// The accounts `app/*` covers (without `token`).
    pub(crate) app_fleet: Vec<installations::FleetAccount>,
    pub(crate) minted_at: std::time::Instant,
}

impl Credentials {
    pub(crate) async fn obtain(
        client: &GitHubClient,
        settings: &Settings,
        log: &Log,
    ) -> anyhow::Result<Self> {
        let mut credentials = Credentials {
            store: Credential::Token,
            installations: HashMap::new(),
            app_fleet: Vec::new(),
            minted_at: client.clock().instant(),
        };
        if client.has_token() || !client.has_app() {
            if settings.scan.hooks.contains(&HookSelector::AppFleet) && client.has_token() {
                log.info("`app/*` with a `token`: the App's own hook only; the hooks of the App's installations are found when `token` is empty.");
            }
            return Ok(credentials);
        }
        // A fleet's repositories and `app/*`'s accounts come from the App's installations.
        let listed = if settings
            .scan
            .hooks
            .iter()
            .any(|hook| matches!(hook, HookSelector::Fleet { .. } | HookSelector::AppFleet))
        {
            Some(installations::list(client).await?)
        } else {
            None
        };
        if settings.scan.hooks.contains(&HookSelector::AppFleet)
            && let Some(listed) = &listed
        {
            let (accounts, read_only) = installations::fleet_accounts(listed);
            for line in read_only {
                log.warning(&line);
            }
            credentials.app_fleet = accounts;
        }
        let accounts = token_needs(settings, &credentials.app_fleet);
        for (account, needs) in &accounts {
            let installation = match (listed.as_ref(), needs.repositories.first()) {
                (_, Some(repository)) if !needs.every_repository => {
                    installations::for_repository(client, &format!("{account}/{repository}"))
                        .await?
                }
                (Some(listed), _) => listed
                    .iter()
                    .find(|listed| listed.login().is_some_and(|login| login.eq_ignore_ascii_case(account)))
                    .map(installations::ListedInstallation::installation)
                    .ok_or_else(|| anyhow::anyhow!(
                        "the App is not installed on {account}: install it there (for a fleet, on all its repositories or those to watch), or pass a `token`"
                    ))?,
                (None, _) => anyhow::bail!(
                    "the organization hooks of {account} need `token`: without it, the App's installation on {account} is found through a repository of {account}, and this run names none (keep the checkpoint there, or pass a `token`)"
                ),
            };
            // A fleet's token reaches every repository of the installation.
            let narrowed = if needs.every_repository {
                BTreeSet::new()
            } else {
                needs.repositories.clone()
            };
            let token =
                installations::mint_token(client, &installation, account, &narrowed, &needs.needs)
                    .await?;
            client.set_installation_token(installation.id, token);
            credentials
                .installations
                .insert(account.clone(), installation.id);
        }
        if let StoreSpec::Variable { repository, .. } = &settings.store {
            credentials.store = credentials.for_account(Some(&repository.owner));
        }
        Ok(credentials)
    }

    pub(crate) fn for_account(&self, account: Option<&str>) -> Credential {
        account
            .and_then(|account| self.installations.get(&account.to_ascii_lowercase()))
            .map_or(Credential::Token, |id| Credential::Installation(*id))
    }

    pub(crate) fn for_hook(&self, hook: &Hook) -> Credential {
        match hook {
            Hook::App => Credential::AppJwt,
            Hook::Org { org, .. } => self.for_account(Some(org)),
            Hook::Repo { owner, .. } => self.for_account(Some(owner)),
        }
    }
}

/// What one account's installation token must allow.
#[derive(Default)]
struct TokenNeeds {
    /// Repositories to narrow the token to (names without the owner)...
    repositories: BTreeSet<String>,
    /// ...unless a fleet needs every repository of the installation.
    every_repository: bool,
    needs: BTreeSet<Need>,
}

/// The installation token each account needs, by account (lower case): for the checkpoint
/// variable, and for listing and redelivering hooks (read and write: the same permission).
fn token_needs(
    settings: &Settings,
    app_fleet: &[installations::FleetAccount],
) -> BTreeMap<String, TokenNeeds> {
    let mut accounts: BTreeMap<String, TokenNeeds> = BTreeMap::new();
    let mut target = |owner: &str, repo: Option<&str>, every: bool, need: Need| {
        let entry = accounts.entry(owner.to_ascii_lowercase()).or_default();
        entry.repositories.extend(repo.map(str::to_owned));
        entry.every_repository |= every;
        entry.needs.insert(need);
    };
    if let StoreSpec::Variable { repository, .. } = &settings.store {
        target(
            &repository.owner,
            Some(&repository.name),
            false,
            Need::Variables,
        );
    }
    for hook in &settings.scan.hooks {
        match hook {
            HookSelector::App => {}
            HookSelector::AppFleet => {
                for account in app_fleet {
                    if account.organization_hooks {
                        target(&account.login, None, false, Need::OrganizationHooks);
                    }
                    if account.repository_hooks {
                        target(&account.login, None, true, Need::RepositoryHooks);
                    }
                }
            }
            HookSelector::Fleet { owner, .. } => target(owner, None, true, Need::RepositoryHooks),
            HookSelector::Scoped { scope, .. } => match scope {
                HookScope::Org { org } => target(org, None, false, Need::OrganizationHooks),
                HookScope::Repo { owner, repo } => {
                    target(owner, Some(repo), false, Need::RepositoryHooks)
                }
            },
        }
    }
    accounts
}

impl Credentials {
    /// Renews the installation tokens once they near their hour, so that a long run saves
    /// its checkpoint with a valid one.
    pub(crate) async fn renew_if_old(
        &mut self,
        client: &GitHubClient,
        settings: &Settings,
        log: &Log,
    ) -> anyhow::Result<()> {
        if client.clock().instant() - self.minted_at > INSTALLATION_TOKEN_RENEW_AFTER
            && !self.installations.is_empty()
        {
            *self = Credentials::obtain(client, settings, log).await?;
        }
        Ok(())
    }
}
