//! The `Authorization` of each [`Credential`]: the App's JWT (signed by
//! [`crate::github::app_auth`], masked when new), the `token` input, or an installation token
//! obtained for the run (masked as it is stored).

use http::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::{Credential, GitHubClient};

impl GitHubClient {
    /// Uses `token` from now on for [`Credential::Installation`]`(installation_id)`; it is
    /// masked first.
    pub fn set_installation_token(&self, installation_id: u64, token: SecretString) {
        self.log.mask(token.expose_secret());
        if let Ok(mut tokens) = self.installation_tokens.lock() {
            tokens.insert(installation_id, token);
        }
    }

    pub(super) fn authorization(&self, credential: Credential) -> Result<HeaderValue, String> {
        let bearer = match credential {
            Credential::AppJwt => {
                let signer = self.app.as_ref().ok_or(
                    "this request needs the App's credentials (`app-id` and `private-key`)",
                )?;
                let jwt = signer
                    .bearer(self.clock.now())
                    .map_err(|_| "failed to sign the App JWT".to_owned())?;
                if jwt.fresh {
                    self.log.mask(jwt.token.expose_secret());
                }
                jwt.token
            }
            Credential::Token => self
                .token
                .clone()
                .ok_or("this request needs a token (the `token` input)")?,
            Credential::Installation(id) => self
                .installation_tokens
                .lock()
                .ok()
                .and_then(|tokens| tokens.get(&id).cloned())
                .ok_or("this request needs an installation token, and none was obtained")?,
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {}", bearer.expose_secret()))
            .map_err(|_| {
                "the token holds characters that cannot go in an HTTP header".to_owned()
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}
