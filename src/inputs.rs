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
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;

/// The environment, captured once, so tests can pass their own.
pub type Environment = HashMap<String, String>;

/// Flags of the command line only, by long name; every other flag is an action input of the
/// same id (`--max-attempts` is `max-attempts`). In `action.yml` they would make no sense:
/// the runner gives the step its repository and no place for a state file or a loop.
pub const CLI_ONLY: &[&str] = &[
    "private-key-file",
    "token-file",
    "state",
    "repository",
    "json",
    "every",
    "verbose",
    "listen",
    "log-format",
];

/// The ids of the action's inputs, as `action.yml` spells them: the long names of the flags
/// that are not [`CLI_ONLY`].
pub fn action_input_ids() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter(|arg| !matches!(arg.get_action(), ArgAction::Help | ArgAction::Version))
        .filter_map(|arg| arg.get_long())
        .filter(|long| !CLI_ONLY.contains(long))
        .map(str::to_owned)
        .collect()
}

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

/// Finds failed GitHub webhook deliveries and redelivers each event once, with bounded
/// retries. Runs as a GitHub Action, from cron, or as a long-running service (`--every`).
///
/// Every option can also be set with the environment variable in brackets.
#[derive(Debug, Default, Clone, Parser)]
#[command(name = "redeliver", version, about, max_term_width = 100)]
pub struct Cli {
    /// Webhooks to check, one per line or comma separated: `app`, `org/<org>/<hook>`,
    /// `repo/<owner>/<repo>/<hook>`, where `<hook>` is the hook's id, its receiver URL
    /// (`https://…`, compared exactly; a line with a URL holds one hook) or `*` for every
    /// hook there [default: app]
    #[arg(long, env = "REDELIVER_HOOKS", value_name = "HOOKS")]
    pub hooks: Option<String>,

    /// The GitHub App's numeric ID (also read from APP_ID)
    #[arg(long, env = "REDELIVER_APP_ID", value_name = "ID")]
    pub app_id: Option<String>,

    /// The GitHub App's client ID, an alternative to --app-id
    #[arg(long, env = "REDELIVER_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,

    /// The App's private key, PEM (also read from PRIVATE_KEY); prefer --private-key-file
    // A PEM starts with `-----BEGIN`: without `allow_hyphen_values` clap would take it for
    // a flag, refuse it, and print it.
    #[arg(
        long,
        env = "REDELIVER_PRIVATE_KEY",
        value_name = "PEM",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub private_key: Option<String>,

    /// A file holding the App's private key, such as a mounted secret
    #[arg(long, env = "REDELIVER_PRIVATE_KEY_FILE", value_name = "PATH")]
    pub private_key_file: Option<String>,

    /// Token for org/repo hooks and the `variable:` store (also read from TOKEN)
    #[arg(
        long,
        env = "REDELIVER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub token: Option<String>,

    /// A file holding the token, such as a mounted secret
    #[arg(long, env = "REDELIVER_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<String>,

    /// Where the checkpoint lives: `file:PATH`, `variable:NAME` or `none`
    /// [default: file:redeliver-state.json; variable:WEBHOOK_REDELIVERY_CHECKPOINT in Actions]
    #[arg(long, env = "REDELIVER_STATE", value_name = "STORE")]
    pub state: Option<String>,

    /// Shorthand for --state variable:NAME (also read from LAST_REDELIVERY_VARIABLE_NAME)
    #[arg(long, env = "REDELIVER_VARIABLE_NAME", value_name = "NAME")]
    pub variable_name: Option<String>,

    /// The repository that holds the checkpoint variable, `owner/name`
    /// (also read from GITHUB_REPOSITORY, or WORKFLOW_REPO_OWNER and WORKFLOW_REPO)
    #[arg(long, env = "REDELIVER_REPOSITORY", value_name = "OWNER/NAME")]
    pub repository: Option<String>,

    // Shown as is by `--help`, where `<...>` would be noise.
    #[allow(rustdoc::bare_urls)]
    /// The REST API URL [default: GITHUB_API_URL, else https://api.github.com]
    #[arg(long, env = "REDELIVER_API_URL", value_name = "URL")]
    pub api_url: Option<String>,

    /// Accept a plain http:// API URL for a host other than this machine (credentials then
    /// travel unencrypted; a warning says so)
    #[arg(long, env = "REDELIVER_ALLOW_INSECURE_HTTP", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_insecure_http: Option<String>,

