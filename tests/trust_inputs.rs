//! Issue 16, "trust nothing it is told": inputs. No key or credential is ever echoed, plain http only
//! to this machine unless asked for, and no duration overflows a time.
//! Each test reproduces one finding of the issue.

use crate::util::*;

/// Lines of a key's base64 body: none may ever be printed.
fn key_lines() -> Vec<&'static str> {
    APP_KEY
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .collect()
}

#[track_caller]
fn assert_no_key_shown(text: &str) {
    for line in key_lines() {
        assert!(!text.contains(line), "a line of the key is shown:\n{text}");
    }
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

/// Finding 6: a PEM passed on the command line starts with `-`; clap took it for a flag,
/// refused it and printed it. It is accepted now, and a PEM given to another flag or
/// input is refused without being shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_on_the_command_line_is_accepted_and_never_echoed() {
    let fake = fake().await;
    let folder = tempfile::tempdir().expect("temp dir");
    let url = fake.url();
    let run = run_cli(
        folder.path(),
        &[
            "--api-url",
            &url,
            "--app-id",
            APP_ID,
            "--private-key",
            APP_KEY,
            "--state",
            "none",
        ],
        &[],
    )
    .await;
    assert_no_key_shown(&run.everything());
    run.assert_code(0);

    // The key given to a flag that does not take hyphen values: a usage error, key hidden.
    let run = run_cli(
        folder.path(),
        &["--api-url", &url, "--app-id", APP_KEY, "--state", "none"],
        &[],
    )
    .await;
    assert_no_key_shown(&run.everything());
    run.assert_code(2);
    assert!(run.stderr.contains("***"), "{}", run.stderr);

    // Swapped inputs: the key in `app-id`, a token in `client-id`.
    for inputs in [
        vec![("app-id", APP_KEY), ("private-key", APP_ID)],
        vec![("client-id", TOKEN)],
    ] {
        let run = run_action(&fake, &inputs).await;
        assert_no_key_shown(&run.everything());
        assert!(!run.everything().contains(TOKEN), "{}", run.stdout);
        run.assert_code(2);
        assert!(
            run.stdout
                .contains("(a value that looks like a key or token, not shown)"),
            "{}",
            run.stdout
        );
    }
}

/// Finding 8: credentials in `api-url` were echoed; plain http went to any host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_url_credentials_are_refused_unseen_and_http_is_for_loopback() {
    let fake = fake().await;
    let run = run_action(
        &fake,
        &[(
            "api-url",
            "https://octo:hunter2secret@ghes.example.com/api/v3",
        )],
    )
    .await;
    run.assert_code(2);
    assert!(
        !run.everything().contains("hunter2secret"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("::error::input `api-url` holds credentials"),
        "{}",
        run.stdout
    );

    let run = run_action(&fake, &[("api-url", "http://192.0.2.7/api/v3")]).await;
    run.assert_code(2);
    assert!(
        run.stdout
            .contains("::error::input `api-url` `http://192.0.2.7/api/v3` is plain http")
            && run.stdout.contains("`allow-insecure-http`"),
        "{}",
        run.stdout
    );
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());

    // Loopback needs no opt-in (the fake is on 127.0.0.1); `localhost` and `::1` neither.
    let run = run_action(&fake, &[]).await;
    run.assert_code(0);
    assert!(!run.stdout.contains("unencrypted"), "{}", run.stdout);
    for url in ["http://localhost:1/api/v3", "http://[::1]:1"] {
        let mut raw = raw_settings(&fake);
        raw.set("api-url", url);
        let settings = raw.try_settings().expect(url);
        assert!(settings.warnings().is_empty(), "{url}");
    }
    // Another host over http only with the opt-in, and then with a warning.
    let mut raw = raw_settings(&fake);
    raw.set("api-url", "http://ghes.internal/api/v3");
    raw.set("allow-insecure-http", "true");
    let settings = raw.try_settings().expect("opted in");
    assert_eq!(settings.warnings().len(), 1);
    assert!(
        settings.warnings()[0].contains("unencrypted"),
        "{:?}",
        settings.warnings()
    );
}

/// Finding 9: `since: 300000y` panicked (a time before chrono's range); `600000000y` went
/// silently to 24 h. Both are bad input now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_since_is_bad_input_not_a_panic_or_a_silent_default() {
    let fake = fake().await;
    let run = run_action(&fake, &[("since", "300000y")]).await;
    run.assert_code(2);
    assert!(
        run.stdout
            .contains("::error::input `since` must be at most 400 days (`400d`)"),
        "{}",
        run.stdout
    );
    let folder = tempfile::tempdir().expect("temp dir");
    let url = fake.url();
    let args = app_on_command_line(&url, folder.path()).with("state", "none");
    for since in ["600000000y", "401d"] {
        let run = run_cli(
            folder.path(),
            &args.clone().with("since", since).argv(),
            &[],
        )
        .await;
        run.assert_code(2);
        assert!(run.stderr.contains("`--since`"), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert!(fake.requests().is_empty());
}
