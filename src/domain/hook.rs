//! The webhooks a run looks after: a GitHub App's, an organization's or a repository's.
//!
//! All three have the same two endpoints, under different paths, and different credentials.
//!
//! The `hooks` input names them with [`HookSelector`]s: an org or repo hook by its id, by
//! its receiver URL, or all of them (`*`); a fleet, the same hook on every repository of an
//! owner (`repo/<owner>/*/<hook>`); or the App's hook with every hook its installations
//! may read (`app/*`). Selectors are resolved to concrete [`Hook`]s
//! (ids) once, at the start of a run, before any redelivery (see
//! `crate::run::resolve`); the checkpoint is keyed by the concrete hook, so a
//! hook whose URL changes keeps its place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::delivery::DeliveryId;

/// One webhook, as written in the `hooks` input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `app`: the webhook of the GitHub App, authenticated with the App's JWT.
    App,
    /// `org/<org>/<hook_id>`: an organization webhook (token of an org owner).
    Org { org: String, hook_id: HookId },
    /// `repo/<owner>/<repo>/<hook_id>`: a repository webhook (token with admin on it).
    Repo {
        owner: String,
        repo: String,
        hook_id: HookId,
    },
}

/// A webhook's id (of an organization's or a repository's hook): a type of its own, so
/// that it cannot be passed where a delivery's id belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HookId(pub u64);

impl fmt::Display for HookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for HookId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(HookId)
    }
}

impl Hook {
    /// The list endpoint:
    /// - <https://docs.github.com/en/rest/apps/webhooks#list-deliveries-for-an-app-webhook>
    /// - <https://docs.github.com/en/rest/orgs/webhooks#list-deliveries-for-an-organization-webhook>
    /// - <https://docs.github.com/en/rest/repos/webhooks#list-deliveries-for-a-repository-webhook>
    pub fn deliveries_path(&self) -> String {
        match self {
            Hook::App => "/app/hook/deliveries".to_owned(),
            Hook::Org { org, hook_id } => format!("/orgs/{org}/hooks/{hook_id}/deliveries"),
            Hook::Repo {
                owner,
                repo,
                hook_id,
            } => format!("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries"),
        }
    }

    /// Where the hook's own settings are read, with its receiver URL (`config.url`):
    /// - <https://docs.github.com/en/rest/apps/webhooks#get-a-webhook-configuration-for-an-app>
    ///   (the App's hook has only its configuration);
    /// - <https://docs.github.com/en/rest/orgs/webhooks#get-an-organization-webhook>
    /// - <https://docs.github.com/en/rest/repos/webhooks#get-a-repository-webhook>
    pub fn settings_path(&self) -> String {
        match self {
            Hook::App => "/app/hook/config".to_owned(),
            Hook::Org { org, hook_id } => format!("/orgs/{org}/hooks/{hook_id}"),
            Hook::Repo {
                owner,
                repo,
                hook_id,
            } => format!("/repos/{owner}/{repo}/hooks/{hook_id}"),
        }
    }

    /// The redelivery endpoint:
    /// - <https://docs.github.com/en/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook>
    /// - <https://docs.github.com/en/rest/orgs/webhooks#redeliver-a-delivery-for-an-organization-webhook>
    /// - <https://docs.github.com/en/rest/repos/webhooks#redeliver-a-delivery-for-a-repository-webhook>
    pub fn redelivery_path(&self, delivery_id: DeliveryId) -> String {
        format!("{}/{delivery_id}/attempts", self.deliveries_path())
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hook::App => f.write_str("app"),
            Hook::Org { org, hook_id } => write!(f, "org/{org}/{hook_id}"),
            Hook::Repo {
                owner,
                repo,
                hook_id,
            } => write!(f, "repo/{owner}/{repo}/{hook_id}"),
        }
    }
}

impl Hook {
    /// Where the hook lives, for the org and repo hooks.
    pub fn scope(&self) -> Option<HookScope> {
        match self {
            Hook::App => None,
            Hook::Org { org, .. } => Some(HookScope::Org { org: org.clone() }),
            Hook::Repo { owner, repo, .. } => Some(HookScope::Repo {
                owner: owner.clone(),
                repo: repo.clone(),
            }),
        }
    }
}

/// An organization or a repository: where webhooks can be listed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookScope {
    Org { org: String },
    Repo { owner: String, repo: String },
}

