//! The credentials: the App's signer and the token, and whether the hooks can be reached
//! with them.

use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::Problems;
use crate::config::inputs::Cli;
use crate::domain::hook::HookSelector;
use crate::github::app_auth::{AppSigner, Issuer};
use crate::github::client::Identity;

fn read_secret_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))
}

/// The key and the token, from the flag or the file that holds them.
fn read_key_and_token(cli: &Cli, problems: &mut Problems) -> (Option<String>, Option<String>) {
    let private_key = match (&cli.private_key, &cli.private_key_file) {
        (Some(key), _) => Some(key.expose_secret().to_owned()),
        (None, Some(path)) => match read_secret_file(path) {
            Ok(key) => Some(key),
            Err(problem) => {
                problems.fail("private-key-file", problem);
                None
            }
        },
        (None, None) => None,
    };
    let token = match (&cli.token, &cli.token_file) {
        (Some(token), _) => Some(token.expose_secret().trim().to_owned()),
        (None, Some(path)) => match read_secret_file(path) {
            Ok(token) => Some(token.trim().to_owned()).filter(|token| !token.is_empty()),
            Err(problem) => {
                problems.fail("token-file", problem);
                None
            }
        },
        (None, None) => None,
    };
    if let Some(token) = &token
        && token.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        problems.fail(
            "token",
            "holds spaces or line breaks: pass the token alone".to_owned(),
        );
    }
    (private_key, token)
}

/// The JWT's issuer: the client ID when given, else the App ID.
fn issuer(cli: &Cli, problems: &mut Problems) -> Option<Issuer> {
    match (&cli.client_id, &cli.app_id) {
        (Some(client_id), _) => problems.take(client_id).map(Issuer::ClientId),
        (None, Some(app_id)) => problems.take(app_id).map(Issuer::AppId),
        (None, None) => None,
    }
}

/// The App's signer and the token, each when given and sound, and whether the hooks can be
/// reached with them.
pub(super) fn resolve(cli: &Cli, hooks: &[HookSelector], problems: &mut Problems) -> Identity {
    let (private_key, token) = read_key_and_token(cli, problems);
    let issuer = issuer(cli, problems);
    let wants_app = hooks.iter().any(HookSelector::includes_app);
    let named_issuer = cli.app_id.is_some() || cli.client_id.is_some();
    let app = match (issuer, private_key) {
        (Some(issuer), Some(key)) => match AppSigner::new(&SecretString::from(key), issuer) {
            Ok(signer) => Some(Arc::new(signer)),
            Err(problem) => {
                problems.fail("private-key", problem);
                None
            }
        },
        (Some(_), None) if wants_app => {
            problems.fail(
                "private-key",
                "is missing: the `app` hook needs the App's private key".to_owned(),
            );
            None
        }
        (None, Some(_)) if wants_app && !named_issuer => {
            problems.fail(
                "app-id",
                "is missing: the `app` hook needs the App's ID (or `client-id`)".to_owned(),
            );
            None
        }
        (None, None) if wants_app => {
            problems.fail(
                "app-id",
                "is missing: the `app` hook needs `app-id` (or `client-id`) and `private-key`"
                    .to_owned(),
            );
            None
        }
        _ => None,
    };
    // Without `token`, the App's installation tokens reach org and repo hooks (with the
    // "Webhooks" permissions); without the App either, nothing does.
    if hooks.iter().any(|hook| !hook.includes_app()) && token.is_none() && app.is_none() {
        problems.fail(
            "token",
            "is missing: org and repo hooks need a token with admin on the hook (`admin:org_hook` or repository admin), or the App's credentials with the \"Webhooks\" permissions".to_owned(),
        );
    }
    Identity {
        app,
        token: token.map(SecretString::from),
    }
}
