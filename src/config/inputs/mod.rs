//! Where settings come from, before they are checked (in the `settings` module).
//!
//! There is one list of settings: the command line, [`Cli`]. Each flag names its own
//! environment variable (`REDELIVER_<FLAG>`), and every other name a setting arrives under
//! is mapped onto the flags before clap parses them ([`Cli::parse_from_env`]). By
//! precedence:
//!
//! 1. inside a Docker action, the runner's `INPUT_<ID>` variables, where the input id is the
//!    long flag's name, uppercased with its hyphens kept (`INPUT_APP-ID`). Every flag not in
//!    [`CLI_ONLY`] is an action input, and a test holds that list to `action.yml`;
//! 2. the command line;
//! 3. `REDELIVER_<FLAG>`;
//! 4. the variable names of GitHub's docs script (`APP_ID`, `PRIVATE_KEY`, `TOKEN`,
//!    `LAST_REDELIVERY_VARIABLE_NAME`, `WORKFLOW_REPO_OWNER` with `WORKFLOW_REPO`), so that
//!    people switching from it keep their environment, and the runner's `GITHUB_API_URL`
//!    and `GITHUB_REPOSITORY`.
//!
//! An empty value means "not given" at every level: the runner passes `""` for every input
//! the workflow left out. Everything stays a string here, so that the checks can name the
//! input as the user wrote it and say what to fix.

use std::collections::HashMap;

use clap::parser::ValueSource;
pub(crate) mod parse;
mod table;

use clap::{CommandFactory, FromArgMatches};
use serde::Deserialize;

use crate::base::log::LogFormat;
use crate::base::redact::{Secrets, looks_like_a_secret};

pub use table::{CLI_ONLY, Cli, action_input_ids, is_action_input};

/// The environment, captured once, so tests can pass their own.
pub type Environment = HashMap<String, String>;

/// What the Actions runner says about the step, from its own variables rather than flags.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Runner {
    /// Running inside GitHub Actions (`GITHUB_ACTIONS=true`): inputs, workflow commands.
    pub actions: bool,
    /// `RUNNER_DEBUG=1`: the workflow was re-run with debug logging.
    pub debug: bool,
    /// `GITHUB_OUTPUT`, inside Actions only.
    pub output_file: Option<String>,
    /// `GITHUB_STEP_SUMMARY`, inside Actions only.
    pub summary_file: Option<String>,
}

/// The variables that others define, under their own fixed names: the runner's and GitHub's
/// docs script's.
///
/// envy reads them: a fixed set of foreign names maps one to one onto a typed struct (envy
/// lowercases `APP_ID` to `app_id`), so the whole contract with the runner and the script is
/// this list of fields. The flags' own variables and `INPUT_<ID>` are not read here: their
/// names follow from the flags, which a fixed struct cannot do without repeating the list.
#[derive(Debug, Default, Deserialize)]
struct Foreign {
    github_actions: Option<String>,
    runner_debug: Option<String>,
    github_output: Option<String>,
    github_step_summary: Option<String>,
    github_api_url: Option<String>,
    github_repository: Option<String>,
    app_id: Option<String>,
    private_key: Option<String>,
    token: Option<String>,
    last_redelivery_variable_name: Option<String>,
    workflow_repo_owner: Option<String>,
    workflow_repo: Option<String>,
}

impl Foreign {
    /// Reads the variables of `env` that are not empty.
    fn read(env: &Environment) -> Result<Self, envy::Error> {
        envy::from_iter(
            env.iter()
                .filter(|(_, value)| !value.trim().is_empty())
                .map(|(key, value)| (key.clone(), value.clone())),
        )
    }

