//! redeliver-action: finds failed GitHub webhook deliveries and redelivers each event once,
//! with bounded retries and a checkpoint that never skips an event.
//!
//! The binary (`src/main.rs`) only wires these modules together:
//! - [`inputs`] is the table of settings (the clap [`inputs::Cli`]) and where their values
//!   come from (the runner's `INPUT_*`, the command line, the environment); [`settings`]
//!   resolves them, concern by concern, before any request;
//! - [`github`] is GitHub's REST API, one module per area, over [`client`] (octocrab
//!   underneath: authentication, retries, rate limits), with [`app_auth`] for the App JWT;
//! - [`plan`] is the pure core that decides what to redeliver, in the [`window`] a run scans,
//!   with [`delivery_health`] counting what the scanned deliveries say about the receiver;
//! - [`checkpoint`] is the state document and `store` where it is kept;
//! - [`run`] is the pipeline and [`drain`] its redeliveries (at the `pace` GitHub allows);
//!   [`driver`] runs it [`once`] or `every` interval; `listen` serves `--every`'s `metrics`
//!   and `health`;
//! - [`clock`] is time, the one input every wait and every comparison with GitHub's times
//!   reads (simulated in tests);
//! - [`report`] and [`log`] tell the user what happened (with [`health_summary`], the
//!   summary's delivery health); `redact` hides secrets in both.
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
