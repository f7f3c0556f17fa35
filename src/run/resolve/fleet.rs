//! Fleets: the same hook on every repository of an organization or a user
//! (`repo/<owner>/*/<hook>`). The owner's repositories are listed once (archived ones are
//! skipped and counted), then each repository's webhooks, and the hooks that `<hook>` names
//! (an id, a receiver URL, or `*`) are selected.

use std::pin::pin;

use anyhow::Context;
use futures_util::{StreamExt as _, stream};

use super::{Resolved, Resolver, shown_url};
use crate::domain::hook::{HookId, HookScope, HookSelector, HookTarget};
use crate::domain::receiver::Receiver;
use crate::github::client::Credential;
use crate::github::hooks::{ListedHook, explain, list};
use crate::github::repositories;
use crate::report::FleetReport;

/// URLs kept to say which exist, when a fleet's URL matches no hook.
const URLS_SHOWN: usize = 10;

/// A hook a fleet selected: its id, and its receiver URL as the list showed it.
type SelectedHook = (HookId, Option<String>);

/// What a fleet found: its repositories, and the hooks `target` selects on each.
pub(super) struct Found {
    repositories: usize,
    archived: usize,
    /// Each repository with hooks selected.
    selected: Vec<(HookScope, Vec<SelectedHook>)>,
    /// A few of the receiver URLs seen, for the message when none matched.
    urls: Vec<String>,
}

impl<C: Fn(&str) -> Credential> Resolver<'_, C> {
    /// Lists the repositories of `owner` and the webhooks of each that is not archived,
    /// `concurrency` repositories at once, keeping the ids `target` selects.
    pub(super) async fn resolve_fleet(
        &self,
        owner: &str,
        target: &HookTarget,
    ) -> anyhow::Result<Found> {
        let (client, credential, log) = (self.client, (self.credential)(owner), self.log);
        let listed = repositories::list(client, owner, credential)
            .await
            .map_err(|error| repositories::explain(error, owner))
            .with_context(|| format!("failed to list the repositories of {owner}"))?;
        let mut found = Found {
            repositories: listed.len(),
            archived: 0,
            selected: Vec::new(),
            urls: Vec::new(),
        };
        let mut active = Vec::new();
        for repository in &listed {
            let Some((login, name)) = repository.owner_and_name() else {
                continue;
            };
            if repository.archived {
                found.archived += 1;
                log.debug(&format!("{} is archived: skipped.", repository.full_name));
                continue;
            }
            active.push(HookScope::Repo {
                owner: login.to_owned(),
                repo: name.to_owned(),
            });
        }
        // In the repositories' order, several lists in flight.
        let mut lists = pin!(
            stream::iter(active)
                .map(|scope| async move {
                    let hooks = list(client, &scope, credential)
                        .await
                        .map_err(|error| explain(error, &scope))
                        .with_context(|| format!("failed to list the webhooks of {scope}"))?;
                    anyhow::Ok((scope, hooks))
                })
                .buffered(self.concurrency.max(1))
        );
        while let Some(listed) = lists.next().await {
            let (scope, hooks) = listed?;
            found.note(scope, target, &hooks);
        }
        Ok(found)
    }

    /// Adds what a fleet found to `resolved`, says it in the log, and fails when an id or a
    /// URL matched no hook of any repository (a typo, most likely), naming URLs that exist.
    pub(super) fn select_fleet(
        &self,
        resolved: &mut Resolved,
        selector: &HookSelector,
        owner: &str,
        target: &HookTarget,
        found: Found,
    ) -> anyhow::Result<()> {
        let (input, log) = (self.input, self.log);
        let active = found.repositories - found.archived;
        let mut hooks = 0;
        for (scope, ids) in &found.selected {
            for (id, url) in ids {
                hooks += usize::from(resolved.add_listed(scope.hook(*id), url.as_deref()));
            }
        }
        if found.selected.is_empty() {
            let what = match target {
                HookTarget::All => {
                    log.warning(&format!(
                        "`{selector}`: none of the {active} repositories of {owner} (archived ones aside) has a webhook"
                    ));
                    None
                }
                HookTarget::Id(id) => Some(format!("the id {id}")),
                HookTarget::Url(url) => {
                    Some(format!("the URL `{}` (compared exactly)", shown_url(url)))
                }
            };
            if let Some(what) = what {
                let known = if found.urls.is_empty() {
                    "they have no webhook with a URL".to_owned()
                } else {
                    format!("URLs there include {}", found.urls.join(", "))
                };
                anyhow::bail!(
                    "{input} has `{selector}`, but no webhook of the {active} repositories of {owner} (archived ones aside) has {what}; {known}: write one of them"
                );
            }
        }
        log.info(&format!(
            "`{selector}`: {} repositories of {owner} ({} archived, skipped): {hooks} webhook(s) on {} of them.",
            found.repositories,
            found.archived,
            found.selected.len()
        ));
        resolved.fleet_owners.push(owner.to_ascii_lowercase());
        resolved.fleets.push(FleetReport {
            selector: selector.to_string(),
            repositories: found.repositories,
            archived: found.archived,
            hooks,
        });
        Ok(())
    }
}

impl Found {
    /// Keeps the ids of `hooks` that `target` names, and a few URLs.
    fn note(&mut self, scope: HookScope, target: &HookTarget, hooks: &[ListedHook]) {
        for url in hooks.iter().filter_map(|hook| hook.config.url.as_deref()) {
            let shown = format!("`{}`", Receiver::from_url(url));
            if self.urls.len() < URLS_SHOWN && !self.urls.contains(&shown) {
                self.urls.push(shown);
            }
        }
        let ids: Vec<SelectedHook> = hooks
            .iter()
            .filter(|hook| match target {
                HookTarget::All => true,
                HookTarget::Id(id) => hook.id == *id,
                HookTarget::Url(url) => hook.config.url.as_deref() == Some(url.as_str()),
            })
            .map(|hook| (hook.id, hook.config.url.clone()))
            .collect();
        if !ids.is_empty() {
            self.selected.push((scope, ids));
        }
    }
}
