//! redeliver-action: finds failed GitHub webhook deliveries and redelivers each event once,
//! with bounded retries and a checkpoint that never skips an event.
//!
//! The binary (`src/main.rs`) only wires these modules together:
//! - [`inputs`] gathers settings from the runner's `INPUT_*`, the command line and the
//!   environment; [`settings`] checks them before any request;
//! - [`github`] is GitHub's REST API, one module per area, over [`client`] (octocrab
//!   underneath: authentication, retries, rate limits), with [`app_auth`] for the App JWT;
//! - [`plan`] is the pure core that decides what to redeliver;
//! - [`checkpoint`] is the state document and [`store`] where it is kept;
//! - [`run`] is the pipeline; [`driver`] runs it [`once`] or [`every`] interval;
//!   [`listen`] serves `--every`'s [`metrics`] and [`health`];
//! - [`report`] and [`log`] tell the user what happened.

pub mod app_auth;
pub mod checkpoint;
pub mod client;
pub mod clock;
pub mod drain;
pub mod driver;
pub mod every;
pub mod filter;
pub mod github;
pub mod health;
pub mod hooks;
pub mod inputs;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod once;
pub mod plan;
pub(crate) mod redact;
pub mod report;
pub mod run;
pub mod settings;
pub mod store;
