//! The `hooks` input's selectors turned into concrete hooks (a hook by its receiver URL, `*`
//! for all, a fleet), once, at the start of a run and before any redelivery, from GitHub's
//! hook lists (`crate::github::hooks`).

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use futures_util::{StreamExt as _, stream};

use crate::base::log::Log;
use crate::domain::checkpoint::CheckpointDocument;
use crate::domain::hook::{Hook, HookScope, HookSelector, HookTarget};
use crate::domain::receiver::Receiver;
use crate::github::client::{Credential, GitHubClient};
use crate::github::hooks::{ListedHook, explain, list, receiver_url};
use crate::github::installations::FleetAccount;
use crate::report::FleetReport;

mod fleet;

/// The concrete hooks of a run, and the scopes listed in full for `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Each hook once, in the order the `hooks` input first names it.
    pub hooks: Vec<Hook>,
    /// The scopes whose hooks were all selected (`*`): a hook of theirs that is no longer
    /// listed has been deleted.
    pub listed_in_full: Vec<HookScope>,
    /// The owners of fleets (`repo/<owner>/*/…`, lower case): a repository hook of theirs
    /// that the fleet no longer selects (deleted, its repository archived or gone, its URL
    /// changed) leaves the document.
    pub fleet_owners: Vec<String>,
    /// What each fleet found, in the order of the input.
    pub fleets: Vec<FleetReport>,
    /// The keys of `hooks`, lower case: names compare without case, as GitHub's do.
    seen: HashSet<String>,
    /// Each hook's receiver, by its key in lower case: from the list that selected it, or
    /// read once for a hook given by id ([`Resolved::read_receivers`]).
    receivers: HashMap<String, Receiver>,
}

impl Resolved {
    /// Adds `hook` unless it is there already (a hook named twice is processed once).
    fn add(&mut self, hook: Hook) -> bool {
        let fresh = self.seen.insert(hook.to_string().to_ascii_lowercase());
        if fresh {
            self.hooks.push(hook);
        }
        fresh
    }

    /// Adds `hook` with the receiver URL its list showed.
    fn add_listed(&mut self, hook: Hook, url: Option<&str>) -> bool {
        if let Some(url) = url {
            self.receivers
                .entry(hook.to_string().to_ascii_lowercase())
                .or_insert_with(|| Receiver::from_url(url));
        }
        self.add(hook)
    }

    /// The receiver `hook` delivers to; a hook whose URL could not be read is a receiver
    /// of its own.
    pub fn receiver_of(&self, hook: &Hook) -> Receiver {
        let key = hook.to_string();
        self.receivers
            .get(&key.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| Receiver::of_hook(&key))
    }

