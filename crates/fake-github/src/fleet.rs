//! What a fleet of hooks needs from GitHub: the repositories of an organization or a user,
//! the repositories an installation reaches, and the App's installations.
//! - <https://docs.github.com/en/rest/repos/repos#list-organization-repositories>
//! - <https://docs.github.com/en/rest/repos/repos#list-repositories-for-a-user>
//! - <https://docs.github.com/en/rest/apps/installations#list-repositories-accessible-to-the-app-installation>
//! - <https://docs.github.com/en/rest/apps/apps#list-installations-for-the-authenticated-app>
//!
//! Every answer is GitHub's documented example with the fake's own values, paginated with
//! `page` and `per_page` (at most 100) and a `Link` header, like the hook lists.
//!
//! Repositories exist once anything names them: a repository hook (with or without
//! deliveries), an installation, or [`FakeGitHub::add_repository`]. Their owners are
//! organizations unless [`FakeGitHub::set_user_account`] says otherwise.

use serde_json::{Value, json};

use crate::auth::{Principal, contains_ci};
use crate::http::reply::{Reply, merge};
use crate::http::{Ctx, api_base};
use crate::state::{Inner, Shared};
use crate::{
    AuthSeen, DEFAULT_PER_PAGE, DOC_APPS, FakeGitHub, JWT_MESSAGE, MAX_PER_PAGE, parse_query,
};

const DOC_REPOS: &str = "https://docs.github.com/rest/repos/repos";
const DOC_INSTALLATIONS: &str = "https://docs.github.com/rest/apps/installations";

/// A repository the fake knows.
#[derive(Clone, Debug)]
pub(crate) struct RepoData {
    pub(crate) full_name: String,
    pub(crate) id: u64,
    pub(crate) archived: bool,
    pub(crate) private: bool,
}

impl RepoData {
    fn owner(&self) -> &str {
        self.full_name
            .split_once('/')
            .map_or("", |(owner, _)| owner)
    }

    fn name(&self) -> &str {
        self.full_name.split_once('/').map_or("", |(_, name)| name)
    }
}

impl FakeGitHub {
    /// Makes the repository `"owner/name"` exist (public, not archived) without any hook.
    pub fn add_repository(&self, repo: &str) {
        self.shared.lock().ensure_repository(repo);
    }

    /// Archives (or unarchives) a repository: the lists show `"archived": true`.
    pub fn set_repository_archived(&self, repo: &str, archived: bool) {
        let mut inner = self.shared.lock();
        inner.ensure_repository(repo);
        if let Some(data) = inner.repositories.get_mut(&repo.to_ascii_lowercase()) {
            data.archived = archived;
        }
    }

    /// Makes a repository private: only tokens that reach it see it in the lists.
    pub fn set_repository_private(&self, repo: &str, private: bool) {
        let mut inner = self.shared.lock();
        inner.ensure_repository(repo);
        if let Some(data) = inner.repositories.get_mut(&repo.to_ascii_lowercase()) {
            data.private = private;
        }
    }

    /// The account `login` is a user, not an organization: `GET /orgs/{login}/repos` is a
    /// 404, `GET /users/{login}/repos` lists its public repositories, and its installations
    /// say `"target_type": "User"`.
    pub fn set_user_account(&self, login: &str) {
        self.shared.lock().users.insert(login.to_ascii_lowercase());
    }

    /// The App is installed on the whole account `login` ("All repositories") with this
    /// installation id: every repository of the account, now or later, is the installation's.
    pub fn set_account_installation(&self, login: &str, installation_id: u64) {
        self.shared.lock().account_installations.insert(
            login.to_ascii_lowercase(),
            (login.to_owned(), installation_id),
        );
    }
}

impl Inner {
    /// Registers `repo` (`"owner/name"`) if it is new; returns its id.
    pub(crate) fn ensure_repository(&mut self, repo: &str) -> u64 {
        let key = repo.to_ascii_lowercase();
        if let Some(data) = self.repositories.get(&key) {
            return data.id;
        }
        let id = self.repositories.len() as u64 + 1;
        self.repositories.insert(
            key,
            RepoData {
                full_name: repo.to_owned(),
                id,
                archived: false,
                private: false,
            },
        );
        id
    }

