//! Actions variables.

use serde_json::json;

use fake_github::*;

use crate::table::{Api, Row};
use crate::{REPO, admin_token};

const VARIABLES: &str = "/repos/acme/widgets/actions/variables";

#[tokio::test]
async fn variables_get_create_conflict_update() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    fake.add_token(admin_token());
    fake.add_token(FakeToken::new("ghp_reader").admin_repo(REPO));
    let var = format!("{VARIABLES}/redeliver_checkpoint");
    let read = |status| Row::get(&var, status).auth("ghp_admin");
    let create = |status, body| Row::post(VARIABLES, status).auth("ghp_admin").body(body);
    let update = |status, value: &str| {
        Row::patch(&var, status)
            .auth("ghp_admin")
            .body(json!({ "value": value }))
            .label(format!("{} bytes", value.len()))
    };

    let body = json!({ "name": "REDELIVER_CHECKPOINT", "value": "1700000000000" });
    api.run(&[
        read(404).message("Not Found"),
        create(201, body.clone()).answer(json!({})),
    ])
    .await;
    assert_eq!(
        fake.variable(REPO, "Redeliver_Checkpoint").as_deref(),
        Some("1700000000000")
    );

    let answers = api
        .run(&[
            create(409, body),
            read(200)
                .field("/name", json!("REDELIVER_CHECKPOINT"))
                .field("/value", json!("1700000000000")),
            update(204, "2026-11-28T12:00:00Z").no_body(),
        ])
        .await;
    let got = answers[1].json();
    assert!(got["created_at"].is_string() && got["updated_at"].is_string());
    assert_eq!(
        fake.variable("ACME/Widgets", "REDELIVER_CHECKPOINT")
            .as_deref(),
        Some("2026-11-28T12:00:00Z")
    );

    let mut rows = vec![
        Row::patch(format!("{VARIABLES}/OTHER"), 404)
            .auth("ghp_admin")
            .body(json!({ "value": "x" })),
    ];
    for name in ["1ABC", "GITHUB_X", "github_x", "A-B", ""] {
        rows.push(create(422, json!({ "name": name, "value": "v" })).label(format!("{name:?}")));
    }
    let big = "x".repeat(MAX_VARIABLE_VALUE_BYTES + 1);
    let fits = "x".repeat(MAX_VARIABLE_VALUE_BYTES);
    rows.extend([
        create(422, json!({ "name": "BIG", "value": big })),
        update(422, &big),
        update(204, &fits),
        // Without variables permission: 403; unknown token: 401.
        Row::get(&var, 403)
            .auth("ghp_reader")
            .message("Resource not accessible by integration"),
        Row::get(&var, 401)
            .auth("ghp_unknown")
            .message("Bad credentials"),
    ]);
    api.run(&rows).await;

    fake.set_variable(REPO, "seeded", "42");
    api.one(
        &Row::get(format!("{VARIABLES}/SEEDED"), 200)
            .auth("ghp_admin")
            .field("/value", json!("42")),
    )
    .await;
}

#[tokio::test]
async fn the_variables_list_pages_by_10_and_at_most_30() {
    let fake = FakeGitHub::start(FakeOptions::default()).await;
    let api = Api::of(&fake);
    fake.add_token(admin_token());
    for i in 0..35 {
        fake.set_variable(REPO, &format!("V{i:02}"), "x");
    }
    let list = |query: &str| {
        Row::get(format!("{VARIABLES}{query}"), 200)
            .auth("ghp_admin")
            .field("/total_count", json!(35))
    };
    let answers = api
        .run(&[
            list(""),
            list("?per_page=30"),
            list("?per_page=30&page=2"),
            list("?per_page=1").field("/variables/0/name", json!("V00")),
            list("?per_page=31"),
        ])
        .await;
    let sizes: Vec<usize> = answers
        .iter()
        .map(|res| res.json()["variables"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [10, 30, 5, 1, 30]);
    let violations = fake.take_contract_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("`per_page`=31"), "{violations:?}");
}
