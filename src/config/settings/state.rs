//! Where the checkpoint lives, with the variable's repository and the credentials it needs.

use std::path::{Path, PathBuf};

use super::Problems;
use crate::config::inputs::Cli;
use crate::config::inputs::parse::StoreSpec;
use crate::domain::hook::{HookScope, HookSelector};
use crate::github::Repo;
use crate::github::client::Identity;

/// The checkpoint variable's name when none is given.
pub const DEFAULT_VARIABLE_NAME: &str = "WEBHOOK_REDELIVERY_CHECKPOINT";
/// The state file outside Actions when none is given.
pub const DEFAULT_STATE_FILE: &str = "redeliver-state.json";

/// Where the checkpoint lives, and whether it can be reached with `identity` and written
/// there; a variable needs its repository, credentials and, with the App alone, an
/// installation that also reaches the organizations' hooks.
pub(super) fn resolve(
    cli: &Cli,
    identity: &Identity,
    hooks: &[HookSelector],
    problems: &mut Problems,
) -> Option<StoreSpec> {
    let has_credentials = identity.token.is_some() || identity.app.is_some();
    let store = resolve_store(cli, has_credentials, problems);
    if identity.token.is_none() && identity.app.is_some() {
        check_installation_reach(hooks, store.as_ref(), problems);
    }
    check_path(store.as_ref(), problems);
    store
}

/// Where the checkpoint lives: `state`, else `variable-name`, else the default of the place
/// the run is in; a variable also needs its repository and credentials.
fn resolve_store(cli: &Cli, has_credentials: bool, problems: &mut Problems) -> Option<StoreSpec> {
    let store = match (&cli.state, &cli.variable_name) {
        (Some(state), _) => problems.take(state)?,
        (None, Some(name)) => StoreSpec::Variable {
            repository: Repo::default(),
            name: problems.take(name)?,
        },
        (None, None) if cli.runner.actions => StoreSpec::Variable {
            repository: Repo::default(),
            name: DEFAULT_VARIABLE_NAME.to_owned(),
        },
        (None, None) => StoreSpec::File(PathBuf::from(DEFAULT_STATE_FILE)),
    };
    let StoreSpec::Variable { name, .. } = store else {
        return Some(store);
    };
    let repository = match &cli.repository {
        Some(repository) => problems.take(repository).unwrap_or_default(),
        None => {
            problems.fail("repository", missing_repository(cli.runner.actions));
            Repo::default()
        }
    };
    if !has_credentials {
        problems.fail(
            "token",
            "is missing: the checkpoint variable needs a token with \"Variables: write\", or the App's credentials to get an installation token".to_owned(),
        );
    }
    Some(StoreSpec::Variable { repository, name })
}

/// A state file must be a place the checkpoint can safely be written.
fn check_path(store: Option<&StoreSpec>, problems: &mut Problems) {
    if let Some(StoreSpec::File(path)) = store
        && let Err(problem) = check_state_path(path)
    {
        problems.fail("state", problem);
    }
}

fn missing_repository(actions: bool) -> String {
    if actions {
        "is unknown: GITHUB_REPOSITORY is not set, and the checkpoint variable needs it".to_owned()
    } else {
        "is missing: the `variable:` store needs the repository (owner/name), or use `--state file:PATH`".to_owned()
    }
}

/// Without `token`, an organization's hooks are reached with the App's installation on the
/// organization, which is found through one of its repositories (the checkpoint's, or a
/// repository hook's) or, for an owner of a fleet (`repo/<owner>/*/…`), in the App's list
/// of installations. Said before any request when the run names none.
fn check_installation_reach(
    hooks: &[HookSelector],
    store: Option<&StoreSpec>,
    problems: &mut Problems,
) {
    let mut reachable: Vec<String> = hooks
        .iter()
        .filter_map(|hook| match (hook, hook.scope()) {
            (_, Some(HookScope::Repo { owner, .. })) | (HookSelector::Fleet { owner, .. }, _) => {
                Some(owner.to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    if let Some(StoreSpec::Variable { repository, .. }) = store {
        reachable.push(repository.owner.to_ascii_lowercase());
    }
    for hook in hooks {
        if let Some(HookScope::Org { org }) = hook.scope()
            && !reachable.contains(&org.to_ascii_lowercase())
        {
            problems.fail(
                "token",
                format!(
                    "is missing: hook `{hook}` needs a token of an owner of {org} with `admin:org_hook`; the App's installation token can serve it only when the checkpoint variable or a repository hook is in a repository of {org}"
                ),
            );
        }
    }
}

/// Refuses what is not a regular file (or absent): a symbolic link, a FIFO, a device, a
/// folder. `what` names the file in the message ("the state file"), `advice` says what to
/// do about a link.
fn check_kind(path: &Path, what: &str, advice: &str) -> Result<(), String> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(format!(
                "cannot inspect {what} `{}`: {error}",
                path.display()
            ));
        }
    };
    let kind = metadata.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|target| format!(" (to `{}`)", target.display()))
            .unwrap_or_default();
        return Err(format!(
            "names {what} `{}`, a symbolic link{target}: links are not followed; {advice}",
            path.display()
        ));
    }
    if kind.is_dir() {
        return Err(format!("names `{}`, a folder, not a file", path.display()));
    }
    if !kind.is_file() {
        return Err(format!(
            "names {what} `{}`, which is not a regular file (a FIFO, socket or device): name a regular file",
            path.display()
        ));
    }
    Ok(())
}

pub(crate) fn lock_path_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Checks a state file path before anything runs: its folder must exist.
pub fn check_state_path(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("has an empty state file path: use `file:PATH`".to_owned());
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !directory.is_dir() {
        return Err(format!(
            "names a state file in `{}`, a folder that does not exist",
            directory.display()
        ));
    }
    check_kind(path, "the state file", "name the file itself")?;
    check_kind(&lock_path_of(path), "the lock file", "remove the link")
}