    /// List and plan, but redeliver nothing and save no checkpoint
    #[arg(long, env = "REDELIVER_DRY_RUN", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub dry_run: Option<String>,

    /// Only these events, `event` or `event.action`, comma separated
    #[arg(long, env = "REDELIVER_EVENTS", value_name = "LIST")]
    pub events: Option<String>,

    /// Never these events
    #[arg(long, env = "REDELIVER_EXCLUDE_EVENTS", value_name = "LIST")]
    pub exclude_events: Option<String>,

    /// Redeliveries of one event before it is given up [default: 3]
    #[arg(long, env = "REDELIVER_MAX_ATTEMPTS", value_name = "N")]
    pub max_attempts: Option<String>,

    /// The most redeliveries per run; the rest wait for the next run [default: 200]
    #[arg(long, env = "REDELIVER_MAX_REDELIVERIES", value_name = "N")]
    pub max_redeliveries: Option<String>,

    /// Pause between two redeliveries [default: 1s]
    #[arg(long, env = "REDELIVER_REDELIVERY_INTERVAL", value_name = "DURATION")]
    pub redelivery_interval: Option<String>,

    /// The longest single wait for a rate limit; a longer one stops the run [default: 1h]
    #[arg(long, env = "REDELIVER_MAX_WAIT", value_name = "DURATION")]
    pub max_wait: Option<String>,

    /// The run's time budget: no redelivery starts after it; the rest waits for the next
    /// run [default: 5h]
    #[arg(long, env = "REDELIVER_MAX_DURATION", value_name = "DURATION")]
    pub max_duration: Option<String>,

    /// How many days GitHub keeps deliveries [default: 3 on github.com, 7 on GHES]
    #[arg(long, env = "REDELIVER_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<String>,

    /// How far back to look without a checkpoint (first run, or --state none) [default: 24h]
    #[arg(long, env = "REDELIVER_SINCE", value_name = "DURATION")]
    pub since: Option<String>,

    /// Never redeliver an event whose first failure is older than this (e.g. `12h`); it is
    /// reported as too old [default: no bound]
    #[arg(long, env = "REDELIVER_MAX_AGE", value_name = "DURATION")]
    pub max_age: Option<String>,

    /// Print the run's report as JSON on stdout (logs go to stderr)
    #[arg(long, env = "REDELIVER_JSON")]
    pub json: bool,

    /// Run again and again at this interval (e.g. `5m`) until SIGTERM or SIGINT
    #[arg(long, env = "REDELIVER_EVERY", value_name = "DURATION")]
    pub every: Option<String>,

    /// Log every request (secrets are never logged)
    #[arg(long, short, env = "REDELIVER_VERBOSE")]
    pub verbose: bool,

    /// Serve `/metrics` (Prometheus) and `/healthz` on this address, e.g. `0.0.0.0:9090`
    /// (with --every only)
    #[arg(long, env = "REDELIVER_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// `text` or `json` (one JSON object per line on stderr); inside Actions the runner's
    /// workflow commands are written either way [default: text]
    #[arg(long, env = "REDELIVER_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Not a flag: what the runner's variables say (see [`Cli::parse_from_env`]).
    #[arg(skip)]
    pub runner: Runner,
}

/// Flags whose value is a secret: what follows them is never shown.
const SECRET_FLAGS: [&str; 2] = ["--private-key", "--token"];

/// Makes a command-line error (clap's, which quotes the argument it refuses) safe to print:
/// every argument that is a secret flag's value, or looks like a key or token, is replaced
/// by `***`, line by line, wherever it appears.
pub fn hide_secret_arguments(message: &str, args: &[String]) -> String {
    let mut secrets: Vec<&str> = Vec::new();
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
            secrets.push(value);
        } else if after_secret_flag || looks_like_a_secret(arg) {
            secrets.push(arg);
        }
    }
    let mut shown = message.to_owned();
    for secret in secrets {
        if secret.len() >= 4 {
            shown = shown.replace(secret, "***");
        }
        for line in secret.lines().map(str::trim).filter(|line| line.len() >= 4) {
            shown = shown.replace(line, "***");
        }
    }
    shown
}

/// A command line clap refused, or `--help` and `--version` (which are no error).
#[derive(Debug)]
pub struct Refused {
    pub error: clap::Error,
    /// The arguments clap was given, so that [`Refused::message`] can hide their secrets.
    args: Vec<String>,
}

