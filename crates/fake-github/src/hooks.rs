//! Webhooks: which hooks exist and where they deliver, the hook lists of an organization or
//! a repository, one hook by id, the App's hook configuration, and the routes of every hook
//! (its deliveries and redeliveries).

use serde_json::{Value, json};

use crate::auth::{require_hook_access, require_jwt};
use crate::deliveries::{list_deliveries, redeliver};
use crate::http::reply::{Reply, merge};
use crate::http::{Ctx, api_base, guarded};
use crate::state::{Inner, Shared};
use crate::{
    DEFAULT_APP_HOOK_URL, DOC_ORG_DELIVERIES, DOC_REPO_DELIVERIES, FakeGitHub, Hook, fleet,
};

/// Whose hooks a list shows.
enum HookScope<'a> {
    Org(&'a str),
    Repo(&'a str, &'a str),
}

impl HookScope<'_> {
    /// The hook `hook_id` of this organization or repository (`0`: its access rules).
    fn hook(&self, hook_id: u64) -> Hook {
        match self {
            HookScope::Org(org) => Hook::org(org, hook_id),
            HookScope::Repo(owner, repo) => Hook::Repo {
                owner: (*owner).to_owned(),
                repo: (*repo).to_owned(),
                hook_id,
            },
        }
    }

    /// GitHub's `type` of these hooks.
    fn kind(&self) -> &'static str {
        match self {
            HookScope::Org(_) => "Organization",
            HookScope::Repo(..) => "Repository",
        }
    }
}

impl Inner {
    /// A repository hook's repository exists.
    pub(crate) fn ensure_hook_repository(&mut self, hook: &Hook) {
        if let Hook::Repo { owner, repo, .. } = hook {
            self.ensure_repository(&format!("{owner}/{repo}"));
        }
    }

    /// The App's hook always exists; others once registered or given deliveries.
    pub(crate) fn hook_exists(&self, hook: &Hook) -> bool {
        let key = hook.key();
        key == Hook::App || self.registered_hooks.contains(&key) || self.hooks.contains_key(&key)
    }

