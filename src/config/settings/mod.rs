//! Checks every setting before any request, and turns them into [`Settings`].
//!
//! The table of settings is [`Cli`]: each field's typed parser (`parse.rs`) has already
//! checked its own value. What is left here is what needs several settings at once, as
//! uv's `settings.rs` does: one group per concern, each a struct with its own `resolve` in
//! a file of its own, resolved once and handed by reference to the code that needs it:
//!
//! | file | group | inputs |
//! |---|---|---|
//! | `scan.rs` | [`ScanSettings`] | `hooks`, `api-url`, `allow-insecure-http`, `retention-days`, `since`, `scan-concurrency` |
//! | `auth.rs` | [`Identity`] | `app-id`, `client-id`, `private-key`(`-file`), `token`(`-file`) |
//! | `state.rs` | [`StoreSpec`] | `state`, `variable-name`, `repository` |
//! | `rules.rs` | [`PlanOptions`] (the planner's own) | `max-attempts`, `max-redeliveries`, `events`, `exclude-events`, `max-age`, `pending-horizon` |
//! | `timing.rs` | [`DrainTiming`] | `redelivery-interval`, `max-wait`, `max-duration` |
//! | `service.rs` | [`ServiceSettings`] | `every`, `listen` |
//! | `output.rs` | [`OutputSettings`] | `json`, `log-format`, `verbose`, `fail-on`, the runner's files |
//! | `replay.rs` | [`ReplaySettings`] | `replay-since`, `replay-until`, `replay-causes` (with `events`, `exclude-events`) |
//!
//! A default is written once: in the table (`default_value`), or, where the code holds the
//! fact (such as [`crate::domain::plan::PENDING_HORIZON`]), derived from it there. A
//! `resolve` never invents a value for a refused input: it has no group then, and
//! [`Settings::resolve`] reports the problem.
//!
//! Each problem becomes one line that names the input (`app-id` inside Actions, `--app-id`
//! on the command line) and says what to do; all problems are reported at once.

mod auth;
mod output;
mod replay;
mod rules;
mod scan;
mod service;
mod state;
mod timing;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::base::clock::Clock;

use crate::base::redact::Secrets;
use crate::config::inputs::Cli;
use crate::domain::plan::PlanOptions;
use crate::domain::replay::Replays;
use crate::github::client::Identity;

pub use crate::config::inputs::parse::Checked;
pub use crate::config::inputs::parse::StoreSpec;
pub use output::OutputSettings;
pub use replay::ReplaySettings;
pub use scan::ScanSettings;
pub use service::ServiceSettings;
pub(crate) use state::lock_path_of;
pub use timing::DrainTiming;

/// Validated settings of a run: one group per concern.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Running as a step of GitHub Actions (`GITHUB_ACTIONS=true`): inputs, outputs, job
    /// summary and workflow commands.
    pub(crate) in_actions: bool,
    /// `dry-run`: list, plan and report, but redeliver nothing and save no checkpoint.
    pub(crate) dry_run: bool,
    pub(crate) scan: ScanSettings,
    /// What requests are signed with: the App's signer and the token.
    pub(crate) identity: Identity,
    /// Where the checkpoint lives.
    pub(crate) store: StoreSpec,
    /// The planner's rules, resolved once and handed to it as they are.
    pub(crate) plan: PlanOptions,
    pub(crate) timing: DrainTiming,
    /// A replay (issue 29); `None`: a scheduled run.
    pub(crate) replay: Option<ReplaySettings>,
    pub(crate) service: ServiceSettings,
    pub(crate) output: OutputSettings,
    /// Accepted, but worth a warning at the start of the run (plain `http://` to a host
    /// that is not loopback, with `allow-insecure-http`).
    pub(crate) warnings: Vec<String>,
}

/// Everything wrong with the settings, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputErrors(pub Vec<String>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for InputErrors {}

/// Collects problems, naming settings the way the user wrote them.
///
/// No line ever shows a secret: the key and token given are hidden, and so is any quoted
/// value that looks like one (see [`crate::base::redact`]).
struct Problems {
    actions: bool,
    list: Vec<String>,
    secrets: Secrets,
}