impl HookScope {
    /// The hook of this scope with `hook_id`.
    pub fn hook(&self, hook_id: HookId) -> Hook {
        match self {
            HookScope::Org { org } => Hook::Org {
                org: org.clone(),
                hook_id,
            },
            HookScope::Repo { owner, repo } => Hook::Repo {
                owner: owner.clone(),
                repo: repo.clone(),
                hook_id,
            },
        }
    }

    /// The account that owns the hooks: the organization, or the repository's owner.
    pub fn account(&self) -> &str {
        match self {
            HookScope::Org { org } => org,
            HookScope::Repo { owner, .. } => owner,
        }
    }

    /// Whether `hook` lives here. Names are compared as GitHub does, without case.
    pub fn contains(&self, hook: &Hook) -> bool {
        match (self, hook) {
            (HookScope::Org { org }, Hook::Org { org: other, .. }) => {
                org.eq_ignore_ascii_case(other)
            }
            (
                HookScope::Repo { owner, repo },
                Hook::Repo {
                    owner: other_owner,
                    repo: other_repo,
                    ..
                },
            ) => owner.eq_ignore_ascii_case(other_owner) && repo.eq_ignore_ascii_case(other_repo),
            _ => false,
        }
    }

    /// The list endpoint:
    /// - <https://docs.github.com/en/rest/orgs/webhooks#list-organization-webhooks>
    /// - <https://docs.github.com/en/rest/repos/webhooks#list-repository-webhooks>
    pub fn hooks_path(&self) -> String {
        match self {
            HookScope::Org { org } => format!("/orgs/{org}/hooks"),
            HookScope::Repo { owner, repo } => format!("/repos/{owner}/{repo}/hooks"),
        }
    }
}

impl fmt::Display for HookScope {
    /// `the organization acme` or `the repository octo/demo`, as messages name them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookScope::Org { org } => write!(f, "the organization {org}"),
            HookScope::Repo { owner, repo } => write!(f, "the repository {owner}/{repo}"),
        }
    }
}

/// What the last part of an org or repo line names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookTarget {
    /// `…/123456`: the hook with this id.
    Id(HookId),
    /// `…/https://ci.example.com/hook`: the hooks whose `config.url` is exactly this.
    Url(String),
    /// `…/*`: every hook there.
    All,
}

/// One line of the `hooks` input, before it is resolved to concrete hooks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookSelector {
    /// `app`: the GitHub App's webhook.
    App,
    /// `org/<org>/…` or `repo/<owner>/<repo>/…`.
    Scoped {
        scope: HookScope,
        target: HookTarget,
    },
    /// `repo/<owner>/*/…`: on every repository of the organization or user `owner` that is
    /// not archived.
    Fleet { owner: String, target: HookTarget },
    /// `app/*`: the App's hook and, without `token`, every organization and repository hook
    /// that the App's installations may read.
    AppFleet,
}

impl HookSelector {
    /// Whether this names the App's own hook (`app`, `app/*`).
    pub fn includes_app(&self) -> bool {
        matches!(self, HookSelector::App | HookSelector::AppFleet)
    }

    pub fn scope(&self) -> Option<&HookScope> {
        match self {
            HookSelector::App | HookSelector::AppFleet | HookSelector::Fleet { .. } => None,
            HookSelector::Scoped { scope, .. } => Some(scope),
        }
    }

    /// The concrete hook this names without asking GitHub: `app` or an id.
    pub fn concrete(&self) -> Option<Hook> {
        match self {
            HookSelector::App => Some(Hook::App),
            HookSelector::Scoped {
                scope,
                target: HookTarget::Id(id),
            } => Some(scope.hook(*id)),
            HookSelector::Scoped { .. } | HookSelector::Fleet { .. } | HookSelector::AppFleet => {
                None
            }
        }
    }
}

impl fmt::Display for HookSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match self {
            HookSelector::App => return f.write_str("app"),
            HookSelector::AppFleet => return f.write_str("app/*"),
            HookSelector::Fleet { owner, target } => {
                write!(f, "repo/{owner}/*/")?;
                target
            }
            HookSelector::Scoped { scope, target } => {
                match scope {
                    HookScope::Org { org } => write!(f, "org/{org}/")?,
                    HookScope::Repo { owner, repo } => write!(f, "repo/{owner}/{repo}/")?,
                }
                target
            }
        };
        match target {
            HookTarget::Id(id) => write!(f, "{id}"),
            HookTarget::Url(url) => f.write_str(url),
            HookTarget::All => f.write_str("*"),
        }
    }
}

