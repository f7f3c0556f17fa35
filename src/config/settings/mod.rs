//! Checks every setting before any request, and turns them into [`Settings`].
//!
//! The table of settings is [`Cli`]: each field's typed parser (`parse.rs`) has already
//! checked its own value. What is left here is what needs several settings at once, one
//! resolve step per concern, as uv's `settings.rs` has one per group: the hooks and where
//! they are listed (`scan.rs`), the credentials (`credentials.rs`), the checkpoint's store
//! (`store.rs`), then the plan, drain and output settings, which need nothing but their own
//! values.
//!
//! Each problem becomes one line that names the input (`app-id` inside Actions, `--app-id`
//! on the command line) and says what to do; all problems are reported at once.

mod auth;
mod output;
mod rules;
mod scan;
mod service;
mod state;
mod timing;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use secrecy::{ExposeSecret, SecretString};

use crate::base::redact::Secrets;
use crate::config::inputs::Cli;
use crate::domain::hook::HookSelector;
use crate::domain::plan::PlanOptions;
use crate::github::app_auth::AppSigner;

pub use crate::config::inputs::parse::Checked;
pub use crate::config::inputs::parse::StoreSpec;
pub use output::OutputSettings;
pub use service::ServiceSettings;
pub(crate) use state::lock_path_of;

/// Validated settings of a run.
///
/// The fields the pipeline (`run.rs`) reads are still flat, grouped here by concern; the
/// operating and output settings are groups of their own.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Running as a step of GitHub Actions (`GITHUB_ACTIONS=true`): inputs, outputs, job
    /// summary and workflow commands.
    pub(crate) in_actions: bool,

    // scan
    /// As the `hooks` input names them: resolved to concrete hooks at the start of each run.
    pub(crate) hooks: Vec<HookSelector>,
    pub(crate) api_url: Uri,
    pub(crate) retention: chrono::Duration,
    /// `since`: how far back a first run (no checkpoint yet) looks.
    pub(crate) first_run_lookback: chrono::Duration,
    /// Hooks listed at once (`scan-concurrency`, at most a third of the 100 concurrent
    /// requests GitHub allows).
    pub(crate) scan_concurrency: usize,

    // credentials
    pub(crate) app: Option<Arc<AppSigner>>,
    pub(crate) token: Option<SecretString>,

    // store
    pub(crate) store: StoreSpec,

    // plan
    pub(crate) dry_run: bool,
    /// The planner's rules (`max-attempts`, `max-redeliveries`, the event filters,
    /// `max-age`, `pending-horizon`), resolved once and handed to it as they are.
    pub(crate) plan: PlanOptions,

    // drain
    pub(crate) redelivery_interval: Duration,
    /// The longest single rate-limit wait (`max-wait`); a longer one stops the run.
    pub(crate) max_wait: Duration,
    /// The run's time budget: no redelivery starts after it.
    pub(crate) max_duration: Duration,

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

    fn fail(&mut self, input: &str, problem: String) {
        let name = if self.actions {
            format!("input `{input}`")
        } else {
            format!("`--{input}`")
        };
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
    /// Checks everything that can be checked without the network, concern by concern, in
    /// the order the lines have always come in; every problem is reported at once.
    pub fn resolve(cli: &Cli) -> Result<Settings, InputErrors> {
        let mut problems = Problems::new(cli);
        let hooks = problems.take(&cli.hooks).unwrap_or_default();
        let auth::Credentials { app, token } = auth::resolve(cli, &hooks, &mut problems);
        let has_credentials = token.is_some() || app.is_some();
        let store = state::resolve(cli, has_credentials, &mut problems);
        let allow_insecure_http = problems.take(&cli.allow_insecure_http).unwrap_or_default();
        if token.is_none() && app.is_some() {
            state::check_installation_reach(&hooks, store.as_ref(), &mut problems);
        }
        let api_url = scan::api_url(cli, allow_insecure_http, &mut problems);
        let plan = rules::resolve(cli, &mut problems);
        let retention_days = problems.take_given(&cli.retention_days);
        let (redelivery_interval, max_wait, max_duration) = timing::resolve(cli, &mut problems);
        let since = problems.take(&cli.since);
        let scan_concurrency = problems.take(&cli.scan_concurrency).unwrap_or(1);
        let max_age = problems.take_given(&cli.max_age);
        let service = service::resolve(cli, &mut problems);
        let output = output::resolve(cli, &mut problems);
        state::check_path(store.as_ref(), &mut problems);
        let (Some((api_url, warning)), Some(store), Some(since)) = (api_url, store, since) else {
            return Err(InputErrors(problems.list));
        };
        problems.done()?;
        let retention_days =
            retention_days.unwrap_or_else(|| scan::default_retention_days(&api_url));
        let max_age = scan::max_age_within_retention(cli, max_age, retention_days, &mut problems);
        problems.done()?;
        Ok(Settings {
            in_actions: cli.runner.actions,
            hooks,
            api_url,
            retention: chrono::Duration::days(retention_days),
            first_run_lookback: to_chrono(since),
            scan_concurrency,
            app,
            token: token.map(SecretString::from),
            store,
            dry_run: plan.dry_run,
            plan: PlanOptions {
                max_age: max_age.map(to_chrono),
                ..plan.options
            },
            redelivery_interval,
            max_wait,
            max_duration,
            service,
            output,
            warnings: warning.into_iter().collect(),
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

    /// How many redeliveries one event gets.
    pub fn max_attempts(&self) -> u32 {
        self.plan.max_attempts
    }
}

/// A checked duration (at most [`parse::MAX_DURATION`]) as chrono's, which always fits.
pub(super) fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
