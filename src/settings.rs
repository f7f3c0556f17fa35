//! Checks every setting before any request, and turns them into [`Settings`].
//!
//! Each problem becomes one line that names the input (`app-id` inside Actions, `--app-id`
//! on the command line) and says what to do; all problems are reported at once.
//!
//! [`Settings::from_raw`] hands each concern to a small converter (hooks, credentials,
//! store, API URL, filters, counts, durations), as ripgrep's `HiArgs::from_low_args` does:
//! each reads the strings of [`Cli`] and reports into one list of problems, so a new
//! setting is one more field of [`Cli`] and one more check here.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use secrecy::SecretString;

use crate::app_auth::{AppSigner, Issuer};
use crate::filter::{EventFilter, parse_event_list};
use crate::hooks::{HookScope, HookSelector, parse_hooks};
use crate::inputs::{Cli, looks_like_a_secret};
use crate::log::LogFormat;
use crate::store::{StoreSpec, check_state_path};

/// The checkpoint variable's name when none is given.
pub const DEFAULT_VARIABLE_NAME: &str = "WEBHOOK_REDELIVERY_CHECKPOINT";
/// The state file outside Actions when none is given.
pub const DEFAULT_STATE_FILE: &str = "redeliver-state.json";
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// A run's time budget by default: under the 6-hour limit of a GitHub-hosted job and the
/// documented 6-hourly schedule, and long enough to drain 18,000 events at GitHub's pace
/// (one a second) in one run.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(5 * 3600);

/// Validated settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Running as a step of GitHub Actions (`GITHUB_ACTIONS=true`): inputs, outputs, job
    /// summary and workflow commands.
    pub in_actions: bool,
    /// As the `hooks` input names them: resolved to concrete hooks at the start of each run.
    pub hooks: Vec<HookSelector>,
    pub app: Option<Arc<AppSigner>>,
    pub token: Option<SecretString>,
    pub api_url: Uri,
    pub store: StoreSpec,
    /// `owner/name` of the repository the workflow runs in, when known.
    pub repository: Option<String>,
    pub dry_run: bool,
    pub filter: EventFilter,
    pub max_attempts: u32,
    pub max_redeliveries: usize,
    pub redelivery_interval: Duration,
    pub max_wait: Duration,
    /// The run's time budget: no redelivery starts after it.
    pub max_duration: Duration,
    pub retention: chrono::Duration,
    /// `since`: how far back a first run (no checkpoint yet) looks.
    pub first_run_lookback: chrono::Duration,
    /// `max-age`: events first failing longer ago are reported, not redelivered.
    pub max_age: Option<chrono::Duration>,
    pub json: bool,
    pub every: Option<Duration>,
    /// Where `/metrics` and `/healthz` are served (`--listen`, with `--every` only).
    pub listen: Option<SocketAddr>,
    pub log_format: LogFormat,
    pub debug: bool,
    pub output_file: Option<PathBuf>,
    pub summary_file: Option<PathBuf>,
    /// Accepted, but worth a warning at the start of the run (plain `http://` to a host
    /// that is not loopback, with `allow-insecure-http`).
    pub warnings: Vec<String>,
}

/// The longest duration any setting takes (`since`, `max-wait`, ...): far past GitHub's
/// retention, and far inside what a time can be shifted by without overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(400 * 24 * 3600);

/// Replaces, in a problem's text, every quoted value that looks like a key or a token, and
/// every line of the secrets given, so no error shows one.
fn hide_secrets(text: &str, secrets: &[String]) -> String {
    let mut shown = String::with_capacity(text.len());
    for (index, part) in text.split('`').enumerate() {
        if index > 0 {
            shown.push('`');
        }
        let quoted = index % 2 == 1;
        if quoted && looks_like_a_secret(part) {
            shown.push_str("(a value that looks like a key or token, not shown)");
        } else {
            shown.push_str(part);
        }
    }
    let mut shown = shown.replace(
        "`(a value that looks like a key or token, not shown)`",
        "(a value that looks like a key or token, not shown)",
    );
    for secret in secrets {
        for line in secret.lines().map(str::trim).filter(|line| line.len() >= 4) {
            shown = shown.replace(line, "***");
        }
    }
    shown
}

