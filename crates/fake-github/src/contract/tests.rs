//! The contract's own checks: both descriptions load, their examples, requests and answers.

use super::*;

fn headers() -> Vec<(String, String)> {
    vec![
        ("user-agent".into(), "redeliver-action/1.0.0".into()),
        ("accept".into(), "application/vnd.github+json".into()),
        ("x-github-api-version".into(), "2022-11-28".into()),
    ]
}

#[test]
fn both_descriptions_load() {
    for contract in [&*GITHUB_COM, &*GHES] {
        assert!(contract.operation("GET", "/app/hook/deliveries").is_some());
        assert!(
            contract
                .operation("POST", "/repos/o/r/hooks/1/deliveries/2/attempts")
                .is_some()
        );
    }
}

/// The description's own examples are what the fake builds its answers from. Some are
/// known not to fit (see `openapi/README.md`): the 202 of a redelivery and the 201 of a
/// new variable show `null` for a body whose schema is an (empty) object; the fake
/// answers `{}`.
#[test]
fn documented_examples_fit_their_schemas() {
    let mut misfits = Vec::new();
    for contract in [&*GITHUB_COM, &*GHES] {
        for op in &contract.operations {
            for (status, example) in &op.examples {
                if let Some(Some(validator)) = op.responses.get(status)
                    && !validator.is_valid(example)
                {
                    misfits.push(format!("{} {status}", op.id));
                }
            }
        }
    }
    misfits.sort();
    misfits.dedup();
    assert_eq!(
        misfits,
        [
            "actions/create-repo-variable 201",
            "apps/redeliver-webhook-delivery 202",
            "orgs/redeliver-webhook-delivery 202",
            "repos/redeliver-webhook-delivery 202"
        ]
    );
}

/// A hook's receiver is `config.url`: a URI in a repository hook and in the App's hook
/// configuration, any string in an organization hook (see `openapi/README.md`).
#[test]
fn a_hook_s_receiver_is_checked() {
    for contract in [&*GITHUB_COM, &*GHES] {
        for path in ["/app/hook/config", "/orgs/o/hooks/1", "/repos/o/r/hooks/1"] {
            assert!(contract.operation("GET", path).is_some(), "{path}");
        }
    }
    let config = |url: &str| {
        json!({ "content_type": "json", "insecure_ssl": "0", "secret": "********", "url": url })
            .to_string()
    };
    let app =
        |url: &str| GITHUB_COM.check_response("GET", "/app/hook/config", 200, Some(&config(url)));
    assert_eq!(
        app("https://receiver.example.test/app"),
        Vec::<String>::new()
    );
    assert!(!app("receiver").is_empty());
    for (operation, path, checked) in [
        ("repos/get-webhook", "/repos/o/r/hooks/1", true),
        ("orgs/get-webhook", "/orgs/o/hooks/1", false),
    ] {
        let mut hook = GITHUB_COM.example(operation, 200).expect("an example");
        let answer =
            |hook: &Value| GITHUB_COM.check_response("GET", path, 200, Some(&hook.to_string()));
        assert_eq!(answer(&hook), Vec::<String>::new(), "{operation}");
        hook["config"]["url"] = json!("receiver");
        assert_eq!(!answer(&hook).is_empty(), checked, "{operation}");
    }
}

#[test]
fn a_good_request_passes() {
    let problems = GITHUB_COM.check_request(
        "GET",
        "/app/hook/deliveries",
        Some("per_page=100&cursor=abc"),
        &headers(),
        None,
    );
    assert_eq!(problems, Vec::<String>::new());
}

#[test]
fn repeated_headers_and_unsupported_versions_fail() {
    let mut twice = headers();
    twice.push(("x-github-api-version".into(), "2022-11-28".into()));
    let problems = GITHUB_COM.check_request("GET", "/app/hook/deliveries", None, &twice, None);
    assert!(
        problems.iter().any(|p| p.contains("sent 2 times")),
        "{problems:?}"
    );

    let mut old = headers();
    old[2].1 = "2021-01-01".into();
    let problems = GITHUB_COM.check_request("GET", "/app/hook/deliveries", None, &old, None);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unsupported API version")),
        "{problems:?}"
    );
}

#[test]
fn undocumented_and_out_of_range_parameters_fail() {
    let problems = GITHUB_COM.check_request(
        "GET",
        "/app/hook/deliveries",
        Some("per_page=101&page=2&status=broken"),
        &headers(),
        None,
    );
    assert!(
        problems.iter().any(|p| p.contains("`per_page`=101")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`page` is not documented")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("`status`=broken")),
        "{problems:?}"
    );
    let variables = |query| {
        let path = "/repos/o/r/actions/variables";
        GITHUB_COM.check_request("GET", path, Some(query), &headers(), None)
    };
    assert_eq!(variables("per_page=30"), Vec::<String>::new());
    assert!(!variables("per_page=31").is_empty(), "variables: max 30");
}

#[test]
fn permission_keys_are_github_s() {
    let mut with_body = headers();
    with_body.push(("content-type".into(), "application/json".into()));
    let path = "/app/installations/7/access_tokens";
    let good = json!({"repositories": ["r"], "permissions": {"actions_variables": "write"}});
    assert_eq!(
        GITHUB_COM.check_request("POST", path, None, &with_body, Some(&good)),
        Vec::<String>::new()
    );
    let bad = json!({"repositories": ["r"], "permissions": {"variables": "write"}});
    let problems = GITHUB_COM.check_request("POST", path, None, &with_body, Some(&bad));
    assert!(
        problems.iter().any(|p| p.contains("variables")),
        "{problems:?}"
    );
}

#[test]
fn answers_are_checked_against_their_schema() {
    let path = "/app/hook/deliveries";
    let good = r#"[{"id": 3804004623172239366, "guid": "g", "delivered_at": "2026-11-29T10:00:00Z",
        "redelivery": false, "duration": 0.5, "status": "OK", "status_code": 200,
        "event": "push", "action": null, "installation_id": null, "repository_id": null}]"#;
    assert_eq!(
        GITHUB_COM.check_response("GET", path, 200, Some(good)),
        Vec::<String>::new()
    );
    let missing = r#"[{"id": 1, "guid": "g"}]"#;
    assert!(
        !GITHUB_COM
            .check_response("GET", path, 200, Some(missing))
            .is_empty()
    );
    assert!(!GITHUB_COM.check_response("GET", path, 418, None).is_empty());
    assert_eq!(
        GITHUB_COM.check_response("GET", path, 503, Some(r#"{"message": "down"}"#)),
        Vec::<String>::new()
    );
}