    /// Reads the receiver URL of each hook no list showed (given by id, or the App's),
    /// `concurrency` at once, one request each. A hook whose settings cannot be read (the
    /// token may list deliveries but not read the hook) is a receiver of its own: its
    /// health is judged alone, as before receivers were known.
    pub async fn read_receivers(
        &mut self,
        client: &GitHubClient,
        credential: impl Fn(&Hook) -> Credential,
        concurrency: usize,
        log: &Log,
    ) {
        let unknown: Vec<(Hook, Credential)> = self
            .hooks
            .iter()
            .filter(|hook| {
                !self
                    .receivers
                    .contains_key(&hook.to_string().to_ascii_lowercase())
            })
            .map(|hook| (hook.clone(), credential(hook)))
            .collect();
        let read: Vec<(Hook, Result<Option<String>, _>)> = stream::iter(unknown)
            .map(|(hook, credential)| async move {
                let url = receiver_url(client, &hook, credential).await;
                (hook, url)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for (hook, url) in read {
            match url {
                Ok(Some(url)) => {
                    let receiver = Receiver::from_url(&url);
                    log.debug(&format!("`{hook}` delivers to {receiver}."));
                    self.receivers
                        .insert(hook.to_string().to_ascii_lowercase(), receiver);
                }
                Ok(None) => log.debug(&format!(
                    "`{hook}` has no receiver URL: its receiver is judged alone."
                )),
                Err(error) => log.debug(&format!(
                    "failed to read the receiver URL of `{hook}` ({error}): its receiver is judged alone."
                )),
            }
        }
    }

    /// Drops from `document` the hooks of the `*` scopes and of the fleets that no longer
    /// exist: their bookkeeping would otherwise stay forever. Returns the keys dropped.
    pub fn forget_removed(&self, document: &mut CheckpointDocument) -> Vec<String> {
        let gone: Vec<String> = document
            .hooks
            .keys()
            .filter(|key| {
                !self.seen.contains(&key.to_ascii_lowercase())
                    && key.parse::<Hook>().is_ok_and(|hook| {
                        self.listed_in_full
                            .iter()
                            .any(|scope| scope.contains(&hook))
                            || matches!(&hook, Hook::Repo { owner, .. }
                                if self.fleet_owners.contains(&owner.to_ascii_lowercase()))
                    })
            })
            .cloned()
            .collect();
        for key in &gone {
            document.hooks.remove(key);
        }
        gone
    }
}

/// What resolving the `hooks` input needs at each step: the client, how to name the input
/// in messages, which credential lists an account's hooks, the accounts `app/*` covers, and
/// how many repositories' hooks a fleet lists at once.
pub struct Resolver<'a, C> {
    pub client: &'a GitHubClient,
    /// The input as messages name it: ``input `hooks` `` or `` `--hooks` ``.
    pub input: &'a str,
    /// The credential that lists an account's hooks, by the account's login.
    pub credential: C,
    /// The accounts `app/*` covers.
    pub app_fleet: &'a [FleetAccount],
    /// Repositories whose webhooks a fleet lists at once.
    pub concurrency: usize,
    pub log: &'a Log,
}

impl<C: Fn(&str) -> Credential> Resolver<'_, C> {
    /// Resolves the `hooks` input's selectors to concrete hooks: ids as given, URLs and `*`
    /// by listing each scope's webhooks once, fleets by listing the owner's repositories and
    /// then each repository's webhooks.
    ///
    /// Fails, before any redelivery, when a list is refused (with the permission it needs)
    /// or a URL matches no hook (with the URLs that exist there). A URL that matches several
    /// hooks selects them all, and the log says so. A hook named twice is kept once.
    pub async fn resolve(&self, selectors: &[HookSelector]) -> anyhow::Result<Resolved> {
        let mut resolved = Resolved::default();
        let mut lists: HashMap<HookScope, Vec<ListedHook>> = HashMap::new();
        for selector in expand(selectors, self.app_fleet) {
            match &selector {
                HookSelector::App | HookSelector::AppFleet => {
                    resolved.add(Hook::App);
                }
                HookSelector::Scoped {
                    scope,
                    target: HookTarget::Id(id),
                } => {
                    resolved.add(scope.hook(*id));
                }
                HookSelector::Scoped { scope, target } => {
                    let key = lowercase(scope);
                    if !lists.contains_key(&key) {
                        let credential = (self.credential)(scope.account());
                        let listed = list(self.client, scope, credential)
                            .await
                            .map_err(|error| explain(error, scope))
                            .with_context(|| format!("failed to list the webhooks of {scope}"))?;
                        lists.insert(key.clone(), listed);
                    }
                    let listed = lists.get(&key).map(Vec::as_slice).unwrap_or_default();
                    self.select_listed(&mut resolved, &selector, scope, target, listed)?;
                }
                HookSelector::Fleet { owner, target } => {
                    let found = self
                        .resolve_fleet(owner, target)
                        .await
                        .with_context(|| format!("failed to resolve `{selector}`"))?;
                    self.select_fleet(&mut resolved, &selector, owner, target, found)?;
                }
            }
        }
        Ok(resolved)
    }