/// Everything wrong with the settings, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputErrors(pub Vec<String>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for InputErrors {}

/// Collects problems, naming settings the way the user wrote them.
///
/// No line ever shows a secret: the key and token given are replaced, and so is any value
/// that looks like one (see [`looks_like_a_secret`]).
struct Problems {
    actions: bool,
    list: Vec<String>,
    secrets: Vec<String>,
}

impl Problems {
    fn fail(&mut self, input: &str, problem: String) {
        let name = if self.actions {
            format!("input `{input}`")
        } else {
            format!("`--{input}`")
        };
        let problem = hide_secrets(&problem, &self.secrets);
        self.list.push(format!("{name} {problem}"));
    }

    fn new(raw: &Cli) -> Self {
        Problems {
            actions: raw.runner.actions,
            list: Vec::new(),
            secrets: [&raw.private_key, &raw.token]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        }
    }

    /// A whole number in `min..=max`, or `default` when not given.
    fn number(&mut self, input: &str, text: Option<&str>, default: u64, min: u64, max: u64) -> u64 {
        let Some(text) = text else {
            return default;
        };
        match text.trim().parse::<u64>() {
            Ok(value) if (min..=max).contains(&value) => value,
            _ => {
                self.fail(
                    input,
                    format!(
                        "must be a whole number from {min} to {max} (got `{}`)",
                        text.trim()
                    ),
                );
                default
            }
        }
    }

    /// `true` or `false` (and their usual spellings), `false` when not given.
    fn flag(&mut self, input: &str, text: Option<&str>) -> bool {
        match text.map(parse_bool) {
            None => false,
            Some(Some(value)) => value,
            Some(None) => {
                self.fail(input, "must be `true` or `false`".to_owned());
                false
            }
        }
    }

    /// A duration, or `default` when not given.
    fn duration(&mut self, input: &str, text: Option<&str>, default: Duration) -> Duration {
        let Some(text) = text else {
            return default;
        };
        match parse_duration(text) {
            Some(duration) if duration <= MAX_DURATION => duration,
            Some(_) => {
                self.fail(
                    input,
                    format!(
                        "must be at most 400 days (`400d`); GitHub keeps deliveries for days, not years (got `{}`)",
                        text.trim()
                    ),
                );
                default
            }
            None => {
                self.fail(
                    input,
                    format!(
                        "must be a duration such as `1s`, `500ms` or `5m` (got `{}`)",
                        text.trim()
                    ),
                );
                default
            }
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// `90s`, `5m`, `1h 30m`, `500ms`; a bare number is seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).ok()
}

/// Repository Actions variable names: `[A-Za-z0-9_]`, not starting with a digit or with
/// `GITHUB_`. <https://docs.github.com/en/actions/reference/workflows-and-actions/variables#naming-conventions-for-configuration-variables>
pub fn check_variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "`{name}` may only hold letters, digits and `_` (found `{bad}`)"
        ));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`{name}` must not start with a digit"));
    }
    if name.to_ascii_uppercase().starts_with("GITHUB_") {
        return Err(format!("`{name}` must not start with GITHUB_"));
    }
    Ok(())
}

