//! Operating the long-running mode: `--listen`'s `/metrics` and `/healthz` scraped from
//! the built binary with a plain HTTP/1.1 request, `--log-format json`, and their bad input.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::*;
use fake_github::{Hook, NewDelivery};

/// `GET path` over a fresh connection, the way a scraper or a kubelet asks: status and body.
async fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects to --listen");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answered within 10 s")
        .expect("answer read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// The value of the sample `name{labels}` (exactly as encoded) in a metrics page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// The metric names the example PrometheusRule's expressions use.
fn alert_metric_names() -> std::collections::BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/kubernetes/monitoring/prometheusrule.yaml"
    );
    let text = std::fs::read_to_string(path).expect("the rule file is readable");
    let rule: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    let mut names = std::collections::BTreeSet::new();
    for group in rule["spec"]["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let expr = rule["expr"].as_str().expect("an expression");
            let words = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            names.extend(
                words
                    .filter(|word| word.starts_with("redeliver_"))
                    .map(str::to_owned),
            );
        }
    }
    assert!(names.len() >= 5, "{names:?}");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_with_listen_serves_metrics_and_health_until_sigterm() {
    let fake = fake().await;
    fake.add_delivery(&Hook::App, NewDelivery::failed("g1", minutes_ago(30)));
    let folder = tempfile::tempdir().expect("temp dir");
    let state = format!("file:{}", folder.path().join("state.json").display());
    let args = app_on_command_line(&fake.url(), folder.path())
        .with("state", state)
        .with("redelivery-interval", "0s")
        .with("every", "1s")
        // Port 0: the system picks a free port, and the log says which.
        .with("listen", "127.0.0.1:0");
    let child = Spawned::start(folder.path(), &args.argv());
    let log = || child.stderr();

    // Bounded waits: for the address, then for a run whose redelivery the metrics count.
    let deadline = Instant::now() + Duration::from_secs(30);
    let address: SocketAddr = loop {
        let text = log();
        if let Some(address) = text
            .lines()
            .find_map(|line| line.strip_prefix("Serving http://"))
            .and_then(|rest| rest.split('/').next())
        {
            break address.parse().expect("an address");
        }
        assert!(Instant::now() < deadline, "no `Serving` line:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let page = loop {
        let (status, page) = get(address, "/metrics").await;
        assert_eq!(status, 200, "{page}");
        if sample(&page, "redeliver_redelivered_events_total{hook=\"app\"}") == Some(1.0) {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "no redelivery counted within 30 s:\n{page}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(fake.redeliveries().len(), 1);
    for (series, at_least) in [
        ("redeliver_runs_total{result=\"success\"}", 1.0),
        ("redeliver_deliveries_scanned_total{hook=\"app\"}", 1.0),
        ("redeliver_failing_events_seen_total{hook=\"app\"}", 1.0),
        (
            "redeliver_github_requests_total{kind=\"redeliver\",class=\"2xx\"}",
            1.0,
        ),
        (
            "redeliver_github_requests_total{kind=\"list\",class=\"2xx\"}",
            1.0,
        ),
        ("redeliver_run_duration_seconds_count", 1.0),
        (
            "redeliver_last_success_timestamp_seconds{hook=\"app\",receiver=\"the receiver of `app`\"}",
            1.0,
        ),
    ] {
        let value = sample(&page, series).unwrap_or_else(|| panic!("no {series} in\n{page}"));
        assert!(value >= at_least, "{series} is {value}");
    }
    assert_eq!(
        sample(
            &page,
            "redeliver_receiver_down{hook=\"app\",receiver=\"the receiver of `app`\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&page, "redeliver_given_up_events_total{hook=\"app\"}"),
        Some(0.0)
    );
    // The health gauges of the last scan: one failed delivery, open for about 30 minutes.
    for (series, low, high) in [
        (
            "redeliver_delivery_failure_ratio{hook=\"app\",receiver=\"the receiver of `app`\"}",
            1.0,
            1.0,
        ),
        (
            "redeliver_last_scan_deliveries{hook=\"app\",receiver=\"the receiver of `app`\"}",
            1.0,
            1.0,
        ),
        (
            "redeliver_oldest_open_event_age_seconds{hook=\"app\",receiver=\"the receiver of `app`\"}",
            29.0 * 60.0,
            32.0 * 60.0,
        ),
        // The run's redelivery, until GitHub lists its result.
        (
            "redeliver_last_run_events{hook=\"app\",receiver=\"the receiver of `app`\",state=\"pending\"}",
            0.0,
            1.0,
        ),
        (
            "redeliver_last_run_events{hook=\"app\",receiver=\"the receiver of `app`\",state=\"held_back\"}",
            0.0,
            0.0,
        ),
        (
            "redeliver_last_run_events{hook=\"app\",receiver=\"the receiver of `app`\",state=\"given_up\"}",
            0.0,
            0.0,
        ),
        (
            "redeliver_last_scan_timestamp_seconds{hook=\"app\",receiver=\"the receiver of `app`\"}",
            (chrono::Utc::now().timestamp() - 60) as f64,
            (chrono::Utc::now().timestamp() + 60) as f64,
        ),
    ] {
        let value = sample(&page, series).unwrap_or_else(|| panic!("no {series} in\n{page}"));
        assert!((low..=high).contains(&value), "{series} is {value}");
    }
    // The example alerts only use what a scrape returns.
    for name in alert_metric_names() {
        assert!(
            page.lines().any(|line| line
                .strip_prefix(name.as_str())
                .is_some_and(|rest| rest.starts_with(['{', ' ']))),
            "deploy/kubernetes/monitoring/prometheusrule.yaml uses `{name}`, which /metrics does not serve:\n{page}"
        );
    }
    assert!(page.contains("# TYPE redeliver_rate_limit_waits counter"));
    assert!(!page.contains("g1"), "no GUID in a label:\n{page}");

    let (status, health) = get(address, "/healthz").await;
    assert_eq!(status, 200, "{health}");
    assert!(health.starts_with("ok: "), "{health}");
    assert_eq!(health.lines().count(), 1, "{health}");
    let (status, _) = get(address, "/").await;
    assert_eq!(status, 404);

    // A later run only adds: counters never go down.
    let before = sample(&page, "redeliver_deliveries_scanned_total{hook=\"app\"}");
    let runs = sample(&page, "redeliver_runs_total{result=\"success\"}").unwrap_or(0.0);
    loop {
        let (_, later) = get(address, "/metrics").await;
        if sample(&later, "redeliver_runs_total{result=\"success\"}").unwrap_or(0.0) > runs {
            assert!(sample(&later, "redeliver_deliveries_scanned_total{hook=\"app\"}") >= before);
            assert_eq!(
                sample(&later, "redeliver_redelivered_events_total{hook=\"app\"}"),
                Some(1.0)
            );
            break;
        }
        assert!(Instant::now() < deadline, "no second run within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (code, text) = child.terminate().await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("SIGTERM received"), "{text}");
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_fields_and_no_secret() {
    let fake = fake().await;
    // An event name that is the token itself: the redactor must catch it in the message and
    // in the `event` field alike.
    fake.add_delivery(
        &Hook::repo(REPO, 9),
        NewDelivery::failed("g1", minutes_ago(30)).event(TOKEN, None),
    );
    let folder = tempfile::tempdir().expect("temp dir");
    let args = token_on_command_line(&fake.url()).with("redelivery-interval", "0s");
    let run = run_cli(
        folder.path(),
        &args.argv(),
        &[("REDELIVER_LOG_FORMAT", "json")],
    )
    .await;
    run.assert_code(0);
    assert_eq!(fake.redeliveries().len(), 1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(!run.stderr.contains(TOKEN), "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for line in &lines {
        assert!(
            line["time"].is_string() && line["level"].is_string(),
            "{line}"
        );
        assert!(line["message"].is_string(), "{line}");
    }
    let find = |start: &str| {
        lines
            .iter()
            .find(|line| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(start))
            })
            .unwrap_or_else(|| panic!("no `{start}` line in\n{}", run.stderr))
    };
    let redelivered = find("Redelivered");
    assert_eq!(redelivered["level"], "info");
    assert_eq!(redelivered["hook"], "repo/octo/demo/9");
    assert_eq!(redelivered["guid"], "g1");
    assert_eq!(redelivered["event"], "***");
    assert!(redelivered["delivery_id"].is_u64(), "{redelivered}");
    assert_eq!(redelivered["attempt"], 1);
    let plan = find("1 event(s) failing");
    assert_eq!(plan["failing"], 1);
    assert_eq!(plan["to_redeliver"], 1);
    let done = find("Done:");
    assert_eq!(done["redelivered"], 1);
    assert_eq!(done["scanned"], 1);
    assert!(
        done.get("hook").is_none(),
        "the hook's group is over: {done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_without_every_and_bad_operation_flags_are_bad_input() {
    let fake = fake().await;
    let folder = tempfile::tempdir().expect("temp dir");
    let base = token_on_command_line(&fake.url());
    // The operation flags stay as the user types them, after the settings.
    let with = |extra: &[&str]| {
        let mut args = base.argv();
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        args
    };
    let run = run_cli(folder.path(), &with(&["--listen", "127.0.0.1:0"]), &[]).await;
    run.assert_code(2);
    assert_eq!(
        run.stderr.trim(),
        "error: `--listen` needs `--every`: `/metrics` and `/healthz` describe the long-running loop; add e.g. `--every 5m`, or drop `--listen` for a single run"
    );
    let run = run_cli(
        folder.path(),
        &with(&["--every", "1m"]),
        &[
            ("REDELIVER_LISTEN", "localhost:http"),
            ("REDELIVER_LOG_FORMAT", "yaml"),
        ],
    )
    .await;
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("error: `--listen` must be an IP address and port such as `0.0.0.0:9090`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: `--log-format` must be `text` or `json` (got `yaml`)"),
        "{}",
        run.stderr
    );
    // In the format asked for, when that much was understood.
    let run = run_cli(
        folder.path(),
        &with(&["--listen", ":9090", "--log-format", "json"]),
        &[],
    )
    .await;
    run.assert_code(2);
    let line: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one JSON line");
    assert_eq!(line["level"], "error");
    assert!(
        line["message"]
            .as_str()
            .is_some_and(|m| m.contains("needs `--every`"))
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_use_fails_before_any_request() {
    let fake = fake().await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = taken.local_addr().expect("address").to_string();
    let folder = tempfile::tempdir().expect("temp dir");
    let args = token_on_command_line(&fake.url())
        .with("every", "1m")
        .with("listen", &address);
    let run = run_cli(folder.path(), &args.argv(), &[]).await;
    run.assert_code(1);
    assert!(
        run.stderr.starts_with(&format!(
            "error: failed to listen on `{address}` (`--listen`): "
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(fake.requests().is_empty(), "nothing was sent");
}
