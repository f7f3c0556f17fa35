//! Fleets: one hook on every repository of an organization or a user
//! (`repo/<owner>/*/<hook>`), and `app/*` (the App's hook and every hook its installations
//! may read), resolved once before any redelivery, each hook keyed by its id.

use std::collections::BTreeSet;

use fake_github::{AuthSeen, FakeGitHub, FakeToken, Hook, NewDelivery};
use redeliver_action::domain::delivery::DeliveryId;
use redeliver_action::domain::receiver::Receiver;
use serde_json::json;

use crate::util::*;

const CI_URL: &str = "https://ci.example.com/hook";
const OTHER_URL: &str = "https://chat.example.com/hook";

/// The redelivered events, by (path of the hook, GUID).
fn redelivered(fake: &FakeGitHub) -> BTreeSet<String> {
    fake.redeliveries()
        .into_iter()
        .map(|redelivery| redelivery.guid)
        .collect()
}

fn set(guids: &[&str]) -> BTreeSet<String> {
    guids.iter().map(|guid| (*guid).to_owned()).collect()
}

/// The organization `acme` with `count` repositories `acme/r<i>`, each with the CI hook
/// (id 1000 + i) whose event `ci-<i>` failed when `i` is a multiple of 3, delivered
/// otherwise; the others are noise that must not be touched.
fn seed_acme(fake: &FakeGitHub, count: u64) {
    for i in 1..=count {
        let repo = format!("acme/r{i}");
        let ci = Hook::repo(&repo, 1000 + i);
        fake.add_hook_with_url(&ci, CI_URL);
        let delivery = if i % 3 == 0 {
            NewDelivery::failed(format!("ci-{i}"), minutes_ago(30))
        } else {
            NewDelivery::ok(format!("ci-{i}"), minutes_ago(30))
        };
        fake.add_delivery(&ci, delivery);
    }
    // Another hook on a repository of the fleet, failing too: another receiver.
    let chat = Hook::repo("acme/r3", 2003);
    fake.add_hook_with_url(&chat, OTHER_URL);
    fake.add_delivery(&chat, NewDelivery::failed("chat-3", minutes_ago(20)));
    // An archived repository whose CI hook has a failed delivery: skipped.
    let archived = Hook::repo("acme/old", 3000);
    fake.add_hook_with_url(&archived, CI_URL);
    fake.add_delivery(&archived, NewDelivery::failed("ci-old", minutes_ago(20)));
    fake.set_repository_archived("acme/old", true);
    // A repository without hooks, the organization's own hook with the same URL, and the
    // same URL on a repository of another owner.
    fake.add_repository("acme/empty");
    let org = Hook::org("acme", 4000);
    fake.add_hook_with_url(&org, CI_URL);
    fake.add_delivery(&org, NewDelivery::failed("org-ci", minutes_ago(20)));
    let elsewhere = Hook::repo(REPO, 5000);
    fake.add_hook_with_url(&elsewhere, CI_URL);
    fake.add_delivery(&elsewhere, NewDelivery::failed("octo-ci", minutes_ago(20)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_by_url_redelivers_exactly_the_hooks_with_that_url_across_the_organization() {
    let fake = fake().await;
    // 130 repositories: two pages of the organization's repository list.
    seed_acme(&fake, 130);
    let line = format!("repo/acme/*/{CI_URL}");
    let run = run_action(&fake, &[("hooks", &line)]).await;
    run.assert_code(0);
    let expected: Vec<String> = (1..=130)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("ci-{i}"))
        .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(redelivered(&fake), set(&expected));
    assert_eq!(fake.redeliveries().len(), expected.len(), "each once");
    // Every redelivery went to a CI hook of a repository of acme.
    for redelivery in fake.redeliveries() {
        let Hook::Repo { owner, hook_id, .. } = &redelivery.hook else {
            panic!("{redelivery:?}");
        };
        assert!(
            owner == "acme" && (1001..=1130).contains(hook_id),
            "{redelivery:?}"
        );
    }
    // No other hook was even listed: not the chat hook, the archived repository's, the
    // organization's or another owner's.
    for path in [
        "/hooks/2003/",
        "/hooks/3000/",
        "/orgs/acme/hooks/4000/",
        "/hooks/5000/",
    ] {
        assert_eq!(count_requests(&fake, "GET", path), 0, "{path}");
        assert_eq!(count_requests(&fake, "POST", path), 0, "{path}");
    }
    assert_eq!(count_requests(&fake, "GET", "/repos/acme/old/hooks"), 0);
    // The repositories in two full pages, once.
    let pages: Vec<Option<String>> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/orgs/acme/repos")
        .map(|r| r.query)
        .collect();
    assert_eq!(
        pages,
        [
            Some("per_page=100".to_owned()),
            Some("per_page=100&page=2".to_owned())
        ]
    );
    assert_eq!(run.count("redelivered-count"), expected.len());
    // Each hook keyed by its id.
    let document = stored_document(&fake);
    assert!(
        document["hooks"].get("repo/acme/r3/1003").is_some() || document["shared"].is_object(),
        "{document}"
    );
    assert!(
        run.summary
            .contains("132 repositories, 1 archived (skipped), 130 hooks"),
        "{}",
        run.summary
    );
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_by_id_or_star_and_one_that_matches_nothing() {
    let fake = fake().await;
    seed_acme(&fake, 4);
    let run = run_action(&fake, &[("hooks", "repo/acme/*/2003")]).await;
    run.assert_code(0);
    assert_eq!(redelivered(&fake), set(&["chat-3"]));

    let run = run_action(&fake, &[("hooks", "repo/acme/*/*"), ("dry-run", "true")]).await;
    run.assert_code(0);
    let report = run.json_output("report");
    let hooks: BTreeSet<&str> = report["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .map(|hook| hook["hook"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        hooks,
        [
            "repo/acme/r1/1001",
            "repo/acme/r2/1002",
            "repo/acme/r3/1003",
            "repo/acme/r3/2003",
            "repo/acme/r4/1004"
        ]
        .into_iter()
        .collect()
    );

    fake.clear_requests();
    let run = run_action(
        &fake,
        &[("hooks", "app\nrepo/acme/*/https://ci.example.com/nope")],
    )
    .await;
    run.assert_code(1);
    assert!(
        run.stdout.contains(&format!(
            "::error::input `hooks` has `repo/acme/*/https://ci.example.com/nope`, but no webhook of the 5 repositories of acme (archived ones aside) has the URL `https://ci.example.com/nope` (compared exactly); URLs there include `{}`",
            Receiver::from_url(CI_URL)
        )),
        "{}",
        run.stdout
    );
    assert_eq!(count_requests(&fake, "GET", "/deliveries"), 0);
    assert_eq!(count_requests(&fake, "POST", "/attempts"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_a_fleet_uses_the_installations_own_repository_list() {
    let fake = fake().await;
    seed_acme(&fake, 5);
    fake.set_installation(REPO, 777);
    fake.set_account_installation("acme", 900);
    fake.set_installation_permissions(
        900,
        json!({"metadata": "read", "repository_hooks": "write", "organization_hooks": "write"}),
    );
    let line = format!("repo/acme/*/{CI_URL}");
    let run = run_action(&fake, &[("hooks", &line), ("token", "")]).await;
    run.assert_code(0);
    assert_eq!(redelivered(&fake), set(&["ci-3"]));
    let minted = fake.minted_tokens();
    let fleet_token = minted
        .iter()
        .find(|token| token.installation_id == 900)
        .expect("a token for acme");
    // Every repository of the installation, and only the permission the fleet needs.
    assert_eq!(
        fleet_token.body,
        json!({"permissions": {"repository_hooks": "write"}})
    );
    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/installation/repositories")
        .collect();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].auth, AuthSeen::Token(fleet_token.token.clone()));
    assert_eq!(count_requests(&fake, "GET", "/orgs/acme/repos"), 0);
    assert_eq!(count_requests(&fake, "GET", "/app/installations"), 1);
    assert_no_unexpected(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_star_is_the_app_hook_and_every_hook_its_installations_may_redeliver() {
    let fake = fake().await;
    seed_acme(&fake, 3);
    fake.add_delivery(&Hook::App, NewDelivery::failed("app-1", minutes_ago(10)));
    fake.set_installation(REPO, 777);
    fake.set_account_installation("acme", 900);
    fake.set_installation_permissions(
        900,
        json!({"metadata": "read", "repository_hooks": "write", "organization_hooks": "write"}),
    );
    // A user whose installation may only read its hooks: left out, with a warning.
    fake.set_user_account("bob");
    let bob = Hook::repo("bob/site", 6000);
    fake.add_hook_with_url(&bob, CI_URL);
    fake.add_delivery(&bob, NewDelivery::failed("bob-1", minutes_ago(10)));
    fake.set_account_installation("bob", 901);
    fake.set_installation_permissions(901, json!({"metadata": "read", "repository_hooks": "read"}));
    let run = run_action(&fake, &[("hooks", "app/*"), ("token", "")]).await;
    run.assert_code(0);
    assert_eq!(
        redelivered(&fake),
        set(&["app-1", "ci-3", "chat-3", "org-ci"])
    );
    assert!(
        run.stdout
            .contains("::warning::the App's installation on bob may only read"),
        "{}",
        run.stdout
    );
    assert_eq!(count_requests(&fake, "GET", "/repos/bob/"), 0);
    assert_no_unexpected(&fake);

    // With a token, `app/*` is the App's own hook.
    fake.clear_requests();
    fake.add_delivery(&Hook::App, NewDelivery::failed("app-2", minutes_ago(5)));
    let run = run_action(&fake, &[("hooks", "app/*")]).await;
    run.assert_code(0);
    assert_eq!(run.json_output("redelivered-guids"), json!(["app-2"]));
    assert_eq!(count_requests(&fake, "GET", "/app/installations"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_fleet_is_its_public_repositories() {
    let fake = fake().await;
    const ALICE: &str = "ghp_alicetoken0123456789abcdefghijk";
    fake.add_token(
        FakeToken::new(ALICE)
            .admin_repo("alice/blog")
            .admin_repo("alice/notes")
            .variables_write(true),
    );
    fake.set_user_account("alice");
    for (repo, id) in [("alice/blog", 71), ("alice/notes", 72)] {
        let hook = Hook::repo(repo, id);
        fake.add_hook_with_url(&hook, CI_URL);
        fake.add_delivery(
            &hook,
            NewDelivery::failed(format!("g-{id}"), minutes_ago(10)),
        );
    }
    fake.set_repository_private("alice/notes", true);
    let line = format!("repo/alice/*/{CI_URL}");
    let run = run_action(&fake, &[("hooks", &line), ("token", ALICE)]).await;
    run.assert_code(0);
    assert_eq!(redelivered(&fake), set(&["g-71"]));
    assert_eq!(count_requests(&fake, "GET", "/orgs/alice/repos"), 1);
    assert_eq!(count_requests(&fake, "GET", "/users/alice/repos"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_leaves_the_fleet_leaves_the_document_and_a_new_one_looks_back() {
    let fake = fake().await;
    for i in 1..=2 {
        fake.add_hook_with_url(&Hook::repo(&format!("acme/r{i}"), 1000 + i), CI_URL);
    }
    let line = format!("repo/acme/*/{CI_URL}");
    let run = run_action(&fake, &[("hooks", &line)]).await;
    run.assert_code(0);
    let keys = |fake: &FakeGitHub| -> Vec<String> {
        stored_document(fake)["hooks"]
            .as_object()
            .expect("hooks")
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(&fake), ["repo/acme/r1/1001", "repo/acme/r2/1002"]);

    fake.remove_hook(&Hook::repo("acme/r2", 1002));
    let new = Hook::repo("acme/r3", 1003);
    fake.add_hook_with_url(&new, CI_URL);
    // Failed 20 hours ago: before the last run, inside the first-run look-back.
    fake.add_delivery(&new, NewDelivery::failed("late", minutes_ago(20 * 60)));
    let run = run_action(&fake, &[("hooks", &line)]).await;
    run.assert_code(0);
    assert_eq!(run.json_output("redelivered-guids"), json!(["late"]));
    assert_eq!(keys(&fake), ["repo/acme/r1/1001", "repo/acme/r3/1003"]);
    assert!(
        run.stdout
            .contains("Hook `repo/acme/r2/1002` no longer exists"),
        "{}",
        run.stdout
    );
}

/// A fleet of 10,000 hooks, 100 of them with a redelivery and 9,900 quiet: the summary has
/// a row for each of the 100 and one for the quiet ones, and every output stays under
/// GitHub's 1 MB (the `report` output under its 512 KiB share).
#[test]
fn the_report_of_a_fleet_stays_under_githubs_limits() {
    use redeliver_action::domain::plan::EventSummary;
    use redeliver_action::report::{FleetReport, HookReport, RedeliveredEvent, RunReport};
    let at: chrono::DateTime<chrono::Utc> = "2026-11-28T10:00:00Z".parse().expect("a time");
    let hooks: Vec<HookReport> = (0..10_000)
        .map(|i| {
            let mut hook = HookReport {
                checkpoint_advanced: true,
                scan_complete: true,
                ..HookReport::new(
                    format!("repo/acme/service-{i:05}/{}", 400_000_000 + i),
                    at,
                    Some(at),
                )
            };
            hook.found.scanned = 50;
            if i % 100 == 0 {
                hook.found.failing = 1;
                hook.redelivered.push(RedeliveredEvent {
                    delivery_id: DeliveryId(3_804_004_623_172_239_366 + i),
                    attempt: 1,
                    event: EventSummary {
                        guid: format!("{i:08}-0000-4000-8000-000000000000"),
                        event: "push".to_owned(),
                        action: None,
                        first_failure_status: "Invalid HTTP Response: 503".to_owned(),
                        first_failure_cause: "HTTP 503".to_owned(),
                        first_failed_at: at,
                        previous_attempts: 0,
                    },
                });
            }
            hook
        })
        .collect();
    let report = RunReport {
        fleets: vec![FleetReport {
            selector: format!("repo/acme/*/{CI_URL}"),
            repositories: 10_050,
            archived: 50,
            hooks: 10_000,
        }],
        dry_run: false,
        max_attempts: 3,
        hooks,
        receivers: Vec::new(),
        requests: Default::default(),
        checkpoint_saved: true,
        errors: Vec::new(),
        replay: None,
    };
    let summary = report.summary_markdown();
    assert!(summary.len() < 200_000, "{} bytes", summary.len());
    assert_eq!(summary.matches("| `repo/acme/service-").count(), 100 + 100);
    assert!(
        summary.contains("| 9900 quiet hooks: nothing to redeliver |  | 495000 |"),
        "{summary}"
    );
    // Folded: a screen's worth outside `<details>`.
    let visible = crate::summary_pages::visible_lines(&summary);
    assert!(visible.len() <= 40, "{}", visible.join("\n"));
    assert!(
        summary
            .contains("<details><summary>All 10000 hooks: 9900 quiet, 100 redelivered</summary>"),
        "{summary}"
    );
    assert!(summary.contains("10050 repositories, 50 archived (skipped), 10000 hooks"));
    for (name, value) in report.outputs().expect("outputs") {
        assert!(value.len() < 1_000_000, "{name}: {} bytes", value.len());
    }
    let json: serde_json::Value =
        serde_json::from_str(&report.report_output().expect("report")).expect("JSON");
    assert_eq!(json["quiet_hooks_count"], 9900);
    assert_eq!(json["hooks_count"], 10_000);
    assert_eq!(json["hooks"].as_array().expect("hooks").len(), 100);
    assert_eq!(json["truncated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_are_scanned_several_at_once_then_drained_one_after_the_other() {
    let fake = fake().await;
    seed_acme(&fake, 20);
    fake.set_latency(std::time::Duration::from_millis(40));
    let run = run_action(
        &fake,
        &[("hooks", "repo/acme/*/*"), ("scan-concurrency", "4")],
    )
    .await;
    run.assert_code(0);
    let in_flight = fake.max_in_flight();
    assert!((2..=4).contains(&in_flight), "{in_flight} at once");
    let expected: Vec<String> = [3, 6, 9, 12, 15, 18]
        .iter()
        .map(|i| format!("ci-{i}"))
        .chain(["chat-3".to_owned()])
        .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(redelivered(&fake), set(&expected));
    // Every hook was listed before the first redelivery.
    let requests = fake.requests();
    let first_post = requests
        .iter()
        .position(|r| r.method == "POST")
        .expect("a redelivery");
    let listed: BTreeSet<&str> = requests[..first_post]
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/deliveries"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(listed.len(), 21, "{listed:?}");
    // Each hook's lines stay together in its group, whatever order the scans ended in.
    let groups: Vec<&str> = run.stdout.split("::group::Hook ").skip(1).collect();
    assert_eq!(groups.len(), 21);
    for group in groups {
        let group = group.split("::endgroup::").next().expect("a group");
        assert_eq!(group.matches("Scanned ").count(), 1, "{group}");
        assert_eq!(
            group.matches("Scanning deliveries since").count(),
            1,
            "{group}"
        );
    }

    // One at a time when asked.
    fake.clear_requests();
    fake.record_queued_results();
    let run = run_action(
        &fake,
        &[
            ("hooks", "repo/acme/*/*"),
            ("scan-concurrency", "1"),
            ("dry-run", "true"),
        ],
    )
    .await;
    run.assert_code(0);
    assert_eq!(fake.max_in_flight(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_concurrency_is_checked() {
    let fake = fake().await;
    for bad in ["0", "33", "eight"] {
        let run = run_action(&fake, &[("scan-concurrency", bad)]).await;
        run.assert_code(2);
        assert!(
            run.stdout.contains(&format!(
                "input `scan-concurrency` must be a whole number from 1 to 32 (got `{bad}`)"
            )),
            "{}",
            run.stdout
        );
    }
    assert!(fake.requests().is_empty());
}

/// A hook's drain of one redelivery does not look for its result; once every hook is
/// drained, one look settles those GitHub has listed since, so the checkpoint does not carry
/// a pending event for every hook of the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleets_redeliveries_listed_by_the_end_of_the_drain_are_not_kept_pending() {
    let fake = fake().await;
    for i in 1..=3 {
        let hook = Hook::repo(&format!("acme/r{i}"), 1000 + i);
        fake.add_hook_with_url(&hook, CI_URL);
        fake.add_delivery(
            &hook,
            NewDelivery::failed(format!("ci-{i}"), minutes_ago(30)),
        );
    }
    fake.set_redelivery_result_delay(std::time::Duration::from_millis(50));
    fake.set_latency(std::time::Duration::from_millis(150));
    let run = run_action(&fake, &[("hooks", "repo/acme/*/*")]).await;
    run.assert_code(0);
    assert_eq!(redelivered(&fake), set(&["ci-1", "ci-2", "ci-3"]));
    let document = stored_document(&fake);
    for key in ["repo/acme/r1/1001", "repo/acme/r2/1002"] {
        assert!(
            document["hooks"][key]["events"].is_null(),
            "{key}: {document}"
        );
    }
}
