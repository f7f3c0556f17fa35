//! Bad input: one clear line per problem, named as the user wrote it, before any request.
//!
//! The settings layer is a table test, in this process: each case is the runner's
//! environment (or a command line) with a few settings changed, and the lines it gives are
//! pinned, exactly and in order, by a snapshot in `snapshots/`. One spawned run proves the
//! binary's side: exit code 2, `::error::` lines, no request, no output written.

use std::fmt::Write as _;

use redeliver_action::config::inputs::{Cli, Environment};
use redeliver_action::config::settings::Settings;

use crate::util::*;

/// The API URL of every in-process case: fixed, so that no port reaches a snapshot. Nothing
/// is sent to it.
const API_URL: &str = "http://127.0.0.1:1";

/// The environment of a Docker action step, as `run_action` sets it: every declared input
/// (its default or `""`), the test App's credentials, then `inputs`, then `env`.
fn runner_env(inputs: &[(&str, &str)], env: &[(&str, &str)]) -> Environment {
    let mut values: Environment = declared_inputs().into_iter().collect();
    for (id, value) in [
        ("app-id", APP_ID),
        ("private-key", APP_KEY),
        ("token", TOKEN),
        ("redelivery-interval", "0s"),
    ]
    .into_iter()
    .chain(inputs.iter().copied())
    {
        values.insert(id.to_owned(), value.to_owned());
    }
    let mut all: Environment = values
        .into_iter()
        .map(|(id, value)| (format!("INPUT_{}", id.to_uppercase()), value))
        .collect();
    for (name, value) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", REPO),
        ("GITHUB_API_URL", API_URL),
    ]
    .into_iter()
    .chain(env.iter().copied())
    {
        all.insert(name.to_owned(), value.to_owned());
    }
    all
}

/// What the settings layer says about `args` and `env`: its lines, or that it accepts them.
fn verdict(args: &[&str], env: &Environment) -> Vec<String> {
    let args: Vec<String> = std::iter::once("redeliver")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    let cli = match Cli::parse_from_env(&args, env) {
        Ok(cli) => cli,
        Err(refused) => return vec![format!("(refused by clap) {}", refused.message())],
    };
    match Settings::resolve(&cli) {
        Ok(_) => vec!["(accepted)".to_owned()],
        Err(errors) => errors.0,
    }
}

#[test]
fn bad_inputs_are_refused_with_one_line_each() {
    let encrypted = include_str!("resources/app-key-encrypted.pem");
    let public = include_str!("resources/app-key.pub.pem");
    let truncated = &APP_KEY[..APP_KEY.len() / 2];
    let no_repository = [("GITHUB_REPOSITORY", "")];
    // (what the case is, the inputs changed, the environment changed)
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Vec<(&str, &str)>, &[(&str, &str)])> = vec![
        ("app-id empty", vec![("app-id", "")], &[]),
        ("app-id not a number", vec![("app-id", "my-app")], &[]),
        ("private-key empty", vec![("private-key", "")], &[]),
        (
            "private-key truncated",
            vec![("private-key", truncated)],
            &[],
        ),
        (
            "private-key encrypted",
            vec![("private-key", encrypted)],
            &[],
        ),
        (
            "private-key a public key",
            vec![("private-key", public)],
            &[],
        ),
        (
            "variable-name with a hyphen",
            vec![("variable-name", "LAST-RUN")],
            &[],
        ),
        (
            "variable-name from a digit",
            vec![("variable-name", "1ST")],
            &[],
        ),
        (
            "variable-name GITHUB_",
            vec![("variable-name", "github_last")],
            &[],
        ),
        (
            "hooks without the hook",
            vec![("hooks", "app\norg/acme")],
            &[],
        ),
        (
            "hooks with a bad id",
            vec![("hooks", "repo/octo/demo/abc")],
            &[],
        ),
        ("api-url ftp", vec![("api-url", "ftp://example.com")], &[]),
        ("api-url not a URL", vec![("api-url", "not a url")], &[]),
        ("dry-run maybe", vec![("dry-run", "maybe")], &[]),
        ("max-attempts 0", vec![("max-attempts", "0")], &[]),
        (
            "redelivery-interval soon",
            vec![("redelivery-interval", "soon")],
            &[],
        ),
        (
            "events with a hyphen",
            vec![("events", "push, work-flow")],
            &[],
        ),
        (
            "org hook without a token",
            vec![("hooks", "org/acme/1"), ("token", "")],
            &[],
        ),
        (
            "org hook without any credential",
            vec![
                ("token", ""),
                ("app-id", ""),
                ("private-key", ""),
                ("hooks", "org/acme/1"),
            ],
            &[],
        ),
        ("no GITHUB_REPOSITORY", vec![], &no_repository),
        (
            "several problems at once",
            vec![
                ("app-id", "x"),
                ("max-wait", "forever"),
                ("retention-days", "0"),
            ],
            &[],
        ),
        ("client-id holding a token", vec![("client-id", TOKEN)], &[]),
        (
            "app-id and private-key swapped",
            vec![("app-id", APP_KEY), ("private-key", APP_ID)],
            &[],
        ),
        (
            "api-url with credentials",
            vec![(
                "api-url",
                "https://octo:hunter2secret@ghes.example.com/api/v3",
            )],
            &[],
        ),
        (
            "api-url plain http",
            vec![("api-url", "http://192.0.2.7/api/v3")],
            &[],
        ),
        ("since 300000y", vec![("since", "300000y")], &[]),
        ("max-age past the retention", vec![("max-age", "8d")], &[]),
        ("fail-on unknown state", vec![("fail-on", "given_up")], &[]),
        (
            "fail-on never with others",
            vec![("fail-on", "never, too-old")],
            &[],
        ),
        (
            "fail-on a list is accepted",
            vec![("fail-on", "given-up,\nreceiver-down refused, too-old")],
            &[],
        ),
    ];
    let mut shown = String::new();
    for (name, inputs, env) in &cases {
        let lines = verdict(&[], &runner_env(inputs, env));
        writeln!(shown, "## {name}").expect("writes");
        for line in &lines {
            writeln!(shown, "{line}").expect("writes");
            assert!(
                !line.contains("hunter2secret") && !line.contains(TOKEN),
                "{line}"
            );
            assert!(!line.contains("PRIVATE KEY"), "{line}");
        }
    }
    insta::assert_snapshot!("bad_inputs", shown);
}