    /// The value the docs script's or the runner's variables give the flag `--{long}`.
    fn fallback(&self, long: &str) -> Option<String> {
        match long {
            "app-id" => self.app_id.clone(),
            "private-key" => self.private_key.clone(),
            "token" => self.token.clone(),
            "variable-name" => self.last_redelivery_variable_name.clone(),
            "api-url" => self.github_api_url.clone(),
            "repository" => self.github_repository.clone().or_else(|| {
                match (&self.workflow_repo_owner, &self.workflow_repo) {
                    (Some(owner), Some(repo)) => Some(format!("{owner}/{repo}")),
                    _ => None,
                }
            }),
            _ => None,
        }
    }

    fn runner(&self) -> Runner {
        let actions = self.github_actions.as_deref() == Some("true");
        Runner {
            actions,
            debug: self.runner_debug.as_deref() == Some("1"),
            output_file: self.github_output.clone().filter(|_| actions),
            summary_file: self.github_step_summary.clone().filter(|_| actions),
        }
    }
}

/// Reads a variable of `env`, treating an empty value as absent.
fn env_value(env: &Environment, name: &str) -> Option<String> {
    env.get(name)
        .filter(|value| !value.trim().is_empty())
        .cloned()
}

/// Flags whose value is a secret: what follows them is never shown.
const SECRET_FLAGS: [&str; 2] = ["--private-key", "--token"];

/// Makes a command-line error (clap's, which quotes the argument it refuses) safe to print:
/// every argument that is a secret flag's value, or looks like a key or token, is hidden.
pub fn hide_secret_arguments(message: &str, args: &[String]) -> String {
    let mut secrets = Secrets::new(4);
    for (index, arg) in args.iter().enumerate() {
        let after_secret_flag = index
            .checked_sub(1)
            .and_then(|previous| args.get(previous))
            .is_some_and(|previous| SECRET_FLAGS.contains(&previous.as_str()));
        let inline = SECRET_FLAGS.iter().find_map(|flag| {
            arg.strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
        });
        if let Some(value) = inline {
            secrets.add(value);
        } else if after_secret_flag || looks_like_a_secret(arg) {
            secrets.add(arg);
        }
    }
    secrets.hide(message)
}

/// A command line clap refused, or `--help` and `--version` (which are no error).
#[derive(Debug)]
pub struct Refused {
    pub error: clap::Error,
    /// The arguments clap was given, so that [`Refused::message`] can hide their secrets.
    args: Vec<String>,
}

impl Refused {
    fn new(error: clap::Error, args: &[String]) -> Self {
        Refused {
            error,
            args: args.to_vec(),
        }
    }

    /// clap's message, with every secret among the arguments replaced by `***`.
    pub fn message(&self) -> String {
        hide_secret_arguments(&self.error.render().to_string(), &self.args)
    }
}

impl Cli {
    /// What the runner's variables say.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// The log format asked for, when it was understood: bad input is told in it.
    pub fn log_format(&self) -> Option<LogFormat> {
        self.log_format.ok().copied()
    }

    /// Parses `args` (the program's name first) with the variables of `env` mapped onto the
    /// flags by the precedence of the module docs; the rest is clap's.
    ///
    /// The command line is parsed alone first, so that its mistakes, `--help` and
    /// `--version` are clap's own. Then every value from the environment that wins over it
    /// is appended as `--flag=value` (the `=` keeps a value starting with `-` a value) and
    /// the whole is parsed again, the last occurrence of a flag winning.
    pub fn parse_from_env(args: &[String], env: &Environment) -> Result<Cli, Refused> {
        let (all, runner) = Cli::command_line(args, env)?;
        let matches = Cli::command()
            .args_override_self(true)
            .try_get_matches_from(&all)
            .map_err(|error| Refused::new(error, &all))?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(|error| Refused::new(error, &all))?;
        cli.runner = runner;
        Ok(cli)
    }