fn check_repository(repository: &str) -> bool {
    let mut parts = repository.split('/');
    let valid = |part: Option<&str>| {
        part.is_some_and(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    };
    valid(parts.next()) && valid(parts.next()) && parts.next().is_none()
}

/// Whether `host` (as [`Uri::host`] gives it) is this machine: `localhost`, 127.0.0.0/8 or
/// `::1`. Plain `http://` is fine there: nothing leaves the machine.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks the API URL. Credentials in it are refused without being echoed (the token goes in
/// `token`); plain `http://` is refused for any host but loopback unless `allow_insecure`,
/// in which case the second value is the warning to log.
fn parse_api_url(text: &str, allow_insecure: bool) -> Result<(Uri, Option<String>), String> {
    let after_scheme = text
        .trim()
        .split_once("://")
        .map_or(text.trim(), |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        return Err(
            "holds credentials (`user:password@`), which are never sent nor shown: remove them and pass a token in `token`".to_owned(),
        );
    }
    if let Some((before, _)) = text.trim().split_once('?') {
        return Err(format!("`{before}?…` must not have a query string"));
    }
    let trimmed = text.trim().trim_end_matches('/');
    let uri: Uri = trimmed.parse().map_err(|_| {
        format!("`{text}` is not a URL; use e.g. https://api.github.com or https://HOST/api/v3")
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some_and(|host| !host.is_empty()) => {}
        _ => {
            return Err(format!(
                "`{text}` is not an http(s) URL; use e.g. https://api.github.com or https://HOST/api/v3"
            ));
        }
    }
    let host = uri.host().unwrap_or_default().to_owned();
    if uri.scheme_str() == Some("http") && !is_loopback(&host) {
        if !allow_insecure {
            return Err(format!(
                "`{text}` is plain http to `{host}`, which is not this machine: use https://, or set `allow-insecure-http` to `true` to send the key's JWTs and the token unencrypted"
            ));
        }
        let warning = format!(
            "`api-url` is plain http to `{host}`: JWTs, tokens and answers travel unencrypted (`allow-insecure-http` is on)"
        );
        return Ok((uri, Some(warning)));
    }
    Ok((uri, None))
}

/// github.com and GHE.com keep deliveries 3 days, GHES 7.
/// <https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks>
fn default_retention_days(api_url: &Uri) -> i64 {
    match api_url.host() {
        Some(host) if host == "api.github.com" || host.ends_with(".ghe.com") => 3,
        _ => 7,
    }
}

fn read_secret_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("cannot read `{path}`: {error}"))
}

/// A setting's text, or `None` when not given: the runner passes `""` for every input the
/// workflow left out, and an empty flag means the same.
/// `--listen` and `--log-format`: how the long-running mode is operated.
fn check_operation(
    raw: &Cli,
    every: bool,
    problems: &mut Problems,
) -> (Option<SocketAddr>, LogFormat) {
    let listen = given(&raw.listen).map(str::trim).and_then(|text| {
        // `:9090` is the common shorthand for every interface.
        let full = match text.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => text.to_owned(),
        };
        match full.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                problems.fail(
                    "listen",
                    format!("must be an IP address and port such as `0.0.0.0:9090`, `127.0.0.1:9090` or `:9090` (got `{text}`)"),
                );
                None
            }
        }
    });
    if listen.is_some() && !every {
        problems.fail(
            "listen",
            "needs `--every`: `/metrics` and `/healthz` describe the long-running loop; add e.g. `--every 5m`, or drop `--listen` for a single run".to_owned(),
        );
    }
    let log_format = match given(&raw.log_format).map(str::trim) {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            problems.fail(
                "log-format",
                format!("must be `text` or `json` (got `{other}`)"),
            );
            LogFormat::Text
        }
    };
    (listen, log_format)
}

fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().filter(|text| !text.trim().is_empty())
}

/// The App's signer and the token, each when given and sound.
struct Credentials {
    app: Option<Arc<AppSigner>>,
    token: Option<String>,
}

/// The counts, checked.
struct Counts {
    max_attempts: u32,
    max_redeliveries: usize,
    retention_days: Option<i64>,
}

/// The durations, checked.
struct Durations {
    redelivery_interval: Duration,
    max_wait: Duration,
    max_duration: Duration,
    since: chrono::Duration,
    max_age: Option<Duration>,
    every: Option<Duration>,
}