/// Owners, organization and repository names: what GitHub allows, which also keeps paths safe.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const HOOK_FORMS: &str = "write `app`, `app/*`, `org/<org>/<hook>`, `repo/<owner>/<repo>/<hook>` or `repo/<owner>/*/<hook>` (every repository of <owner>), where <hook> is the hook's id, its receiver URL (`https://…`) or `*` for all";

impl FromStr for HookSelector {
    type Err = String;

    /// Parses `app`, `org/<org>/<hook>` or `repo/<owner>/<repo>/<hook>`, where `<hook>` is an
    /// id, an `http(s)://` URL or `*`; the error says what the line should look like.
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let line = line.trim();
        let name = |text: &str, what: &str| {
            if is_valid_name(text) {
                Ok(text.to_owned())
            } else {
                Err(format!("`{line}`: `{text}` is not a valid {what} name"))
            }
        };
        let target = |text: &str| -> Result<HookTarget, String> {
            if text == "*" {
                return Ok(HookTarget::All);
            }
            if text.starts_with("https://") || text.starts_with("http://") {
                if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(format!(
                        "`{line}`: the URL `{text}` holds spaces or control characters"
                    ));
                }
                return Ok(HookTarget::Url(text.to_owned()));
            }
            text.parse::<HookId>()
                .ok()
                .filter(|id| id.0 > 0)
                .map(HookTarget::Id)
                .ok_or_else(|| {
                    format!(
                        "`{line}`: the hook id `{text}` must be a positive number, the receiver's URL (`https://…`) or `*`"
                    )
                })
        };
        if line == "app" {
            return Ok(HookSelector::App);
        }
        if line == "app/*" {
            return Ok(HookSelector::AppFleet);
        }
        // The last part may be a URL, which holds `/`: split off only the names before it.
        let bad = || format!("`{line}` is not a hook: {HOOK_FORMS}");
        if let Some(rest) = line.strip_prefix("org/") {
            let (org, hook) = rest.split_once('/').ok_or_else(bad)?;
            return Ok(HookSelector::Scoped {
                scope: HookScope::Org {
                    org: name(org, "organization")?,
                },
                target: target(hook)?,
            });
        }
        if let Some(rest) = line.strip_prefix("repo/") {
            let (owner, rest) = rest.split_once('/').ok_or_else(bad)?;
            let (repo, hook) = rest.split_once('/').ok_or_else(bad)?;
            if repo == "*" {
                return Ok(HookSelector::Fleet {
                    owner: name(owner, "owner")?,
                    target: target(hook)?,
                });
            }
            return Ok(HookSelector::Scoped {
                scope: HookScope::Repo {
                    owner: name(owner, "owner")?,
                    repo: name(repo, "repository")?,
                },
                target: target(hook)?,
            });
        }
        Err(bad())
    }
}

impl FromStr for Hook {
    type Err = String;

    /// A concrete hook: `app`, `org/<org>/<hook_id>` or `repo/<owner>/<repo>/<hook_id>` (the
    /// checkpoint document's keys).
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        line.parse::<HookSelector>()?
            .concrete()
            .ok_or_else(|| format!("`{line}` names no single hook by its id"))
    }
}