    /// The command line that [`Cli::parse_from_env`] hands clap: `args` without the flags
    /// given empty, then `--flag=value` for every value from `env` that wins over them; and
    /// what the runner's variables say.
    pub fn command_line(
        args: &[String],
        env: &Environment,
    ) -> Result<(Vec<String>, Runner), Refused> {
        let refused = |error, args: &[String]| Refused::new(error, args);
        let typed = Cli::command()
            .try_get_matches_from(args)
            .map_err(|error| refused(error, args))?;
        let foreign = Foreign::read(env).map_err(|error| {
            let error = clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("failed to read the environment: {error}\n"),
            );
            refused(error, args)
        })?;
        let runner = foreign.runner();
        let mut all = without_empty_values(args);
        for arg in Cli::command().get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            if !arg.get_action().takes_values() {
                continue;
            }
            let id = arg.get_id().as_str();
            let on_command_line = typed.value_source(id) == Some(ValueSource::CommandLine);
            let typed_value = typed
                .try_get_raw(id)
                .ok()
                .flatten()
                .into_iter()
                .flatten()
                .any(|value| !value.to_string_lossy().trim().is_empty());
            let input = (runner.actions && is_action_input(arg))
                .then(|| env_value(env, &format!("INPUT_{}", long.to_uppercase())))
                .flatten();
            let from_env = || {
                if on_command_line && typed_value {
                    return None;
                }
                let own = arg
                    .get_env()
                    .and_then(|name| name.to_str())
                    .filter(|_| !on_command_line)
                    .and_then(|name| env_value(env, name));
                own.or_else(|| foreign.fallback(long))
            };
            if let Some(value) = input.or_else(from_env) {
                all.push(format!("--{long}={value}"));
            }
        }
        Ok((all, runner))
    }
}

