//! The table of settings: [`Cli`], one field per setting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, Parser};
use http::Uri;
use secrecy::SecretString;

use super::Runner;
use crate::base::log::LogFormat;
use crate::config::inputs::parse::StoreSpec;
use crate::config::inputs::parse::{self, Checked, checked};
use crate::domain::filter::EventPattern;
use crate::domain::hook::HookSelector;
use crate::domain::plan::PENDING_HORIZON;
use crate::domain::replay::{Cause, ReplayTime};
use crate::github::Repo;
use crate::report::fail_on::FailOn;

/// The `--help` heading of the flags of the command line only; every other flag is an
/// action input of the same id (`--max-attempts` is `max-attempts`). In `action.yml` they
/// would make no sense: the runner gives the step its repository and no place for a state
/// file or a loop.
pub const CLI_ONLY: &str = "Command line only (no action input)";

/// `pending-horizon`'s default: the planner's own [`PENDING_HORIZON`], written as the table
/// writes durations (`1h`).
static PENDING_HORIZON_DEFAULT: LazyLock<String> = LazyLock::new(|| {
    humantime::format_duration(PENDING_HORIZON.to_std().unwrap_or_default()).to_string()
});

/// Whether the flag `arg` is also an action input.
pub fn is_action_input(arg: &clap::Arg) -> bool {
    arg.get_long().is_some()
        && arg.get_help_heading() != Some(CLI_ONLY)
        && !matches!(arg.get_action(), ArgAction::Help | ArgAction::Version)
}

/// The ids of the action's inputs, as `action.yml` spells them: the long names of the flags
/// that are not [`CLI_ONLY`].
pub fn action_input_ids() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter(|arg| is_action_input(arg))
        .filter_map(|arg| arg.get_long())
        .map(str::to_owned)
        .collect()
}