    /// The ids of the hooks that exist in `scope`, in order.
    fn hook_ids(&self, scope: &HookScope<'_>) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .registered_hooks
            .iter()
            .chain(self.hooks.keys())
            .filter_map(|hook| match (hook, scope) {
                (Hook::Org { org, hook_id }, HookScope::Org(wanted))
                    if org.eq_ignore_ascii_case(wanted) =>
                {
                    Some(*hook_id)
                }
                (
                    Hook::Repo {
                        owner,
                        repo,
                        hook_id,
                    },
                    HookScope::Repo(wanted_owner, wanted_repo),
                ) if owner.eq_ignore_ascii_case(wanted_owner)
                    && repo.eq_ignore_ascii_case(wanted_repo) =>
                {
                    Some(*hook_id)
                }
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The hook a `…/hook(s)/…/deliveries…` path names, and the segments after `deliveries`.
fn hook_path<'a>(segments: &'a [&'a str]) -> Option<(Hook, &'a [&'a str])> {
    match segments {
        ["app", "hook", "deliveries", rest @ ..] => Some((Hook::App, rest)),
        ["orgs", org, "hooks", hook_id, "deliveries", rest @ ..] => {
            Some((Hook::org(org, hook_id.parse().ok()?), rest))
        }
        [
            "repos",
            owner,
            repo,
            "hooks",
            hook_id,
            "deliveries",
            rest @ ..,
        ] => Some((
            Hook::Repo {
                owner: (*owner).to_owned(),
                repo: (*repo).to_owned(),
                hook_id: hook_id.parse().ok()?,
            },
            rest,
        )),
        _ => None,
    }
}

/// Webhooks: the hook lists of an organization or a repository, one hook by id, the App's
/// hook configuration, and every hook's deliveries and redeliveries (the App's with its JWT,
/// the others with access to them).
pub(crate) fn route_hooks(
    shared: &Shared,
    inner: &mut Inner,
    ctx: &Ctx<'_>,
    segments: &[&str],
) -> Option<Reply> {
    if let Some((hook, rest)) = hook_path(segments) {
        let access = if hook == Hook::App {
            require_jwt(ctx)
        } else {
            require_hook_access(inner, ctx, &hook)
        };
        return Some(match (ctx.method, rest) {
            ("GET", []) => guarded(access, || list_deliveries(shared, inner, &hook, ctx)),
            ("POST", [id, "attempts"]) => {
                guarded(access, || redeliver(shared, inner, &hook, id, ctx))
            }
            _ => Reply::unexpected(),
        });
    }
    Some(match (ctx.method, segments) {
        ("GET", ["orgs", org, "hooks"]) => list_hooks(shared, inner, &HookScope::Org(org), ctx),
        ("GET", ["repos", owner, repo, "hooks"]) => {
            list_hooks(shared, inner, &HookScope::Repo(owner, repo), ctx)
        }
        ("GET", ["orgs", org, "hooks", id]) => {
            get_hook(shared, inner, &HookScope::Org(org), id, ctx)
        }
        ("GET", ["repos", owner, repo, "hooks", id]) => {
            get_hook(shared, inner, &HookScope::Repo(owner, repo), id, ctx)
        }
        ("GET", ["app", "hook", "config"]) => {
            guarded(require_jwt(ctx), || app_hook_config(shared, inner))
        }
        _ => return None,
    })
}

/// `GET /orgs/{org}/hooks` and `GET /repos/{owner}/{repo}/hooks`: the hooks that exist
/// there, by id, paginated with `page` and `per_page` and a `Link` header, each built from
/// GitHub's documented example with the hook's own values. `config` never holds a secret
/// (GitHub shows `********`; the fake shows nothing).
/// <https://docs.github.com/en/rest/orgs/webhooks#list-organization-webhooks>
/// <https://docs.github.com/en/rest/repos/webhooks#list-repository-webhooks>
fn list_hooks(shared: &Shared, inner: &Inner, scope: &HookScope<'_>, ctx: &Ctx<'_>) -> Reply {
    // The listing's access rules are the organization's or the repository's, whatever the hook.
    if let Err(refusal) = require_hook_access(inner, ctx, &scope.hook(0)) {
        return refusal;
    }
    let (doc, operation) = match scope {
        HookScope::Org(_) => (DOC_ORG_DELIVERIES, "orgs/list-webhooks"),
        HookScope::Repo(..) => (DOC_REPO_DELIVERIES, "repos/list-webhooks"),
    };
    let (per_page, page) = match fleet::page_query(ctx, doc, "Hook") {
        Ok(paging) => paging,
        Err(reply) => return reply,
    };
    let ids = inner.hook_ids(scope);
    let base = api_base(shared, ctx);
    let example = shared
        .contract()
        .example(operation, 200)
        .and_then(|list| list.get(0).cloned())
        .unwrap_or_else(|| json!({}));
    let items: Vec<Value> = fleet::page_of(&ids, per_page, page)
        .iter()
        .map(|id| hook_json(inner, scope, *id, &base, &example))
        .collect();
    let mut reply = Reply::json(200, &Value::Array(items));
    fleet::add_page_links(&mut reply, &base, ctx.path, (per_page, page), ids.len());
    reply
}

/// `GET /orgs/{org}/hooks/{hook_id}` and `GET /repos/{owner}/{repo}/hooks/{hook_id}`: one
/// hook as the list shows it, with the list's access rules. A hook that does not exist is a
/// 404, and so is any hook to a token that may not see the scope's hooks.
/// <https://docs.github.com/en/rest/orgs/webhooks#get-an-organization-webhook>
/// <https://docs.github.com/en/rest/repos/webhooks#get-a-repository-webhook>
fn get_hook(
    shared: &Shared,
    inner: &Inner,
    scope: &HookScope<'_>,
    id: &str,
    ctx: &Ctx<'_>,
) -> Reply {
    let doc = scope.hook(0).doc();
    if let Err(refusal) = require_hook_access(inner, ctx, &scope.hook(0)) {
        return refusal;
    }
    let Ok(id) = id.parse::<u64>() else {
        return Reply::not_found(doc);
    };
    if !inner.hook_exists(&scope.hook(id)) {
        return Reply::not_found(doc);
    }
    let operation = match scope {
        HookScope::Org(_) => "orgs/get-webhook",
        HookScope::Repo(..) => "repos/get-webhook",
    };
    let template = shared
        .contract()
        .example(operation, 200)
        .unwrap_or_else(|| json!({}));
    let base = api_base(shared, ctx);
    Reply::json(200, &hook_json(inner, scope, id, &base, &template))
}

/// `GET /app/hook/config` (App JWT): the App's hook's configuration, its receiver in `url`
/// and its secret hidden as GitHub hides it.
/// <https://docs.github.com/en/rest/apps/webhooks#get-a-webhook-configuration-for-an-app>
fn app_hook_config(shared: &Shared, inner: &Inner) -> Reply {
    let mut config = shared
        .contract()
        .example("apps/get-webhook-config-for-app", 200)
        .unwrap_or_else(|| json!({}));
    merge(
        &mut config,
        json!({
            "url": receiver_url(inner, &Hook::App),
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": "********",
        }),
    );
    Reply::json(200, &config)
}

/// Where `hook` delivers (`config.url`): as set, or a made-up URL of its own.
fn receiver_url(inner: &Inner, hook: &Hook) -> String {
    let key = hook.key();
    match (inner.hook_urls.get(&key), &key) {
        (Some(url), _) => url.clone(),
        (None, Hook::Org { hook_id, .. } | Hook::Repo { hook_id, .. }) => {
            format!("https://receiver.example/hooks/{hook_id}")
        }
        (None, Hook::App) => DEFAULT_APP_HOOK_URL.to_owned(),
    }
}

/// The hook `id` of `scope` as GitHub shows it: `template` (the description's example) with
/// the hook's own values; API URLs under `base`.
fn hook_json(inner: &Inner, scope: &HookScope<'_>, id: u64, base: &str, template: &Value) -> Value {
    let hook = scope.hook(id).key();
    let api_url = format!(
        "{base}{}",
        hook.deliveries_path().trim_end_matches("/deliveries")
    );
    let mut value = template.clone();
    merge(
        &mut value,
        json!({
            "id": id,
            "name": "web",
            "active": true,
            "type": scope.kind(),
            "url": api_url,
            "deliveries_url": format!("{api_url}/deliveries"),
            "ping_url": format!("{api_url}/pings"),
            "config": {
                "url": receiver_url(inner, &hook),
                "content_type": "json",
                "insecure_ssl": "0",
            },
        }),
    );
    if let Some(test_url) = value.get_mut("test_url") {
        *test_url = json!(format!("{api_url}/test"));
    }
    if let Some(config) = value.get_mut("config").and_then(Value::as_object_mut) {
        config.remove("secret");
    }
    value
}

impl FakeGitHub {
    /// Makes `hook` exist without deliveries (listing one that does not exist is a 404).
    /// Its receiver URL (`config.url` in the hook lists and of the hook by id) is
    /// `https://receiver.example/hooks/<id>` unless set with [`FakeGitHub::add_hook_with_url`].
    pub fn add_hook(&self, hook: &Hook) {
        let mut inner = self.shared.lock();
        inner.ensure_hook_repository(hook);
        inner.registered_hooks.insert(hook.key());
    }

    /// Makes `hook` exist with `url` as its receiver URL: what `GET /orgs/{org}/hooks`,
    /// `GET /repos/{owner}/{repo}/hooks` and the hook by id show as `config.url` (for
    /// [`Hook::App`], what `GET /app/hook/config` shows as `url`). GitHub's description holds
    /// a repository hook's and the App's to an absolute URI.
    pub fn add_hook_with_url(&self, hook: &Hook, url: &str) {
        let mut inner = self.shared.lock();
        inner.ensure_hook_repository(hook);
        inner.registered_hooks.insert(hook.key());
        inner.hook_urls.insert(hook.key(), url.to_owned());
    }

    /// Sets the App's hook's receiver URL, what `GET /app/hook/config` shows as `url`
    /// (default [`DEFAULT_APP_HOOK_URL`]). GitHub's description holds it to an absolute URI.
    pub fn set_app_hook_url(&self, url: &str) {
        self.shared
            .lock()
            .hook_urls
            .insert(Hook::App, url.to_owned());
    }

    /// Deletes `hook` and its deliveries, as a user deleting the webhook would: it leaves the
    /// hook lists, and its deliveries answer 404.
    pub fn remove_hook(&self, hook: &Hook) {
        let mut inner = self.shared.lock();
        let key = hook.key();
        inner.registered_hooks.remove(&key);
        inner.hook_urls.remove(&key);
        inner.hooks.remove(&key);
    }
}
