//! Which hooks, where their deliveries are listed and how far back: `hooks`, the API URL,
//! GitHub's retention, `since` and `scan-concurrency`.

use std::time::Duration;

use http::Uri;

use super::{Problems, to_chrono};
use crate::config::inputs::Cli;
use crate::domain::hook::HookSelector;

pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Which hooks are scanned, where, and how far back.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// As the `hooks` input names them: resolved to concrete hooks at the start of each run.
    pub(crate) hooks: Vec<HookSelector>,
    pub(crate) api_url: Uri,
    /// How long GitHub keeps deliveries (`retention-days`, else by the API's host).
    pub(crate) retention: chrono::Duration,
    /// `since`: how far back a first run (no checkpoint yet) looks.
    pub(crate) first_run_lookback: chrono::Duration,
    /// Hooks listed at once (`scan-concurrency`, at most a third of the 100 concurrent
    /// requests GitHub allows).
    pub(crate) concurrency: usize,
}

/// The scan settings, with `hooks` as taken first (the credentials are judged against
/// them); the API URL's warning, if any, goes to `warnings`.
pub(super) fn resolve(
    cli: &Cli,
    hooks: Option<Vec<HookSelector>>,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<ScanSettings> {
    // Refused, it is taken as off: the API URL's own problem is still said.
    let allow_insecure = problems.take(&cli.allow_insecure_http).unwrap_or(false);
    let api_url = api_url(cli, allow_insecure, problems);
    let retention_days = problems.take_given(&cli.retention_days);
    let since = problems.take(&cli.since);
    let concurrency = problems.take(&cli.scan_concurrency);
    let (api_url, warning) = api_url?;
    warnings.extend(warning);
    let retention_days = retention_days.unwrap_or_else(|| default_retention_days(&api_url));
    Some(ScanSettings {
        hooks: hooks?,
        api_url,
        retention: chrono::Duration::days(retention_days),
        first_run_lookback: to_chrono(since?),
        concurrency: concurrency?,
    })
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

/// The API URL (checked by its parser), with the warning to log when it is plain http to
/// another host: refused for any host but loopback unless `allow_insecure`.
fn api_url(
    cli: &Cli,
    allow_insecure: bool,
    problems: &mut Problems,
) -> Option<(Uri, Option<String>)> {
    let (uri, text) = match &cli.api_url {
        Some(checked) => (problems.take(checked)?, checked.text.as_str()),
        None => (Uri::from_static(DEFAULT_API_URL), DEFAULT_API_URL),
    };
    let host = uri.host().unwrap_or_default().to_owned();
    if uri.scheme_str() != Some("http") || is_loopback(&host) {
        return Some((uri, None));
    }
    if !allow_insecure {
        problems.fail(
            "api-url",
            format!(
                "`{text}` is plain http to `{host}`, which is not this machine: use https://, or set `allow-insecure-http` to `true` to send the key's JWTs and the token unencrypted"
            ),
        );
        return None;
    }
    let warning = format!(
        "`api-url` is plain http to `{host}`: JWTs, tokens and answers travel unencrypted (`allow-insecure-http` is on)"
    );
    Some((uri, Some(warning)))
}

/// github.com and GHE.com keep deliveries 3 days, GHES 7.
/// <https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks>
fn default_retention_days(api_url: &Uri) -> i64 {
    match api_url.host() {
        Some(host) if host == "api.github.com" || host.ends_with(".ghe.com") => 3,
        _ => 7,
    }
}

/// `max-age` within the retention: checked last, once the API URL tells the retention.
pub(super) fn max_age_within_retention(
    cli: &Cli,
    max_age: Option<Duration>,
    retention_days: i64,
    problems: &mut Problems,
) -> Option<Duration> {
    let max_age = max_age?;
    let retention = Duration::from_secs(u64::try_from(retention_days).unwrap_or(0) * 24 * 3600);
    if max_age > retention {
        problems.fail(
            "max-age",
            format!(
                "is longer than GitHub keeps deliveries ({retention_days} days): older failures cannot be listed anyway, so use at most `{retention_days}d` (got `{}`)",
                cli.max_age.as_ref().map(|given| given.text.as_str()).unwrap_or_default()
            ),
        );
        return None;
    }
    Some(max_age)
}