/// Parses the `hooks` input: one hook per line, duplicates removed. Commas separate hooks
/// too, except on a line that holds a URL (a URL may contain commas): that line is one hook.
pub fn parse_hooks(text: &str) -> Result<Vec<HookSelector>, String> {
    let mut hooks = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = if line.contains("://") {
            vec![line]
        } else {
            line.split(',').collect()
        };
        for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            let hook: HookSelector = part.parse()?;
            if !hooks.contains(&hook) {
                hooks.push(hook);
            }
        }
    }
    if hooks.is_empty() {
        return Err(format!("no hook given: {HOOK_FORMS}"));
    }
    Ok(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoped(scope: HookScope, target: HookTarget) -> HookSelector {
        HookSelector::Scoped { scope, target }
    }

    #[test]
    fn parses_the_three_forms_and_prints_them_back() {
        let hooks =
            parse_hooks("app\norg/acme/12\n repo/octo/hello-world/34 \n\napp").expect("valid");
        let org = HookScope::Org { org: "acme".into() };
        let repo = HookScope::Repo {
            owner: "octo".into(),
            repo: "hello-world".into(),
        };
        assert_eq!(
            hooks,
            vec![
                HookSelector::App,
                scoped(org.clone(), HookTarget::Id(HookId(12))),
                scoped(repo.clone(), HookTarget::Id(HookId(34))),
            ]
        );
        let printed: Vec<String> = hooks.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["app", "org/acme/12", "repo/octo/hello-world/34"]);
        let concrete = hooks[2].concrete().expect("an id");
        assert_eq!(concrete, repo.hook(HookId(34)));
        assert_eq!(concrete.to_string().parse::<Hook>(), Ok(concrete.clone()));
        assert_eq!(
            concrete.redelivery_path(DeliveryId(3804004623172239366)),
            "/repos/octo/hello-world/hooks/34/deliveries/3804004623172239366/attempts"
        );
        assert_eq!(org.hooks_path(), "/orgs/acme/hooks");
    }

    #[test]
    fn the_last_part_may_be_a_url_or_a_star() {
        let hooks = parse_hooks(
            "repo/octo/demo/https://ci.example.com/hook?a=1,b=2\norg/acme/*, app\norg/acme/http://10.0.0.1:8080/x",
        )
        .expect("valid");
        let repo = HookScope::Repo {
            owner: "octo".into(),
            repo: "demo".into(),
        };
        let org = HookScope::Org { org: "acme".into() };
        assert_eq!(
            hooks,
            vec![
                scoped(
                    repo,
                    HookTarget::Url("https://ci.example.com/hook?a=1,b=2".into())
                ),
                scoped(org.clone(), HookTarget::All),
                HookSelector::App,
                scoped(org, HookTarget::Url("http://10.0.0.1:8080/x".into())),
            ]
        );
        assert_eq!(
            hooks[0].to_string(),
            "repo/octo/demo/https://ci.example.com/hook?a=1,b=2"
        );
        assert_eq!(hooks[1].to_string(), "org/acme/*");
        assert!(hooks[1].concrete().is_none());
        assert!("org/acme/*".parse::<Hook>().is_err());
    }

    #[test]
    fn fleets_of_repositories_and_of_the_apps_installations() {
        let hooks = parse_hooks(
            "repo/acme/*/https://ci.example.com/hook\nrepo/octo/*/*\nrepo/acme/*/42, app/*",
        )
        .expect("valid");
        assert_eq!(
            hooks,
            vec![
                HookSelector::Fleet {
                    owner: "acme".into(),
                    target: HookTarget::Url("https://ci.example.com/hook".into())
                },
                HookSelector::Fleet {
                    owner: "octo".into(),
                    target: HookTarget::All
                },
                HookSelector::Fleet {
                    owner: "acme".into(),
                    target: HookTarget::Id(HookId(42))
                },
                HookSelector::AppFleet,
            ]
        );
        let printed: Vec<String> = hooks.iter().map(ToString::to_string).collect();
        assert_eq!(
            printed,
            [
                "repo/acme/*/https://ci.example.com/hook",
                "repo/octo/*/*",
                "repo/acme/*/42",
                "app/*"
            ]
        );
        assert!(hooks.iter().all(|hook| hook.concrete().is_none()));
        assert!(hooks[3].includes_app() && !hooks[0].includes_app());
        assert!("repo/acme/*/42".parse::<Hook>().is_err());
    }

    #[test]
    fn rejects_malformed_lines() {
        for line in [
            "apps",
            "org/acme",
            "org/acme/x",
            "org/acme/0",
            "org/acme/**",
            "org/acme/ftp://example.com",
            "org/acme/https://ci.example.com/a b",
            "repo/octo/12",
            "repo/octo/../12",
            "repo/octo/https://ci.example.com/hook",
            "org/ac me/1",
            "repo/*/*/1",
            "repo/acme/**/1",
            "repo/acme/*",
            "app/**",
            "app/1",
            "org/*/1",
            "",
        ] {
            assert!(parse_hooks(line).is_err(), "{line:?} was accepted");
        }
    }
}