/// The command line without the flags given empty (`--since ""`, `--since=`): an empty
/// value means "not given" at every level, so it never reaches a parser.
fn without_empty_values(args: &[String]) -> Vec<String> {
    let command = Cli::command();
    let value_flag = |long: &str| {
        command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(long) && arg.get_action().takes_values())
    };
    let mut kept = Vec::with_capacity(args.len());
    let mut rest = args.iter().peekable();
    while let Some(arg) = rest.next() {
        kept.push(arg.clone());
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        match flag.split_once('=') {
            Some((long, value)) if value.trim().is_empty() && value_flag(long).is_some() => {
                kept.pop();
            }
            Some(_) => {}
            None => {
                // A flag whose value is the next argument (not one with an optional value).
                let Some(arg) = value_flag(flag) else {
                    continue;
                };
                if arg
                    .get_num_args()
                    .is_some_and(|range| range.min_values() == 0)
                {
                    continue;
                }
                match rest.next() {
                    Some(value) if value.trim().is_empty() => {
                        kept.pop();
                    }
                    Some(value) => kept.push(value.clone()),
                    None => {}
                }
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::Checked;
    use secrecy::{ExposeSecret, SecretString};

    /// The text a setting was given, as its parser saw it.
    fn text<T>(checked: &Option<Checked<T>>) -> Option<&str> {
        checked.as_ref().map(|checked| checked.text.as_str())
    }

    fn secret(secret: &Option<SecretString>) -> Option<&str> {
        secret.as_ref().map(|secret| secret.expose_secret())
    }

    fn env(pairs: &[(&str, &str)]) -> Environment {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn parse(args: &[&str], pairs: &[(&str, &str)]) -> Cli {
        let args: Vec<String> = std::iter::once("redeliver")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect();
        match Cli::parse_from_env(&args, &env(pairs)) {
            Ok(cli) => cli,
            Err(refused) => panic!("{}", refused.message()),
        }
    }

    #[test]
    fn runner_inputs_keep_their_hyphens_and_empty_means_absent() {
        let cli = parse(
            &[],
            &[
                ("GITHUB_ACTIONS", "true"),
                ("INPUT_APP-ID", "123"),
                ("INPUT_APP_ID", "999"),
                ("INPUT_TOKEN", ""),
                ("INPUT_DRY-RUN", "TRUE"),
                ("INPUT_VARIABLE-NAME", "CHECKPOINT"),
                ("INPUT_PRIVATE-KEY", "-----BEGIN RSA PRIVATE KEY-----"),
                ("INPUT_STATE", "none"),
            ],
        );
        assert!(cli.runner.actions);
        assert_eq!(text(&cli.app_id), Some("123"));
        assert_eq!(secret(&cli.token), None);
        assert_eq!(cli.dry_run.text, "TRUE");
        assert_eq!(text(&cli.variable_name), Some("CHECKPOINT"));
        assert_eq!(
            secret(&cli.private_key),
            Some("-----BEGIN RSA PRIVATE KEY-----")
        );
        assert!(cli.state.is_none(), "`state` is no input");
    }

    #[test]
    fn inputs_are_ignored_outside_actions_and_docs_script_names_work() {
        let cli = parse(
            &[],
            &[
                ("INPUT_APP-ID", "123"),
                ("APP_ID", "77"),
                ("PRIVATE_KEY", "pem"),
                ("TOKEN", "t0ken"),
                ("LAST_REDELIVERY_VARIABLE_NAME", "LAST_REDELIVERY"),
                ("WORKFLOW_REPO_OWNER", "octo"),
                ("WORKFLOW_REPO", "hooks"),
                ("GITHUB_OUTPUT", "out"),
            ],
        );
        assert!(!cli.runner.actions);
        assert_eq!(cli.runner.output_file, None);
        assert_eq!(text(&cli.app_id), Some("77"));
        assert_eq!(secret(&cli.private_key), Some("pem"));
        assert_eq!(secret(&cli.token), Some("t0ken"));
        assert_eq!(text(&cli.variable_name), Some("LAST_REDELIVERY"));
        assert_eq!(text(&cli.repository), Some("octo/hooks"));
    }

    #[test]
    fn sources_keep_their_precedence() {
        let cli = parse(
            &[
                "--app-id",
                "5",
                "--dry-run",
                "--json",
                "--since",
                "",
                "--token",
                "cli",
            ],
            &[
                ("APP_ID", "77"),
                ("REDELIVER_APP_ID", "6"),
                ("REDELIVER_SINCE", "3h"),
                ("REDELIVER_MAX_WAIT", "1m"),
                ("REDELIVER_API_URL", "http://127.0.0.1:1"),
                ("GITHUB_API_URL", "https://api.github.com"),
                ("GITHUB_REPOSITORY", "octo/demo"),
                ("WORKFLOW_REPO_OWNER", "other"),
                ("WORKFLOW_REPO", "repo"),
                ("TOKEN", "docs"),
            ],
        );
        assert_eq!(text(&cli.app_id), Some("5"), "the command line wins");
        assert_eq!(cli.dry_run.ok(), Some(&true));
        assert!(cli.json);
        assert_eq!(
            cli.since.text, "24h",
            "given empty: not given, so the default"
        );
        assert_eq!(cli.max_wait.text, "1m");
        assert_eq!(text(&cli.api_url), Some("http://127.0.0.1:1"));
        assert_eq!(text(&cli.repository), Some("octo/demo"));
        assert_eq!(secret(&cli.token), Some("cli"));

        // Inside Actions, an input wins over the command line, as it always did.
        let cli = parse(
            &["--max-attempts", "7"],
            &[("GITHUB_ACTIONS", "true"), ("INPUT_MAX-ATTEMPTS", "5")],
        );
        assert_eq!(cli.max_attempts.text, "5");
        // An empty flag leaves the docs script's name to speak, as it always did.
        let cli = parse(&["--app-id", ""], &[("APP_ID", "77")]);
        assert_eq!(text(&cli.app_id), Some("77"));
    }

    #[test]
    fn a_flag_given_twice_on_the_command_line_is_still_refused() {
        let args: Vec<String> = ["redeliver", "--app-id", "1", "--app-id", "2"]
            .map(str::to_owned)
            .to_vec();
        assert!(Cli::parse_from_env(&args, &Environment::new()).is_err());
    }
}
