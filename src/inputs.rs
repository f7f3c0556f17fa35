//! Where settings come from, before they are checked (see [`crate::settings`]):
//!
//! 1. inside a Docker action, the runner's `INPUT_<NAME>` variables, read with `envy`:
//!    the input id uppercased with its hyphens kept (`INPUT_APP-ID`), and an empty string
//!    for every input the workflow left out;
//! 2. the command line and its `REDELIVER_<NAME>` variables, read with `clap`;
//! 3. the variable names of GitHub's docs script (`APP_ID`, `PRIVATE_KEY`, `TOKEN`,
//!    `LAST_REDELIVERY_VARIABLE_NAME`, `WORKFLOW_REPO`, `WORKFLOW_REPO_OWNER`), so that
//!    people switching from it keep their environment.
//!
//! Earlier sources win. Everything stays a string here, so that the checks can name the
//! input and say what to fix.

use std::collections::HashMap;

use clap::Parser;
use serde::{Deserialize, Deserializer};

/// The environment, captured once, so tests can pass their own.
pub type Environment = HashMap<String, String>;

/// Reads a variable of `env`, treating an empty value as absent.
pub fn env_value(env: &Environment, name: &str) -> Option<String> {
    env.get(name)
        .filter(|value| !value.trim().is_empty())
        .cloned()
}

/// The runner passes `""` for inputs the workflow did not give: that means "not given".
fn empty_as_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|value| !value.trim().is_empty()))
}

/// The inputs declared in `action.yml`. A test holds the two to each other.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct ActionInputs {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub hooks: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub app_id: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub private_key: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub token: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub variable_name: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub dry_run: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub events: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub exclude_events: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub max_attempts: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub max_redeliveries: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub redelivery_interval: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub max_wait: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub max_duration: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub retention_days: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub since: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub max_age: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub api_url: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub allow_insecure_http: Option<String>,
}

/// The ids of the inputs [`ActionInputs`] reads, as `action.yml` spells them.
pub const ACTION_INPUT_IDS: &[&str] = &[
    "hooks",
    "app-id",
    "client-id",
    "private-key",
    "token",
    "variable-name",
    "dry-run",
    "events",
    "exclude-events",
    "max-attempts",
    "max-redeliveries",
    "redelivery-interval",
    "max-wait",
    "max-duration",
    "retention-days",
    "since",
    "max-age",
    "api-url",
    "allow-insecure-http",
];

impl ActionInputs {
    /// Reads `INPUT_*` from `env`.
    pub fn from_env(env: &Environment) -> anyhow::Result<Self> {
        use anyhow::Context;
        envy::prefixed("INPUT_")
            .from_iter(env.iter().map(|(key, value)| (key.clone(), value.clone())))
            .context("failed to read the action's inputs")
    }
}

