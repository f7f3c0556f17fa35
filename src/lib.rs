//! redeliver-action: finds failed GitHub webhook deliveries and redelivers each event once,
//! with bounded retries and a checkpoint that never skips an event.
//!
//! The binary (`src/main.rs`) only wires these layers together. Each layer uses only the
//! layers below it:
//!
//! | layer | holds |
//! |---|---|
//! | [`driver`] | how the process runs: once ([`driver::once`]), or every interval with `/metrics` and `/healthz`; signals and exit codes |
//! | [`run`] | one run: resolve the hooks, scan, drain ([`run::drain`], at the pace GitHub allows), credentials, the checkpoint store |
//! | [`config`] | the settings table ([`config::inputs::Cli`]), where values come from (`INPUT_*`, argv, env), and their resolution before any request ([`config::settings`]) |
//! | [`report`] | what a run tells: outputs, the job summary (with its delivery health), `fail-on`, typed hook errors |
//! | [`github`] | GitHub's REST API, one module per area, over [`github::client`] (octocrab underneath: retries, rate limits) and [`github::app_auth`] |
//! | [`domain`] | the pure core: deliveries, hooks, the window, the planner ([`domain::plan`]), the delivery health figures and the checkpoint document; no I/O, no clock |
//! | [`base`] | time ([`base::clock`], simulated in tests), log lines ([`base::log`]) and the hiding of secrets in both |
//!
//! Modules that only the binary uses are `pub(crate)`, so that the compiler reports what
//! nobody calls; the public ones are what the integration tests, the benchmark and the
//! examples need.

pub mod base;
pub mod config;
pub mod domain;
pub mod driver;
pub mod github;
pub mod report;
pub mod run;
