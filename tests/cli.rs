//! The same binary from cron, a container or a server: flags, environment, state file,
//! JSON report, exit codes, `--every` and signals.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::*;
use fake_github::{FakeGitHub, Hook, NewDelivery};

fn base_args<'a>(fake_url: &'a str, key: &'a str, state: &'a str) -> Vec<&'a str> {
    vec![
        "--api-url",
        fake_url,
        "--app-id",
        APP_ID,
        "--private-key-file",
        key,
        "--state",
        state,
        "--redelivery-interval",
        "0s",
    ]
}

struct Setup {
    folder: tempfile::TempDir,
    url: String,
    key: String,
    state_path: std::path::PathBuf,
    state: String,
}

fn setup(fake: &FakeGitHub) -> Setup {
    let folder = tempfile::tempdir().expect("temp dir");
    let key = key_file(folder.path()).display().to_string();
    let state_path = folder.path().join("state.json");
    let state = format!("file:{}", state_path.display());
    Setup {
        url: fake.url(),
        key,
        state_path,
        state,
        folder,
    }
}

fn read_state(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("state file")).expect("JSON state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_version() {
    let folder = tempfile::tempdir().expect("temp dir");
    let help = run_cli(folder.path(), &["--help"], &[]).await;
    help.assert_code(0);
    for flag in [
        "--app-id",
        "--private-key-file",
        "--token-file",
        "--state",
        "--json",
        "--every",
        "[env: REDELIVER_STATE=]",
    ] {
        assert!(
            help.stdout.contains(flag),
            "{flag} missing from\n{}",
            help.stdout
        );
    }
    let version = run_cli(folder.path(), &["--version"], &[]).await;
    version.assert_code(0);
    assert_eq!(
        version.stdout.trim(),
        format!("redeliver {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_with_a_state_file_and_a_json_report() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed("g2", minutes_ago(20)).event("issues", Some("opened")),
    );
    let s = setup(&fake);
    let mut args = base_args(&s.url, &s.key, &s.state);
    args.push("--json");
    // GITHUB_OUTPUT outside Actions is ignored: plain mode writes no file commands.
    let stray_output = s.folder.path().join("stray");
    let stray = stray_output.display().to_string();
    let first = run_cli(s.folder.path(), &args, &[("GITHUB_OUTPUT", &stray)]).await;
    first.assert_code(0);
    assert!(!stray_output.exists());
    assert!(
        !first.stdout.contains("::") && !first.stderr.contains("::"),
        "{}\n{}",
        first.stdout,
        first.stderr
    );
    let report: serde_json::Value =
        serde_json::from_str(first.stdout.trim()).expect("stdout is the JSON report");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["checkpoint_saved"], true);
    let hook = &report["hooks"][0];
    assert_eq!(hook["hook"], "app");
    assert_eq!(hook["scanned"], 2);
    assert_eq!(hook["failing"], 2);
    let guids: Vec<&str> = hook["redelivered"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["guid"].as_str().expect("guid"))
        .collect();
    assert_eq!(guids, ["g1", "g2"]);
    assert_eq!(hook["redelivered"][1]["action"], "opened");
    // One page, then a few looks at the newest page for the canary's result.
    assert!(
        report["requests"]["list"].as_u64().is_some_and(|n| n >= 2),
        "{report}"
    );
    assert_eq!(report["requests"]["redeliver"], 2);
    assert!(
        first.stderr.contains("Done: scanned 2 deliveries"),
        "{}",
        first.stderr
    );
    let state = read_state(&s.state_path);
    assert_eq!(state["version"], 1);
    assert!(state["hooks"]["app"]["checkpoint"].is_string());

    let second = run_cli(s.folder.path(), &args, &[]).await;
    second.assert_code(0);
    let report: serde_json::Value = serde_json::from_str(second.stdout.trim()).expect("JSON");
    assert_eq!(report["hooks"][0]["redelivered"], serde_json::json!([]));
    assert_eq!(fake.redeliveries().len(), 2);
    assert!(
        fake.requests()
            .iter()
            .all(|r| !r.path.contains("/actions/variables"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_exactly_one_proceeds() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
    fake.set_latency(Duration::from_millis(400));
    let s = setup(&fake);
    let args = base_args(&s.url, &s.key, &s.state);
    let (a, b) = tokio::join!(
        run_cli(s.folder.path(), &args, &[]),
        run_cli(s.folder.path(), &args, &[])
    );
    let mut codes = [a.code, b.code];
    codes.sort();
    assert_eq!(codes, [0, 3], "{}\n{}", a.stderr, b.stderr);
    let busy = if a.code == 3 { &a } else { &b };
    assert!(
        busy.stderr.contains("another run holds the lock"),
        "{}",
        busy.stderr
    );
    assert_eq!(fake.redeliveries().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_an_error_not_a_reset() {
    let fake = fake().await;
    let s = setup(&fake);
    std::fs::write(&s.state_path, "{\"version\":1,\"hooks\":").expect("write");
    let run = run_cli(s.folder.path(), &base_args(&s.url, &s.key, &s.state), &[]).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("error: failed to read the state file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fix or delete it"), "{}", run.stderr);
    assert!(fake.requests().is_empty());
    assert_eq!(
        std::fs::read_to_string(&s.state_path).expect("kept"),
        "{\"version\":1,\"hooks\":"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_scripts_environment_works() {
    let fake = fake().await;
    fake.set_variable(
        REPO,
        "LAST_REDELIVERY",
        &minutes_ago(60).timestamp_millis().to_string(),
    );
    fake.add_delivery(&Hook::App, NewDelivery::failed("g", minutes_ago(30)));
    let folder = tempfile::tempdir().expect("temp dir");
    let url = fake.url();
    let run = run_cli(
        folder.path(),
        &[] as &[&str],
        &[
            ("APP_ID", APP_ID),
            ("PRIVATE_KEY", APP_KEY),
            ("TOKEN", TOKEN),
            ("LAST_REDELIVERY_VARIABLE_NAME", "LAST_REDELIVERY"),
            ("WORKFLOW_REPO_OWNER", "octo"),
            ("WORKFLOW_REPO", "demo"),
            ("REDELIVER_API_URL", &url),
            ("REDELIVER_REDELIVERY_INTERVAL", "0"),
        ],
    )
    .await;
    run.assert_code(0);
    assert_eq!(fake.redeliveries().len(), 1);
    let stored = fake.variable(REPO, "LAST_REDELIVERY").expect("variable");
    assert!(stored.starts_with("{\"version\":1"), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_runs_look_back_a_fixed_time_and_tokens_come_from_files() {
    let fake = fake().await;
    fake.add_delivery(
        &Hook::repo(REPO, 9),
        NewDelivery::failed("recent", minutes_ago(60)),
    );
    fake.add_delivery(
        &Hook::repo(REPO, 9),
        NewDelivery::failed("older", minutes_ago(5 * 60)),
    );
    let folder = tempfile::tempdir().expect("temp dir");
    let token_file = folder.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write");
    let token_path = token_file.display().to_string();
    let url = fake.url();
    let args = [
        "--hooks",
        "repo/octo/demo/9",
        "--state",
        "none",
        "--since",
        "3h",
        "--token-file",
        &token_path,
        "--api-url",
        &url,
        "--redelivery-interval",
        "0s",
    ];
    let run = run_cli(folder.path(), &args, &[]).await;
    run.assert_code(0);
    let guids: Vec<String> = fake.redeliveries().into_iter().map(|r| r.guid).collect();
    assert_eq!(guids, ["recent"]);
    assert!(
        std::fs::read_dir(folder.path()).expect("ls").count() == 1,
        "no state written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_name_the_flag_and_exit_2() {
    let folder = tempfile::tempdir().expect("temp dir");
    let run = run_cli(
        folder.path(),
        &["--app-id", "abc", "--private-key", "x", "--state", "disk"],
        &[],
    )
    .await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("error: `--app-id` must be the App's numeric ID"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: `--state` `disk` is not a store"),
        "{}",
        run.stderr
    );
    let missing = folder.path().join("nope").join("state.json");
    let state = format!("file:{}", missing.display());
    let run = run_cli(
        folder.path(),
        &[
            "--hooks",
            "org/acme/1",
            "--token",
            "t0kenvalue",
            "--state",
            &state,
        ],
        &[],
    )
    .await;
    run.assert_code(2);
    assert!(
        run.stderr.contains("a folder that does not exist"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runs_until_sigterm_and_leaves_consistent_state() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
    let s = setup(&fake);
    let mut args = base_args(&s.url, &s.key, &s.state);
    args.extend(["--every", "1s"]);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_redeliver"))
        .env_clear()
        .current_dir(s.folder.path())
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");

    // Wait (bounded) for two runs: the second lists again after the first saved its state.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake
        .requests()
        .iter()
        .filter(|r| r.path == "/app/hook/deliveries")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "no second run within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fake.add_delivery(&Hook::App, NewDelivery::failed("g2", minutes_ago(1)));
    while fake.redeliveries().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "g2 was not redelivered within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send_sigterm(&child);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits within 30 s of SIGTERM")
        .expect("waits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    let state = read_state(&s.state_path);
    assert!(state["hooks"]["app"]["checkpoint"].is_string(), "{state}");
    let guids: Vec<String> = fake.redeliveries().into_iter().map(|r| r.guid).collect();
    assert_eq!(guids, ["g1", "g2"]);
}

/// `redeliver --json | head -c1`: the reader goes away before the report is written. The
/// run still saves and exits 0, instead of aborting on a broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_not_a_crash() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
    let s = setup(&fake);
    let mut args = base_args(&s.url, &s.key, &s.state);
    args.push("--json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_redeliver"))
        .env_clear()
        .current_dir(s.folder.path())
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Close the reading end at once: the report comes only after the run.
    drop(child.stdout.take());
    let output = child.wait_with_output().await.expect("the binary ends");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(read_state(&s.state_path)["hooks"]["app"]["checkpoint"].is_string());
}
