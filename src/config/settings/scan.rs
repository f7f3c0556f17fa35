//! Where deliveries are listed and how far back: the API URL and GitHub's retention.

use std::time::Duration;

use http::Uri;

use super::Problems;
use crate::config::inputs::Cli;

pub const DEFAULT_API_URL: &str = "https://api.github.com";

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
pub(super) fn api_url(
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
pub(super) fn default_retention_days(api_url: &Uri) -> i64 {
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