#[test]
fn bad_flags_are_named_as_flags() {
    let cases: [(&str, &[&str]); 4] = [
        (
            "--app-id not a number",
            &["--app-id", "abc", "--private-key", "x", "--state", "none"],
        ),
        (
            "--state not a store",
            &["--app-id", "1", "--private-key", "x", "--state", "disk"],
        ),
        (
            "--variable-name without a repository",
            &[
                "--variable-name",
                "CHECKPOINT",
                "--token",
                "t0kenvalue",
                "--hooks",
                "org/acme/1",
            ],
        ),
        (
            "--since 401d",
            &[
                "--token",
                "t0kenvalue",
                "--hooks",
                "org/acme/1",
                "--state",
                "none",
                "--since",
                "401d",
            ],
        ),
    ];
    let mut shown = String::new();
    for (name, args) in cases {
        writeln!(shown, "## {name}").expect("writes");
        for line in verdict(args, &Environment::new()) {
            writeln!(shown, "{line}").expect("writes");
        }
    }
    insta::assert_snapshot!("bad_flags", shown);
}

/// The binary's side of the table above: exit code 2, one `::error::` line per problem,
/// exactly, and nothing sent or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_bad_inputs_exits_2_before_any_request() {
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
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.starts_with("::error::"))
        .collect();
    assert_eq!(
        errors,
        [
            "::error::input `app-id` must be the App's numeric ID, e.g. 123456 (got `x`)",
            "::error::input `retention-days` must be a whole number from 1 to 90 (got `0`)",
            "::error::input `max-wait` must be a duration such as `1s`, `500ms` or `5m` (got `forever`)",
        ],
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("panicked") && !run.stderr.contains("panicked"));
    assert!(
        run.raw_outputs.is_empty() && run.summary.is_empty(),
        "no partial writes"
    );
    assert!(fake.requests().is_empty(), "sent {:?}", fake.requests());
}

/// `--help`, whatever the terminal: the width is set (`COLUMNS`, read only when clap wraps
/// to the terminal) and the environment is empty, so no variable's value shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_every_flag() {
    let folder = tempfile::tempdir().expect("temp dir");
    let help = run_cli(folder.path(), &["--help"], &[("COLUMNS", "100")]).await;
    help.assert_code(0);
    insta::assert_snapshot!("help", help.stdout);
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