    /// The account (lower case) that owns repositories, hooks or installations.
    fn account_exists(&self, login: &str) -> bool {
        let login = login.to_ascii_lowercase();
        self.users.contains(&login)
            || self.account_installations.contains_key(&login)
            || self
                .repositories
                .values()
                .any(|repo| repo.owner().eq_ignore_ascii_case(&login))
            || self
                .registered_hooks
                .iter()
                .chain(self.hooks.keys())
                .any(|hook| matches!(hook, super::Hook::Org { org, .. } if *org == login))
    }

    /// The repositories of installation `id`, sorted by name: those it was installed on one
    /// by one, and every repository of an account it was installed on whole.
    pub(crate) fn installation_repositories(&self, id: u64) -> Vec<RepoData> {
        let mut names: Vec<String> = self
            .installations
            .iter()
            .filter(|(_, installation)| installation.id == id)
            .map(|(key, _)| key.clone())
            .collect();
        for (account, (_, installation)) in &self.account_installations {
            if *installation == id {
                names.extend(
                    self.repositories
                        .iter()
                        .filter(|(_, repo)| repo.owner().eq_ignore_ascii_case(account))
                        .map(|(key, _)| key.clone()),
                );
            }
        }
        names.sort();
        names.dedup();
        names
            .iter()
            .filter_map(|name| self.repositories.get(name).cloned())
            .collect()
    }

    /// Every installation: (id, account login, whole account).
    fn all_installations(&self) -> Vec<(u64, String, bool)> {
        let mut all: Vec<(u64, String, bool)> = self
            .account_installations
            .values()
            .map(|(login, id)| (*id, login.clone(), true))
            .collect();
        for installation in self.installations.values() {
            if all.iter().any(|(id, _, _)| *id == installation.id) {
                continue;
            }
            let owner = installation
                .full_name
                .split_once('/')
                .map_or("", |(owner, _)| owner);
            all.push((installation.id, owner.to_owned(), false));
        }
        all.sort_by_key(|(id, _, _)| *id);
        all
    }

    /// The account of installation `id` (lower case), installed whole or repository by
    /// repository.
    pub(crate) fn account_of_installation(&self, id: u64) -> Option<String> {
        self.all_installations()
            .into_iter()
            .find(|(installation, _, _)| *installation == id)
            .map(|(_, login, _)| login.to_ascii_lowercase())
    }

    fn is_user(&self, login: &str) -> bool {
        self.users.contains(&login.to_ascii_lowercase())
    }
}

/// `per_page` (1..=100, default 30) and `page` (from 1) of a paginated list; GitHub answers
/// 422 to values it cannot read.
pub(crate) fn page_query(
    ctx: &Ctx<'_>,
    doc: &str,
    resource: &str,
) -> Result<(usize, usize), Reply> {
    let mut per_page = DEFAULT_PER_PAGE;
    let mut page = 1_usize;
    for (name, value) in parse_query(ctx.query) {
        match name.as_str() {
            "per_page" => match value.parse::<u64>() {
                Ok(n) if n >= 1 => per_page = n.min(MAX_PER_PAGE as u64) as usize,
                _ => {
                    return Err(Reply::validation_failed(
                        doc, resource, "per_page", "invalid",
                    ));
                }
            },
            "page" => match value.parse::<usize>() {
                Ok(n) if n >= 1 => page = n,
                _ => return Err(Reply::validation_failed(doc, resource, "page", "invalid")),
            },
            _ => {}
        }
    }
    Ok((per_page, page))
}

/// One page of `items` as `page` and `per_page` choose it.
pub(crate) fn page_of<T: Clone>(items: &[T], per_page: usize, page: usize) -> Vec<T> {
    items
        .iter()
        .skip(page.saturating_sub(1).saturating_mul(per_page))
        .take(per_page)
        .cloned()
        .collect()
}

/// GitHub's `Link` header for page-numbered lists: `next` and `last` until the last page.
pub(crate) fn add_page_links(
    reply: &mut Reply,
    base: &str,
    path: &str,
    (per_page, page): (usize, usize),
    total: usize,
) {
    let last = total.div_ceil(per_page).max(1);
    if page < last {
        let link = |page: usize| format!("<{base}{path}?per_page={per_page}&page={page}>");
        reply.headers.push((
            "link",
            format!(
                "{}; rel=\"next\", {}; rel=\"last\"",
                link(page + 1),
                link(last)
            ),
        ));
    }
}