impl Refused {
    /// clap's message, with every secret among the arguments replaced by `***`.
    pub fn message(&self) -> String {
        hide_secret_arguments(&self.error.render().to_string(), &self.args)
    }
}

impl Cli {
    /// Parses `args` (the program's name first) with the variables of `env` mapped onto the
    /// flags by the precedence of the module docs; the rest is clap's.
    ///
    /// The command line is parsed alone first, so that its mistakes, `--help` and
    /// `--version` are clap's own. Then every value from the environment that wins over it
    /// is appended as `--flag=value` (the `=` keeps a value starting with `-` a value) and
    /// the whole is parsed again, the last occurrence of a flag winning.
    pub fn parse_from_env(args: &[String], env: &Environment) -> Result<Cli, Refused> {
        let refused = |error, args: &[String]| Refused {
            error,
            args: args.to_vec(),
        };
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
        let mut all = args.to_vec();
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
            let input = (runner.actions && !CLI_ONLY.contains(&long))
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
        let matches = Cli::command()
            .args_override_self(true)
            .try_get_matches_from(&all)
            .map_err(|error| refused(error, &all))?;
        let mut cli = Cli::from_arg_matches(&matches).map_err(|error| refused(error, &all))?;
        cli.runner = runner;
        Ok(cli)
    }
}

/// Whether `text` looks like a key or a token: a PEM, a GitHub token (`ghp_`, `ghs_`,
/// `github_pat_`, ...), a JWT, or a long run of base64. Such a value is never echoed in an
/// error, whichever input it was given in (swapped inputs are a common mistake).
pub fn looks_like_a_secret(text: &str) -> bool {
    const PREFIXES: [&str; 6] = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"];
    if text.contains("-----BEGIN") || text.contains("PRIVATE KEY") {
        return true;
    }
    if PREFIXES.iter().any(|prefix| text.contains(prefix)) {
        return true;
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.starts_with("eyJ") && compact.len() >= 20 {
        return true;
    }
    compact.len() >= 40
        && compact
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '.'))
        && compact.chars().any(|c| c.is_ascii_digit())
        && compact.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(cli.app_id.as_deref(), Some("123"));
        assert_eq!(cli.token, None);
        assert_eq!(cli.dry_run.as_deref(), Some("TRUE"));
        assert_eq!(cli.variable_name.as_deref(), Some("CHECKPOINT"));
        assert_eq!(
            cli.private_key.as_deref(),
            Some("-----BEGIN RSA PRIVATE KEY-----")
        );
        assert_eq!(cli.state, None, "`state` is no input");
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
        assert_eq!(cli.app_id.as_deref(), Some("77"));
        assert_eq!(cli.private_key.as_deref(), Some("pem"));
        assert_eq!(cli.token.as_deref(), Some("t0ken"));
        assert_eq!(cli.variable_name.as_deref(), Some("LAST_REDELIVERY"));
        assert_eq!(cli.repository.as_deref(), Some("octo/hooks"));
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
        assert_eq!(cli.app_id.as_deref(), Some("5"), "the command line wins");
        assert_eq!(cli.dry_run.as_deref(), Some("true"));
        assert!(cli.json);
        assert_eq!(cli.since.as_deref(), Some(""), "given empty: not given");
        assert_eq!(cli.max_wait.as_deref(), Some("1m"));
        assert_eq!(cli.api_url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(cli.repository.as_deref(), Some("octo/demo"));
        assert_eq!(cli.token.as_deref(), Some("cli"));

        // Inside Actions, an input wins over the command line, as it always did.
        let cli = parse(
            &["--max-attempts", "7"],
            &[("GITHUB_ACTIONS", "true"), ("INPUT_MAX-ATTEMPTS", "5")],
        );
        assert_eq!(cli.max_attempts.as_deref(), Some("5"));
        // An empty flag leaves the docs script's name to speak, as it always did.
        let cli = parse(&["--app-id", ""], &[("APP_ID", "77")]);
        assert_eq!(cli.app_id.as_deref(), Some("77"));
    }

    #[test]
    fn a_flag_given_twice_on_the_command_line_is_still_refused() {
        let args: Vec<String> = ["redeliver", "--app-id", "1", "--app-id", "2"]
            .map(str::to_owned)
            .to_vec();
        assert!(Cli::parse_from_env(&args, &Environment::new()).is_err());
    }
}