/// Finds failed GitHub webhook deliveries and redelivers each event once, with bounded
/// retries. Runs as a GitHub Action, from cron, or as a long-running service (`--every`).
///
/// Every option can also be set with the environment variable in brackets.
#[derive(Debug, Default, Parser)]
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

    /// The longest wait for a rate limit before the run stops [default: 5m]
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

    // Operating the long-running mode: metrics, health, logs for machines.
    /// Serve `/metrics` (Prometheus) and `/healthz` on this address, e.g. `0.0.0.0:9090`
    /// (with --every only)
    #[arg(long, env = "REDELIVER_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// `text` or `json` (one JSON object per line on stderr); inside Actions the runner's
    /// workflow commands are written either way [default: text]
    #[arg(long, env = "REDELIVER_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
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
        } else if after_secret_flag || crate::settings::looks_like_a_secret(arg) {
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

/// All settings as given, from whichever source, not yet checked.
#[derive(Debug, Default, Clone)]
pub struct RawSettings {
    pub actions: bool,
    pub hooks: Option<String>,
    pub app_id: Option<String>,
    pub client_id: Option<String>,
    pub private_key: Option<String>,
    pub private_key_file: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub state: Option<String>,
    pub variable_name: Option<String>,
    pub repository: Option<String>,
    pub api_url: Option<String>,
    pub allow_insecure_http: Option<String>,
    pub dry_run: Option<String>,
    pub events: Option<String>,
    pub exclude_events: Option<String>,
    pub max_attempts: Option<String>,
    pub max_redeliveries: Option<String>,
    pub redelivery_interval: Option<String>,
    pub max_wait: Option<String>,
    pub max_duration: Option<String>,
    pub retention_days: Option<String>,
    pub since: Option<String>,
    pub max_age: Option<String>,
    pub json: bool,
    pub every: Option<String>,
    pub debug: bool,
    pub output_file: Option<String>,
    pub summary_file: Option<String>,
    pub listen: Option<String>,
    pub log_format: Option<String>,
}

impl RawSettings {
    /// Layers the sources: action inputs (inside Actions), then the command line and its
    /// `REDELIVER_*` variables, then the docs script's variable names and GitHub's own.
    pub fn gather(cli: Cli, env: &Environment) -> anyhow::Result<Self> {
        let actions = env_value(env, "GITHUB_ACTIONS").as_deref() == Some("true");
        let inputs = if actions {
            ActionInputs::from_env(env)?
        } else {
            ActionInputs::default()
        };
        let clean = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        let fallback = |name: &str| env_value(env, name);
        let docs_script_repository =
            match (fallback("WORKFLOW_REPO_OWNER"), fallback("WORKFLOW_REPO")) {
                (Some(owner), Some(repo)) => Some(format!("{owner}/{repo}")),
                _ => None,
            };
        Ok(Self {
            actions,
            hooks: inputs.hooks.or(clean(cli.hooks)),
            app_id: inputs
                .app_id
                .or(clean(cli.app_id))
                .or_else(|| fallback("APP_ID")),
            client_id: inputs.client_id.or(clean(cli.client_id)),
            private_key: inputs
                .private_key
                .or(clean(cli.private_key))
                .or_else(|| fallback("PRIVATE_KEY")),
            private_key_file: clean(cli.private_key_file),
            token: inputs
                .token
                .or(clean(cli.token))
                .or_else(|| fallback("TOKEN")),
            token_file: clean(cli.token_file),
            state: clean(cli.state),
            variable_name: inputs
                .variable_name
                .or(clean(cli.variable_name))
                .or_else(|| fallback("LAST_REDELIVERY_VARIABLE_NAME")),
            repository: clean(cli.repository)
                .or_else(|| fallback("GITHUB_REPOSITORY"))
                .or(docs_script_repository),
            api_url: inputs
                .api_url
                .or(clean(cli.api_url))
                .or_else(|| fallback("GITHUB_API_URL")),
            allow_insecure_http: inputs
                .allow_insecure_http
                .or(clean(cli.allow_insecure_http)),
            dry_run: inputs.dry_run.or(clean(cli.dry_run)),
            events: inputs.events.or(clean(cli.events)),
            exclude_events: inputs.exclude_events.or(clean(cli.exclude_events)),
            max_attempts: inputs.max_attempts.or(clean(cli.max_attempts)),
            max_redeliveries: inputs.max_redeliveries.or(clean(cli.max_redeliveries)),
            redelivery_interval: inputs
                .redelivery_interval
                .or(clean(cli.redelivery_interval)),
            max_wait: inputs.max_wait.or(clean(cli.max_wait)),
            max_duration: inputs.max_duration.or(clean(cli.max_duration)),
            retention_days: inputs.retention_days.or(clean(cli.retention_days)),
            since: inputs.since.or(clean(cli.since)),
            max_age: inputs.max_age.or(clean(cli.max_age)),
            json: cli.json,
            every: clean(cli.every),
            debug: cli.verbose || env_value(env, "RUNNER_DEBUG").as_deref() == Some("1"),
            output_file: if actions {
                fallback("GITHUB_OUTPUT")
            } else {
                None
            },
            summary_file: if actions {
                fallback("GITHUB_STEP_SUMMARY")
            } else {
                None
            },
            listen: clean(cli.listen),
            log_format: clean(cli.log_format),
        })
    }
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

    #[test]
    fn runner_inputs_keep_their_hyphens_and_empty_means_absent() {
        let env = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_APP-ID", "123"),
            ("INPUT_APP_ID", "999"),
            ("INPUT_TOKEN", ""),
            ("INPUT_DRY-RUN", "TRUE"),
            ("INPUT_VARIABLE-NAME", "CHECKPOINT"),
        ]);
        let raw = RawSettings::gather(Cli::default(), &env).expect("gathers");
        assert!(raw.actions);
        assert_eq!(raw.app_id.as_deref(), Some("123"));
        assert_eq!(raw.token, None);
        assert_eq!(raw.dry_run.as_deref(), Some("TRUE"));
        assert_eq!(raw.variable_name.as_deref(), Some("CHECKPOINT"));
    }

    #[test]
    fn inputs_are_ignored_outside_actions_and_docs_script_names_work() {
        let env = env(&[
            ("INPUT_APP-ID", "123"),
            ("APP_ID", "77"),
            ("PRIVATE_KEY", "pem"),
            ("TOKEN", "t0ken"),
            ("LAST_REDELIVERY_VARIABLE_NAME", "LAST_REDELIVERY"),
            ("WORKFLOW_REPO_OWNER", "octo"),
            ("WORKFLOW_REPO", "hooks"),
        ]);
        let raw = RawSettings::gather(Cli::default(), &env).expect("gathers");
        assert!(!raw.actions);
        assert_eq!(raw.app_id.as_deref(), Some("77"));
        assert_eq!(raw.private_key.as_deref(), Some("pem"));
        assert_eq!(raw.token.as_deref(), Some("t0ken"));
        assert_eq!(raw.variable_name.as_deref(), Some("LAST_REDELIVERY"));
        assert_eq!(raw.repository.as_deref(), Some("octo/hooks"));
    }

    #[test]
    fn the_command_line_wins_over_fallbacks() {
        let cli = Cli::try_parse_from(["redeliver", "--app-id", "5", "--dry-run", "--json"])
            .expect("parses");
        let raw = RawSettings::gather(cli, &env(&[("APP_ID", "77")])).expect("gathers");
        assert_eq!(raw.app_id.as_deref(), Some("5"));
        assert_eq!(raw.dry_run.as_deref(), Some("true"));
        assert!(raw.json);
    }
}
