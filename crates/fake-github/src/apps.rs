//! The App's installations and their access tokens.

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng as _;
use serde_json::{Map, Value, json};

use crate::auth::{permission_level, require_jwt};
use crate::clock::rfc3339;
use crate::http::reply::{Reply, merge};
use crate::http::{BodyProblem, Ctx, guarded};
use crate::state::{Inner, Shared};
use crate::{DOC_APPS, FakeGitHub, MintedToken, fleet};

pub(crate) struct Installation {
    pub(crate) full_name: String,
    pub(crate) id: u64,
}

#[derive(Clone)]
pub(crate) struct Grant {
    pub(crate) installation_id: u64,
    pub(crate) permissions: Map<String, Value>,
    /// Lower-case `owner/name`s the token is good for.
    pub(crate) repos: Vec<String>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl Inner {
    /// What installation `installation_id` was granted (see
    /// [`FakeGitHub::set_installation_permissions`]).
    pub(crate) fn installation_permissions(&self, installation_id: u64) -> Map<String, Value> {
        match self.installation_permissions.get(&installation_id) {
            Some(perms) => perms.clone(),
            None => {
                let mut perms = Map::new();
                perms.insert("metadata".to_owned(), json!("read"));
                perms.insert("actions_variables".to_owned(), json!("write"));
                perms
            }
        }
    }
}

/// The App's installations and their tokens, and the repository lists a fleet is read from.
pub(crate) fn route_apps(
    shared: &Shared,
    inner: &mut Inner,
    ctx: &Ctx<'_>,
    segments: &[&str],
) -> Option<Reply> {
    Some(match (ctx.method, segments) {
        ("GET", ["orgs", org, "repos"]) => {
            fleet::list_repositories(shared, inner, &fleet::RepoOwner::Org(org), ctx)
        }
        ("GET", ["users", user, "repos"]) => {
            fleet::list_repositories(shared, inner, &fleet::RepoOwner::User(user), ctx)
        }
        ("GET", ["installation", "repositories"]) => {
            fleet::installation_repositories(shared, inner, ctx)
        }
        ("GET", ["app", "installations"]) => fleet::list_installations(shared, inner, ctx),
        ("GET", ["repos", owner, repo, "installation"]) => guarded(require_jwt(ctx), || {
            get_installation(shared, inner, owner, repo)
        }),
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            guarded(require_jwt(ctx), || mint_token(shared, inner, id, ctx))
        }
        _ => return None,
    })
}

fn get_installation(shared: &Shared, inner: &Inner, owner: &str, repo: &str) -> Reply {
    let key = format!("{owner}/{repo}").to_ascii_lowercase();
    let id = match inner.installations.get(&key) {
        Some(installation) => installation.id,
        // Installed on the whole account: every repository of it that exists.
        None => match inner.account_installations.get(&owner.to_ascii_lowercase()) {
            Some((_, id)) if inner.repositories.contains_key(&key) => *id,
            _ => return Reply::not_found(DOC_APPS),
        },
    };
    // GitHub's documented example, with this installation's own values: every field GitHub
    // sends is there, so a client that needs one more field finds it.
    let mut answer = shared
        .contract()
        .example("apps/get-repo-installation", 200)
        .unwrap_or_else(|| json!({}));
    merge(
        &mut answer,
        json!({
            "id": id,
            "app_id": shared.app_id,
            "client_id": shared.client_id,
            "account": { "login": owner },
            "repository_selection": "selected",
            "access_tokens_url": format!("{}{}/app/installations/{id}/access_tokens", shared.origin, shared.prefix),
            "permissions": inner.installation_permissions(id),
            "events": [],
            "target_type": "Organization",
        }),
    );
    Reply::json(200, &answer)
}

fn mint_token(shared: &Shared, inner: &mut Inner, id: &str, ctx: &Ctx<'_>) -> Reply {
    let Ok(installation_id) = id.parse::<u64>() else {
        return Reply::not_found(DOC_APPS);
    };
    let installed = inner.installation_repositories(installation_id);
    let whole_account = inner
        .account_installations
        .values()
        .any(|(_, id)| *id == installation_id);
    if installed.is_empty() && !whole_account {
        return Reply::not_found(DOC_APPS);
    }
    if matches!(ctx.body_problem, Some(BodyProblem::NotJson)) {
        return Reply::error(400, "Problems parsing JSON", DOC_APPS);
    }
    let empty = Map::new();
    let body = match ctx.body {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => return Reply::error(400, "Problems parsing JSON", DOC_APPS),
    };
    let granted = match granted_repositories(&installed, body) {
        Ok(granted) => granted,
        Err(refusal) => return refusal,
    };
    let available = inner.installation_permissions(installation_id);
    let permissions = match granted_permissions(shared, available, body) {
        Ok(permissions) => permissions,
        Err(refusal) => return refusal,
    };
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(36)
        .map(char::from)
        .collect();
    let token = format!("ghs_{suffix}");
    let expires_at = ctx.now + TimeDelta::hours(1);
    let answer = token_answer(shared, &token, expires_at, &granted, &permissions);
    let grant = Grant {
        installation_id,
        permissions,
        repos: granted
            .iter()
            .map(|inst| inst.full_name.to_ascii_lowercase())
            .collect(),
        expires_at,
    };
    inner.grants.insert(token.clone(), grant);
    inner.minted.push(MintedToken {
        token,
        installation_id,
        body: ctx.body.cloned().unwrap_or(Value::Null),
    });
    Reply::json(201, &answer)
}