/// Whose repositories a list shows.
pub(crate) enum RepoOwner<'a> {
    Org(&'a str),
    User(&'a str),
}

/// `GET /orgs/{org}/repos` and `GET /users/{username}/repos`: an organization's repositories
/// that the caller may see (public ones, and the private ones its token reaches), or a
/// user's public repositories. Unknown accounts (and users asked for as organizations)
/// are 404.
pub(crate) fn list_repositories(
    shared: &Shared,
    inner: &Inner,
    owner: &RepoOwner<'_>,
    ctx: &Ctx<'_>,
) -> Reply {
    let (login, operation) = match owner {
        RepoOwner::Org(org) => (*org, "repos/list-for-org"),
        RepoOwner::User(user) => (*user, "repos/list-for-user"),
    };
    let principal = match ctx.auth {
        AuthSeen::None => None,
        AuthSeen::AppJwt => return Reply::error(401, JWT_MESSAGE, DOC_REPOS),
        _ => match inner.principal(ctx.auth, DOC_REPOS) {
            Ok(principal) => Some(principal),
            Err(reply) => return reply,
        },
    };
    let org_asked_of_user = matches!(owner, RepoOwner::Org(_)) && inner.is_user(login);
    if !inner.account_exists(login) || org_asked_of_user {
        return Reply::not_found(DOC_REPOS);
    }
    let visible = |repo: &RepoData| match (&principal, owner) {
        (Some(Principal::Pat(pat)), _) if contains_ci(&pat.hidden_repos, &repo.full_name) => false,
        (_, _) if !repo.private => true,
        // "Lists public repositories for the specified user."
        (_, RepoOwner::User(_)) | (None, _) => false,
        (Some(Principal::Pat(pat)), RepoOwner::Org(_)) => {
            contains_ci(&pat.admin_orgs, repo.owner())
                || contains_ci(&pat.admin_repos, &repo.full_name)
        }
        (Some(Principal::Installation(grant)), RepoOwner::Org(_)) => {
            contains_ci(&grant.repos, &repo.full_name)
        }
    };
    let mut repos: Vec<RepoData> = inner
        .repositories
        .values()
        .filter(|repo| repo.owner().eq_ignore_ascii_case(login) && visible(repo))
        .cloned()
        .collect();
    if let Err(reply) = sort_repositories(&mut repos, owner, ctx) {
        return reply;
    }
    let paging = match page_query(ctx, DOC_REPOS, "Repository") {
        Ok(paging) => paging,
        Err(reply) => return reply,
    };
    let base = api_base(shared, ctx);
    let template = shared
        .contract()
        .example(operation, 200)
        .and_then(|list| list.get(0).cloned())
        .unwrap_or_else(|| json!({}));
    let items: Vec<Value> = page_of(&repos, paging.0, paging.1)
        .iter()
        .map(|repo| repository_json(&template, repo, &base))
        .collect();
    let mut reply = Reply::json(200, &Value::Array(items));
    add_page_links(&mut reply, &base, ctx.path, paging, repos.len());
    reply
}

/// `sort` (`created`, `updated`, `pushed`: newest first; `full_name`: A to Z) and
/// `direction`, GitHub's defaults being `created` for organizations and `full_name` for users.
fn sort_repositories(
    repos: &mut [RepoData],
    owner: &RepoOwner<'_>,
    ctx: &Ctx<'_>,
) -> Result<(), Reply> {
    let mut sort = match owner {
        RepoOwner::Org(_) => "created".to_owned(),
        RepoOwner::User(_) => "full_name".to_owned(),
    };
    let mut direction = None;
    for (name, value) in parse_query(ctx.query) {
        match name.as_str() {
            "sort" => sort = value,
            "direction" => direction = Some(value),
            _ => {}
        }
    }
    let by_name = sort == "full_name";
    let ascending = match direction.as_deref() {
        Some("asc") => true,
        Some("desc") => false,
        Some(_) => {
            return Err(Reply::validation_failed(
                DOC_REPOS,
                "Repository",
                "direction",
                "invalid",
            ));
        }
        None => by_name,
    };
    if by_name {
        repos.sort_by_key(|repo| repo.full_name.to_ascii_lowercase());
    } else {
        // The fake's ids grow with creation: the newest repository has the largest.
        repos.sort_by_key(|repo| repo.id);
    }
    if !ascending {
        repos.reverse();
    }
    Ok(())
}

/// A repository as the lists show it: the description's example with this repository's
/// own names, ids, URLs and flags.
fn repository_json(template: &Value, repo: &RepoData, base: &str) -> Value {
    let mut value = template.clone();
    let api_url = format!("{base}/repos/{}", repo.full_name);
    merge(
        &mut value,
        json!({
            "id": repo.id,
            "node_id": format!("R_fake{}", repo.id),
            "name": repo.name(),
            "full_name": repo.full_name,
            "private": repo.private,
            "archived": repo.archived,
            "visibility": if repo.private { "private" } else { "public" },
            "owner": { "login": repo.owner() },
            "html_url": format!("https://github.com/{}", repo.full_name),
            "url": api_url,
            "hooks_url": format!("{api_url}/hooks"),
        }),
    );
    value
}

/// `GET /installation/repositories`: with an installation token, the repositories the token
/// reaches (`{"total_count", "repositories"}`); any other credential is refused.
pub(crate) fn installation_repositories(shared: &Shared, inner: &Inner, ctx: &Ctx<'_>) -> Reply {
    let grant = match ctx.auth {
        AuthSeen::AppJwt => return Reply::error(401, JWT_MESSAGE, DOC_INSTALLATIONS),
        _ => match inner.principal(ctx.auth, DOC_INSTALLATIONS) {
            Ok(Principal::Installation(grant)) => grant,
            Ok(Principal::Pat(_)) => {
                return Reply::error(
                    403,
                    "You must authenticate with an installation access token in order to list repositories for an installation.",
                    DOC_INSTALLATIONS,
                );
            }
            Err(reply) => return reply,
        },
    };
    let paging = match page_query(ctx, DOC_INSTALLATIONS, "Installation") {
        Ok(paging) => paging,
        Err(reply) => return reply,
    };
    let repos: Vec<RepoData> = grant
        .repos
        .iter()
        .filter_map(|name| inner.repositories.get(name).cloned())
        .collect();
    let base = api_base(shared, ctx);
    let mut answer = shared
        .contract()
        .example("apps/list-repos-accessible-to-installation", 200)
        .unwrap_or_else(|| json!({}));
    let template = answer
        .pointer("/repositories/0")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let whole = inner
        .account_installations
        .values()
        .any(|(_, id)| *id == grant.installation_id);
    let items: Vec<Value> = page_of(&repos, paging.0, paging.1)
        .iter()
        .map(|repo| repository_json(&template, repo, &base))
        .collect();
    merge(
        &mut answer,
        json!({
            "total_count": repos.len(),
            "repository_selection": if whole { "all" } else { "selected" },
        }),
    );
    if let Some(object) = answer.as_object_mut() {
        object.insert("repositories".to_owned(), Value::Array(items));
    }
    let mut reply = Reply::json(200, &answer);
    add_page_links(&mut reply, &base, ctx.path, paging, repos.len());
    reply
}

/// `GET /app/installations` (App JWT): every installation of the App, with its account and
/// the permissions it was granted.
pub(crate) fn list_installations(shared: &Shared, inner: &Inner, ctx: &Ctx<'_>) -> Reply {
    if *ctx.auth != AuthSeen::AppJwt {
        return Reply::error(401, JWT_MESSAGE, DOC_APPS);
    }
    let paging = match page_query(ctx, DOC_APPS, "Installation") {
        Ok(paging) => paging,
        Err(reply) => return reply,
    };
    let all = inner.all_installations();
    let base = api_base(shared, ctx);
    let template = shared
        .contract()
        .example("apps/list-installations", 200)
        .and_then(|list| list.get(0).cloned())
        .unwrap_or_else(|| json!({}));
    let items: Vec<Value> = page_of(&all, paging.0, paging.1)
        .iter()
        .map(|(id, login, whole)| {
            let kind = if inner.is_user(login) {
                "User"
            } else {
                "Organization"
            };
            let mut installation = template.clone();
            merge(
                &mut installation,
                json!({
                    "id": id,
                    "app_id": shared.app_id,
                    "client_id": shared.client_id,
                    "target_id": id,
                    "target_type": kind,
                    "account": { "login": login, "type": kind },
                    "repository_selection": if *whole { "all" } else { "selected" },
                    "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
                    "repositories_url": format!("{base}/installation/repositories"),
                    "events": [],
                }),
            );
            // The installation's own permissions, not merged with the example's.
            if let Some(object) = installation.as_object_mut() {
                object.insert(
                    "permissions".to_owned(),
                    Value::Object(inner.installation_permissions(*id)),
                );
            }
            installation
        })
        .collect();
    let mut reply = Reply::json(200, &Value::Array(items));
    add_page_links(&mut reply, &base, ctx.path, paging, all.len());
    reply
}