impl Problems {
    fn new(cli: &Cli) -> Self {
        let mut secrets = Secrets::new(4);
        for secret in [&cli.private_key, &cli.token].into_iter().flatten() {
            secrets.add(secret.expose_secret());
        }
        Problems {
            actions: cli.runner.actions,
            list: Vec::new(),
            secrets,
        }
    }

    /// An input as the user wrote it: `input `x`` in Actions, `` `--x` `` on the command line.
    fn name(&self, input: &str) -> String {
        if self.actions {
            format!("input `{input}`")
        } else {
            format!("`--{input}`")
        }
    }

    fn fail(&mut self, input: &str, problem: String) {
        let name = self.name(input);
        let problem = self.secrets.hide_in_message(&problem);
        self.list.push(format!("{name} {problem}"));
    }

    /// A setting's value, or `None` (and a problem) when its parser refused the text.
    fn take<T: Clone>(&mut self, checked: &Checked<T>) -> Option<T> {
        match &checked.value {
            Ok(value) => Some(value.clone()),
            Err(problem) => {
                self.fail(&checked.input, problem.clone());
                None
            }
        }
    }

    /// [`Problems::take`] of a setting without a default: `None` when not given.
    fn take_given<T: Clone>(&mut self, checked: &Option<Checked<T>>) -> Option<T> {
        checked.as_ref().and_then(|checked| self.take(checked))
    }

    /// `Err` with every problem so far, if there is one.
    fn done(&mut self) -> Result<(), InputErrors> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(InputErrors(std::mem::take(&mut self.list)))
        }
    }
}

impl Settings {
    /// Checks everything that can be checked without the network, group by group; every
    /// problem is reported at once.
    pub fn resolve(cli: &Cli) -> Result<Settings, InputErrors> {
        Self::resolve_at(cli, Clock::system().now())
    }

    /// [`Settings::resolve`] at `now` (a replay's ages are before it): tests on simulated
    /// time give theirs.
    pub fn resolve_at(cli: &Cli, now: DateTime<Utc>) -> Result<Settings, InputErrors> {
        let mut problems = Problems::new(cli);
        let mut warnings = Vec::new();
        // The credentials and the store are judged against the hooks: taken first.
        let hooks = problems.take(&cli.hooks);
        let selected = hooks.as_deref().unwrap_or_default();
        let identity = auth::resolve(cli, selected, &mut problems);
        let store = state::resolve(cli, &identity, selected, &mut problems);
        let scan = scan::resolve(cli, hooks, &mut problems, &mut warnings);
        let dry_run = problems.take(&cli.dry_run);
        let retention = scan.as_ref().map(|scan| scan.retention);
        let plan = rules::resolve(cli, retention, &mut problems);
        let timing = timing::resolve(cli, &mut problems);
        let service = service::resolve(cli, &mut problems);
        let output = output::resolve(cli, &mut problems);
        let replay = match (&plan, retention) {
            (Some(plan), Some(retention)) => {
                ReplaySettings::resolve(cli, &plan.filter, retention, now, &mut problems)
            }
            _ => None,
        };
        let (Some(scan), Some(store), Some(dry_run), Some(plan), Some(timing), Some(output)) =
            (scan, store, dry_run, plan, timing, output)
        else {
            return Err(InputErrors(problems.list));
        };
        problems.done()?;
        warnings.extend(replay.as_ref().and_then(|replay| replay.narrowed.clone()));
        Ok(Settings {
            in_actions: cli.runner.actions,
            dry_run,
            scan,
            identity,
            store,
            plan: PlanOptions {
                replays: Replays {
                    current: replay.as_ref().map(|replay| replay.scope.clone()),
                    earlier: Vec::new(),
                },
                ..plan
            },
            timing,
            replay,
            service,
            output,
            warnings,
        })
    }

    /// Running as a step of GitHub Actions.
    pub fn in_actions(&self) -> bool {
        self.in_actions
    }

    /// Where and how the run tells what happened.
    pub fn output(&self) -> &OutputSettings {
        &self.output
    }

    /// What was accepted but is worth a warning at the start of the run.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The planner's options, as resolved.
    pub fn plan_options(&self) -> &PlanOptions {
        &self.plan
    }
}

/// A checked duration (at most [`parse::MAX_DURATION`]) as chrono's, which always fits.
pub(super) fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