impl Settings {
    /// Checks everything that can be checked without the network, concern by concern, in
    /// the order the lines have always come in; every problem is reported at once.
    pub fn from_raw(raw: Cli) -> Result<Settings, InputErrors> {
        let mut problems = Problems::new(&raw);
        let hooks = check_hooks(&raw, &mut problems);
        let Credentials { app, token } = check_credentials(&raw, &hooks, &mut problems);
        let has_credentials = token.is_some() || app.is_some();
        let store = check_store(&raw, has_credentials, &mut problems);
        let allow_insecure_http =
            problems.flag("allow-insecure-http", given(&raw.allow_insecure_http));
        if token.is_none() && app.is_some() {
            check_installation_reach(&hooks, store.as_ref(), &mut problems);
        }
        let api_url = check_api_url(&raw, allow_insecure_http, &mut problems);
        let dry_run = problems.flag("dry-run", given(&raw.dry_run));
        let filter = check_filter(&raw, &mut problems);
        let counts = check_counts(&raw, &mut problems);
        let durations = check_durations(&raw, &mut problems);
        let (listen, log_format) = check_operation(&raw, durations.every.is_some(), &mut problems);
        if let Some(StoreSpec::File(path)) = &store
            && let Err(problem) = check_state_path(path)
        {
            problems.fail("state", problem);
        }
        let (true, Some((api_url, warning)), Some(store)) =
            (problems.list.is_empty(), api_url, store)
        else {
            return Err(InputErrors(problems.list));
        };
        let retention_days = counts
            .retention_days
            .unwrap_or_else(|| default_retention_days(&api_url));
        let max_age = check_max_age(&raw, durations.max_age, retention_days, &mut problems)?;
        Ok(Settings {
            in_actions: raw.runner.actions,
            hooks,
            app,
            token: token.map(SecretString::from),
            api_url,
            repository: given(&raw.repository).map(|repository| repository.trim().to_owned()),
            store,
            dry_run,
            filter,
            max_attempts: counts.max_attempts,
            max_redeliveries: counts.max_redeliveries,
            redelivery_interval: durations.redelivery_interval,
            max_wait: durations.max_wait,
            max_duration: durations.max_duration,
            retention: chrono::Duration::days(retention_days),
            first_run_lookback: durations.since,
            max_age,
            json: raw.json,
            every: durations.every,
            listen,
            log_format,
            debug: raw.verbose || raw.runner.debug,
            output_file: raw.runner.output_file.as_ref().map(PathBuf::from),
            summary_file: raw.runner.summary_file.as_ref().map(PathBuf::from),
            warnings: warning.into_iter().collect(),
        })
    }
}

fn check_hooks(raw: &Cli, problems: &mut Problems) -> Vec<HookSelector> {
    match parse_hooks(given(&raw.hooks).unwrap_or("app")) {
        Ok(hooks) => hooks,
        Err(problem) => {
            problems.fail("hooks", format!("has a bad line: {problem}"));
            Vec::new()
        }
    }
}

