//! One integration test binary (ripgrep's layout): topic modules and shared helpers in
//! `util`. The fake GitHub every test talks to is the workspace crate `fake-github`; it is
//! strict (it checks every exchange against GitHub's OpenAPI description), and a test never
//! loosens it.
//!
//! # Where a new case goes
//!
//! Ask first what the case is about, then pick the one module below. Most new cases are
//! one of three kinds:
//! - **a rule of the planner** (which events are sent, given up, pending, where the
//!   checkpoint goes): a row in `plan_tests` (pure, no I/O), and if it is a property of
//!   every history, an invariant in `fuzz`;
//! - **a run against GitHub** (what a run does over one or more scheduled runs): a scenario
//!   with [`util::Scenario`] (a fake with deliveries, settings as flags, runs in this
//!   process on simulated time, the report and the redeliveries back) in the module of its
//!   topic below;
//! - **what the user sees** (inputs, outputs, summary, exit codes): the built binary, with
//!   [`util::run_action`] (as the Actions runner runs it) or [`util::run_cli`].
//!
//! Settings are built with [`util::Args`] (`raw_settings(&fake).with("max-attempts", "1")`,
//! `app_on_command_line(..).argv()` for a spawned binary); only the tests of the argv and
//! `INPUT_*` layer itself (`cli`, `inputs_checked`, `trust_inputs`) write argv by hand. Time
//! is simulated (`sim_clock`, `Scenario::advance`), never slept; a spawned binary is waited
//! on for what it shows (`Spawned::wait_for_stderr`), with a bound, never for a fixed time.
//!
//! | module | holds |
//! |---|---|
//! | `plan_tests` | table tests of the pure planner: no I/O, no clock |
//! | `fuzz` | property tests: the parsers of GitHub's pages and the checkpoint never panic; generated histories (pending, unlisted and failed redeliveries) keep the planner's rules |
//! | `client_rules` | the transport's pure rules as tables: `Link` URLs followed, what a failed answer calls for |
//! | `e2e` | the binary as the Actions runner runs it, the everyday paths |
//! | `scopes`, `hook_selection`, `fleet`, `max_age` | which hooks and events a run covers: org and repo hooks, filters, `*` and URLs, fleets and `app/*`, `max-age` |
//! | `fleet_outage` | a fleet whose hooks share one receiver, down and back: the receiver as the unit of health, the re-read budget, the checkpoint of 1,000 hooks |
//! | `outage` | a receiver down then back: canaries, held-back events, all delivered once |
//! | `slow_github` | hours and days in simulated time: GitHub slow to list results, its rate limits as pace |
//! | `faults` | GitHub's errors, dropped connections, rate limits, runs that die midway (scripted faults of the fake) |
//! | `drain_keeps_going` | issue 31: a redelivery GitHub does not take leaves its event open and the drain goes on (3 in a row stop it); a pace slowed by limits speeds up again and is carried for an hour; five runs through compound faults |
//! | `hostile` | a GitHub that lies, stalls, redirects or floods: small hostile servers written there; signals |
//! | `contract` | what a strict GitHub refuses or answers, and what the action then does |
//! | `trust_inputs`, `trust_outputs`, `trust_state` | issue 16, "trust nothing it is told": one finding each, inputs / what a run tells / the planner and the state file |
//! | `secrets` | no key, token or JWT ever shows anywhere |
//! | `inputs_checked` | bad input: one line per problem (snapshots), exit 2 before any request |
//! | `cli` | the same binary from cron, a container or a server: flags, environment, state file, JSON, `--every` |
//! | `operate` | `--listen`'s `/metrics` and `/healthz`, `--log-format json` |
//! | `fail_on` | `fail-on` measured from outside: exit 4 after everything is written |
//! | `replay` | a replay after a fix (issue 29): the two-hour `400` story, the estimate, the scheduled runs afterwards, a receiver still failing, bad windows refused before any request; the planner's replay rules as a table |
//! | `report_snapshots`, `health_chart` | the summary and outputs as reviewed snapshots; the delivery-health charts: one label per value, parsed by Mermaid |
//! | `summary_pages` | the summary a person reads: the verdict, receivers, only the hooks that need a person; fleets of 150 and 1,500 hooks in an outage and back (the pages `docs/` shows) |
//! | `action_yml` | `action.yml`, the README's inputs table and `--help` held to the settings table |
//! | `house` | the house rules read from `src/`: layers, cycles, sizes |

mod util;

mod action_yml;
mod cli;
mod client_rules;
mod contract;
mod drain_keeps_going;
mod e2e;
mod fail_on;
mod faults;
mod fleet;
mod fleet_outage;
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
mod replay;
mod report_snapshots;
mod scopes;
mod secrets;
mod slow_github;
mod summary_pages;
mod trust_inputs;
mod trust_outputs;
mod trust_state;