    /// Selects the hooks of one listed scope that `target` (a URL or `*`) names.
    fn select_listed(
        &self,
        resolved: &mut Resolved,
        selector: &HookSelector,
        scope: &HookScope,
        target: &HookTarget,
        listed: &[ListedHook],
    ) -> anyhow::Result<()> {
        let log = self.log;
        match target {
            HookTarget::Id(id) => {
                resolved.add(scope.hook(*id));
            }
            HookTarget::All => {
                log.info(&format!(
                    "`{selector}`: {} webhook(s) in {scope}{}",
                    listed.len(),
                    describe(scope, listed.iter())
                ));
                for hook in listed {
                    resolved.add_listed(scope.hook(hook.id), hook.config.url.as_deref());
                }
                resolved.listed_in_full.push(scope.clone());
            }
            HookTarget::Url(url) => {
                let matches: Vec<&ListedHook> = listed
                    .iter()
                    .filter(|hook| hook.config.url.as_deref() == Some(url.as_str()))
                    .collect();
                if matches.is_empty() {
                    anyhow::bail!("{}", no_match(self.input, selector, scope, url, listed));
                }
                if matches.len() > 1 {
                    log.warning(&format!(
                        "`{selector}`: {} webhooks of {scope} have this URL; each is processed: {}",
                        matches.len(),
                        matches
                            .iter()
                            .map(|hook| scope.hook(hook.id).to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                } else {
                    log.info(&format!("`{selector}` is `{}`.", scope.hook(matches[0].id)));
                }
                for hook in matches {
                    resolved.add_listed(scope.hook(hook.id), hook.config.url.as_deref());
                }
            }
        }
        Ok(())
    }
}

/// `app/*` as the selectors it stands for: the App's hook and, for each account its
/// installations cover, `org/<login>/*` and `repo/<login>/*/*`.
fn expand(selectors: &[HookSelector], app_fleet: &[FleetAccount]) -> Vec<HookSelector> {
    let mut expanded = Vec::new();
    for selector in selectors {
        expanded.push(selector.clone());
        if *selector != HookSelector::AppFleet {
            continue;
        }
        for account in app_fleet {
            if account.organization_hooks {
                expanded.push(HookSelector::Scoped {
                    scope: HookScope::Org {
                        org: account.login.clone(),
                    },
                    target: HookTarget::All,
                });
            }
            if account.repository_hooks {
                expanded.push(HookSelector::Fleet {
                    owner: account.login.clone(),
                    target: HookTarget::All,
                });
            }
        }
    }
    expanded
}

/// The one line said when a URL matches no hook: the URLs that do exist there.
fn no_match(
    input: &str,
    selector: &HookSelector,
    scope: &HookScope,
    url: &str,
    listed: &[ListedHook],
) -> String {
    let mut urls: Vec<String> = listed
        .iter()
        .filter_map(|hook| hook.config.url.as_deref())
        .map(|url| format!("`{}`", Receiver::from_url(url)))
        .collect();
    urls.sort();
    urls.dedup();
    let known = if urls.is_empty() {
        format!("{scope} has no webhook with a URL")
    } else {
        format!("the URLs there are {}", urls.join(", "))
    };
    format!(
        "{input} has `{selector}`, but no webhook of {scope} has the URL `{}` (compared exactly); {known}: write one of them, or the hook's id",
        shown_url(url)
    )
}

/// A URL the user typed, as messages show it: credentials in it (`user:password@`) are
/// replaced. URLs read from GitHub are shown as their [`Receiver`] instead.
fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// ` (org/acme/1 → https://…, …)` for the log.
fn describe<'a>(scope: &HookScope, hooks: impl Iterator<Item = &'a ListedHook>) -> String {
    let shown: Vec<String> = hooks
        .map(|hook| {
            format!(
                "{} → {}",
                scope.hook(hook.id),
                hook.config.url.as_deref().map_or_else(
                    || "no URL".to_owned(),
                    |url| Receiver::from_url(url).to_string()
                )
            )
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(": {}", shown.join(", "))
    }
}

/// Scopes compare without case, as GitHub's names do.
fn lowercase(scope: &HookScope) -> HookScope {
    match scope {
        HookScope::Org { org } => HookScope::Org {
            org: org.to_ascii_lowercase(),
        },
        HookScope::Repo { owner, repo } => HookScope::Repo {
            owner: owner.to_ascii_lowercase(),
            repo: repo.to_ascii_lowercase(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_not_shown() {
        assert_eq!(
            shown_url("https://user:pass@ci.example.com/hook?x=@y"),
            "https://***@ci.example.com/hook?x=@y"
        );
        assert_eq!(
            shown_url("https://ci.example.com/a@b"),
            "https://ci.example.com/a@b"
        );
    }

    #[test]
    fn removed_hooks_of_listed_scopes_leave_the_document() {
        let mut document = CheckpointDocument::parse(
            r#"{"version":1,"hooks":{"app":{},"org/acme/1":{},"org/ACME/2":{},"org/other/3":{},"repo/acme/x/4":{}}}"#,
        )
        .expect("a document");
        let mut resolved = Resolved {
            listed_in_full: vec![HookScope::Org { org: "Acme".into() }],
            ..Resolved::default()
        };
        resolved.add(Hook::App);
        resolved.add("org/acme/1".parse().expect("a hook"));
        assert!(!resolved.add("org/ACME/1".parse().expect("a hook")));
        assert_eq!(resolved.forget_removed(&mut document), ["org/ACME/2"]);
        let keys: Vec<&str> = document.hooks.keys().map(String::as_str).collect();
        assert_eq!(keys, ["app", "org/acme/1", "org/other/3", "repo/acme/x/4"]);
    }

    #[test]
    fn hooks_a_fleet_no_longer_selects_leave_the_document() {
        let mut document = CheckpointDocument::parse(
            r#"{"version":1,"hooks":{"app":{},"repo/acme/a/1":{},"repo/Acme/b/2":{},"repo/octo/c/3":{},"org/acme/4":{}}}"#,
        )
        .expect("a document");
        let mut resolved = Resolved {
            fleet_owners: vec!["acme".into()],
            ..Resolved::default()
        };
        resolved.add("repo/ACME/a/1".parse().expect("a hook"));
        assert_eq!(resolved.forget_removed(&mut document), ["repo/Acme/b/2"]);
        let keys: Vec<&str> = document.hooks.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["app", "org/acme/4", "repo/acme/a/1", "repo/octo/c/3"]
        );
    }
}
