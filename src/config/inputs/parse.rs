//! The typed parsers of the settings table ([`crate::config::inputs::Cli`]): each is a clap
//! `value_parser`, and clap runs the table's `default_value` through the same parser.
//!
//! A parser never makes clap fail: it gives a [`Checked`] value, the value or what is wrong
//! with the text, and the settings' resolve steps report every problem at once, one line
//! each, naming the input the way the user wrote it.

use std::ffi::OsStr;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Arg, Command};
use http::Uri;
use secrecy::SecretString;

use crate::base::log::LogFormat;
use crate::domain::filter::{EventPattern, parse_event_list};
use crate::domain::hook::{HookSelector, is_valid_name, parse_hooks};
use crate::domain::replay::{Cause, ReplayTime, parse_causes};
use crate::github::Repo;
use crate::report::fail_on::FailOn;

/// The longest duration any setting takes (`since`, `max-wait`, ...): far past GitHub's
/// retention, and far inside what a time can be shifted by without overflowing.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(400 * 24 * 3600);

/// A setting's value as its parser left it: the value, or what is wrong with the text
/// given (without the input's name: the resolve step adds it).
#[derive(Clone)]
pub struct Checked<T> {
    /// The long flag's name, which is also the action input's id.
    pub(crate) input: String,
    /// The text given, trimmed, for the problems that need other settings to be seen.
    pub(crate) text: String,
    pub(crate) value: Result<T, String>,
}

impl<T> Checked<T> {
    /// The value, when it was sound.
    pub fn ok(&self) -> Option<&T> {
        self.value.as_ref().ok()
    }
}

/// Shows only whether the value was sound: a setting may hold a secret.
impl<T> fmt::Debug for Checked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Ok(_) => write!(f, "Checked({}: ok)", self.input),
            Err(problem) => write!(f, "Checked({}: {problem})", self.input),
        }
    }
}

type ParseFn<T> = Arc<dyn Fn(&str) -> Result<T, String> + Send + Sync>;

/// A clap value parser that never fails: see [`Checked`].
#[derive(Clone)]
pub struct Parser<T>(ParseFn<T>);

/// The value parser of a setting whose text `parse` checks (trimmed first).
pub fn checked<T>(parse: impl Fn(&str) -> Result<T, String> + Send + Sync + 'static) -> Parser<T> {
    Parser(Arc::new(parse))
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Parser<T> {
    type Value = Checked<T>;

    fn parse_ref(
        &self,
        _command: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<Checked<T>, clap::Error> {
        let input = arg.and_then(Arg::get_long).unwrap_or_default().to_owned();
        let text = value.to_string_lossy().trim().to_owned();
        let value = match value.to_str() {
            Some(_) => (self.0)(&text),
            None => Err("is not valid UTF-8".to_owned()),
        };
        Ok(Checked { input, text, value })
    }
}

/// A secret's value parser: kept as given, in a type that never prints it.
pub fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

/// A whole number in `min..=max`.
pub fn count<N: TryFrom<u64>>(min: u64, max: u64) -> impl Fn(&str) -> Result<N, String> {
    move |text| match text.parse::<u64>() {
        Ok(value) if (min..=max).contains(&value) => {
            N::try_from(value).map_err(|_| format!("must be at most {max}"))
        }
        _ => Err(format!(
            "must be a whole number from {min} to {max} (got `{text}`)"
        )),
    }
}

/// `true` or `false`, and their usual spellings.
pub fn flag(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err("must be `true` or `false`".to_owned()),
    }
}

/// `90s`, `5m`, `1h 30m`, `500ms`; a bare number is seconds. At most [`MAX_DURATION`].
pub fn duration(text: &str) -> Result<Duration, String> {
    let parsed = match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text).ok(),
    };
    match parsed {
        Some(duration) if duration <= MAX_DURATION => Ok(duration),
        Some(_) => Err(format!(
            "must be at most 400 days (`400d`); GitHub keeps deliveries for days, not years (got `{text}`)"
        )),
        None => Err(format!(
            "must be a duration such as `1s`, `500ms` or `5m` (got `{text}`)"
        )),
    }
}

/// A [`duration`] longer than zero; `why` follows "must be longer than zero".
pub fn positive_duration(why: &'static str) -> impl Fn(&str) -> Result<Duration, String> {
    move |text| match duration(text)? {
        duration if duration.is_zero() => Err(format!("must be longer than {why}")),
        duration => Ok(duration),
    }
}

pub fn hooks(text: &str) -> Result<Vec<HookSelector>, String> {
    parse_hooks(text).map_err(|problem| format!("has a bad line: {problem}"))
}

pub fn events(text: &str) -> Result<Vec<EventPattern>, String> {
    parse_event_list(text).map_err(|entry| {
        format!(
            "has `{entry}`, which is not `event` or `event.action` (e.g. `workflow_job.queued`)"
        )
    })
}

pub fn app_id(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!(
            "must be the App's numeric ID, e.g. 123456 (got `{text}`)"
        )),
    }
}

