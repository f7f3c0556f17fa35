//! The transport's pure rules, as tables: which `Link` URLs are followed, and what a failed
//! answer calls for (GitHub's rate-limit guidance).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use http::header::{HeaderMap, HeaderValue};
use http::{StatusCode, Uri};
use redeliver_action::github::client::{
    FailedAnswer, Failure, RetryPolicy, classify_failure, route_under,
};
#[test]
fn next_page_links_are_followed_only_under_the_api_url() {
    let cases = [
        // (api-url, link, route)
        (
            "https://api.github.com",
            "https://api.github.com/app/hook/deliveries?cursor=a",
            Some("/app/hook/deliveries?cursor=a"),
        ),
        (
            "https://api.github.com:443",
            "https://api.github.com/app/hook/deliveries",
            Some("/app/hook/deliveries"),
        ),
        (
            "https://api.github.com",
            "https://api.github.com:443/app/hook/deliveries",
            Some("/app/hook/deliveries"),
        ),
        (
            "https://api.github.com/",
            "https://api.github.com/app/hook/deliveries",
            Some("/app/hook/deliveries"),
        ),
        (
            "https://API.github.com",
            "https://api.github.com/app/hook/deliveries",
            Some("/app/hook/deliveries"),
        ),
        (
            "https://ghes.example.com/api/v3",
            "https://ghes.example.com/api/v3/app/hook/deliveries?cursor=b",
            Some("/app/hook/deliveries?cursor=b"),
        ),
        (
            "https://ghes.example.com/api/v3/",
            "https://ghes.example.com/api/v3/app/hook/deliveries",
            Some("/app/hook/deliveries"),
        ),
        (
            "https://ghes.example.com/api/v3",
            "https://ghes.example.com/api/v3x/app/hook/deliveries",
            None,
        ),
        (
            "https://ghes.example.com/api/v3",
            "https://ghes.example.com/app/hook/deliveries",
            None,
        ),
        (
            "https://api.github.com",
            "http://api.github.com/app/hook/deliveries",
            None,
        ),
        (
            "https://api.github.com",
            "https://api.github.com:8443/app/hook/deliveries",
            None,
        ),
        (
            "https://api.github.com",
            "https://evil.example/app/hook/deliveries",
            None,
        ),
        (
            "https://api.github.com",
            "https://api.github.com.evil.example/app/hook/deliveries",
            None,
        ),
    ];
    for (base, link, route) in cases {
        let base: Uri = base.parse().expect("base");
        let link: Uri = link.parse().expect("link");
        assert_eq!(route_under(&base, &link).as_deref(), route, "{base} {link}");
    }
}

#[test]
fn failed_answers_are_classified_as_github_asks() {
    let policy = RetryPolicy::with_max_wait(Duration::from_secs(3600));
    let now = Utc.timestamp_opt(1_800_000_000, 0).single().expect("time");
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    };
    let minute = Duration::from_secs(60);
    let cases: Vec<(u16, HeaderMap, &str, u32, Failure)> = vec![
        (500, headers(&[]), "", 0, Failure::Transient),
        (502, headers(&[]), "", 0, Failure::Transient),
        (404, headers(&[]), "Not Found", 0, Failure::Final),
        (422, headers(&[]), "Validation Failed", 0, Failure::Final),
        (
            403,
            headers(&[]),
            "Resource not accessible by integration",
            0,
            Failure::Final,
        ),
        (
            403,
            headers(&[("retry-after", "30")]),
            "",
            0,
            Failure::RateLimited {
                wait: Duration::from_secs(30),
                reason: "secondary rate limit, GitHub asks to retry after 30 s".into(),
            },
        ),
        (
            429,
            headers(&[("retry-after", "10000000000000")]),
            "",
            0,
            Failure::RateLimited {
                wait: Duration::from_secs(10_000_000_000_000),
                reason: "secondary rate limit, GitHub asks to retry after 10000000000000 s".into(),
            },
        ),
        (
            403,
            headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1800000120"),
            ]),
            "API rate limit exceeded",
            0,
            Failure::RateLimited {
                wait: Duration::from_secs(121),
                reason: "primary rate limit for `core` used up until its reset".into(),
            },
        ),
        (
            403,
            headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "99999999999999"),
            ]),
            "",
            0,
            Failure::RateLimited {
                wait: Duration::MAX,
                reason: "primary rate limit for `core` used up until its reset".into(),
            },
        ),
        (
            403,
            headers(&[("x-ratelimit-remaining", "0")]),
            "",
            0,
            Failure::RateLimited {
                wait: minute + Duration::from_secs(1),
                reason: "primary rate limit for `core` used up until its reset".into(),
            },
        ),
        (
            403,
            headers(&[]),
            "You have exceeded a secondary rate limit",
            0,
            Failure::RateLimited {
                wait: minute,
                reason: "secondary rate limit without retry-after".into(),
            },
        ),
        (
            429,
            headers(&[]),
            "",
            2,
            Failure::RateLimited {
                wait: minute * 4,
                reason: "secondary rate limit without retry-after".into(),
            },
        ),
        // The doubling stops at 15 minutes: an hourly limit is waited out in steps that
        // stay within `max-wait`.
        (
            429,
            headers(&[]),
            "",
            9,
            Failure::RateLimited {
                wait: minute * 15,
                reason: "secondary rate limit without retry-after".into(),
            },
        ),
        // "Validation failed, or the endpoint has been spammed": the second is a limit,
        // with or without `retry-after`; the first stands.
        (
            422,
            headers(&[]),
            "Validation Failed: the endpoint has been spammed.",
            1,
            Failure::RateLimited {
                wait: minute * 2,
                reason: "GitHub says the endpoint has been spammed".into(),
            },
        ),
        (
            422,
            headers(&[("retry-after", "30")]),
            "endpoint has been spammed",
            0,
            Failure::RateLimited {
                wait: Duration::from_secs(30),
                reason: "GitHub says the endpoint has been spammed".into(),
            },
        ),
        (422, headers(&[]), "Validation Failed", 0, Failure::Final),
    ];
    for (status, headers, message, waits, expected) in cases {
        let status = StatusCode::from_u16(status).expect("status");
        assert_eq!(
            classify_failure(
                &FailedAnswer {
                    status,
                    headers: &headers,
                    message,
                },
                now,
                &policy,
                waits
            ),
            expected,
            "{status} {message}"
        );
    }
}