/// Finds failed GitHub webhook deliveries and redelivers each event once, with bounded
/// retries. Runs as a GitHub Action, from cron, or as a long-running service (`--every`).
///
/// Every option can also be set with the environment variable in brackets.
//
// This struct is the table of settings: each field is one setting, defined once, with its
// flag (whose long name is the action input's id), its environment variable, its typed
// parser (`inputs::parse`), its default and its doc. `--help` is clap's rendering of it;
// the inputs of `action.yml` and the README's inputs table are generated from it by
// `tests/action_yml.rs` (`INSTA_UPDATE=always cargo test action_yml` rewrites them; the
// test fails when they differ). A default the code computes is written at the end of the
// doc as `[default: …]`; its input's default in `action.yml` is then empty. A default that
// is a fact of the code (the planner's `PENDING_HORIZON`) is written from its constant.
#[derive(Debug, Clone, Parser)]
#[command(name = "redeliver", version, about, max_term_width = 100)]
pub struct Cli {
    /// Webhooks to check, one per line or comma separated: `app` (the GitHub App's webhook),
    /// `org/<org>/<hook>` or `repo/<owner>/<repo>/<hook>`, where `<hook>` is the hook's id,
    /// its receiver URL (`https://…`, compared exactly; a line with a URL holds one hook) or
    /// `*` for every hook there; fleets: `repo/<owner>/*/<hook>` on every repository of an
    /// organization or user (archived ones skipped), `app/*` the App's hook and, without
    /// `token`, every hook its installations may redeliver
    #[arg(long, env = "REDELIVER_HOOKS", value_name = "HOOKS", default_value = "app",
          value_parser = checked(parse::hooks))]
    pub(crate) hooks: Checked<Vec<HookSelector>>,

    /// The GitHub App's numeric ID, needed for the `app` hook unless `client-id` is given
    /// (also read from APP_ID)
    #[arg(long, env = "REDELIVER_APP_ID", value_name = "ID", value_parser = checked(parse::app_id))]
    pub(crate) app_id: Option<Checked<u64>>,

    /// The GitHub App's client ID, the JWT issuer GitHub now recommends over the App ID
    /// (GHES 3.18+)
    #[arg(long, env = "REDELIVER_CLIENT_ID", value_name = "ID",
          value_parser = checked(parse::client_id))]
    pub(crate) client_id: Option<Checked<String>>,

    /// The GitHub App's private key: PKCS#1 or PKCS#8 PEM (literal `\n`, CRLF and base64 of
    /// the PEM are accepted); pass it from a secret (also read from PRIVATE_KEY)
    // A PEM starts with `-----BEGIN`: without `allow_hyphen_values` clap would take it for
    // a flag, refuse it, and print it.
    #[arg(long, env = "REDELIVER_PRIVATE_KEY", value_name = "PEM", hide_env_values = true,
          allow_hyphen_values = true, value_parser = parse::secret)]
    pub(crate) private_key: Option<SecretString>,

    /// Token for the checkpoint variable and for org/repo hooks; empty: the App's
    /// installation tokens serve both (also read from TOKEN)
    #[arg(long, env = "REDELIVER_TOKEN", value_name = "TOKEN", hide_env_values = true,
          allow_hyphen_values = true, value_parser = parse::secret)]
    pub(crate) token: Option<SecretString>,

    /// Repository Actions variable that holds the checkpoint (also read from
    /// LAST_REDELIVERY_VARIABLE_NAME) [default: WEBHOOK_REDELIVERY_CHECKPOINT in Actions]
    #[arg(long, env = "REDELIVER_VARIABLE_NAME", value_name = "NAME",
          value_parser = checked(parse::variable_name))]
    pub(crate) variable_name: Option<Checked<String>>,

    /// List, plan and report what would be redelivered, but redeliver nothing and save no
    /// checkpoint
    #[arg(long, env = "REDELIVER_DRY_RUN", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", default_value = "false", value_parser = checked(parse::flag))]
    pub(crate) dry_run: Checked<bool>,

    /// Only these events, `event` or `event.action`, comma or newline separated, e.g.
    /// `push, workflow_job.queued` [default: all]
    #[arg(long, env = "REDELIVER_EVENTS", value_name = "LIST", value_parser = checked(parse::events))]
    pub(crate) events: Option<Checked<Vec<EventPattern>>>,

    /// Never these events (same form as `events`); they are counted as filtered
    #[arg(long, env = "REDELIVER_EXCLUDE_EVENTS", value_name = "LIST",
          value_parser = checked(parse::events))]
    pub(crate) exclude_events: Option<Checked<Vec<EventPattern>>>,

    /// Redeliveries of one event before it is given up
    #[arg(long, env = "REDELIVER_MAX_ATTEMPTS", value_name = "N", default_value = "3",
          value_parser = checked(parse::count::<u32>(1, 100)))]
    pub(crate) max_attempts: Checked<u32>,

    /// The most redeliveries in one run; the rest stay queued for the next run.
    /// `max-duration` bounds a run instead: a count cap only strands events [default: no cap]
    #[arg(long, env = "REDELIVER_MAX_REDELIVERIES", value_name = "N",
          value_parser = checked(parse::count::<usize>(1, 1_000_000)))]
    pub(crate) max_redeliveries: Option<Checked<usize>>,

    /// Pause between two redeliveries (GitHub asks for ≥ 1 s between mutating requests; it
    /// also spares a receiver just back from an outage)
    #[arg(long, env = "REDELIVER_REDELIVERY_INTERVAL", value_name = "DURATION",
          default_value = "1s", value_parser = checked(parse::duration))]
    pub(crate) redelivery_interval: Checked<Duration>,

    /// How many hooks' deliveries are listed at once (1 to 32), for fleets of hooks: each
    /// list request costs 1 of the 900 points a minute GitHub allows per endpoint, and
    /// redeliveries stay one at a time
    #[arg(long, env = "REDELIVER_SCAN_CONCURRENCY", value_name = "N", default_value = "8",
          value_parser = checked(parse::count::<usize>(1, 32)))]
    pub(crate) scan_concurrency: Checked<usize>,

    /// The longest single wait for a rate limit, a guard against an absurd answer: waits
    /// within it are taken as often as GitHub asks, within `max-duration`; a longer one stops
    /// the run (exit 1) and the next run goes on
    #[arg(long, env = "REDELIVER_MAX_WAIT", value_name = "DURATION", default_value = "1h",
          value_parser = checked(parse::duration))]
    pub(crate) max_wait: Checked<Duration>,

    /// The run's time budget: redeliveries go out oldest first until none is left or this
    /// is spent; the rest waits for the next run. Keep it under the job's `timeout-minutes`
    // Under the 6-hour limit of a GitHub-hosted job and the documented 6-hourly schedule,
    // and long enough to drain 18,000 events at GitHub's pace (one a second) in one run.
    #[arg(long, env = "REDELIVER_MAX_DURATION", value_name = "DURATION", default_value = "5h",
          value_parser = checked(parse::positive_duration("0s: it is the time a run may spend redelivering")))]
    pub(crate) max_duration: Checked<Duration>,

    /// How many days GitHub keeps deliveries; older checkpoints raise a loud warning
    /// [default: 3 on github.com, 7 on GHES]
    #[arg(long, env = "REDELIVER_RETENTION_DAYS", value_name = "DAYS",
          value_parser = checked(parse::count::<i64>(1, 90)))]
    pub(crate) retention_days: Option<Checked<i64>>,

    /// How far back to look when there is no checkpoint yet (a first run, or no store)
    #[arg(long, env = "REDELIVER_SINCE", value_name = "DURATION", default_value = "24h",
          value_parser = checked(parse::positive_duration("zero")))]
    pub(crate) since: Checked<Duration>,

    /// Never redeliver an event whose first failed delivery is older than this, e.g. `12h`
    /// (an old `workflow_job.queued` may describe a state that no longer exists); such events
    /// are counted as too old (`too-old-count`); at most the retention [default: no bound]
    #[arg(long, env = "REDELIVER_MAX_AGE", value_name = "DURATION",
          value_parser = checked(parse::positive_duration("zero; leave it empty for no bound")))]
    pub(crate) max_age: Option<Checked<Duration>>,

    /// How long a redelivery GitHub accepted but has not listed the result of stays pending
    /// (not sent again) while GitHub lists newer ones; past it, it is taken as lost and sent
    /// again as a further attempt (a day when GitHub lists nothing newer: its queue may be
    /// stalled)
    #[arg(long, env = "REDELIVER_PENDING_HORIZON", value_name = "DURATION",
          default_value = PENDING_HORIZON_DEFAULT.as_str(),
          value_parser = checked(parse::positive_duration("zero: GitHub needs time to list a result")))]
    pub(crate) pending_horizon: Checked<Duration>,

    /// Fail the step with exit code 4, after the outputs, the summary and the checkpoint
    /// are written, when the run ends in one of these states: `given-up` (events given up
    /// after `max-attempts`), `receiver-down`, `refused` (GitHub refused a redelivery),
    /// `too-old` (`max-age`), comma separated; `never` keeps exit code 0
    #[arg(long, env = "REDELIVER_FAIL_ON", value_name = "LIST", default_value = "given-up",
          value_parser = checked(parse::fail_on))]
    pub(crate) fail_on: Checked<FailOn>,

    /// Replay after a fix: redeliver once, a canary first and then oldest first, every event
    /// whose original delivery failed since this time (RFC 3339, or an age such as `6h`) and
    /// was never delivered since, given up or not (`max-attempts` and `max-age` do not
    /// apply); narrowed by `events`, `exclude-events` and `replay-causes`; with `dry-run`,
    /// only counted [default: no replay]
    #[arg(long, env = "REDELIVER_REPLAY_SINCE", value_name = "TIME",
          value_parser = checked(parse::replay_time))]
    pub(crate) replay_since: Option<Checked<ReplayTime>>,

    /// The end of the replay's window (RFC 3339, or an age such as `1h`) [default: now]
    #[arg(long, env = "REDELIVER_REPLAY_UNTIL", value_name = "TIME",
          value_parser = checked(parse::replay_time))]
    pub(crate) replay_until: Option<Checked<ReplayTime>>,

    /// Only events whose original delivery failed so, in the health table's words: `HTTP
    /// 400`, `HTTP 4xx`, `HTTP 5xx`, `timed out`, `failed to connect`, comma separated
    /// [default: every cause]
    #[arg(long, env = "REDELIVER_REPLAY_CAUSES", value_name = "LIST",
          value_parser = checked(parse::replay_causes))]
    pub(crate) replay_causes: Option<Checked<Vec<Cause>>>,

    // Shown as is by `--help`, where `<...>` would be noise.
    #[allow(rustdoc::bare_urls)]
    /// The REST API URL, e.g. `https://ghes.example.com/api/v3`; credentials in it are
    /// refused, plain `http://` is accepted for loopback only
    /// [default: GITHUB_API_URL, else https://api.github.com]
    #[arg(long, env = "REDELIVER_API_URL", value_name = "URL", value_parser = checked(parse::api_url))]
    pub(crate) api_url: Option<Checked<Uri>>,

    /// Accept a plain `http://` `api-url` for a host other than this machine; credentials
    /// then travel unencrypted, and the run warns about it
    #[arg(long, env = "REDELIVER_ALLOW_INSECURE_HTTP", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", default_value = "false", value_parser = checked(parse::flag))]
    pub(crate) allow_insecure_http: Checked<bool>,

    // The command line only: no action input.
    /// A file holding the App's private key, such as a mounted secret
    #[arg(long, env = "REDELIVER_PRIVATE_KEY_FILE", value_name = "PATH", help_heading = CLI_ONLY)]
    pub(crate) private_key_file: Option<PathBuf>,

    /// A file holding the token, such as a mounted secret
    #[arg(long, env = "REDELIVER_TOKEN_FILE", value_name = "PATH", help_heading = CLI_ONLY)]
    pub(crate) token_file: Option<PathBuf>,

    /// Where the checkpoint lives: `file:PATH`, `variable:NAME` or `none`
    /// [default: file:redeliver-state.json; variable:WEBHOOK_REDELIVERY_CHECKPOINT in Actions]
    #[arg(long, env = "REDELIVER_STATE", value_name = "STORE", help_heading = CLI_ONLY,
          value_parser = checked(parse::store))]
    pub(crate) state: Option<Checked<StoreSpec>>,

    /// The repository that holds the checkpoint variable, `owner/name`
    /// (also read from GITHUB_REPOSITORY, or WORKFLOW_REPO_OWNER and WORKFLOW_REPO)
    #[arg(long, env = "REDELIVER_REPOSITORY", value_name = "OWNER/NAME", help_heading = CLI_ONLY,
          value_parser = checked(parse::repository))]
    pub(crate) repository: Option<Checked<Repo>>,

    /// Print the run's report as JSON on stdout (logs go to stderr)
    #[arg(long, env = "REDELIVER_JSON", help_heading = CLI_ONLY)]
    pub(crate) json: bool,

    /// Run again and again at this interval (e.g. `5m`) until SIGTERM or SIGINT
    #[arg(long, env = "REDELIVER_EVERY", value_name = "DURATION", help_heading = CLI_ONLY,
          value_parser = checked(parse::positive_duration("zero")))]
    pub(crate) every: Option<Checked<Duration>>,

    /// Log every request (secrets are never logged)
    #[arg(long, short, env = "REDELIVER_VERBOSE", help_heading = CLI_ONLY)]
    pub(crate) verbose: bool,

    /// Serve `/metrics` (Prometheus) and `/healthz` on this address, e.g. `0.0.0.0:9090`
    /// (with --every only)
    #[arg(long, env = "REDELIVER_LISTEN", value_name = "ADDR", help_heading = CLI_ONLY,
          value_parser = checked(parse::listen))]
    pub(crate) listen: Option<Checked<SocketAddr>>,

    /// `text` or `json` (one JSON object per line on stderr); inside Actions the runner's
    /// workflow commands are written either way
    #[arg(long, env = "REDELIVER_LOG_FORMAT", value_name = "FORMAT", default_value = "text",
          help_heading = CLI_ONLY, value_parser = checked(parse::log_format))]
    pub(crate) log_format: Checked<LogFormat>,

    /// Not a flag: what the runner's variables say (see [`Cli::parse_from_env`]).
    #[arg(skip)]
    pub(crate) runner: Runner,
}