/// The key and the token, from the flag or the file that holds them.
fn read_key_and_token(raw: &Cli, problems: &mut Problems) -> (Option<String>, Option<String>) {
    let private_key = match (given(&raw.private_key), given(&raw.private_key_file)) {
        (Some(key), _) => Some(key.to_owned()),
        (None, Some(path)) => match read_secret_file(path) {
            Ok(key) => Some(key),
            Err(problem) => {
                problems.fail("private-key-file", problem);
                None
            }
        },
        (None, None) => None,
    };
    let token = match (given(&raw.token), given(&raw.token_file)) {
        (Some(token), _) => Some(token.trim().to_owned()),
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
fn check_issuer(raw: &Cli, problems: &mut Problems) -> Option<Issuer> {
    match (given(&raw.client_id), given(&raw.app_id)) {
        (Some(client_id), _) => {
            let client_id = client_id.trim();
            if client_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.')
            {
                Some(Issuer::ClientId(client_id.to_owned()))
            } else {
                problems.fail(
                    "client-id",
                    format!("`{client_id}` is not a client ID (like Iv23li...)"),
                );
                None
            }
        }
        (None, Some(app_id)) => match app_id.trim().parse::<u64>() {
            Ok(id) if id > 0 => Some(Issuer::AppId(id)),
            _ => {
                problems.fail(
                    "app-id",
                    format!(
                        "must be the App's numeric ID, e.g. 123456 (got `{}`)",
                        app_id.trim()
                    ),
                );
                None
            }
        },
        (None, None) => None,
    }
}

/// The App's signer and the token, and whether the hooks can be reached with them.
fn check_credentials(raw: &Cli, hooks: &[HookSelector], problems: &mut Problems) -> Credentials {
    let (private_key, token) = read_key_and_token(raw, problems);
    let issuer = check_issuer(raw, problems);
    let wants_app = hooks.contains(&HookSelector::App);
    let named_issuer = given(&raw.app_id).is_some() || given(&raw.client_id).is_some();
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
    if hooks.iter().any(|hook| !hook.uses_app_jwt()) && token.is_none() && app.is_none() {
        problems.fail(
            "token",
            "is missing: org and repo hooks need a token with admin on the hook (`admin:org_hook` or repository admin), or the App's credentials with the \"Webhooks\" permissions".to_owned(),
        );
    }
    Credentials { app, token }
}

/// Where the checkpoint lives, with the variable's name and repository checked.
fn check_store(raw: &Cli, has_credentials: bool, problems: &mut Problems) -> Option<StoreSpec> {
    let state = given(&raw.state);
    let store = match (state, given(&raw.variable_name)) {
        (Some(state), _) => parse_store(state.trim(), problems),
        (None, Some(name)) => Some(StoreSpec::Variable {
            repository: String::new(),
            name: name.trim().to_owned(),
        }),
        (None, None) if raw.runner.actions => Some(StoreSpec::Variable {
            repository: String::new(),
            name: DEFAULT_VARIABLE_NAME.to_owned(),
        }),
        (None, None) => Some(StoreSpec::File(PathBuf::from(DEFAULT_STATE_FILE))),
    };
    let Some(StoreSpec::Variable { name, .. }) = store else {
        return store;
    };
    let input = if state.is_some() {
        "state"
    } else {
        "variable-name"
    };
    if let Err(problem) = check_variable_name(&name) {
        problems.fail(input, problem);
    }
    let repository = match given(&raw.repository).map(str::trim) {
        Some(repository) if check_repository(repository) => repository.to_owned(),
        Some(repository) => {
            problems.fail(
                "repository",
                format!("`{repository}` is not of the form owner/name"),
            );
            String::new()
        }
        None => {
            problems.fail("repository", missing_repository(raw.runner.actions));
            String::new()
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

/// The API URL, with the warning to log when it is plain http to another host.
fn check_api_url(
    raw: &Cli,
    allow_insecure_http: bool,
    problems: &mut Problems,
) -> Option<(Uri, Option<String>)> {
    let text = given(&raw.api_url).unwrap_or(DEFAULT_API_URL);
    match parse_api_url(text, allow_insecure_http) {
        Ok(checked) => Some(checked),
        Err(problem) => {
            problems.fail("api-url", problem);
            None
        }
    }
}

fn check_filter(raw: &Cli, problems: &mut Problems) -> EventFilter {
    let mut filter = EventFilter::default();
    for (input, text, list) in [
        ("events", given(&raw.events), &mut filter.include),
        (
            "exclude-events",
            given(&raw.exclude_events),
            &mut filter.exclude,
        ),
    ] {
        if let Some(text) = text {
            match parse_event_list(text) {
                Ok(patterns) => *list = patterns,
                Err(entry) => problems.fail(
                    input,
                    format!("has `{entry}`, which is not `event` or `event.action` (e.g. `workflow_job.queued`)"),
                ),
            }
        }
    }
    filter
}

fn check_counts(raw: &Cli, problems: &mut Problems) -> Counts {
    let max_attempts = problems.number("max-attempts", given(&raw.max_attempts), 3, 1, 100) as u32;
    // No cap by default: the time budget bounds a run, and a cap would strand events.
    let max_redeliveries = match given(&raw.max_redeliveries) {
        None => usize::MAX,
        text => problems.number("max-redeliveries", text, 0, 1, 1_000_000) as usize,
    };
    let retention_days = given(&raw.retention_days)
        .map(|text| problems.number("retention-days", Some(text), 3, 1, 90) as i64);
    Counts {
        max_attempts,
        max_redeliveries,
        retention_days,
    }
}

fn check_durations(raw: &Cli, problems: &mut Problems) -> Durations {
    let redelivery_interval = problems.duration(
        "redelivery-interval",
        given(&raw.redelivery_interval),
        Duration::from_secs(1),
    );
    let max_wait = problems.duration(
        "max-wait",
        given(&raw.max_wait),
        crate::client::DEFAULT_MAX_WAIT,
    );
    let max_duration = problems.duration(
        "max-duration",
        given(&raw.max_duration),
        DEFAULT_MAX_DURATION,
    );
    if max_duration.is_zero() {
        problems.fail(
            "max-duration",
            "must be longer than 0s: it is the time a run may spend redelivering".to_owned(),
        );
    }
    let since = problems.duration("since", given(&raw.since), Duration::from_secs(24 * 3600));
    // The fallback (after an error already reported) only avoids a second line.
    let max_age = given(&raw.max_age)
        .map(|text| problems.duration("max-age", Some(text), Duration::from_secs(1)));
    if max_age.is_some_and(|max_age| max_age.is_zero()) {
        problems.fail(
            "max-age",
            "must be longer than zero; leave it empty for no bound".to_owned(),
        );
    }
    let every = given(&raw.every)
        .map(|text| problems.duration("every", Some(text), Duration::from_secs(300)));
    if every.is_some_and(|every| every.is_zero()) {
        problems.fail("every", "must be longer than zero".to_owned());
    }
    if since.is_zero() {
        problems.fail("since", "must be longer than zero".to_owned());
    }
    Durations {
        redelivery_interval,
        max_wait,
        max_duration,
        // Within MAX_DURATION, so it converts; the fallback is never used.
        since: chrono::Duration::from_std(since).unwrap_or(chrono::Duration::days(1)),
        max_age,
        every,
    }
}

/// `max-age` within the retention: checked last, once the API URL tells the retention.
fn check_max_age(
    raw: &Cli,
    max_age: Option<Duration>,
    retention_days: i64,
    problems: &mut Problems,
) -> Result<Option<chrono::Duration>, InputErrors> {
    // Within MAX_DURATION, so it converts.
    let max_age = max_age.and_then(|max_age| chrono::Duration::from_std(max_age).ok());
    if let Some(max_age) = max_age
        && max_age > chrono::Duration::days(retention_days)
    {
        problems.fail(
            "max-age",
            format!(
                "is longer than GitHub keeps deliveries ({retention_days} days): older failures cannot be listed anyway, so use at most `{retention_days}d` (got `{}`)",
                given(&raw.max_age).unwrap_or_default().trim()
            ),
        );
        return Err(InputErrors(std::mem::take(&mut problems.list)));
    }
    Ok(max_age)
}

fn missing_repository(actions: bool) -> String {
    if actions {
        "is unknown: GITHUB_REPOSITORY is not set, and the checkpoint variable needs it".to_owned()
    } else {
        "is missing: the `variable:` store needs the repository (owner/name), or use `--state file:PATH`".to_owned()
    }
}

fn parse_store(text: &str, problems: &mut Problems) -> Option<StoreSpec> {
    if text == "none" {
        return Some(StoreSpec::None);
    }
    if let Some(name) = text.strip_prefix("variable:") {
        return Some(StoreSpec::Variable {
            repository: String::new(),
            name: name.trim().to_owned(),
        });
    }
    if let Some(path) = text.strip_prefix("file:") {
        return Some(StoreSpec::File(PathBuf::from(path.trim())));
    }
    problems.fail(
        "state",
        format!("`{text}` is not a store: use `file:PATH`, `variable:NAME` or `none`"),
    );
    None
}

/// Without `token`, an organization's hooks are reached with the App's installation on the
/// organization, which is found through one of its repositories: the checkpoint's, or a
/// repository hook's. Said before any request when the run names none.
fn check_installation_reach(
    hooks: &[HookSelector],
    store: Option<&StoreSpec>,
    problems: &mut Problems,
) {
    let mut reachable: Vec<String> = hooks
        .iter()
        .filter_map(|hook| match hook.scope() {
            Some(HookScope::Repo { owner, .. }) => Some(owner.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    if let Some(StoreSpec::Variable { repository, .. }) = store
        && let Some((owner, _)) = repository.split_once('/')
    {
        reachable.push(owner.to_ascii_lowercase());
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
