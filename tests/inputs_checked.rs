//! Bad input: one clear line per problem, exit code 2, and not a single request.

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_before_any_request() {
    let fake = fake().await;
    let encrypted = include_str!("resources/app-key-encrypted.pem");
    let public = include_str!("resources/app-key.pub.pem");
    let truncated = &APP_KEY[..APP_KEY.len() / 2];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("app-id", "")], "::error::input `app-id` is missing"),
        (
            vec![("app-id", "my-app")],
            "::error::input `app-id` must be the App's numeric ID, e.g. 123456 (got `my-app`)",
        ),
        (
            vec![("private-key", "")],
            "::error::input `private-key` is missing",
        ),
        (
            vec![("private-key", truncated)],
            "::error::input `private-key` is truncated",
        ),
        (
            vec![("private-key", encrypted)],
            "::error::input `private-key` is encrypted",
        ),
        (
            vec![("private-key", public)],
            "::error::input `private-key` is a public key",
        ),
        (
            vec![("variable-name", "LAST-RUN")],
            "::error::input `variable-name` `LAST-RUN` may only hold letters, digits and `_`",
        ),
        (
            vec![("variable-name", "1ST")],
            "::error::input `variable-name` `1ST` must not start with a digit",
        ),
        (
            vec![("variable-name", "github_last")],
            "::error::input `variable-name` `github_last` must not start with GITHUB_",
        ),
        (
            vec![("hooks", "app\norg/acme")],
            "::error::input `hooks` has a bad line: `org/acme` is not a hook",
        ),
        (
            vec![("hooks", "repo/octo/demo/abc")],
            "::error::input `hooks` has a bad line: `repo/octo/demo/abc`: the hook id `abc` must be a positive number",
        ),
        (
            vec![("api-url", "ftp://example.com")],
            "::error::input `api-url` `ftp://example.com` is not an http(s) URL",
        ),
        (
            vec![("api-url", "not a url")],
            "::error::input `api-url` `not a url` is not a URL",
        ),
        (
            vec![("dry-run", "maybe")],
            "::error::input `dry-run` must be `true` or `false`",
        ),
        (
            vec![("max-attempts", "0")],
            "::error::input `max-attempts` must be a whole number from 1 to 100 (got `0`)",
        ),
        (
            vec![("redelivery-interval", "soon")],
            "::error::input `redelivery-interval` must be a duration",
        ),
        (
            vec![("events", "push, work-flow")],
            "::error::input `events` has `work-flow`",
        ),
        (
            vec![("hooks", "org/acme/1"), ("token", "")],
            "::error::input `token` is missing: hook `org/acme/1` needs a token of an owner of acme",
        ),
        (
            vec![
                ("token", ""),
                ("app-id", ""),
                ("private-key", ""),
                ("hooks", "org/acme/1"),
            ],
            "::error::input `token` is missing",
        ),
    ];
    for (inputs, expected) in cases {
        let run = run_action(&fake, &inputs).await;
        assert_eq!(run.code, 2, "{inputs:?}\n{}", run.stdout);
        assert!(
            run.stdout.contains(expected),
            "{inputs:?}: expected {expected:?} in\n{}",
            run.stdout
        );
        assert!(!run.stdout.contains("panicked") && !run.stderr.contains("panicked"));
        assert!(
            run.raw_outputs.is_empty() && run.summary.is_empty(),
            "no partial writes"
        );
        assert!(
            fake.requests().is_empty(),
            "{inputs:?} sent {:?}",
            fake.requests()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_repository_is_refused_when_the_variable_needs_it() {
    let fake = fake().await;
    let run = run_action_with_env(&fake, &[], &[("GITHUB_REPOSITORY", "")]).await;
    run.assert_code(2);
    assert!(
        run.stdout
            .contains("::error::input `repository` is unknown: GITHUB_REPOSITORY is not set"),
        "{}",
        run.stdout
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_accepted_in_every_form_users_paste() {
    let fake = fake().await;
    let literal = APP_KEY.trim().replace('\n', "\\n");
    let crlf = APP_KEY.replace('\n', "\r\n");
    let padded = format!("  \n{APP_KEY_PKCS8}\n\n  ");
    for key in [
        APP_KEY,
        APP_KEY_PKCS8,
        literal.as_str(),
        crlf.as_str(),
        padded.as_str(),
    ] {
        let run = run_action(&fake, &[("private-key", key)]).await;
        run.assert_code(0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_problems_are_all_reported_at_once() {
    let fake = fake().await;
    let run = run_action(
        &fake,
        &[
            ("app-id", "x"),
            ("max-wait", "forever"),
            ("retention-days", "0"),
        ],
    )
    .await;
    run.assert_code(2);
    assert_eq!(run.stdout.matches("::error::").count(), 3, "{}", run.stdout);
}
