//! One integration test binary (ripgrep's layout): topic modules, shared helpers in `util`,
//! and the fake GitHub every test talks to.

#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/fake_github_selftest.rs"]
mod fake_github_selftest;

mod util;

mod action_yml;
mod cli;
mod e2e;
mod faults;
mod fuzz;
mod inputs_checked;
mod plan_tests;
mod scopes;
mod secrets;
mod trust_inputs;
mod trust_outputs;
mod trust_state;