/// The repositories a token asks for (names without the owner), all of the installation's
/// when it names none; a name the installation cannot reach is refused as GitHub does.
fn granted_repositories<'a>(
    installed: &'a [fleet::RepoData],
    body: &Map<String, Value>,
) -> Result<Vec<&'a fleet::RepoData>, Reply> {
    let names = match body.get("repositories") {
        None | Some(Value::Null) => return Ok(installed.iter().collect()),
        Some(Value::Array(names)) => names,
        Some(_) => {
            return Err(Reply::validation_failed(
                DOC_APPS,
                "Installation",
                "repositories",
                "invalid",
            ));
        }
    };
    let mut chosen = Vec::new();
    for name in names {
        let Some(name) = name.as_str() else {
            return Err(Reply::validation_failed(
                DOC_APPS,
                "Installation",
                "repositories",
                "invalid",
            ));
        };
        let found = installed.iter().find(|repo| {
            repo.full_name
                .split_once('/')
                .is_some_and(|(_, n)| n.eq_ignore_ascii_case(name))
        });
        match found {
            Some(repo) => chosen.push(repo),
            None => {
                return Err(Reply::error(
                    422,
                    "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    DOC_APPS,
                ));
            }
        }
    }
    Ok(chosen)
}

/// The permissions a token asks for, each known to GitHub and granted to the installation;
/// all of the installation's when it asks for none.
fn granted_permissions(
    shared: &Shared,
    available: Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Reply> {
    let requested = match body.get("permissions") {
        None | Some(Value::Null) => return Ok(available),
        Some(Value::Object(requested)) => requested,
        Some(_) => {
            return Err(Reply::validation_failed(
                DOC_APPS,
                "Installation",
                "permissions",
                "invalid",
            ));
        }
    };
    let known = shared.contract().permission_keys();
    if let Some(unknown) = requested.keys().find(|name| !known.contains(name)) {
        // GitHub refuses a key it does not know (e.g. `variables`, whose real key is
        // `actions_variables`).
        return Err(Reply::json(
            422,
            &json!({
                "message": "Validation Failed",
                "errors": [format!("Unknown permission: {unknown}")],
                "documentation_url": DOC_APPS,
            }),
        ));
    }
    for (name, level) in requested {
        let wanted = level.as_str().map_or(0, permission_level);
        let has = available
            .get(name)
            .and_then(Value::as_str)
            .map_or(0, permission_level);
        if wanted == 0 || wanted > has {
            return Err(Reply::error(
                422,
                "The permissions requested are not granted to this installation.",
                DOC_APPS,
            ));
        }
    }
    Ok(requested.clone())
}

/// GitHub's documented example of a new installation token, with this token's values; its
/// permissions are what was asked, not merged with the example's.
fn token_answer(
    shared: &Shared,
    token: &str,
    expires_at: DateTime<Utc>,
    granted: &[&fleet::RepoData],
    permissions: &Map<String, Value>,
) -> Value {
    let mut answer = shared
        .contract()
        .example("apps/create-installation-access-token", 201)
        .unwrap_or_else(|| json!({}));
    let example_repository = answer
        .pointer("/repositories/0")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let repositories: Vec<Value> = granted
        .iter()
        .map(|inst| {
            let (owner, name) = inst.full_name.split_once('/').unwrap_or(("", ""));
            let mut repository = example_repository.clone();
            merge(
                &mut repository,
                json!({ "id": inst.id, "name": name, "full_name": inst.full_name,
                        "owner": { "login": owner } }),
            );
            repository
        })
        .collect();
    if let Some(object) = answer.as_object_mut() {
        object.insert("permissions".to_owned(), Value::Object(permissions.clone()));
    }
    merge(
        &mut answer,
        json!({
            "token": token,
            "expires_at": rfc3339(expires_at),
            "repository_selection": "selected",
            "repositories": repositories,
        }),
    );
    answer
}

impl FakeGitHub {
    /// The App is installed on `repo` (`"owner/name"`) with this installation id. Several
    /// repositories can share one installation.
    pub fn set_installation(&self, repo: &str, installation_id: u64) {
        let mut inner = self.shared.lock();
        let key = repo.to_ascii_lowercase();
        inner.ensure_repository(repo);
        inner.installations.insert(
            key,
            Installation {
                full_name: repo.to_owned(),
                id: installation_id,
            },
        );
    }

    /// The permissions the installation was granted (default
    /// `{"metadata":"read","actions_variables":"write"}`: `actions_variables` is GitHub's key
    /// for "Variables"). Tokens minted without a `permissions`
    /// narrowing get these; asking for more is answered 422.
    pub fn set_installation_permissions(&self, installation_id: u64, permissions: Value) {
        let map = match permissions {
            Value::Object(map) => map,
            other => panic!("installation permissions must be a JSON object, got {other}"),
        };
        self.shared
            .lock()
            .installation_permissions
            .insert(installation_id, map);
    }

    /// Installation tokens handed out, in order.
    pub fn minted_tokens(&self) -> Vec<MintedToken> {
        self.shared.lock().minted.clone()
    }
}
