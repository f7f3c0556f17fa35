//! The demo's data: a GitHub App with a day of deliveries, some failed, one whose receiver
//! never recovers, the repository `octo/demo` with the App installed, and two tokens.
//! Used by `examples/demo.rs` and `examples/fake_github.rs`.

use chrono::{Duration, Utc};

use crate::{FakeGitHub, FakeToken, Hook, NewDelivery};

pub const DEMO_TOKEN: &str = "ghp_demotoken0123456789abcdefghijklmn";
/// A short token for CI and scripts that run the published image against the fake.
pub const TEST_TOKEN: &str = "test-token";
pub const STUBBORN_GUID: &str = "deadbeef-0000-4000-8000-000000000001";

pub fn seed(fake: &FakeGitHub) {
    let now = Utc::now();
    let events = [
        ("push", None),
        ("workflow_job", Some("queued")),
        ("issues", Some("opened")),
    ];
    for i in 0..240i64 {
        let (event, action) = events[(i % 3) as usize];
        let at = now - Duration::minutes(6 * i + 3);
        let guid = format!("{:08x}-1f2e-11f0-8a3b-{:012x}", 0x5eed_0000 + i, i);
        let delivery = if i % 37 == 5 {
            NewDelivery::failed(guid, at)
        } else {
            NewDelivery::ok(guid, at)
        };
        fake.add_delivery(&Hook::App, delivery.event(event, action));
    }
    fake.add_delivery(
        &Hook::App,
        NewDelivery::failed(STUBBORN_GUID, now - Duration::minutes(90))
            .event("workflow_job", Some("queued")),
    );
    fake.set_receiver_failing(STUBBORN_GUID, true);
    for token in [DEMO_TOKEN, TEST_TOKEN] {
        fake.add_token(
            FakeToken::new(token)
                .admin_repo("octo/demo")
                .variables_write(true),
        );
    }
    fake.set_installation("octo/demo", 1);
}