pub fn client_id(text: &str) -> Result<String, String> {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        Ok(text.to_owned())
    } else {
        Err(format!("`{text}` is not a client ID (like Iv23li...)"))
    }
}

/// Repository Actions variable names: `[A-Za-z0-9_]`, not starting with a digit or with
/// `GITHUB_`. <https://docs.github.com/en/actions/reference/workflows-and-actions/variables#naming-conventions-for-configuration-variables>
pub fn variable_name(name: &str) -> Result<String, String> {
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
    Ok(name.to_owned())
}

/// `owner/name`, each part a name GitHub allows.
pub fn repository(text: &str) -> Result<Repo, String> {
    match text.split_once('/') {
        Some((owner, name)) if is_valid_name(owner) && is_valid_name(name) => Ok(Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        }),
        _ => Err(format!("`{text}` is not of the form owner/name")),
    }
}

/// `file:PATH`, `variable:NAME` (the repository is filled in later) or `none`.
pub fn store(text: &str) -> Result<StoreSpec, String> {
    if text == "none" {
        return Ok(StoreSpec::None);
    }
    if let Some(name) = text.strip_prefix("variable:") {
        return Ok(StoreSpec::Variable {
            repository: Repo::default(),
            name: variable_name(name.trim())?,
        });
    }
    if let Some(path) = text.strip_prefix("file:") {
        return Ok(StoreSpec::File(PathBuf::from(path.trim())));
    }
    Err(format!(
        "`{text}` is not a store: use `file:PATH`, `variable:NAME` or `none`"
    ))
}

/// An http(s) URL with a host, no credentials and no query. Whether plain `http://` is
/// accepted depends on `allow-insecure-http`: see `scan::api_url`.
pub fn api_url(text: &str) -> Result<Uri, String> {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        return Err(
            "holds credentials (`user:password@`), which are never sent nor shown: remove them and pass a token in `token`".to_owned(),
        );
    }
    if let Some((before, _)) = text.split_once('?') {
        return Err(format!("`{before}?…` must not have a query string"));
    }
    let uri: Uri = text.trim_end_matches('/').parse().map_err(|_| {
        format!("`{text}` is not a URL; use e.g. https://api.github.com or https://HOST/api/v3")
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some_and(|host| !host.is_empty()) => Ok(uri),
        _ => Err(format!(
            "`{text}` is not an http(s) URL; use e.g. https://api.github.com or https://HOST/api/v3"
        )),
    }
}

/// A replay's bound (`replay-since`, `replay-until`): an RFC 3339 time, or an age before
/// now such as `6h` or `2d 12h` (a [`duration`]).
pub fn replay_time(text: &str) -> Result<ReplayTime, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(ReplayTime::At(at.with_timezone(&chrono::Utc)));
    }
    match duration(text) {
        Ok(age) => Ok(ReplayTime::Ago(age)),
        Err(_) => Err(format!(
            "must be a time (RFC 3339, e.g. `2026-12-07T01:00:00Z`) or an age such as `6h` or `2d` (got `{text}`)"
        )),
    }
}

/// The causes a replay takes (`replay-causes`): see [`Cause::parse`].
pub fn replay_causes(text: &str) -> Result<Vec<Cause>, String> {
    parse_causes(text)
}

/// A list of the end states that fail the run (`fail-on`): see [`FailOn::parse`].
pub fn fail_on(text: &str) -> Result<FailOn, String> {
    FailOn::parse(text)
}

/// An IP address and port; `:9090` is the common shorthand for every interface.
pub fn listen(text: &str) -> Result<SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.parse().map_err(|_| {
        format!("must be an IP address and port such as `0.0.0.0:9090`, `127.0.0.1:9090` or `:9090` (got `{text}`)")
    })
}

pub fn log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("must be `text` or `json` (got `{other}`)")),
    }
}

/// Where the checkpoint is kept, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Variable { repository: Repo, name: String },
    File(PathBuf),
    None,
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Variable { repository, name } => {
                write!(f, "variable `{name}` of {repository}")
            }
            StoreSpec::File(path) => write!(f, "file `{}`", path.display()),
            StoreSpec::None => f.write_str("nowhere (stateless)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_say_what_they_take() {
        assert_eq!(count::<u32>(1, 100)("7"), Ok(7));
        assert!(
            count::<u32>(1, 100)("0")
                .unwrap_err()
                .contains("from 1 to 100")
        );
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(duration("401d").unwrap_err().contains("400 days"));
        assert!(positive_duration("zero")("0s").is_err());
        assert_eq!(flag("ON"), Ok(true));
    }

    #[test]
    fn names_and_stores() {
        assert!(variable_name("GITHUB_X").is_err());
        assert!(variable_name("1X").is_err());
        assert_eq!(
            repository("octo/demo").map(|repo| repo.to_string()),
            Ok("octo/demo".to_owned())
        );
        assert!(repository("octo/../x").is_err());
        assert!(repository("octo").is_err());
        assert_eq!(store("none"), Ok(StoreSpec::None));
        assert!(store("variable:A-B").is_err());
        assert_eq!(listen(":9090").map(|a| a.port()), Ok(9090));
    }
}
