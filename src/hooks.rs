//! The webhooks a run looks after: a GitHub App's, an organization's or a repository's.
//!
//! All three have the same two endpoints, under different paths, and different credentials.

use std::fmt;
use std::str::FromStr;

/// One webhook, as written in the `hooks` input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `app`: the webhook of the GitHub App, authenticated with the App's JWT.
    App,
    /// `org/<org>/<hook_id>`: an organization webhook (token of an org owner).
    Org { org: String, hook_id: u64 },
    /// `repo/<owner>/<repo>/<hook_id>`: a repository webhook (token with admin on it).
    Repo {
        owner: String,
        repo: String,
        hook_id: u64,
    },
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

    /// The redelivery endpoint:
    /// - <https://docs.github.com/en/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook>
    /// - <https://docs.github.com/en/rest/orgs/webhooks#redeliver-a-delivery-for-an-organization-webhook>
    /// - <https://docs.github.com/en/rest/repos/webhooks#redeliver-a-delivery-for-a-repository-webhook>
    pub fn redelivery_path(&self, delivery_id: u64) -> String {
        format!("{}/{delivery_id}/attempts", self.deliveries_path())
    }

    /// Whether the App's JWT (rather than the token) authenticates this hook's requests.
    pub fn uses_app_jwt(&self) -> bool {
        matches!(self, Hook::App)
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

/// Owner, organization and repository names: what GitHub allows, which also keeps paths safe.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl FromStr for Hook {
    type Err = String;

    /// Parses `app`, `org/<org>/<hook_id>` or `repo/<owner>/<repo>/<hook_id>`; the error says
    /// what the line should look like.
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = line.trim().split('/').collect();
        let hook_id = |text: &str| {
            text.parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| format!("`{line}`: the hook id `{text}` must be a positive number"))
        };
        let name = |text: &str, what: &str| {
            if is_valid_name(text) {
                Ok(text.to_owned())
            } else {
                Err(format!("`{line}`: `{text}` is not a valid {what} name"))
            }
        };
        match parts.as_slice() {
            ["app"] => Ok(Hook::App),
            ["org", org, id] => Ok(Hook::Org {
                org: name(org, "organization")?,
                hook_id: hook_id(id)?,
            }),
            ["repo", owner, repo, id] => Ok(Hook::Repo {
                owner: name(owner, "owner")?,
                repo: name(repo, "repository")?,
                hook_id: hook_id(id)?,
            }),
            _ => Err(format!(
                "`{line}` is not a hook: write `app`, `org/<org>/<hook_id>` or `repo/<owner>/<repo>/<hook_id>`"
            )),
        }
    }
}

/// Parses the `hooks` input: one hook per line (commas work too), duplicates removed.
pub fn parse_hooks(text: &str) -> Result<Vec<Hook>, String> {
    let mut hooks = Vec::new();
    for line in text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let hook: Hook = line.parse()?;
        if !hooks.contains(&hook) {
            hooks.push(hook);
        }
    }
    if hooks.is_empty() {
        return Err(
            "no hook given: write `app`, `org/<org>/<hook_id>` or `repo/<owner>/<repo>/<hook_id>`"
                .to_owned(),
        );
    }
    Ok(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_prints_them_back() {
        let hooks =
            parse_hooks("app\norg/acme/12\n repo/octo/hello-world/34 \n\napp").expect("valid");
        assert_eq!(
            hooks,
            vec![
                Hook::App,
                Hook::Org {
                    org: "acme".into(),
                    hook_id: 12
                },
                Hook::Repo {
                    owner: "octo".into(),
                    repo: "hello-world".into(),
                    hook_id: 34
                },
            ]
        );
        let printed: Vec<String> = hooks.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["app", "org/acme/12", "repo/octo/hello-world/34"]);
        assert_eq!(
            hooks[2].redelivery_path(3804004623172239366),
            "/repos/octo/hello-world/hooks/34/deliveries/3804004623172239366/attempts"
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        for line in [
            "apps",
            "org/acme",
            "org/acme/x",
            "org/acme/0",
            "repo/octo/12",
            "repo/octo/../12",
            "org/ac me/1",
            "",
        ] {
            assert!(parse_hooks(line).is_err(), "{line:?} was accepted");
        }
    }
}
