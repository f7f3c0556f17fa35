//! A repository's Actions variables: where the checkpoint document lives inside Actions.
//! <https://docs.github.com/en/rest/actions/variables>

use anyhow::Context;
use serde::Deserialize;
use serde_json::json;

use super::Repo;
use crate::github::client::{ApiError, Credential, GitHubClient, RequestKind};

/// One repository's variables, with the credential that may write them.
pub struct RepositoryVariables<'a> {
    pub client: &'a GitHubClient,
    pub repository: &'a Repo,
    pub credential: Credential,
}

#[derive(Deserialize)]
struct Variable {
    value: String,
}

impl RepositoryVariables<'_> {
    fn route(&self) -> String {
        format!("/repos/{}/actions/variables", self.repository)
    }

    /// The variable's value, or `None` when the repository has no such variable.
    ///
    /// GitHub answers 404 both for a missing variable and to a token that cannot see the
    /// repository's variables; the second must not pass for a first run (everything would be
    /// redelivered again, without the retry bookkeeping), so a 404 is checked by listing the
    /// variables: only when that works is the variable merely absent.
    /// <https://docs.github.com/en/rest/actions/variables#get-a-repository-variable>
    pub async fn get(&self, name: &str) -> anyhow::Result<Option<String>> {
        let route = format!("{}/{name}", self.route());
        let context = || format!("failed to read the checkpoint variable `{name}`");
        match self
            .client
            .get_json::<Variable>(&route, self.credential)
            .await
        {
            Ok(variable) => Ok(Some(variable.value)),
            Err(error) if error.status() == Some(404) => {
                self.check_visible().await.with_context(context)?;
                Ok(None)
            }
            Err(error) => Err(self.explain(error)).with_context(context),
        }
    }

    /// Lists one variable, to tell "absent" from "hidden from this token".
    /// <https://docs.github.com/en/rest/actions/variables#list-repository-variables>
    async fn check_visible(&self) -> anyhow::Result<()> {
        let route = format!("{}?per_page=1", self.route());
        match self
            .client
            .get_json::<serde::de::IgnoredAny>(&route, self.credential)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if matches!(error.status(), Some(403) | Some(404)) => {
                Err(anyhow::Error::new(error).context(format!(
                    "the token cannot see the Actions variables of {}: give it \"Variables: Read and write\" on that repository (or check `GITHUB_REPOSITORY`); this is not taken for a first run",
                    self.repository
                )))
            }
            Err(error) => Err(self.explain(error)),
        }
    }

    /// Creates the variable; `Ok(false)` when it exists already (another run made it).
    /// <https://docs.github.com/en/rest/actions/variables#create-a-repository-variable>
    pub async fn create(&self, name: &str, value: &str) -> anyhow::Result<bool> {
        let body = json!({ "name": name, "value": value });
        match self
            .client
            .post(
                &self.route(),
                self.credential,
                Some(&body),
                RequestKind::Other,
            )
            .await
        {
            Ok(_) => Ok(true),
            // Not in GitHub's description, but what GitHub answers for an existing name.
            Err(error) if error.status() == Some(409) => Ok(false),
            Err(error) => Err(self.explain(error))
                .with_context(|| format!("failed to save the checkpoint variable `{name}`")),
        }
    }

    /// <https://docs.github.com/en/rest/actions/variables#update-a-repository-variable>
    pub async fn update(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let route = format!("{}/{name}", self.route());
        self.client
            .patch(&route, self.credential, &json!({ "value": value }))
            .await
            .map_err(|error| self.explain(error))
            .with_context(|| format!("failed to save the checkpoint variable `{name}`"))?;
        Ok(())
    }

    /// Advice for the errors a user can fix.
    fn explain(&self, error: ApiError) -> anyhow::Error {
        let advice = match error.status() {
            Some(401) => Some("the token is not valid (expired or revoked?)".to_owned()),
            Some(403) => Some(format!(
                "the token needs \"Variables: write\" on {} (fine-grained PAT or the App's installation), or `repo` (classic PAT)",
                self.repository
            )),
            Some(404) => Some(format!(
                "the token cannot see the repository {}: check `GITHUB_REPOSITORY` and the token's repository access",
                self.repository
            )),
            Some(422) => Some(
                "GitHub refused the value: the checkpoint document may be too large (48 KB at most)"
                    .to_owned(),
            ),
            _ => None,
        };
        match advice {
            Some(advice) => anyhow::Error::new(error).context(advice),
            None => anyhow::Error::new(error),
        }
    }
}
