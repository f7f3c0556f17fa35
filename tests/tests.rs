//! One integration test binary (ripgrep's layout): topic modules and shared helpers in
//! `util`. The fake GitHub every test talks to is the workspace crate `fake-github`.

mod util;

mod action_yml;
mod cli;
mod client_rules;
mod contract;
mod e2e;
mod fail_on;
mod faults;
mod fleet;
mod fuzz;
mod health_chart;
mod hook_selection;
mod hostile;
mod house;
mod inputs_checked;
mod max_age;
mod operate;
mod outage;
mod plan_tests;
mod report_snapshots;
mod scopes;
mod secrets;
mod slow_github;
mod trust_inputs;
mod trust_outputs;
mod trust_state;
